package io.grapevine.proxy.config;

/**
 * Sends requests whose Host and path match to a pool. Routes are tried in order; the first match wins;
 * requests that match none go to pool {@code "default"}.
 *
 * @param host       exact host (port ignored, case-insensitive), or {@code null} for any host
 * @param pathPrefix path prefix, or {@code null} for any path
 * @param pool       target pool name; must have at least one server or be announced by gossip
 */
public record RouteSpec(String host, String pathPrefix, String pool) {
}
