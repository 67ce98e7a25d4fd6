package io.grapevine.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.stats.LatencyRecorder;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.stats.StatsFormats;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import io.grapevine.proxy.testing.PrometheusText;
import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The collector without sockets: a table published by hand, latencies recorded as a loop would. */
class StatsCollectorTest {

    @RegisterExtension
    final LogCapture logs = new LogCapture(StatsCollector.class);

    private static ServerSpec spec(String name, int port) {
        return new ServerSpec(name, "127.0.0.1", port, 1, false, "default", ServerSpec.Source.GOSSIP,
                ServerSpec.AdminState.UP);
    }

    /** A holder for {@code loops} event loops whose pools balance round robin. */
    private static TableHolder tables(int loops) {
        return new TableHolder(loops, List.of(), pool -> io.grapevine.proxy.config.PoolPolicy.of(Balance.ROUNDROBIN));
    }

    @Test
    void tenThousandChurnedServersLeaveNothingBehind() throws Exception {
        TableHolder tables = tables(2);
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

    /**
     * In {@code /metrics}, a latency counts in every bucket whose bound it does not exceed ({@code le}): one of
     * exactly a bound, or just below one, although the event loops record into bins 6.25 % wide; per server,
     * and per pool with the servers that left it.
     */
    @Test
    void aLatencyAtOrJustBelowABoundCountsInItsPrometheusBucket() {
        TableHolder tables = tables(1);
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("web-1", 1), spec("web-2", 2)), "start");
        Server web1 = tables.current().servers().get(0);
        Server web2 = tables.current().servers().get(1);
        web1.stats().latency.recordTotal(0, 500_000); // 0.5 ms: the first bound exactly
        web1.stats().latency.recordTotal(0, 99_000_000); // 99 ms: just below the 100 ms bound
        web1.stats().latency.recordTotal(0, 101_000_000); // 101 ms: above it
        web2.stats().latency.recordTotal(0, 98_500_000);
        collector.tick();
        tables.publish(List.of(spec("web-1", 1)), "web-2 leaves");
        collector.tick();

        Map<String, PrometheusText.Family> families = PrometheusText.parse(
                report.prometheus());
        Map<String, Double> server = buckets(families, "grapevine_server_request_duration_seconds", "web-1");
        assertEquals(1.0, server.get("0.0005"), "500 us is at most 0.0005 s: " + server);
        assertEquals(1.0, server.get("0.05"), server.toString());
        assertEquals(2.0, server.get("0.1"), "99 ms is at most 0.1 s, 101 ms is not: " + server);
        assertEquals(3.0, server.get("0.25"), server.toString());
        Map<String, Double> pool = buckets(families, "grapevine_pool_request_duration_seconds", null);
        assertEquals(3.0, pool.get("0.1"), "with the 98.5 ms of the server that left: " + pool);
        assertEquals(4.0, pool.get("+Inf"), pool.toString());
    }

    /**
     * Within one scrape of {@code /metrics}, a histogram's {@code _sum} is the sum of the very values its buckets and
     * {@code _count} count, while an event loop goes on recording: every exchange here takes 1 ms, so each series'
     * {@code _sum} must be exactly {@code _count} ms, per server and per pool (a sum read at another moment than the
     * buckets makes the mean of a scrape, and of a rate over few scrapes, wrong).
     */
    @Test
    void aHistogramsSumAndCountAreOfTheSameExchangesWhileALoopRecords() throws Exception {
        TableHolder tables = tables(1);
        StatsReport report = reportOfWeb1(tables);
        Server web1 = tables.current().servers().get(0);
        scrapeWhile("loop-0", () -> {
            web1.stats().latency.recordTotal(0, 1_000_000);
            web1.stats().latency.recordUpstream(0, 1_000_000);
        }, scrape -> {
            Map<String, PrometheusText.Family> families = PrometheusText.parse(
                    report.prometheus());
            for (String family : List.of("grapevine_server_request_duration_seconds",
                    "grapevine_server_upstream_duration_seconds", "grapevine_pool_request_duration_seconds",
                    "grapevine_pool_upstream_duration_seconds")) {
                assertOneMillisecondEach(families, family, "scrape " + scrape + ", " + family + " of exchanges");
            }
        });
    }

    /** The report of {@code tables}, which are published with one server {@code web-1}. */
    private static StatsReport reportOfWeb1(TableHolder tables) {
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("web-1", 1)), "start");
        return report;
    }

    /** Scrapes ({@code scrape} with its number) 200 times while a thread named {@code writer} repeats {@code write}. */
    private static void scrapeWhile(String writer, Runnable write, java.util.function.IntConsumer scrape)
            throws InterruptedException {
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread t = new Thread(() -> {
            while (!stop.get()) {
                write.run();
            }
        }, writer);
        t.start();
        try {
            for (int i = 0; i < 200; i++) {
                scrape.accept(i);
            }
        } finally {
            stop.set(true);
            t.join();
        }
    }

    /** Every value counted by the pool's {@code family} took 1 ms: its {@code _sum} is exactly {@code _count} ms. */
    private static void assertOneMillisecondEach(Map<String, PrometheusText.Family> families, String family,
            String what) {
        PrometheusText.Family f = families.get(family);
        long count = Math.round(f.samples(family + "_count", Map.of("pool", "default")).get(0).value());
        long sumMicros = Math.round(f.samples(family + "_sum", Map.of("pool", "default")).get(0).value() * 1e6);
        assertEquals(count * 1000, sumMicros, what + ": " + count + " of 1 ms");
    }

    /**
     * The proxy-wide error rate (the line on the page's chart, the {@code "*"} series of {@code /stats/history.json})
     * counts what clients saw fail: the 5xx they were answered and the responses cut midway because the backend
     * failed after the head was sent (a 200 head, then a closed connection: no 5xx is ever counted for them).
     */
    @Test
    @SuppressWarnings("unchecked")
    void aResponseCutMidwayIsAnErrorOfTheProxyWideRate() {
        TableHolder tables = tables(1);
        ProxyStats proxy = new ProxyStats();
        StatsCollector collector = collectorOfWeb1(tables, proxy);
        StatsReport report = new StatsReport(tables, proxy, collector, 100);
        proxy.requests.add(4);
        proxy.responses2xx.add(3); // one of them cut midway
        proxy.abortedResponses.increment();
        proxy.responses5xx.increment();
        collector.tick();
        double[] rates = lastRates(report, StatsCollector.ALL);
        assertEquals(rates[0] / 2, rates[1], 0.01, "of 4 requests, a 503 and a response cut midway failed");
    }

    /** A collector of {@code proxy} over {@code tables}, which are published with one server {@code web-1}; one pass. */
    private static StatsCollector collectorOfWeb1(TableHolder tables, ProxyStats proxy) {
        StatsCollector collector = new StatsCollector(tables, proxy);
        tables.publish(List.of(spec("web-1", 1)), "start");
        collector.tick();
        return collector;
    }

    /** The request rate and the error rate of the last second of {@code series} (a pool, or the proxy's). */
    @SuppressWarnings("unchecked")
    private static double[] lastRates(StatsReport report, String series) {
        Map<String, Object> columns = (Map<String, Object>) ((Map<String, Object>) report.history().get("series"))
                .get(series);
        List<Double> requests = (List<Double>) columns.get("requests_per_s");
        List<Double> errors = (List<Double>) columns.get("errors_per_s");
        double requestRate = requests.get(requests.size() - 1);
        assertTrue(requestRate > 0, columns.toString());
        return new double[] {requestRate, errors.get(errors.size() - 1)};
    }

    /**
     * The requests a pool turns away with a 503 of the proxy's own (its queue full, a queue timeout, no server
     * available) count in the pool's error rate (its series of {@code /stats/history.json}) beside what its servers
     * did: during an overload its clients are refused while its servers fail nothing, and the pool must not look
     * healthy. {@code /stats.json} says how many and why ({@code shed}, {@code no_server}), {@code /metrics} has the
     * one the queue's counters do not, and HAProxy's CSV counts them in the BACKEND's {@code hrsp_5xx}, as HAProxy
     * counts the 503s it answers for a backend. They are requests the pool was asked for, too: in its request rate
     * and the BACKEND's {@code stot} and {@code req_tot}, so that errors never outnumber requests.
     */
    @Test
    void theRequestsAPoolTurnsAwayAreErrorsOfThePool() {
        TableHolder tables = tables(1);
        StatsCollector collector = collectorOfWeb1(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        Server web1 = tables.current().servers().get(0);
        web1.stats().requestStarted(); // one request reached the server, which answered 500
        web1.stats().countResponse(500);
        io.grapevine.proxy.stats.PoolStats pool = web1.poolState().stats();
        pool.queueFull.add(2);
        pool.queueTimeouts.increment();
        pool.noServer.increment();
        collector.tick();

        double[] rates = lastRates(report, "default");
        assertEquals(rates[0], rates[1], rates[0] * 0.05,
                "asked 5 times (one attempt, four 503s of its own), and each failed: the server's 500, the four 503s");
        @SuppressWarnings("unchecked")
        Map<String, Object> row = ((List<Map<String, Object>>) report.stats().get("pools")).get(0);
        assertEquals(4L, row.get("shed"), row.toString());
        assertEquals(1L, row.get("no_server"), row.toString());
        assertEquals(1L, row.get("responses_5xx"), "the server's, as in a server row: " + row);
        assertEquals(1.0, PrometheusText.parse(report.prometheus()).get("grapevine_pool_no_server_total")
                .samples("grapevine_pool_no_server_total", Map.of("pool", "default")).get(0).value());
        Map<String, String> backend = io.grapevine.proxy.testing.HaproxyCsv.parse(StatsFormats.csv(report.stats()))
                .stream().filter(r -> r.get("svname").equals("BACKEND")).findFirst().orElseThrow();
        assertEquals("5", backend.get("hrsp_5xx"), backend.toString());
        assertEquals("5", backend.get("stot"), "the requests it was chosen for, its 503s included: " + backend);
        assertEquals("5", backend.get("req_tot"), backend.toString());
        assertEquals("1", backend.get("lbtot"), "the times a server was chosen: " + backend);
    }

    private static final ServerSpec API_1 = new ServerSpec("api-1", "127.0.0.1", 1, 1, false, "api",
            ServerSpec.Source.GOSSIP, ServerSpec.AdminState.UP);

    /** Publishes {@code web-1} and {@code api-1} (pool {@code api}), which serves one request: a 200. */
    private static Server startWithApi(TableHolder tables) {
        tables.publish(List.of(spec("web-1", 2), API_1), "start");
        Server api = tables.current().pools().get("api").servers().get(0);
        api.stats().requestStarted();
        api.stats().countResponse(200);
        return api;
    }

    /**
     * A pool out of the table for longer than its history, with no other change meanwhile (its only member down for
     * ten minutes), keeps its state (its queue and the 503s it answered), and comes back with the track of its
     * counters too: its rates count what happened since the last second, not everything since the start, and the
     * counts its servers left behind stay in its totals.
     */
    @Test
    void aPoolBackAfterLongKeepsItsCountersAndItsRatesCountOnlyTheLastSecond() throws Exception {
        TableHolder tables = tables(1);
        io.grapevine.proxy.table.TableHolders.keepRetiredPools(tables, TimeUnit.MILLISECONDS.toNanos(1));
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        Server api = startWithApi(tables);
        api.poolState().stats().queueFull.add(3);
        collector.tick();
        collector.tick();
        tables.publish(List.of(spec("web-1", 2)), "gossip: api-1 removed");
        Thread.sleep(5); // no longer shown, its state kept: no swap came since to let it go
        collector.tick();
        collector.pools().get("api").lastSeenNanos -= TimeUnit.SECONDS.toNanos(StatsCollector.HISTORY_SECONDS + 1);
        collector.tick();
        tables.publish(List.of(spec("web-1", 2), API_1), "gossip: api-1 back");
        collector.tick();

        @SuppressWarnings("unchecked")
        Map<String, Object> columns = (Map<String, Object>) ((Map<String, Object>) report.history().get("series"))
                .get("api");
        @SuppressWarnings("unchecked")
        List<Double> errors = (List<Double>) columns.get("errors_per_s");
        assertEquals(0.0, errors.get(errors.size() - 1), "nothing failed in the last second: " + columns);
        @SuppressWarnings("unchecked")
        Map<String, Object> row = ((List<Map<String, Object>>) report.stats().get("pools")).stream()
                .filter(p -> p.get("name").equals("api")).findFirst().orElseThrow();
        assertEquals(1L, row.get("requests"), "its first server's request: " + row);
        assertEquals(3L, row.get("queue_full"), row.toString());
    }

    /**
     * The last server of a pool a route names leaves the table (its member crashed): the pool stays in {@code
     * /stats.json}, {@code /metrics}, HAProxy's CSV and {@code /table}, down and with no server, and the 503s its
     * clients get count in its {@code no_server}, {@code shed} and error rate, as HAProxy shows a backend without
     * servers DOWN and counts its 503s; an alert on the pool's series does not lose it.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aRoutedPoolWhoseServersAreAllGoneShowsDownAndCountsItsRefusals() {
        TableHolder tables = new TableHolder(1, List.of(new io.grapevine.proxy.config.RouteSpec("api.example", null,
                "api")), pool -> io.grapevine.proxy.config.PoolPolicy.of(Balance.ROUNDROBIN));
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        Server api = startWithApi(tables);
        collector.tick();
        tables.publish(List.of(spec("web-1", 2)), "gossip: api-1 removed");
        collector.tick();
        api.poolState().stats().noServer.add(3); // as the exchanges routed to it count their 503s
        collector.tick();

        Map<String, Object> row = ((List<Map<String, Object>>) report.stats().get("pools")).stream()
                .filter(p -> p.get("name").equals("api")).findFirst().orElseThrow(() -> new AssertionError(
                        "no row for pool api: " + report.stats().get("pools")));
        assertEquals("down", row.get("state"), row.toString());
        assertEquals(0, row.get("servers"), row.toString());
        assertEquals(1L, row.get("requests"), "what its server did before it left: " + row);
        assertEquals(3L, row.get("no_server"), row.toString());
        assertEquals(3L, row.get("shed"), row.toString());
        assertEquals(1L, row.get("down_transitions"), row.toString());
        List<Double> errors = (List<Double>) ((Map<String, Map<String, Object>>) report.history().get("series"))
                .get("api").get("errors_per_s");
        assertTrue(errors.get(errors.size() - 1) > 0, "its 503s are its errors: " + errors);
        Map<String, PrometheusText.Family> metrics = PrometheusText.parse(report.prometheus());
        assertEquals(3.0, metrics.get("grapevine_pool_no_server_total")
                .samples("grapevine_pool_no_server_total", Map.of("pool", "api")).get(0).value());
        assertEquals(0.0, metrics.get("grapevine_pool_up").samples("grapevine_pool_up", Map.of("pool", "api")).get(0)
                .value());
        assertEquals(1.0, metrics.get("grapevine_pool_up").samples("grapevine_pool_up", Map.of("pool", "default"))
                .get(0).value());
        assertEquals(1, metrics.get("grapevine_pool_request_duration_seconds")
                .samples("grapevine_pool_request_duration_seconds_count", Map.of("pool", "api")).size(),
                "its histogram as its counters");
        Map<String, String> backend = io.grapevine.proxy.testing.HaproxyCsv.parse(StatsFormats.csv(report.stats()))
                .stream().filter(r -> r.get("pxname").equals("api") && r.get("svname").equals("BACKEND"))
                .findFirst().orElseThrow();
        assertEquals("DOWN", backend.get("status"), backend.toString());
        assertEquals("3", backend.get("hrsp_5xx"), backend.toString());
        Map<String, Object> tablePool = ((List<Map<String, Object>>) report.table().get("pools")).stream()
                .filter(p -> p.get("name").equals("api")).findFirst().orElseThrow();
        assertEquals(0, tablePool.get("servers"), tablePool.toString());
        List<Map<String, Object>> routes = (List<Map<String, Object>>) report.table().get("routes");
        assertEquals(1, routes.size(), routes.toString());
        assertEquals("api.example", routes.get(0).get("host"));
        assertEquals("api", routes.get(0).get("pool"));
        assertTrue(routes.get(0).containsKey("path_prefix") && routes.get(0).get("path_prefix") == null);
        assertTrue(routes.get(0).containsKey("rate_limit") && routes.get(0).get("rate_limit") == null, "no limit");
    }

    /**
     * Within one scrape, the pool's queue wait summary ({@code grapevine_pool_queue_wait_seconds}, and {@code
     * queue_wait_count} / {@code queue_wait_ms_total} of {@code /stats.json}) sums the waits of the very requests it
     * counts, while the requests go on taking the slots the queue hands out: every wait here is 1 ms, so {@code _sum} must be exactly
     * {@code _count} ms.
     */
    @Test
    void theQueueWaitsSumAndCountAreOfTheSameRequestsWhileTheQueueGrants() throws Exception {
        TableHolder tables = tables(1);
        StatsReport report = reportOfWeb1(tables);
        io.grapevine.proxy.stats.PoolStats pool = tables.current().servers().get(0).poolState().stats();
        // as an event loop's requests use the slots the queue granted them: one writer per loop
        scrapeWhile("queue", () -> pool.recordWait(0, 1_000_000), scrape -> assertOneMillisecondEach(
                PrometheusText.parse(report.prometheus()),
                "grapevine_pool_queue_wait_seconds", "scrape " + scrape + ", waits"));
    }

    /**
     * One scrape of {@code /metrics} is one reading of one table: while members come and go, the servers that have
     * counters in it are the very servers that have latency histograms, and the same for pools.
     */
    @Test
    void aScrapeReadsOneTableForItsCountersAndItsHistograms() throws Exception {
        TableHolder tables = tables(1);
        StatsReport report = reportOfWeb1(tables);
        int[] turn = {0};
        scrapeWhile("membership", () -> tables.publish(++turn[0] % 2 == 0 ? List.of(spec("web-1", 1))
                : List.of(spec("web-1", 1), spec("web-2", 2)), "churn"), scrape -> {
            Map<String, PrometheusText.Family> families = PrometheusText.parse(
                    report.prometheus());
            assertEquals(servers(families.get("grapevine_server_requests_total").samples()),
                    servers(families.get("grapevine_server_request_duration_seconds").samples()),
                    "scrape " + scrape);
        });
    }

    /** The values of the {@code server} label of {@code samples}. */
    private static java.util.Set<String> servers(List<PrometheusText.Sample> samples) {
        java.util.Set<String> names = new java.util.TreeSet<>();
        samples.forEach(s -> names.add(s.labels().get("server")));
        return names;
    }

    /**
     * A server taken out of the table with a request in flight (a servers.conf edit, a member gone): the request
     * finishes there after the server left, and its response, bytes and latency still count for the pool, as they do
     * in the proxy's own counters. Passes of the collector while it runs must not close the server's books early.
     */
    @Test
    void whatAServerFinishesAfterItLeftTheTableCountsForItsPool() {
        TableHolder tables = tables(1);
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("web-1", 1), spec("web-2", 2)), "start");
        Server web2 = tables.current().servers().get(1);
        assertTrue(web2.tryAcquireSlot());
        web2.stats().requestStarted();
        collector.tick();
        tables.publish(List.of(spec("web-1", 1)), "web-2 leaves");
        collector.tick();
        collector.tick();

        web2.stats().countResponse(200); // the response it was sending ends now, as a loop records it
        web2.stats().bytesIn.add(1000);
        web2.releaseSlot();
        web2.stats().latency.recordTotal(0, 300_000_000);
        collector.tick();
        collector.tick();

        @SuppressWarnings("unchecked")
        Map<String, Object> pool = ((List<Map<String, Object>>) report.stats().get("pools")).get(0);
        assertEquals(1L, pool.get("requests"), pool.toString());
        assertEquals(1L, pool.get("responses_2xx"), "the response it finished after it left: " + pool);
        assertEquals(1000L, pool.get("bytes_in"), pool.toString());
        @SuppressWarnings("unchecked")
        Map<String, Object> sinceStart = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>)
                pool.get("latency")).get("total")).get("since_start");
        assertEquals(1L, sinceStart.get("count"), "and its latency: " + sinceStart);
        Map<String, PrometheusText.Family> families = PrometheusText.parse(
                report.prometheus());
        Map<String, Double> buckets = buckets(families, "grapevine_pool_request_duration_seconds", null);
        assertEquals(0.0, buckets.get("0.25"), buckets.toString());
        assertEquals(1.0, buckets.get("0.5"), buckets.toString());
        assertEquals(0.3, families.get("grapevine_pool_request_duration_seconds").samples(
                "grapevine_pool_request_duration_seconds_sum", Map.of("pool", "default")).get(0).value(), 0.001);
        assertEquals(1, collector.trackedServers(), "only web-1 is followed afterwards");
        assertEquals(0, collector.leavingServers(), "web-2 is let go once its last request ended");
    }

    /**
     * A table swap that removes a server publishes the new table before it tells the collector who left: a page read
     * in between must not lose the server's counts from its pool's (a pool's counters and histogram buckets never go
     * down, or Prometheus reads a reset and its rates spike).
     */
    @Test
    void aPoolKeepsTheCountsOfAServerWhileItsRemovalIsBeingPublished() {
        TableHolder tables = tables(1);
        List<String> duringTheSwap = new ArrayList<>();
        List<StatsReport> report = new ArrayList<>();
        tables.onServersRemoved(removed -> duringTheSwap.add(poolCounts(report.get(0)))); // called before the collector
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        report.add(new StatsReport(tables, new ProxyStats(), collector, 100));
        tables.publish(List.of(spec("web-1", 1), spec("web-2", 2)), "start");
        for (Server s : tables.current().servers()) {
            s.stats().requestStarted();
            s.stats().latency.recordTotal(0, 2_000_000);
        }
        collector.tick();
        assertEquals("2 requests, 2 latencies", poolCounts(report.get(0)));

        tables.publish(List.of(spec("web-1", 1)), "web-2 leaves");
        assertEquals(List.of("2 requests, 2 latencies"), duringTheSwap);
        collector.tick();
        assertEquals("2 requests, 2 latencies", poolCounts(report.get(0)));
    }

    /** The requests of the pool in /stats.json and the count of its latency histogram in /metrics. */
    private static String poolCounts(StatsReport report) {
        @SuppressWarnings("unchecked")
        Map<String, Object> pool = ((List<Map<String, Object>>) report.stats().get("pools")).get(0);
        Map<String, PrometheusText.Family> families = PrometheusText.parse(
                report.prometheus());
        return pool.get("requests") + " requests, "
                + buckets(families, "grapevine_pool_request_duration_seconds", null).get("+Inf").longValue()
                + " latencies";
    }

    private static Map<String, Double> buckets(Map<String, PrometheusText.Family> families, String family,
                                               String server) {
        Map<String, Double> buckets = new LinkedHashMap<>();
        families.get(family).samples(family + "_bucket", server == null ? Map.of("pool", "default")
                : Map.of("server", server)).forEach(s -> buckets.put(s.labels().get("le"), s.value()));
        return buckets;
    }

    /**
     * A server's source is {@code static} or {@code gossip} in {@code /table}, {@code /stats.json}, the labels of
     * {@code /metrics} and the timeline, whatever the locale the proxy runs in: lower-cased by the rules of Turkish
     * (LANG=tr_TR.UTF-8), {@code GOSSIP} would be {@code gossıp}, with a dotless i, and match no query or dashboard.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aServersSourceIsSpelledAlikeInEveryLocale() {
        Locale before = Locale.getDefault();
        Locale.setDefault(Locale.forLanguageTag("tr-TR"));
        try {
            TableHolder tables = tables(1);
            StatsCollector collector = new StatsCollector(tables, new ProxyStats());
            StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
            tables.publish(List.of(spec("web-1", 1)), "start");
            Map<String, Object> table = ((List<Map<String, Object>>) report.table().get("servers")).get(0);
            assertEquals("gossip", table.get("source"), "/table");
            Map<String, Object> stats = report.stats();
            assertEquals("gossip", ((List<Map<String, Object>>) stats.get("servers")).get(0).get("source"), "/stats.json");
            Map<String, PrometheusText.Family> families = PrometheusText.parse(
                    StatsFormats.prometheus(stats, report.latencyMetrics()));
            for (String family : List.of("grapevine_server_requests_total", "grapevine_server_request_duration_seconds")) {
                families.get(family).samples().forEach(s -> assertEquals("gossip", s.labels().get("source"), family));
            }
            String added = tables.events().all().get(0).detail();
            assertTrue(added.contains("(gossip, "), added);
        } finally {
            Locale.setDefault(before);
        }
    }

    /**
     * The wall clock may step (NTP at boot, a VM resumed, an operator's date): what the page shows for the last minute
     * and how long a server has been down are measured on the monotonic clock. A pass made while the wall clock read an
     * hour behind, just before it was set right, must neither drop the latencies it took from the window nor count an
     * hour of downtime; one made an hour ahead must not make the downtime counter negative.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aStepOfTheWallClockEmptiesNoWindowAndMakesNoDowntime() {
        for (long step : new long[] {-3_600_000, 3_600_000}) {
            TableHolder tables = tables(1);
            StatsCollector collector = new StatsCollector(tables, new ProxyStats());
            StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
            tables.publish(List.of(spec("web-1", 1)), "start");
            Server web1 = tables.current().servers().get(0);
            for (int i = 0; i < 10; i++) {
                web1.stats().latency.recordTotal(0, 100_000_000);
            }
            // one failed request ejects it, alone in its pool as it is (max_ejected_percent 100)
            web1.recordFailure(System.nanoTime(), new io.grapevine.proxy.config.HealthCheckConfig(false, null, null,
                    2000, 1000, 2, 3, 1, 60_000, 100, 300_000), "connect refused");
            collector.refresh(System.nanoTime(), System.currentTimeMillis() + step);

            Map<String, Object> stats = report.stats();
            Map<String, Object> server = ((List<Map<String, Object>>) stats.get("servers")).get(0);
            Map<String, Object> pool = ((List<Map<String, Object>>) stats.get("pools")).get(0);
            for (Map<String, Object> row : List.of(server, pool)) {
                assertEquals("down", row.get("state"), row.toString());
                assertEquals(0L, row.get("downtime_s"), "down for a moment, clock stepped by " + step + " ms: " + row);
                Map<String, Object> window = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>)
                        row.get("latency")).get("total")).get("window");
                assertEquals(10L, window.get("count"), "clock stepped by " + step + " ms: " + window);
            }
            PrometheusText.parse(StatsFormats.prometheus(stats, report.latencyMetrics())); // no counter below zero
        }
    }

    /**
     * A scheduled task that throws is never run again (ScheduledExecutorService, and Netty's loops alike): a pass of the
     * collector that fails once, whatever the cause, must be logged and must not stop the passes after it, or rates,
     * the charts' history and the timeline's state changes stop for the life of the process, without a word.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aPassThatFailsIsLoggedAndThePassesAfterItRunAllTheSame() throws Exception {
        TableHolder tables = tables(1);
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("web-1", 1)), "start");
        ServerStats stats = tables.current().servers().get(0).stats();
        Field latency = ServerStats.class.getField("latency");
        latency.setAccessible(true);
        LatencyRecorder recorder = stats.latency;
        ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor();
        try {
            latency.set(stats, null); // stands for any fault: the passes throw a NullPointerException
            collector.start(thread);
            Await.until(Duration.ofSeconds(5), "the failed pass logged", () -> !logs.messages(Level.ERROR).isEmpty(),
                    logs::toString);
            latency.set(stats, recorder);
            stats.requestStarted();
            Await.until(Duration.ofSeconds(5), "a request rate from a later pass", () -> {
                try {
                    Map<String, Object> row = ((List<Map<String, Object>>) thread.submit(report::stats).get()
                            .get("servers")).get(0);
                    return ((Number) row.get("request_rate")).doubleValue() > 0;
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
            });
            assertEquals(1, logs.messages(Level.ERROR).size(), "one line for passes that fail in a row: " + logs);
        } finally {
            collector.stop();
            thread.shutdownNow();
        }
    }

    @Test
    void aStateChangeIsTimedAndGoesToTheTimelineWithItsCause() {
        TableHolder tables = tables(1);
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

    /**
     * HAProxy counts each change of a server's state where it is made: a server down for less than the collector's
     * second, between two of its passes, must be counted in {@code down_transitions} ({@code chkdown}), its time in
     * {@code downtime}, and date {@code lastchg}, as a longer one is. Here a check flap, then two ejections of 100 ms
     * that run out (the second starting 200 ms after the first; times given to the server, not waited for).
     */
    @Test
    void aDownShorterThanTheCollectorsSecondIsCountedTimedAndDated() throws Exception {
        TableHolder tables = tables(1);
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        tables.publish(List.of(spec("web-1", 1), spec("web-2", 2)), "start");
        collector.tick();
        Server web1 = tables.current().servers().get(0);
        Thread.sleep(5);
        long beforeFlap = System.currentTimeMillis();
        long flapStart = System.nanoTime();
        web1.setActiveUp(false, "L4CON, refused");
        web1.setActiveUp(true, "L7OK, 200");
        long flapMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - flapStart + 999_999);
        collector.tick();
        assertEquals(1, web1.stats().state.downTransitions(), "the flap between two passes");
        assertTrue(web1.stats().state.sinceMillis() >= beforeFlap, "lastchg dates the flap's end");

        io.grapevine.proxy.config.HealthCheckConfig passive = new io.grapevine.proxy.config.HealthCheckConfig(false,
                null, null, 2000, 1000, 2, 3, 1, 100, 100, 300_000);
        long t = System.nanoTime();
        assertTrue(web1.recordFailure(t, passive, "connect refused") != null, "ejected for 100 ms");
        assertTrue(web1.recordFailure(t + 200_000_000L, passive, "connect refused") != null, "again, 100 ms");
        collector.tick();
        assertEquals(3, web1.stats().state.downTransitions(), "the flap and both ejections");
        long downtime = web1.stats().state.downtimeMillis(t + 10_000_000_000L);
        assertTrue(downtime >= 200 && downtime <= 200 + flapMillis,
                "both ejections, and the flap's time (" + flapMillis + " ms at most): " + downtime);
        var down = tables.events().all().stream().filter(e -> e.kind().equals("down")).toList();
        assertEquals(3, down.size(), tables.events().all().toString());
        assertTrue(down.get(0).detail().contains("up \u2192 down: health check"), down.get(0).detail());
        assertTrue(down.get(2).detail().contains("up \u2192 down: failed request: connect refused"),
                down.get(2).detail());
    }

    /**
     * A pool's {@code down_transitions} ({@code chkdown} of its BACKEND row) counts its changes to down, all its
     * servers unavailable, as HAProxy counts them, however short: here its one server's check flap, then two ejections
     * of 100 ms, 200 ms apart, all between two passes of the collector.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aPoolDownForLessThanTheCollectorsSecondIsCounted() {
        TableHolder tables = tables(1);
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("web-1", 1)), "start");
        collector.tick();
        Server web1 = tables.current().servers().get(0);
        web1.setActiveUp(false, "L4CON, refused");
        web1.setActiveUp(true, "L7OK, 200");
        io.grapevine.proxy.config.HealthCheckConfig passive = new io.grapevine.proxy.config.HealthCheckConfig(false,
                null, null, 2000, 1000, 2, 3, 1, 100, 100, 300_000);
        long t = System.nanoTime();
        assertTrue(web1.recordFailure(t, passive, "connect refused") != null, "ejected for 100 ms");
        assertTrue(web1.recordFailure(t + 200_000_000L, passive, "connect refused") != null, "again, 100 ms");
        Map<String, Object> pool = ((List<Map<String, Object>>) report.stats().get("pools")).get(0);
        assertEquals(3L, pool.get("down_transitions"), pool.toString());
        var down = tables.events().all().stream().filter(e -> e.kind().equals("down")
                && e.subject().equals("pool default")).toList();
        assertEquals(3, down.size(), tables.events().all().toString());
    }

    /**
     * A pool whose servers all leave the table and one comes back between two passes of the collector (a crashed
     * member's server removed, a new member's added) was down meanwhile: its requests got 503s, and its
     * {@code down_transitions} counts it.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aPoolLeftByItsServersForLessThanTheCollectorsSecondIsCountedDown() {
        TableHolder tables = tables(1);
        StatsCollector collector = new StatsCollector(tables, new ProxyStats());
        StatsReport report = new StatsReport(tables, new ProxyStats(), collector, 100);
        tables.publish(List.of(spec("web-1", 1)), "start");
        collector.tick();
        tables.publish(List.of(), "web-1 crashed");
        tables.publish(List.of(spec("web-2", 2)), "web-2 joined");
        Map<String, Object> pool = ((List<Map<String, Object>>) report.stats().get("pools")).get(0);
        assertEquals("up", pool.get("state"), pool.toString());
        assertEquals(1L, pool.get("down_transitions"), pool.toString());
    }
}
