package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;

/**
 * Sets up an accepted client connection: refuses it beyond {@code max_connections}, otherwise installs
 * the HTTP/1.1 connection handler bound to the connection's event loop.
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
        stats.connectionsAccepted.increment();
        if (stats.connectionsCurrent.incrementAndGet() > maxConnections) {
            stats.connectionsCurrent.decrementAndGet();
            stats.connectionsRefused.increment();
            ch.close();
            return;
        }
        ch.pipeline().addLast(HTTP1, new Http1Connection(dataPlane.loopOf(ch.eventLoop())));
    }
}
