package io.grapevine.proxy.forward;

import io.grapevine.proxy.http.ClientProtocol;
import io.grapevine.proxy.http.ResponseHead;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.net.InetSocketAddress;

/**
 * The client end of one {@link Exchange}: where its response goes, in the client's protocol. An HTTP/1.1
 * connection presents each of its requests as one (and keeps their responses in request order), an HTTP/2
 * connection each of its streams. The exchange sees nothing else of the client: not its connection, not
 * its codec, not the other requests beside it.
 *
 * <p>Every method is called on the client channel's event loop. Buffers passed in are owned by the
 * stream from then on.
 */
public interface ClientStream {

    /** The allocator of the client's channel. */
    ByteBufAllocator alloc();

    /**
     * The client's address: the one a PROXY protocol header announced when a balancer in front sent one,
     * otherwise the connection's peer; {@code null} when it is not an IP connection.
     */
    InetSocketAddress clientAddress();

    /** The address the client connected to (or the one a PROXY header announced); {@code null} if unknown. */
    InetSocketAddress destinationAddress();

    /** How the response head is to be rendered for this client (see {@link io.grapevine.proxy.http.ResponseHeadParser}). */
    ClientProtocol protocol();

    /**
     * Whether the response may leave the client connection open: not when the client asked to close, not
     * when part of the request body is still unread, not for the last response of a draining connection.
     */
    boolean keepAlive();

    /** A 1xx response head, rendered for {@link #protocol()} like a final one. */
    void interimResponse(ResponseHead head);

    /** The final response head; {@code head.clientHead} is rendered for {@link #protocol()}. */
    void responseHead(ResponseHead head);

    /** Response content, without any framing. */
    void responseBody(ByteBuf data);

    /** The response is complete; {@code trailerFields} are canonical field lines, or {@code null}. */
    void responseEnd(ByteBuf trailerFields);

    /** The proxy answers {@code status} itself (nothing of a backend response was passed on). */
    void localResponse(int status);

    /**
     * As {@link #localResponse(int)}, with {@code Retry-After: retryAfterSeconds} (RFC 9110 section 10.2.3) when it
     * is above 0: a 503 of a busy pool says when to come back.
     */
    default void localResponse(int status, long retryAfterSeconds) {
        localResponse(status);
    }

    /** A redirect the proxy answers itself: {@code status} (301 or 308) with {@code location}, an absolute URI. */
    void localRedirect(int status, String location);

    /**
     * The response that started cannot be completed. If none of it reached the client yet, the stream
     * answers {@code status} instead; otherwise the client learns it the only way left (HTTP/1.1: the
     * connection closes; HTTP/2: the stream is reset).
     */
    void abortResponse(int status);

    /**
     * The backend half-closed the tunnel this stream's response opened (after a {@code 101}): nothing more comes from
     * it, though it still takes what the client sends. The stream passes the FIN on to the client once what the
     * backend sent is written, and the tunnel goes on the other way until the client closes (its FIN too), the
     * backend closes, or {@code tunnel_idle_ms} passes.
     *
     * @return false when the client cannot take a half-close: the tunnel then ends as when the backend closes
     */
    default boolean backendHalfClosed() {
        return false;
    }

    /** The backend can take request body bytes again: resume reading them from the client. */
    void resumeRequestBody();

    /** Flushes what the stream wrote to the client since the last flush. */
    void flush();
}
