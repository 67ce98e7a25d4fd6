package io.grapevine.proxy.config;

/**
 * Size and depth limits of the HTTP front end and the upstream pools.
 *
 * @param maxRequestLineBytes  longer request line: 414
 * @param maxHeaderBytes       larger header section (all field lines): 431
 * @param maxHeaderCount       more header fields: 431
 * @param maxPipelineDepth     requests of one client connection in flight at once; reading pauses beyond
 * @param maxIdlePerServer     idle pooled connections kept per server per event loop
 * @param maxConnections       concurrent client connections; further ones are accepted and closed at once
 * @param retries              further servers tried after a failed attempt (connect failure, or reset before
 *                             any response byte for a request that may be replayed)
 */
public record Limits(int maxRequestLineBytes, int maxHeaderBytes, int maxHeaderCount, int maxPipelineDepth,
                     int maxIdlePerServer, int maxConnections, int retries) {

    public static Limits defaults() {
        return new Limits(8192, 32_768, 100, 32, 1024, 10_000, 2);
    }
}
