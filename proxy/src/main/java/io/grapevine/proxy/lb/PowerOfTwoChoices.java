package io.grapevine.proxy.lb;

import io.grapevine.proxy.table.Server;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Two servers drawn at random, the one with fewer requests in flight per unit of weight wins
 * ("the power of two choices"): nearly as even as leastconn, without scanning every server.
 * Falls back to a scan when the draws hit unavailable servers.
 *
 * <p>Confined to one event loop (see {@link Balancer}).
 */
final class PowerOfTwoChoices implements Balancer {

    private final Server[] primaries;
    private final LeastConnections fallback;

    PowerOfTwoChoices(Server[] primaries, Server[] backups) {
        this.primaries = primaries;
        this.fallback = new LeastConnections(primaries, backups);
    }

    @Override
    public Server pick(long nowNanos, List<Server> excluded) {
        int n = primaries.length;
        if (n > 0) {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            Server a = primaries[random.nextInt(n)];
            Server b = primaries[random.nextInt(n)];
            boolean aOk = Balancers.eligible(a, nowNanos, excluded);
            boolean bOk = Balancers.eligible(b, nowNanos, excluded);
            if (aOk && bOk) {
                long la = (long) a.stats().inFlight.get() * b.weight();
                long lb = (long) b.stats().inFlight.get() * a.weight();
                return la <= lb ? a : b;
            }
            if (aOk) {
                return a;
            }
            if (bOk) {
                return b;
            }
        }
        return fallback.pick(nowNanos, excluded);
    }
}
