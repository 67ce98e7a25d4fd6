package io.grapevine.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The collector without sockets: a table published by hand, latencies recorded as a loop would. */
class StatsCollectorTest {

    private static ServerSpec spec(String name, int port) {
        return new ServerSpec(name, "127.0.0.1", port, 1, false, "default", ServerSpec.Source.GOSSIP,
                ServerSpec.AdminState.UP);
    }

    @Test
    void tenThousandChurnedServersLeaveNothingBehind() throws Exception {
        TableHolder tables = new TableHolder(2, List.of(), pool -> io.grapevine.proxy.config.PoolPolicy.of(Balance.ROUNDROBIN));
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("steady", 1)), "start");
        List<WeakReference<Server>> gone = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            tables.publish(List.of(spec("steady", 1), spec("member-" + i, 10_000 + i)), "churn");
            for (Server s : tables.current().servers()) {
                s.stats().requestStarted();
                s.stats().latency.recordTotal(i % 2, 2_000_000);
                s.stats().latency.recordUpstream(i % 2, 1_000_000);
                if (i < 100 && s.name().startsWith("member-")) {
                    gone.add(new WeakReference<>(s));
                }
            }
            if (i % 50 == 0) {
                collector.tick();
            }
        }
        collector.tick();
        assertEquals(2, collector.trackedServers(), "only the servers of the table are tracked");
        Map<String, Object> stats = report.stats();
        @SuppressWarnings("unchecked")
        Map<String, Object> pool = ((List<Map<String, Object>>) stats.get("pools")).get(0);
        assertEquals(20_000L, pool.get("requests"), "the pool keeps the counts of the servers that left");
        @SuppressWarnings("unchecked")
        Map<String, Object> sinceStart = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>)
                pool.get("latency")).get("total")).get("since_start");
        assertEquals(20_000L, sinceStart.get("count"), "and their latencies");

        long deadline = System.nanoTime() + 10_000_000_000L;
        while (gone.stream().anyMatch(r -> r.get() != null) && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
        }
        assertTrue(gone.stream().allMatch(r -> r.get() == null), "servers that left the table can be collected");
    }

    @Test
    void aStateChangeIsTimedAndGoesToTheTimelineWithItsCause() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> io.grapevine.proxy.config.PoolPolicy.of(Balance.ROUNDROBIN));
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        tables.publish(List.of(spec("web-1", 1), spec("web-2", 2)), "start");
        collector.tick();
        Server web1 = tables.current().servers().get(0);
        long before = web1.stats().state.sinceMillis();
        assertEquals("up", web1.stats().state.state());
        web1.recordFailure(System.nanoTime(),
                new io.grapevine.proxy.config.HealthCheckConfig(false, null, 2000, 1000, 2, 3, 1, 60_000), "connect refused");
        collector.tick();
        assertEquals("down", web1.stats().state.state());
        assertTrue(web1.stats().state.sinceMillis() >= before);
        assertEquals(1, web1.stats().state.downTransitions());
        var down = tables.events().all().stream().filter(e -> e.kind().equals("down")).toList();
        assertEquals(1, down.size(), tables.events().all().toString());
        assertEquals("web-1", down.get(0).subject());
        assertTrue(down.get(0).detail().contains("up \u2192 down: failed request: connect refused"), down.get(0).detail());
    }
}
