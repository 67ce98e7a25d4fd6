package io.grapevine.proxy.lb;

/**
 * What a balancer needs to know of a server: nothing of connections, HTTP or the table it lives in.
 * Every method is called on the hot path from any event loop and must be cheap and lock-free.
 */
public interface Endpoint {

    /** Effective weights count in sixteenths of a unit of weight, as HAProxy's do. */
    int WEIGHT_SCALE = 16;

    /** Whether a new request may go here now (up, not drained, not marked down). */
    boolean isAvailable(long nowNanos);

    /** The configured weight, 1..256 (0 is never available). */
    int weight();

    /**
     * The weight to balance with now, in {@link #WEIGHT_SCALE}ths: {@code weight() * WEIGHT_SCALE}, except while
     * the endpoint warms up after it joined or recovered (slow start), when it grows from {@code weight()} (a
     * sixteenth) to that.
     */
    int effectiveWeight(long nowNanos);

    /** Requests in flight on this endpoint, over all event loops. */
    int inFlight();

    /**
     * Whether the endpoint has as many requests in flight as it may take (its {@code max_conn}): balancers pass it
     * over as if it were unavailable. A hint only: the caller still has to win the slot.
     */
    default boolean isFull() {
        return false;
    }

    /**
     * The endpoint's identity, stable across table generations and the same on every proxy that has it (for a
     * server: its pool, host and port). The consistent hash places endpoints by it.
     */
    String key();
}
