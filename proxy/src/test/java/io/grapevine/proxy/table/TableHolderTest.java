package io.grapevine.proxy.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.Compression;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RateLimit;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import io.grapevine.proxy.config.ServerSpec.Source;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TableHolderTest {

    private final TableHolder tables = new TableHolder(2, List.of(), pool -> PoolPolicy.DEFAULT);

    static ServerSpec spec(int port) {
        return spec(port, 1, AdminState.UP, "default");
    }

    static ServerSpec spec(int port, int weight, AdminState state, String pool) {
        return new ServerSpec("s" + port, "127.0.0.1", port, weight, false, pool, Source.GOSSIP, state);
    }

    @Test
    void aServerThatSurvivesASwapKeepsItsIdentityAndCounters() {
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2)), "test");
        Server first = g1.servers().get(0);
        first.stats().requests.add(7);
        BackendTable g2 = tables.publish(List.of(spec(1), spec(3)), "test");
        assertEquals(g1.generation() + 1, g2.generation());
        assertSame(first, g2.servers().get(0));
        assertEquals(7, g2.servers().get(0).stats().requests.sum());
        assertTrue(g1.servers().get(1).isRemoved(), "the server that left is marked removed");
        assertFalse(first.isRemoved());
    }

    /**
     * Pools named per deploy (a pool tag that carries the release) come and go for as long as the proxy runs: a pool
     * that left the table is let go once it has been out of it for {@link TableHolder#RETIRED_POOL_KEPT_NANOS}, and its
     * id serves the next new pool, so what the holder keeps (and each event loop keeps per pool id) is the pools of
     * the table and of the recent past, however many came before.
     */
    @Test
    void poolsOutOfTheTableForLongAreLetGoAndTheirIdsServeNewOnes() {
        tables.retiredPoolKeptNanos = 0;
        for (int deploy = 0; deploy < 1_000; deploy++) {
            tables.publish(List.of(spec(1, 1, AdminState.UP, "web-" + deploy)), "deploy " + deploy);
        }
        // and pool default, where every request goes without routes
        assertEquals(List.of("default", "web-999"), tables.poolStates().stream().map(PoolState::name).toList());
        assertTrue(tables.poolStates().get(1).id() < 3, "ids are reused: " + tables.poolStates().get(1).id());
    }

    /**
     * A reload that leaves a pool's rate limit as it was keeps its clients' use of it (a reload is no way around the
     * limit); a changed limit starts afresh, and a limit turned off is gone.
     */
    @Test
    void aPoolsRateLimiterIsKeptAcrossGenerationsWhileItsLimitIsTheSame() {
        PoolPolicy limited = new PoolPolicy(Balance.ROUNDROBIN, null, null, 0, PoolPolicy.Queue.DEFAULT,
                Compression.OFF, new RateLimit(true, 10, 1000, 10, null, 1024));
        PoolPolicy faster = new PoolPolicy(Balance.ROUNDROBIN, null, null, 0, PoolPolicy.Queue.DEFAULT,
                Compression.OFF, new RateLimit(true, 20, 1000, 10, null, 1024));
        PoolState state = tables.publish(List.of(spec(1)), List.of(), n -> limited, "start").pools().get("default")
                .state();
        RateLimiter first = state.rateLimiter();
        assertNotNull(first);
        tables.publish(List.of(spec(1), spec(2)), List.of(), n -> limited, "a server joined");
        assertSame(first, state.rateLimiter(), "the same limit: the same buckets");
        tables.publish(List.of(spec(1), spec(2)), List.of(), n -> faster, "reload");
        assertNotSame(first, state.rateLimiter());
        assertEquals(20, state.rateLimiter().limit().requests());
        tables.publish(List.of(spec(1), spec(2)), List.of(), n -> PoolPolicy.DEFAULT, "reload");
        assertNull(state.rateLimiter(), "no limit, no limiter");
    }

    /** A route's own limiter is kept while the route is the same, and replaced when its limit changes. */
    @Test
    void aRoutesRateLimiterIsKeptWhileTheRouteIsTheSame() {
        RouteSpec login = new RouteSpec(null, "/login", "default", new RateLimit(true, 5, 60_000, 5, null, 1024));
        RouteSpec open = new RouteSpec(null, "/", "default");
        BackendTable first = tables.publish(List.of(spec(1)), List.of(login, open), n -> PoolPolicy.DEFAULT, "start");
        assertNull(first.routeLimit(1), "a route without a limit");
        assertNull(first.routeLimit(-1), "no route");
        RateLimiter limiter = first.routeLimit(0).limiter();
        assertEquals(-1, first.routeLimit(0).keyIndex(), "keyed by the client's address");
        assertEquals(0, first.routeIndex("any", "/login/form"));
        assertEquals(1, first.routeIndex("any", "/page"));
        BackendTable second = tables.publish(List.of(spec(1), spec(2)), List.of(login, open), n -> PoolPolicy.DEFAULT,
                "a server joined");
        assertSame(limiter, second.routeLimit(0).limiter());
        RouteSpec byKey = new RouteSpec(null, "/login", "default",
                new RateLimit(true, 5, 60_000, 5, "x-api-key", 1024));
        BackendTable third = tables.publish(List.of(spec(1), spec(2)), List.of(open, byKey), n -> PoolPolicy.DEFAULT,
                "reload");
        assertNotSame(limiter, third.routeLimit(1).limiter(), "a new limit starts afresh");
        assertEquals(third.requestKeys().headers().indexOf("x-api-key"), third.routeLimit(1).keyIndex());
        assertTrue(third.routeLimit(1).keyIndex() >= 0, "the header is captured for the route");
    }

    /**
     * A pool whose servers are all gone is still in the table's absent pools, with its state, for as long as a route
     * names it; one no route names is there while its state is kept, then let go with it.
     */
    @Test
    void aPoolWithoutServersIsKeptWhileARouteNamesItOrItsStateIsKept() {
        TableHolder routed = new TableHolder(2, List.of(new RouteSpec("api.example", null, "api")),
                pool -> PoolPolicy.DEFAULT);
        assertTrue(routed.current().absentPools().containsKey("api"), "named by a route before any server of it came");
        PoolState api = routed.publish(List.of(spec(1, 1, AdminState.UP, "api"), spec(2, 1, AdminState.UP, "batch")),
                "start").pools().get("api").state();
        PoolState batch = routed.current().pools().get("batch").state();
        BackendTable gone = routed.publish(List.of(spec(3)), "api and batch gone");
        assertSame(api, gone.absentPool("api", System.nanoTime()).state());
        assertSame(batch, gone.absentPool("batch", System.nanoTime()).state(), "left a moment ago");

        routed.retiredPoolKeptNanos = 0;
        BackendTable later = routed.publish(List.of(spec(4)), "later");
        assertSame(api, later.absentPool("api", System.nanoTime()).state(), "a route names it still");
        assertNull(later.absentPool("batch", System.nanoTime()), "no route names it, its state is let go");
        assertEquals(List.of("api", "default"), routed.poolStates().stream().map(PoolState::name).toList());
        assertNull(routed.publish(List.of(spec(4)), List.of(), n -> PoolPolicy.DEFAULT, "route removed")
                .absentPool("api", System.nanoTime()), "no route names it any more");
    }

    /**
     * Pool {@code default} is where every request goes without routes, and those no route matches: it is kept without
     * servers, before any came and for as long after they left as requests go to it, unless a route matches every
     * request.
     */
    @Test
    void poolDefaultWithoutServersIsKeptWhileRequestsGoToIt() {
        TableHolder unrouted = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        unrouted.retiredPoolKeptNanos = 0;
        assertNotNull(unrouted.current().absentPool("default", System.nanoTime()), "before any server came");
        unrouted.publish(List.of(spec(1)), "start");
        unrouted.publish(List.of(spec(2, 1, AdminState.UP, "web")), "default gone");
        BackendTable later = unrouted.publish(List.of(spec(3, 1, AdminState.UP, "web")), "later");
        assertNotNull(later.absentPool("default", System.nanoTime()), "every request goes to it");

        TableHolder hosts = new TableHolder(1, List.of(new RouteSpec("web.example", null, "web")),
                pool -> PoolPolicy.DEFAULT);
        assertNotNull(hosts.publish(List.of(spec(2, 1, AdminState.UP, "web")), "start")
                .absentPool("default", System.nanoTime()), "other hosts go to it");
        TableHolder caught = new TableHolder(1, List.of(new RouteSpec(null, "/", "web")), pool -> PoolPolicy.DEFAULT);
        assertNull(caught.publish(List.of(spec(2, 1, AdminState.UP, "web")), "start")
                .absentPool("default", System.nanoTime()), "a route takes every request");
    }

    /** A pool out of the table for a moment (its only member restarting) comes back with its queue and counters. */
    @Test
    void aPoolBackSoonKeepsItsState() {
        PoolState web = tables.publish(List.of(spec(1, 1, AdminState.UP, "web")), "test").pools().get("web").state();
        web.stats().queueFull.add(3);
        tables.publish(List.of(spec(2)), "web left");
        assertSame(web, tables.publish(List.of(spec(1, 1, AdminState.UP, "web"), spec(2)), "web back").pools().get("web")
                .state());
        assertEquals(3, web.stats().queueFull.sum());
    }

    @Test
    void publishingTheSameServersMakesNoGeneration() {
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2)), "test");
        assertSame(g1, tables.publish(List.of(spec(1), spec(2)), "again"));
        assertSame(g1, tables.current());
    }

    @Test
    void aChangedWeightOrStateIsANewGenerationOfTheSameServer() {
        BackendTable g1 = tables.publish(List.of(spec(1)), "test");
        Server s = g1.servers().get(0);
        BackendTable g2 = tables.publish(List.of(spec(1, 5, AdminState.DRAINING, "default")), "test");
        assertNotSame(g1, g2);
        assertSame(s, g2.servers().get(0));
        assertEquals(5, s.weight());
        assertFalse(s.isAvailable(System.nanoTime()), "a draining server takes no new request");
        assertEquals("draining", s.stateName(System.nanoTime()));
    }

    @Test
    void removalListenersHearOfEveryServerThatLeft() {
        List<Server> heard = new ArrayList<>();
        tables.onServersRemoved(heard::addAll);
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2), spec(3)), "test");
        tables.publish(List.of(spec(2)), "test");
        assertEquals(List.of(g1.servers().get(0), g1.servers().get(2)), heard);
    }

    @Test
    void routesPickPoolsAndUnmatchedRequestsGoToTheDefaultPool() {
        TableHolder routed = new TableHolder(1, List.of(new RouteSpec("api.example.com", null, "api"),
                new RouteSpec(null, "/static/", "static")), pool -> PoolPolicy.DEFAULT);
        BackendTable t = routed.publish(List.of(spec(1, 1, AdminState.UP, "api"), spec(2, 1, AdminState.UP, "static"),
                spec(3)), "test");
        assertEquals("api", route(t, "api.example.com", "/x").name());
        assertEquals("static", route(t, "www.example.com", "/static/a.css").name());
        assertEquals("default", route(t, "www.example.com", "/").name());
        BackendTable noApi = routed.publish(List.of(spec(3)), "test");
        assertNull(route(noApi, "api.example.com", "/x"), "a routed pool without servers gives no pool (503)");
    }

    /** The pool a request to {@code host} and {@code path} is routed to, as the exchange finds it. */
    private static ServerPool route(BackendTable table, String host, String path) {
        return table.poolOfRoute(table.routeIndex(host, path));
    }

    @Test
    void aRouteChangeAloneMakesAGeneration() {
        BackendTable g1 = tables.publish(List.of(spec(1)), "test");
        BackendTable g2 = tables.publish(List.of(spec(1)), List.of(new RouteSpec(null, "/a", "default")),
                pool -> PoolPolicy.DEFAULT, "routes");
        assertEquals(g1.generation() + 1, g2.generation());
        assertTrue(g2.hasRoutes());
        assertSame(g1.servers().get(0), g2.servers().get(0));
    }
    @Test
    void runtimeStatesAreEffectiveAtOnceAndSurviveNewGenerations() {
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2)), "test");
        Server s1 = g1.servers().get(0);
        long now = System.nanoTime();

        TableHolder.RuntimeChange drain = tables.setRuntimeState("s1", RuntimeState.DRAIN, "test");
        assertSame(s1, drain.server());
        assertEquals(RuntimeOverride.NONE, drain.before());
        assertEquals(g1.generation(), drain.generation(), "a state change needs no new generation");
        assertFalse(s1.isAvailable(now), "drained: no new requests");
        assertTrue(s1.takesStickyRequests(now), "drained: pinned clients may still come");
        assertEquals("draining", s1.stateName(now));

        tables.publish(List.of(spec(1, 4, AdminState.UP, "default"), spec(2), spec(3)), "reload");
        assertFalse(s1.isAvailable(now), "the drain survives a new generation");
        assertEquals(4, s1.weight());

        tables.setRuntimeState("s1", RuntimeState.MAINT, "test");
        assertFalse(s1.takesStickyRequests(now), "maint: nothing at all");
        assertEquals("maint", s1.stateName(now));
        tables.setRuntimeState("s1", RuntimeState.READY, "test");
        assertTrue(s1.isAvailable(now));
        assertEquals("up", s1.stateName(now));
        assertEquals(List.of(), tables.overridesOfAbsentServers());
        assertNull(tables.setRuntimeState("nobody", RuntimeState.DRAIN, "test"));
    }

    @Test
    void aWeightOverrideRebuildsTheBalancersAndGoesBackToTheConfiguredWeight() {
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2)), "test");
        Server s2 = g1.servers().get(1);
        TableHolder.RuntimeChange set = tables.setRuntimeWeight("s2", 7, "test");
        assertEquals(g1.generation() + 1, set.generation(), "balancers precompute from weights: a new generation");
        assertEquals(7, s2.weight());
        assertSame(s2, tables.current().servers().get(1));
        tables.publish(List.of(spec(1), spec(2, 3, AdminState.UP, "default")), "reload");
        assertEquals(7, s2.weight(), "the override wins over a new configured weight");
        tables.setRuntimeWeight("s2", 0, "test");
        assertFalse(s2.isAvailable(System.nanoTime()), "weight 0: no requests");
        assertEquals("maint", s2.stateName(System.nanoTime()));
        tables.setRuntimeWeight("s2", RuntimeOverride.NO_WEIGHT, "test");
        assertEquals(3, s2.weight(), "the configured weight again");
        assertTrue(s2.isAvailable(System.nanoTime()));
    }

    @Test
    void anOverrideIsKeptForAServerThatLeavesAndAppliesWhenItComesBack() {
        tables.publish(List.of(spec(1), spec(2)), "test");
        tables.setRuntimeState("s2", RuntimeState.MAINT, "test");
        tables.publish(List.of(spec(1)), "s2 left");
        assertEquals(List.of(new TableHolder.StoredOverride("s2", spec(2).key(),
                new RuntimeOverride(RuntimeState.MAINT, RuntimeOverride.NO_WEIGHT))), tables.overridesOfAbsentServers());

        BackendTable back = tables.publish(List.of(spec(1), spec(2)), "s2 is back");
        Server s2 = back.servers().get(1);
        assertEquals("maint", s2.stateName(System.nanoTime()), "a new server object with the kept override");
        assertEquals(List.of(), tables.overridesOfAbsentServers());

        tables.publish(List.of(spec(1)), "s2 left again");
        TableHolder.RuntimeChange cleared = tables.setRuntimeState("s2", RuntimeState.READY, "test");
        assertNull(cleared.server(), "set back while absent");
        assertEquals(List.of(), tables.overridesOfAbsentServers());
        assertTrue(tables.publish(List.of(spec(1), spec(2)), "back").servers().get(1).isAvailable(System.nanoTime()));
    }

    @Test
    void roundRobinGoesOnAcrossGenerationsSoAPoolThatChangesOftenStarvesNoServer() {
        // Ten servers, and an eleventh that joins and leaves every three requests: a large pool under membership
        // churn changes more often than it serves one request per server.
        List<ServerSpec> ten = new ArrayList<>();
        for (int port = 1; port <= 10; port++) {
            ten.add(spec(port));
        }
        List<ServerSpec> eleven = concat(ten, List.of(spec(11)));
        int[] picks = new int[12];
        for (int swap = 0; swap < 20; swap++) {
            BackendTable t = tables.publish(swap % 2 == 0 ? ten : eleven, "swap " + swap);
            for (int k = 0; k < 3; k++) {
                picks[t.defaultPool().balancer(0).pick(System.nanoTime(), null).spec().port()]++;
            }
        }
        for (int port = 1; port <= 10; port++) {
            assertTrue(picks[port] >= 3, "s" + port + " got " + picks[port] + " of 60 requests: "
                    + java.util.Arrays.toString(picks));
        }
    }

    /** {@code n} servers of weight 1 in {@code pool}, the one of index {@code heavy} (if any) of weight 2. */
    private static List<ServerSpec> large(int n, String pool, int heavy) {
        List<ServerSpec> specs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            specs.add(new ServerSpec(pool + i, "10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255), 80,
                    i == heavy ? 2 : 1, false, pool, Source.GOSSIP, AdminState.UP));
        }
        return specs;
    }

    @Test
    void aSwapKeepsThePoolsOfTenThousandServersThatDidNotChangeBalancersIncluded() {
        TableHolder holder = new TableHolder(2, List.of(),
                pool -> pool.equals("big") ? PoolPolicy.of(Balance.SOURCE) : PoolPolicy.of(Balance.LEASTCONN));
        List<ServerSpec> big = large(10_000, "big", -1);
        BackendTable g1 = holder.publish(concat(big, large(3, "small", -1)), "test");
        BackendTable g2 = holder.publish(concat(big, large(3, "small", 1)), "a weight changed in the small pool");
        assertEquals(g1.generation() + 1, g2.generation());
        assertSame(g1.pools().get("big"), g2.pools().get("big"), "the unchanged pool was rebuilt");
        assertNotSame(g1.pools().get("small"), g2.pools().get("small"));
        assertEquals(2, g2.pools().get("small").servers().get(1).weight());
        BackendTable g3 = holder.publish(concat(big.subList(1, big.size()), large(3, "small", 1)), "one left");
        assertNotSame(g2.pools().get("big"), g3.pools().get("big"));
        assertEquals(9_999, g3.pools().get("big").servers().size());
        assertSame(g2.pools().get("small"), g3.pools().get("small"));
        assertTrue(g2.pools().get("big").servers().get(0).isRemoved());
    }

    /**
     * Building a generation grows with the pool, not with its square: a step that compares each server with every
     * other costs 64 times as much for 8 times the servers, a linear (or n log n) build 8 to 11 times. How fast the
     * build is, is measured by JMH (TablePublishBenchmark, bench/). What is asserted here is the ratio of the best
     * times of the two sizes, taken in turns, in CPU time of the publishing thread: a busy machine that takes the
     * CPU away from it for a while changes neither. What is timed is a swap (one server's weight changes) after a
     * first generation: that first one has no servers to compare the new ones with, so its time would hide a step
     * that looks every server up among the old ones.
     */
    @Test
    void aGenerationGrowsWithThePoolNotWithItsSquare() {
        assertTrue(THREADS.isCurrentThreadCpuTimeSupported());
        for (Balance balance : new Balance[] {Balance.ROUNDROBIN, Balance.LEASTCONN, Balance.SOURCE}) {
            TableHolder small = new TableHolder(2, List.of(), pool -> PoolPolicy.of(balance));
            TableHolder big = new TableHolder(2, List.of(), pool -> PoolPolicy.of(balance));
            long bestSmall = Long.MAX_VALUE;
            long bestBig = Long.MAX_VALUE;
            for (int round = 0; round <= 10; round++) { // round 0 fills the tables: a swap is timed from round 1
                long tookSmall = cpuTimeOfPublish(small, 2_500, round);
                long tookBig = cpuTimeOfPublish(big, 20_000, round);
                if (round > 0) {
                    bestSmall = Math.min(bestSmall, tookSmall);
                    bestBig = Math.min(bestBig, tookBig);
                }
            }
            double ratio = (double) bestBig / bestSmall;
            assertTrue(ratio < 20, String.format("%s: the best of 10 generations of 20,000 servers took %.1f ms of CPU,"
                    + " %.1f times the 2,500 servers' %.2f ms (linear: 8, quadratic: 64)", balance, bestBig / 1e6,
                    ratio, bestSmall / 1e6));
        }
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** Publishes a generation of {@code n} servers (every other round with one server heavier): its CPU time. */
    private static long cpuTimeOfPublish(TableHolder holder, int n, int round) {
        List<ServerSpec> specs = large(n, "default", round % 2 == 0 ? round : -1);
        long start = THREADS.getCurrentThreadCpuTime();
        BackendTable table = holder.publish(specs, "round " + round);
        long took = THREADS.getCurrentThreadCpuTime() - start;
        assertEquals(round, table.generation() - 1);
        assertEquals(n, table.defaultPool().servers().size());
        return took;
    }

    @Test
    void theLeastconnTreesOfEveryLoopFollowTheServersSlotsAndHealth() {
        TableHolder holder = new TableHolder(2, List.of(), pool -> PoolPolicy.of(Balance.LEASTCONN));
        ServerPool pool = holder.publish(large(50, "default", -1), "test").defaultPool();
        long now = System.nanoTime();
        for (int k = 0; k < 50; k++) { // one request each, taken on loop 0: idle servers of one weight in turn
            Server s = pool.balancer(0).pick(now, null);
            assertEquals(0, s.inFlight(), "picked " + s + ", which is busy already");
            assertTrue(s.tryAcquireSlot());
        }
        Server quiet = pool.servers().get(37);
        quiet.releaseSlot(); // its request ends (on either loop)
        assertSame(quiet, pool.balancer(1).pick(now, null), "loop 1 did not learn that a slot was freed");
        assertSame(quiet, pool.balancer(0).pick(now, null), "loop 0 did not learn that a slot was freed");
        quiet.setActiveUp(false, "test");
        for (int loop = 0; loop < 2; loop++) {
            Server s = pool.balancer(loop).pick(now, null);
            assertNotSame(quiet, s, "loop " + loop + " picked a server that is down");
            assertEquals(1, s.inFlight());
        }
    }

    private static List<ServerSpec> concat(List<ServerSpec> a, List<ServerSpec> b) {
        List<ServerSpec> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
