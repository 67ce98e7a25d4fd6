package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;

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
    /** How the body is delimited towards the client (chunked re-encoding, or raw until close). */
    public BodyKind clientBody;
    /** The backend connection may carry another request after this response. */
    public boolean upstreamReusable;
    /** The client connection must be closed after this response. */
    public boolean closeClient;
    public ByteBuf clientHead;
}
