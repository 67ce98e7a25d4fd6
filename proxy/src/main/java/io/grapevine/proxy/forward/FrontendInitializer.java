package io.grapevine.proxy.forward;

import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;

/**
 * Sets up an accepted client connection: refuses it beyond {@code max_connections}, otherwise installs
 * the {@link FrontendHandler} of the connection's event loop. The whole pipeline is that one handler.
 */
@ChannelHandler.Sharable
public final class FrontendInitializer extends ChannelInitializer<Channel> {

    public static final String FRONTEND = "frontend";

    private final ProxyRuntime runtime;

    public FrontendInitializer(ProxyRuntime runtime) {
        this.runtime = runtime;
    }

    @Override
    protected void initChannel(Channel ch) {
        ProxyStats stats = runtime.stats();
        stats.connectionsAccepted.increment();
        if (stats.connectionsCurrent.incrementAndGet() > runtime.config().limits().maxConnections()) {
            stats.connectionsCurrent.decrementAndGet();
            stats.connectionsRefused.increment();
            ch.close();
            return;
        }
        ch.pipeline().addLast(FRONTEND, new FrontendHandler(runtime.loopOf(ch.eventLoop())));
    }
}
