package io.grapevine.proxy.lb;

import java.util.List;

/**
 * Picks the endpoint for one request among a pool's endpoints. An instance belongs to one event loop and
 * one table generation: it is created when the table is built (off the event loops) and then used only on
 * its loop, so it may keep plain mutable state. Backup endpoints are considered only when no primary is
 * available.
 *
 * @param <E> the endpoint type
 */
public interface Balancer<E extends Endpoint> {

    /**
     * @param nowNanos {@link System#nanoTime()} of the caller
     * @param excluded endpoints already tried for this request (may be null)
     * @return an available endpoint, or {@code null} when there is none
     */
    E pick(long nowNanos, List<E> excluded);

    /**
     * Picks for a request that carries a hash key (see {@link XxHash64}): a hashing balancer sends every request
     * with one key to the same endpoint while it is available. Others ignore the key.
     *
     * @param key the 64-bit hash of the request's key (its client address, URI, header or cookie value)
     */
    default E pick(long nowNanos, long key, List<E> excluded) {
        return pick(nowNanos, excluded);
    }
}
