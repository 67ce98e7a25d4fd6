package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.client.ForwardingHarness.Backend;
import io.grapevine.proxy.client.ForwardingHarness.Dial;
import io.grapevine.proxy.admin.ExchangeMetrics;
import io.grapevine.proxy.admin.StatsCollector;
import io.grapevine.proxy.admin.StatsReport;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.stats.LatencyRecorder;
import io.grapevine.proxy.stats.PoolStats;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.ServerPool;
import io.grapevine.proxy.testing.H2Frames;
import io.netty.buffer.Unpooled;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * max_conn, the pool queue and the retry budget in the forwarding core, on embedded channels: pipelined requests of
 * one connection stand for concurrent ones (each is an exchange of its own).
 */
class ConnectionLimitForwardingTest {

    private static String get(String path) {
        return "GET /" + path + " HTTP/1.1\r\nHost: example\r\n\r\n";
    }

    private static String ok(String body) {
        return "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
    }

    /** One server {@code s0} with {@code max_conn}, and {@code extra} top-level keys. */
    private static String limited(int maxConn, String extra) {
        return "{" + (extra.isEmpty() ? "" : extra + ", ") + "\"backend_servers\": [{\"name\": \"s0\", \"ip\": "
                + "\"127.0.0.1\", \"port\": 8001, \"max_conn\": " + maxConn + "}]}";
    }

    private static Server server(ForwardingHarness h) {
        return h.tables.current().servers().get(0);
    }

    private static PoolStats poolStats(ForwardingHarness h) {
        return server(h).poolState().stats();
    }

    @Test
    void requestsOverTheLimitWaitAndGoOutOneByOneAsTheServerFreesItsSlot() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""))) {
            h.send(get("a") + get("b") + get("c"));
            assertEquals(1, h.backends.size(), "one request in flight; two wait");
            Backend b = h.backend(0);
            assertTrue(b.received().startsWith("GET /a "));
            assertEquals(2, server(h).poolState().queue().size());
            assertEquals(1, server(h).inFlight());

            b.send(ok("A"));
            h.runPending(); // the freed slot is handed over on the waiting exchange's loop
            assertTrue(b.received().startsWith("GET /b "), "the oldest waiter went out, on the connection just freed");
            assertEquals(1, server(h).inFlight(), "the slot passed from a to b without going back");
            b.send(ok("B"));
            h.runPending();
            assertTrue(b.received().startsWith("GET /c "));
            b.send(ok("C"));
            h.runPending();
            String answers = h.received();
            assertTrue(answers.indexOf("\r\n\r\nA") < answers.indexOf("\r\n\r\nB")
                    && answers.indexOf("\r\n\r\nB") < answers.indexOf("\r\n\r\nC"), answers);
            assertEquals(3, answers.split("HTTP/1.1 200 OK", -1).length - 1, answers);
            assertEquals(0, server(h).inFlight());
            assertEquals(2, poolStats(h).queued.sum());
            assertEquals(2, poolStats(h).waits().count());
            assertEquals(2, poolStats(h).queueMax.get());
            assertEquals(0, poolStats(h).queueCurrent.get());
        }
    }

    @Test
    void aFullQueueAnswers503WithRetryAfter() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, "\"queue\": {\"max\": 1, \"timeout_ms\": 2500}"))) {
            h.send(get("a") + get("b") + get("c"));
            assertEquals(1, server(h).poolState().queue().size());
            assertEquals(1, poolStats(h).queueFull.sum(), "c found the queue full");
            h.backend(0).send(ok("A"));
            h.runPending();
            h.backend(0).send(ok("B"));
            h.runPending();
            String answers = h.received();
            int busy = answers.indexOf("HTTP/1.1 503 ");
            assertTrue(busy > answers.indexOf("\r\n\r\nB"), "answered in request order: " + answers);
            assertTrue(answers.substring(busy).contains("\r\nRetry-After: 3\r\n"),
                    "the queue timeout in seconds, rounded up: " + answers);
            assertEquals(1, h.stats.status503.sum());
        }
    }

    @Test
    void aRequestThatWaitsLongerThanTheQueueTimeoutIs503() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, "\"queue\": {\"timeout_ms\": 1000}"))) {
            // The loop's clock runs only as advanced: unfrozen, it is real time plus the advances, and a
            // millisecond the test thread is held up by the machine would end the wait before the 1000th.
            h.client.freezeTime();
            h.send(get("a") + get("b"));
            Thread.sleep(5); // a test thread held up: changes nothing on a frozen clock
            h.client.advanceTimeBy(999, TimeUnit.MILLISECONDS);
            h.client.runScheduledPendingTasks();
            assertEquals(1, server(h).poolState().queue().size(), "still waiting");
            h.client.advanceTimeBy(1, TimeUnit.MILLISECONDS);
            h.client.runScheduledPendingTasks();
            assertEquals(0, server(h).poolState().queue().size());
            assertEquals(1, poolStats(h).queueTimeouts.sum());
            h.backend(0).send(ok("A"));
            h.runPending();
            String answers = h.received();
            assertTrue(answers.contains("HTTP/1.1 503 Service Unavailable\r\n"), answers);
            assertTrue(answers.contains("Retry-After: 1\r\n"), answers);
            assertEquals(1, h.backends.size());
            assertFalse(h.backend(0).received().contains("GET /b "), "b never reached the server");
            assertEquals(0, server(h).inFlight());
        }
    }

    /**
     * A request that waits under queue.timeout_ms 1000 and times out after a reload raised it to 9000 waited 1 s, so
     * its 503 says Retry-After: 1, not the 9 s of a wait it never had.
     */
    @Test
    void aQueueTimeoutAfterAReloadSaysRetryAfterOfTheWaitItHad() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, "\"queue\": {\"timeout_ms\": 1000}"))) {
            h.send(get("a") + get("b"));
            assertEquals(1, server(h).poolState().queue().size());
            ProxyConfig reloaded = ConfigLoader.parse(limited(1, "\"queue\": {\"timeout_ms\": 9000}"), "(test)");
            h.tables.publish(reloaded.servers(), reloaded.routes(), reloaded::policyOf, "test");
            assertEquals(9000, server(h).poolState().queuePolicy().timeoutMillis());
            h.client.advanceTimeBy(1000, TimeUnit.MILLISECONDS);
            h.client.runScheduledPendingTasks();
            assertEquals(1, poolStats(h).queueTimeouts.sum(), "timed out on the timeout it waited under");
            h.backend(0).send(ok("A"));
            h.runPending();
            String answers = h.received();
            int busy = answers.indexOf("HTTP/1.1 503 ");
            assertTrue(busy > 0 && answers.substring(busy).contains("\r\nRetry-After: 1\r\n"), answers);
        }
    }

    @Test
    void aClientThatLeavesTakesItsRequestsOutOfTheQueue() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""))) {
            h.send(get("a") + get("b") + get("c"));
            assertEquals(2, server(h).poolState().queue().size());
            h.client.close();
            h.runPending();
            assertEquals(0, server(h).poolState().queue().size());
            assertEquals(2, poolStats(h).queueAbandoned.sum());
            assertEquals(0, server(h).inFlight(), "the request in flight gave its slot back too");
        }
    }

    @Test
    void aStaleKeepAliveRetryKeepsItsSlotSoAWaiterCannotOvertakeIt() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""))) {
            h.send(get("one"));
            Backend first = h.backend(0);
            first.received();
            first.send(ok("1"));
            h.received();
            h.send(get("two") + get("three"));
            assertEquals(1, h.backends.size(), "two reused the idle connection; three waits");
            first.close(); // the keep-alive timeout struck as two went out
            h.runPending();
            assertEquals(2, h.backends.size());
            Backend fresh = h.backend(1);
            assertTrue(fresh.received().startsWith("GET /two "), "two went again, before three");
            assertEquals(1, server(h).poolState().queue().size(), "three still waits");
            fresh.send(ok("2"));
            h.runPending();
            assertTrue(fresh.received().startsWith("GET /three "));
            fresh.send(ok("3"));
            h.runPending();
            assertEquals(0, server(h).inFlight());
        }
    }

    @Test
    void aRetryTheBudgetDoesNotAllowIsAnsweredAsIfRetriesWereExhausted() throws Exception {
        String noBudget = "\"limits\": {\"retry_budget_percent\": 0, \"retry_budget_min_per_s\": 0}";
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(2, noBudget)).dials(Dial.REFUSE)) {
            h.send(get("x"));
            assertTrue(h.received().startsWith("HTTP/1.1 503 "), "the refused connect was not retried");
            assertEquals(0, h.backends.size());
            assertEquals(0, h.stats.retries.sum());
            assertEquals(1, h.stats.retriesDenied.sum());
            assertEquals(1, h.tables.current().pools().get("default").state().stats().retriesDenied.sum());
        }
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(2, "")).dials(Dial.REFUSE)) {
            h.send(get("x"));
            assertEquals(1, h.backends.size(), "the default budget's reserve allows the retry");
            h.backend(0).send(ok("retried"));
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
            assertEquals(0, h.stats.retriesDenied.sum());
        }
    }

    /**
     * A spent budget denies only a retry that would have been made: a failure with no other server to go to (the only
     * server of its pool, or the others out of rotation) is answered as before, but counts in no retries_denied, so
     * that an outage of a one-server pool does not read as a retry storm held back.
     */
    @Test
    void aSpentBudgetDeniesNoRetryWhenNoOtherServerIsLeft() throws Exception {
        String noBudget = "\"limits\": {\"retry_budget_percent\": 0, \"retry_budget_min_per_s\": 0}, "
                + "\"passive_health\": {\"max_fails\": 0}";
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(1, noBudget))) {
            for (int i = 0; i < 3; i++) {
                h.dials(Dial.REFUSE);
                h.send(get("x"));
                assertTrue(h.received().startsWith("HTTP/1.1 503 "));
            }
            assertEquals(0, h.stats.retriesDenied.sum(), "one server: no retry to deny");
            assertEquals(0, h.tables.current().pools().get("default").state().stats().retriesDenied.sum());
        }
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(2, noBudget))) {
            h.tables.setRuntimeWeight("s1", 0, "test");
            h.dials(Dial.REFUSE);
            h.send(get("x"));
            assertTrue(h.received().startsWith("HTTP/1.1 503 "));
            assertEquals(0, h.stats.retriesDenied.sum(), "s1 takes no requests: no retry to deny");
            h.tables.setRuntimeWeight("s1", 1, "test");
            h.dials(Dial.REFUSE);
            h.send(get("y"));
            assertTrue(h.received().startsWith("HTTP/1.1 503 "));
            assertEquals(1, h.stats.retriesDenied.sum(), "s1 could have taken the retry");
        }
    }

    /**
     * ... and a server that joined the pool while the request was on its first server is another server: a retry goes
     * over the pool of the table in force, so the spent budget denied one that would have gone there, and counts it.
     */
    @Test
    void aSpentBudgetDeniesTheRetryAServerThatJoinedMeanwhileWouldHaveTaken() throws Exception {
        String noBudget = "\"limits\": {\"retry_budget_percent\": 0, \"retry_budget_min_per_s\": 0}, "
                + "\"passive_health\": {\"max_fails\": 0}";
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(1, noBudget))) {
            h.send(get("x"));
            Backend first = h.backend(0);
            assertTrue(first.received().startsWith("GET /x "));
            h.tables.publish(ConfigLoader.parse(ForwardingHarness.config(2, noBudget), "(test)").servers(),
                    "test"); // s1 joins while x is on s0
            first.close(); // s0 closes without answering: x would go to s1, but the budget is spent
            h.runPending();
            assertTrue(h.received().startsWith("HTTP/1.1 502 "));
            assertEquals(1, h.backends.size());
            assertEquals(1, h.stats.retriesDenied.sum(), "s1 could have taken the retry");
            assertEquals(1, first.server().poolState().stats().retriesDenied.sum());
        }
    }

    /**
     * A failed request whose retry finds every other server at its max_conn and no room in the queue is answered 503
     * at once, as any request would be: no retry was made, so none is counted (proxy, server, access log) and the
     * retry budget gets back the retry it lent. Here the budget holds what a and b deposited, one retry: a's retry
     * finds s1 busy and the queue off, and c, whose connect is refused, may still be retried.
     */
    @Test
    void aRetryThatFindsEveryServerFullAndNoRoomToWaitIsNoRetry() throws Exception {
        String config = stickyPairOfOne("").replace("\"sticky\": {}, ", "\"queue\": {\"max\": 0}, "
                + "\"passive_health\": {\"max_fails\": 0}, "
                + "\"limits\": {\"retry_budget_percent\": 50, \"retry_budget_min_per_s\": 0}, ");
        try (ForwardingHarness h = new ForwardingHarness(config)) {
            h.send(get("a") + get("b"));
            assertEquals(2, h.backends.size());
            Backend first = h.backend(0);
            Backend other = h.backend(1);
            first.close(); // a's server closed without answering: a may go elsewhere, but s1 is full
            h.runPending();
            assertEquals(2, h.backends.size());
            String busy = h.received();
            assertTrue(busy.startsWith("HTTP/1.1 503 ") && busy.contains("\r\nRetry-After: 5\r\n"), busy);
            assertEquals(1, first.server().poolState().stats().queueFull.sum());
            assertEquals(0, h.stats.retries.sum(), "no retry was made");
            assertEquals(0, first.server().stats().retried.sum());
            assertEquals(0, first.server().stats().redispatched.sum());
            assertTrue(other.received().startsWith("GET /b "));
            other.send(ok("B"));
            h.runPending();
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
            other.close(); // no idle connection left: c is dialled
            h.runPending();

            h.dials(Dial.REFUSE, Dial.CONNECT);
            h.send(get("c"));
            assertEquals(0, h.stats.retriesDenied.sum(), "the budget kept the retry a did not make");
            assertEquals(3, h.backends.size(), "c was retried");
            assertTrue(h.backend(2).received().startsWith("GET /c "));
            h.backend(2).send(ok("C"));
            h.runPending();
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
            assertEquals(1, h.stats.retries.sum());
            assertEquals(0, first.server().inFlight());
            assertEquals(0, other.server().inFlight());
        }
    }

    @Test
    void anHttp2StreamQueuesLikeAnyRequestAndItsBusyAnswerCarriesRetryAfter() throws Exception {
        H2Frames wire = new H2Frames();
        String config = limited(1, "\"queue\": {\"max\": 1}");
        try (ForwardingHarness h = new ForwardingHarness(config, Http2Connection::install)) {
            h.client.writeInbound(Unpooled.wrappedBuffer(H2Frames.concat(wire.preface(), H2Frames.settingsAck(),
                    wire.headers(1, H2Frames.request("GET", "/a"), true),
                    wire.headers(3, H2Frames.request("GET", "/b"), true),
                    wire.headers(5, H2Frames.request("GET", "/c"), true))));
            h.runPending();
            assertEquals(1, h.backends.size());
            assertEquals(1, server(h).poolState().queue().size(), "b waits, c found the queue full");
            List<H2Frames.Frame> frames = h.receivedFrames(wire);
            H2Frames.Frame busy = frames.stream().filter(f -> f.streamId() == 5 && f.type() == H2Frames.HEADERS)
                    .findFirst().orElseThrow(() -> new AssertionError("no answer on stream 5: " + frames));
            assertEquals("503", busy.headers().status().toString());
            assertEquals("5", busy.headers().get("retry-after").toString());
            h.backend(0).send(ok("A"));
            h.runPending();
            assertTrue(h.backend(0).received().contains("GET /b "), "b got the slot a freed");
            h.backend(0).send(ok("B"));
            h.runPending();
            List<H2Frames.Frame> rest = h.receivedFrames(wire);
            assertTrue(rest.stream().anyMatch(f -> f.streamId() == 3 && f.type() == H2Frames.HEADERS
                    && f.headers().status().toString().equals("200")), rest.toString());
            assertEquals(0, server(h).inFlight());
        }
    }

    @Test
    void anHttp2StreamResetWhileQueuedLeavesTheQueue() throws Exception {
        H2Frames wire = new H2Frames();
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""), Http2Connection::install)) {
            h.client.writeInbound(Unpooled.wrappedBuffer(H2Frames.concat(wire.preface(), H2Frames.settingsAck(),
                    wire.headers(1, H2Frames.request("GET", "/a"), true),
                    wire.headers(3, H2Frames.request("GET", "/b"), true))));
            h.runPending();
            assertEquals(1, server(h).poolState().queue().size());
            h.client.writeInbound(Unpooled.wrappedBuffer(H2Frames.rst(3, H2Frames.CANCEL)));
            h.runPending();
            assertEquals(0, server(h).poolState().queue().size());
            assertEquals(1, poolStats(h).queueAbandoned.sum());
            h.backend(0).send(ok("A"));
            h.runPending();
            assertEquals(0, server(h).inFlight());
            h.receivedFrames(wire);
        }
    }

    /**
     * A client that leaves (here a half-close, as most do) at the instant the queue grants its request a slot: the
     * grant is on its way to the request's loop, which reads the FIN first. The request gives the slot back unused: it
     * counts as abandoned, and not also in the waits (of requests that got a server); every queued request is in
     * exactly one of waited, timed out and abandoned.
     */
    @Test
    void aClientThatLeavesWhileItsSlotIsOnItsWayIsCountedOnce() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""))) {
            h.send(get("a") + get("b"));
            assertEquals(1, server(h).poolState().queue().size());
            // a's answer frees its slot for b within the backend's turn; b learns it on its loop, which has not run
            h.backend(0).sendWithinTheTurn(ok("A"));
            assertEquals(0, server(h).poolState().queue().size(), "b was granted the slot");
            h.client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE); // before the grant
            h.runPending();
            PoolStats st = poolStats(h);
            assertEquals(1, st.queued.sum());
            assertEquals(1, st.waits().count() + st.queueTimeouts.sum() + st.queueAbandoned.sum(),
                    "waited " + st.waits().count() + ", abandoned " + st.queueAbandoned.sum());
            assertEquals(1, st.queueAbandoned.sum(), "it never used its slot");
            assertEquals(0, st.waits().nanos());
            assertEquals(0, server(h).inFlight(), "the slot was given back");
            assertFalse(h.backend(0).received().contains("GET /b "), "b never reached the server");
        }
    }

    /**
     * A reading of the stats (a scrape) as the queue's grant travels to the request's loop, then its client leaving
     * before it arrives: each reading, as the pages read them, counts at most one outcome per queued request (at
     * most {@code queued} in all), and the request ends in one of them, abandoned.
     */
    @Test
    void aReadingAsAGrantTravelsCountsNoRequestInTwoOutcomes() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""))) {
            StatsReport report = new StatsReport(h.tables, h.stats, new StatsCollector(h.tables, h.stats), 100);
            h.send(get("a") + get("b"));
            h.backend(0).sendWithinTheTurn(ok("A")); // b is granted a's slot; its loop has not run
            assertEquals(0, server(h).poolState().queue().size(), "b was granted the slot");
            List<Long> travelling = queuedAndOutcomes(report);
            assertTrue(travelling.get(1) <= travelling.get(0), "as the grant travels: " + travelling);
            h.client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE); // before the grant
            h.runPending();
            assertEquals(List.of(1L, 1L), queuedAndOutcomes(report), "abandoned, and in no other outcome");
            assertEquals(0, server(h).inFlight(), "the slot was given back");
        }
    }

    /** The pool's {@code queued}, and its {@code queue_wait_count + queue_timeouts + queue_abandoned}, as one reading. */
    private static List<Long> queuedAndOutcomes(StatsReport report) {
        @SuppressWarnings("unchecked")
        Map<String, Object> pool = ((List<Map<String, Object>>) report.stats().get("pools")).get(0);
        long outcomes = (long) pool.get("queue_wait_count") + (long) pool.get("queue_timeouts")
                + (long) pool.get("queue_abandoned");
        return List.of((long) pool.get("queued"), outcomes);
    }

    /**
     * A request waiting when its pool leaves the table is answered 503 at once: no server will come, as after a
     * queue timeout (what HAProxy's queue ends in when its backend has no server left), and it is counted as one, so
     * that every queued request is in exactly one of waited, timed out and abandoned.
     */
    @Test
    void aRequestWaitingWhenItsPoolLeavesTheTableCountsAsAQueueTimeout() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(limited(1, ""))) {
            h.send(get("a") + get("b"));
            PoolStats st = poolStats(h);
            assertEquals(1, server(h).poolState().queue().size(), "b waits");
            h.tables.publish(List.of(), "test"); // the pool leaves the table
            h.runPending();
            h.backend(0).send(ok("A"));
            h.runPending();
            assertTrue(h.received().contains("HTTP/1.1 503 "), h.received());
            assertEquals(1, st.queued.sum());
            assertEquals(1, st.waits().count() + st.queueTimeouts.sum() + st.queueAbandoned.sum(),
                    "waited " + st.waits().count() + ", timed out " + st.queueTimeouts.sum() + ", abandoned "
                            + st.queueAbandoned.sum());
            assertEquals(1, st.queueTimeouts.sum());
        }
    }

    /**
     * A request whose server failed and that then waits in the queue for another (every other one full) is the
     * pool's from then on: a queue timeout's 503 (or the 503 of its pool leaving the table) is no latency of the
     * server that failed, and a client that leaves while it waits is no client abort of that server, as for a request
     * that queued from the start (HAProxy charges queue timeouts to the backend).
     */
    @ParameterizedTest
    @ValueSource(strings = {"times out", "pool leaves", "client leaves"})
    void aRequestRetriedIntoTheQueueChargesNothingMoreToTheServerThatFailedIt(String end) throws Exception {
        String config = stickyPairOfOne("").replace("\"sticky\": {}, ", "\"queue\": {\"timeout_ms\": 1000}, "
                + "\"passive_health\": {\"max_fails\": 0}, ");
        try (ForwardingHarness h = new ForwardingHarness(config)) {
            h.loop.addObserver(new ExchangeMetrics(h.stats));
            h.send(get("a") + get("b"));
            Backend failing = h.backend(1);
            assertTrue(failing.received().startsWith("GET /b "));
            failing.close(); // b may go to the other server, which is full: it waits for its slot
            h.runPending();
            assertEquals(1, failing.server().poolState().queue().size());
            if (!end.equals("client leaves")) {
                if (end.equals("times out")) {
                    h.client.advanceTimeBy(1000, TimeUnit.MILLISECONDS);
                    h.client.runScheduledPendingTasks();
                } else {
                    h.tables.publish(List.of(), "test");
                    h.runPending();
                }
                assertEquals(1, failing.server().poolState().stats().queueTimeouts.sum());
                h.backend(0).send(ok("A")); // b's 503 follows a's answer
                h.runPending();
                assertTrue(h.received().contains("HTTP/1.1 503 "));
            } else {
                h.client.close();
                h.runPending();
                assertEquals(1, failing.server().poolState().stats().queueAbandoned.sum());
            }
            long[] total = new long[LatencyRecorder.SERIES];
            failing.server().stats().latency.addBucketCounts(total, new long[LatencyRecorder.SERIES]);
            assertEquals(0, Arrays.stream(total, 0, LatencyRecorder.BUCKETS).sum(), "latencies of the failed server");
            assertEquals(0, failing.server().stats().clientAborts.sum(), "client aborts of the failed server");
        }
    }

    /**
     * A request granted a slot whose connect is then refused, and whose retry waits again (the other server is full),
     * queued twice and got a server twice: each of its waits is counted, so the pool's queued requests still add up to
     * their outcomes.
     */
    @Test
    void aRequestGrantedThenRetriedIntoTheQueueCountsEachWaitOnce() throws Exception {
        String config = stickyPairOfOne("").replace("\"sticky\": {}, ", "\"passive_health\": {\"max_fails\": 0}, ");
        try (ForwardingHarness h = new ForwardingHarness(config).dials(Dial.CONNECT, Dial.CONNECT, Dial.REFUSE)) {
            h.send(get("a") + get("b") + get("c"));
            assertEquals(2, h.backends.size(), "c waits");
            h.backend(0).send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nA");
            h.runPending(); // c is granted a's slot, its connect is refused, and s1 is full: it waits again
            PoolStats st = poolStats(h);
            assertEquals(2, st.queued.sum());
            assertEquals(1, server(h).poolState().queue().size(), "c waits for s1");
            h.backend(1).send(ok("B"));
            h.runPending();
            assertTrue(h.backend(1).received().contains("GET /c "), "c got s1's slot");
            h.backend(1).send(ok("C"));
            h.runPending();
            String answers = h.received();
            assertEquals(3, answers.split("HTTP/1.1 200 OK", -1).length - 1, answers);
            assertEquals(2, st.waits().count() + st.queueTimeouts.sum() + st.queueAbandoned.sum());
            assertEquals(2, st.waits().count());
            assertEquals(1, h.stats.retries.sum());
        }
    }

    /** A sticky pool of two servers {@code s0} and {@code s1} with {@code max_conn} 1, and {@code extra} top-level keys. */
    private static String stickyPairOfOne(String extra) {
        return "{\"sticky\": {}, " + extra + "\"backend_servers\": ["
                + "{\"name\": \"s0\", \"ip\": \"127.0.0.1\", \"port\": 8001, \"max_conn\": 1}, "
                + "{\"name\": \"s1\", \"ip\": \"127.0.0.1\", \"port\": 8002, \"max_conn\": 1}]}";
    }

    /** A GET of {@code /path} that brings the sticky cookie naming {@code server}. */
    private static String getStickingTo(String path, ServerPool pool, Server server) {
        return "GET /" + path + " HTTP/1.1\r\nHost: example\r\nCookie: " + cookie(pool, server) + "\r\n\r\n";
    }

    @Test
    void aStickyRequestWaitingForItsServerIsBalancedWhenThatServerGoesAway() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(stickyPairOfOne(""))) {
            ServerPool pool = h.tables.current().defaultPool();
            Server s0 = pool.servers().get(0);
            Server s1 = pool.servers().get(1);
            h.send(getStickingTo("b", pool, s0) + getStickingTo("c", pool, s0));
            assertEquals(1, h.backends.size());
            assertSame(s0, h.backend(0).server());
            assertEquals(1, pool.state().queue().size(), "c waits for its server, s0, though s1 is free");

            s0.setActiveUp(false, "test"); // its health checks take s0 down
            h.runPending();
            assertEquals(0, pool.state().queue().size(), "c no longer waits for a server that will not take it");
            assertEquals(2, h.backends.size());
            assertSame(s1, h.backend(1).server());
            assertTrue(h.backend(1).received().startsWith("GET /c "));
            h.backend(0).send(ok("B"));
            h.backend(1).send(ok("C"));
            h.runPending();
            String answers = h.received();
            assertTrue(answers.indexOf("\r\n\r\nB") < answers.indexOf("\r\n\r\nC"), answers);
            assertTrue(answers.substring(answers.indexOf("\r\n\r\nB")).contains(
                    "Set-Cookie: " + cookie(pool, s1) + ";"), "c's client now sticks to s1: " + answers);
            assertEquals(0, s0.inFlight());
            assertEquals(0, s1.inFlight());
        }
    }

    @Test
    void withoutRoomToWaitAStickyRequestWhoseServerIsFullGoesToAnotherServer() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(stickyPairOfOne("\"queue\": {\"max\": 0}, "))) {
            ServerPool pool = h.tables.current().defaultPool();
            Server s0 = pool.servers().get(0);
            Server s1 = pool.servers().get(1);
            h.send(getStickingTo("b", pool, s0) + getStickingTo("c", pool, s0));
            assertEquals(2, h.backends.size(), "c cannot wait for s0, and s1 has room");
            assertSame(s0, h.backend(0).server());
            assertSame(s1, h.backend(1).server());
            assertEquals(0, pool.state().stats().queueFull.sum());
            h.backend(0).send(ok("B"));
            h.backend(1).send(ok("C"));
            h.runPending();
            String answers = h.received();
            assertEquals(2, answers.split("HTTP/1.1 200 OK", -1).length - 1, answers);
            assertTrue(answers.substring(answers.indexOf("\r\n\r\nB")).contains(
                    "Set-Cookie: " + cookie(pool, s1) + ";"), "c's client now sticks to s1: " + answers);

            h.send(getStickingTo("d", pool, s0) + getStickingTo("e", pool, s0) + getStickingTo("f", pool, s0));
            h.runPending();
            assertEquals(2, h.backends.size(), "d and e went on the connections b and c left idle");
            assertEquals(1, pool.state().stats().queueFull.sum(), "f found every server full and no queue");
            h.backend(0).send(ok("D"));
            h.backend(1).send(ok("E"));
            h.runPending();
            assertTrue(h.received().contains("HTTP/1.1 503 "));
            assertEquals(0, s0.inFlight());
            assertEquals(0, s1.inFlight());
        }
    }

    @Test
    void aRequestThatWaitedAcrossATableSwapForAServerThatJoinedGetsThatServersStickyCookie() throws Exception {
        String s0 = "{\"name\": \"s0\", \"ip\": \"127.0.0.1\", \"port\": 8001, \"max_conn\": 1}";
        String s1 = "{\"name\": \"s1\", \"ip\": \"127.0.0.1\", \"port\": 8002, \"max_conn\": 1}";
        try (ForwardingHarness h = new ForwardingHarness("{\"sticky\": {}, \"backend_servers\": [" + s0 + "]}")) {
            h.send(get("a") + get("b"));
            assertEquals(1, server(h).poolState().queue().size(), "b waits for s0");

            h.tables.publish(ConfigLoader.parse("{\"sticky\": {}, \"backend_servers\": [" + s0 + ", " + s1 + "]}",
                    "(test)").servers(), "test"); // s1 joins the pool: b takes its free slot
            h.runPending();
            ServerPool pool = h.tables.current().defaultPool();
            Server joined = pool.servers().get(1);
            assertEquals(2, h.backends.size());
            assertSame(joined, h.backend(1).server());
            h.backend(0).send(ok("A"));
            h.backend(1).send(ok("B"));
            h.runPending();
            String answers = h.received();
            String toB = answers.substring(answers.indexOf("\r\n\r\nA"));
            assertTrue(toB.contains("\r\nSet-Cookie: " + cookie(pool, joined) + ";"),
                    "b's client sticks to the server that answered it: " + answers);
        }
    }

    /**
     * A request that waited under one generation and was granted a server of the next retries over the next one's
     * servers: here s0, busy, left while s1 and s2 joined; the request's grant's connection is refused, and the retry
     * goes to the other newcomer, not to the servers of its first generation (none of which is left).
     */
    @Test
    void aRequestGrantedAcrossATableSwapRetriesOverTheServersOfTheNewTable() throws Exception {
        String s0 = "{\"name\": \"s0\", \"ip\": \"127.0.0.1\", \"port\": 8001, \"max_conn\": 1}";
        String s1 = "{\"name\": \"s1\", \"ip\": \"127.0.0.1\", \"port\": 8002, \"max_conn\": 1}";
        String s2 = "{\"name\": \"s2\", \"ip\": \"127.0.0.1\", \"port\": 8003, \"max_conn\": 1}";
        try (ForwardingHarness h = new ForwardingHarness("{\"backend_servers\": [" + s0 + "]}")
                .dials(Dial.CONNECT, Dial.REFUSE)) {
            h.send(get("a") + get("b"));
            assertEquals(1, server(h).poolState().queue().size(), "b waits for s0");

            h.tables.publish(ConfigLoader.parse("{\"backend_servers\": [" + s1 + ", " + s2 + "]}", "(test)")
                    .servers(), "test"); // s0 leaves, s1 and s2 join: b takes a slot of one, whose connect fails
            h.runPending();
            ServerPool pool = h.tables.current().defaultPool();
            assertEquals(2, h.backends.size(), "b was retried on the other newcomer: " + h.received());
            Server retried = h.backend(1).server();
            assertTrue(retried == pool.servers().get(0) || retried == pool.servers().get(1), retried.toString());
            assertTrue(h.backend(1).received().startsWith("GET /b "));
            h.backend(0).send(ok("A"));
            h.backend(1).send(ok("B"));
            h.runPending();
            String answers = h.received();
            assertTrue(answers.contains("\r\n\r\nA") && answers.contains("\r\n\r\nB"), answers);
        }
    }

    /** {@code NAME=VALUE} of the sticky cookie naming {@code server}. */
    private static String cookie(ServerPool pool, Server server) {
        String line = new String(pool.setCookie(server, false), java.nio.charset.StandardCharsets.US_ASCII);
        return line.substring("Set-Cookie: ".length(), line.indexOf(';'));
    }
}
