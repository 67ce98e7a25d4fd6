package io.grapevine.proxy.lb;

import java.util.Arrays;
import java.util.Comparator;

/**
 * The lookup table of Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
 * Balancer", NSDI 2016, section 3.4): a prime number of slots, each naming an endpoint. Every endpoint has its own
 * permutation of the slots, derived from its {@link Endpoint#key()} alone (through {@link Endpoint#keyHash()});
 * endpoints take turns claiming the next free slot of their permutation, a heavier one more turns (one per
 * {@code maxWeight / weight} rounds), so
 * <ul>
 *   <li>each endpoint owns a share of slots proportional to its weight: endpoint {@code i} of weight {@code w} in a
 *       table of {@code m} slots and {@code n} endpoints of total weight {@code W} owns between
 *       {@code m w / W - 2} and {@code m w / W + 1 + n w / W} slots (each owns the floor of its turns, within one
 *       round; the heaviest absorb the rounding of the others), so its share of the keys is within
 *       {@code 2 / m} below and {@code (1 + w / w̄) / m} above its share of the weight ({@code w̄} the average
 *       weight);</li>
 *   <li>when one of N endpoints leaves or joins, about 1/N of the slots change owner (a little more: Maglev trades
 *       minimal disruption for even balance), since every other endpoint's permutation stays the same;</li>
 *   <li>the table depends only on the set of keys and weights, not on their order: every proxy that has the same
 *       servers builds the same table.</li>
 * </ul>
 *
 * <p>Building costs about {@code m ln m} steps for {@code m} slots, whatever the number of endpoints (the last free
 * slots are the hard ones to find): the probes read a bitmap of the taken slots ({@code m / 8} bytes, which stays in
 * the first-level cache), and the last {@link #TAIL_SLOTS} free slots are found by arithmetic instead of probing
 * ({@link #takeFirstFree}). A slot holds the index of its endpoint: the fill writes no object references, which a
 * garbage collector's write barrier would make several times slower for a table this size.
 *
 * <p>Immutable once built (off the event loops, with the table generation); shared by every loop.
 */
final class MaglevTable {

    static final long OFFSET_SEED = 0x4d61676c65764f66L;
    static final long SKIP_SEED = 0x4d61676c6576536bL;
    /**
     * Slots per endpoint the table aims for (Maglev suggests M > 100 N). The size depends on the number of endpoints
     * alone, never on their weights: a change of one endpoint's weight keeps the size and moves about the share of
     * the keys that its share of the weight changed.
     */
    private static final long SLOTS_PER_ENDPOINT = 100;
    /**
     * The sizes a table may have: the largest prime below each power of two from 2^12 to 2^17. A key's slot and
     * every endpoint's permutation depend on the size, so a table whose size changed places nearly every key anew;
     * with these steps a pool keeps its size while it grows or shrinks within a factor of two, and a server that
     * joins or leaves, or whose weight changes, moves about its own share of the keys.
     */
    private static final int[] SIZES = {4093, 8191, 16_381, 32_749, 65_521, 131_071};

    /** The order endpoints take their turns in: by the hash of their keys (then the keys, should two collide). */
    private static final Comparator<Endpoint> KEY_ORDER =
            Comparator.comparingLong(Endpoint::keyHash).thenComparing(Endpoint::key);

    /**
     * Free slots left when the fill stops probing: probing finds each of the last {@code f} free slots after about
     * {@code m / f} probes, most of the work of a fill; {@link #takeFirstFree} finds it with {@code f}
     * multiplications.
     */
    static final int TAIL_SLOTS = 128;
    /** The low bits of a packed hash that hold an index while sorting. */
    private static final long INDEX_MASK = (1 << 20) - 1;

    private static final MaglevTable EMPTY = new MaglevTable(new int[0], new Endpoint[0]);

    /** The index in {@link #members} of each slot's endpoint. */
    private final int[] slots;
    /** The endpoints in the table, in {@link #KEY_ORDER}. */
    private final Endpoint[] members;

    private MaglevTable(int[] slots, Endpoint[] members) {
        this.slots = slots;
        this.members = members;
    }

    /** The table of {@code endpoints}; those of weight 0 take no slot. */
    static MaglevTable build(Endpoint[] endpoints) {
        Endpoint[] members = inKeyOrder(endpoints);
        int n = members.length;
        if (n == 0) {
            return EMPTY;
        }
        int[] weight = new int[n];
        int maxWeight = 0;
        for (int i = 0; i < n; i++) {
            int w = members[i].weight();
            weight[i] = w;
            maxWeight = Math.max(maxWeight, w);
        }
        int m = slotCount(n);
        int[] slots = new int[m];
        long[] taken = new long[(m + 63) >>> 6];
        int[] position = new int[n];
        int[] skip = new int[n];
        for (int i = 0; i < n; i++) {
            long h = members[i].keyHash();
            position[i] = (int) Long.remainderUnsigned(XxHash64.rehash(h, OFFSET_SEED), m);
            skip[i] = (int) Long.remainderUnsigned(XxHash64.rehash(h, SKIP_SEED), m - 1) + 1;
        }
        int[] credit = new int[n];
        int probing = m - Math.min(m, TAIL_SLOTS);
        int[] free = null;
        int filled = 0;
        while (true) {
            for (int i = 0; i < n; i++) {
                credit[i] += weight[i];
                while (credit[i] >= maxWeight) {
                    credit[i] -= maxWeight;
                    int c;
                    if (filled < probing) {
                        c = position[i];
                        while ((taken[c >>> 6] & 1L << c) != 0) {
                            c = next(c, skip[i], m);
                        }
                        taken[c >>> 6] |= 1L << c;
                    } else {
                        if (free == null) {
                            free = freeSlots(taken, m, m - filled);
                        }
                        c = takeFirstFree(free, m - filled, position[i], inverse(skip[i], m), m);
                    }
                    slots[c] = i;
                    position[i] = next(c, skip[i], m);
                    if (++filled == m) {
                        return new MaglevTable(slots, members);
                    }
                }
            }
        }
    }

    /**
     * Which of the {@code count} free slots in {@code free} the permutation at {@code position}, stepping by the
     * inverse of {@code inverseSkip}, reaches first: the one fewest steps away, {@code (slot - position) / skip mod m}
     * ({@code m} is prime). Probing would find the same slot. Removes it from {@code free} and returns it.
     */
    private static int takeFirstFree(int[] free, int count, int position, long inverseSkip, int m) {
        int best = 0;
        long bestSteps = Long.MAX_VALUE;
        for (int k = 0; k < count; k++) {
            int delta = free[k] - position;
            long steps = (delta < 0 ? delta + m : delta) * inverseSkip % m;
            if (steps < bestSteps) {
                bestSteps = steps;
                best = k;
            }
        }
        int slot = free[best];
        free[best] = free[count - 1];
        return slot;
    }

    private static int[] freeSlots(long[] taken, int m, int count) {
        int[] free = new int[count];
        int k = 0;
        for (int c = 0; c < m; c++) {
            if ((taken[c >>> 6] & 1L << c) == 0) {
                free[k++] = c;
            }
        }
        return free;
    }

    /** {@code x} such that {@code a x = 1 mod m}, for {@code 0 < a < m}, {@code m} prime (extended Euclid). */
    static long inverse(long a, long m) {
        long r0 = m;
        long r1 = a;
        long t0 = 0;
        long t1 = 1;
        while (r1 != 0) {
            long q = r0 / r1;
            long r = r0 - q * r1;
            r0 = r1;
            r1 = r;
            long t = t0 - q * t1;
            t0 = t1;
            t1 = t;
        }
        return t0 < 0 ? t0 + m : t0;
    }

    /**
     * The endpoints of weight above 0 in {@link #KEY_ORDER}. Sorted as primitives: each hash with its low bits
     * replaced by the endpoint's index, then the rare runs that agree on the rest of their hashes by the comparator.
     */
    private static Endpoint[] inKeyOrder(Endpoint[] endpoints) {
        int n = 0;
        for (Endpoint e : endpoints) {
            if (e.weight() > 0) {
                n++;
            }
        }
        Endpoint[] weighted = new Endpoint[n];
        n = 0;
        for (Endpoint e : endpoints) {
            if (e.weight() > 0) {
                weighted[n++] = e;
            }
        }
        if (n > INDEX_MASK + 1) {
            Arrays.sort(weighted, KEY_ORDER);
            return weighted;
        }
        long[] packed = new long[n];
        for (int i = 0; i < n; i++) {
            packed[i] = weighted[i].keyHash() & ~INDEX_MASK | i;
        }
        Arrays.sort(packed);
        Endpoint[] sorted = new Endpoint[n];
        for (int i = 0; i < n; i++) {
            sorted[i] = weighted[(int) (packed[i] & INDEX_MASK)];
        }
        for (int i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && (packed[j] & ~INDEX_MASK) == (packed[i] & ~INDEX_MASK); j++) {
                // a run of hashes equal above the index bits
            }
            if (j - i > 1) {
                Arrays.sort(sorted, i, j, KEY_ORDER);
            }
        }
        return sorted;
    }

    private static int next(int slot, int skip, int m) {
        int c = slot + skip;
        return c >= m ? c - m : c;
    }

    /**
     * The smallest of {@link #SIZES} with at least {@link #SLOTS_PER_ENDPOINT} slots per endpoint of weight above 0,
     * or the largest; whatever the weights.
     */
    static int slotCount(int endpoints) {
        long wanted = SLOTS_PER_ENDPOINT * endpoints;
        for (int size : SIZES) {
            if (size >= wanted) {
                return size;
            }
        }
        return SIZES[SIZES.length - 1];
    }

    boolean isEmpty() {
        return members.length == 0;
    }

    int size() {
        return slots.length;
    }

    /** The endpoint owning the slot of {@code hash}. */
    Endpoint slot(long hash) {
        return members[slots[(int) Long.remainderUnsigned(hash, slots.length)]];
    }

    /** The endpoints of the table, in the order of their keys' hashes (the last-resort scan's order). */
    Endpoint[] members() {
        return members;
    }
}
