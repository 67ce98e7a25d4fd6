package io.grapevine.proxy.stats;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/** Front-end counters of the whole proxy. Updated from every event loop without locks. */
public final class ProxyStats {
    public final LongAdder connectionsAccepted = new LongAdder();
    public final AtomicInteger connectionsCurrent = new AtomicInteger();
    /** The most client connections ever open at once. */
    public final AtomicInteger connectionsMax = new AtomicInteger();
    public final LongAdder connectionsRefused = new LongAdder();
    /** Client connections closed under direct memory pressure, having taken too little for a while (MemoryPressure). */
    public final LongAdder connectionsShed = new LongAdder();
    /** HTTP/2 streams reset under direct memory pressure, their responses having waited for a window a while. */
    public final LongAdder http2StreamsShed = new LongAdder();
    /** Responses sent gzip-compressed, and their bodies' bytes before and after (the gzip wrapper included). */
    public final LongAdder responsesCompressed = new LongAdder();
    public final LongAdder compressionBytesIn = new LongAdder();
    public final LongAdder compressionBytesOut = new LongAdder();
    /** Responses that could have been compressed but were not, every compressor being busy (max_compressing). */
    public final LongAdder compressionsSkipped = new LongAdder();
    /** Requests on the plaintext listener answered with a redirect to HTTPS ({@code tls.redirect_http}). */
    public final LongAdder redirectedToHttps = new LongAdder();
    /** Requests answered 429 because their client was over their pool's rate limit. */
    public final LongAdder rateLimited = new LongAdder();
    /** Accepts that failed on the client, TLS and admin listeners: out of file descriptors, mostly. */
    public final LongAdder acceptFailures = new LongAdder();
    /** Client connections closed because their PROXY protocol header was missing, late or invalid. */
    public final LongAdder proxyProtocolRejected = new LongAdder();
    public final LongAdder requests = new LongAdder();
    /** Requests rejected as malformed or ambiguous (400, 414, 431, 501, 505). */
    public final LongAdder badRequests = new LongAdder();
    /** Client header deadlines that passed (408). */
    public final LongAdder clientTimeouts = new LongAdder();
    /** Answers the proxy generated because no backend could: 502, 503, 504. */
    public final LongAdder status502 = new LongAdder();
    public final LongAdder status503 = new LongAdder();
    public final LongAdder status504 = new LongAdder();
    /** Of {@link #status503}, those answered because the proxy had no file descriptor or local port for a connect. */
    public final LongAdder status503NoSocket = new LongAdder();
    public final LongAdder retries = new LongAdder();
    /** Retries not made because the pool's retry budget was spent. */
    public final LongAdder retriesDenied = new LongAdder();
    /** Client connections closed after part of a response was sent, because the backend failed. */
    public final LongAdder abortedResponses = new LongAdder();
    /** Connections upgraded to a tunnel (101 relayed), in all and open now. */
    public final LongAdder tunnelsOpened = new LongAdder();
    public final AtomicInteger tunnelsCurrent = new AtomicInteger();
    /** Client connections that speak HTTP/2 (prior knowledge in cleartext, or ALPN h2). */
    public final LongAdder http2Connections = new LongAdder();
    /** Streams HTTP/2 clients opened (each carries one request). */
    public final LongAdder http2Streams = new LongAdder();
    /** Streams the client reset (RST_STREAM received for a stream open; not one of a stream already closed). */
    public final LongAdder http2ResetsReceived = new LongAdder();
    /** Streams the proxy reset: malformed, refused beyond the stream limit, or cut because the backend failed. */
    public final LongAdder http2ResetsSent = new LongAdder();
    /** HTTP/2 connections closed by a GOAWAY with an error: protocol errors, floods, rapid resets. */
    public final LongAdder http2ConnectionErrors = new LongAdder();
    /** Answers to the requests that reached routing (from a backend or from the proxy), by status class. */
    public final LongAdder responses1xx = new LongAdder();
    public final LongAdder responses2xx = new LongAdder();
    public final LongAdder responses3xx = new LongAdder();
    public final LongAdder responses4xx = new LongAdder();
    public final LongAdder responses5xx = new LongAdder();
    public final LongAdder bytesIn = new LongAdder();
    public final LongAdder bytesOut = new LongAdder();
    /** TLS handshakes completed with a client. */
    public final LongAdder tlsHandshakes = new LongAdder();
    /**
     * TLS handshakes that did not complete: not TLS, no common protocol version or cipher, the client refused the
     * certificate, timed out, or closed midway. A connection closed before it sent anything is not counted.
     */
    public final LongAdder tlsHandshakeFailures = new LongAdder();
    /** Access log lines handed to the writer, and lines dropped because its queue was full. */
    public final LongAdder accessLogLines = new LongAdder();
    public final LongAdder accessLogDropped = new LongAdder();

    /**
     * A client connection was accepted: counts it, and admits it while fewer than {@code limit} are open (a
     * refused one is counted as such and not as open). Event loops.
     *
     * @return whether it is admitted
     */
    public boolean connectionOpened(int limit) {
        connectionsAccepted.increment();
        int now = connectionsCurrent.incrementAndGet();
        if (now > limit) {
            connectionsCurrent.decrementAndGet();
            connectionsRefused.increment();
            return false;
        }
        if (now > connectionsMax.get()) {
            connectionsMax.accumulateAndGet(now, Math::max);
        }
        return true;
    }

    /** Counts the status of an exchange's answer by class; 0 (no answer) is not counted. */
    public void countResponse(int status) {
        switch (status / 100) {
            case 0 -> { }
            case 1 -> responses1xx.increment();
            case 2 -> responses2xx.increment();
            case 3 -> responses3xx.increment();
            case 4 -> responses4xx.increment();
            default -> responses5xx.increment();
        }
    }

    /** Counts an answer the proxy generated because no backend could give one (502, 503, 504). */
    public void countLocalResponse(int status) {
        switch (status) {
            case 502 -> status502.increment();
            case 503 -> status503.increment();
            case 504 -> status504.increment();
            default -> { }
        }
    }
}
