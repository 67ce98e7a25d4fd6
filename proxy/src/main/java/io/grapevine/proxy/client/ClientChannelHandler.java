package io.grapevine.proxy.client;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;

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
     * Closes the connection of a client that reads nothing, at once, from {@code from} (the caller's context, or one
     * below it). Over TLS it closes from below the TLS handler: {@link SslHandler}'s own close writes a close_notify
     * behind what is queued and closes the socket once that is flushed, which such a client never lets happen, so the
     * socket and its buffers would stay until its close-notify flush timeout (3 s, then a WARN line each). Every
     * handler still hears of the end (channelInactive), the TLS handler included, which releases what it holds.
     */
    protected final void closeAtOnce(ChannelHandlerContext from) {
        ChannelHandlerContext tls = channel.pipeline().context(SslHandler.class);
        (tls != null ? tls : from).close();
    }

    private void activateOnce() {
        if (!activated) {
            activated = true;
            activate();
        }
    }
}
