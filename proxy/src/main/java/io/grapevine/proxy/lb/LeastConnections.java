package io.grapevine.proxy.lb;

import io.grapevine.proxy.table.Server;
import java.util.List;

/**
 * Fewest requests in flight relative to weight (HAProxy's leastconn, counted over all event loops);
 * among equals the search starts one position further each time, so ties rotate.
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class LeastConnections implements Balancer {

    private final Server[] primaries;
    private final Server[] backups;
    private int start;

    LeastConnections(Server[] primaries, Server[] backups) {
        this.primaries = primaries;
        this.backups = backups;
    }

    @Override
    public Server pick(long nowNanos, List<Server> excluded) {
        Server s = pick(primaries, nowNanos, excluded);
        return s != null || backups.length == 0 ? s : pick(backups, nowNanos, excluded);
    }

    private Server pick(Server[] servers, long nowNanos, List<Server> excluded) {
        int n = servers.length;
        if (n == 0) {
            return null;
        }
        int first = start++ % n;
        if (start < 0) {
            start = 0;
        }
        Server best = null;
        long bestLoad = 0;
        int bestWeight = 1;
        for (int k = 0; k < n; k++) {
            Server s = servers[(first + k) % n];
            if (!Balancers.eligible(s, nowNanos, excluded)) {
                continue;
            }
            long load = s.stats().inFlight.get();
            int w = s.weight();
            // load / w < bestLoad / bestWeight, without division
            if (best == null || load * bestWeight < bestLoad * w) {
                best = s;
                bestLoad = load;
                bestWeight = w;
            }
        }
        return best;
    }
}
