package io.grapevine.proxy.lb;

import java.util.List;

/**
 * {@link LeastConnections} for a large pool, in O(log n) per pick: the same choice (the eligible primary with the
 * least {@code (in flight + 1) / effective weight}; ties taken in turn), made from a tournament tree instead of a
 * scan, as HAProxy's {@code fwlc} keeps its servers in a tree ordered by load.
 *
 * <p>Each event loop has its own tree: a leaf per primary holding its load as last seen (a fixed-point
 * {@code (in flight + 1) / effective weight}, exact enough to order any two loads the scan would order; unavailable
 * and full servers hold {@link #UNAVAILABLE}), and each inner node the least load below it. The endpoints report
 * every change of their in-flight count and availability through the pool's {@link LoadWatch}, from whichever
 * thread makes it; before each pick the loop re-reads the endpoints that changed and repositions them, O(log n)
 * each. What changes with time alone (an ejection that runs out, a slow-start ramp that grows) and endpoints that
 * report nothing are caught by re-reading {@link #SWEEP} endpoints per pick in turn, and by checking the load of
 * the endpoint the tree names before taking it: one whose load is not what the tree says is repositioned and the
 * search runs again. Servers already tried by this request are set aside for the search and put back after it.
 *
 * <p>Ties: the search takes the first least-loaded endpoint at or after the one after the last pick, wrapping
 * around, so idle servers of equal weight are taken in turn.
 *
 * <p>Confined to one event loop (see {@link Balancer}); the watch is shared.
 */
final class LeastLoadedTree<E extends Endpoint> implements Balancer<E>, LoadWatch.Changes {

    /** The load of an endpoint that takes no request now (unavailable, or at its max_conn). */
    static final long UNAVAILABLE = Long.MAX_VALUE;
    /** Fraction bits of a load: two loads with weights up to 4096 differ by at least 2^-24 when they differ. */
    private static final int FRACTION_BITS = 24;
    /** Endpoints re-read per pick whatever the watch says. */
    static final int SWEEP = 2;
    /** Searches a pick may repeat after finding a stale leaf, before it scans. */
    private static final int STALE_SEARCHES = 4;

    private final Endpoint[] primaries;
    private final Endpoint[] backups;
    private final LoadWatch watch;
    private final int loop;
    /** Heap layout: node 1 is the root, node {@code k}'s children are {@code 2k} and {@code 2k + 1}. */
    private final long[] tree;
    /** The first leaf: a power of two, at least the number of primaries. */
    private final int leaves;
    private final int[] setAside;
    private final long[] setAsideLoad;
    private long now;
    private int nextTie;
    private int nextSweep;
    /** Where the scan of the backups starts among equals, one further each time (ties in turn, as the scan's). */
    private int nextBackup;

    /**
     * @param tree a tree built by {@link #build} for {@code primaries}, this loop's own copy
     */
    LeastLoadedTree(Endpoint[] primaries, Endpoint[] backups, LoadWatch watch, int loop, long[] tree) {
        this.primaries = primaries;
        this.backups = backups;
        this.watch = watch;
        this.loop = loop;
        this.tree = tree;
        this.leaves = tree.length >>> 1;
        this.setAside = new int[8];
        this.setAsideLoad = new long[8];
    }

    /** The tree of {@code primaries} as they are now. Call after their handles are installed, so no change is lost. */
    static long[] build(Endpoint[] primaries, long nowNanos) {
        int leaves = Integer.highestOneBit(Math.max(1, primaries.length - 1)) << 1;
        long[] tree = new long[2 * leaves];
        for (int i = 0; i < leaves; i++) {
            tree[leaves + i] = i < primaries.length ? load(primaries[i], nowNanos) : UNAVAILABLE;
        }
        for (int node = leaves - 1; node >= 1; node--) {
            tree[node] = Math.min(tree[2 * node], tree[2 * node + 1]);
        }
        return tree;
    }

    /** {@code (in flight + 1) / effective weight} in fixed point, or {@link #UNAVAILABLE}. */
    static long load(Endpoint e, long nowNanos) {
        if (!e.isAvailable(nowNanos) || e.isFull()) {
            return UNAVAILABLE;
        }
        int w = e.effectiveWeight(nowNanos);
        return w <= 0 ? UNAVAILABLE : ((e.inFlight() + 1L) << FRACTION_BITS) / w;
    }

    @Override
    @SuppressWarnings("unchecked") // every endpoint given to this balancer is an E
    public E pick(long nowNanos, List<E> excluded) {
        now = nowNanos;
        watch.drain(loop, this);
        for (int k = 0; k < SWEEP; k++) {
            changed(nextSweep);
            nextSweep = nextSweep + 1 == primaries.length ? 0 : nextSweep + 1;
        }
        Endpoint s = search(excluded);
        if (s != null || backups.length == 0) {
            return (E) s;
        }
        int first = nextBackup;
        nextBackup = first + 1 == backups.length ? 0 : first + 1;
        return (E) LeastConnections.scan(backups, first, nowNanos, excluded);
    }

    /** Repositions endpoint {@code index} at its load now (the watch reports it changed, or its turn to be re-read). */
    @Override
    public void changed(int index) {
        set(index, load(primaries[index], now));
    }

    private Endpoint search(List<? extends Endpoint> excluded) {
        int aside = 0;
        int stale = 0;
        Endpoint found = null;
        while (tree[1] != UNAVAILABLE) {
            int i = firstAtOrAfter(nextTie, tree[1]);
            Endpoint e = primaries[i];
            long load = load(e, now);
            if (load != tree[leaves + i]) {
                set(i, load);
                if (++stale > STALE_SEARCHES) {
                    found = LeastConnections.scan(primaries, i, now, excluded);
                    break;
                }
            } else if (excluded != null && excluded.contains(e)) {
                if (aside == setAside.length) {
                    found = LeastConnections.scan(primaries, i, now, excluded);
                    break;
                }
                setAside[aside] = i;
                setAsideLoad[aside++] = load;
                set(i, UNAVAILABLE);
            } else {
                nextTie = i + 1 == primaries.length ? 0 : i + 1;
                found = e;
                break;
            }
        }
        while (aside > 0) {
            aside--;
            set(setAside[aside], setAsideLoad[aside]);
        }
        return found;
    }

    private void set(int index, long load) {
        int node = leaves + index;
        if (tree[node] == load) {
            return;
        }
        tree[node] = load;
        for (node >>>= 1; node >= 1; node >>>= 1) {
            long least = Math.min(tree[2 * node], tree[2 * node + 1]);
            if (tree[node] == least) {
                return;
            }
            tree[node] = least;
        }
    }

    /** The first leaf at or after {@code from}, wrapping around, whose load is {@code least} (the root's). */
    private int firstAtOrAfter(int from, long least) {
        int node = leaves + from;
        while (tree[node] > least) {
            while ((node & 1) == 1) { // a right child: the next subtree to the right starts above it
                node >>>= 1;
            }
            if (node == 0) { // passed the root: nothing at or after from; the first from the left is
                node = 1;
                break;
            }
            node++;
        }
        while (node < leaves) {
            node = tree[2 * node] <= least ? 2 * node : 2 * node + 1;
        }
        return node - leaves;
    }
}
