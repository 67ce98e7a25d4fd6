package io.grapevine.proxy.client;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import java.util.concurrent.TimeUnit;

/**
 * The handler at the end of a client connection's pipeline (a codec, or the preface detector or PROXY header
 * reader before one):
 * set up exactly once, when its channel is active, whether it was added before that (a plaintext
 * connection) or after (TLS first, or the detector that chose it). Thread: the channel's event loop.
 */
abstract class ClientChannelHandler extends ChannelInboundHandlerAdapter {

    protected ChannelHandlerContext ctx;
    protected Channel channel;
    private boolean activated;

    /** The client's channel; null until this handler is added. */
    public Channel channel() {
        return channel;
    }

    /** The channel is active and this handler in its pipeline: register, start deadlines, send a preface. */
    protected abstract void activate();

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.channel = ctx.channel();
        if (channel.isActive()) {
            activateOnce();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        activateOnce();
        ctx.fireChannelActive();
    }

    /**
     * Before closing a connection whose client reads nothing: its close does not wait for TLS's close_notify to be
     * written. {@link SslHandler} writes one behind what is queued and closes the socket once it is flushed, which a
     * client that reads nothing never lets happen: the socket, and the buffers queued, would stay until its
     * close-notify flush timeout (3 s). Without TLS, nothing to do.
     */
    protected final void closeWithoutWaitingForTheClient() {
        SslHandler tls = channel.pipeline().get(SslHandler.class);
        if (tls != null) {
            tls.setCloseNotifyFlushTimeout(1, TimeUnit.MILLISECONDS); // 0 would wait for the flush for good
        }
    }

    private void activateOnce() {
        if (!activated) {
            activated = true;
            activate();
        }
    }
}
