package io.grapevine.proxy.membership;

import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.RequestStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * 200 membership events in 10 s while requests stream through the proxy. The events enter where the
 * gossip thread hands them over ({@link MembershipView#onMembershipEvent}, a {@code MembershipListener}
 * called from a foreign thread), for backends that really serve: ten demo backends that keep joining,
 * draining and leaving, beside two stable agents that joined by gossip.
 *
 * <p>The debounce is 250 ms here, so that 200 events (one every 50 ms) would make far more generations
 * than the bound allows if they were not batched.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts table generations per debounce period
class MembershipChurnIntegrationTest {

    private static final long DEBOUNCE_MS = 250;
    private static final int EVENTS = 200;
    private static final long EVENT_EVERY_MS = 50;
    private static final int CHURNERS = 10;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private enum Phase { ABSENT, UP, LEAVING }

    @Test
    void twoHundredJoinsAndLeavesUnderLoadFailNothingAndLeakNothing() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).debounceMillis(DEBOUNCE_MS).start());
        Admin admin = proxy.admin();
        MembershipView view = proxy.instance().view();
        // The crashes here leave their demo backends running, which the proxy would hold on to (see
        // MembershipView.hold); this test is about batching and clean-up, so a crash removes at once.
        view.holdRemovedMembersFor(0);
        DataPlane runtime = proxy.dataPlane();
        LocalAgent stableA = keep(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        LocalAgent stableB = keep(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        List<DemoBackend> churners = new ArrayList<>();
        for (int i = 0; i < CHURNERS; i++) {
            churners.add(keep(LocalAgent.demoBackend()));
        }
        Await.until(Duration.ofSeconds(10), "stable agents in /table",
                () -> admin.serverIn(stableA.port(), "up") && admin.serverIn(stableB.port(), "up"), admin::toString);
        RequestStream gets = keep(RequestStream.start(proxy.listen(), "/", 4, 2_000));
        RequestStream posts = keep(RequestStream.startPosts(proxy.listen(), "/echo", 1, 2_000));
        gets.awaitMore(100, Duration.ofSeconds(10));

        Phase[] phase = new Phase[CHURNERS];
        String[] memberId = new String[CHURNERS];
        int[] cycles = new int[CHURNERS];
        java.util.Arrays.fill(phase, Phase.ABSENT);
        long generationBefore = proxy.instance().server().tables().current().generation();
        long start = System.nanoTime();
        for (int e = 0; e < EVENTS; e++) {
            LockSupport.parkNanos(start + TimeUnit.MILLISECONDS.toNanos(e * EVENT_EVERY_MS) - System.nanoTime());
            int j = e % CHURNERS;
            DemoBackend b = churners.get(j);
            switch (phase[j]) {
                case ABSENT -> {
                    memberId[j] = "churn-" + j + "-" + cycles[j]++;
                    view.onMembershipEvent(event(MemberEvent.Type.ADDED, memberId[j], b.port(), MemberState.UP));
                    phase[j] = Phase.UP;
                }
                case UP -> {
                    if (cycles[j] % 2 == 0) { // every other cycle: a graceful leave (drain first)
                        view.onMembershipEvent(event(MemberEvent.Type.LEAVING, memberId[j], b.port(), MemberState.DRAINING));
                        phase[j] = Phase.LEAVING;
                    } else { // a crash as gossip reports it, or the end of the suspicion timeout
                        view.onMembershipEvent(event(MemberEvent.Type.REMOVED, memberId[j], b.port(), MemberState.UP));
                        phase[j] = Phase.ABSENT;
                    }
                }
                case LEAVING -> {
                    view.onMembershipEvent(event(MemberEvent.Type.REMOVED, memberId[j], b.port(), MemberState.DRAINING));
                    phase[j] = Phase.ABSENT;
                }
            }
        }
        long churnMs = (System.nanoTime() - start) / 1_000_000;
        // The last events are rendered one debounce window later: wait for the table they make.
        java.util.Set<String> expected = new java.util.TreeSet<>(List.of(stableA.port() + " up", stableB.port() + " up"));
        for (int j = 0; j < CHURNERS; j++) {
            if (phase[j] != Phase.ABSENT) {
                expected.add(churners.get(j).port() + (phase[j] == Phase.UP ? " up" : " draining"));
            }
        }
        Await.until(Duration.ofSeconds(5), "the table the last events make", () -> {
            java.util.Set<String> now = new java.util.TreeSet<>();
            admin.table().forEach(r -> now.add(r.port() + " " + (r.state().equals("draining") ? "draining" : "up")));
            return now.equals(expected);
        }, () -> expected + " vs " + admin);
        view.awaitIdle(5_000);
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        long generations = proxy.instance().server().tables().current().generation() - generationBefore;
        long bound = elapsedMs / DEBOUNCE_MS + 2;
        long churnersServed = churners.stream().filter(b -> gets.answersFrom(b.port()) + posts.answersFrom(b.port()) > 0).count();
        System.out.printf("[churn] %d events in %d ms: %d table generations (bound %d = %d ms / %d ms + 2); %d GETs, %d POSTs; "
                + "%d of %d churning backends served requests%n", EVENTS, churnMs, generations, bound, elapsedMs, DEBOUNCE_MS,
                gets.requests(), posts.requests(), churnersServed, CHURNERS);
        assertTrue(generations <= bound, generations + " generations in " + elapsedMs + " ms; bound " + bound);
        assertTrue(generations >= elapsedMs / DEBOUNCE_MS / 2, "only " + generations + " generations: the churn did not reach the table");
        assertTrue(churnersServed >= CHURNERS / 2, "churning backends hardly served: " + gets);

        // Everyone who is still in gets removed; then nothing of the churners may remain anywhere.
        for (int j = 0; j < CHURNERS; j++) {
            if (phase[j] != Phase.ABSENT) {
                view.onMembershipEvent(event(MemberEvent.Type.REMOVED, memberId[j], churners.get(j).port(), MemberState.UP));
            }
        }
        Await.until(Duration.ofSeconds(10), "only the stable servers in /table",
                () -> admin.table().size() == 2 && admin.hasServer(stableA.port()) && admin.hasServer(stableB.port()), admin::toString);
        gets.awaitMore(100, Duration.ofSeconds(10));
        posts.awaitMore(20, Duration.ofSeconds(10));
        Await.until(Duration.ofSeconds(10), "no idle list or connection left for a removed server", () -> {
            DataPlane.Census c = census(runtime);
            return c.idleListsOfRemovedServers() == 0 && c.connectionsToRemoved() == 0;
        }, () -> census(runtime).toString());
        Await.until(Duration.ofSeconds(10), "every churning backend's connections from the proxy closed",
                () -> churners.stream().mapToInt(DemoBackend::openConnections).sum() == 0,
                () -> churners.stream().map(b -> b.port() + ":" + b.openConnections()).toList().toString());
        DataPlane.Census during = census(runtime);
        int loops = runtime.loops().size();
        assertTrue(during.idleLists() <= 2 * loops, "idle lists: " + during + " for 2 servers on " + loops + " loops");
        assertEquals(5, during.clientConnections(), during.toString());

        gets.close();
        posts.close();
        assertEquals(List.of(), gets.failures(), gets.toString());
        assertEquals(List.of(), posts.failures(), posts.toString());
        assertEquals(4, gets.connectionsOpened(), "a client connection was closed: " + gets);
        assertEquals(1, posts.connectionsOpened(), "a client connection was closed: " + posts);
        Await.until(Duration.ofSeconds(10), "client connections closed", () -> census(runtime).clientConnections() == 0,
                () -> census(runtime).toString());
        DataPlane.Census after = census(runtime);
        int stableConnections = stableA.backend().openConnections() + stableB.backend().openConnections();
        System.out.printf("[churn] afterwards: %s; the stable backends hold %d connections%n", after, stableConnections);
        assertTrue(after.upstreamConnections() == after.idleConnections(), "busy backend connections with no client: " + after);
        assertTrue(after.idleConnections() <= stableConnections, after + " vs " + stableConnections + " at the backends");
    }

    private static DataPlane.Census census(DataPlane runtime) {
        try {
            return runtime.census(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static MemberEvent event(MemberEvent.Type type, String id, int port, MemberState state) {
        MemberMetadata md = MemberMetadata.backend("web", "127.0.0.1", port, 1, Map.of(), state);
        return new MemberEvent(type, id, id, new InetSocketAddress("127.0.0.1", 1), md, System.currentTimeMillis());
    }
}
