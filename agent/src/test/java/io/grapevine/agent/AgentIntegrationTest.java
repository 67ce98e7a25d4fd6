package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import ch.qos.logback.core.read.ListAppender;
import com.sun.net.httpserver.HttpServer;
import io.grapevine.agent.backend.HeldBackendLoop;
import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ListenPorts;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.cluster.cli.StopDeadline;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** An agent in this JVM, a real HTTP target and a gossip member standing in for the proxy. */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts announced up within two probe intervals
class AgentIntegrationTest {

    @TempDir
    Path dir;

    private final AtomicInteger healthStatus = new AtomicInteger(200);
    private HttpServer target;
    private ProxyView proxy;
    private Agent agent;

    @BeforeEach
    void startTarget() throws IOException {
        target = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        target.createContext("/health", exchange -> {
            exchange.sendResponseHeaders(healthStatus.get(), -1);
            exchange.close();
        });
        target.start();
    }

    @AfterEach
    void stop() {
        if (agent != null) {
            agent.drainAndLeave(Duration.ZERO);
        }
        if (proxy != null) {
            proxy.close();
        }
        target.stop(0);
    }

    @Test
    void announcesProbesAndDrainsBeforeLeaving() throws Exception {
        String key = ClusterKeyring.generateKey();
        Path keyFile = Files.writeString(dir.resolve("cluster.key"), key + "\n");
        ClusterKeyring keyring = ClusterKeyring.load(keyFile);
        proxy = new ProxyView(keyring);
        int port = target.getAddress().getPort();
        AgentOptions options = AgentOptions.parse(new String[] {
            "--join", proxy.seed(), "--service", "web", "--target", "127.0.0.1:" + port,
            "--weight", "7", "--tag", "zone=a", "--cluster-key", keyFile.toString()});
        agent = Agent.start(options, keyring);

        Await.until(Duration.ofSeconds(10), "backend ADDED at the proxy", () -> proxy.saw(MemberEvent.Type.ADDED, "web", MemberState.UP), proxy::toString);
        MemberMetadata added = proxy.event(MemberEvent.Type.ADDED, "web", MemberState.UP).metadata();
        assertEquals(MemberMetadata.backend("web", "127.0.0.1", port, 7, Map.of("zone", "a"), MemberState.UP), added);

        healthStatus.set(503);
        long downMs = Await.until(Duration.ofSeconds(10), "backend reported down",
                () -> proxy.saw(MemberEvent.Type.UPDATED, "web", MemberState.DOWN), proxy::toString);
        System.out.printf("[timing] health failure reached the proxy as DOWN after %d ms%n", downMs);
        assertEquals(2, proxy.event(MemberEvent.Type.UPDATED, "web", MemberState.DOWN).metadata().version());

        healthStatus.set(200);
        Await.until(Duration.ofSeconds(10), "backend reported up again",
                () -> proxy.indexOf(MemberEvent.Type.UPDATED, "web", MemberState.UP) > proxy.indexOf(MemberEvent.Type.UPDATED, "web", MemberState.DOWN),
                proxy::toString);

        Agent draining = agent;
        agent = null;
        Thread stopper = new Thread(() -> draining.drainAndLeave(Duration.ofMillis(1500)));
        stopper.start();
        Await.until(Duration.ofSeconds(5), "draining announced", () -> proxy.saw(MemberEvent.Type.UPDATED, "web", MemberState.DRAINING), proxy::toString);
        Await.until(Duration.ofSeconds(10), "LEAVING after the drain", () -> proxy.saw(MemberEvent.Type.LEAVING, "web", null), proxy::toString);
        long drainToLeaveMs = (proxy.eventNanos.get(proxy.indexOf(MemberEvent.Type.LEAVING, "web", null))
                - proxy.eventNanos.get(proxy.indexOf(MemberEvent.Type.UPDATED, "web", MemberState.DRAINING))) / 1_000_000;
        assertTrue(drainToLeaveMs >= 1400, "LEAVING only " + drainToLeaveMs + " ms after draining");
        assertEquals(MemberState.DRAINING, proxy.event(MemberEvent.Type.LEAVING, "web", null).metadata().state());
        stopper.join(10_000);
        assertEquals(0, proxy.node.counters().framesRejected(), proxy.node.counters().toString());
    }

    /**
     * An agent stopped before any seed answered has announced nothing, and leaves at once; but its join goes on
     * being retried on the gossip thread, and one may land while it stops, after which its leave may reach no one.
     * Whoever it reaches then must see the backend draining, never up: a proxy would otherwise route to a backend
     * going away until the crash is detected. The join is held at the moment it does most harm: once the stop has
     * decided what to announce, before the leave. The agent's log says the join came during the stop, not that the
     * backend "is announced now", as a late join of a running agent does.
     */
    @Test
    void aJoinThatLandsWhileAnAgentThatNeverJoinedStopsFindsItDraining() throws Exception {
        Logger logger = (Logger) LoggerFactory.getLogger(Agent.class);
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        Level level = logger.getLevel();
        logger.setLevel(Level.INFO);
        logger.addAppender(lines);
        try {
            joinWhileStopping(lines);
        } finally {
            logger.detachAppender(lines);
            logger.setLevel(level);
        }
        List<String> joins = messages(lines).stream().filter(m -> m.startsWith("Joined the cluster")).toList();
        assertEquals(1, joins.size(), joins.toString());
        assertTrue(joins.get(0).startsWith("Joined the cluster while stopping: web at 127.0.0.1:"), joins.toString());
        assertFalse(joins.get(0).contains("announced now"), joins.toString());
    }

    /** The lines logged so far; the appender appends under its own lock, from the threads that log. */
    private static List<String> messages(ListAppender<ILoggingEvent> lines) {
        synchronized (lines) {
            return lines.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        }
    }

    private void joinWhileStopping(ListAppender<ILoggingEvent> lines) throws Exception {
        int seedPort;
        try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            seedPort = free.getLocalPort(); // the seed is not up yet: the agent's first join finds no one
        }
        AgentOptions options = AgentOptions.parse(new String[] {
            "--join", "127.0.0.1:" + seedPort, "--service", "web", "--target", "127.0.0.1:" + target.getAddress().getPort(),
            "--insecure-gossip"});
        Agent stopping = Agent.start(options, null);
        assertFalse(stopping.joined());
        stopping.beforeLeave = () -> {
            proxy = new ProxyView(null, seedPort);
            Await.until(Duration.ofSeconds(10), "the agent's join retry reaching the seed",
                    () -> proxy.saw(MemberEvent.Type.ADDED, "web", null), proxy::toString);
            Await.until(Duration.ofSeconds(10), "the agent's line about its join",
                    () -> messages(lines).stream().anyMatch(m -> m.startsWith("Joined the cluster")),
                    () -> messages(lines).toString());
        };
        long start = System.nanoTime();
        stopping.drainAndLeave(Duration.ofSeconds(30));

        assertEquals(MemberState.DRAINING, proxy.event(MemberEvent.Type.ADDED, "web", null).metadata().state(),
                proxy.toString());
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(20).toNanos(), "the drain was waited for");
    }

    /**
     * A stop ends within its bound, {@code --drain-seconds} + 12 s, however its steps fare: here the agent's gossip
     * thread is held by a log line that cannot be written, so that its leave does not finish, and the demo backend's
     * event loop runs a task that does not end, so that its close does not either. Each is left with one line naming
     * it and what it waited for, and the stop returns. Before, the close was waited for for good.
     */
    @Test
    void aStopWhoseLeaveAndBackendCloseHangEndsWithinItsBoundNamingEach() throws Exception {
        proxy = new ProxyView(null);
        int port = ListenPorts.free();
        agent = Agent.start(AgentOptions.parse(new String[] {"--join", proxy.seed(), "--service", "web",
            "--target", "127.0.0.1:" + port, "--demo", "--insecure-gossip"}), null);
        Await.until(Duration.ofSeconds(10), "backend ADDED at the proxy",
                () -> proxy.saw(MemberEvent.Type.ADDED, "web", MemberState.UP), proxy::toString);
        Agent stopping = agent;
        agent = null;

        Logger agentLog = (Logger) LoggerFactory.getLogger(Agent.class);
        Logger stopLog = (Logger) LoggerFactory.getLogger(StopDeadline.class);
        Level level = agentLog.getLevel();
        HeldLines membershipLines = new HeldLines("Member UPDATED");
        ListAppender<ILoggingEvent> stopLines = new ListAppender<>();
        stopLines.start();
        stopLog.addAppender(stopLines);
        agentLog.setLevel(Level.DEBUG);
        agentLog.addAppender(membershipLines);
        try (HeldBackendLoop held = HeldBackendLoop.hold()) {
            proxy.node.updateMetadata(MemberMetadata.proxy("127.0.0.1", 9001)); // the agent's gossip thread logs it
            Await.until(Duration.ofSeconds(10), "the agent's gossip thread held in a log line",
                    () -> membershipLines.holding.get() > 0, proxy::toString);

            Thread stopper = new Thread(() -> stopping.drainAndLeave(Duration.ZERO), "agent-stop");
            long start = System.nanoTime();
            stopper.start();
            long bound = 12_000; // --drain-seconds (0 here) + 12 s, as operations.md says
            stopper.join(bound + 3_000);
            long stopMillis = (System.nanoTime() - start) / 1_000_000;
            assertFalse(stopper.isAlive(), "the stop had not returned " + stopMillis + " ms after it began: "
                    + messages(stopLines));
            assertTrue(stopMillis < bound + 1_000, "stopped after " + stopMillis + " ms; the bound is " + bound + " ms");
            List<String> lines = messages(stopLines);
            // The leave waits 10 s, less what the stop took before it, to leave the close and the exit their 2 s.
            assertTrue(lines.stream().anyMatch(line -> line.matches("stop: the gossip leave did not finish within \\d+ ms"
                    + " \\(the leave spreading to the peers and the gossip port closing\\); the stop goes on")),
                    lines.toString());
            assertTrue(lines.contains("stop: the demo backend on 127.0.0.1:" + port + " did not close within 1000 ms"
                    + " (its event loop runs a task); the stop goes on"),
                    lines.toString());
        } finally {
            membershipLines.release();
            agentLog.detachAppender(membershipLines);
            agentLog.setLevel(level);
            stopLog.detachAppender(stopLines);
        }
    }

    /**
     * Holds each thread that logs a line starting with {@code prefix} until released, as a log that cannot be written
     * holds its writers; lines of other threads pass (no lock is shared, unlike an appender that writes).
     */
    private static final class HeldLines extends UnsynchronizedAppenderBase<ILoggingEvent> {
        final AtomicInteger holding = new AtomicInteger();
        private final String prefix;
        private final CountDownLatch released = new CountDownLatch(1);

        HeldLines(String prefix) {
            this.prefix = prefix;
            start();
        }

        @Override
        protected void append(ILoggingEvent event) {
            if (event.getFormattedMessage().startsWith(prefix)) {
                holding.incrementAndGet();
                try {
                    released.await(1, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        void release() {
            released.countDown();
        }
    }

    /**
     * A backend whose first answer is slower than the probe timeout (a JVM still warming up, say) is
     * announced up as soon as a probe passes, not down and then up {@code RISE} probes later.
     */
    @Test
    void slowFirstAnswerIsAnnouncedUpWithoutWaitingForRise() throws Exception {
        AtomicInteger healthRequests = new AtomicInteger();
        target.removeContext("/health");
        target.createContext("/health", exchange -> {
            if (healthRequests.incrementAndGet() == 1) {
                try {
                    Thread.sleep(Agent.PROBE_TIMEOUT.toMillis() + 400);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            exchange.sendResponseHeaders(200, -1);
            exchange.close();
        });
        proxy = new ProxyView(null);
        AgentOptions options = AgentOptions.parse(new String[] {
            "--join", proxy.seed(), "--service", "web", "--target", "127.0.0.1:" + target.getAddress().getPort(),
            "--insecure-gossip"});
        long start = System.nanoTime();
        agent = Agent.start(options, null);

        Await.until(Duration.ofSeconds(10), "backend ADDED at the proxy", () -> proxy.saw(MemberEvent.Type.ADDED, "web", null), proxy::toString);
        assertEquals(MemberState.UP, proxy.event(MemberEvent.Type.ADDED, "web", null).metadata().state(), proxy.toString());
        long upMs = (proxy.eventNanos.get(proxy.indexOf(MemberEvent.Type.ADDED, "web", null)) - start) / 1_000_000;
        System.out.printf("[timing] backend with a slow first answer announced up %d ms after the agent's start%n", upMs);
        assertTrue(upMs < Agent.PROBE_INTERVAL.toMillis() * Agent.RISE, "announced up only after " + upMs + " ms");
    }
}
