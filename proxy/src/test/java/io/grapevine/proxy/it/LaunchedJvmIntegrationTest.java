package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.GossipProxyProcess;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.Jcmd;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JVM of a proxy as deployed (the launcher's options, gossip on). Its start-up state is in the old generation
 * once it has started: the first young collections under traffic then copy only what the requests left alive, not the
 * several megabytes the start allocated (docs/benchmarks.md, "The first young collections"). Without the
 * collection at the end of the start, nothing is in the old generation of an idle proxy for minutes (its first
 * young collection, 68 MB of allocation away, would put the start's state there), and about 30 MB of the young
 * generation is in use. And it calls no "cleanup" safepoint every second (docs/benchmarks.md, "No cleanup
 * safepoint every second").
 */
class LaunchedJvmIntegrationTest {

    /** What the start leaves alive (the proxy's configuration, event loops, cluster state), at least. */
    private static final long OLD_USED_MIN_KIB = 2 * 1024;
    /** The proxy's safepoint log, relative to the repository root. */
    private static final String SAFEPOINT_LOG = "proxy/target/launched-jvm-safepoints.log";
    private static final Duration TRAFFIC = Duration.ofSeconds(8);
    private static final Pattern OLD = Pattern.compile("tenured generation\\s+total \\d+K, used (\\d+)K");

    @RegisterExtension
    final Resources resources = new Resources();

    @TempDir
    Path dir;

    @Test
    void theStartUpStateIsInTheOldGenerationWhenTheStartEnds() throws Exception {
        Path servers = Files.writeString(dir.resolve("servers.conf"), "{ \"backend_servers\": [] }\n");
        GossipProxyProcess proxy = resources.keep(GossipProxyProcess.start(dir, "proxy", servers,
                ProxyUnderTest.keyFile(dir, "cluster.key"), null));
        // The collection follows the start-up line.
        String[] heap = {""};
        Await.until(Duration.ofSeconds(15), "the start-up state in the old generation", () -> {
            heap[0] = heapInfo(proxy.process().pid());
            return kib(OLD, heap[0]) >= OLD_USED_MIN_KIB;
        }, () -> heap[0]);
    }

    /**
     * Under traffic, with the JIT still at work (its new code keeps the inline-cache buffer busy), a JVM with the
     * default interval stops for a "Cleanup" safepoint about once a second; the proxy's must not. The safepoint log
     * comes through {@code GRAPEVINE_JVM_EXTRA_OPTS}, which must add to the launcher's options, not replace them.
     */
    @Test
    void theEventLoopsAreNotStoppedForACleanupSafepointEverySecond() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        Path servers = Files.writeString(dir.resolve("servers.conf"), "{ \"health_check\": {\"enabled\": false}, "
                + "\"backend_servers\": [ {\"ip\": \"127.0.0.1\", \"port\": " + backend.port() + "} ] }\n");
        // A fixed path (relative to the repository, the launcher's working directory): the launcher keeps one class
        // data sharing archive per set of options, so a new path each run would make a new archive each run.
        Path log = ChildProcess.repoRoot().resolve(SAFEPOINT_LOG);
        Files.deleteIfExists(log);
        int port = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "proxy",
                Map.of("GRAPEVINE_JVM_EXTRA_OPTS", "-Xlog:safepoint=info:file=" + SAFEPOINT_LOG + "::filecount=0"),
                "--servers", servers.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + Ports.free(),
                "--no-gossip"));
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> Ports.accepting(port), proxy::tail);

        long end = System.nanoTime() + TRAFFIC.toNanos();
        int answered = 0;
        try (HttpConnection c = new HttpConnection(new InetSocketAddress("127.0.0.1", port), 5_000)) {
            while (System.nanoTime() < end) {
                assertEquals(200, c.get("/").status());
                answered++;
            }
        }
        String flags = Jcmd.run(proxy.pid(), "VM.flags");
        String safepoints = Files.readString(log);
        assertTrue(safepoints.contains("Safepoint \""), "no safepoint logged: GRAPEVINE_JVM_EXTRA_OPTS not applied");
        assertTrue(flags.contains("-XX:+UseSerialGC") && flags.contains("-XX:MaxTenuringThreshold=1"),
                "the extra options replaced the launcher's: " + flags);
        long cleanups = safepoints.lines().filter(l -> l.contains("Safepoint \"Cleanup\"")).count();
        assertEquals(0, cleanups, cleanups + " cleanup safepoints in " + TRAFFIC.toSeconds() + " s, " + answered
                + " requests:\n" + safepoints);
    }

    private static String heapInfo(long pid) {
        try {
            return Jcmd.run(pid, "GC.heap_info");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static long kib(Pattern generation, String heapInfo) {
        Matcher m = generation.matcher(heapInfo);
        assertTrue(m.find(), "no " + generation + " in jcmd GC.heap_info (the launcher's collector is Serial): " + heapInfo);
        return Long.parseLong(m.group(1));
    }
}
