package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;

/**
 * A validated request head, as {@link RequestHeadParser} produced it, and the canonical head to send
 * upstream. Created on the client connection's event loop and used only there.
 *
 * <p>Ownership: {@link #upstreamHead} belongs to the exchange that carries this head; the exchange sends it
 * retained (so a retry can send it again) and releases it when the exchange ends.
 */
public final class RequestHead {
    /** The method token; the common ones are interned constants, compare with {@code ==} or equals. */
    public String method;
    /** RFC 9110 section 9.2.2: may be replayed after a failure that may have reached the server. */
    public boolean idempotent;

    /**
     * RFC 9110 section 9.2.1: GET, HEAD, OPTIONS or TRACE, a request that asks for no change on the server. Only such
     * requests of one connection are forwarded side by side (RFC 9112 section 9.3.2); any other waits for the
     * requests before it, and those after it wait for it.
     */
    public boolean safe() {
        String m = method; // interned by the parser when it is one of these
        return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
    }
    /** HEAD: the response has no body whatever its headers say. */
    public boolean headMethod;
    /** The client spoke HTTP/1.0. */
    public boolean http10;
    /** The client wants the connection kept open after this exchange. */
    public boolean keepAlive;
    /** {@code Expect: 100-continue} (HTTP/1.1 only). */
    public boolean expectContinue;
    /**
     * The upstream head carries a Host field: always for HTTP/1.1; for HTTP/1.0 when the client sent one
     * or the target was in absolute-form. Otherwise the sender adds the server's address.
     */
    public boolean hasHost;
    /**
     * An HTTP/1.1 request to switch protocols (RFC 9110 section 7.8: {@code Upgrade} named by
     * {@code Connection}, e.g. a WebSocket handshake): forwarded with both fields; a {@code 101} answer
     * turns the connection into a tunnel.
     */
    public boolean upgrade;
    /**
     * The protocols an {@link #upgrade} request offers, as forwarded ({@code "websocket"}); {@code null} for any
     * other request. {@code h2c} is never among them: the proxy speaks HTTP/2 to clients itself, and a tunnel
     * to a backend's own HTTP/2 would carry requests no route or rule of the proxy sees.
     */
    public byte[] upgradeProtocols;
    public BodyKind bodyKind = BodyKind.NONE;
    public long contentLength;
    /** Lower-case host without port, for routing; {@code null} unless routing asked for it. */
    public String routingHost;
    /** Path (origin-form, query included), for routing; {@code null} unless routing asked for it. */
    public String routingPath;
    /**
     * The client's IP address as ASCII text, as written into X-Forwarded-For (the address a PROXY protocol header
     * announced, if any): the key of {@code balance source}. Shared with the connection: do not modify.
     */
    public byte[] clientAddress;
    /** The request's {@code Accept-Encoding} accepts gzip (RFC 9110 section 12.5.3). */
    public boolean acceptsGzip;
    /** The client connection is TLS (sticky cookies then get {@code Secure}). */
    public boolean secure;
    /**
     * The values of the header fields the parser was asked to capture (see
     * {@link RequestHeadParser#setCapture}), in the order asked; an entry is {@code null} when the field is
     * absent; the array is {@code null} when none was asked for.
     */
    public byte[][] capturedHeaders;
    /** Likewise for the cookies asked for. */
    public byte[][] capturedCookies;
    /**
     * The canonical HTTP/1.1 head for the backend, ending with the empty line: the bytes from index 0 to its writer
     * index. Its reader index is the transport's once it was sent (a write in parts moves it): read it by index.
     */
    public ByteBuf upstreamHead;

    public boolean hasBody() {
        return bodyKind == BodyKind.CHUNKED || (bodyKind == BodyKind.LENGTH && contentLength > 0);
    }

    /**
     * The request-target as it is forwarded (the upstream head's request line: dot segments resolved, as routes see
     * it, the rest as the client sent it), or {@code null} before the head is made. Off the hot path: a redirect's.
     */
    public String forwardedTarget() {
        ByteBuf h = upstreamHead;
        if (h == null) {
            return null;
        }
        int start = h.indexOf(0, h.writerIndex(), (byte) ' ');
        int end = start < 0 ? -1 : h.indexOf(start + 1, h.writerIndex(), (byte) ' ');
        return end < 0 ? null : h.toString(start + 1, end - start - 1, java.nio.charset.StandardCharsets.US_ASCII);
    }
}
