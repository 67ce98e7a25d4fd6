package io.grapevine.proxy.lb;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.Comparator;

/**
 * The lookup table of Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, section 3.4): a prime number of slots, each naming an endpoint. Every endpoint has its own
 * permutation of the slots, derived from its {@link Endpoint#key()} alone; endpoints take turns claiming the next
 * free slot of their permutation, a heavier one more turns (one per {@code maxWeight / weight} rounds), so
 * <ul>
 *   <li>each endpoint owns a share of slots proportional to its weight, within one slot;</li>
 *   <li>when one of N endpoints leaves or joins, about 1/N of the slots change owner (a little more: Maglev trades
 *       minimal disruption for even balance), since every other endpoint's permutation stays the same;</li>
 *   <li>the table depends only on the set of keys and weights, not on their order: every proxy that has the same
 *       servers builds the same table.</li>
 * </ul>
 *
 * <p>Immutable once built (off the event loops, with the table generation); shared by every loop.
 */
final class MaglevTable {

    private static final long OFFSET_SEED = 0x4d61676c65764f66L;
    private static final long SKIP_SEED = 0x4d61676c6576536bL;
    /** Slots per unit of the lightest endpoint's weight the table aims for (Maglev suggests M > 100 N). */
    private static final long SLOTS_PER_UNIT = 100;
    private static final long MIN_SLOTS = 4093;
    private static final long MAX_SLOTS = 131_071;

    private static final MaglevTable EMPTY = new MaglevTable(new Endpoint[0], new Endpoint[0]);

    private final Endpoint[] slots;
    /** The endpoints in the table, in key order (for the last-resort scan). */
    private final Endpoint[] members;

    private MaglevTable(Endpoint[] slots, Endpoint[] members) {
        this.slots = slots;
        this.members = members;
    }

    /** The table of {@code endpoints}; those of weight 0 take no slot. */
    static MaglevTable build(Endpoint[] endpoints) {
        Endpoint[] members = Arrays.stream(endpoints).filter(e -> e.weight() > 0)
                .sorted(Comparator.comparing(Endpoint::key)).toArray(Endpoint[]::new);
        int n = members.length;
        if (n == 0) {
            return EMPTY;
        }
        long totalWeight = 0;
        int minWeight = Integer.MAX_VALUE;
        int maxWeight = 0;
        for (Endpoint e : members) {
            totalWeight += e.weight();
            minWeight = Math.min(minWeight, e.weight());
            maxWeight = Math.max(maxWeight, e.weight());
        }
        int m = slotCount(totalWeight, minWeight);
        Endpoint[] slots = new Endpoint[m];
        int[] position = new int[n];
        int[] skip = new int[n];
        long[] credit = new long[n];
        for (int i = 0; i < n; i++) {
            String key = members[i].key();
            position[i] = (int) Long.remainderUnsigned(XxHash64.hash(key, OFFSET_SEED), m);
            skip[i] = (int) Long.remainderUnsigned(XxHash64.hash(key, SKIP_SEED), m - 1) + 1;
        }
        int filled = 0;
        while (true) {
            for (int i = 0; i < n; i++) {
                credit[i] += members[i].weight();
                while (credit[i] >= maxWeight) {
                    credit[i] -= maxWeight;
                    int c = position[i];
                    while (slots[c] != null) {
                        c = next(c, skip[i], m);
                    }
                    slots[c] = members[i];
                    position[i] = next(c, skip[i], m);
                    if (++filled == m) {
                        return new MaglevTable(slots, members);
                    }
                }
            }
        }
    }

    private static int next(int slot, int skip, int m) {
        int c = slot + skip;
        return c >= m ? c - m : c;
    }

    /** A prime near {@link #SLOTS_PER_UNIT} slots per unit of the lightest weight, within the bounds. */
    static int slotCount(long totalWeight, int minWeight) {
        long wanted = Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, SLOTS_PER_UNIT * totalWeight / minWeight));
        return BigInteger.valueOf(wanted - 1).nextProbablePrime().intValue();
    }

    boolean isEmpty() {
        return members.length == 0;
    }

    int size() {
        return slots.length;
    }

    /** The endpoint owning the slot of {@code hash}. */
    Endpoint slot(long hash) {
        return slots[(int) Long.remainderUnsigned(hash, slots.length)];
    }

    /** The endpoints of the table, sorted by key. */
    Endpoint[] members() {
        return members;
    }
}
