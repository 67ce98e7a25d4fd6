package io.grapevine.proxy.it;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler.HandshakeComplete;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A WebSocket echo server on loopback (Netty's own WebSocket codec, so the proxy is tested against an
 * independent implementation): text and binary messages on {@code /ws} come back as they were sent (a
 * fragmented message is echoed whole).
 * Any other path is answered {@code 200 no websocket here}, so an upgrade request there is refused.
 */
public final class WebSocketEchoBackend implements AutoCloseable {

    private static final int MAX_MESSAGE = 4 * 1024 * 1024;

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel server;
    private final AtomicInteger handshakes = new AtomicInteger();
    private final AtomicInteger open = new AtomicInteger();

    public WebSocketEchoBackend() throws InterruptedException {
        WebSocketServerProtocolConfig ws = WebSocketServerProtocolConfig.newBuilder().websocketPath("/ws")
                .maxFramePayloadLength(MAX_MESSAGE).handleCloseFrames(true).build();
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        open.incrementAndGet();
                        ch.closeFuture().addListener(f -> open.decrementAndGet());
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(MAX_MESSAGE),
                                new WebSocketServerProtocolHandler(ws), new WebSocketFrameAggregator(MAX_MESSAGE), new Echo());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** Upgrades completed so far. */
    public int handshakes() {
        return handshakes.get();
    }

    /** Connections open at the backend now. */
    public int openConnections() {
        return open.get();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    private final class Echo extends SimpleChannelInboundHandler<Object> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof TextWebSocketFrame || msg instanceof BinaryWebSocketFrame) {
                ctx.writeAndFlush(((WebSocketFrame) msg).retainedDuplicate());
            } else if (msg instanceof FullHttpRequest) {
                DefaultFullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                        ctx.alloc().buffer().writeBytes("no websocket here\n".getBytes()));
                r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
                ctx.writeAndFlush(r);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof HandshakeComplete) {
                handshakes.incrementAndGet();
            }
            ctx.fireUserEventTriggered(evt);
        }
    }
}
