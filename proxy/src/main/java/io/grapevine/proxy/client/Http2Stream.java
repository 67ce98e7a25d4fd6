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
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One HTTP/2 stream: one request, its {@link Exchange}, and the exchange's view of the client. The only
 * handler of the stream's child channel (Netty's {@code Http2MultiplexHandler} makes one per stream, on the
 * connection's event loop).
 *
 * <p>The request head is checked and translated by {@link Http2Fields}, then goes through the same
 * {@link RequestHeadParser} as an HTTP/1.1 request, with the table read once; a malformed one resets the
 * stream (PROTOCOL_ERROR, RFC 9113 section 8.1.1), one the parser refuses is answered (400, 431, ...).
 * Request DATA is passed on as it arrives; while the backend cannot take more, the child channel stops
 * reading, so the frames wait in Netty's queue and no WINDOW_UPDATE goes out: the client's window closes.
 * The response goes back as HEADERS, DATA and trailers on this stream; while the stream cannot take more
 * (its flow-control window or the connection is full), the backend is paused.
 *
 * <p>The stream never closes its channel itself: it ends its side with END_STREAM or RST_STREAM and Netty
 * closes the child channel once both sides are done. A complete response while the request body is still
 * arriving is followed by RST_STREAM NO_ERROR (section 8.1), so the client stops sending.
 *
 * <p>Thread: the connection's event loop. Buffers: request DATA content passes to the exchange; response
 * parts are written to the child channel, which releases them.
 */
final class Http2Stream extends ChannelInboundHandlerAdapter implements ClientStream {

    private static final Logger log = LoggerFactory.getLogger(Http2Stream.class);

    private static final AsciiString TEXT_PLAIN_UTF8 = AsciiString.cached("text/plain; charset=utf-8");

    /** Where the request stands, as read from the client. */
    enum RequestState {
        /** The request header block has not arrived yet. */
        HEAD,
        /** The head was read; DATA (and maybe trailers) follow until END_STREAM. */
        BODY,
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
    private ChannelHandlerContext ctx;
    private Channel channel;
    private Exchange exchange;
    private RequestState requestState = RequestState.HEAD;
    private ResponseState responseState = ResponseState.WAITING;
    /** The request is HEAD: responses have no body. */
    private boolean headRequest;
    /** The response HEADERS carried END_STREAM (no body): the response end writes nothing more. */
    private boolean endedWithHead;
    private boolean readPaused;
    private long lastReadNanos;
    /** When the child channel became unwritable; 0 while writable. */
    private long unwritableSinceNanos;

    Http2Stream(Http2Connection connection) {
        this.connection = connection;
        this.loop = connection.loop();
    }

    // ---------------------------------------------------------------- lifecycle

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.channel = ctx.channel();
        lastReadNanos = System.nanoTime();
        connection.streamOpened(this);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        connection.streamClosed(this);
        requestState = RequestState.COMPLETE;
        if (responseState != ResponseState.COMPLETE) {
            responseState = ResponseState.COMPLETE;
            if (exchange != null) {
                exchange.abort(); // reset by the client, or the connection went away
            }
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Stream errors found by the codec: Netty resets the stream and closes this channel after this.
        log.debug("HTTP/2 stream {} of {} failed: {}", channel.id(), channel.parent().remoteAddress(), cause.toString());
    }

    // ---------------------------------------------------------------- request, from the client

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame data) {
            onData(data);
        } else if (msg instanceof Http2HeadersFrame headers) {
            if (requestState == RequestState.HEAD) {
                onRequestHead(headers);
            } else {
                onTrailers(headers);
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onRequestHead(Http2HeadersFrame frame) {
        Http2Headers headers = frame.headers();
        boolean end = frame.isEndStream();
        requestState = end ? RequestState.COMPLETE : RequestState.BODY;
        headRequest = AsciiString.contentEquals(HttpMethod.HEAD.asciiName(), headers.method());
        Http2Fields fields = connection.fields();
        int length = fields.requestHead(headers, end);
        if (length == Http2Fields.MALFORMED) {
            connection.stats().badRequests.increment();
            log.debug("malformed HTTP/2 request from {} on stream {}", channel.parent().remoteAddress(),
                    frame.stream().id());
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
        parser.setCaptureRouting(table.needsPath());
        RequestKeys keys = table.requestKeys();
        parser.setCapture(keys.headers(), keys.cookies(), keys.proxyCookies());
        RequestHead head = new RequestHead();
        int status = parser.parse(fields.head(), length, connection.clientAddress(), connection.secure(), head,
                ctx.alloc());
        if (status != RequestHeadParser.OK) {
            reject(status);
            return;
        }
        connection.stats().requests.increment();
        exchange = new Exchange(this, head, table, loop);
        exchange.start();
    }

    /** A request the proxy refuses to forward (nothing of it left the proxy): answered, never reset. */
    private void reject(int status) {
        connection.stats().badRequests.increment();
        log.debug("rejected an HTTP/2 request from {} with {}", channel.parent().remoteAddress(), status);
        localResponse(status);
    }

    private void onData(Http2DataFrame frame) {
        if (requestState != RequestState.BODY) {
            frame.release(); // after a rejection or a reset: nowhere to go
            return;
        }
        lastReadNanos = System.nanoTime();
        boolean end = frame.isEndStream();
        Exchange ex = exchange;
        if (ex == null || !frame.content().isReadable()) {
            frame.release();
        } else {
            ex.requestBody(frame.content());
        }
        if (end) {
            requestEnd(null);
        } else if (ex != null && ex.requestBodyBlocked()) {
            pauseReading(true);
        }
    }

    private void onTrailers(Http2HeadersFrame frame) {
        if (requestState != RequestState.BODY) {
            return;
        }
        Http2Headers trailers = frame.headers();
        if (!Http2Fields.validTrailers(trailers)) {
            connection.stats().badRequests.increment();
            reset(Http2Error.PROTOCOL_ERROR);
            return;
        }
        requestEnd(exchange == null ? null : Http2Fields.requestTrailers(trailers, ctx.alloc()));
    }

    private void requestEnd(ByteBuf trailerFields) {
        requestState = RequestState.COMPLETE;
        if (exchange != null) {
            exchange.requestEnd(trailerFields);
        } else if (trailerFields != null) {
            trailerFields.release();
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (exchange != null) {
            exchange.flushRequest();
        }
    }

    private void pauseReading(boolean pause) {
        if (pause != readPaused) {
            readPaused = pause;
            channel.config().setAutoRead(!pause);
            if (!pause) {
                lastReadNanos = System.nanoTime();
            }
        }
    }

    // ---------------------------------------------------------------- ClientStream

    @Override
    public ByteBufAllocator alloc() {
        return ctx.alloc();
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
        write(new DefaultHttp2HeadersFrame(head.http2Headers, false));
        head.http2Headers = null;
    }

    @Override
    public void responseHead(ResponseHead head) {
        if (responseState != ResponseState.WAITING) {
            head.release();
            return;
        }
        responseState = ResponseState.STREAMING;
        endedWithHead = head.clientBody == BodyKind.NONE
                || (head.clientBody == BodyKind.LENGTH && head.contentLength == 0);
        Http2HeadersFrame frame = new DefaultHttp2HeadersFrame(head.http2Headers, endedWithHead);
        head.http2Headers = null;
        if (endedWithHead) {
            writeEnd(frame);
        } else {
            write(frame);
        }
    }

    @Override
    public void responseBody(ByteBuf data) {
        if (responseState != ResponseState.STREAMING || endedWithHead || !data.isReadable()) {
            data.release();
            return;
        }
        write(new DefaultHttp2DataFrame(data, false));
    }

    @Override
    public void responseEnd(ByteBuf trailerFields) {
        if (responseState != ResponseState.STREAMING) {
            ReferenceCountUtil.release(trailerFields);
            return;
        }
        if (!endedWithHead) {
            if (trailerFields != null && trailerFields.isReadable()) {
                writeEnd(new DefaultHttp2HeadersFrame(Http2Fields.responseTrailers(trailerFields), true));
            } else {
                writeEnd(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true));
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
        if (responseState != ResponseState.WAITING) {
            return;
        }
        responseState = ResponseState.STREAMING;
        byte[] body = LocalResponses.body(status, retryAfterSeconds).getBytes(StandardCharsets.US_ASCII);
        Http2Headers headers = new DefaultHttp2Headers(false, 5)
                .status(HttpResponseStatus.valueOf(status).codeAsText())
                .add(HttpHeaderNames.CONTENT_TYPE, TEXT_PLAIN_UTF8)
                .add(HttpHeaderNames.CONTENT_LENGTH, AsciiString.of(Integer.toString(body.length)))
                .add(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE);
        if (retryAfterSeconds > 0) {
            headers.add(HttpHeaderNames.RETRY_AFTER, AsciiString.of(Long.toString(retryAfterSeconds)));
        }
        if (headRequest) {
            writeEnd(new DefaultHttp2HeadersFrame(headers, true));
        } else {
            write(new DefaultHttp2HeadersFrame(headers, false));
            writeEnd(new DefaultHttp2DataFrame(ctx.alloc().buffer(body.length).writeBytes(body), true));
        }
        finish();
    }

    @Override
    public void abortResponse(int status) {
        if (responseState == ResponseState.WAITING) {
            localResponse(status);
            return;
        }
        if (responseState == ResponseState.STREAMING) {
            // Part of it reached the client: the stream is reset, the connection and its other streams go on.
            connection.stats().abortedResponses.increment();
            reset(Http2Error.INTERNAL_ERROR);
        }
    }

    @Override
    public void resumeRequestBody() {
        Exchange ex = exchange;
        if (readPaused && ex != null && !ex.requestBodyBlocked()) {
            pauseReading(false);
        }
    }

    @Override
    public void flush() {
        ctx.flush();
    }

    // ---------------------------------------------------------------- writing

    private void write(Object frame) {
        ctx.write(frame, ctx.voidPromise());
    }

    /**
     * Writes the frame that carries END_STREAM. If the request body is still arriving, the client is then
     * asked to stop sending it with RST_STREAM NO_ERROR (RFC 9113 section 8.1), once that frame is out: a
     * reset sooner would discard the response that flow control still holds back.
     */
    private void writeEnd(Object frame) {
        if (requestState == RequestState.COMPLETE) {
            write(frame);
            return;
        }
        ctx.write(frame).addListener(f -> {
            if (f.isSuccess() && requestState != RequestState.COMPLETE && channel.isActive()) {
                requestState = RequestState.COMPLETE;
                ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR), ctx.voidPromise());
            }
        });
    }

    /** The response is complete (its END_STREAM frame written, maybe still held by flow control). */
    private void finish() {
        responseState = ResponseState.COMPLETE;
        if (exchange != null) {
            exchange.release();
        }
        ctx.flush();
    }

    /** Ends the stream with RST_STREAM {@code error}; the exchange, if any, is dropped. */
    private void reset(Http2Error error) {
        requestState = RequestState.COMPLETE;
        responseState = ResponseState.COMPLETE;
        if (exchange != null) {
            exchange.abort();
        }
        ctx.writeAndFlush(new DefaultHttp2ResetFrame(error), ctx.voidPromise());
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean writable = channel.isWritable();
        unwritableSinceNanos = writable ? 0 : System.nanoTime();
        if (exchange != null && responseState == ResponseState.STREAMING) {
            exchange.pauseResponse(!writable);
        }
    }

    // ---------------------------------------------------------------- deadlines

    /**
     * Enforces the stream's deadlines at {@code now}: a client that stopped taking the response (its window
     * stayed closed) or stopped sending the request body for {@code idleNanos} gets the stream reset, or a
     * 408 if no response started.
     */
    void checkDeadlines(long now, long idleNanos) {
        if (unwritableSinceNanos != 0 && now - unwritableSinceNanos > idleNanos) {
            log.debug("HTTP/2 client {} took nothing of a response for {} ms: resetting its stream",
                    channel.parent().remoteAddress(), idleNanos / 1_000_000);
            unwritableSinceNanos = 0;
            reset(Http2Error.CANCEL);
            return;
        }
        if (responseState == ResponseState.COMPLETE) {
            return;
        }
        if (requestState == RequestState.BODY && !readPaused && now - lastReadNanos > idleNanos) {
            log.debug("HTTP/2 client {} stalled in a request body", channel.parent().remoteAddress());
            connection.stats().clientTimeouts.increment();
            if (exchange != null) {
                exchange.fail(408);
            } else {
                reset(Http2Error.CANCEL);
            }
        }
    }
}
