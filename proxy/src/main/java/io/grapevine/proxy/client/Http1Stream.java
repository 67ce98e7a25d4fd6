package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.ClientStream;
import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.http.BodyKind;
import io.grapevine.proxy.http.ChunkedEncoding;
import io.grapevine.proxy.http.ClientProtocol;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.ResponseHead;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;

/**
 * One request of an HTTP/1.1 client connection, as its exchange sees the client: renders the response in
 * HTTP/1.x framing (chunked re-encoding, Connection) and hands the bytes to the connection's
 * {@link ResponseSequencer}, which writes them in request order. Also stands for the answers the
 * connection gives itself (a rejected head), which have no exchange.
 *
 * <p>Thread: the client channel's event loop. Buffers: response parts held while an earlier response is
 * still being written are owned here until the sequencer writes or discards them.
 */
final class Http1Stream implements ClientStream {

    /** How far the response has been produced (written or held, whatever the order allows). */
    enum Progress {
        /** Nothing of the response yet. */
        WAITING,
        /** The head and maybe part of the body. */
        STREAMING,
        /** All of it. */
        COMPLETE
    }

    private final Http1Connection connection;
    private final RequestHead request;
    private Exchange exchange;
    private Progress progress = Progress.WAITING;
    private BodyKind clientBody = BodyKind.NONE;
    /** The connection closes once this response is written. */
    private boolean closeAfter;
    /** Some of the response reached the client channel (it can no longer be replaced by an error). */
    private boolean bytesWritten;
    /** The backend accepted this request's upgrade (101): the response is a tunnel. */
    private boolean switched;
    private ArrayDeque<ByteBuf> held;
    private int heldBytes;
    /**
     * The head of a response with a small body, kept back until the body's first bytes join it in the same buffer
     * (one write instead of two), or until the read-complete of the backend reads that brought the head
     * ({@link #flush}), the response's end, or an abort. On epoll and NIO that is within the event loop's turn;
     * on io_uring another connection's reads may come between. Owned here while set.
     */
    private ByteBuf headAwaitingBody;

    Http1Stream(Http1Connection connection, RequestHead request) {
        this.connection = connection;
        this.request = request;
    }

    void bind(Exchange ex) {
        this.exchange = ex;
    }

    /** The exchange, or {@code null} for an answer of the connection itself. */
    Exchange exchange() {
        return exchange;
    }

    RequestHead request() {
        return request;
    }

    Progress progress() {
        return progress;
    }

    boolean closeAfter() {
        return closeAfter;
    }

    /** The connection must close once this response is written, whatever it says. */
    void closeConnectionAfter() {
        closeAfter = true;
    }

    boolean bytesWritten() {
        return bytesWritten;
    }

    boolean switched() {
        return switched;
    }

    // ---------------------------------------------------------------- ClientStream

    @Override
    public ByteBufAllocator alloc() {
        return connection.alloc();
    }

    @Override
    public InetSocketAddress clientAddress() {
        return connection.clientInet();
    }

    @Override
    public InetSocketAddress destinationAddress() {
        return connection.destinationInet();
    }

    @Override
    public ClientProtocol protocol() {
        return request.http10 ? ClientProtocol.HTTP_1_0 : ClientProtocol.HTTP_1_1;
    }

    @Override
    public boolean keepAlive() {
        return exchange != null && request.keepAlive && !closeAfter
                && exchange.requestState() == Exchange.RequestState.COMPLETE
                && !(connection.isDraining() && connection.sequencer().isLast(this));
    }

    @Override
    public void interimResponse(ResponseHead head) {
        connection.sequencer().write(this, head.clientHead);
    }

    @Override
    public void responseHead(ResponseHead head) {
        progress = Progress.STREAMING;
        clientBody = head.clientBody;
        closeAfter |= head.closeClient;
        if (head.switching) {
            switched = true;
            closeAfter = true; // the connection ends with the tunnel
        }
        if (head.clientHead.isWritable() && !request.upgrade) {
            // The parser leaves room behind a head only for a small body of known length (ResponseHead.clientHead).
            headAwaitingBody = head.clientHead;
            return;
        }
        connection.sequencer().write(this, head.clientHead);
        if (request.upgrade) {
            connection.upgradeAnswered(this);
        }
    }

    /** Writes the head kept back for the body, if any (see {@link #headAwaitingBody}). */
    private void writeHeadAwaitingBody() {
        ByteBuf head = headAwaitingBody;
        if (head != null) {
            headAwaitingBody = null;
            connection.sequencer().write(this, head);
        }
    }

    @Override
    public void responseBody(ByteBuf data) {
        if (!data.isReadable()) {
            data.release();
            return;
        }
        ByteBuf head = headAwaitingBody;
        if (head != null && data.readableBytes() <= head.writableBytes()) {
            headAwaitingBody = null;
            head.writeBytes(data);
            data.release();
            connection.sequencer().write(this, head);
            return;
        }
        writeHeadAwaitingBody();
        ResponseSequencer sequencer = connection.sequencer();
        if (clientBody == BodyKind.CHUNKED) {
            sequencer.write(this, ChunkedEncoding.chunkHeader(alloc(), data.readableBytes()));
            sequencer.write(this, data);
            sequencer.write(this, ChunkedEncoding.chunkEnd());
        } else {
            sequencer.write(this, data);
        }
    }

    @Override
    public void responseEnd(ByteBuf trailerFields) {
        writeHeadAwaitingBody();
        if (clientBody == BodyKind.CHUNKED) {
            connection.sequencer().write(this, ChunkedEncoding.lastChunk(alloc(), trailerFields));
        } else if (trailerFields != null) {
            trailerFields.release();
        }
        progress = Progress.COMPLETE;
        connection.sequencer().completed(this);
    }

    @Override
    public boolean backendHalfClosed() {
        return switched && connection.backendHalfClosed(this);
    }

    @Override
    public void localResponse(int status) {
        localResponse(status, 0);
    }

    @Override
    public void localResponse(int status, long retryAfterSeconds) {
        localAnswer(status, retryAfterSeconds, null);
    }

    @Override
    public void localRedirect(int status, String location) {
        localAnswer(status, 0, location);
    }

    private void localAnswer(int status, long retryAfterSeconds, String location) {
        boolean keepAlive = keepAlive();
        closeAfter |= !keepAlive;
        progress = Progress.STREAMING;
        connection.sequencer().write(this, LocalResponses.build(alloc(), status, keepAlive, request.http10,
                request.headMethod, retryAfterSeconds, location));
        if (request.upgrade) {
            connection.upgradeAnswered(this);
        }
        progress = Progress.COMPLETE;
        connection.sequencer().completed(this);
    }

    @Override
    public void abortResponse(int status) {
        if (bytesWritten) {
            // Part of it reached the client: the only honest signal left is closing the connection.
            connection.stats().abortedResponses.increment();
            closeAfter = true;
            progress = Progress.COMPLETE;
            connection.sequencer().completed(this);
            return;
        }
        releaseHeld(); // the head kept back for the body included: none of this response reached the client
        clientBody = BodyKind.NONE;
        localResponse(status);
    }

    @Override
    public void resumeRequestBody() {
        connection.updateReading();
    }

    @Override
    public void flush() {
        writeHeadAwaitingBody();
        if (progress() != Progress.COMPLETE) {
            connection.flushResponses(); // a complete response was flushed, or its flush queued, by the sequencer
        }
    }

    // ---------------------------------------------------------------- held parts (see ResponseSequencer)

    void markWritten() {
        bytesWritten = true;
    }

    /** Holds a part until this response is first in line; returns the bytes now held. */
    int hold(ByteBuf part) {
        if (held == null) {
            held = new ArrayDeque<>();
        }
        held.add(part);
        heldBytes += part.readableBytes();
        return heldBytes;
    }

    /** What was held, in order (the caller writes it), or {@code null}. */
    ArrayDeque<ByteBuf> takeHeld() {
        ArrayDeque<ByteBuf> parts = held;
        held = null;
        heldBytes = 0;
        return parts;
    }

    void releaseHeld() {
        if (headAwaitingBody != null) {
            headAwaitingBody.release();
            headAwaitingBody = null;
        }
        if (held != null) {
            ByteBuf b;
            while ((b = held.poll()) != null) {
                b.release();
            }
            heldBytes = 0;
        }
    }
}
