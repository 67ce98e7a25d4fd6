package io.grapevine.proxy.net;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The I/O transport of every event loop of a proxy (client and backend connections, the admin listener, health
 * checks), chosen once per process: Linux io_uring, Linux epoll (the default) or the JDK's NIO, which runs
 * anywhere. The native ones need their library for this CPU in the jar (x86_64 and aarch64 are shipped) and,
 * for io_uring, a kernel that allows it (5.14 or later; containers often forbid it with seccomp or
 * {@code kernel.io_uring_disabled}).
 */
public enum Transport {
    IO_URING("io_uring"), EPOLL("epoll"), NIO("nio");

    /** What runs when nothing is asked for. Chosen by measurement (docs/benchmarks.md), not by guess. */
    public static final Transport DEFAULT = EPOLL;

    /** Netty's switch of io_uring's multishot accept, read once when its io_uring classes load. */
    static final String IO_URING_MULTISHOT_ACCEPT = "io.netty.iouring.acceptMultiShotEnabled";

    static {
        // Before any io_uring class loads (they load through this class): single-shot accepts, unless the operator
        // set the switch. Netty arms a multishot accept again after each failure whether the listener reads or not,
        // so a listener out of descriptors paused by AcceptFailures would fail accepts in a busy loop (hundreds of
        // thousands a second, a core and a kernel worker busy) instead of once per pause. A single-shot accept is
        // submitted only while the listener reads.
        if (System.getProperty(IO_URING_MULTISHOT_ACCEPT) == null) {
            System.setProperty(IO_URING_MULTISHOT_ACCEPT, "false");
        }
    }

    private final String label;

    Transport(String label) {
        this.label = label;
    }

    /**
     * The transport named {@code text}: {@code io_uring} (also {@code io-uring}, {@code iouring}), {@code epoll}
     * or {@code nio}, in any case.
     *
     * @throws IllegalArgumentException naming the choices
     */
    public static Transport parse(String text) {
        String name = text.strip().toLowerCase(Locale.ROOT).replace('-', '_');
        for (Transport t : values()) {
            if (t.label.equals(name) || name.equals("iouring") && t == IO_URING) {
                return t;
            }
        }
        throw new IllegalArgumentException("\"" + text + "\" is not a transport: io_uring, epoll or nio");
    }

    /** Whether this transport can run in this process (NIO always can). */
    public boolean isAvailable() {
        return switch (this) {
            case IO_URING -> IoUring.isAvailable();
            case EPOLL -> Epoll.isAvailable();
            case NIO -> true;
        };
    }

    /** Why this transport cannot run here, in one line; null when it can. */
    public String unavailabilityCause() {
        Throwable cause = switch (this) {
            case IO_URING -> IoUring.unavailabilityCause();
            case EPOLL -> Epoll.unavailabilityCause();
            case NIO -> null;
        };
        if (cause == null) {
            return null;
        }
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == cause ? cause.toString() : cause + " (" + root + ")";
    }

    /** The transport that will run and why, for the one start-up line that says so. */
    public record Choice(Transport transport, Transport requested, List<String> unavailable) {

        /** Whether a transport that was asked for could not run, so that another one does. */
        public boolean fellBack() {
            return requested != null && transport != requested;
        }

        /** "io_uring (requested)", "epoll (the default)", "epoll: io_uring was requested but is unavailable (...)". */
        public String describe() {
            if (unavailable.isEmpty()) {
                return transport + (requested == null ? " (the default)" : " (requested)");
            }
            return transport + ": " + (requested == null ? "the default, " : "") + String.join("; then ", unavailable);
        }
    }

    /**
     * The transport to run: {@code requested} (or {@link #DEFAULT} when null) if it is available here, else the
     * next available one of io_uring, epoll, NIO. Never fails: NIO runs everywhere.
     */
    public static Choice choose(Transport requested) {
        Transport wanted = requested == null ? DEFAULT : requested;
        List<String> unavailable = new ArrayList<>();
        for (Transport t : values()) {
            if (t.ordinal() < wanted.ordinal()) {
                continue;
            }
            if (t.isAvailable()) {
                return new Choice(t, requested, List.copyOf(unavailable));
            }
            unavailable.add(t + (t == requested ? " was requested but" : "") + " is unavailable here ("
                    + t.unavailabilityCause() + ")");
        }
        throw new AssertionError("NIO is always available");
    }

    public EventLoopGroup newGroup(int threads, String name) {
        IoHandlerFactory factory = switch (this) {
            case IO_URING -> IoUringIoHandler.newFactory();
            case EPOLL -> EpollIoHandler.newFactory();
            case NIO -> NioIoHandler.newFactory();
        };
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(name, true), factory);
    }

    public Class<? extends ServerChannel> serverChannel() {
        return switch (this) {
            case IO_URING -> IoUringServerSocketChannel.class;
            case EPOLL -> EpollServerSocketChannel.class;
            case NIO -> NioServerSocketChannel.class;
        };
    }

    public Class<? extends SocketChannel> socketChannel() {
        return switch (this) {
            case IO_URING -> IoUringSocketChannel.class;
            case EPOLL -> EpollSocketChannel.class;
            case NIO -> NioSocketChannel.class;
        };
    }

    /** The name on the command line: {@code io_uring}, {@code epoll}, {@code nio}. */
    @Override
    public String toString() {
        return label;
    }
}
