package io.grapevine.proxy.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.OpenLoopClient;
import io.grapevine.proxy.testing.OpenLoopProcess;
import io.grapevine.proxy.testing.TableWatch;
import io.grapevine.proxy.testing.netns.LabCluster;
import io.grapevine.proxy.testing.netns.NetnsLab;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy, five agents with their demo backends, a static backend and a client, each a host of its own (a
 * network namespace on a bridge, {@link NetnsLab}), with real gossip sealed by a cluster key and real traffic from
 * the client's host; then the network fails under them. Each scenario prints what the client saw (requests sent,
 * failed, connections dropped, latency) and asserts its bound. The partition of the gossip port alone runs only
 * with {@code -Dgrapevine.longTests=true}: the suite keeps the three scenarios of the issue, about two minutes.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts failed-request counts under load; network namespaces
class NetworkFaultsIntegrationTest {

    private static final int AGENTS = 5;
    private static final int FIRST_PORT = 8081;
    private static final int STATIC_PORT = 8090;
    private static final double RATE = 200;
    private static final int CONNECTIONS = 8;
    /** Twice the suspicion timeout of six members (9 s): time enough for a false suspicion to remove a member. */
    private static final Duration IMPAIRED = Duration.ofSeconds(20);

    /**
     * A partition takes most of the pool at once (five servers of six), and the client's eight connections leave
     * some unreachable servers without a request when it starts: nothing marks them until a request meets them or
     * the health checks fail, so a retry can meet one unreachable server after another, each taking connect_ms.
     * With the defaults (retries 2, max_ejected_percent 50) about one run in two failed a request of 7,000 with a
     * 504. The lab is set as an operator who expects such partitions would set it: a retry for every server of the
     * pool, the whole pool ejectable, every request retriable (docs/reliability.md).
     */
    private static final String PARTITION_TOLERANT = "\"passive_health\": { \"max_ejected_percent\": 100 }, "
            + "\"limits\": { \"retries\": 5, \"retry_budget_percent\": 100 },";

    @TempDir
    Path dir;

    @RegisterExtension
    final NetnsLab lab = new NetnsLab();

    private LabCluster cluster;
    private LabCluster.StaticBackend staticBackend;
    private LabCluster.LabProxy proxy;
    private Admin admin;
    private final List<LabCluster.LabAgent> agents = new ArrayList<>();

    @BeforeEach
    void startCluster() {
        cluster = new LabCluster(lab, dir);
        staticBackend = cluster.staticBackend("static", STATIC_PORT);
        proxy = cluster.proxy("proxy", LabCluster.serversConf(PARTITION_TOLERANT, staticBackend), List.of());
        admin = proxy.admin();
        for (int i = 0; i < AGENTS; i++) {
            agents.add(cluster.agent("a" + (i + 1), FIRST_PORT + i, List.of(proxy), 2));
        }
        Await.until(Duration.ofSeconds(60), "the five agents' backends up in /table", this::allUp, this::state);
    }

    private boolean allUp() {
        for (LabCluster.LabAgent a : agents) {
            Admin.Row r = admin.row(a.host().address(), a.port());
            if (r == null || !r.state().equals("up")) {
                return false;
            }
        }
        return true;
    }

    private String state() {
        StringBuilder sb = new StringBuilder(admin.toString());
        sb.append("\n").append(proxy.process().tail());
        for (LabCluster.LabAgent a : agents) {
            sb.append("\n").append(a.process().tail());
        }
        return sb.toString();
    }

    private OpenLoopProcess startClient() {
        OpenLoopProcess client = cluster.client("client", RATE, CONNECTIONS, List.of(proxy.listen()));
        Await.until(Duration.ofSeconds(30), "every backend answering the client", () -> agents.stream()
                .allMatch(a -> client.progress().answersFrom(a.port()) >= 20)
                && client.progress().answersFrom(staticBackend.id()) >= 20, () -> client.progress() + "\n" + state());
        return client;
    }

    /** The proxy's retries and the retries its budget denied, from /stats.json (the defaults apply here). */
    private String retries() {
        JsonNode proxyStats = admin.json("/stats.json").path("proxy");
        return "retries " + proxyStats.path("retries").asLong() + ", denied by the retry budget "
                + proxyStats.path("retries_denied").asLong();
    }

    private static void report(String scenario, OpenLoopClient.Report r, String more) {
        System.out.printf("[reliability] netns, %s: %s%s%n", scenario, r.summary(), more.isEmpty() ? "" : "; " + more);
    }

    private static void assertClean(OpenLoopClient.Report r, Supplier<String> context) {
        assertEquals(0, r.failed(), () -> "failed requests " + r.firstFailures() + "\n" + context.get());
        assertEquals(0, r.connectionsDropped(), () -> "client connections dropped\n" + context.get());
    }

    /**
     * One agent's host loses its network (its port on the bridge goes down): nothing it sends or is sent arrives,
     * not even a reset. The proxy must stop sending to it before gossip declares it dead, and retry what it sent
     * there: no idempotent request fails. When the cable is back, the member rejoins and its backend is used again.
     */
    @Test
    void aHostWhoseLinkIsCutIsRoutedAroundAndReturnsWhenItHeals() throws Exception {
        OpenLoopProcess client = startClient();
        LabCluster.LabAgent victim = agents.get(2);
        long cut = System.currentTimeMillis();
        victim.host().cutLink();

        long downMs = Await.until(Duration.ofSeconds(15), "the victim not up in /table",
                () -> { Admin.Row r = admin.row(victim.host().address(), victim.port()); return r == null || !r.state().equals("up"); },
                this::state);
        long removedMs = Await.until(Duration.ofSeconds(40), "the victim removed from /table by gossip",
                () -> admin.row(victim.host().address(), victim.port()) == null, this::state);
        client.awaitMore(400, Duration.ofSeconds(30));
        long healed = System.currentTimeMillis();
        victim.host().healLink();
        long backMs = Await.until(Duration.ofSeconds(60), "the victim back up in /table",
                () -> { Admin.Row r = admin.row(victim.host().address(), victim.port()); return r != null && r.state().equals("up"); },
                this::state);
        client.awaitMore(600, Duration.ofSeconds(30));
        OpenLoopClient.Report r = client.stop();

        report("link cut", r, String.format("victim not up %d ms after the cut, removed by gossip after %d ms, back up %d ms "
                + "after the heal; it answered %d requests, the last %d ms after the heal", downMs, removedMs, backMs,
                r.answersFrom(victim.port()), r.backends().get(victim.port()).lastMillis() - healed));
        assertClean(r, this::state);
        assertTrue(r.backends().get(victim.port()).lastMillis() > healed, "the victim answered again after the heal: " + r);
        long lastBeforeHeal = cut; // it may answer until the cut, never between the cut and the heal
        assertTrue(r.backends().get(victim.port()).firstMillis() < lastBeforeHeal, r.toString());
    }

    /** The member and server hosts gossip runs between: the proxy and the agents. */
    private List<NetnsLab.Host> gossipHosts() {
        List<NetnsLab.Host> hosts = new ArrayList<>(List.of(proxy.host()));
        agents.forEach(a -> hosts.add(a.host()));
        return hosts;
    }

    private List<NetnsLab.Host> agentHosts() {
        return agents.stream().map(LabCluster.LabAgent::host).toList();
    }

    /**
     * Every segment from or to the gossip port of the proxy and of every agent is dropped with a probability of 30 %
     * or delayed 200 ms (each way: a round trip of at least 400 ms against a ping timeout of 500 ms), for twice the
     * suspicion timeout. HTTP between the same hosts is untouched. Membership must not flap: no server leaves the
     * table or changes state, no generation is published; and the data plane serves as before.
     */
    @Test
    void lossAndDelayOnTheGossipLinksLeaveMembershipStableAndTrafficFlowing() throws Exception {
        OpenLoopProcess client = startClient();
        long eventsBefore = admin.members().path("view").path("events").asLong();
        NetnsLab.ImpairmentTotals impaired;
        TableWatch watch = new TableWatch(admin, 100);
        try {
            lab.impairTcpPort(gossipHosts(), LabCluster.GOSSIP_PORT, 200, 0.30, dir);
            long until = System.nanoTime() + IMPAIRED.toNanos();
            while (System.nanoTime() < until) {
                client.awaitMore(100, Duration.ofSeconds(30));
            }
            impaired = lab.clearImpairments();
        } finally {
            watch.close();
        }
        client.awaitMore(400, Duration.ofSeconds(30));
        OpenLoopClient.Report r = client.stop();
        long events = admin.members().path("view").path("events").asLong() - eventsBefore;

        report("gossip 30 % loss, 200 ms delay", r, String.format("for %d s: %d gossip segments impaired, %d dropped; "
                        + "%d membership events, %d table generations, %d removals, %d state changes", IMPAIRED.toSeconds(),
                impaired.segments(), impaired.dropped(), events, watch.generations(), watch.removals(), watch.stateChanges()));
        assertTrue(impaired.dropped() > 50 && impaired.dropped() < impaired.segments() * 0.4,
                "the gossip port really was impaired: " + impaired);
        assertEquals(0, watch.removals(), () -> "membership flapped: " + watch + "\n" + state());
        assertEquals(0, watch.stateChanges(), () -> "membership flapped: " + watch + "\n" + state());
        assertEquals(0, watch.generations(), () -> "the table changed: " + watch + "\n" + state());
        assertClean(r, this::state);
        for (LabCluster.LabAgent a : agents) {
            assertTrue(r.answersFrom(a.port()) > 50, "every backend served: " + r.backends());
        }
    }

    /**
     * The proxy is cut off from every agent's host (a partition of the bridge: packets between them vanish; the
     * client and the static backend's host still reach the proxy). The proxy serves on with what it still reaches,
     * its servers.conf, without failing a request; gossip removes the agents after its suspicion timeout. When the
     * partition heals, the agents rejoin and the table is what it was.
     */
    @Test
    void aProxyCutOffFromEveryAgentServesWhatItReachesAndConvergesWhenHealed() throws Exception {
        OpenLoopProcess client = startClient();
        long cut = System.currentTimeMillis();
        lab.partition(List.of(proxy.host()), agentHosts());
        long removedMs = Await.until(Duration.ofSeconds(40), "every agent's server gone from /table",
                () -> admin.table().size() == 1, this::state);
        assertEquals(staticBackend.port(), admin.table().get(0).port(), admin.toString());
        long staticBefore = client.progress().sent();
        client.awaitMore(1_000, Duration.ofSeconds(30));
        long healed = System.currentTimeMillis();
        lab.healPartitions();
        long convergedMs = Await.until(Duration.ofSeconds(60), "the table as before the partition", this::allUp, this::state);
        client.awaitMore(1_000, Duration.ofSeconds(30));
        OpenLoopClient.Report r = client.stop();

        long agentsAfterHeal = agents.stream().filter(a -> r.backends().get(a.port()).lastMillis() > healed).count();
        report("proxy partitioned from every agent", r, String.format("agents' servers gone from /table %d ms after the "
                + "cut; %d requests served by the static backend alone meanwhile; table converged %d ms after the heal; "
                + "%d of %d agents served again; %s", removedMs, client.progress().sent() - staticBefore, convergedMs,
                agentsAfterHeal, AGENTS, retries()));
        assertClean(r, this::state);
        assertEquals(AGENTS, agentsAfterHeal, "every agent's backend serves again after the heal: " + r.backends());
        assertTrue(r.backends().get(staticBackend.id()).lastMillis() > cut, r.toString());
    }

    /**
     * Only the gossip port is partitioned between the proxy and the agents: their backends still answer the proxy.
     * Gossip's failure detector removes every agent after its suspicion timeout, but the proxy holds on to servers
     * it still reaches (for {@code MembershipView.DEFAULT_HOLD_MILLIS}): the table does not change at all, and when
     * the partition heals the members are back before the hold ends. No request fails.
     */
    @Test
    // A condition, not an assumption: it is judged before @BeforeEach, so CI does not build the lab for nothing.
    // The same test as Boolean.getBoolean("grapevine.longTests"): "true" in any case.
    @EnabledIfSystemProperty(named = "grapevine.longTests", matches = "(?i)true", disabledReason = "the partition of "
            + "the gossip port alone runs with -Dgrapevine.longTests=true (docs/reliability.md)")
    void aProxyCutOffFromGossipOnlyKeepsServingWhatItReachesAndConverges() throws Exception {
        OpenLoopProcess client = startClient();
        TableWatch watch = new TableWatch(admin, 100);
        long held;
        long convergedMs;
        try {
            lab.partition(List.of(proxy.host()), agentHosts(), LabCluster.GOSSIP_PORT);
            long heldMs = Await.until(Duration.ofSeconds(40), "gossip removed every agent (the proxy holds them)",
                    () -> heldMembers() == AGENTS, () -> admin.members().toString());
            held = heldMs;
            client.awaitMore(600, Duration.ofSeconds(30));
            lab.healPartitions();
            convergedMs = Await.until(Duration.ofSeconds(30), "every agent back in the gossip view",
                    () -> heldMembers() == 0 && admin.members().path("members").size() == AGENTS, () -> admin.members().toString());
            client.awaitMore(600, Duration.ofSeconds(30));
        } finally {
            watch.close();
        }
        OpenLoopClient.Report r = client.stop();

        report("proxy cut off from gossip only", r, String.format("gossip removed every agent %d ms after the cut (held by "
                + "the proxy); all back %d ms after the heal; /table meanwhile: %d generations, %d removals, %d state changes",
                held, convergedMs, watch.generations(), watch.removals(), watch.stateChanges()));
        assertClean(r, this::state);
        assertEquals(0, watch.generations(), () -> "the table changed: " + watch + "\n" + state());
        for (LabCluster.LabAgent a : agents) {
            assertTrue(r.answersFrom(a.port()) > 300, "every backend kept serving: " + r.backends());
        }
    }

    /** Members that gossip removed and the proxy holds because it still reaches their backends. */
    private long heldMembers() {
        long n = 0;
        for (var m : admin.members().path("members")) {
            n += m.path("held").asBoolean() ? 1 : 0;
        }
        return n;
    }
}
