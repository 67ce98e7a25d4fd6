package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.ClientConnection;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the PROXY protocol header (a v1 line read by {@link ProxyHeaderCheck}, or v2, decoded by Netty's
 * {@code HAProxyMessageDecoder} just before this handler) that an L4 balancer in front sends first on each connection, records the client address it
 * announces on the channel ({@link ClientAddress}), then builds the rest of the pipeline and steps aside.
 *
 * <p>A connection whose first bytes are not a valid header, or whose header does not arrive within the
 * client header timeout, is closed: when the listener expects the PROXY protocol, a connection without
 * it is not from the balancer. So is one whose client stops sending (a FIN) before the header is complete, at once:
 * no header can follow. A {@code LOCAL} command (the balancer's own health check) or an
 * {@code UNKNOWN} protocol keeps the connection's own addresses.
 *
 * <p>Until the header has arrived it stands for the connection on its loop, as the preface detector does
 * after it: the loop's sweep enforces the timeout, a drain closes it (nothing is in flight yet), and so does
 * the proxy's stop ({@link LoopContext#closeAll}). Thread: the channel's event loop.
 */
final class ProxyProtocolReader extends ClientChannelHandler implements ClientConnection {

    private static final Logger log = LoggerFactory.getLogger(ProxyProtocolReader.class);

    private final ProxyStats stats;
    private final LoopContext loop;
    private final long timeoutMillis;
    private final Consumer<ChannelPipeline> rest;
    private long activeSinceNanos;
    /** The connection was refused already (a decoder error may close it before this handler hears of it). */
    private boolean rejected;

    /** @param rest adds what follows the header (TLS, the HTTP codec) to the end of the pipeline */
    ProxyProtocolReader(ProxyStats stats, LoopContext loop, long timeoutMillis, Consumer<ChannelPipeline> rest) {
        this.stats = stats;
        this.loop = loop;
        this.timeoutMillis = timeoutMillis;
        this.rest = rest;
    }

    @Override
    protected void activate() {
        activeSinceNanos = System.nanoTime();
        loop.register(this);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        loop.unregister(this); // the header arrived: what follows registers itself
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        loop.unregister(this);
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof HAProxyMessage header)) {
            ReferenceCountUtil.release(msg);
            reject(ctx, "bytes before the PROXY header");
            return;
        }
        try {
            if (header.command() == HAProxyCommand.PROXY && (header.proxiedProtocol() == HAProxyProxiedProtocol.TCP4
                    || header.proxiedProtocol() == HAProxyProxiedProtocol.TCP6)) {
                ctx.channel().attr(ClientAddress.ANNOUNCED).set(
                        new InetSocketAddress(header.sourceAddress(), header.sourcePort()));
                ctx.channel().attr(ClientAddress.ANNOUNCED_DESTINATION).set(
                        new InetSocketAddress(header.destinationAddress(), header.destinationPort()));
            }
        } finally {
            header.release();
        }
        ChannelPipeline pipeline = ctx.pipeline();
        rest.accept(pipeline);
        pipeline.remove(this); // bytes after the header flow on to what was just added
    }

    /**
     * The client half-closed before its header was complete (client channels allow half-closure, and the decoders
     * before this handler pass the event on): the header can never arrive. A FIN after a complete header reaches the
     * handlers installed in this one's place instead, the header having been read first.
     */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            reject(ctx, "input ended before the PROXY header was complete");
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        reject(ctx, cause.getMessage());
    }

    private void reject(ChannelHandlerContext ctx, String why) {
        if (!rejected) {
            rejected = true;
            stats.proxyProtocolRejected.increment();
            log.debug("closing {}: {}", ctx.channel().remoteAddress(), why);
        }
        ctx.close();
    }

    @Override
    public void checkDeadlines(long nowNanos) {
        if (nowNanos - activeSinceNanos > TimeUnit.MILLISECONDS.toNanos(timeoutMillis)) {
            reject(ctx, "no PROXY header within " + timeoutMillis + " ms");
        }
    }

    @Override
    public void beginDrain() {
        ctx.close(); // nothing in flight yet
    }

    @Override
    public void closeAfterNextResponse() {
        // nothing to answer yet: the connection that follows the header registers itself and is told then
    }
}
