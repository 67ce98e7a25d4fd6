package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.Ports;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./grapevine demo} end to end, on ports of its own: three backends come up, traffic flows, the
 * printed command adds a fourth, and an interrupt stops every process the demo started.
 */
class DemoIntegrationTest {

    private static final Pattern FOURTH = Pattern.compile("^\\s*(\\./grapevine agent .*)$", Pattern.MULTILINE);

    @TempDir
    Path dir;

    @Test
    void demoRunsAddsAFourthBackendAndStopsEverything() throws Exception {
        int listen = Ports.free();
        int admin = Ports.free();
        int gossip = Ports.free();
        int backends = Ports.freeRange(4);
        Map<String, String> env = environment(listen, admin, gossip, backends);
        List<ProcessHandle> started = new ArrayList<>();
        ChildProcess fourth = null;
        // ChildProcess starts it with SIGINT's default handling, as a terminal would: the test is Ctrl-C.
        try (ChildProcess demo = ChildProcess.start(dir, "demo", List.of(ChildProcess.repoRoot().resolve("grapevine").toString(),
                "demo"), env)) {
            Admin table = new Admin(new InetSocketAddress("127.0.0.1", admin));
            Await.until(Duration.ofSeconds(60), "three demo backends up in /table and the banner printed", () -> {
                if (!demo.isAlive()) {
                    throw new AssertionError("the demo exited: " + demo.tail());
                }
                var t = table.tableOrNull();
                return t != null && Admin.rows(t).stream().filter(r -> r.state().equals("up")).count() == 3
                        && FOURTH.matcher(demo.log()).find();
            }, demo::tail);

            Set<Integer> answered = new HashSet<>();
            try (HttpConnection c = new HttpConnection(new InetSocketAddress("127.0.0.1", listen), 5_000)) {
                for (int i = 0; i < 30; i++) {
                    HttpConnection.Response r = c.get("/");
                    assertEquals(200, r.status(), r.body());
                    answered.add(r.demoId());
                }
            }
            assertEquals(Set.of(backends, backends + 1, backends + 2), answered, "requests balanced over the three backends");

            Matcher m = FOURTH.matcher(demo.log());
            assertTrue(m.find(), demo.log());
            String command = m.group(1).trim();
            assertTrue(command.contains("--target 127.0.0.1:" + (backends + 3)), command);
            List<String> words = new ArrayList<>(List.of(command.split(" +")));
            words.set(0, ChildProcess.repoRoot().resolve("grapevine").toString());
            fourth = ChildProcess.start(dir, "fourth", words, Map.of());
            ChildProcess fourthAgent = fourth;
            Await.until(Duration.ofSeconds(30), "the fourth backend up in /table", () -> table.serverIn(backends + 3, "up"),
                    () -> table + "\n" + fourthAgent.tail());
            boolean routed = false;
            try (HttpConnection c = new HttpConnection(new InetSocketAddress("127.0.0.1", listen), 5_000)) {
                for (int i = 0; i < 40 && !routed; i++) {
                    routed = c.get("/").demoId() == backends + 3;
                }
            }
            assertTrue(routed, "the fourth backend gets requests");

            started.addAll(demo.process().descendants().toList());
            assertTrue(started.size() >= 4, "the demo's processes (proxy, three agents): " + describe(started));
            long stop = System.nanoTime();
            demo.signal("INT");
            int status = demo.waitFor(45);
            long stopMs = (System.nanoTime() - stop) / 1_000_000;
            assertTrue(status >= 0, "the demo did not stop within 45 s after SIGINT\n" + demo.tail());
            Await.until(Duration.ofSeconds(15), "every process the demo started gone",
                    () -> started.stream().noneMatch(ProcessHandle::isAlive), () -> "still running: " + describe(started));
            System.out.printf("[demo] stopped %d processes %d ms after SIGINT (the agents drain for 5 s)%n", started.size(), stopMs);
            assertTrue(Ports.isFree(listen) && Ports.isFree(admin) && Ports.isFree(backends), "the demo's ports are free again");
        } finally {
            started.forEach(ProcessHandle::destroyForcibly);
            if (fourth != null) {
                fourth.close();
            }
        }
    }

    /**
     * A demo whose output has gone (a terminal closed under it, a {@code | tee} the same Ctrl-C ended: each write
     * fails) still stops every process it started when it ends: here the reader of its pipe is gone from the start,
     * so its banner, once the backends are up, fails and ends it.
     */
    @Test
    void aDemoWhoseOutputIsGoneStillStopsEverythingItStarted() throws Exception {
        int admin = Ports.free();
        int backends = Ports.freeRange(3);
        Map<String, String> env = environment(Ports.free(), admin, Ports.free(), backends);
        try (ChildProcess demo = ChildProcess.start(dir, "demo", List.of("bash", "-c", "\"$0\" demo | true",
                ChildProcess.repoRoot().resolve("grapevine").toString()), env)) {
            assertTrue(demo.waitFor(120) >= 0, "the demo did not end: " + describe(demoProcesses(admin, backends)));
            Await.until(Duration.ofSeconds(15), "every process the demo started gone", () -> demoProcesses(admin, backends).isEmpty(),
                    () -> "still running: " + describe(demoProcesses(admin, backends)));
        } finally {
            demoProcesses(admin, backends).forEach(ProcessHandle::destroyForcibly);
        }
    }

    /** A demo that cannot start (a port in use) exits 1 with the line that says why, and starts and stops nothing. */
    @Test
    void aPortInUseExitsOneWithoutStartingAnything() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             ChildProcess demo = ChildProcess.start(dir, "demo", List.of(ChildProcess.repoRoot().resolve("grapevine").toString(),
                     "demo"), environment(Ports.free(), taken.getLocalPort(), Ports.free(), Ports.freeRange(3)))) {
            assertEquals(1, demo.waitFor(30), demo.tail());
            assertEquals(List.of("grapevine demo: port " + taken.getLocalPort() + " is already in use; stop what uses it or set"
                    + " GRAPEVINE_DEMO_* ports"), demo.outputLines(), demo.tail());
        }
    }

    private static Map<String, String> environment(int listen, int admin, int gossip, int backends) {
        return Map.of("GRAPEVINE_DEMO_PORT", Integer.toString(listen),
                "GRAPEVINE_DEMO_ADMIN_PORT", Integer.toString(admin),
                "GRAPEVINE_DEMO_GOSSIP_PORT", Integer.toString(gossip),
                "GRAPEVINE_DEMO_BACKEND_BASE", Integer.toString(backends));
    }

    /** The demo's proxy (by its admin port) and agents (by their backends' ports), wherever they were reparented. */
    private static List<ProcessHandle> demoProcesses(int admin, int backends) {
        List<String> marks = List.of("--admin 127.0.0.1:" + admin + " ", "--target 127.0.0.1:" + backends + " ",
                "--target 127.0.0.1:" + (backends + 1) + " ", "--target 127.0.0.1:" + (backends + 2) + " ");
        return ProcessHandle.allProcesses().filter(p -> {
            String line = p.info().commandLine().orElse("") + " ";
            return marks.stream().anyMatch(line::contains);
        }).toList();
    }

    private static String describe(List<ProcessHandle> processes) {
        return processes.stream().map(p -> p.pid() + (p.isAlive() ? " alive " : " gone ")
                + p.info().commandLine().map(c -> c.length() > 120 ? c.substring(0, 120) : c).orElse("?")).toList().toString();
    }
}
