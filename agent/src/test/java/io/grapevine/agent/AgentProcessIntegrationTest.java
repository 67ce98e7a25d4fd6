package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberState;
import io.grapevine.cluster.ListenPorts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The packaged agent jar as a separate process, stopped with SIGTERM. */
class AgentProcessIntegrationTest {

    private static final Path JAR = Path.of("target", "grapevine-agent.jar");

    @TempDir
    Path dir;

    private final List<Process> processes = new ArrayList<>();
    private ProxyView proxy;

    @AfterEach
    void cleanUp() {
        for (Process process : processes) {
            process.destroyForcibly();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    private Process agent(Path output, String... args) throws IOException {
        return agent(List.of(), output, args);
    }

    /** The agent with {@code jvmOptions} before its {@code -jar}. */
    private Process agent(List<String> jvmOptions, Path output, String... args) throws IOException {
        assertTrue(Files.isRegularFile(JAR), JAR.toAbsolutePath() + " is missing: run 'mvn verify', which packages it first");
        // With the default handling of the signals, as from a terminal, whatever the build was started under
        // (nohup ignores SIGHUP, and a child inherits that).
        List<String> command = new ArrayList<>(List.of("env", "--default-signal=HUP,INT,TERM,USR1",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx128m"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-jar", JAR.toString()));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command)
                .redirectOutput(output.toFile())
                .redirectError(dir.resolve(output.getFileName() + ".err").toFile())
                .start();
        processes.add(process);
        return process;
    }

    @Test
    void sigtermDrainsLeavesAndExitsZero() throws Exception {
        Path keyFile = Files.writeString(dir.resolve("cluster.key"), ClusterKeyring.generateKey() + "\n");
        proxy = new ProxyView(ClusterKeyring.load(keyFile));
        int targetPort = ListenPorts.free();
        Path out = dir.resolve("agent.out");
        Path log = dir.resolve("agent.out.err"); // the agent logs to stderr, as the proxy does
        Process agent = agent(out, "--join", proxy.seed(), "--service", "demo", "--target", "127.0.0.1:" + targetPort,
                "--demo", "--cluster-key", keyFile.toString(), "--drain-seconds", "1");

        Await.until(Duration.ofSeconds(30), "agent's backend up at the proxy",
                () -> proxy.saw(MemberEvent.Type.ADDED, "demo", MemberState.UP) || !agent.isAlive(), () -> read(log));
        assertTrue(agent.isAlive(), "agent exited early: " + read(log));

        agent.destroy(); // SIGTERM
        Await.until(Duration.ofSeconds(5), "draining", () -> proxy.saw(MemberEvent.Type.UPDATED, "demo", MemberState.DRAINING), proxy::toString);
        Await.until(Duration.ofSeconds(10), "LEAVING", () -> proxy.saw(MemberEvent.Type.LEAVING, "demo", null), proxy::toString);
        assertTrue(agent.waitFor(15, TimeUnit.SECONDS), "agent did not exit");
        assertEquals(0, agent.exitValue(), read(log));
        String output = read(log);
        assertTrue(output.contains("up -> draining"), output);
        assertTrue(output.contains("Left the cluster"), output);
        assertEquals("", read(out), "stdout carries no log lines");
    }

    /**
     * SIGHUP (a closed terminal, a reload out of habit) and SIGUSR1 (nginx's log reopening) leave a running agent
     * running: an agent has nothing to reload, and ending it without a drain would take its backend away unannounced.
     */
    @Test
    void sighupAndSigusr1AreLoggedAndTheAgentRunsOn() throws Exception {
        Path log = dir.resolve("agent.log");
        Process agent = joinedAgent(log, "1");

        for (String signal : List.of("HUP", "USR1")) {
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(agent.pid())).start().waitFor());
            Await.until(Duration.ofSeconds(5), "the SIG" + signal + " line",
                    () -> output(log).contains("SIG" + signal + " received: ignored") || !agent.isAlive(), () -> output(log));
            assertTrue(agent.isAlive(), () -> "SIG" + signal + " ended the agent (status " + agent.exitValue() + "): "
                    + output(log));
        }
        assertFalse(proxy.saw(MemberEvent.Type.LEAVING, "demo", null), proxy.toString());

        agent.destroy(); // SIGTERM: the usual drain
        assertTrue(agent.waitFor(15, TimeUnit.SECONDS), "agent did not exit");
        assertEquals(0, agent.exitValue(), output(log));
        assertTrue(output(log).contains("Left the cluster"), output(log));
    }

    /**
     * The same for SIGHUP and SIGUSR1 while logging is set up, before the agent reads its command line: up to seconds
     * after the JVM starts on a loaded host, when their default action (for SIGHUP the JVM's, exit 129) would end it.
     * Logging is held where it opens its log file, a FIFO nobody reads yet; once it runs, the agent logs both and
     * joins.
     */
    @Test
    void sighupAndSigusr1WhileLoggingIsSetUpAreLoggedAndTheAgentRunsOn() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        Path log = dir.resolve("agent.log");
        Process agent = agentLoggingTo(fifo, log, "1");
        Await.until(Duration.ofSeconds(30), "logging held at its FIFO",
                () -> Fifos.waitsForAReader(agent.pid()) || !agent.isAlive(), () -> output(log));
        for (String signal : List.of("HUP", "USR1")) {
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(agent.pid())).start().waitFor());
            Thread.sleep(500);
            assertTrue(agent.isAlive(), () -> "SIG" + signal + " ended the agent (status " + agent.exitValue() + "): "
                    + output(log));
        }
        Fifos.readInTheBackground(fifo);
        Await.until(Duration.ofSeconds(30), "agent's backend up at the proxy",
                () -> proxy.saw(MemberEvent.Type.ADDED, "demo", MemberState.UP) || !agent.isAlive(), () -> output(log));
        for (String signal : List.of("HUP", "USR1")) {
            assertTrue(output(log).contains("SIG" + signal + " received: ignored"), output(log));
        }
        agent.destroy();
        assertTrue(agent.waitFor(15, TimeUnit.SECONDS), "agent did not exit");
        assertEquals(0, agent.exitValue(), output(log));
    }

    /**
     * A second SIGTERM while the agent drains stops it at once, with 128 + 15, but not before its leave: the proxy
     * sees the backend LEAVING at once, instead of only REMOVED after its failure detector's suspicion timeout.
     */
    @Test
    void aSecondSigtermDuringTheDrainLeavesAndStopsAtOnce() throws Exception {
        Path log = dir.resolve("agent.log");
        Process agent = joinedAgent(log, "60");

        agent.destroy();
        Await.until(Duration.ofSeconds(5), "draining", () -> proxy.saw(MemberEvent.Type.UPDATED, "demo", MemberState.DRAINING), proxy::toString);
        long second = System.nanoTime();
        agent.destroy();
        assertTrue(agent.waitFor(10, TimeUnit.SECONDS), "agent did not stop after a second SIGTERM");
        long stopMs = (System.nanoTime() - second) / 1_000_000;
        assertEquals(143, agent.exitValue(), output(log));
        assertTrue(stopMs < 5000, "stopped " + stopMs + " ms after the second signal, not at once");
        assertTrue(output(log).contains("second SIGTERM while stopping: stopping at once"), output(log));
        assertTrue(output(log).contains("Left the cluster"), output(log));
        // LEAVING comes 0.1-0.2 s after a leave; without one, nothing but REMOVED, 6 s or more after the last ping.
        Await.until(Duration.ofSeconds(3), "LEAVING after the forced stop", () -> proxy.saw(MemberEvent.Type.LEAVING, "demo", null),
                proxy::toString);
        assertFalse(proxy.saw(MemberEvent.Type.REMOVED, "demo", null), proxy.toString());
    }

    /**
     * Should a step of the stop not return at all, the agent exits 0 all the same at the stop's bound,
     * {@code --drain-seconds} + 12 s, with one line naming the step: here its log is a FIFO whose reader reads nothing
     * (a log shipper that hangs), full, so that the agent waits for good in its line about the signal. Before, it
     * waited there until killed.
     */
    @Test
    void aStopHeldInALogLineThatCannotBeWrittenEndsAtItsBoundWithZero() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        Path log = dir.resolve("agent.log");
        try (FileChannel unread = Fifos.readerThatReadsNothing(fifo)) {
            Process agent = agentLoggingTo(fifo, log, "0");
            // The last line before the agent waits for a signal (the proxy sees it join before that), read from the
            // FIFO itself: its write there is over then.
            String lastLine = "Start-up garbage collected";
            Await.until(Duration.ofSeconds(30), "agent's start", () -> output(log).contains(lastLine) || !agent.isAlive(),
                    () -> output(log));
            readUntil(unread, lastLine);
            Fifos.fill(unread);

            long signal = System.nanoTime();
            agent.destroy(); // SIGTERM
            Await.until(Duration.ofSeconds(10), "the agent held in a write to its log",
                    () -> Fifos.waitsToWrite(agent.pid()) || !agent.isAlive(), () -> output(log));
            long bound = 12_000; // --drain-seconds (0 here) + 12 s, as operations.md says
            assertTrue(agent.waitFor(bound + 5_000, TimeUnit.MILLISECONDS), "agent did not stop: " + output(log));
            long stopMs = (System.nanoTime() - signal) / 1_000_000;
            assertEquals(0, agent.exitValue(), output(log));
            assertTrue(stopMs < bound + 1_500, "stopped " + stopMs + " ms after SIGTERM; the bound is " + bound + " ms");
            assertTrue(output(log).contains("stop: not over 12000 ms after it began (--drain-seconds + 12000 ms):"
                    + " grapevine agent exits now, abandoning the stop's first step"), output(log));
        }
    }

    /**
     * The same bound holds for a SIGTERM that comes while the agent's start waits in a log line that cannot be
     * written (its log a FIFO whose reader reads nothing, full before the agent starts: a log shipper that hangs, a
     * standard error pipe nobody reads), counted from the signal: the agent exits 0 within it, with one line naming the
     * start. Before, the stop's bound began once the start was over, which here it never was.
     */
    @Test
    void aSigtermWhileTheStartIsHeldInALogLineEndsAtItsBoundWithZero() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        Path log = dir.resolve("agent.log");
        try (FileChannel unread = Fifos.readerThatReadsNothing(fifo)) {
            Fifos.fill(unread);
            Process agent = agentLoggingTo(fifo, log, "0");
            sigtermWhileHeldEndsItWithinItsBound(agent, log, "the agent's start held in a write to its log",
                    () -> Fifos.waitsToWrite(agent.pid()));
            assertTrue(output(log).contains("stop: not over 12000 ms after it began (--drain-seconds + 12000 ms):"
                    + " grapevine agent exits now, abandoning the start (the signal came while it ran)"), output(log));
        }
    }

    /**
     * The same for a SIGTERM while the agent's logging is set up, held for good where it opens its log file (a FIFO
     * that never gets a reader): the agent exits 0 within the bound, counted from the signal (its line cannot be
     * written). The watchdog is armed on the signal's thread without waiting for the classes whose initialisation
     * sets logging up.
     */
    @Test
    void aSigtermWhileLoggingIsHeldForGoodEndsAtItsBoundWithZero() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        Path log = dir.resolve("agent.log");
        Process agent = agentLoggingTo(fifo, log, "0");
        sigtermWhileHeldEndsItWithinItsBound(agent, log, "logging held at its FIFO",
                () -> Fifos.waitsForAReader(agent.pid()));
    }

    /**
     * Waits until {@code agent} (with {@code --drain-seconds 0}) is {@code held} ({@code isHeld}), sends it SIGTERM and
     * asserts that it exits 0 within its stop's bound, 12 s as operations.md says, counted from the signal.
     */
    private void sigtermWhileHeldEndsItWithinItsBound(Process agent, Path log, String held, BooleanSupplier isHeld)
            throws InterruptedException {
        Await.until(Duration.ofSeconds(30), held, () -> isHeld.getAsBoolean() || !agent.isAlive(), () -> output(log));
        assertTrue(agent.isAlive(), () -> "the agent exited (status " + agent.exitValue() + "): " + output(log));

        long signal = System.nanoTime();
        agent.destroy(); // SIGTERM
        long bound = 12_000; // --drain-seconds (0 here) + 12 s
        assertTrue(agent.waitFor(bound + 5_000, TimeUnit.MILLISECONDS), () -> "agent did not stop "
                + (bound + 5_000) + " ms after SIGTERM: " + output(log));
        long stopMs = (System.nanoTime() - signal) / 1_000_000;
        assertEquals(0, agent.exitValue(), output(log));
        assertTrue(stopMs < bound + 1_500, "stopped " + stopMs + " ms after SIGTERM; the bound is " + bound + " ms");
    }

    /** Reads {@code fifo} until what it read holds {@code text}. */
    private static void readUntil(FileChannel fifo, String text) throws IOException {
        StringBuilder read = new StringBuilder();
        ByteBuffer buffer = ByteBuffer.allocate(8192);
        while (read.indexOf(text) < 0) {
            buffer.clear();
            fifo.read(buffer);
            read.append(new String(buffer.array(), 0, buffer.position(), StandardCharsets.ISO_8859_1));
        }
    }

    /** An agent no seed answered says so instead of announcing, and a signal stops it without a drain. */
    @Test
    void anAgentThatNeverJoinedSaysSoAndStopsAtOnce() throws Exception {
        Path log = dir.resolve("agent.log");
        Process agent = agent(log, "--join", "127.0.0.1:" + freePort(), "--service", "demo", "--target",
                "127.0.0.1:" + freePort(), "--demo", "--insecure-gossip", "--drain-seconds", "60");
        Await.until(Duration.ofSeconds(30), "the agent's start", () -> output(log).contains("Not joined") || !agent.isAlive(),
                () -> output(log));
        assertTrue(agent.isAlive(), output(log));
        assertFalse(output(log).contains("Announcing"), output(log));

        long signal = System.nanoTime();
        agent.destroy();
        assertTrue(agent.waitFor(10, TimeUnit.SECONDS), "agent did not stop");
        long stopMs = (System.nanoTime() - signal) / 1_000_000;
        assertEquals(0, agent.exitValue(), output(log));
        assertTrue(stopMs < 5000, "stopped " + stopMs + " ms after SIGTERM, not at once: " + output(log));
        assertTrue(output(log).contains("Never joined the cluster: stopping without a drain"), output(log));
    }

    /**
     * A signal that arrives while the agent is still starting (here: probing a backend that accepts but does not
     * answer) stops it before it joins: nothing is announced, so there is nothing to drain.
     */
    @Test
    void aSigtermDuringTheStartStopsItBeforeItJoins() throws Exception {
        proxy = new ProxyView(null);
        Path log = dir.resolve("agent.log");
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Process agent = agent(log, "--join", proxy.seed(), "--service", "web", "--target",
                    "127.0.0.1:" + silent.getLocalPort(), "--insecure-gossip", "--drain-seconds", "60");
            silent.setSoTimeout(30_000);
            try (Socket probe = silent.accept()) { // the first probe: the signal handlers are installed by now
                long signal = System.nanoTime();
                agent.destroy();
                assertTrue(agent.waitFor(10, TimeUnit.SECONDS), "agent did not stop: " + output(log));
                long stopMs = (System.nanoTime() - signal) / 1_000_000;
                assertEquals(0, agent.exitValue(), output(log));
                assertTrue(stopMs < 5000, "stopped " + stopMs + " ms after SIGTERM, not at once: " + output(log));
            }
        }
        Thread.sleep(500); // what a join would have announced reaches the proxy in about 100 ms
        assertFalse(proxy.saw(MemberEvent.Type.ADDED, "web", null), proxy.toString());
        assertTrue(output(log).contains("SIGTERM received while starting: stopping before joining the cluster"), output(log));
        assertFalse(output(log).contains("Announcing"), output(log));
    }

    /**
     * The same for a SIGTERM before the start proper, while the agent reads its cluster key (here a FIFO nobody writes
     * yet; a slow disk, a network file system): the JVM's own handling would end it with 143, which systemd and
     * Kubernetes count as a failure. Once the key is read, the agent stops with 0 before it joins.
     */
    @Test
    void aSigtermWhileTheKeyIsReadStopsItBeforeItJoinsWithZero() throws Exception {
        String key = ClusterKeyring.generateKey() + "\n";
        proxy = new ProxyView(ClusterKeyring.load(Files.writeString(dir.resolve("proxy.key"), key)));
        Path keyFifo = Fifos.make(dir.resolve("cluster.key"));
        Path log = dir.resolve("agent.log");
        Process agent = agent(log, "--join", proxy.seed(), "--service", "demo", "--target", "127.0.0.1:" + freePort(),
                "--demo", "--cluster-key", keyFifo.toString(), "--drain-seconds", "60");
        Await.until(Duration.ofSeconds(30), "the key read held at its FIFO",
                () -> Fifos.waitsForAReader(agent.pid()) || !agent.isAlive(), () -> output(log));
        agent.destroy(); // SIGTERM
        Thread.sleep(500);
        assertTrue(agent.isAlive(), () -> "SIGTERM ended the agent at once (status " + agent.exitValue() + "): "
                + output(log));
        Files.writeString(keyFifo, key);
        assertTrue(agent.waitFor(15, TimeUnit.SECONDS), "agent did not stop: " + output(log));
        assertEquals(0, agent.exitValue(), output(log));
        assertTrue(output(log).contains("SIGTERM received while starting: stopping before joining the cluster"), output(log));
        assertFalse(proxy.saw(MemberEvent.Type.ADDED, "demo", null), proxy.toString());
    }

    @Test
    void badFlagExitsTwoWithOneLineAndHelpExitsZero() throws Exception {
        Path out = dir.resolve("bad.out");
        Process bad = agent(out, "--join", "127.0.0.1:7946", "--service", "web", "--target", "127.0.0.1:8001", "--weight", "9000",
                "--insecure-gossip");
        assertTrue(bad.waitFor(30, TimeUnit.SECONDS));
        assertEquals(2, bad.exitValue());
        List<String> err = Files.readAllLines(dir.resolve("bad.out.err"));
        assertEquals(List.of("grapevine agent: --weight must be a whole number in 0..256, not '9000'"
                + " (see ./grapevine agent --help)"), err);

        Path keyless = dir.resolve("keyless.out");
        Process noKey = agent(keyless, "--join", "127.0.0.1:7946", "--service", "web", "--target", "127.0.0.1:8001");
        assertTrue(noKey.waitFor(30, TimeUnit.SECONDS));
        assertEquals(2, noKey.exitValue());
        assertEquals(List.of("grapevine agent: " + GossipNode.MISSING_KEY + " (see ./grapevine agent --help)"),
                Files.readAllLines(dir.resolve("keyless.out.err")));

        Path helpOut = dir.resolve("help.out");
        Process help = agent(helpOut, "--help");
        assertTrue(help.waitFor(30, TimeUnit.SECONDS));
        assertEquals(0, help.exitValue());
        assertTrue(read(helpOut).startsWith("usage: ./grapevine agent --join"), read(helpOut));
    }

    /**
     * An agent of a demo backend, without a key, that logs to standard error and to {@code fifo} as well
     * ({@link Fifos#loggingHeldAt}), from where its logging is set up until the FIFO has a reader.
     */
    private Process agentLoggingTo(Path fifo, Path log, String drainSeconds) throws IOException {
        Path logging = Fifos.loggingHeldAt(fifo, dir.resolve("logback.xml"));
        proxy = new ProxyView(null);
        return agent(List.of("-Dlogback.configurationFile=" + logging), log, "--join", proxy.seed(), "--service", "demo",
                "--target", "127.0.0.1:" + freePort(), "--demo", "--insecure-gossip", "--drain-seconds", drainSeconds);
    }

    /** An agent of a demo backend, without a key, once the proxy view has seen its backend up. */
    private Process joinedAgent(Path log, String drainSeconds) throws Exception {
        proxy = new ProxyView(null);
        Process agent = agent(log, "--join", proxy.seed(), "--service", "demo", "--target", "127.0.0.1:" + freePort(),
                "--demo", "--insecure-gossip", "--drain-seconds", drainSeconds);
        Await.until(Duration.ofSeconds(30), "agent's backend up at the proxy",
                () -> proxy.saw(MemberEvent.Type.ADDED, "demo", MemberState.UP) || !agent.isAlive(), () -> output(log));
        return agent;
    }

    private static int freePort() {
        return ListenPorts.free();
    }

    /** What the agent wrote to stdout and stderr (logs go to stderr). */
    private String output(Path stdout) {
        return read(stdout) + read(dir.resolve(stdout.getFileName() + ".err"));
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }
}
