package io.grapevine.proxy.lb;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Two servers drawn at random, the one with fewer requests in flight per unit of (effective) weight wins, counted
 * as {@link LeastConnections} does
 * ("the power of two choices"): nearly as even as leastconn, without scanning every server.
 * When both draws hit servers that cannot take the request, a pool of more than {@link LeastConnections#SCAN_LIMIT}
 * primaries draws again, up to {@link #PAIRS} pairs in all; then (at once in a smaller pool) it falls back to
 * leastconn's scan.
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class PowerOfTwoChoices<E extends Endpoint> implements Balancer<E> {

    /** Pairs a large pool draws before it scans. */
    static final int PAIRS = 4;

    private final Endpoint[] primaries;
    private final int pairs;
    private final LeastConnections<E> fallback;

    PowerOfTwoChoices(Endpoint[] primaries, Endpoint[] backups) {
        this.primaries = primaries;
        this.pairs = primaries.length > LeastConnections.SCAN_LIMIT ? PAIRS : 1;
        this.fallback = new LeastConnections<>(primaries, backups);
    }

    @Override
    @SuppressWarnings("unchecked") // every endpoint given to this balancer is an E
    public E pick(long nowNanos, List<E> excluded) {
        int n = primaries.length;
        for (int pair = 0; pair < pairs && n > 0; pair++) {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            Endpoint a = primaries[random.nextInt(n)];
            Endpoint b = primaries[random.nextInt(n)];
            boolean aOk = Balancers.eligible(a, nowNanos, excluded);
            boolean bOk = Balancers.eligible(b, nowNanos, excluded);
            if (aOk && bOk) {
                long la = (a.inFlight() + 1L) * b.effectiveWeight(nowNanos);
                long lb = (b.inFlight() + 1L) * a.effectiveWeight(nowNanos);
                return (E) (la <= lb ? a : b);
            }
            if (aOk) {
                return (E) a;
            }
            if (bOk) {
                return (E) b;
            }
        }
        return fallback.pick(nowNanos, excluded);
    }
}
