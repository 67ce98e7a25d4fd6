package io.grapevine.proxy.lb;

import java.util.List;

/**
 * Fewest requests in flight relative to weight (HAProxy's leastconn, counted over all event loops): the server
 * with the least {@code (in flight + 1) / effective weight}, as HAProxy's {@code fwlc} orders them, so that a
 * heavier server is preferred among idle ones and a server in slow start takes new requests only as others
 * fill up. Among equals the search starts one position further each time, so ties rotate.
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class LeastConnections<E extends Endpoint> implements Balancer<E> {

    private final Endpoint[] primaries;
    private final Endpoint[] backups;
    private int start;

    LeastConnections(Endpoint[] primaries, Endpoint[] backups) {
        this.primaries = primaries;
        this.backups = backups;
    }

    @Override
    @SuppressWarnings("unchecked") // every endpoint given to this balancer is an E
    public E pick(long nowNanos, List<E> excluded) {
        Endpoint s = pick(primaries, nowNanos, excluded);
        return (E) (s != null || backups.length == 0 ? s : pick(backups, nowNanos, excluded));
    }

    private Endpoint pick(Endpoint[] servers, long nowNanos, List<? extends Endpoint> excluded) {
        int n = servers.length;
        if (n == 0) {
            return null;
        }
        int first = start++ % n;
        if (start < 0) {
            start = 0;
        }
        Endpoint best = null;
        long bestLoad = 0;
        int bestWeight = 1;
        for (int k = 0; k < n; k++) {
            Endpoint s = servers[(first + k) % n];
            if (!Balancers.eligible(s, nowNanos, excluded)) {
                continue;
            }
            long load = s.inFlight() + 1L;
            int w = s.effectiveWeight(nowNanos);
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
