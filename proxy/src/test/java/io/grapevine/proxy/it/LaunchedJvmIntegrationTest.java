package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.GossipProxyProcess;
import io.grapevine.proxy.testing.Jcmd;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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

    @Test
    void theEventLoopsAreNotStoppedForACleanupSafepointEverySecond() throws Exception {
        Path servers = Files.writeString(dir.resolve("servers.conf"), "{ \"backend_servers\": [] }\n");
        GossipProxyProcess proxy = resources.keep(GossipProxyProcess.start(dir, "proxy", servers,
                ProxyUnderTest.keyFile(dir, "cluster.key"), null));
        String flags = Jcmd.run(proxy.process().pid(), "VM.flags");
        Matcher m = Pattern.compile("-XX:GuaranteedSafepointInterval=(\\d+)").matcher(flags);
        assertTrue(m.find(), "the launcher leaves the 1 s default: " + flags);
        assertTrue(Long.parseLong(m.group(1)) >= 60_000, "a cleanup safepoint at least a minute apart: " + flags);
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
