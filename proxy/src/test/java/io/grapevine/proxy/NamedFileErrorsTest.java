package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grapevine.proxy.accesslog.AccessLog;
import io.grapevine.proxy.config.AccessLogConfig;
import io.grapevine.proxy.config.ConfigException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A file that servers.conf names and {@code --check} finds unusable (a TLS certificate or key, the access log) is
 * reported at the key that names it: servers.conf, line and column, then the key and the file.
 */
class NamedFileErrorsTest {

    @TempDir
    Path dir;

    private String check(String conf) throws Exception {
        Path servers = Files.writeString(dir.resolve("servers.conf"), conf);
        ConfigException e = assertThrows(ConfigException.class, () -> ProxyInstance.check(
                ProxyMain.parse(new String[] {"--servers", servers.toString(), "--check"}, Map.of()).options()));
        return e.getMessage();
    }

    @Test
    void anUnreadableCertificateIsReportedAtItsKey() throws Exception {
        Path key = Files.writeString(dir.resolve("a.key"), "not a key\n");
        assertEquals(dir.resolve("servers.conf") + ":3:13: tls.cert: " + dir.resolve("nowhere.crt")
                + ": cannot read file: No such file or directory", check("""
                { "backend_servers": [],
                  "tls": {
                    "cert": "nowhere.crt",
                    "key": "%s" } }
                """.formatted(key)));
    }

    @Test
    void anUnreadableKeyOfTheCertificatesListIsReportedAtItsKey() throws Exception {
        Files.writeString(dir.resolve("a.crt"), "not a certificate\n");
        assertEquals(dir.resolve("servers.conf") + ":3:31: tls.certificates[0].key: " + dir.resolve("nowhere.key")
                + ": cannot read file: No such file or directory", check("""
                { "backend_servers": [],
                  "tls": { "certificates": [
                    { "cert": "a.crt", "key": "nowhere.key" } ] } }
                """));
    }

    @Test
    void aCertificateThatDoesNotParseIsReportedAtItsKey() throws Exception {
        Path cert = Files.writeString(dir.resolve("a.crt"), "not a certificate\n");
        assertEquals(dir.resolve("servers.conf") + ":2:20: tls.cert: " + cert + ": no PEM certificate found "
                + "(expected -----BEGIN CERTIFICATE----- blocks: the server's certificate, then its intermediates)",
                check("""
                { "backend_servers": [],
                  "tls": { "cert": "a.crt", "key": "a.crt" } }
                """));
    }

    @Test
    void anAccessLogInADirectoryThatDoesNotExistIsReportedAtItsPath() throws Exception {
        Path log = dir.resolve("no-such-dir").resolve("access.log");
        assertEquals(dir.resolve("servers.conf") + ":2:27: access_log: cannot open " + log
                + " for appending: No such file or directory", check("""
                { "backend_servers": [],
                  "access_log": { "path": "%s" } }
                """.formatted(log)));
    }

    @Test
    void anAccessLogThatCannotBeWrittenIsReportedAtItsPath() throws Exception {
        Assumptions.assumeFalse("root".equals(System.getProperty("user.name")), "root may write any file");
        Path log = Files.writeString(dir.resolve("access.log"), "");
        Files.setPosixFilePermissions(log, PosixFilePermissions.fromString("r--r--r--"));
        assertEquals(dir.resolve("servers.conf") + ":3:13: access_log: cannot open " + log
                + " for appending: Permission denied", check("""
                { "backend_servers": [],
                  "access_log": {
                    "path": "%s" } }
                """.formatted(log)));
    }

    /** {@code --check} says what the start says: the reason its open of the file gives. */
    @Test
    void anAccessLogThatIsADirectoryIsReportedAsTheStartReportsIt() throws Exception {
        Path log = Files.createDirectory(dir.resolve("a-directory"));
        String start = assertThrows(IllegalArgumentException.class,
                () -> AccessLog.open(new AccessLogConfig(log, AccessLogConfig.Format.COMBINED))).getMessage();
        assertEquals("access_log: cannot open " + log + " for appending: Is a directory", start);
        assertEquals(dir.resolve("servers.conf") + ":2:27: " + start, check("""
                { "backend_servers": [],
                  "access_log": { "path": "%s" } }
                """.formatted(log)));
    }

    /**
     * An access log that is a FIFO no process reads fails the start after its bounded wait for a reader; {@code
     * --check} waits the same way and says the same.
     */
    @Test
    void anAccessLogThatIsAFifoNoProcessReadsIsReportedAsTheStartReportsIt() throws Exception {
        Path fifo = dir.resolve("access.fifo");
        Assumptions.assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor() == 0, "mkfifo");
        try {
            String start = assertThrows(IllegalArgumentException.class,
                    () -> AccessLog.open(new AccessLogConfig(fifo, AccessLogConfig.Format.COMBINED))).getMessage();
            assertEquals("access_log: cannot open " + fifo + " for appending: a FIFO that no process reads (waited 5000 ms)",
                    start);
            assertEquals(dir.resolve("servers.conf") + ":2:27: " + start, check("""
                    { "backend_servers": [],
                      "access_log": { "path": "%s" } }
                    """.formatted(fifo)));
        } finally {
            // The opens still waiting for a reader (they close what they open): this one lets them through.
            try (FileChannel reader = FileChannel.open(fifo, StandardOpenOption.READ)) {
                reader.size();
            }
        }
    }
}
