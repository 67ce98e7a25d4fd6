package io.grapevine.proxy.lb;

import io.grapevine.proxy.config.Balance;
import java.util.List;

/** Creates a pool's balancers: one per event loop, over the same endpoints. */
public final class Balancers {

    private Balancers() {
    }

    /**
     * The balancers of one pool for {@code loopCount} event loops. State the algorithm shares across loops
     * (round robin's global rotation, the consistent hash's lookup tables) is created once here.
     */
    public static <E extends Endpoint> Balancer<E>[] forLoops(Balance balance, List<E> primaries, List<E> backups,
                                                               int loopCount) {
        Endpoint[] p = primaries.toArray(new Endpoint[0]);
        Endpoint[] b = backups.toArray(new Endpoint[0]);
        SmoothWeightedRoundRobin.Rotation rotation = balance == Balance.ROUNDROBIN || balance.hashes()
                ? new SmoothWeightedRoundRobin.Rotation(p) : null;
        MaglevTable primaryTable = balance.hashes() ? MaglevTable.build(p) : null;
        MaglevTable backupTable = balance.hashes() ? MaglevTable.build(b) : null;
        @SuppressWarnings("unchecked")
        Balancer<E>[] perLoop = new Balancer[loopCount];
        for (int i = 0; i < loopCount; i++) {
            perLoop[i] = switch (balance) {
                case ROUNDROBIN -> new SmoothWeightedRoundRobin<>(p, b, rotation);
                case LEASTCONN -> new LeastConnections<>(p, b);
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
