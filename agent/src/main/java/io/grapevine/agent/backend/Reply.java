package io.grapevine.agent.backend;

import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.function.Function;

/** An exchange whose whole response is known from the request head: it ignores the body. */
final class Reply extends Exchange {
    /** Builds the response when it is sent, so no buffer is held while the request body arrives. */
    private final Function<ByteBufAllocator, FullHttpResponse> response;
    private final boolean close;

    private Reply(Function<ByteBufAllocator, FullHttpResponse> response, boolean close) {
        this.response = response;
        this.close = close;
    }

    static Reply text(HttpResponseStatus status, String body) {
        return new Reply(alloc -> Responses.text(alloc, status, body), false);
    }

    static Reply empty(HttpResponseStatus status) {
        return new Reply(alloc -> Responses.empty(status), false);
    }

    /** The same reply with {@code Connection: close}, closing the connection once it is written. */
    Reply closing() {
        return new Reply(response, true);
    }

    @Override
    ChannelFuture respond(ChannelHandlerContext ctx) {
        FullHttpResponse message = response.apply(ctx.alloc());
        if (close) {
            message.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        ChannelFuture written = ctx.writeAndFlush(message);
        if (close) {
            written.addListener(ChannelFutureListener.CLOSE);
        }
        return written;
    }
}
