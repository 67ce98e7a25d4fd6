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
 * @param h2MaxConcurrentStreams HTTP/2 streams one client connection may have open at once
 *                             (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused
 * @param h2StreamWindowBytes  HTTP/2 flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE): how
 *                             much request body a client may send ahead of the backend
 * @param retryBudgetPercent   retries of a pool, in percent of its requests over the last 10 s, beyond which no
 *                             retry is made (Finagle's retry budget)
 * @param retryBudgetMinPerSecond retries per second a pool may make whatever its request rate (so that a quiet
 *                             proxy still retries)
 * @param maxCompressing       responses being gzip-compressed at once, over all event loops (each holds a zlib
 *                             stream, about 270 KiB of native memory); further ones leave uncompressed
 */
public record Limits(int maxRequestLineBytes, int maxHeaderBytes, int maxHeaderCount, int maxPipelineDepth,
                     int maxIdlePerServer, int maxConnections, int retries, int h2MaxConcurrentStreams,
                     int h2StreamWindowBytes, int retryBudgetPercent, int retryBudgetMinPerSecond, int maxCompressing) {

    /** {@link #maxCompressing} when not given: about 70 MiB of zlib streams at most. */
    public static final int DEFAULT_MAX_COMPRESSING = 256;

    public static Limits defaults() {
        return new Limits(8192, 32_768, 100, 32, 1024, 10_000, 2, 100, 65_535, 20, 10, DEFAULT_MAX_COMPRESSING);
    }

    /** The default for {@code maxCompressing}. */
    public Limits(int maxRequestLineBytes, int maxHeaderBytes, int maxHeaderCount, int maxPipelineDepth,
                  int maxIdlePerServer, int maxConnections, int retries, int h2MaxConcurrentStreams,
                  int h2StreamWindowBytes, int retryBudgetPercent, int retryBudgetMinPerSecond) {
        this(maxRequestLineBytes, maxHeaderBytes, maxHeaderCount, maxPipelineDepth, maxIdlePerServer, maxConnections,
                retries, h2MaxConcurrentStreams, h2StreamWindowBytes, retryBudgetPercent, retryBudgetMinPerSecond,
                DEFAULT_MAX_COMPRESSING);
    }

    /** The retry budget's defaults for what is not given. */
    public Limits(int maxRequestLineBytes, int maxHeaderBytes, int maxHeaderCount, int maxPipelineDepth,
                  int maxIdlePerServer, int maxConnections, int retries, int h2MaxConcurrentStreams,
                  int h2StreamWindowBytes) {
        this(maxRequestLineBytes, maxHeaderBytes, maxHeaderCount, maxPipelineDepth, maxIdlePerServer, maxConnections,
                retries, h2MaxConcurrentStreams, h2StreamWindowBytes, 20, 10);
    }
}
