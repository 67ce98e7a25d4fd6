package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;

/**
 * Sets up an accepted client connection: refuses it beyond {@code max_connections}, otherwise builds its
 * pipeline, whose last handler is the codec of the client's protocol (here HTTP/1.x), bound to the
 * connection's event loop.
 */
@ChannelHandler.Sharable
public final class ClientInitializer extends ChannelInitializer<Channel> {

    public static final String HTTP1 = "http1";

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
        installHttp1(ch.pipeline());
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

    /** Ends {@code pipeline} with the HTTP/1.x codec (once whatever comes first, TLS say, is in place). */
    public void installHttp1(ChannelPipeline pipeline) {
        pipeline.addLast(HTTP1, new Http1Connection(dataPlane.loopOf(pipeline.channel().eventLoop())));
    }
}
