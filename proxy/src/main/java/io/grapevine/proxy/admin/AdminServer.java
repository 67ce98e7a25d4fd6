package io.grapevine.proxy.admin;

import io.grapevine.proxy.net.Transport;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin listener (loopback by default): small GET endpoints over Netty's HTTP codec. Runs on the
 * control event loop, never on a data-plane loop, so a slow reader of {@code /stats} costs traffic nothing.
 * Endpoints are registered with {@link #route}; {@link AdminEndpoints} installs the standard ones.
 */
public final class AdminServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);

    private final Map<String, Supplier<AdminResponse>> routes = new ConcurrentHashMap<>();
    private final Channel channel;

    private AdminServer(InetSocketAddress address, EventLoopGroup group, Transport transport)
            throws InterruptedException {
        this.channel = new ServerBootstrap().group(group).channel(transport.serverChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpServerKeepAliveHandler(),
                                new HttpObjectAggregator(64 * 1024), new Handler());
                    }
                }).bind(address).sync().channel();
    }

    /** Binds the admin listener; it serves nothing until endpoints are {@link #route routed}. */
    public static AdminServer start(InetSocketAddress address, EventLoopGroup group, Transport transport)
            throws InterruptedException {
        return new AdminServer(address, group, transport);
    }

    /** Registers (or replaces) the handler of {@code path}; handlers run on the control loop. */
    public void route(String path, Supplier<AdminResponse> handler) {
        routes.put(path, handler);
    }

    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
    }

    private final class Handler extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            AdminResponse answer;
            String path = new QueryStringDecoder(request.uri()).path();
            Supplier<AdminResponse> handler = routes.get(path);
            if (!request.method().equals(HttpMethod.GET) && !request.method().equals(HttpMethod.HEAD)) {
                answer = AdminResponse.text(405, "only GET\n");
            } else if (handler == null) {
                answer = AdminResponse.text(404, "no such endpoint; try " + String.join(" ", routes.keySet()) + "\n");
            } else {
                try {
                    answer = handler.get();
                } catch (RuntimeException e) {
                    log.warn("admin endpoint {} failed", path, e);
                    answer = AdminResponse.text(500, "internal error: " + e + "\n");
                }
            }
            boolean head = request.method().equals(HttpMethod.HEAD);
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                    HttpResponseStatus.valueOf(answer.status()),
                    head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(answer.body()));
            response.headers().set(HttpHeaderNames.CONTENT_TYPE, answer.contentType())
                    .set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_STORE)
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, answer.body().length);
            HttpUtil.setKeepAlive(response, HttpUtil.isKeepAlive(request));
            if (HttpUtil.isKeepAlive(request)) {
                ctx.writeAndFlush(response);
            } else {
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
