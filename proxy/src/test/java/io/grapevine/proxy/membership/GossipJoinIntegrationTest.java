package io.grapevine.proxy.membership;

import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.RequestStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * How soon a backend announced by a real agent process is routable through the proxy: measured from the
 * start of the proxy (agents already running) or of the agent (proxy already running) to the first
 * {@code 200} from that backend through the proxy.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts joins within 2 s
class GossipJoinIntegrationTest {

    /** Done means: agents started before the proxy are routable within 5 s of the proxy's start. */
    private static final long BEFORE_PROXY_LIMIT_MS = 5_000;
    /** Done means: an agent started later is routable within 2 s of its start. */
    private static final long LATER_AGENT_LIMIT_MS = 2_000;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private ChildProcess agent(String name, Path key, String seed, int port) {
        return keep(ChildProcess.agent(dir, name, "--join", seed, "--service", "web", "--target", "127.0.0.1:" + port,
                "--demo", "--cluster-key", key.toString(), "--drain-seconds", "1"));
    }

    /** Waits until the agent's demo backend answers TCP and it logged its announcement, or that it waits to join. */
    private static void awaitAgentRunning(ChildProcess agent, int port) {
        Await.until(Duration.ofSeconds(30), agent + " running", () -> {
            if (!agent.isAlive()) {
                throw new AssertionError("agent exited: " + agent.tail());
            }
            return (agent.log().contains("Announcing web") || agent.log().contains("Not joined")) && accepts(port);
        }, agent::tail);
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    private static long millisSince(long startNanos, Long thenNanos) {
        return (thenNanos - startNanos) / 1_000_000;
    }

    @Test
    void agentsStartedBeforeTheProxyAndAfterItBecomeRoutableInTime() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        int gossipPort = Ports.free();
        String seed = "127.0.0.1:" + gossipPort;
        int portA = Ports.free();
        int portB = Ports.free();
        ChildProcess a = agent("agent-a", key, seed, portA);
        ChildProcess b = agent("agent-b", key, seed, portB);
        awaitAgentRunning(a, portA);
        awaitAgentRunning(b, portB);

        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).gossipPort(gossipPort).clusterKey(key).start());
        RequestStream stream = keep(RequestStream.start(proxy.listen(), "/", 1, 10_000));
        Await.until(Duration.ofSeconds(15), "both early agents routable",
                () -> stream.firstSeenNanos(portA) != null && stream.firstSeenNanos(portB) != null,
                () -> stream + "; " + proxy.admin());
        long aMs = millisSince(proxy.startNanos(), stream.firstSeenNanos(portA));
        long bMs = millisSince(proxy.startNanos(), stream.firstSeenNanos(portB));
        System.out.printf("[timing] agents started before the proxy: first 200 after %d ms and %d ms of the proxy's start%n", aMs, bMs);
        assertTrue(aMs <= BEFORE_PROXY_LIMIT_MS && bMs <= BEFORE_PROXY_LIMIT_MS,
                "routable after " + aMs + " / " + bMs + " ms; limit " + BEFORE_PROXY_LIMIT_MS);
        stream.resetFailures(); // 503s until the first backend was in the table; none from here on

        int portC = Ports.free();
        ChildProcess c = agent("agent-c", key, proxy.seed(), portC);
        Await.until(Duration.ofSeconds(15), "later agent routable", () -> stream.firstSeenNanos(portC) != null,
                () -> stream + "; " + proxy.admin() + "; " + c.tail());
        long cMs = millisSince(c.startNanos(), stream.firstSeenNanos(portC));
        System.out.printf("[timing] agent started after the proxy: first 200 after %d ms of its process start%n", cMs);
        assertTrue(cMs <= LATER_AGENT_LIMIT_MS, "routable " + cMs + " ms after its start; limit " + LATER_AGENT_LIMIT_MS + "\n" + c.tail());

        assertEquals(List.of(), stream.failures(), stream.toString());
        assertEquals(1, stream.connectionsOpened(), "the client connection was closed: " + stream);
    }

    /**
     * An agent killed and restarted on the same backend address leaves two members announcing one address
     * until gossip declares the dead one gone (the suspicion timeout, several seconds). Meanwhile the proxy
     * must go on applying other changes: a new agent is routable within the same 2 s.
     */
    @Test
    void restartedAgentOnTheSameAddressDoesNotHoldUpOtherChanges() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).start());
        int portA = Ports.free();
        int portB = Ports.free();
        ChildProcess a = agent("agent-a", key, proxy.seed(), portA);
        ChildProcess b = agent("agent-b", key, proxy.seed(), portB);
        RequestStream stream = keep(RequestStream.start(proxy.listen(), "/", 1, 10_000));
        Await.until(Duration.ofSeconds(20), "both agents routable",
                () -> stream.firstSeenNanos(portA) != null && stream.firstSeenNanos(portB) != null,
                () -> stream + "; " + proxy.admin() + "\n" + a.tail() + "\n" + b.tail());
        stream.resetFailures(); // 503s until the first backend was in the table; none from here on

        a.kill9();
        a.waitFor(10);
        ChildProcess again = agent("agent-a-again", key, proxy.seed(), portA);
        Await.until(Duration.ofSeconds(20), "two members announcing 127.0.0.1:" + portA,
                () -> membersAnnouncing(proxy, portA) == 2, () -> proxy.admin().members().toString() + "\n" + again.tail());

        int portC = Ports.free();
        ChildProcess c = agent("agent-c", key, proxy.seed(), portC);
        Await.until(Duration.ofSeconds(15), "new agent routable", () -> stream.firstSeenNanos(portC) != null,
                () -> stream + "; " + proxy.admin() + "; rendered " + proxy.admin().json("/table/rendered") + "\n" + c.tail());
        long cMs = millisSince(c.startNanos(), stream.firstSeenNanos(portC));
        System.out.printf("[timing] agent started while a restarted one shared an address with a dead member: routable after %d ms%n", cMs);
        assertTrue(cMs <= LATER_AGENT_LIMIT_MS, "routable " + cMs + " ms after its start; limit " + LATER_AGENT_LIMIT_MS
                + "; members " + proxy.admin().members());
        assertEquals(1, proxy.admin().table().stream().filter(r -> r.port() == portA).count(),
                "one server for the shared address: " + proxy.admin().table().stream().map(Object::toString).collect(Collectors.joining("\n")));
        assertEquals(List.of(), stream.failures(), stream.toString());
    }

    private static long membersAnnouncing(ProxyUnderTest proxy, int port) {
        long n = 0;
        for (var m : proxy.admin().members().path("members")) {
            if (m.path("metadata").path("port").asInt() == port) {
                n++;
            }
        }
        return n;
    }
}
