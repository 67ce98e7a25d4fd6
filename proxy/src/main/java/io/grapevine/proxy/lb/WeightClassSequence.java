package io.grapevine.proxy.lb;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The turns of a weighted round robin over any number of servers, computed turn by turn instead of tabulated: a
 * cycle of {@code sum(weight) / gcd} turns in which each server has {@code weight / gcd} of them, spread evenly,
 * for the price of a few multiplications per turn and memory proportional to the servers.
 *
 * <p>The servers are grouped by weight (a weight class). Within a class the turns go strictly round, in pool order:
 * the class's {@code r}-th turn is member {@code r mod size}'s. The classes share the cycle through a balanced
 * binary tree: a node with {@code a} turns on its left and {@code b} on its right gives the left its
 * {@code j}-th turn when {@code floor(((j + 1) a + N / 2) / N) > floor((j a + N / 2) / N)}, {@code N = a + b}
 * (Bresenham's line), which interleaves the two sides as evenly as integers allow. So each server's turns come
 * about every {@code length / weight} turns, never in bursts (one server of weight 256 among 9,999 of weight 1 takes
 * every 40th turn or so, not 255 in a row), and a turn costs one step per level of the tree: none when every server
 * has the same weight (then it is strict rotation in pool order, which is also what nginx's smooth weighted round
 * robin gives for equal weights), at most 8 with the 256 possible weights.
 *
 * <p>Immutable; any thread.
 */
final class WeightClassSequence {

    /** The members of each class, heaviest class first, each in pool order. */
    private final Endpoint[][] members;
    /** {@code prefix[c]}: the turns per cycle of classes {@code 0..c-1}; {@code prefix[classes]} is the length. */
    private final long[] prefix;
    private final int length;

    /**
     * @param endpoints the servers; those of weight 0 take no turn
     * @param gcd       the greatest common divisor of the weights (the cycle is reduced by it)
     */
    WeightClassSequence(Endpoint[] endpoints, int gcd) {
        Map<Integer, List<Endpoint>> byWeight = new TreeMap<>((x, y) -> Integer.compare(y, x));
        for (Endpoint e : endpoints) {
            int w = e.weight();
            if (w > 0) {
                byWeight.computeIfAbsent(w / gcd, k -> new ArrayList<>()).add(e);
            }
        }
        members = new Endpoint[byWeight.size()][];
        prefix = new long[byWeight.size() + 1];
        int c = 0;
        for (Map.Entry<Integer, List<Endpoint>> entry : byWeight.entrySet()) {
            members[c] = entry.getValue().toArray(new Endpoint[0]);
            prefix[c + 1] = prefix[c] + (long) entry.getKey() * members[c].length;
            c++;
        }
        length = Math.toIntExact(prefix[c]);
    }

    /** Turns per cycle; 0 when no server has a weight. */
    int length() {
        return length;
    }

    /** The server of turn {@code turn}, {@code 0 <= turn < length()}. */
    Endpoint at(int turn) {
        int lo = 0;
        int hi = members.length;
        long j = turn;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            long n = prefix[hi] - prefix[lo];
            long left = prefix[mid] - prefix[lo];
            long half = n >>> 1;
            long leftBefore = (j * left + half) / n;
            if (((j + 1) * left + half) / n > leftBefore) {
                hi = mid;
                j = leftBefore;
            } else {
                lo = mid;
                j -= leftBefore;
            }
        }
        Endpoint[] m = members[lo];
        return m[(int) (j % m.length)];
    }
}
