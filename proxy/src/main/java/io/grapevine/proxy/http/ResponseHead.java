package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http2.Http2Headers;

/**
 * A validated response head from a backend, and the head to send to the client. Used on one event loop.
 *
 * <p>Ownership: {@link #clientHead} is handed to the client channel's write (which releases it).
 */
public final class ResponseHead {
    public int status;
    /** 1xx other than an accepted 101: more heads follow before the final one. */
    public boolean interim;
    /**
     * {@code 101 Switching Protocols} to an upgrade request: the head goes to the client, then both
     * connections carry the new protocol's bytes, untouched, until one side closes.
     */
    public boolean switching;
    /** How the backend delimits the body. */
    public BodyKind upstreamBody;
    public long contentLength;
    /**
     * How the body is delimited towards the client (chunked re-encoding, or raw until close). For an
     * HTTP/2 client, {@code CHUNKED} stands for a body of unknown length, which END_STREAM delimits.
     */
    public BodyKind clientBody;
    /** The backend connection may carry another request after this response. */
    public boolean upstreamReusable;
    /**
     * The body is to be gzip-compressed on its way to the client: the client head says so already (no Content-Length,
     * {@code Content-Encoding: gzip}, {@link #clientBody} {@code CHUNKED}).
     */
    public boolean gzip;
    /** The client connection must be closed after this response. */
    public boolean closeClient;
    /**
     * The head rendered for an HTTP/1.x client; {@code null} for an HTTP/2 client. When the body is small and of a
     * known length ({@link ResponseHeadParser#BODY_IN_HEAD_MAX}), the buffer has exactly that many writable bytes
     * after the head, so that the body can leave with it in one write; otherwise none.
     */
    public ByteBuf clientHead;
    /** The head for an HTTP/2 client ({@code :status}, lower-case names); {@code null} for HTTP/1.x. */
    public Http2Headers http2Headers;

    /** Releases what the head holds for the client, when it is not passed on. */
    public void release() {
        if (clientHead != null) {
            clientHead.release();
            clientHead = null;
        }
        http2Headers = null;
    }
}
