package io.grapevine.proxy.lb;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.table.Server;
import java.util.List;

/** Creates the balancer of a pool for one event loop. */
public final class Balancers {

    private Balancers() {
    }

    public static Balancer create(Balance balance, Server[] primaries, Server[] backups) {
        return switch (balance) {
            case ROUNDROBIN -> new SmoothWeightedRoundRobin(primaries, backups);
            case LEASTCONN -> new LeastConnections(primaries, backups);
            case RANDOM -> new PowerOfTwoChoices(primaries, backups);
        };
    }

    static boolean eligible(Server s, long nowNanos, List<Server> excluded) {
        return s.isAvailable(nowNanos) && (excluded == null || !excluded.contains(s));
    }
}
