package io.grapevine.agent.backend;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.NameLookups;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.ChannelGroupFuture;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One demo web server ("worker"): a small HTTP/1.1 server that says who it is, echoes,
 * streams, sleeps and crashes on request. The endpoints are described in
 * {@code docs/demo-backend.md}.
 *
 * <p>All instances in a JVM share one daemon event loop group (one thread unless
 * {@code --threads} says otherwise), so tests can start many cheaply. Methods are
 * thread-safe; {@link #crash()} and {@link #close()} wait for the sockets to be closed
 * unless called from that event loop.
 */
public final class DemoBackend implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DemoBackend.class);

    private final int id;
    private final String host;
    private final EventLoopGroup group;
    private final ChannelGroup connections;
    private final AtomicLong requests = new AtomicLong();
    private final WorkerControl control = new Control();
    /** Assigned once, before the socket is bound (so before any connection can be accepted). */
    private volatile Channel server;
    private volatile int port;
    /** Set by crash/close before anything is closed; read by newly accepted connections. */
    private final AtomicBoolean stopped = new AtomicBoolean();

    private DemoBackend(String host, int id, EventLoopGroup group) {
        this.host = host;
        this.id = id;
        this.group = group;
        this.connections = new DefaultChannelGroup("backend-" + id, group.next());
    }

    /**
     * Starts a worker listening on {@code host:port} and returns once the socket is bound.
     *
     * @param port the port, or 0 for an ephemeral one (see {@link #port()})
     * @param id   the worker id reported in every response
     * @throws IllegalStateException when the address cannot be bound (in use, not local, a name the DNS server found
     *         no address for or did not answer for within {@link NameLookups#LOOKUP_MILLIS}, ...)
     */
    public static DemoBackend start(String host, int port, int id) throws InterruptedException {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be 0..65535, got " + port);
        }
        DemoBackend backend = new DemoBackend(host, id, BackendEventLoop.group());
        backend.bind(port);
        return backend;
    }

    private void bind(int port) throws InterruptedException {
        InetSocketAddress address = bindAddress(host, port);
        ChannelFuture registered = new ServerBootstrap()
                .group(group)
                .channel(BackendEventLoop.serverChannelType())
                .option(ChannelOption.SO_BACKLOG, 1024)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new BackendChannelInitializer(control))
                .register();
        server = registered.channel();
        ChannelFuture bound;
        try {
            registered.await();
            bound = registered.isSuccess() ? server.bind(address).await() : registered;
        } catch (InterruptedException e) {
            server.close();
            throw e;
        }
        if (!bound.isSuccess()) {
            server.close();
            Throwable cause = bound.cause();
            throw new IllegalStateException("cannot listen on " + HostAndPort.format(host, port) + ": " + cause.getMessage(), cause);
        }
        this.port = ((InetSocketAddress) server.localAddress()).getPort();
    }

    /**
     * The address {@code host:port} binds: an IP literal parsed, a name at the address its lookup found within
     * {@link NameLookups#LOOKUP_MILLIS}, never a lookup without a time limit (the JDK's waits out the resolver's
     * timeouts, per attempt, when the DNS server does not answer).
     *
     * @throws IllegalStateException when the DNS server did not answer for the name in time, or found no address for
     *         it, naming it
     */
    private static InetSocketAddress bindAddress(String host, int port) throws InterruptedException {
        try {
            return new InetSocketAddress(NameLookups.address(host), port);
        } catch (UnknownHostException e) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while looking up " + host);
            }
            if (NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host)) {
                return InetSocketAddress.createUnresolved(host, port); // a scope of no interface here: the bind says so
            }
            throw new IllegalStateException("cannot listen on " + HostAndPort.format(host, port) + ": " + host
                    + " has no address (the DNS server found none)", e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("cannot listen on " + HostAndPort.format(host, port)
                    + ": the DNS server did not answer for " + host + " within " + NameLookups.LOOKUP_MILLIS + " ms", e);
        }
    }

    /** The bound port (the ephemeral one when started with port 0). */
    public int port() {
        return port;
    }

    public int id() {
        return id;
    }

    /** Request heads received so far, all paths, malformed ones included. */
    public long requestCount() {
        return requests.get();
    }

    /** Client connections open now (a closed one leaves the count by itself). */
    public int openConnections() {
        return connections.size();
    }

    /** False once {@link #crash()}, {@code GET /crash} or {@link #close()} happened. */
    public boolean isListening() {
        return !stopped.get() && server.isActive();
    }

    /** Same as {@code GET /crash}: closes the listening socket and drops every connection. */
    public void crash() {
        stop(true);
    }

    /** Stops listening, closes every connection and waits for it. Idempotent. */
    @Override
    public void close() {
        stop(false);
    }

    /**
     * As {@link #close()}, waiting at most {@code waitMillis}: a task that does not end on the backend's event loop
     * would hold the wait for good, as the close happens there. Not from that event loop.
     *
     * @return whether the listening socket and every connection were closed by then
     */
    public boolean close(long waitMillis) {
        return close(List.of(this), waitMillis).isEmpty();
    }

    /**
     * {@link #close(long)} for several backends at once: all are asked to close, then waited for together, at most
     * {@code waitMillis} in all. Not from their event loop.
     *
     * @return those whose listening socket or some connection was still open by then, in {@code backends}' order
     */
    public static List<DemoBackend> close(List<DemoBackend> backends, long waitMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis);
        List<ChannelGroupFuture> dropped = new ArrayList<>(backends.size());
        for (DemoBackend backend : backends) {
            backend.stopListening(false);
            dropped.add(backend.connections.close());
        }
        List<DemoBackend> open = new ArrayList<>();
        for (int i = 0; i < backends.size(); i++) {
            if (!(backends.get(i).server.closeFuture().awaitUninterruptibly(millisUntil(deadline))
                    && dropped.get(i).awaitUninterruptibly(millisUntil(deadline)))) {
                open.add(backends.get(i));
            }
        }
        return open;
    }

    private static long millisUntil(long deadlineNanos) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()));
    }

    private void stop(boolean crash) {
        stopListening(crash);
        ChannelFuture serverClosed = server.closeFuture();
        ChannelGroupFuture dropped = connections.close();
        if (!server.eventLoop().inEventLoop()) {
            serverClosed.awaitUninterruptibly();
            dropped.awaitUninterruptibly();
        }
    }

    private void stopListening(boolean crash) {
        if (!stopped.getAndSet(true)) {
            if (crash) {
                log.info("backend {} crashed: no longer listening on {}:{}", id, host, port);
            } else {
                log.debug("backend {} closed ({}:{})", id, host, port);
            }
        }
        server.close();
    }

    /** Bytes written to connections but not yet accepted by the kernel (for tests). */
    long pendingWriteBytes() {
        long total = 0;
        for (Channel channel : connections) {
            ChannelOutboundBuffer outbound = channel.unsafe().outboundBuffer();
            if (outbound != null) {
                total += outbound.totalPendingWriteBytes();
            }
        }
        return total;
    }

    @Override
    public String toString() {
        return "DemoBackend[id=" + id + ", " + HostAndPort.format(host, port) + (isListening() ? ", listening]" : ", stopped]");
    }

    private final class Control implements WorkerControl {
        @Override
        public int id() {
            return id;
        }

        @Override
        public boolean adopt(Channel connection) {
            // Add first, then check: a stop that sets `stopped` after this check closes the
            // group, which then holds this channel; one that set it before is seen here.
            connections.add(connection);
            return !stopped.get();
        }

        @Override
        public void requestReceived() {
            requests.incrementAndGet();
        }

        @Override
        public void stopListening() {
            DemoBackend.this.stopListening(true);
        }

        @Override
        public void dropConnections() {
            connections.close();
        }
    }
}
