package io.grapevine.proxy.lb;

/**
 * What a balancer needs to know of a server: nothing of connections, HTTP or the table it lives in.
 * Every method is called on the hot path from any event loop and must be cheap and lock-free.
 */
public interface Endpoint {

    /** Whether a new request may go here now (up, not drained, not marked down). */
    boolean isAvailable(long nowNanos);

    /** The weight balancing uses now, 1..256 (0 is never available). */
    int weight();

    /** Requests in flight on this endpoint, over all event loops. */
    int inFlight();
}
