package io.grapevine.proxy.lb;

import java.util.List;

/**
 * Fewest requests in flight relative to weight (HAProxy's leastconn, counted over all event loops): the server
 * with the least {@code (in flight + 1) / effective weight}, as HAProxy's {@code fwlc} orders them, so that a
 * heavier server is preferred among idle ones and a server in slow start takes new requests only as others
 * fill up. Among equals the search starts one position further each time, so ties rotate.
 *
 * <p>This is the scan, O(n) per pick, for pools of up to {@link #SCAN_LIMIT} primaries, where it is the cheapest;
 * larger pools get {@link LeastLoadedTree}, which makes the same choice in O(log n).
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class LeastConnections<E extends Endpoint> implements Balancer<E> {

    /**
     * Primaries up to which a pick scans them all: about 10 ns a server, against a few tens of nanoseconds for a
     * pick from {@link LeastLoadedTree} whatever the size of the pool (JMH, {@code PickBenchmark}, loaded machine).
     */
    static final int SCAN_LIMIT = 8;

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
        int first = start++;
        if (start < 0) {
            start = 0;
        }
        Endpoint s = scan(primaries, first, nowNanos, excluded);
        return (E) (s != null || backups.length == 0 ? s : scan(backups, first, nowNanos, excluded));
    }

    /**
     * The eligible server of {@code servers} with the least {@code (in flight + 1) / effective weight}, the first of
     * equals from position {@code first % servers.length} on (wrapping around); {@code null} when none is eligible.
     */
    static Endpoint scan(Endpoint[] servers, int first, long nowNanos, List<? extends Endpoint> excluded) {
        int n = servers.length;
        if (n == 0) {
            return null;
        }
        first %= n;
        Endpoint best = null;
        long bestLoad = 0;
        int bestWeight = 1;
        for (int k = 0; k < n; k++) {
            int i = first + k < n ? first + k : first + k - n;
            Endpoint s = servers[i];
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
