package io.grapevine.agent.backend;

import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * {@code /crash}: the worker closes its listening socket first (so a client that has read the
 * answer already finds the port refusing), answers {@code crashing}, then drops every
 * connection it has, this one included. Other workers in the process are not touched.
 */
final class CrashExchange extends Exchange {
    private final WorkerControl worker;

    CrashExchange(WorkerControl worker) {
        this.worker = worker;
    }

    @Override
    ChannelFuture respond(ChannelHandlerContext ctx) {
        worker.stopListening();
        FullHttpResponse response = Responses.text(ctx.alloc(), HttpResponseStatus.OK, "crashing\n");
        response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        ChannelFuture written = ctx.writeAndFlush(response);
        written.addListener(f -> worker.dropConnections());
        return written;
    }
}
