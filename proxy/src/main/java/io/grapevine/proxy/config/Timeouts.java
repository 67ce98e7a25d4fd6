package io.grapevine.proxy.config;

/**
 * Deadlines, all in milliseconds.
 *
 * @param connectMillis        TCP connect to a backend (504 when every attempt timed out)
 * @param clientHeaderMillis   a client's complete request head, from its first byte (408)
 * @param clientIdleMillis     a keep-alive client connection with no request in progress is closed after this
 * @param serverMillis         backend inactivity while a response is awaited or streaming (504 before the first byte)
 * @param upstreamIdleMillis   an idle pooled backend connection is closed after this
 * @param shutdownGraceMillis  on SIGTERM, in-flight requests (and open tunnels) get this long to finish
 * @param tunnelIdleMillis     a tunnel (an upgraded connection, e.g. a WebSocket) with no byte either way
 *                             for this long is closed
 * @param tlsHandshakeMillis   a TLS client's whole handshake, from the accept; the connection is closed after
 * @param shutdownDelayMillis  on SIGTERM, how long {@code /ready} answers 503 before the listener closes, so
 *                             that load balancers and orchestrators stop sending first (0: close at once)
 */
public record Timeouts(long connectMillis, long clientHeaderMillis, long clientIdleMillis, long serverMillis,
                       long upstreamIdleMillis, long shutdownGraceMillis, long tunnelIdleMillis,
                       long tlsHandshakeMillis, long shutdownDelayMillis) {

    public static Timeouts defaults() {
        return new Timeouts(2000, 10_000, 60_000, 30_000, 30_000, 30_000, 3_600_000, 10_000, 0);
    }
}
