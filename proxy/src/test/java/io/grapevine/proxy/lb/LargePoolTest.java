package io.grapevine.proxy.lb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Balancing over pools of 10,000 servers, where a pick must cost O(1) or O(log n): round robin's computed sequence
 * and its random draws past unavailable servers, leastconn's tree, the power of two choices' redraws. Each result is
 * checked against what the small-pool algorithms define (exact shares per cycle, a least-loaded server).
 */
class LargePoolTest {

    private static final int N = 10_000;

    private static List<FakeEndpoint> pool(int n, IntUnaryOperator weight) {
        List<FakeEndpoint> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(new FakeEndpoint("pool/10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255) + ":80",
                    weight.applyAsInt(i)));
        }
        return list;
    }

    private static int totalWeight(List<FakeEndpoint> pool) {
        return pool.stream().mapToInt(e -> e.weight).sum();
    }

    // ---------------------------------------------------------------- round robin

    @Test
    void roundRobinOverTenThousandServersOfOneWeightIsStrictRotation() {
        List<FakeEndpoint> p = pool(N, i -> 3);
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, p, List.of());
        for (int cycle = 0; cycle < 2; cycle++) {
            for (int i = 0; i < N; i++) {
                assertSame(p.get(i), rr.pick(0, null), "turn " + i + " of cycle " + cycle);
            }
        }
    }

    @Test
    void roundRobinGivesEachServerItsWeightPerCycleSpreadEvenly() {
        // Weights 1 to 4, and one server of weight 256 that must not take its turns in a burst.
        List<FakeEndpoint> p = pool(N, i -> i == 0 ? 256 : 1 + i % 4);
        int cycle = totalWeight(p);
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, p, List.of());
        Map<FakeEndpoint, List<Integer>> turns = new IdentityHashMap<>();
        for (int t = 0; t < cycle; t++) {
            turns.computeIfAbsent(rr.pick(0, null), e -> new ArrayList<>()).add(t);
        }
        for (FakeEndpoint e : p) {
            List<Integer> mine = turns.get(e);
            assertEquals(e.weight, mine == null ? 0 : mine.size(), e + " of weight " + e.weight);
            double ideal = cycle / (double) e.weight;
            for (int k = 0; k < mine.size(); k++) {
                int gap = k + 1 < mine.size() ? mine.get(k + 1) - mine.get(k) : mine.get(0) + cycle - mine.get(k);
                assertTrue(gap > ideal / 2 && gap < ideal * 3 / 2,
                        e + " of weight " + e.weight + ": turns " + gap + " apart, ideally " + ideal);
            }
        }
    }

    @Test
    void roundRobinGivesTheTurnsOfUnavailableServersToAllTheOthersInProportion() {
        // Every 10th server (weight 1) is down; the others have weights 1 and 3.
        List<FakeEndpoint> p = pool(N, i -> i % 2 == 0 ? 1 : 3);
        for (int i = 0; i < N; i += 10) {
            p.get(i).available = false;
        }
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, p, List.of());
        Map<FakeEndpoint, Integer> counts = new IdentityHashMap<>();
        int cycles = 10;
        int picks = cycles * totalWeight(p);
        for (int t = 0; t < picks; t++) {
            FakeEndpoint e = rr.pick(0, null);
            assertTrue(e.available, "picked " + e + ", which is down");
            counts.merge(e, 1, Integer::sum);
        }
        // Each available server gets its own turns, plus its share of the down servers' 10,000, drawn at random in
        // proportion to weight: about Poisson(0.56) more for weight 1 and Poisson(1.67) for weight 3. Ten or more
        // beyond its own is rare (1.0e-5 per server of weight 3: 0.046 servers in a run, six or more of them with
        // probability 1e-11), and it is what a fallback that gave each down server's ten turns to one other server
        // (its neighbour, say) would do to a thousand of them.
        List<String> beyond = new ArrayList<>();
        for (FakeEndpoint e : p) {
            if (e.available) {
                int n = counts.getOrDefault(e, 0);
                int own = cycles * e.weight;
                assertTrue(n >= own, e + " of weight " + e.weight + " got " + n + " picks in " + cycles + " cycles");
                if (n >= own + cycles) {
                    beyond.add(e + " (weight " + e.weight + "): " + n);
                }
            }
        }
        assertTrue(beyond.size() <= 5, () -> beyond.size() + " servers given ten turns or more beyond their own, among them "
                + beyond.subList(0, Math.min(5, beyond.size())));
    }

    @Test
    void roundRobinGivesAWarmingServerOfALargePoolItsEffectiveShare() {
        List<FakeEndpoint> p = pool(N, i -> 1);
        for (int i = 0; i < 100; i++) {
            p.get(i * 100).effective = 4; // a quarter of their weight
        }
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, p, List.of());
        int picks = 400_000;
        int warming = 0;
        for (int t = 0; t < picks; t++) {
            if (rr.pick(0, null).effective >= 0) {
                warming++;
            }
        }
        double expected = picks * (100 * 4.0) / (9_900 * 16.0 + 100 * 4.0);
        assertEquals(expected, warming, expected * 0.15);
    }

    @Test
    void roundRobinSkipsServersTheRequestTriedAndReturnsNullWhenNoneIsLeft() {
        List<FakeEndpoint> p = pool(N, i -> 1);
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, p, List.of());
        List<FakeEndpoint> tried = List.of(p.get(0), p.get(1));
        for (int t = 0; t < 2 * N; t++) {
            FakeEndpoint e = rr.pick(0, tried);
            assertTrue(e != p.get(0) && e != p.get(1));
        }
        p.forEach(e -> e.available = false);
        p.get(N - 1).available = true;
        assertSame(p.get(N - 1), rr.pick(0, null), "the last one available is found by the scan");
        p.get(N - 1).available = false;
        assertNull(rr.pick(0, null));
    }

    // ---------------------------------------------------------------- leastconn

    /** The least {@code (in flight + 1) / effective weight} among eligible endpoints, as a fraction compared exactly. */
    private static boolean isLeastLoaded(FakeEndpoint picked, List<FakeEndpoint> p, List<FakeEndpoint> excluded) {
        for (FakeEndpoint e : p) {
            if (e.available && !e.full && (excluded == null || !excluded.contains(e))
                    && (e.inFlight + 1L) * picked.effectiveWeight(0) < (picked.inFlight + 1L) * e.effectiveWeight(0)) {
                return false;
            }
        }
        return true;
    }

    @Test
    void leastConnectionsOverTenThousandServersAlwaysPicksALeastLoadedOne() {
        SplittableRandom random = new SplittableRandom(9);
        List<FakeEndpoint> p = pool(N, i -> 1 + random.nextInt(4));
        p.forEach(e -> e.inFlight = random.nextInt(20));
        Balancer<FakeEndpoint>[] loops = Balancers.forLoops(Balance.LEASTCONN, p, List.of(), 2);
        for (int step = 0; step < 5_000; step++) {
            int loop = step % 2;
            FakeEndpoint picked = loops[loop].pick(0, null);
            assertNotNull(picked);
            assertTrue(picked.available && !picked.full, "picked " + picked + ", which is down or full");
            assertTrue(isLeastLoaded(picked, p, null), "step " + step + " on loop " + loop + ": " + picked
                    + " has " + picked.inFlight + " in flight at weight " + picked.weight);
            picked.inFlight++;
            picked.changed();
            // Elsewhere (the other loop, health checks): requests end, servers go down and come back, warm up.
            for (int k = 0; k < 3; k++) {
                FakeEndpoint e = p.get(random.nextInt(N));
                switch (random.nextInt(5)) {
                    case 0 -> e.inFlight = Math.max(0, e.inFlight - 1 - random.nextInt(5));
                    case 1 -> e.available = !e.available;
                    case 3 -> e.full = !e.full;
                    case 2 -> e.effective = random.nextBoolean() ? -1 : 1 + random.nextInt(e.weight * 16);
                    default -> e.inFlight += 1 + random.nextInt(3);
                }
                e.changed();
            }
        }
    }

    @Test
    void leastConnectionsTakesIdleServersOfOneWeightInTurn() {
        List<FakeEndpoint> p = pool(N, i -> 1);
        Balancer<FakeEndpoint> lc = Balancers.create(Balance.LEASTCONN, p, List.of());
        Map<FakeEndpoint, Integer> counts = new HashMap<>();
        for (int t = 0; t < 2 * N; t++) {
            counts.merge(lc.pick(0, null), 1, Integer::sum); // requests that end before the next pick
        }
        assertEquals(N, counts.size());
        assertTrue(counts.values().stream().allMatch(n -> n == 2), "ties are not taken in turn");
    }

    @Test
    void leastConnectionsSetsTriedServersAsideAndFallsBackToBackups() {
        List<FakeEndpoint> p = pool(N, i -> 1);
        p.forEach(e -> e.inFlight = 5);
        FakeEndpoint idle = p.get(1234);
        FakeEndpoint next = p.get(4321);
        idle.inFlight = 0;
        next.inFlight = 1;
        List<FakeEndpoint> backups = pool(2, i -> 1);
        Balancer<FakeEndpoint> lc = Balancers.create(Balance.LEASTCONN, p, backups);
        assertSame(idle, lc.pick(0, null));
        assertSame(next, lc.pick(0, List.of(idle)), "a retry goes to the next least loaded");
        assertSame(idle, lc.pick(0, null), "and the tried one is back for the next request");
        p.forEach(e -> {
            e.available = false;
            e.changed();
        });
        FakeEndpoint first = lc.pick(0, null);
        assertTrue(backups.contains(first));
        assertNotSame(first, lc.pick(0, null), "idle backups of one weight are taken in turn");
    }

    @Test
    void leastConnectionsFindsAServerThatBecameIdleWithoutTellingWithinASweep() {
        List<FakeEndpoint> p = pool(N, i -> 1);
        p.forEach(e -> e.inFlight = 5);
        Balancer<FakeEndpoint> lc = Balancers.create(Balance.LEASTCONN, p, List.of());
        FakeEndpoint quiet = p.get(N / 3);
        quiet.inFlight = 0; // not reported: only the sweep re-reads it
        boolean found = false;
        for (int t = 0; t < N / LeastLoadedTree.SWEEP + 1 && !found; t++) {
            found = lc.pick(0, null) == quiet;
        }
        assertTrue(found, "the sweep never re-read the server");
    }

    // ---------------------------------------------------------------- power of two choices

    @Test
    void powerOfTwoChoicesFindsTheFewAvailableServersOfALargePool() {
        List<FakeEndpoint> p = pool(N, i -> 1);
        for (int i = 0; i < N; i++) {
            p.get(i).available = i % 50 == 0;
        }
        Balancer<FakeEndpoint> p2c = Balancers.create(Balance.P2C, p, List.of());
        for (int t = 0; t < 2_000; t++) {
            FakeEndpoint e = p2c.pick(0, null);
            assertNotNull(e);
            assertTrue(e.available, "picked " + e + ", which is down");
        }
    }
}
