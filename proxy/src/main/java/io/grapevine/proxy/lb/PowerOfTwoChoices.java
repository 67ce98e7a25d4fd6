package io.grapevine.proxy.lb;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Two servers drawn at random, the one with fewer requests in flight per unit of (effective) weight wins, counted
 * as {@link LeastConnections} does
 * ("the power of two choices"): nearly as even as leastconn, without scanning every server.
 * Falls back to a scan when the draws hit unavailable servers.
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class PowerOfTwoChoices<E extends Endpoint> implements Balancer<E> {

    private final Endpoint[] primaries;
    private final LeastConnections<E> fallback;

    PowerOfTwoChoices(Endpoint[] primaries, Endpoint[] backups) {
        this.primaries = primaries;
        this.fallback = new LeastConnections<>(primaries, backups);
    }

    @Override
    @SuppressWarnings("unchecked") // every endpoint given to this balancer is an E
    public E pick(long nowNanos, List<E> excluded) {
        int n = primaries.length;
        if (n > 0) {
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
