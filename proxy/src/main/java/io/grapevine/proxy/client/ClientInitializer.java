package io.grapevine.proxy.client;

import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.stats.ProxyStats;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;

/**
 * Sets up an accepted client connection: refuses it beyond {@code max_connections}, otherwise builds its
 * pipeline: the PROXY protocol header first when the listener expects one, then the codec of the client's
 * protocol (here HTTP/1.x), bound to the connection's event loop.
 */
@ChannelHandler.Sharable
public final class ClientInitializer extends ChannelInitializer<Channel> {

    public static final String HTTP1 = "http1";
    public static final String PROXY_PROTOCOL_DECODER = "proxy-protocol-decoder";
    public static final String PROXY_PROTOCOL = "proxy-protocol";

    private final DataPlane dataPlane;
    private final ProxyStats stats;
    private final int maxConnections;
    private final boolean acceptProxyProtocol;
    private final long headerTimeoutMillis;

    public ClientInitializer(DataPlane dataPlane, ProxyStats stats, ProxyConfig config) {
        this.dataPlane = dataPlane;
        this.stats = stats;
        this.maxConnections = config.limits().maxConnections();
        this.acceptProxyProtocol = config.proxyProtocol().accept();
        this.headerTimeoutMillis = config.timeouts().clientHeaderMillis();
    }

    @Override
    protected void initChannel(Channel ch) {
        if (!admit(ch)) {
            return;
        }
        ChannelPipeline pipeline = ch.pipeline();
        if (acceptProxyProtocol) {
            // The PROXY header comes first, before TLS: it says who the client is.
            pipeline.addLast(PROXY_PROTOCOL_DECODER, new HAProxyMessageDecoder(true));
            pipeline.addLast(PROXY_PROTOCOL, new ProxyProtocolReader(stats, headerTimeoutMillis, this::installProtocols));
        } else {
            installProtocols(pipeline);
        }
    }

    /** What follows the (optional) PROXY header: the client's protocol. */
    private void installProtocols(ChannelPipeline pipeline) {
        installHttp1(pipeline);
    }

    /** Counts the connection; beyond {@code max_connections} closes it at once and returns false. */
    private boolean admit(Channel ch) {
        if (!stats.connectionOpened(maxConnections)) {
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
