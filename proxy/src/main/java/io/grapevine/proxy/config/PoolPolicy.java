package io.grapevine.proxy.config;

import java.util.Objects;

/**
 * How one pool chooses servers: the algorithm (and, for a hash, the request field it reads), sticky sessions,
 * slow start, and the queue of requests that wait for a server under {@code max_conn}; and what it does to requests
 * and responses on the way: compression, the rate limit. Each setting of a pool in
 * {@code servers.conf} overrides the top-level one.
 *
 * @param balance         the algorithm
 * @param hashField       for {@link Balance#HEADER} the header name (lower case), for {@link Balance#COOKIE} the
 *                        cookie name; {@code null} otherwise
 * @param sticky          sticky sessions by cookie, or {@code null} when off
 * @param slowStartMillis how long a new or recovered server takes to ramp from a sixteenth of its weight to all of
 *                        it; 0: no ramp
 * @param queue           the queue of requests waiting for a server when every server is at its {@code max_conn}
 * @param compression     gzip compression of the pool's responses ({@link Compression#OFF} when not configured)
 * @param rateLimit       the limit of each client's request rate ({@link RateLimit#OFF} when not configured)
 */
public record PoolPolicy(Balance balance, String hashField, Sticky sticky, long slowStartMillis, Queue queue,
                         Compression compression, RateLimit rateLimit) {

    /** No configuration at all: round robin, not sticky, no slow start, the default queue. */
    public static final PoolPolicy DEFAULT = new PoolPolicy(Balance.ROUNDROBIN, null, null, 0);

    public PoolPolicy {
        Objects.requireNonNull(balance, "balance");
        Objects.requireNonNull(queue, "queue");
        Objects.requireNonNull(compression, "compression");
        Objects.requireNonNull(rateLimit, "rateLimit");
        if (balance.namesField() != (hashField != null)) {
            throw new IllegalArgumentException(balance + " with field " + hashField);
        }
    }

    /** A policy without a rate limit. */
    public PoolPolicy(Balance balance, String hashField, Sticky sticky, long slowStartMillis, Queue queue,
                      Compression compression) {
        this(balance, hashField, sticky, slowStartMillis, queue, compression, RateLimit.OFF);
    }

    /** A policy without compression or a rate limit. */
    public PoolPolicy(Balance balance, String hashField, Sticky sticky, long slowStartMillis, Queue queue) {
        this(balance, hashField, sticky, slowStartMillis, queue, Compression.OFF);
    }

    /** A policy with the default queue. */
    public PoolPolicy(Balance balance, String hashField, Sticky sticky, long slowStartMillis) {
        this(balance, hashField, sticky, slowStartMillis, Queue.DEFAULT);
    }

    /** Round robin, leastconn or p2c with no field, sticky and slow start off. */
    public static PoolPolicy of(Balance balance) {
        return new PoolPolicy(balance, null, null, 0);
    }

    /** The {@code balance} value as written in servers.conf: {@code header:x-user}, {@code roundrobin}, ... */
    public String balanceName() {
        return hashField == null ? balance.configName() : balance.configName() + ":" + hashField;
    }

    /**
     * Sticky sessions: a response names its server in a cookie; requests that bring it back go to that server
     * while it takes them.
     *
     * @param cookie        the cookie's name
     * @param maxAgeSeconds its {@code Max-Age}; 0: a session cookie (no Max-Age)
     */
    public record Sticky(String cookie, long maxAgeSeconds) {
        public static final String DEFAULT_COOKIE = "GVSERVER";
        public static final Sticky DEFAULT = new Sticky(DEFAULT_COOKIE, 0);
    }

    /**
     * The queue of a pool (HAProxy's backend queue): requests that find every available server of the pool at its
     * {@code max_conn} wait here, first come first served, for the first server that frees a slot.
     *
     * @param max           requests that may wait at once; one more is answered 503 at once (0: no queue)
     * @param timeoutMillis how long a request may wait; then it is answered 503
     */
    public record Queue(int max, long timeoutMillis) {
        public static final Queue DEFAULT = new Queue(1000, 5000);

        /**
         * The {@code Retry-After} of a 503 for a full queue or a queue timeout, in seconds: the queue's timeout
         * rounded up, at least 1 (a request that comes back after that finds the queue it would have waited in
         * renewed).
         */
        public long retryAfterSeconds() {
            return Math.max(1, (timeoutMillis + 999) / 1000);
        }
    }
}
