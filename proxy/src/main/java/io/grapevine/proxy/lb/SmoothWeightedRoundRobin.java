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
 * ({@link Rotation}: the order of turns for the configured weights, walked by one atomic counter), so the
 * rotation is global, as a user watching consecutive requests expects, and costs O(1) whatever the size of the
 * pool. When the next server in that sequence is unavailable (or already tried), in a pool of up to
 * {@link #SCAN_LIMIT} primaries the pick falls back to the algorithm run over the available servers with this
 * loop's own state, which keeps the rest in proportion to their weights; a larger pool first draws up to
 * {@link #DRAWS} turns of the sequence at random, each of which names a server with probability proportional to its
 * weight, so the turns of the unavailable servers spread over the others in proportion to their weights too, at
 * O(1) per draw, and runs the algorithm (O(n)) only when every draw failed (most of the pool is unavailable).
 * A server warming up (slow start) at a fraction {@code f} of its weight keeps a turn it is given with probability
 * {@code f}; a turn it gives up goes on likewise. Either way each server's share is its effective weight over the
 * sum of them (the turns given up are spread in proportion to what is left), and the sequence needs no rebuild as
 * weights ramp.
 *
 * <p>Confined to one event loop (see {@link Balancer}), except the shared {@link Rotation}.
 */
final class SmoothWeightedRoundRobin<E extends Endpoint> implements Balancer<E> {

    /** Primaries up to which a turn the sequence cannot give goes straight to the per-loop algorithm. */
    static final int SCAN_LIMIT = 64;
    /** Random turns a larger pool draws before it runs the per-loop algorithm. */
    static final int DRAWS = 8;

    /**
     * The order of turns of a pool's primaries, each {@code weight / gcd} times per cycle, and the counter that walks
     * it; shared by all loops. Small pools with several weights get nginx's own sequence, precomputed (its cost is
     * the length of the cycle times the number of servers, kept under {@link #MAX_WORK}); others, and all pools whose
     * servers have one weight, get a {@link WeightClassSequence}, which computes each turn (for one weight it is the
     * same strict rotation).
     *
     * <p>The counter may outlive the rotation: the pool's next generation walks its own sequence on with it instead
     * of starting again at the first server, so a pool that changes more often than it serves one request per server
     * (a large pool under membership churn) still reaches every server, not only those at the front of its list.
     */
    static final class Rotation {
        /** Most work (turns times servers) spent precomputing nginx's sequence. */
        private static final long MAX_WORK = 1 << 20;
        private final Endpoint[] sequence;
        private final WeightClassSequence classes;
        private final int length;
        private final AtomicInteger next;

        /** A rotation whose counter starts at 0 (the first server's turn). */
        Rotation(Endpoint[] primaries) {
            this(primaries, new AtomicInteger());
        }

        /** @param turns the counter that walks the sequence, carried on from the pool's last generation */
        Rotation(Endpoint[] primaries, AtomicInteger turns) {
            this.next = turns;
            int gcd = 0;
            long total = 0;
            int firstWeight = -1;
            boolean oneWeight = true;
            for (Endpoint s : primaries) {
                int w = s.weight();
                gcd = gcd(gcd, w);
                total += w;
                if (w > 0) {
                    oneWeight &= firstWeight < 0 || w == firstWeight;
                    firstWeight = w;
                }
            }
            if (gcd == 0) {
                sequence = null;
                classes = null;
                length = 0;
            } else if (!oneWeight && total / gcd * primaries.length <= MAX_WORK) {
                sequence = nginxSequence(primaries, gcd, (int) (total / gcd));
                classes = null;
                length = sequence.length;
            } else {
                sequence = null;
                classes = new WeightClassSequence(primaries, gcd);
                length = classes.length();
            }
        }

        /** nginx's smooth weighted round robin run once over a whole cycle. */
        private static Endpoint[] nginxSequence(Endpoint[] primaries, int gcd, int length) {
            Endpoint[] sequence = new Endpoint[length];
            int[] weight = new int[primaries.length];
            for (int i = 0; i < primaries.length; i++) {
                weight[i] = primaries[i].weight() / gcd;
            }
            int[] current = new int[primaries.length];
            for (int k = 0; k < length; k++) {
                int best = -1;
                for (int i = 0; i < primaries.length; i++) {
                    current[i] += weight[i];
                    if (best < 0 || current[i] > current[best]) {
                        best = i;
                    }
                }
                current[best] -= length;
                sequence[k] = primaries[best];
            }
            return sequence;
        }

        /** The server of the next turn. */
        Endpoint next() {
            return at((next.getAndIncrement() & Integer.MAX_VALUE) % length);
        }

        /** The server of a turn drawn at random: each server with probability proportional to its weight. */
        Endpoint random() {
            return at(ThreadLocalRandom.current().nextInt(length));
        }

        private Endpoint at(int turn) {
            return sequence != null ? sequence[turn] : classes.at(turn);
        }

        boolean isEmpty() {
            return length == 0;
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
            if (primaries.length > SCAN_LIMIT) {
                for (int draw = 0; draw < DRAWS; draw++) {
                    s = rotation.random();
                    if (Balancers.eligible(s, nowNanos, excluded) && takesTurn(s, nowNanos)) {
                        return (E) s;
                    }
                }
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
