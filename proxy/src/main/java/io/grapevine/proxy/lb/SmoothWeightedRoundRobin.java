package io.grapevine.proxy.lb;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Smooth weighted round robin, the algorithm of nginx's upstream module: every pick adds each eligible
 * server's weight to its current weight, takes the largest, and subtracts the total from the winner.
 * Weights 5,1,1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c; equal weights give strict rotation, so
 * 30 requests over 3 servers land 10/10/10. Unavailable servers simply take no part, so the rest share
 * the load in proportion to their weights. The weights are the effective ones (see
 * {@link Endpoint#effectiveWeight}), so a server in slow start takes part with its current share.
 *
 * <p>While every primary is available, picks follow one sequence shared by all event loops
 * ({@link Rotation}: the algorithm's output for the configured weights, precomputed, walked by one atomic
 * counter), so the rotation is global, as a user watching consecutive requests expects, and costs O(1).
 * When the next server in that sequence is unavailable (or already tried), the pick falls back to the
 * algorithm run over the available servers with this loop's own state, which keeps the rest in
 * proportion to their weights. A server warming up (slow start) at a fraction {@code f} of its weight keeps
 * its turn in the sequence with probability {@code f}; a turn it gives up falls back likewise. Either way each
 * server's share is its effective weight over the sum of them (the turns given up are spread in proportion to
 * what is left), and the sequence needs no rebuild as weights ramp.
 *
 * <p>Confined to one event loop (see {@link Balancer}), except the shared {@link Rotation}.
 */
final class SmoothWeightedRoundRobin<E extends Endpoint> implements Balancer<E> {

    /** The precomputed sequence of a pool's primaries and the counter that walks it; shared by all loops. */
    static final class Rotation {
        /** Longest sequence precomputed; pools whose reduced weights sum to more use the per-loop algorithm. */
        private static final int MAX_LENGTH = 4096;
        private final Endpoint[] sequence;
        private final AtomicInteger next = new AtomicInteger();

        Rotation(Endpoint[] primaries) {
            int gcd = 0;
            long total = 0;
            for (Endpoint s : primaries) {
                gcd = gcd(gcd, s.weight());
                total += s.weight();
            }
            if (gcd == 0 || total / gcd > MAX_LENGTH) {
                sequence = new Endpoint[0];
                return;
            }
            int length = (int) (total / gcd);
            sequence = new Endpoint[length];
            int[] current = new int[primaries.length];
            for (int k = 0; k < length; k++) {
                int best = -1;
                for (int i = 0; i < primaries.length; i++) {
                    current[i] += primaries[i].weight() / gcd;
                    if (best < 0 || current[i] > current[best]) {
                        best = i;
                    }
                }
                current[best] -= length;
                sequence[k] = primaries[best];
            }
        }

        Endpoint next() {
            return sequence[(next.getAndIncrement() & Integer.MAX_VALUE) % sequence.length];
        }

        boolean isEmpty() {
            return sequence.length == 0;
        }

        private static int gcd(int a, int b) {
            return b == 0 ? a : gcd(b, a % b);
        }
    }

    private final Endpoint[] primaries;
    private final Endpoint[] backups;
    private final int[] primaryCurrent;
    private final int[] backupCurrent;
    private final Rotation rotation;

    SmoothWeightedRoundRobin(Endpoint[] primaries, Endpoint[] backups, Rotation rotation) {
        this.primaries = primaries;
        this.backups = backups;
        this.primaryCurrent = new int[primaries.length];
        this.backupCurrent = new int[backups.length];
        this.rotation = rotation;
    }

    @Override
    @SuppressWarnings("unchecked") // every endpoint given to this balancer is an E
    public E pick(long nowNanos, List<E> excluded) {
        if (!rotation.isEmpty()) {
            Endpoint s = rotation.next();
            if (Balancers.eligible(s, nowNanos, excluded) && takesTurn(s, nowNanos)) {
                return (E) s;
            }
        }
        Endpoint s = pick(primaries, primaryCurrent, nowNanos, excluded);
        return (E) (s != null || backups.length == 0 ? s : pick(backups, backupCurrent, nowNanos, excluded));
    }

    /** Whether {@code s} takes its turn in the rotation: always when warm, with probability f while warming up. */
    private static boolean takesTurn(Endpoint s, long nowNanos) {
        int effective = s.effectiveWeight(nowNanos);
        int full = s.weight() * Endpoint.WEIGHT_SCALE;
        return effective >= full || ThreadLocalRandom.current().nextInt(full) < effective;
    }

    private static Endpoint pick(Endpoint[] servers, int[] current, long nowNanos, List<? extends Endpoint> excluded) {
        int best = -1;
        int total = 0;
        for (int i = 0; i < servers.length; i++) {
            Endpoint s = servers[i];
            if (!Balancers.eligible(s, nowNanos, excluded)) {
                continue;
            }
            int w = s.effectiveWeight(nowNanos);
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
