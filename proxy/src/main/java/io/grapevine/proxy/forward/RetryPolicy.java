package io.grapevine.proxy.forward;

/**
 * The one place that decides what a failed attempt leads to: another attempt, or which answer.
 *
 * <p>RFC 9110 section 9.2.2: a request whose connection attempt failed never left the proxy and may go to
 * another server whatever its method. One that may have reached a server is replayed only if its method is
 * idempotent, none of its body has left the proxy and no interim response was relayed for it. A keep-alive
 * connection that the server closed just as it was reused says nothing about the server: the request goes
 * again to the same server on a new connection, without counting as a retry (HAProxy and nginx do the
 * same). A response that has started towards the client can only be cut off.
 *
 * <p>Retries on another server also need the pool's {@link RetryBudget}: when it is spent, the request is answered
 * as if its retries were exhausted, so that a pool whose servers all fail gets its requests plus a fraction, not
 * three times its requests. The stale keep-alive retry needs no budget: it says nothing about the server and
 * costs it no extra request (the one it was sent never reached it).
 *
 * <p>A connect that failed because the proxy had no file descriptor or local port for it ({@link Failure#NO_SOCKET})
 * is answered 503 at once, not retried: the proxy lacks the resource, not the server, and a connect to another server
 * would need a socket too (HAProxy answers such a request 503, termination state {@code SC}). Nor does it count
 * against the server.
 *
 * <p>Statuses (RFC 9110 section 15.6): no server could take the request, 503; a server failed or answered
 * garbage, 502; a server did not answer in time, 504. Pure logic, no I/O: any thread.
 */
public final class RetryPolicy {

    /** What to do after a failed attempt. */
    public enum Action {
        /**
         * Send the request again to the same server on a fresh connection (a stale keep-alive); to another if that
         * server takes no requests now (maintenance, down, removed), which the exchange checks.
         */
        RETRY_SAME_SERVER,
        /** Send the request to another server of the pool. */
        RETRY_OTHER_SERVER,
        /** Give up and answer {@link Decision#status()}. */
        ANSWER,
        /** The response had started towards the client: cut it off. */
        ABORT_RESPONSE
    }

    /**
     * An action and, for {@link Action#ANSWER} and {@link Action#ABORT_RESPONSE}, the status it stands for.
     *
     * @param retryDenied the request would have been retried but the retry budget was spent
     */
    public record Decision(Action action, int status, boolean retryDenied) {
        static final Decision SAME_SERVER = new Decision(Action.RETRY_SAME_SERVER, 0);
        static final Decision OTHER_SERVER = new Decision(Action.RETRY_OTHER_SERVER, 0);

        public Decision(Action action, int status) {
            this(action, status, false);
        }
    }

    /** What is known of the request and the attempt when it failed. */
    public record Facts(Failure failure, boolean reusedConnection, boolean responseStarted, boolean idempotent,
                        boolean requestBytesCommitted, int retriesMade) {
    }

    private final int maxRetries;

    /** @param maxRetries further servers tried after the first attempt (limits.retries) */
    public RetryPolicy(int maxRetries) {
        this.maxRetries = maxRetries;
    }

    /** The decision with an unlimited retry budget. */
    public Decision decide(Facts f) {
        return decide(f, null, 0);
    }

    /**
     * @param budget   the pool's retry budget on this event loop, from which a retry on another server is withdrawn;
     *                 {@code null}: unlimited
     * @param nowNanos {@link System#nanoTime()} now
     */
    Decision decide(Facts f, RetryBudget budget, long nowNanos) {
        if (f.responseStarted()) {
            return new Decision(Action.ABORT_RESPONSE, 502);
        }
        if (f.failure() == Failure.NO_SOCKET) {
            return new Decision(Action.ANSWER, statusFor(Failure.NO_SOCKET));
        }
        if (isStaleKeepAlive(f.failure(), f.reusedConnection()) && mayReplay(f)) {
            return Decision.SAME_SERVER;
        }
        boolean retryable = f.failure().beforeSending()
                || ((f.failure() == Failure.CLOSED_EARLY || f.failure() == Failure.UNREACHABLE) && mayReplay(f));
        if (retryable && f.retriesMade() < maxRetries) {
            if (budget == null || budget.tryWithdraw(nowNanos)) {
                return Decision.OTHER_SERVER;
            }
            return new Decision(Action.ANSWER, statusFor(f.failure()), true);
        }
        return new Decision(Action.ANSWER, statusFor(f.failure()));
    }

    /**
     * Whether the failure says something about the server's health (passive health checks): everything
     * but a reused keep-alive connection closed before answering, which is the normal race with the
     * server's keep-alive timeout, and a socket the proxy had no descriptor or local port for.
     */
    public static boolean countsAgainstServer(Failure failure, boolean reusedConnection) {
        return failure != Failure.NO_SOCKET && !isStaleKeepAlive(failure, reusedConnection);
    }

    /**
     * The answer when no (further) server can be tried: 503 when there never was one or none would
     * accept a connection; otherwise what the last failure stands for.
     *
     * @param lastFailure the failure of the last attempt, or {@code null} when there was no attempt
     */
    public static int statusFor(Failure lastFailure) {
        if (lastFailure == null) {
            return 503;
        }
        return switch (lastFailure) {
            case CONNECT_REFUSED, NO_SOCKET -> 503;
            case CONNECT_TIMEOUT, TIMEOUT, UNREACHABLE -> 504;
            case CLOSED_EARLY, CLOSED_MID_BODY, BAD_RESPONSE -> 502;
        };
    }

    private static boolean isStaleKeepAlive(Failure failure, boolean reusedConnection) {
        return failure == Failure.CLOSED_EARLY && reusedConnection;
    }

    private static boolean mayReplay(Facts f) {
        return f.idempotent() && !f.requestBytesCommitted();
    }
}
