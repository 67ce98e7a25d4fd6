package io.grapevine.proxy.config;

import java.util.Objects;

/**
 * Sends requests whose Host and path match to a pool. Routes are tried in order; the first match wins;
 * requests that match none go to pool {@code "default"}.
 *
 * @param host       exact host (port ignored, case-insensitive), or {@code null} for any host
 * @param pathPrefix path prefix, or {@code null} for any path
 * @param pool       target pool name; must have at least one server or be announced by gossip
 * @param rateLimit  the limit of each client's requests matching this route ({@link RateLimit#OFF}: none), besides
 *                   any limit of the pool
 */
public record RouteSpec(String host, String pathPrefix, String pool, RateLimit rateLimit) {

    public RouteSpec {
        Objects.requireNonNull(rateLimit, "rateLimit");
    }

    /** A route without a rate limit of its own. */
    public RouteSpec(String host, String pathPrefix, String pool) {
        this(host, pathPrefix, pool, RateLimit.OFF);
    }
}
