package io.grapevine.proxy.config;

import java.util.Objects;

/**
 * How one pool chooses servers: the algorithm (and, for a hash, the request field it reads), sticky sessions,
 * and slow start. Each setting of a pool in {@code servers.conf} overrides the top-level one.
 *
 * @param balance         the algorithm
 * @param hashField       for {@link Balance#HEADER} the header name (lower case), for {@link Balance#COOKIE} the
 *                        cookie name; {@code null} otherwise
 * @param sticky          sticky sessions by cookie, or {@code null} when off
 * @param slowStartMillis how long a new or recovered server takes to ramp from a sixteenth of its weight to all of
 *                        it; 0: no ramp
 */
public record PoolPolicy(Balance balance, String hashField, Sticky sticky, long slowStartMillis) {

    /** No configuration at all: round robin, not sticky, no slow start. */
    public static final PoolPolicy DEFAULT = new PoolPolicy(Balance.ROUNDROBIN, null, null, 0);

    public PoolPolicy {
        Objects.requireNonNull(balance, "balance");
        if (balance.namesField() != (hashField != null)) {
            throw new IllegalArgumentException(balance + " with field " + hashField);
        }
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
}
