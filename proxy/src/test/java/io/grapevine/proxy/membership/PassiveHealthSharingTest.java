package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What other proxies found failing, heard through the membership view (fed with events directly, no sockets): it
 * takes servers out of rotation here only as far as {@code max_ejected_percent} allows, this proxy's own ejections
 * counted, the findings heard first kept.
 */
class PassiveHealthSharingTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(PassiveHealthSharing.class);

    private RunningConfig running;
    private MembershipView view;
    private PassiveHealthSharing sharing;
    private final List<List<MemberMetadata.DownServer>> announced = new CopyOnWriteArrayList<>();
    private long clock = 1_000;

    /** A proxy with {@code n} static servers 127.0.0.1:8001... in one pool, at most half of it ejected. */
    private List<Server> start(int n) throws Exception {
        StringBuilder conf = new StringBuilder("{ \"passive_health\": { \"max_fails\": 1, \"fail_timeout_ms\": 600000, "
                + "\"max_ejected_percent\": 50 }, \"backend_servers\": [");
        for (int i = 1; i <= n; i++) {
            conf.append(i == 1 ? "" : ",").append(" { \"name\": \"s").append(i).append("\", \"ip\": \"127.0.0.1\", ")
                    .append("\"port\": ").append(8000 + i).append(" }");
        }
        ProxyConfig config = ConfigLoader.parse(conf.append(" ] }").toString(), "servers.conf");
        TableHolder tables = new TableHolder(1, config.routes(), config::policyOf);
        running = new RunningConfig(tables, config, null, SelfAddressGuard.NONE);
        view = new MembershipView(running,
                BackendTemplate.load(Path.of("../templates/backends.mustache"), BackendTemplate.Escaping.JSON), 1);
        running.start("start");
        sharing = PassiveHealthSharing.start(running, view, false, announced::add);
        settle();
        return running.current().servers();
    }

    @AfterEach
    void stop() {
        if (sharing != null) {
            sharing.close();
        }
        if (running != null) {
            running.close();
        }
    }

    /** Everything handed to the table thread so far is done, and the pass it asked for too. */
    private void settle() throws InterruptedException {
        view.awaitIdle(5_000);
        Thread.sleep(20);
        view.awaitIdle(5_000);
    }

    /**
     * Proxy {@code id} (at 10.0.0.{@code ip}:80) says now that the servers at {@code ports} fail, the first for a
     * minute, each next one a second longer.
     */
    private void peerSays(MemberEvent.Type type, String id, int ip, int... ports) throws InterruptedException {
        peerSaysFor(60_000, type, id, ip, ports);
    }

    /** As above, the first for {@code forMillis}. */
    private void peerSaysFor(long forMillis, MemberEvent.Type type, String id, int ip, int... ports)
            throws InterruptedException {
        List<MemberMetadata.DownServer> down = new ArrayList<>();
        long until = System.currentTimeMillis() + forMillis;
        for (int port : ports) {
            down.add(new MemberMetadata.DownServer("127.0.0.1", port, until));
            until += 1_000;
        }
        MemberMetadata md = MemberMetadata.proxy("10.0.0." + ip, 80).withDownServers(down);
        view.onMembershipEvent(new MemberEvent(type, id, null, new InetSocketAddress("10.0.0." + ip, 7946), md, clock++));
        settle();
    }

    private static List<Integer> down(List<Server> servers) {
        long now = System.nanoTime();
        return IntStream.range(0, servers.size()).filter(i -> !servers.get(i).isAvailable(now)).map(i -> i + 1).boxed()
                .toList();
    }

    private long heldBackLines() {
        return log.messages().stream().filter(l -> l.contains("not marked down on the word of proxy 10.0.0.")).count();
    }

    @Test
    void aProxyThatSaysEveryServerFailsTakesOutNoMoreThanMaxEjectedPercent() throws Exception {
        List<Server> two = start(2);
        peerSays(MemberEvent.Type.ADDED, "peer-a-0001", 9, 8002, 8001);
        assertEquals(1, down(two).size(), "one of two may be out, not both: " + down(two) + " " + log.messages());
        List<Integer> out = down(two);
        assertEquals(1, heldBackLines(), log.messages().toString());
        assertTrue(log.messages().stream().anyMatch(l -> l.contains("max_ejected_percent 50 of pool default reached")),
                log.messages().toString());

        // The same proxy says it again and again, now with the longer expiry for the other server: the same server stays
        // in, and the line is not repeated.
        for (int i = 0; i < 3; i++) {
            peerSays(MemberEvent.Type.UPDATED, "peer-a-0001", 9, 8001, 8002);
            assertEquals(out, down(two), "which server is kept in does not change");
        }
        assertEquals(1, heldBackLines(), log.messages().toString());
    }

    @Test
    void ownEjectionsCountAndTheFindingsHeardFirstAreKept() throws Exception {
        List<Server> four = start(4);
        HealthCheckConfig passive = running.config().healthCheck();
        assertTrue(four.get(0).recordFailure(System.nanoTime(), passive, "refused") != null, "s1 ejected here");
        settle();
        peerSays(MemberEvent.Type.ADDED, "peer-a-0001", 9, 8004);
        assertEquals(List.of(1, 4), down(four), "two of four: within 50 %");
        peerSays(MemberEvent.Type.ADDED, "peer-b-0002", 10, 8002, 8003);
        assertEquals(List.of(1, 4), down(four), "the pool's half is out already: " + log.messages());
        assertEquals(2, heldBackLines(), log.messages().toString());

        four.get(0).clearPassiveDown(); // this proxy's own ejection ends: room for one of the findings held back
        settle();
        List<Integer> out = down(four);
        assertEquals(2, out.size(), out.toString());
        assertTrue(out.contains(4), "the finding heard first stays: " + out);
        assertFalse(out.contains(1), out.toString());
    }

    @Test
    void anEjectionOfThisProxysOwnTakesThePlaceOfTheFindingHeardLast() throws Exception {
        List<Server> four = start(4);
        peerSays(MemberEvent.Type.ADDED, "peer-a-0001", 9, 8003);
        peerSays(MemberEvent.Type.ADDED, "peer-b-0002", 10, 8004);
        assertEquals(List.of(3, 4), down(four), "the pool's half, on the others' word");

        HealthCheckConfig passive = running.config().healthCheck();
        assertTrue(four.get(0).recordFailure(System.nanoTime(), passive, "refused") != null,
                "s1 failed a request here: this proxy saw it fail, it stops sending it requests");
        assertEquals(List.of(1, 3), down(four), "still half of the pool: s4's finding, heard last, gave way");
        settle();
        assertEquals(List.of(1, 3), down(four), "and the next pass keeps it so: " + log.messages());
        assertTrue(log.messages().stream().anyMatch(l -> l.contains("server s4 ") && l.contains(
                "no longer down on the word of proxy 10.0.0.10:80")), log.messages().toString());
    }

    @Test
    void aFindingKeptInIsMarkedWhenTheOneBeforeItRunsOut() throws Exception {
        List<Server> two = start(2);
        peerSaysFor(2_000, MemberEvent.Type.ADDED, "peer-a-0001", 9, 8001);
        peerSays(MemberEvent.Type.ADDED, "peer-b-0002", 10, 8002);
        assertEquals(List.of(1), down(two), "the finding heard first: " + log.messages());
        assertEquals(1, heldBackLines(), log.messages().toString());
        Await.until(Duration.ofSeconds(5), "s1's finding runs out, s2's is marked",
                () -> down(two).equals(List.of(2)), () -> down(two) + " " + log.messages());
    }
}
