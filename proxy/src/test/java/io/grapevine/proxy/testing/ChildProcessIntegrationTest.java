package io.grapevine.proxy.testing;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ChildProcess} and the class data sharing archive the launcher records at a program's first start. */
class ChildProcessIntegrationTest {

    private static final String ARCHIVE_OPTION = "-XX:SharedArchiveFile=";

    @TempDir
    Path dir;

    /**
     * A proxy started with JVM options no start has used yet (so with no archive for them): the archive is recorded
     * before the process the test gets starts, so neither that process's output nor the time a test allows its start
     * holds the recording, and the process runs with the archive.
     */
    @Test
    void theArchiveOfNewJvmOptionsIsRecordedBeforeTheProcessStarts() throws Exception {
        Path servers = Files.writeString(dir.resolve("servers.conf"),
                "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": " + Ports.free() + " } ] }\n");
        Map<String, String> env = Map.of("GRAPEVINE_JVM_EXTRA_OPTS", "-Dgrapevine.test.options=" + UUID.randomUUID());
        Path archive = null;
        try (ChildProcess proxy = ChildProcess.proxy(dir, "proxy", env, "--servers", servers.toString(),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--no-gossip")) {
            Path cmdline = Path.of("/proc", Long.toString(proxy.pid()), "cmdline");
            // The launcher execs the JVM: until then the process is the launcher's shell.
            Await.until(Duration.ofSeconds(30), "the launcher exec'd the proxy JVM",
                    () -> arguments(cmdline).contains(ARCHIVE_OPTION), proxy::tail);
            String option = Arrays.stream(arguments(cmdline).split("\0")).filter(a -> a.startsWith(ARCHIVE_OPTION))
                    .findFirst().orElseThrow();
            archive = Path.of(option.substring(ARCHIVE_OPTION.length()));
            assertTrue(Files.size(archive) > 1_000_000, "the JVM runs with a recorded archive: " + archive);
            assertFalse(proxy.log().contains("class data sharing archive"), "recorded before this process: " + proxy.tail());
        } finally {
            if (archive != null) {
                // grapevine-proxy-KEY-SIZE-MTIME.jsa and its lock, grapevine-proxy-KEY.lock: this test's options alone.
                String name = archive.getFileName().toString();
                String lock = name.replaceFirst("-[0-9]+-[0-9]+\\.jsa$", ".lock");
                Files.deleteIfExists(archive);
                Files.deleteIfExists(archive.resolveSibling(lock));
            }
        }
    }

    private static String arguments(Path cmdline) {
        try {
            return new String(Files.readAllBytes(cmdline), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return ""; // the process is gone: the wait reports it with the process's output
        }
    }
}
