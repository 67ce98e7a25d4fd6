package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.forward.Dialer;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.H2Frames;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.DefaultChannelId;
import io.netty.channel.ServerChannel;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.EventLoop;
import io.netty.channel.unix.Errors;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * One client connection of the forwarding core on {@link EmbeddedChannel}s, without sockets: the client
 * channel carries an {@link Http1Connection} (or the codec a test installs); every backend connection the core dials is another embedded
 * channel, handed out by a scripted {@link Dialer}. A test writes client bytes, reads what each backend
 * received, answers as that backend, and reads what the client got.
 */
final class ForwardingHarness implements AutoCloseable {

    /**
     * What the next dial does. {@code NO_SOCKET}: the socket cannot be made, as Netty's channel factory fails when
     * the process is out of file descriptors (its native error needs the epoll library loaded:
     * {@code Epoll.ensureAvailability()}). {@code NO_PORT}: the connect finds no local port free, as epoll reports
     * {@code EADDRNOTAVAIL} (a plain ConnectException with the system's text and the address).
     */
    enum Dial { CONNECT, REFUSE, PENDING, NO_SOCKET, NO_PORT }

    /**
     * A backend connection the core opened. {@code endOfTurn} runs what the client's loop has queued: on a real
     * loop the client connection and its backend connections share one thread, whose tasks run after each turn's
     * reads.
     */
    record Backend(Server server, EmbeddedChannel channel, ChannelPromise connect, Runnable endOfTurn) {

        /** Everything the proxy wrote to this backend so far, as text. */
        String received() {
            return drain(channel);
        }

        /** The backend sends {@code text}. */
        void send(String text) {
            channel.writeInbound(Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1));
            endOfTurn.run();
        }

        /**
         * The backend sends {@code text} in a turn that goes on: read and read-complete, as a loop handles one ready
         * channel of many, without running what the loop queued behind the turn.
         */
        void sendWithinTheTurn(String text) {
            channel.pipeline().fireChannelRead(Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1));
            channel.pipeline().fireChannelReadComplete();
        }

        /** The backend closes the connection. */
        void close() {
            channel.close();
        }

        /**
         * The connection is reset (a TCP RST, or the kernel giving up on it): as a transport reports it, the read
         * fails with the error, then the channel closes.
         */
        void reset() {
            channel.pipeline().fireExceptionCaught(new java.io.IOException("Connection reset by peer"));
            endOfTurn.run();
        }

        /** Completes a {@link Dial#PENDING} connect. */
        void connected() {
            connect.setSuccess();
        }

        boolean isReading() {
            return channel.config().isAutoRead();
        }
    }

    final ProxyStats stats = new ProxyStats();
    final TableHolder tables;
    final LoopContext loop;
    final EmbeddedChannel client;
    final List<Backend> backends = new ArrayList<>();
    private final Deque<Dial> script = new ArrayDeque<>();

    /**
     * @param configJson a servers.conf; its servers are the table (their addresses are never dialled)
     */
    ForwardingHarness(String configJson) throws Exception {
        this(configJson, (pipeline, loop) -> pipeline.addLast(new Http1Connection(loop)));
    }

    /**
     * @param codec installs the client codec on the client channel's pipeline (default: {@link Http1Connection})
     */
    ForwardingHarness(String configJson, BiConsumer<ChannelPipeline, LoopContext> codec) throws Exception {
        ProxyConfig config = ConfigLoader.parse(configJson, "(test)");
        tables = new TableHolder(1, config.routes(), config::policyOf);
        tables.publish(config.servers(), "test");
        // Accepted by a listener, like every client connection: Netty's HTTP/2 multiplexer tells a server by that.
        client = new EmbeddedChannel(new Listener(), DefaultChannelId.newInstance(), true, false);
        EventLoop eventLoop = client.eventLoop();
        // A shortage of descriptors ends at the first connect after one failed: tests see its end at once.
        loop = new LoopContext(0, eventLoop, config, tables, stats, this::dial, LoopContext.backendShortage(0));
        // what the initializer counts for an accepted connection, until it closes
        stats.connectionsCurrent.incrementAndGet();
        client.closeFuture().addListener(f -> stats.connectionsCurrent.decrementAndGet());
        codec.accept(client.pipeline(), loop);
    }

    /** Scripts the next dials (default: connect at once). */
    ForwardingHarness dials(Dial... outcomes) {
        script.addAll(List.of(outcomes));
        return this;
    }

    private ChannelFuture dial(Server server, ChannelHandler handler) {
        try {
            return dialScripted(server, handler);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private ChannelFuture dialScripted(Server server, ChannelHandler handler) throws Exception {
        Dial outcome = script.isEmpty() ? Dial.CONNECT : script.poll();
        EmbeddedChannel ch = new EmbeddedChannel(false, false);
        ChannelPromise promise = ch.newPromise();
        Backend b = new Backend(server, ch, promise, this::runPending);
        switch (outcome) {
            case CONNECT -> {
                ch.pipeline().addLast(handler);
                ch.register();
                backends.add(b);
                promise.setSuccess();
            }
            case PENDING -> {
                ch.pipeline().addLast(handler);
                ch.register();
                backends.add(b);
            }
            case REFUSE -> // never registered, as a socket whose connect failed never becomes active
                promise.setFailure(new ConnectException("Connection refused (scripted)"));
            case NO_SOCKET -> promise.setFailure(new ChannelException(
                    "Unable to create Channel from class class io.netty.channel.epoll.EpollSocketChannel",
                    new Errors.NativeIoException("newSocketStream", -24)));
            case NO_PORT -> promise.setFailure(new ConnectException(
                    "connect(..) failed: Cannot assign requested address: /127.0.0.1:8080"));
        }
        return promise;
    }

    /** The client sends {@code text}. */
    void send(String text) {
        client.writeInbound(Unpooled.copiedBuffer(text, StandardCharsets.ISO_8859_1));
    }

    /** Everything the client received so far, as text. */
    String received() {
        return drain(client);
    }

    Backend backend(int i) {
        return backends.get(i);
    }

    /** Sets a backend's or the client's writability, as a full or drained socket buffer would. */
    void writable(io.netty.channel.Channel ch, boolean writable) {
        ch.unsafe().outboundBuffer().setUserDefinedWritability(1, writable);
        runPending();
    }

    /** Runs what the embedded loops have pending (listeners, scheduled tasks due). */
    void runPending() {
        client.runPendingTasks();
        for (Backend b : backends) {
            b.channel().runPendingTasks();
        }
    }

    /** The HTTP/2 frames the client received so far, decoded by {@code wire} (which keeps partial frames). */
    List<H2Frames.Frame> receivedFrames(H2Frames wire) {
        runPending();
        Object o;
        while ((o = client.readOutbound()) != null) {
            ByteBuf b = (ByteBuf) o;
            wire.feed(b);
            b.release();
        }
        List<H2Frames.Frame> frames = new ArrayList<>();
        H2Frames.Frame f;
        while ((f = wire.poll()) != null) {
            frames.add(f);
        }
        return frames;
    }

    /** What the client received since the last read, one string per buffer the proxy wrote. */
    List<String> receivedWrites() {
        List<String> writes = new ArrayList<>();
        Object o;
        while ((o = client.readOutbound()) != null) {
            ByteBuf b = (ByteBuf) o;
            writes.add(b.toString(StandardCharsets.ISO_8859_1));
            b.release();
        }
        return writes;
    }

    static String drain(EmbeddedChannel ch) {
        StringBuilder sb = new StringBuilder();
        Object o;
        while ((o = ch.readOutbound()) != null) {
            ByteBuf b = (ByteBuf) o;
            sb.append(b.toString(StandardCharsets.ISO_8859_1));
            b.release();
        }
        return sb.toString();
    }

    /** Closes everything and fails if any buffer is left unreleased. */
    @Override
    public void close() {
        for (Backend b : backends) {
            drain(b.channel());
            b.channel().finishAndReleaseAll();
        }
        drain(client);
        client.finishAndReleaseAll();
        assertFalse(client.finishAndReleaseAll(), "messages left on the client channel after finishing");
    }

    /** Stands for the listening socket that accepted the client connection. */
    private static final class Listener extends EmbeddedChannel implements ServerChannel {
    }

    static String config(int servers, String extra) {
        StringBuilder sb = new StringBuilder("{");
        if (!extra.isEmpty()) {
            sb.append(extra).append(", ");
        }
        sb.append("\"backend_servers\": [");
        for (int i = 0; i < servers; i++) {
            sb.append(i == 0 ? "" : ", ").append("{\"name\": \"s").append(i).append("\", \"ip\": \"127.0.0.1\", \"port\": ")
                    .append(8001 + i).append('}');
        }
        return sb.append("]}").toString();
    }
}
