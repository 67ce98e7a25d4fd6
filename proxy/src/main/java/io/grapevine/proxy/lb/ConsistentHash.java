package io.grapevine.proxy.lb;

import java.util.List;

/**
 * Hash balancing (HAProxy's {@code balance source | uri | hdr | ... } with {@code hash-type consistent}): a request
 * with key {@code k} goes to the owner of {@code k}'s slot in the pool's {@link MaglevTable}. When that server is not
 * available (down, draining, already tried), the key goes to its next choice: the owner of the slot of
 * {@code rehash(k, 1)}, then {@code rehash(k, 2)}, and so on. Each key has its own order, so the keys of an unavailable
 * server spread over the others in proportion to their weights, and the keys of available servers never move.
 *
 * <p>Slow start: a server warming up at a fraction {@code f} of its weight keeps a key only if the key's own
 * uniform draw (a function of the key, so the same every time) is below {@code f}; the others take their next
 * choice. As {@code f} grows to 1 the server gets its keys back, each for good, in proportion to its ramp.
 *
 * <p>A request without a key (no such header or cookie) is balanced by round robin over the pool.
 *
 * <p>Confined to one event loop (see {@link Balancer}); the tables are shared and immutable.
 */
final class ConsistentHash<E extends Endpoint> implements Balancer<E> {

    /** Further choices tried in the table before a scan of the members decides. */
    private static final int MAX_PROBES = 32;
    private static final long WARM_DRAW = -1;

    private final MaglevTable primaries;
    private final MaglevTable backups;
    private final Balancer<E> keyless;

    ConsistentHash(MaglevTable primaries, MaglevTable backups, Balancer<E> keyless) {
        this.primaries = primaries;
        this.backups = backups;
        this.keyless = keyless;
    }

    @Override
    public E pick(long nowNanos, List<E> excluded) {
        return keyless.pick(nowNanos, excluded);
    }

    @Override
    @SuppressWarnings("unchecked") // every endpoint given to this balancer is an E
    public E pick(long nowNanos, long key, List<E> excluded) {
        Endpoint e = lookup(primaries, key, nowNanos, excluded);
        return (E) (e != null || backups.isEmpty() ? e : lookup(backups, key, nowNanos, excluded));
    }

    /** The first available endpoint in {@code key}'s order of preference over {@code table}, or null. */
    static Endpoint lookup(MaglevTable table, long key, long nowNanos, List<? extends Endpoint> excluded) {
        if (table.isEmpty()) {
            return null;
        }
        long h = key;
        for (int probe = 0; probe < MAX_PROBES; probe++) {
            if (probe > 0) {
                h = XxHash64.rehash(key, probe);
            }
            Endpoint e = table.slot(h);
            if (Balancers.eligible(e, nowNanos, excluded) && keepsWhileWarming(e, h, nowNanos)) {
                return e;
            }
        }
        // Nearly everything is unavailable (or warming up): scan the members from the key's place, in key order.
        Endpoint[] members = table.members();
        int start = (int) Long.remainderUnsigned(key, members.length);
        for (int k = 0; k < members.length; k++) {
            Endpoint e = members[(start + k) % members.length];
            if (Balancers.eligible(e, nowNanos, excluded)) {
                return e;
            }
        }
        return null;
    }

    /** Whether a warming-up endpoint keeps the key whose current choice hashed to {@code h}. */
    private static boolean keepsWhileWarming(Endpoint e, long h, long nowNanos) {
        int effective = e.effectiveWeight(nowNanos);
        long full = (long) e.weight() * Endpoint.WEIGHT_SCALE;
        if (effective >= full) {
            return true;
        }
        long draw = XxHash64.rehash(h, WARM_DRAW) >>> 31; // uniform in [0, 2^33)
        return draw * full < (long) effective << 33;
    }
}
