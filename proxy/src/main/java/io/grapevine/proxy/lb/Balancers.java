package io.grapevine.proxy.lb;

import io.grapevine.proxy.config.Balance;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** Creates a pool's balancers: one per event loop, over the same endpoints. */
public final class Balancers {

    private Balancers() {
    }

    /**
     * The balancers of one pool for {@code loopCount} event loops. State the algorithm shares across loops
     * (round robin's global rotation, the consistent hash's lookup tables, leastconn's {@link LoadWatch}) is created
     * once here. Installs the endpoints' load handles ({@link Endpoint#watchLoad}): those of the primaries of a
     * large leastconn pool, none for the others.
     */
    public static <E extends Endpoint> Balancer<E>[] forLoops(Balance balance, List<E> primaries, List<E> backups,
                                                               int loopCount) {
        return forLoops(balance, primaries, backups, loopCount, new AtomicInteger());
    }

    /**
     * As {@link #forLoops(Balance, List, List, int)}, for a pool that lives on from generation to generation:
     * {@code turns} walks its round robin (and the round robin of its requests without a hash key), and goes on from
     * where the pool's last generation left it.
     */
    public static <E extends Endpoint> Balancer<E>[] forLoops(Balance balance, List<E> primaries, List<E> backups,
                                                               int loopCount, AtomicInteger turns) {
        Endpoint[] p = primaries.toArray(new Endpoint[0]);
        Endpoint[] b = backups.toArray(new Endpoint[0]);
        boolean tree = balance == Balance.LEASTCONN && p.length > LeastConnections.SCAN_LIMIT;
        LoadWatch watch = tree ? new LoadWatch(p.length, loopCount) : null;
        for (int i = 0; i < p.length; i++) {
            p[i].watchLoad(tree ? watch.handle(i) : null);
        }
        for (Endpoint e : b) {
            e.watchLoad(null);
        }
        long[] loads = tree ? LeastLoadedTree.build(p, System.nanoTime()) : null;
        SmoothWeightedRoundRobin.Rotation rotation = balance == Balance.ROUNDROBIN || balance.hashes()
                ? new SmoothWeightedRoundRobin.Rotation(p, turns) : null;
        MaglevTable primaryTable = balance.hashes() ? MaglevTable.build(p) : null;
        MaglevTable backupTable = balance.hashes() ? MaglevTable.build(b) : null;
        @SuppressWarnings("unchecked")
        Balancer<E>[] perLoop = new Balancer[loopCount];
        for (int i = 0; i < loopCount; i++) {
            perLoop[i] = switch (balance) {
                case ROUNDROBIN -> new SmoothWeightedRoundRobin<>(p, b, rotation);
                case LEASTCONN -> tree ? new LeastLoadedTree<>(p, b, watch, i, loads.clone())
                        : new LeastConnections<>(p, b);
                case P2C -> new PowerOfTwoChoices<>(p, b);
                case SOURCE, URI, HEADER, COOKIE -> new ConsistentHash<E>(primaryTable, backupTable,
                        new SmoothWeightedRoundRobin<>(p, b, rotation));
            };
        }
        return perLoop;
    }

    /** One balancer (a single event loop). */
    public static <E extends Endpoint> Balancer<E> create(Balance balance, List<E> primaries, List<E> backups) {
        return forLoops(balance, primaries, backups, 1)[0];
    }

    /** Available, not full (see {@link Endpoint#isFull}) and not tried already by this request. */
    static boolean eligible(Endpoint e, long nowNanos, List<? extends Endpoint> excluded) {
        return e.isAvailable(nowNanos) && !e.isFull() && (excluded == null || !excluded.contains(e));
    }
}
