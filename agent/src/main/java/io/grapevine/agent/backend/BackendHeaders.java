package io.grapevine.agent.backend;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.AsciiString;
import java.util.ArrayDeque;

/**
 * Sets the headers every response carries: {@code X-Backend-Id}, and {@code Connection:
 * keep-alive} when answering an HTTP/1.0 request that asked to keep the connection (an
 * HTTP/1.0 client assumes close otherwise; RFC 9112 section 9.3 and appendix C.2.2).
 *
 * <p>Sits between {@link io.netty.handler.codec.http.HttpServerKeepAliveHandler} and the
 * router, so that handler can still turn the keep-alive into a close. Requests are seen as
 * they are decoded, before the router queues pipelined ones, so the per-request flag is
 * kept in a FIFO matched against final (non-1xx) responses.
 */
final class BackendHeaders extends ChannelDuplexHandler {
    static final AsciiString X_BACKEND_ID = AsciiString.cached("X-Backend-Id");

    private final AsciiString id;
    /** One entry per request not yet answered: true for an HTTP/1.0 keep-alive request. */
    private final ArrayDeque<Boolean> http10KeepAlive = new ArrayDeque<>();

    BackendHeaders(int id) {
        this.id = AsciiString.of(Integer.toString(id));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest request) {
            http10KeepAlive.add(!request.protocolVersion().isKeepAliveDefault() && HttpUtil.isKeepAlive(request));
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof HttpResponse response) {
            response.headers().set(X_BACKEND_ID, id);
            if (response.status().codeClass() != HttpStatusClass.INFORMATIONAL
                    && Boolean.TRUE.equals(http10KeepAlive.poll())
                    && !response.headers().contains(HttpHeaderNames.CONNECTION)) {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            }
        }
        ctx.write(msg, promise);
    }
}
