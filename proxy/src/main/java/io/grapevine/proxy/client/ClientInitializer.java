package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;

/**
 * Sets up an accepted client connection: refuses it beyond {@code max_connections}, otherwise builds its
 * pipeline, whose last handler is the codec of the client's protocol (HTTP/1.x or HTTP/2), bound to the
 * connection's event loop. On a plaintext connection the protocol is told by the first bytes
 * ({@link PrefaceDetector}); over TLS, ALPN decides and calls {@link #installHttp1} or {@link #installHttp2}.
 */
@ChannelHandler.Sharable
public final class ClientInitializer extends ChannelInitializer<Channel> {

    public static final String HTTP1 = "http1";
    public static final String DETECT = "detect-protocol";

    private final DataPlane dataPlane;
    private final ProxyStats stats;
    private final int maxConnections;

    public ClientInitializer(DataPlane dataPlane, ProxyStats stats, int maxConnections) {
        this.dataPlane = dataPlane;
        this.stats = stats;
        this.maxConnections = maxConnections;
    }

    @Override
    protected void initChannel(Channel ch) {
        if (!admit(ch)) {
            return;
        }
        installHttp1OrHttp2(ch.pipeline());
    }

    /** Counts the connection; beyond {@code max_connections} closes it at once and returns false. */
    private boolean admit(Channel ch) {
        stats.connectionsAccepted.increment();
        if (stats.connectionsCurrent.incrementAndGet() > maxConnections) {
            stats.connectionsCurrent.decrementAndGet();
            stats.connectionsRefused.increment();
            ch.close();
            return false;
        }
        return true;
    }

    /**
     * Ends {@code pipeline} with the handler that reads the first bytes of the connection and then installs
     * HTTP/2 (the client sent the HTTP/2 preface: prior knowledge) or HTTP/1.x. The plaintext listener
     * uses it; so may a TLS connection whose client offered no ALPN.
     */
    public void installHttp1OrHttp2(ChannelPipeline pipeline) {
        pipeline.addLast(DETECT, new PrefaceDetector(this, dataPlane.loopOf(pipeline.channel().eventLoop())));
    }

    /** Ends {@code pipeline} with the HTTP/1.x codec (once whatever comes first, TLS say, is in place). */
    public void installHttp1(ChannelPipeline pipeline) {
        pipeline.addLast(HTTP1, new Http1Connection(dataPlane.loopOf(pipeline.channel().eventLoop())));
    }

    /**
     * Ends {@code pipeline} with the HTTP/2 server (frame codec, stream multiplexer, connection handler),
     * for a connection whose client speaks HTTP/2 from its first byte: ALPN {@code h2} over TLS (an
     * {@code SslHandler} earlier in the pipeline makes its requests {@code X-Forwarded-Proto: https}), or
     * prior knowledge in cleartext. Call on the channel's event loop, before its first bytes are read or
     * with them still to be passed on.
     */
    public void installHttp2(ChannelPipeline pipeline) {
        Http2Connection.install(pipeline, dataPlane.loopOf(pipeline.channel().eventLoop()));
    }
}
