package io.grapevine.proxy.it;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AttributeKey;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP backend behind the PROXY protocol (Netty's decoder, so the proxy's headers are checked by an
 * independent implementation): every connection must start with a v1 or v2 header, or it is closed. Each
 * response's body says what the connection's header announced and what X-Forwarded-For arrived:
 * {@code V1 PROXY TCP4 203.0.113.7:40000 -> 192.0.2.10:443 xff=203.0.113.7}.
 */
public final class ProxyProtocolBackend implements AutoCloseable {

    private static final AttributeKey<String> HEADER = AttributeKey.valueOf("test.proxyHeader");

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel server;
    /** One entry per connection, in arrival order: the header it began with. */
    private final List<String> headers = new CopyOnWriteArrayList<>();
    private final List<String> rejected = new CopyOnWriteArrayList<>();

    public ProxyProtocolBackend() throws InterruptedException {
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new HAProxyMessageDecoder(true), new HeaderCapture(),
                                new HttpServerCodec(), new HttpObjectAggregator(1 << 20), new Answer());
                    }
                }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    }

    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** The header of every connection so far, e.g. {@code V2 PROXY TCP4 127.0.0.1:50000 -> 127.0.0.1:9000}. */
    public List<String> headers() {
        return headers;
    }

    /** Connections closed because they did not start with a valid header. */
    public List<String> rejected() {
        return rejected;
    }

    static String describe(HAProxyMessage m) {
        return m.protocolVersion() + " " + m.command() + " " + m.proxiedProtocol() + " " + m.sourceAddress() + ":"
                + m.sourcePort() + " -> " + m.destinationAddress() + ":" + m.destinationPort();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }

    private final class HeaderCapture extends SimpleChannelInboundHandler<HAProxyMessage> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, HAProxyMessage msg) {
            String h = describe(msg);
            headers.add(h);
            ctx.channel().attr(HEADER).set(h);
            ctx.pipeline().remove(this);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            rejected.add(String.valueOf(cause.getMessage()));
            ctx.close();
        }
    }

    private static final class Answer extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            String body = ctx.channel().attr(HEADER).get() + " xff=" + req.headers().get("X-Forwarded-For");
            DefaultFullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK,
                    Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
            r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
            ctx.writeAndFlush(r);
        }
    }
}
