package io.grapevine.proxy.tls;

import static io.grapevine.proxy.testing.TestCertificates.KeyForm.PKCS8;
import static io.grapevine.proxy.testing.TestCertificates.KeyType.EC;
import static io.grapevine.proxy.testing.TestCertificates.KeyType.RSA;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Resources;
import io.grapevine.proxy.testing.TestCertificates;
import io.grapevine.proxy.testing.TestCertificates.Pair;
import io.grapevine.proxy.testing.TlsClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./grapevine proxy} with {@code "tls"}: a certificate or key that cannot be used stops the start with exit
 * code 2 and one line naming the file, and fails {@code --check} with the same line; a running proxy logs which
 * TLS implementation it uses and re-reads its certificates on SIGHUP.
 */
class TlsCommandLineIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private Path servers(Pair pair) throws IOException {
        return Files.writeString(dir.resolve("servers.conf"), """
                { "backend_servers": [],
                  "tls": { "cert": "%s", "key": "%s" } }
                """.formatted(dir.relativize(pair.cert()), dir.relativize(pair.key())));
    }

    /** Where {@link #servers} names the key, after {@code cert}: {@code servers.conf:2:<column>: tls.key: }. */
    private String keyAt(Path cert) {
        return dir.resolve("servers.conf") + ":2:" + (31 + dir.relativize(cert).toString().length()) + ": tls.key: ";
    }

    private ChildProcess start(String name, Path servers) {
        return resources.keep(ChildProcess.proxy(dir, name, "--servers", servers.toString(), "--listen",
                "127.0.0.1:0", "--admin", "127.0.0.1:0", "--no-gossip"));
    }

    @Test
    void aKeyThatDoesNotFitItsCertificateExitsTwoWithOneLineNamingTheFile() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        Pair b = TestCertificates.selfSigned(dir, "b", EC, PKCS8, "/CN=b.test", "b.test");
        ChildProcess p = start("mismatch", servers(new Pair(a.cert(), b.key())));
        assertTrue(p.waitFor(60) >= 0, "did not exit: " + p.tail());
        assertEquals(2, p.process().exitValue(), p.tail());
        List<String> lines = p.log().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), p.log());
        assertEquals("grapevine proxy: " + keyAt(a.cert()) + b.key() + ": this EC key does not belong to the first "
                + "certificate of "
                + a.cert() + " (expected the private key of the server's certificate, which comes first in the "
                + "certificate file, before its intermediates)", lines.get(0));
    }

    @Test
    void anUnreadableCertificateExitsTwoNamingIt() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ChildProcess p = start("missing", servers(new Pair(dir.resolve("nowhere.crt"), a.key())));
        assertTrue(p.waitFor(60) >= 0, "did not exit: " + p.tail());
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(List.of("grapevine proxy: " + dir.resolve("servers.conf") + ":2:20: tls.cert: "
                + dir.resolve("nowhere.crt") + ": cannot read file: No such file or "
                + "directory"), p.log().lines().filter(l -> !l.isBlank()).toList());
    }

    @Test
    void checkReadsTheCertificatesAsAStartWouldAndFailsWithTheSameLine() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        Pair b = TestCertificates.selfSigned(dir, "b", EC, PKCS8, "/CN=b.test", "b.test");
        ChildProcess good = resources.keep(ChildProcess.proxy(dir, "check-good", "--servers",
                servers(a).toString(), "--check"));
        assertTrue(good.waitFor(60) >= 0, "did not exit: " + good.tail());
        assertEquals(0, good.process().exitValue(), good.tail());
        assertTrue(good.log().contains("ok: " + dir.resolve("servers.conf") + ": 0 servers, 0 pools, 0 routes; "
                + "TLS certificate " + a.cert()), good.log());

        ChildProcess bad = resources.keep(ChildProcess.proxy(dir, "check-mismatch", "--servers",
                servers(new Pair(a.cert(), b.key())).toString(), "--check"));
        assertTrue(bad.waitFor(60) >= 0, "did not exit: " + bad.tail());
        assertEquals(2, bad.process().exitValue(), "--check passed a key that a start refuses: " + bad.tail());
        assertEquals(List.of("grapevine proxy: " + keyAt(a.cert()) + b.key() + ": this EC key does not belong to the "
                + "first certificate of "
                + a.cert() + " (expected the private key of the server's certificate, which comes first in the "
                + "certificate file, before its intermediates)"), bad.log().lines().filter(l -> !l.isBlank()).toList());
    }

    private static final Pattern LISTENING = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+) ");

    @Test
    void aRunningProxySaysWhichTlsItUsesAndRereadsItsCertificatesOnSighup() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test/O=v1", "a.test");
        Pair live = TestCertificates.copy(a, dir, "live");
        ChildProcess p = start("sighup", servers(live));
        Matcher m = LISTENING.matcher("");
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> m.reset(p.log()).find(), p::tail);
        InetSocketAddress address = new InetSocketAddress("127.0.0.1", Integer.parseInt(m.group(1)));
        assertTrue(p.log().contains("TLS handshakes by OpenSSL (BoringSSL, netty-tcnative)"), p.log());
        assertTrue(p.log().contains("TLS on /127.0.0.1:" + address.getPort() + ", by OpenSSL"), p.log());
        try (SSLSocket socket = TlsClient.connect(address, "a.test")) {
            assertTrue(TlsClient.subject(socket).contains("O=v1"));
        }

        p.signal("HUP");
        Await.until(Duration.ofSeconds(10), "the SIGHUP check of the certificates",
                () -> p.log().contains("SIGHUP: no TLS certificate file changed"), p::tail);
        assertTrue(p.isAlive(), p.tail());
    }
}
