package io.grapevine.agent.backend;

import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/** {@code /slow?ms=N}: answers after N ms, scheduled on the event loop (no thread sleeps). */
final class SlowExchange extends Exchange {
    private final long millis;
    private ScheduledFuture<?> timer;

    SlowExchange(long millis) {
        this.millis = millis;
    }

    @Override
    ChannelFuture respond(ChannelHandlerContext ctx) {
        ChannelPromise done = ctx.newPromise();
        timer = ctx.executor().schedule(
                () -> ctx.writeAndFlush(Responses.text(ctx.alloc(), HttpResponseStatus.OK, "waited " + millis + " ms\n"), done),
                millis, TimeUnit.MILLISECONDS);
        return done;
    }

    @Override
    void abort() {
        if (timer != null) {
            timer.cancel(false);
        }
    }
}
