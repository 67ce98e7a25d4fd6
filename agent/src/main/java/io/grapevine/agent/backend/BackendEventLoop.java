package io.grapevine.agent.backend;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The one event loop group every {@link DemoBackend} in this JVM runs on: created on first
 * use, daemon threads (so it never keeps a JVM alive), never shut down. Native epoll when
 * it is available, NIO otherwise.
 */
final class BackendEventLoop {
    private static final boolean EPOLL = Epoll.isAvailable();

    private static int threads = 1;
    private static EventLoopGroup group;

    private BackendEventLoop() {
    }

    /** Sets the group's thread count; only before the first backend starts. */
    static synchronized void setThreads(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + count);
        }
        if (group != null && count != threads) {
            throw new IllegalStateException("the backend event loop is already running with " + threads + " thread(s)");
        }
        threads = count;
    }

    static synchronized EventLoopGroup group() {
        if (group == null) {
            IoHandlerFactory io = EPOLL ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
            group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("grapevine-backend", true), io);
        }
        return group;
    }

    static Class<? extends ServerChannel> serverChannelType() {
        return EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /** "epoll" or "nio". */
    static String transport() {
        return EPOLL ? "epoll" : "nio";
    }
}
