package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.ClientStream;
import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.http.BodyKind;
import io.grapevine.proxy.http.ClientProtocol;
import io.grapevine.proxy.http.Http2Fields;
import io.grapevine.proxy.http.RequestHead;
import io.grapevine.proxy.http.RequestHeadParser;
import io.grapevine.proxy.http.ResponseHead;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.RequestKeys;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamFrame;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/2 stream: one request, its {@link Exchange}, and the exchange's view of the client. A plain
 * object, not a channel: its {@link Http2Connection} hands it the stream's HEADERS and DATA as the codec's
 * decoder reads them, and it writes its frames through the connection, with the stream's id.
 *
 * <p>The request head is checked and translated by {@link Http2Fields}, then goes through the same
 * {@link RequestHeadParser} as an HTTP/1.1 request, with the table read once; a malformed one resets the
 * stream (PROTOCOL_ERROR, RFC 9113 section 8.1.1), one the parser refuses is answered (400, 431, ...).
 * Request DATA is passed on as it arrives, and its bytes are returned to the client's window (WINDOW_UPDATE,
 * section 6.9) only once passed on. While the backend cannot take more, the stream holds the frames that
 * still arrive (at most what the client's window allows) and returns nothing: the client's window closes.
 * The response goes back as HEADERS, DATA and trailers on this stream; while the stream cannot take more
 * (its flow-control window, the connection's, or the socket's buffer is full), the backend is paused.
 *
 * <p>The stream ends its side with END_STREAM or RST_STREAM; the codec closes it once both sides are done
 * and the connection then calls {@link #closed}. A complete response while the request body is still
 * arriving is followed by RST_STREAM NO_ERROR (section 8.1), so the client stops sending; not at once,
 * though: DATA already on its way would reach a stream the codec has forgotten, and each such frame would
 * cost a RST_STREAM STREAM_CLOSED, counted against the connection's reset budget, until an upload answered
 * early a few times ends the connection. The stream first takes what the client's window still allows,
 * dropped and not returned, and resets once that window is spent, when nothing can follow
 * ({@link RequestState#DISCARDING}).
 *
 * <p>Thread: the connection's event loop. Buffers: request DATA content passes to the exchange (frames held
 * while paused are released if the stream closes first); response parts are written to the codec, which
 * releases them (the latest body bytes may wait in {@link #heldBody} until the backend's read completes).
 */
final class Http2Stream implements ClientStream {

    private static final Logger log = LoggerFactory.getLogger(Http2Stream.class);

    private static final AsciiString TEXT_PLAIN_UTF8 = AsciiString.cached("text/plain; charset=utf-8");
    /**
     * How long a stream {@link RequestState#DISCARDING} waits for the client's next DATA frame: the round trip
     * DATA in flight needs, generously. A client that sends nothing for that long is reset anyway; one that
     * keeps sending can send no more than its window.
     */
    static final long DISCARD_MAX_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** Where the request stands, as read from the client. */
    enum RequestState {
        /** The request header block has not arrived yet. */
        HEAD,
        /** The head was read; DATA (and maybe trailers) follow until END_STREAM. */
        BODY,
        /**
         * The client sent nothing of the body for client_idle_ms while its response streams (RFC 9113 section 8.1
         * lets a server answer before the request is complete, a backend's early 413 or 401, say): a 408 could only
         * reset the stream and cut that response off. The rest of the body is given up instead
         * ({@link Exchange#requestAbandoned}: the backend connection is not reused, and server_ms times it from now)
         * and the response goes on. DATA that still arrives is dropped without returning its bytes, so the
         * client's window bounds it; once the response is complete, as {@link #DISCARDING}.
         */
        ABANDONED,
        /**
         * The response is complete while the body still arrives: DATA is dropped without returning its bytes to
         * the client's window, and the stream is reset (NO_ERROR) once that window is spent, or once the client
         * sent nothing for {@link #DISCARD_MAX_NANOS}; the client's END_STREAM ends it sooner, with no reset. A
         * client that asked for {@code 100-continue}, got none and sent nothing is reset at once: it sends no
         * body after a final status (RFC 9110 section 10.1.1).
         */
        DISCARDING,
        /** END_STREAM was read (or the stream was reset). */
        COMPLETE
    }

    /** Where the response stands, as written to the client. */
    enum ResponseState {
        /** Nothing written yet: a failure can still become an error response. */
        WAITING,
        /** HEADERS were written; more follows. */
        STREAMING,
        /** END_STREAM or RST_STREAM was written. */
        COMPLETE
    }

    private final Http2Connection connection;
    private final LoopContext loop;
    /** The codec's state of the stream: its id, its state and its flow-control windows. */
    private final io.netty.handler.codec.http2.Http2Stream codecStream;
    private Exchange exchange;
    private RequestState requestState = RequestState.HEAD;
    private ResponseState responseState = ResponseState.WAITING;
    /** The request is HEAD: responses have no body. */
    private boolean headRequest;
    /**
     * The frame with the response's END_STREAM was written (while the response is STREAMING: its HEADERS
     * carried it, as for a response without body, so the response end writes nothing more). The codec may
     * close the stream within that write, before the exchange has seen its backend's response end: that
     * close is no abort.
     */
    private boolean endWritten;
    /** The backend cannot take more request body: frames wait in {@link #heldFrames}, unacknowledged. */
    private boolean readPaused;
    /**
     * Request DATA and trailers that arrived while paused, in order, each kept as a frame (the only frames of a
     * request made: holding is rare); created on first need.
     */
    private ArrayDeque<Http2StreamFrame> heldFrames;
    /**
     * The response's latest body bytes, not yet written: when the response ends in the same read of its backend
     * (a body that arrived whole, the usual case), END_STREAM rides on their DATA frame, as HAProxy and nginx send
     * it, instead of following in an empty DATA frame of its own, which the codec, the socket and the client each
     * handle once more. Written at the latest when that read completes ({@link #flush}); released if the stream
     * ends first. At most one backend read's bytes.
     */
    private ByteBuf heldBody;
    /** The exchange was told to pause its backend: the stream could take no more response. */
    private boolean responsePaused;
    /** In the connection's list of streams that read something this turn (to flush towards the backend). */
    boolean readThisTurn;
    private long lastReadNanos;
    /** While {@link RequestState#DISCARDING}: when it began, or the last DATA frame arrived. */
    private long lastDiscardNanos;
    /** The request asked for {@code 100-continue} and none was relayed yet: its client may be waiting. */
    private boolean awaitingContinue;
    /** A DATA frame of the request arrived. */
    private boolean dataReceived;
    /** When the stream became unwritable; 0 while writable. */
    private long unwritableSinceNanos;

    Http2Stream(Http2Connection connection, io.netty.handler.codec.http2.Http2Stream codecStream) {
        this.connection = connection;
        this.loop = connection.loop();
        this.codecStream = codecStream;
        this.lastReadNanos = System.nanoTime();
    }

    int id() {
        return codecStream.id();
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * The codec closed the stream: both sides ended, either side reset it, or the connection went away. A
     * response not yet complete is abandoned with its exchange; held request frames are released.
     */
    void closed() {
        requestState = RequestState.COMPLETE;
        releaseHeldFrames();
        releaseHeldBody();
        if (responseState != ResponseState.COMPLETE && !endWritten) {
            responseState = ResponseState.COMPLETE;
            if (exchange != null) {
                exchange.abort(); // reset by the client, or the connection went away
            }
        }
    }

    /**
     * A stream error (RFC 9113 section 5.4.2), found by the codec or by the proxy itself: the stream is reset
     * with {@code error} unless already closed. The codec leaves the reset of a stream it knows to its owner;
     * a response whose END_STREAM still waits for window leaves the stream open, and it is reset too.
     */
    void streamError(Http2Error error, Throwable cause) {
        log.debug("HTTP/2 stream {} of {} failed: {}", id(), connection.remoteAddress(), String.valueOf(cause));
        if (codecStream.state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
            reset(error);
        }
    }

    // ---------------------------------------------------------------- request, from the client

    /** A HEADERS frame (its header block whole): the request head, or its trailers. */
    void onHeaders(Http2Headers headers, boolean end) {
        if (requestState == RequestState.HEAD) {
            onRequestHead(headers, end);
        } else if (requestState != RequestState.BODY) {
            return; // trailers of a body nobody reads any more; their END_STREAM closes the stream
        } else if (readPaused) {
            hold(new DefaultHttp2HeadersFrame(headers, end));
        } else {
            onTrailers(headers);
        }
    }

    private void onRequestHead(Http2Headers headers, boolean end) {
        requestState = end ? RequestState.COMPLETE : RequestState.BODY;
        headRequest = AsciiString.contentEquals(HttpMethod.HEAD.asciiName(), headers.method());
        Http2Fields fields = connection.fields();
        int length = fields.requestHead(headers, end);
        if (length == Http2Fields.MALFORMED) {
            connection.stats().badRequests.increment();
            log.debug("malformed HTTP/2 request from {} on stream {}", connection.remoteAddress(), id());
            reset(Http2Error.PROTOCOL_ERROR);
            return;
        }
        if (length < 0) {
            reject(-length);
            return;
        }
        if (fields.requestLineLength() > loop.limits().maxRequestLineBytes()) {
            reject(414); // as for an HTTP/1.1 request line this long
            return;
        }
        // The one read of the table for this request: routing is captured and decided on this generation.
        BackendTable table = loop.tables().current();
        RequestHeadParser parser = loop.requestParser();
        parser.setCaptureRouting(table.needsPath() || !connection.secure() && loop.httpsRedirectPort() != 0);
        RequestKeys keys = table.requestKeys();
        parser.setCapture(keys.headers(), keys.cookies(), keys.proxyCookies());
        RequestHead head = new RequestHead();
        int status = parser.parse(fields.head(), length, connection.clientAddress(), connection.secure(), head,
                connection.alloc());
        if (status != RequestHeadParser.OK) {
            reject(status);
            return;
        }
        connection.stats().requests.increment();
        awaitingContinue = head.expectContinue;
        exchange = new Exchange(this, head, table, loop);
        exchange.start();
    }

    /** A request the proxy refuses to forward (nothing of it left the proxy): answered, never reset. */
    private void reject(int status) {
        connection.stats().badRequests.increment();
        log.debug("rejected an HTTP/2 request from {} with {}", connection.remoteAddress(), status);
        localResponse(status);
    }

    /**
     * A DATA frame: its content {@code data} (ownership passes here), {@code flowControlled} bytes of the windows
     * (the content and the padding, RFC 9113 section 6.9.1).
     */
    void onData(ByteBuf data, int flowControlled, boolean end) {
        dataReceived = true;
        if (requestState == RequestState.ABANDONED) {
            if (end) {
                requestState = RequestState.COMPLETE; // the client ended it after all: nothing to discard later
            }
            data.release(); // its bytes stay taken from the client's window
            return;
        }
        if (requestState == RequestState.DISCARDING) {
            lastDiscardNanos = System.nanoTime();
            data.release(); // its bytes stay taken from the client's window
            if (end) {
                requestState = RequestState.COMPLETE; // the codec closes the stream: both sides ended
            } else {
                stopRequestBodyOnceWindowIsSpent();
            }
            return;
        }
        if (requestState != RequestState.BODY) {
            // After a rejection or a reset: nowhere to go, but its bytes go back to the client's window.
            connection.consumed(codecStream, flowControlled);
            data.release();
            return;
        }
        lastReadNanos = System.nanoTime();
        if (readPaused) {
            hold(new DefaultHttp2DataFrame(data, end, flowControlled - data.readableBytes()));
        } else {
            passOn(data, flowControlled, end);
        }
    }

    /** Hands a DATA frame's content (owned) to the exchange and its bytes back to the client's window. */
    private void passOn(ByteBuf data, int flowControlled, boolean end) {
        Exchange ex = exchange;
        if (ex == null || !data.isReadable()) {
            data.release();
        } else {
            ex.requestBody(data);
        }
        connection.consumed(codecStream, flowControlled);
        if (end) {
            requestEnd(null);
        } else if (ex != null && ex.requestBodyBlocked()) {
            pauseReading(true);
        }
    }

    /** Keeps a request frame that arrived while the backend could take no more; the client's window pays. */
    private void hold(Http2StreamFrame frame) {
        if (heldFrames == null) {
            heldFrames = new ArrayDeque<>(4);
        }
        heldFrames.add(frame);
    }

    private void releaseHeldFrames() {
        if (heldFrames != null) {
            for (Http2StreamFrame f; (f = heldFrames.poll()) != null; ) {
                ReferenceCountUtil.release(f);
            }
        }
    }

    private void onTrailers(Http2Headers trailers) {
        if (requestState != RequestState.BODY) {
            return;
        }
        if (!Http2Fields.validTrailers(trailers)) {
            connection.stats().badRequests.increment();
            reset(Http2Error.PROTOCOL_ERROR);
            return;
        }
        requestEnd(exchange == null ? null : Http2Fields.requestTrailers(trailers, connection.alloc()));
    }

    private void requestEnd(ByteBuf trailerFields) {
        requestState = RequestState.COMPLETE;
        if (exchange != null) {
            exchange.requestEnd(trailerFields);
        } else if (trailerFields != null) {
            trailerFields.release();
        }
    }

    /** The connection's read is complete: what it brought for this stream goes to the backend in one flush. */
    void readComplete() {
        readThisTurn = false;
        if (exchange != null) {
            exchange.flushRequest();
        }
    }

    private void pauseReading(boolean pause) {
        if (pause != readPaused) {
            readPaused = pause;
            if (!pause) {
                lastReadNanos = System.nanoTime();
            }
        }
    }

    /** The backend took what it had: the held frames go on, until it blocks again or none is left. */
    private void resumeReading() {
        pauseReading(false);
        if (heldFrames != null) {
            for (Http2StreamFrame f; !readPaused && requestState == RequestState.BODY && (f = heldFrames.poll()) != null; ) {
                if (f instanceof Http2DataFrame data) {
                    passOn(data.content(), data.initialFlowControlledBytes(), data.isEndStream());
                } else {
                    onTrailers(((Http2HeadersFrame) f).headers());
                }
            }
        }
        if (exchange != null) {
            exchange.flushRequest();
        }
        connection.flush(); // the WINDOW_UPDATEs for what went on
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
        return ClientProtocol.HTTP_2;
    }

    /** Connection management belongs to the HTTP/2 layer: a response never closes the connection. */
    @Override
    public boolean keepAlive() {
        return true;
    }

    @Override
    public void interimResponse(ResponseHead head) {
        if (responseState != ResponseState.WAITING) {
            head.release();
            return;
        }
        if (head.status == 100) {
            awaitingContinue = false;
        }
        connection.writeHeaders(id(), head.http2Headers, false, connection.voidPromise());
        head.http2Headers = null;
    }

    @Override
    public void responseHead(ResponseHead head) {
        if (responseState != ResponseState.WAITING) {
            head.release();
            return;
        }
        responseState = ResponseState.STREAMING;
        boolean noBody = head.clientBody == BodyKind.NONE
                || (head.clientBody == BodyKind.LENGTH && head.contentLength == 0);
        Http2Headers headers = head.http2Headers;
        head.http2Headers = null;
        if (noBody) {
            writeEnd(headers, null);
        } else {
            connection.writeHeaders(id(), headers, false, connection.voidPromise());
            checkWritable();
        }
    }

    @Override
    public void responseBody(ByteBuf data) {
        if (responseState != ResponseState.STREAMING || endWritten || !data.isReadable()) {
            data.release();
            return;
        }
        writeHeldBody();
        heldBody = data;
    }

    /** Writes {@link #heldBody}, if any, in a DATA frame without END_STREAM. */
    private void writeHeldBody() {
        ByteBuf data = heldBody;
        if (data == null) {
            return;
        }
        heldBody = null;
        connection.writeData(id(), data, false, connection.voidPromise());
        checkWritable();
    }

    private void releaseHeldBody() {
        if (heldBody != null) {
            heldBody.release();
            heldBody = null;
        }
    }

    @Override
    public void responseEnd(ByteBuf trailerFields) {
        if (responseState != ResponseState.STREAMING) {
            ReferenceCountUtil.release(trailerFields);
            return;
        }
        if (!endWritten) {
            if (trailerFields != null && trailerFields.isReadable()) {
                writeHeldBody();
                writeEnd(Http2Fields.responseTrailers(trailerFields), null);
            } else {
                ByteBuf last = heldBody;
                heldBody = null;
                writeEnd(null, last != null ? last : Unpooled.EMPTY_BUFFER);
            }
        }
        ReferenceCountUtil.release(trailerFields);
        finish();
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
        if (responseState != ResponseState.WAITING) {
            return;
        }
        responseState = ResponseState.STREAMING;
        byte[] body = (location != null ? LocalResponses.redirectBody(location)
                : LocalResponses.body(status, retryAfterSeconds)).getBytes(StandardCharsets.US_ASCII);
        Http2Headers headers = new DefaultHttp2Headers(false, 6)
                .status(HttpResponseStatus.valueOf(status).codeAsText())
                .add(HttpHeaderNames.CONTENT_TYPE, TEXT_PLAIN_UTF8)
                .add(HttpHeaderNames.CONTENT_LENGTH, AsciiString.of(Integer.toString(body.length)))
                .add(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                .add(HttpHeaderNames.DATE, LocalResponses.date());
        if (retryAfterSeconds > 0) {
            headers.add(HttpHeaderNames.RETRY_AFTER, AsciiString.of(Long.toString(retryAfterSeconds)));
        }
        if (location != null) {
            headers.add(HttpHeaderNames.LOCATION, AsciiString.of(location));
        }
        if (headRequest) {
            writeEnd(headers, null);
        } else {
            connection.writeHeaders(id(), headers, false, connection.voidPromise());
            writeEnd(null, connection.alloc().buffer(body.length).writeBytes(body));
            // The body waits for the client's window like any response's, and a client that grants none is timed as
            // one that stops taking a response (checkDeadlines). A stream that could take no DATA before its response
            // began gets no news of its writability when the body is queued: it is marked here, or the stream, and
            // its connection, would be held for good.
            if (unwritableSinceNanos == 0 && !connection.isWritable(codecStream)) {
                unwritableSinceNanos = System.nanoTime();
            }
        }
        finish();
    }

    @Override
    public void abortResponse(int status) {
        if (responseState == ResponseState.WAITING) {
            localResponse(status);
            return;
        }
        if (responseState == ResponseState.STREAMING && !endWritten) {
            // Part of it reached the client: the stream is reset, the connection and its other streams go on (the
            // reset is not counted against the client's reset budget: its backend failed, which a client cannot
            // repeat at will; a request body that stalls does not end a response that began, see checkDeadlines).
            connection.stats().abortedResponses.increment();
            reset(Http2Error.INTERNAL_ERROR, true);
        }
    }

    @Override
    public void resumeRequestBody() {
        Exchange ex = exchange;
        if (readPaused && ex != null && !ex.requestBodyBlocked()) {
            resumeReading();
        }
    }

    /** The backend's read is complete (or the exchange has written): the held body goes out with the rest. */
    @Override
    public void flush() {
        writeHeldBody();
        connection.flush();
    }

    // ---------------------------------------------------------------- writing

    /**
     * Writes the frame that carries END_STREAM: HEADERS with {@code headers} if not null, else DATA with {@code data}
     * (owned; the encoder releases it). If the request body is still arriving, the client is then
     * asked to stop sending it with RST_STREAM NO_ERROR (RFC 9113 section 8.1), once that frame is out (a
     * reset sooner would discard the response that flow control still holds back) and once no DATA can be
     * in flight behind the reset ({@link RequestState#DISCARDING}).
     */
    private void writeEnd(Http2Headers headers, ByteBuf data) {
        endWritten = true;
        ChannelPromise written = requestState == RequestState.COMPLETE ? connection.voidPromise() : connection.newPromise();
        if (headers != null) {
            connection.writeHeaders(id(), headers, true, written);
        } else {
            connection.writeData(id(), data, true, written);
        }
        if (written.isVoid()) {
            return;
        }
        written.addListener(f -> {
            if (f.isSuccess() && (requestState == RequestState.BODY || requestState == RequestState.ABANDONED)
                    && codecStream.state().remoteSideOpen()) {
                requestState = RequestState.DISCARDING;
                lastDiscardNanos = System.nanoTime();
                releaseHeldFrames();
                if (awaitingContinue && !dataReceived) {
                    stopRequestBody(); // told no 100, it sends no body: nothing is coming
                } else {
                    stopRequestBodyOnceWindowIsSpent();
                }
            }
        });
    }

    /** While {@link RequestState#DISCARDING}: resets the stream (NO_ERROR) once the client can send no more DATA. */
    private void stopRequestBodyOnceWindowIsSpent() {
        if (connection.receiveWindow(codecStream) <= 0) {
            stopRequestBody();
        }
    }

    /** Asks the client to stop sending the body of a request whose response is complete (section 8.1). */
    private void stopRequestBody() {
        requestState = RequestState.COMPLETE;
        if (codecStream.state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
            connection.writeReset(codecStream, Http2Error.NO_ERROR, false);
            connection.flush();
        }
    }

    /** The response is complete (its END_STREAM frame written, maybe still held by flow control). */
    private void finish() {
        responseState = ResponseState.COMPLETE;
        if (exchange != null) {
            exchange.release();
        }
        connection.flush();
    }

    /** Ends the stream with RST_STREAM {@code error}; the exchange, if its response was not complete, is dropped. */
    private void reset(Http2Error error) {
        reset(error, false);
    }

    /**
     * As {@link #reset(Http2Error)}; {@code responseAbandoned}: its exchange gave up on a response under way
     * ({@link #abortResponse}), which the client did not provoke.
     */
    private void reset(Http2Error error, boolean responseAbandoned) {
        boolean responseOpen = responseState != ResponseState.COMPLETE;
        requestState = RequestState.COMPLETE;
        responseState = ResponseState.COMPLETE;
        releaseHeldFrames();
        releaseHeldBody();
        if (exchange != null && responseOpen) {
            exchange.abort(); // a complete response's exchange was released already
        }
        if (codecStream.state() != io.netty.handler.codec.http2.Http2Stream.State.CLOSED) {
            connection.writeReset(codecStream, error, responseAbandoned);
            connection.flush();
        }
    }

    /** Since when the client has taken nothing of this stream's response (its window closed, or the socket full), or 0. */
    long stalledSinceNanos() {
        return unwritableSinceNanos;
    }

    /**
     * The client took nothing of the response for too long (client_idle_ms, or a second under memory pressure), while
     * it held a backend read: the stream is reset (CANCEL), its exchange and backend connection dropped; the
     * connection's other streams go on.
     */
    void cancelStalled() {
        unwritableSinceNanos = 0;
        reset(Http2Error.CANCEL);
    }

    /** After a response write: if the stream can take no more, the backend pauses until it can. */
    private void checkWritable() {
        if (!responsePaused && !connection.isWritable(codecStream)) {
            writabilityChanged();
        }
    }

    /**
     * The stream's writability may have changed (the codec says so when its window, the connection's window
     * or the socket's buffer opens or fills, and {@link #checkWritable} asks after each write): a streaming
     * response's backend pauses or resumes to match.
     */
    void writabilityChanged() {
        boolean writable = connection.isWritable(codecStream);
        if (writable || responseState == ResponseState.WAITING) {
            // A stream with nothing to send yet is not held back by the client, whatever the connection's window.
            unwritableSinceNanos = 0;
        } else if (unwritableSinceNanos == 0) {
            unwritableSinceNanos = System.nanoTime();
        }
        if (writable == responsePaused && exchange != null && responseState == ResponseState.STREAMING) {
            responsePaused = !writable;
            exchange.pauseResponse(!writable);
        }
    }

    // ---------------------------------------------------------------- deadlines

    /**
     * Enforces the stream's deadlines at {@code now}: a client that stopped taking the response (its window
     * stayed closed) for {@code idleNanos} gets the stream reset; one that stopped sending the request body for
     * that long gets a 408 if no response started, and otherwise the response goes on without the rest of the
     * body ({@link RequestState#ABANDONED}).
     */
    void checkDeadlines(long now, long idleNanos) {
        if (unwritableSinceNanos != 0 && now - unwritableSinceNanos > idleNanos) {
            log.debug("HTTP/2 client {} took nothing of a response for {} ms: resetting its stream",
                    connection.remoteAddress(), idleNanos / 1_000_000);
            cancelStalled();
            return;
        }
        if (requestState == RequestState.DISCARDING && now - lastDiscardNanos > DISCARD_MAX_NANOS) {
            stopRequestBody();
        }
        if (responseState == ResponseState.COMPLETE) {
            return;
        }
        if (requestState == RequestState.BODY && !readPaused && now - lastReadNanos > idleNanos) {
            if (responseState == ResponseState.STREAMING && exchange != null) {
                log.debug("HTTP/2 client {} stopped sending a body whose response has begun", connection.remoteAddress());
                requestState = RequestState.ABANDONED;
                exchange.requestAbandoned();
                return;
            }
            log.debug("HTTP/2 client {} stalled in a request body", connection.remoteAddress());
            connection.stats().clientTimeouts.increment();
            if (exchange != null) {
                exchange.fail(408);
            } else {
                reset(Http2Error.CANCEL);
            }
        }
    }
}
