package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.ClientConnection;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SniCompletionEvent;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits for the TLS handshake of a client connection, then installs the codec of the protocol the client and the
 * proxy agreed on by ALPN (RFC 7301; HTTP/1.1 when the client offered no protocol) and leaves the pipeline.
 *
 * <p>Until then it stands for the connection: it counts the handshake ({@code tls_handshakes}, or
 * {@code tls_handshake_failures} and closes the connection), takes a connection that closes before a codec took
 * over off the open connection count, and answers a drain by closing, since no request has come yet. The
 * handshake deadline is the TLS handler's.
 *
 * <p>Pipeline: right after the TLS handler; the codec takes its place at the end. Thread: the channel's event loop.
 */
final class AlpnCodecSelector extends ChannelInboundHandlerAdapter implements ClientConnection {

    private static final Logger log = LoggerFactory.getLogger(AlpnCodecSelector.class);

    private final ClientInitializer initializer;
    private final LoopContext loop;
    private final ProxyStats stats;
    private ChannelHandlerContext ctx;
    private boolean failed;

    AlpnCodecSelector(ClientInitializer initializer, LoopContext loop) {
        this.initializer = initializer;
        this.loop = loop;
        this.stats = loop.stats();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        loop.register(this);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        loop.unregister(this);
    }

    @Override
    public Channel channel() {
        return ctx.channel();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SniCompletionEvent sni) {
            if (!sni.isSuccess()) {
                fail(ctx, sni.cause()); // not TLS, a ClientHello too long, or none in time
            }
        } else if (evt instanceof SslHandshakeCompletionEvent handshake) {
            if (handshake.isSuccess()) {
                installCodec(ctx);
            } else {
                fail(ctx, handshake.cause());
            }
        } else if (evt instanceof ChannelInputShutdownEvent) {
            ctx.close(); // a client that stopped sending cannot finish its handshake
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    private void installCodec(ChannelHandlerContext ctx) {
        String protocol = ctx.pipeline().get(SslHandler.class).applicationProtocol();
        stats.tlsHandshakes.increment();
        if (protocol == null) {
            // No ALPN: HTTP/1.1, or HTTP/2 with prior knowledge, as on the plaintext listener (RFC 9113 section 3.3).
            initializer.installHttp1OrHttp2(ctx.pipeline());
        } else if (!initializer.installAlpnCodec(protocol, ctx.pipeline())) {
            log.warn("client {} agreed on ALPN protocol \"{}\", which has no codec here; closing", remote(), protocol);
            ctx.close();
            return;
        }
        // Application data of this read follows the handshake event: it reaches the codec, now next in line.
        ctx.pipeline().remove(this);
    }

    private void fail(ChannelHandlerContext ctx, Throwable cause) {
        if (!failed) {
            failed = true;
            stats.tlsHandshakeFailures.increment();
            log.debug("TLS handshake with {} failed: {}", remote(), cause == null ? "?" : cause.toString());
        }
        ctx.close();
    }

    /** The TLS handler reports a handshake error here as well as in its event: one close, one count. */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        fail(ctx, cause);
    }

    /** The TLS handler passes no application data on before the handshake succeeded; anything else is dropped. */
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ReferenceCountUtil.release(msg);
        ctx.close();
    }

    @Override
    public void checkDeadlines(long nowNanos) {
        // the TLS handler enforces timeouts.tls_handshake_ms
    }

    @Override
    public void beginDrain() {
        ctx.close();
    }

    @Override
    public void closeAfterNextResponse() {
        // nothing to answer yet: the HTTP/1 or HTTP/2 connection chosen registers itself and is told then
    }

    /** The client as log lines name it (behind a balancer, the address its PROXY header announced). */
    private Object remote() {
        return ClientAddress.forLog(ctx.channel());
    }
}
