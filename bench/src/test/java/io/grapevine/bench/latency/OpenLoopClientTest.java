package io.grapevine.bench.latency;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpVersion;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The open-loop client keeps its schedule whatever the server does, and charges a stall to every request that was
 * due during it (the correction for coordinated omission), on a small HTTP server in this JVM.
 */
class OpenLoopClientTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    private EventLoopGroup serverGroup;

    @AfterEach
    void stopServer() {
        if (serverGroup != null) {
            serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    /** A server answering 200 at once, except the request numbered {@code stallAt}, answered {@code stallMs} later. */
    private URI server(int stallAt, long stallMs, HttpResponseStatus status) throws InterruptedException {
        serverGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        AtomicInteger seen = new AtomicInteger();
        Channel listener = new ServerBootstrap().group(serverGroup).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(1024),
                                new SimpleChannelInboundHandler<HttpRequest>() {
                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, HttpRequest request) {
                                        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                                                status, Unpooled.wrappedBuffer(new byte[] {'o', 'k', '\n'}));
                                        response.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, 3);
                                        if (seen.incrementAndGet() == stallAt) {
                                            ctx.executor().schedule(() -> ctx.writeAndFlush(response), stallMs,
                                                    TimeUnit.MILLISECONDS);
                                        } else {
                                            ctx.writeAndFlush(response);
                                        }
                                    }
                                });
                    }
                })
                .bind("127.0.0.1", 0).sync().channel();
        return URI.create("http://127.0.0.1:" + ((InetSocketAddress) listener.localAddress()).getPort() + "/x?y=1");
    }

    @Test
    void everyRequestDueInTheWindowIsSentAndAnsweredAtTheRate() throws Exception {
        URI target = server(0, 0, HttpResponseStatus.OK);
        OpenLoopClient.Options o = new OpenLoopClient.Options(target, 1000, 4, 200 * MS, 1000 * MS, 5000 * MS, 1);
        OpenLoopClient.Result r = new OpenLoopClient(o).run();
        assertEquals(1000, r.due(), "1000 req/s for 1 s, whatever the machine's speed");
        assertEquals(r.due(), r.recorded() + r.timeouts(), r.toText(o));
        assertEquals(0, r.timeouts(), r.toText(o));
        assertEquals(0, r.errors());
        assertEquals(0, r.non2xx());
        assertTrue(r.toJson(o).contains("\"recorded\": 1000"), r.toJson(o));
    }

    @Test
    void aStallIsChargedToEveryRequestDueWhileItLasted() throws Exception {
        // One connection, 1000 req/s: a 300 ms stall of one response holds back the ~300 requests due behind it.
        // A closed-loop client would record one slow request out of 1000 (the p99.9); measured from the due times,
        // about 30 % of the requests waited, so the p90 is far above an unloaded server's.
        URI target = server(400, 300, HttpResponseStatus.OK);
        OpenLoopClient.Options o = new OpenLoopClient.Options(target, 1000, 1, 100 * MS, 1500 * MS, 5000 * MS, 1);
        OpenLoopClient.Result r = new OpenLoopClient(o).run();
        assertEquals(1500, r.due());
        assertEquals(1500, r.recorded(), "the requests held back are sent late, not dropped: " + r.toText(o));
        assertTrue(r.percentileMillis(90) >= 50, "the stall shows in the p90: " + r.toText(o));
        assertTrue(r.latency().getMaxValue() >= 250 * MS, r.toText(o));
    }

    @Test
    void answersOtherThan2xxAreCounted() throws Exception {
        URI target = server(0, 0, HttpResponseStatus.SERVICE_UNAVAILABLE);
        OpenLoopClient.Options o = new OpenLoopClient.Options(target, 200, 2, 0, 500 * MS, 5000 * MS, 1);
        OpenLoopClient.Result r = new OpenLoopClient(o).run();
        assertEquals(100, r.due());
        assertEquals(100, r.non2xx(), r.toText(o));
    }

    @Test
    void aServerThatIsNotThereIsConnectionErrorsAndTimeoutsNotLatencies() throws Exception {
        URI target;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            target = URI.create("http://127.0.0.1:" + s.getLocalPort() + "/");
        }
        OpenLoopClient.Options o = new OpenLoopClient.Options(target, 100, 1, 0, 300 * MS, 200 * MS, 1);
        OpenLoopClient.Result r = new OpenLoopClient(o).run();
        assertEquals(0, r.recorded());
        assertEquals(r.due(), r.timeouts(), r.toText(o));
        assertTrue(r.due() >= 29, r.toText(o));
        assertTrue(r.errors() > 0, r.toText(o));
    }

    @Test
    void optionsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> new OpenLoopClient.Options(URI.create("https://h:1/"), 1, 1,
                0, MS, MS, 1));
        assertThrows(IllegalArgumentException.class, () -> new OpenLoopClient.Options(URI.create("http://h:1/"), 0, 1,
                0, MS, MS, 1));
    }
}
