package io.grapevine.proxy.lb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The consistent hash (Maglev table, per-key order of preference) without sockets. */
class ConsistentHashTest {

    private static final int KEYS = 10_000;
    private static final long NOW = 0;

    private static List<FakeEndpoint> endpoints(int... weights) {
        List<FakeEndpoint> list = new ArrayList<>();
        for (int i = 0; i < weights.length; i++) {
            list.add(new FakeEndpoint("default/10.0.0." + (i + 1) + ":8080", weights[i]));
        }
        return list;
    }

    private static Balancer<FakeEndpoint> hash(List<FakeEndpoint> primaries) {
        return Balancers.create(Balance.URI, primaries, List.of());
    }

    private static long key(int i) {
        return XxHash64.hash(("/item/" + i).getBytes(StandardCharsets.US_ASCII));
    }

    /** Which endpoint each of the {@link #KEYS} keys goes to. */
    private static FakeEndpoint[] place(Balancer<FakeEndpoint> b, int keys) {
        FakeEndpoint[] placed = new FakeEndpoint[keys];
        for (int i = 0; i < keys; i++) {
            placed[i] = b.pick(NOW, key(i), null);
            assertNotNull(placed[i], "key " + i + " found no endpoint");
        }
        return placed;
    }

    private static int moved(FakeEndpoint[] before, FakeEndpoint[] after) {
        int moved = 0;
        for (int i = 0; i < before.length; i++) {
            if (before[i] != after[i]) {
                moved++;
            }
        }
        return moved;
    }

    private static Map<FakeEndpoint, Integer> counts(FakeEndpoint[] placed) {
        Map<FakeEndpoint, Integer> counts = new HashMap<>();
        for (FakeEndpoint e : placed) {
            counts.merge(e, 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void aKeyAlwaysGoesToTheSameEndpointAndEveryEndpointGetsKeys() {
        List<FakeEndpoint> five = endpoints(1, 1, 1, 1, 1);
        Balancer<FakeEndpoint> b = hash(five);
        FakeEndpoint[] first = place(b, KEYS);
        assertEquals(0, moved(first, place(b, KEYS)), "the same keys went elsewhere the second time");
        Map<FakeEndpoint, Integer> counts = counts(first);
        for (FakeEndpoint e : five) {
            int n = counts.getOrDefault(e, 0);
            assertTrue(Math.abs(n - KEYS / 5) < KEYS / 5 * 0.1, e + " got " + n + " of " + KEYS + " keys: " + counts);
        }
    }

    @Test
    void everyProxyBuildsTheSameTableWhateverTheOrderOfItsServers() {
        List<FakeEndpoint> five = endpoints(1, 2, 1, 3, 1);
        List<FakeEndpoint> shuffled = new ArrayList<>(five);
        Collections.reverse(shuffled);
        assertEquals(0, moved(place(hash(five), KEYS), place(hash(shuffled), KEYS)));
    }

    @Test
    void oneOfFiveLeavingMovesAboutAFifthOfTheKeys() {
        List<FakeEndpoint> five = endpoints(1, 1, 1, 1, 1);
        FakeEndpoint[] before = place(hash(five), KEYS);
        FakeEndpoint leaving = five.get(2);
        FakeEndpoint[] after = place(hash(five.stream().filter(e -> e != leaving).toList()), KEYS);
        int moved = moved(before, after);
        int ofLeaving = counts(before).get(leaving);
        System.out.printf("[consistent hash] one of 5 leaves: %d of %d keys moved (%.1f%%; its own %d)%n", moved, KEYS,
                100.0 * moved / KEYS, ofLeaving);
        assertTrue(moved <= 1.5 * KEYS / 5, moved + " keys moved when one of 5 servers left");
        assertTrue(moved >= ofLeaving, "every key of the server that left must move");
    }

    @Test
    void aSixthJoiningMovesAboutASixthOfTheKeysMostlyToIt() {
        List<FakeEndpoint> six = endpoints(1, 1, 1, 1, 1, 1);
        FakeEndpoint joining = six.get(5);
        FakeEndpoint[] before = place(hash(six.subList(0, 5)), KEYS);
        FakeEndpoint[] after = place(hash(six), KEYS);
        int moved = moved(before, after);
        int toJoining = counts(after).get(joining);
        System.out.printf("[consistent hash] a 6th joins 5: %d of %d keys moved (%.1f%%), %d to the new one%n", moved,
                KEYS, 100.0 * moved / KEYS, toJoining);
        assertTrue(moved <= 1.5 * KEYS / 5, moved + " keys moved when a server joined 5");
        assertTrue(toJoining >= 0.8 * moved, "most moved keys should go to the new server: " + toJoining + " of " + moved);
    }

    /**
     * Beyond 40 servers of one weight the table holds more than its minimum of slots; a server that joins or leaves
     * must not change how many, or every key would land elsewhere.
     */
    @Test
    void inALargerPoolOneServerLeavingMovesAboutItsShareOfTheKeys() {
        for (int n : new int[] {50, 120}) {
            int[] weights = new int[n];
            Arrays.fill(weights, 1);
            List<FakeEndpoint> all = endpoints(weights);
            FakeEndpoint leaving = all.get(n / 2);
            FakeEndpoint[] before = place(hash(all), KEYS);
            FakeEndpoint[] after = place(hash(all.stream().filter(e -> e != leaving).toList()), KEYS);
            int moved = moved(before, after);
            System.out.printf("[consistent hash] one of %d leaves: %d of %d keys moved (its own %d)%n", n, moved, KEYS,
                    counts(before).get(leaving));
            assertTrue(moved <= 3.0 * KEYS / n, moved + " keys moved when one of " + n + " servers left");
        }
    }

    /**
     * Keys that must move when one server's weight changes: the sum of the shares that grew. A cache behind the proxy
     * keeps every other key.
     */
    private static double idealShareMoved(int[] before, int[] after) {
        double totalBefore = Arrays.stream(before).sum();
        double totalAfter = Arrays.stream(after).sum();
        double grew = 0;
        for (int i = 0; i < before.length; i++) {
            grew += Math.max(0, after[i] / totalAfter - before[i] / totalBefore);
        }
        return grew;
    }

    @Test
    void oneServersWeightChangingMovesAboutItsShareOfTheKeys() {
        int keys = 20_000;
        for (int[] shape : new int[][] {{30, 2, 1}, {40, 1, 2}, {50, 1, 3}, {60, 4, 1}}) {
            int n = shape[0];
            int[] before = new int[n];
            Arrays.fill(before, shape[1]);
            int[] after = before.clone();
            after[n / 2] = shape[2];
            List<FakeEndpoint> pool = endpoints(before);
            List<FakeEndpoint> changed = new ArrayList<>(pool);
            changed.set(n / 2, new FakeEndpoint(pool.get(n / 2).key(), shape[2]));
            int moved = 0;
            FakeEndpoint[] was = place(hash(pool), keys);
            FakeEndpoint[] now = place(hash(changed), keys);
            for (int i = 0; i < keys; i++) {
                if (!was[i].key().equals(now[i].key())) {
                    moved++;
                }
            }
            double ideal = idealShareMoved(before, after) * keys;
            System.out.printf("[consistent hash] one of %d servers of weight %d set to %d: %d of %d keys moved"
                    + " (ideal %.0f)%n", n, shape[1], shape[2], moved, keys, ideal);
            assertTrue(moved <= 3 * ideal, moved + " keys moved when one of " + n + " servers of weight " + shape[1]
                    + " was set to " + shape[2] + ", ideally " + ideal);
        }
    }

    @Test
    void weightsAreRespected() {
        List<FakeEndpoint> weighted = endpoints(1, 2, 3, 4);
        int keys = 50_000;
        Map<FakeEndpoint, Integer> counts = counts(place(hash(weighted), keys));
        for (FakeEndpoint e : weighted) {
            double share = counts.get(e) / (double) keys;
            double expected = e.weight / 10.0;
            assertTrue(Math.abs(share - expected) < expected * 0.1, e + " weight " + e.weight + " got " + share);
        }
    }

    @Test
    void theKeysOfAnUnavailableServerGoToTheirNextChoicesAndNoOtherKeyMoves() {
        List<FakeEndpoint> five = endpoints(1, 1, 1, 1, 1);
        Balancer<FakeEndpoint> b = hash(five);
        FakeEndpoint[] before = place(b, KEYS);
        FakeEndpoint down = five.get(1);
        down.available = false;
        FakeEndpoint[] during = place(b, KEYS);
        Map<FakeEndpoint, Integer> inherited = new HashMap<>();
        for (int i = 0; i < KEYS; i++) {
            if (before[i] != down) {
                assertSame(before[i], during[i], "key " + i + " of a healthy server moved");
            } else {
                assertNotEquals(down, during[i]);
                inherited.merge(during[i], 1, Integer::sum);
            }
        }
        int orphans = counts(before).get(down);
        for (FakeEndpoint e : five) {
            if (e != down) {
                int n = inherited.getOrDefault(e, 0);
                assertTrue(Math.abs(n - orphans / 4.0) < orphans / 4.0 * 0.25,
                        "the keys of the down server are spread unevenly: " + inherited);
            }
        }
        assertEquals(0, moved(during, place(b, KEYS)), "next choices must be the same every time");
        down.available = true;
        assertEquals(0, moved(before, place(b, KEYS)), "the keys must come back when it does");
    }

    @Test
    void aRetryGoesToTheKeysNextChoice() {
        List<FakeEndpoint> five = endpoints(1, 1, 1, 1, 1);
        Balancer<FakeEndpoint> b = hash(five);
        for (int i = 0; i < 100; i++) {
            FakeEndpoint first = b.pick(NOW, key(i), null);
            FakeEndpoint second = b.pick(NOW, key(i), List.of(first));
            assertNotEquals(first, second);
            assertSame(second, b.pick(NOW, key(i), List.of(first)));
            first.available = false;
            assertSame(second, b.pick(NOW, key(i), null), "a retry and an outage agree on the next choice");
            first.available = true;
        }
    }

    @Test
    void nothingAvailableBackupsTakeTheKeysAndNothingAtAllIsNull() {
        List<FakeEndpoint> all = endpoints(1, 1, 1, 1);
        Balancer<FakeEndpoint> b = Balancers.create(Balance.HEADER, all.subList(0, 2), all.subList(2, 4));
        for (int i = 0; i < 50; i++) {
            assertTrue(all.subList(0, 2).contains(b.pick(NOW, key(i), null)));
        }
        all.get(0).available = false;
        all.get(1).available = false;
        Map<FakeEndpoint, Integer> counts = new HashMap<>();
        for (int i = 0; i < 1000; i++) {
            FakeEndpoint e = b.pick(NOW, key(i), null);
            assertTrue(all.subList(2, 4).contains(e), "key " + i + " went to " + e);
            assertSame(e, b.pick(NOW, key(i), null));
            counts.merge(e, 1, Integer::sum);
        }
        assertEquals(2, counts.size(), "both backups take keys: " + counts);
        all.get(2).available = false;
        all.get(3).available = false;
        assertEquals(null, b.pick(NOW, key(1), null));
    }

    @Test
    void aRequestWithoutAKeyIsBalancedRoundRobin() {
        List<FakeEndpoint> three = endpoints(1, 1, 1);
        Balancer<FakeEndpoint> b = hash(three);
        Map<FakeEndpoint, Integer> counts = new HashMap<>();
        for (int i = 0; i < 30; i++) {
            counts.merge(b.pick(NOW, null), 1, Integer::sum);
        }
        assertEquals(Map.of(three.get(0), 10, three.get(1), 10, three.get(2), 10), counts);
    }

    /**
     * Slow start: a server at a fraction f of its weight keeps its keys with probability f at each of their choices
     * that land on it, so it holds its effective weight's share of all keys; a key it holds at f it holds at any
     * larger f, so keys come back once each and stay.
     */
    @Test
    void aServerWarmingUpGetsItsKeysBackInProportionAndForGood() {
        List<FakeEndpoint> five = endpoints(1, 1, 1, 1, 1);
        Balancer<FakeEndpoint> b = hash(five);
        FakeEndpoint[] warm = place(b, KEYS);
        FakeEndpoint warming = five.get(3);
        int own = counts(warm).get(warming);
        boolean[] keptBefore = new boolean[KEYS];
        for (int sixteenths = 1; sixteenths <= 16; sixteenths++) {
            warming.effective = sixteenths;
            FakeEndpoint[] now = place(b, KEYS);
            int kept = 0;
            for (int i = 0; i < KEYS; i++) {
                if (warm[i] != warming) {
                    assertSame(warm[i], now[i], "a key of a warm server moved");
                } else if (now[i] == warming) {
                    kept++;
                    keptBefore[i] = true;
                } else {
                    assertTrue(!keptBefore[i], "key " + i + " went back and forth at " + sixteenths + "/16");
                }
            }
            // Its share of all keys is its effective weight over the sum of them: f / (f + 4).
            double f = sixteenths / 16.0;
            double expected = KEYS * f / (f + 4);
            assertTrue(Math.abs(kept - expected) <= Math.max(40, expected * 0.1),
                    "at " + sixteenths + "/16 it kept " + kept + " of its " + own + " keys, expected " + expected);
        }
    }

    @Test
    void slotCountIsPrimeAndGrowsWithTheNumberOfServersNotTheirWeights() {
        int small = MaglevTable.slotCount(5);
        int large = MaglevTable.slotCount(41);
        assertTrue(java.math.BigInteger.valueOf(small).isProbablePrime(50), small + " is not prime");
        assertTrue(java.math.BigInteger.valueOf(large).isProbablePrime(50), large + " is not prime");
        assertTrue(small >= 4093 && large > small, small + " " + large);
        assertEquals(small, MaglevTable.slotCount(40));
        assertEquals(small, MaglevTable.build(endpoints(1, 256, 256, 256, 256).toArray(new Endpoint[0])).size());
        assertTrue(MaglevTable.slotCount(1_000_000) <= 131_101);
        assertEquals(0, Arrays.stream(MaglevTable.build(new Endpoint[0]).members()).count());
    }
}
