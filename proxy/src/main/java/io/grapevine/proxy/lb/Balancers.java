package io.grapevine.proxy.lb;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.table.Server;
import java.util.List;

/** Creates the balancer of a pool for one event loop. */
public final class Balancers {

    private Balancers() {
    }

    /** State a pool's balancers share across event loops; create one per pool and table generation. */
    public static Object sharedState(Balance balance, Server[] primaries) {
        return balance == Balance.ROUNDROBIN ? new SmoothWeightedRoundRobin.Rotation(primaries) : null;
    }

    /** The balancer of one event loop; {@code shared} comes from {@link #sharedState} for the same pool. */
    public static Balancer create(Balance balance, Server[] primaries, Server[] backups, Object shared) {
        return switch (balance) {
            case ROUNDROBIN -> new SmoothWeightedRoundRobin(primaries, backups,
                    (SmoothWeightedRoundRobin.Rotation) shared);
            case LEASTCONN -> new LeastConnections(primaries, backups);
            case RANDOM -> new PowerOfTwoChoices(primaries, backups);
        };
    }

    static boolean eligible(Server s, long nowNanos, List<Server> excluded) {
        return s.isAvailable(nowNanos) && (excluded == null || !excluded.contains(s));
    }
}
