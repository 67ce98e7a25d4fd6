package io.grapevine.agent.backend;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads requests from {@link io.netty.handler.codec.http.HttpServerCodec} and runs one
 * {@link Exchange} at a time.
 *
 * <p>Request bodies are handed to the exchange piece by piece as they arrive and released at
 * once; nothing is aggregated. While a response is still being written (a slow or streamed
 * one), further decoded messages, i.e. pipelined requests, wait in a queue and reading from
 * the socket is paused, so responses go out in request order (RFC 9112 section 9.3.2) and a
 * client that pipelines cannot make this queue grow past one read's worth.
 *
 * <p>A malformed request gets {@code 400} and the connection is closed after it; so does an
 * {@code Expect} other than {@code 100-continue} ({@code 417}, RFC 9110 section 10.1.1).
 */
final class RequestRouter extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(RequestRouter.class);

    private final WorkerControl worker;
    /** Messages decoded while a response was being written; owned (to release) by this handler. */
    private final ArrayDeque<HttpObject> waiting = new ArrayDeque<>();
    /** The request being read or answered; null between requests. */
    private Exchange exchange;
    /** The current exchange's response is being written. */
    private boolean responding;
    /** A malformed request was answered: everything else on this connection is dropped. */
    private boolean discarding;
    /** Inside {@link #drainWaiting}, which a synchronously completed response may re-enter. */
    private boolean draining;

    RequestRouter(WorkerControl worker) {
        this.worker = worker;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof HttpObject object)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (msg instanceof HttpRequest) {
            worker.requestReceived();
        }
        if (responding || !waiting.isEmpty()) {
            waiting.add(object);
            ctx.channel().config().setAutoRead(false);
            return;
        }
        dispatch(ctx, object);
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (responding) {
            exchange.onWritabilityChanged(ctx);
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (exchange != null) {
            exchange.abort();
            exchange = null;
        }
        responding = false;
        releaseWaiting();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseWaiting();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("backend {}: closing {} after {}", worker.id(), ctx.channel(), cause.toString());
        ctx.close();
    }

    private void dispatch(ChannelHandlerContext ctx, HttpObject msg) {
        try {
            if (msg instanceof HttpRequest request && !discarding) {
                onRequest(ctx, request);
            }
            if (msg instanceof HttpContent content && !discarding) {
                onContent(ctx, content);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onRequest(ChannelHandlerContext ctx, HttpRequest request) {
        if (request.decoderResult().isFailure()) {
            reject(ctx, HttpResponseStatus.BAD_REQUEST, "bad request: " + request.decoderResult().cause().getMessage());
            return;
        }
        String expect = request.headers().get(HttpHeaderNames.EXPECT);
        if (expect != null && request.protocolVersion().compareTo(HttpVersion.HTTP_1_1) >= 0) {
            if (!HttpHeaderValues.CONTINUE.contentEqualsIgnoreCase(expect)) {
                reject(ctx, HttpResponseStatus.EXPECTATION_FAILED, "unsupported expectation: " + expect);
                return;
            }
            ctx.writeAndFlush(new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE,
                    Unpooled.EMPTY_BUFFER));
        }
        exchange = Routes.route(request, worker);
    }

    private void onContent(ChannelHandlerContext ctx, HttpContent content) {
        if (content.decoderResult().isFailure()) {
            reject(ctx, HttpResponseStatus.BAD_REQUEST, "bad request body: " + content.decoderResult().cause().getMessage());
            return;
        }
        if (content.content().isReadable()) {
            exchange.onBody(content.content());
        }
        if (content instanceof LastHttpContent last) {
            exchange.onTrailers(last.trailingHeaders());
            Exchange answering = exchange;
            responding = true;
            answering.respond(ctx).addListener((ChannelFuture f) -> responded(ctx, answering, f));
        }
    }

    private void responded(ChannelHandlerContext ctx, Exchange answered, ChannelFuture written) {
        if (exchange != answered) {
            return; // aborted by channelInactive
        }
        exchange = null;
        responding = false;
        if (!written.isSuccess()) {
            ctx.close();
            return;
        }
        drainWaiting(ctx);
    }

    private void drainWaiting(ChannelHandlerContext ctx) {
        if (draining) {
            return; // the enclosing drainWaiting loop picks up from here
        }
        draining = true;
        try {
            HttpObject next;
            while (!responding && (next = waiting.poll()) != null) {
                dispatch(ctx, next);
            }
        } finally {
            draining = false;
        }
        if (!responding && waiting.isEmpty() && ctx.channel().isActive()) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    /** Answers with {@code status} and closes the connection; the rest of its input is dropped. */
    private void reject(ChannelHandlerContext ctx, HttpResponseStatus status, String reason) {
        discarding = true;
        exchange = null;
        releaseWaiting();
        var response = Responses.text(ctx.alloc(), status, reason + "\n");
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
    }

    private void releaseWaiting() {
        HttpObject msg;
        while ((msg = waiting.poll()) != null) {
            ReferenceCountUtil.release(msg);
        }
    }
}
