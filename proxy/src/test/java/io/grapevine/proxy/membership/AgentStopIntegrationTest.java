package io.grapevine.proxy.membership;

import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.ClusterSettings;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.RequestStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backend's agent process stopped while a steady keep-alive request stream runs through the proxy:
 * gracefully (SIGTERM: draining, then leave) or not at all ({@code kill -9} of the agent and the demo
 * backend it runs). Either way no request fails and the client's connections stay open; the server
 * leaves the table once gossip says so.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts delivery bounds during a drain
class AgentStopIntegrationTest {

    /** Three members (proxy, survivor, victim): gossip's suspicion timeout is then 6 s. */
    private static final Duration SUSPICION = ClusterSettings.builder().build().suspicionTimeout(3);
    private static final int DRAIN_SECONDS = 2;
    private static final int CONNECTIONS = 3;
    /**
     * How long an answer the proxy took before a change may still take to reach the client: bytes a backend wrote
     * before it died, or an answer to a request sent to it before it was draining in /table. On a busy machine the
     * proxy's and the client's threads wait for a CPU for tens of milliseconds; a server still routed to answers for
     * seconds more (until the end of its drain, or of gossip's suspicion), so half of the drain tells the two apart.
     */
    private static final Duration DELIVERY = Duration.ofMillis(DRAIN_SECONDS * 1000 / 2);

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();
    private ProxyUnderTest proxy;
    private Admin admin;
    private LocalAgent survivor;
    private ChildProcess victim;
    private int victimPort;
    private RequestStream stream;

    @BeforeEach
    void startCluster() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).start());
        admin = proxy.admin();
        survivor = keep(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        victimPort = Ports.free();
        victim = keep(ChildProcess.agent(dir, "victim", "--join", proxy.seed(), "--service", "web",
                "--target", "127.0.0.1:" + victimPort, "--demo", "--cluster-key", key.toString(),
                "--drain-seconds", Integer.toString(DRAIN_SECONDS)));
        Await.until(Duration.ofSeconds(30), "survivor and victim up in /table",
                () -> admin.serverIn(survivor.port(), "up") && admin.serverIn(victimPort, "up"),
                () -> admin + "\n" + victim.tail());
        stream = keep(RequestStream.start(proxy.listen(), "/", CONNECTIONS, 5_000));
        Await.until(Duration.ofSeconds(10), "both backends answering through the proxy",
                () -> stream.answersFrom(victimPort) > 10 && stream.answersFrom(survivor.port()) > 10, stream::toString);
    }

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private static long msSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /**
     * Besides the GETs, a stream of POSTs: the proxy never replays one that may have reached a backend,
     * so a backend closing under a request (no drain) would fail it instead of having it retried.
     */
    @Test
    void sigtermDrainsTheBackendWithoutFailingARequest() throws Exception {
        RequestStream posts = keep(RequestStream.startPosts(proxy.listen(), "/echo", 1, 5_000));
        Await.until(Duration.ofSeconds(10), "POSTs answered by both backends",
                () -> posts.answersFrom(victimPort) > 5 && posts.answersFrom(survivor.port()) > 5, posts::toString);
        long sigterm = System.nanoTime();
        victim.sigterm();

        long drainingMs = Await.until(Duration.ofSeconds(5), "victim draining in /table",
                () -> admin.serverIn(victimPort, "draining"), () -> admin + "\n" + victim.tail());
        long drainingSeen = System.nanoTime();
        assertEquals(0, victim.waitFor(DRAIN_SECONDS + 15), "agent exit status after SIGTERM\n" + victim.tail());
        long exitMs = msSince(sigterm);
        long removedMs = Await.until(SUSPICION.plusSeconds(15), "victim gone from /table", () -> !admin.hasServer(victimPort),
                admin::toString) + exitMs;
        stream.awaitMore(50, Duration.ofSeconds(10));
        posts.awaitMore(20, Duration.ofSeconds(10));
        stream.close();
        posts.close();

        System.out.printf("[timing] SIGTERM: draining in /table after %d ms, agent exited after %d ms, "
                + "server left /table after %d ms; %d GETs and %d POSTs during the test%n", drainingMs, exitMs, removedMs,
                stream.requests(), posts.requests());
        assertEquals(List.of(), stream.failures(), stream.toString());
        assertEquals(List.of(), posts.failures(), posts.toString());
        assertEquals(CONNECTIONS, stream.connectionsOpened(), "a client connection was closed: " + stream);
        assertEquals(1, posts.connectionsOpened(), "the POST client's connection was closed: " + posts);
        long lastFromVictimMs = (Math.max(stream.lastSeenNanos(victimPort), posts.lastSeenNanos(victimPort)) - drainingSeen) / 1_000_000;
        assertTrue(lastFromVictimMs <= DELIVERY.toMillis(), "the victim answered " + lastFromVictimMs + " ms after it was draining in /table");
        assertTrue(victim.log().contains("up -> draining"), victim.tail());
    }

    @Test
    void kill9OfAgentAndBackendFailsNoRequest() throws Exception {
        victim.kill9();
        assertEquals(137, victim.waitFor(10), "exit status of a SIGKILLed process");
        long dead = System.nanoTime();

        // Measured from when the process was seen gone. An answer the victim wrote just before the signal landed
        // can still be on its way through the proxy then (seen once 1 ms after the kill call, which returns before
        // the process is gone): DELIVERY bounds that; an answer later than it would not come from before the kill.
        long lastAnswerMs = (stream.lastSeenNanos(victimPort) - dead) / 1_000_000;
        long removedMs = Await.until(SUSPICION.plusSeconds(15), "victim gone from /table", () -> !admin.hasServer(victimPort),
                admin::toString);
        stream.awaitMore(50, Duration.ofSeconds(10));
        stream.close();

        System.out.printf("[timing] kill -9: server left /table %d ms after the kill (suspicion timeout %d ms); "
                + "%d requests during the test, %d retried by the proxy%n", removedMs, SUSPICION.toMillis(), stream.requests(),
                proxy.stats().retries.sum());
        assertEquals(List.of(), stream.failures(), stream.toString());
        assertEquals(CONNECTIONS, stream.connectionsOpened(), "a client connection was closed: " + stream);
        assertTrue(lastAnswerMs <= DELIVERY.toMillis(), "the victim answered " + lastAnswerMs + " ms after it was gone");
    }
}
