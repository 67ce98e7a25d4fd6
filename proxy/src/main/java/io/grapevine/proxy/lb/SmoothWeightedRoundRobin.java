package io.grapevine.proxy.lb;

import io.grapevine.proxy.table.Server;
import java.util.List;

/**
 * Smooth weighted round robin, the algorithm of nginx's upstream module: every pick adds each eligible
 * server's weight to its current weight, takes the largest, and subtracts the total from the winner.
 * Weights 5,1,1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c; equal weights give strict rotation, so
 * 30 requests over 3 servers land 10/10/10. Unavailable servers simply take no part, so the rest share
 * the load in proportion to their weights. O(servers) per pick.
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class SmoothWeightedRoundRobin implements Balancer {

    private final Server[] primaries;
    private final Server[] backups;
    private final int[] primaryCurrent;
    private final int[] backupCurrent;

    SmoothWeightedRoundRobin(Server[] primaries, Server[] backups) {
        this.primaries = primaries;
        this.backups = backups;
        this.primaryCurrent = new int[primaries.length];
        this.backupCurrent = new int[backups.length];
    }

    @Override
    public Server pick(long nowNanos, List<Server> excluded) {
        Server s = pick(primaries, primaryCurrent, nowNanos, excluded);
        return s != null || backups.length == 0 ? s : pick(backups, backupCurrent, nowNanos, excluded);
    }

    private static Server pick(Server[] servers, int[] current, long nowNanos, List<Server> excluded) {
        int best = -1;
        int total = 0;
        for (int i = 0; i < servers.length; i++) {
            Server s = servers[i];
            if (!Balancers.eligible(s, nowNanos, excluded)) {
                continue;
            }
            int w = s.weight();
            current[i] += w;
            total += w;
            if (best < 0 || current[i] > current[best]) {
                best = i;
            }
        }
        if (best < 0) {
            return null;
        }
        current[best] -= total;
        return servers[best];
    }
}
