package io.grapevine.proxy;

import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.proxy.admin.AdminEndpoints;
import io.grapevine.proxy.admin.AdminResponse;
import io.grapevine.proxy.admin.AdminServer;
import io.grapevine.proxy.admin.AdminToken;
import io.grapevine.proxy.admin.ExchangeMetrics;
import io.grapevine.proxy.admin.StatsCollector;
import io.grapevine.proxy.admin.StatsReport;
import io.grapevine.proxy.client.ClientInitializer;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.config.TlsConfig;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.health.HealthChecker;
import io.grapevine.proxy.net.ConnectionCap;
import io.grapevine.proxy.net.DirectMemoryCap;
import io.grapevine.proxy.net.LoopSlice;
import io.grapevine.proxy.net.RelayBuffers;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.tls.ServerTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.Future;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running proxy: the client listener on one event loop per core (and with {@code "tls"}, TLS on it or on a
 * second listener beside it, served by the same loops), the admin listener and the stats collector on a
 * separate single thread, the health checker on another of its own, and the table they share. The static servers
 * are published without any that is the proxy itself ({@link SelfAddressGuard}); the membership view, which
 * republishes them at start, logs those refusals.
 */
public final class ProxyServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ProxyServer.class);
    /** How long {@link #close()} waits for the listeners to close, and then for the loops to close their connections. */
    private static final long CLOSE_CONNECTIONS_MILLIS = 2000;
    /** Of a stop's time, what {@link #close(StopDeadline)} leaves to the steps after it: the access log's last lines. */
    static final long AFTER_CLOSE_MILLIS = 500;
    /** What {@link #close()} may take, outside a stop. */
    private static final long CLOSE_MILLIS = 5000;

    private final ProxyConfig config;
    private final EventLoopGroup workers;
    private final EventLoopGroup control;
    /**
     * The health checker's one thread, its state confined to it: apart from the admin listener, so that a slow or
     * busy admin endpoint delays no check, its start or its deadline.
     */
    private final EventLoopGroup healthChecks;
    private final ProxyStats stats = new ProxyStats();
    /**
     * Client connections served at once: {@code limits.max_connections}, until {@link #capConnections} lowers it to
     * what the open-files and direct memory limits allow. Limits take a restart: a reload never changes it.
     */
    private volatile int connectionsLimit;
    private final TableHolder tables;
    private final DataPlane dataPlane;
    private final Channel listener;
    private final ServerTls tls;
    private final Channel tlsListener;
    private final AdminServer admin;
    private final HealthChecker health;
    /** Latencies, rates and state changes for the admin pages; runs on the control loop, like the admin listener. */
    private final StatsCollector collector;
    private final SelfAddressGuard self;
    private final String description;
    private volatile boolean stopped;
    /** {@link System#nanoTime()} when {@code /ready} started to answer 503 (a drain began); 0 while ready. */
    private volatile long notReadySince;
    private final java.util.concurrent.CountDownLatch terminated = new java.util.concurrent.CountDownLatch(1);

    private ProxyServer(ProxyConfig config, int ioThreads, byte[] stickySecret, AdminToken adminToken,
                        Transport requestedTransport, long loopSliceMicros) throws ConfigException, InterruptedException {
        this.config = config;
        this.connectionsLimit = config.limits().maxConnections();
        TlsConfig tlsConfig = config.tls();
        this.tls = tlsConfig == null ? null
                : ServerTls.start(tlsConfig, ClientInitializer.alpnProtocols(), config.timeouts().tlsHandshakeMillis());
        Transport.Choice choice = Transport.choose(requestedTransport);
        Transport transport = choice.transport();
        if (choice.unavailable().isEmpty()) {
            log.info("transport {}", choice.describe());
        } else {
            log.warn("transport {}", choice.describe());
        }
        this.workers = transport.newGroup(ioThreads, "grapevine-io");
        this.control = transport.newGroup(1, "grapevine-control");
        this.healthChecks = transport.newGroup(1, "grapevine-health");
        this.tables = stickySecret == null
                ? new TableHolder(DataPlane.loopCount(workers), config.routes(), config::policyOf)
                : new TableHolder(DataPlane.loopCount(workers), config.routes(), config::policyOf, stickySecret);
        // The listeners' names are looked up all at once (joining the lookups the start's checks began), so that a DNS
        // server that does not answer holds the binds below 5 s in all, not the system resolver's timeout per name.
        List<String> listenerHosts = new ArrayList<>(List.of(config.listen().host(), config.admin().host()));
        if (tlsConfig != null && tlsConfig.listen() != null) {
            listenerHosts.add(tlsConfig.listen().host());
        }
        HostPort.lookUp(listenerHosts);
        // Published before the listener opens, so that the first request finds them: the configured addresses
        // stand for the bound ones until those are known (a configured port 0 is no server's port).
        tables.publish(SelfAddressGuard.of(config.listen().toSocketAddress(), config.admin().toSocketAddress())
                .filter(config.servers(), (server, why) -> { }), "static config");
        this.dataPlane = new DataPlane(config, tables, stats, transport, workers);
        dataPlane.addObserver(new ExchangeMetrics(stats));
        Channel boundListener = null;
        Channel boundTlsListener = null;
        try {
            if (loopSliceMicros != 0) {
                LoopSlice.Report slice = LoopSlice.applyTo(workers, loopSliceMicros);
                if (slice.complete()) {
                    log.info("event loop scheduler slice {}", slice.line());
                } else {
                    log.warn("event loop scheduler slice {}", slice.line());
                }
            }
            ClientInitializer clients = new ClientInitializer(dataPlane, stats, config, () -> connectionsLimit);
            ClientInitializer tlsClients = tls == null ? null : clients.withTls(tls::newHandler);
            boolean tlsBeside = tlsConfig != null && tlsConfig.listen() != null;
            boundListener = bind(transport, config.listen(), ListenerBindException.LISTEN,
                    tls == null || tlsBeside ? clients : tlsClients);
            boundTlsListener = tlsBeside
                    ? bind(transport, tlsConfig.listen(), ListenerBindException.TLS_LISTEN, tlsClients) : null;
            this.admin = bindAdmin(config.admin(), transport, adminToken);
            this.collector = new StatsCollector(tables, stats);
            AdminEndpoints.install(admin, new StatsReport(tables, stats, collector, () -> connectionsLimit,
                    tls == null ? null : tls::report));
            admin.route("/ready", () -> notReadySince == 0 ? AdminResponse.text(200, "ready\n")
                    : AdminResponse.text(503, "draining\n"));
            this.health = new HealthChecker(config.healthCheck(), config.proxyProtocol(), tables, healthChecks.next(),
                    transport);
        } catch (RuntimeException | InterruptedException e) {
            if (boundListener != null) {
                boundListener.close();
            }
            if (boundTlsListener != null) {
                boundTlsListener.close();
            }
            if (tls != null) {
                tls.close();
            }
            workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            control.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            healthChecks.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw e;
        }
        this.listener = boundListener;
        this.tlsListener = boundTlsListener;
        this.self = SelfAddressGuard.of(listenAddress(), adminAddress());
        tables.publish(self.filter(config.servers(), (server, why) -> { }), "static config");
        health.start();
        collector.start(control.next());
        this.description = dataPlane.loops().size() + " event loops on " + transport;
        if (tls != null) {
            log.info("TLS on {}{}, by {}, ALPN {}", tlsListener != null ? tlsListener.localAddress() : listenAddress(),
                    tlsListener != null ? " beside plaintext on " + listenAddress() : "", tls.providerName(),
                    ClientInitializer.alpnProtocols());
        }
    }

    /** Binds a client listener; a failure names the flag or key that chose the address ({@code configuredBy}). */
    private Channel bind(Transport transport, HostPort address, String configuredBy, ClientInitializer clients)
            throws InterruptedException {
        try {
            return new ServerBootstrap()
                    .group(workers)
                    .channel(transport.serverChannel())
                    .option(ChannelOption.SO_BACKLOG, 4096)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    // No TCP_NODELAY here: Netty's socket channels set it when they are made, and setting it again
                    // cost a system call per accepted connection. SO_KEEPALIVE is set when a tunnel opens.
                    // The acceptor registers each accepted channel and builds its pipeline itself (and allows its
                    // half-closure); the bootstrap's own acceptor, behind it, sees only the listener's errors.
                    .handler(clients.acceptor(workers))
                    .childHandler(ClientInitializer.NOT_ACCEPTED_HERE)
                    .bind(address.toSocketAddress()).sync().channel();
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new ListenerBindException(address, configuredBy, e);
        }
    }

    private AdminServer bindAdmin(HostPort address, Transport transport, AdminToken token)
            throws InterruptedException {
        try {
            return AdminServer.start(address.toSocketAddress(), control, transport, token, stats.acceptFailures);
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new ListenerBindException(address, ListenerBindException.ADMIN, e);
        }
    }

    /**
     * Lowers the client connections served at once to what the open-files limit leaves room for, two descriptors
     * each beside those open now and a reserve ({@link ConnectionCap}), and to what the direct memory limit leaves
     * room for, {@link RelayBuffers#PER_CONNECTION} each beside a reserve ({@link DirectMemoryCap}), with one line for
     * each that does: a WARN when {@code max_connections} is a number the limit cannot give, an INFO when it is the
     * default (left out or written out alike: the config keeps no trace of which), a ceiling rather than a number
     * asked for (HAProxy too sizes an unset {@code maxconn} by its limits without a warning). Call once everything
     * the start opens is open (listeners, admin, gossip, log files): the count of open files it reads is the base.
     */
    public void capConnections() {
        int configured = config.limits().maxConnections();
        boolean asDefault = configured == Limits.defaults().maxConnections();
        ConnectionCap files = ConnectionCap.now(configured);
        if (files.lowered()) {
            report(asDefault, files.warning());
        }
        DirectMemoryCap memory = DirectMemoryCap.now(configured);
        if (memory.lowered()) {
            report(asDefault, memory.warning());
        }
        connectionsLimit = Math.min(files.effective(), memory.effective());
    }

    private static void report(boolean asDefault, String line) {
        if (asDefault) {
            log.info(line);
        } else {
            log.warn(line);
        }
    }

    /** "4 event loops on epoll", for the start-up line. */
    public String description() {
        return description;
    }

    /** Refuses servers that are this proxy's own listeners (as bound), for the membership view. */
    public SelfAddressGuard selfAddressGuard() {
        return self;
    }

    /**
     * Binds the listeners and starts serving; one event loop per available core.
     *
     * @throws ListenerBindException when the client or admin address cannot be bound
     * @throws ConfigException when a TLS certificate or key cannot be used (the message names the file)
     */
    public static ProxyServer start(ProxyConfig config) throws ConfigException, InterruptedException {
        return start(config, null, null);
    }

    /**
     * As {@link #start(ProxyConfig)}, naming servers in sticky-session cookies with {@code stickySecret} (see
     * {@link TableHolder}): proxies given the same secret name each server alike. Null: a secret of this process.
     */
    public static ProxyServer start(ProxyConfig config, byte[] stickySecret) throws ConfigException, InterruptedException {
        return start(config, stickySecret, null);
    }

    /** @param adminToken the token admin writes need, or {@code null} (writes on a loopback admin listener only) */
    public static ProxyServer start(ProxyConfig config, AdminToken adminToken) throws ConfigException, InterruptedException {
        return start(config, null, adminToken);
    }

    /** With both: see {@link #start(ProxyConfig, byte[])} and {@link #start(ProxyConfig, AdminToken)}. */
    public static ProxyServer start(ProxyConfig config, byte[] stickySecret, AdminToken adminToken)
            throws ConfigException, InterruptedException {
        return start(config, stickySecret, adminToken, null);
    }

    /**
     * With all of the above, on {@code transport} ({@code --transport}) or, when this host cannot run it, the next
     * one of io_uring, epoll, NIO that it can; null: {@link Transport#DEFAULT}. One log line says which runs and why.
     */
    public static ProxyServer start(ProxyConfig config, byte[] stickySecret, AdminToken adminToken, Transport transport)
            throws ConfigException, InterruptedException {
        return start(config, stickySecret, adminToken, transport, LoopSlice.DEFAULT_MICROS);
    }

    /**
     * With all of the above, and the event loops' scheduler slice ({@code --loop-slice-us}, {@link LoopSlice}): 0
     * leaves the kernel's. One log line says what the loops got.
     */
    public static ProxyServer start(ProxyConfig config, byte[] stickySecret, AdminToken adminToken, Transport transport,
                                    long loopSliceMicros) throws ConfigException, InterruptedException {
        return new ProxyServer(config, Runtime.getRuntime().availableProcessors(), stickySecret, adminToken, transport,
                loopSliceMicros);
    }

    public static ProxyServer start(ProxyConfig config, int ioThreads) throws ConfigException, InterruptedException {
        return start(config, ioThreads, null);
    }

    /** {@code ioThreads} event loops on {@code transport} (null: the default), as {@link #start(ProxyConfig, byte[], AdminToken, Transport)}. */
    public static ProxyServer start(ProxyConfig config, int ioThreads, Transport transport)
            throws ConfigException, InterruptedException {
        return new ProxyServer(config, ioThreads, null, null, transport, LoopSlice.DEFAULT_MICROS);
    }

    public InetSocketAddress listenAddress() {
        return (InetSocketAddress) listener.localAddress();
    }

    /** The listener of {@code tls.listen}, or {@code null} when TLS is not served on a second port. */
    public InetSocketAddress tlsListenAddress() {
        return tlsListener == null ? null : (InetSocketAddress) tlsListener.localAddress();
    }

    /** TLS termination, or {@code null} without {@code "tls"}. */
    public ServerTls tls() {
        return tls;
    }

    public InetSocketAddress adminAddress() {
        return admin.address();
    }

    /** The proxy-wide counters. */
    public ProxyStats stats() {
        return stats;
    }

    /** The event loops' forwarding state (idle connections, census). */
    public DataPlane dataPlane() {
        return dataPlane;
    }

    public TableHolder tables() {
        return tables;
    }

    public ProxyConfig config() {
        return config;
    }

    /** The admin listener, to register more endpoints. */
    public AdminServer admin() {
        return admin;
    }

    /** The active health checks (on their own loop, not the admin listener's). */
    public HealthChecker health() {
        return health;
    }

    /**
     * The first step of a drain: {@code GET /ready} answers 503 from now on, so that load balancers and
     * orchestrators polling it stop sending new clients before the listener closes ({@link #drainAndStop},
     * {@code timeouts.shutdown_delay_ms} later). Requests are served as before, on new connections too, but each
     * client connection closes after its next response, so that clients reconnect through whatever routes them by
     * then: a connection kept open would be reset when a virtual IP moves to another host. Idempotent; any thread.
     */
    public synchronized void stopBeingReady() {
        if (notReadySince == 0) {
            long now = System.nanoTime();
            notReadySince = now == 0 ? 1 : now;
            dataPlane.endKeepAlive();
            log.info("draining: /ready answers 503 from now; the listener closes in {} ms (timeouts.shutdown_delay_ms)",
                    config.timeouts().shutdownDelayMillis());
        }
    }

    /** Whether {@code GET /ready} answers 200: no drain has begun. */
    public boolean isReady() {
        return notReadySince == 0;
    }

    /**
     * Graceful stop, in the order Kubernetes and Envoy recommend: {@code /ready} answers 503 (if
     * {@link #stopBeingReady} has not done so already); {@code timeouts.shutdown_delay_ms} after that the
     * listener closes (no new connections); every client connection finishes what it has in flight (then
     * closes), for up to {@code graceMillis}, after which the rest are closed. A stop of its own, beginning now.
     */
    public void drainAndStop(long graceMillis) {
        drainAndStop(graceMillis, StopDeadline.after(config.timeouts().shutdownDelayMillis() + graceMillis
                + StopBudget.STOP_MARGIN_MILLIS, "timeouts.shutdown_delay_ms + the grace + "
                + StopBudget.STOP_MARGIN_MILLIS + " ms"));
    }

    /**
     * {@link #drainAndStop(long)} within {@code stop}: the grace also ends {@link StopBudget#STOP_MARGIN_MILLIS} before
     * the stop's deadline (when a step before it, the gossip leave, held the listener's close past the delay), and what
     * follows gets what is left ({@link #close(StopDeadline)}).
     */
    public void drainAndStop(long graceMillis, StopDeadline stop) {
        if (stopped) {
            return;
        }
        stopBeingReady();
        stop.step("the delay before the listener closes (timeouts.shutdown_delay_ms)");
        long listenerCloses = notReadySince + TimeUnit.MILLISECONDS.toNanos(config.timeouts().shutdownDelayMillis());
        for (long left; (left = listenerCloses - System.nanoTime()) > 0; ) {
            try {
                Thread.sleep(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 100)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        long graceEnds = Math.min(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis),
                stop.deadlineNanos() - TimeUnit.MILLISECONDS.toNanos(StopBudget.STOP_MARGIN_MILLIS));
        log.info("draining: listener closed, waiting up to {} ms for {} connections",
                Math.max(0, TimeUnit.NANOSECONDS.toMillis(graceEnds - System.nanoTime())), stats.connectionsCurrent.get());
        stop.step("closing the client listener");
        awaitClose(listener.close(), "the client listener", stop);
        if (tlsListener != null) {
            awaitClose(tlsListener.close(), "the TLS listener", stop);
        }
        dataPlane.drain();
        stop.step("the grace of the requests in flight (timeouts.shutdown_grace_ms)");
        while (stats.connectionsCurrent.get() > 0 && System.nanoTime() - graceEnds < 0) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        int left = stats.connectionsCurrent.get();
        if (left > 0) {
            log.warn("grace period over: closing {} connections still busy", left);
        }
        close(stop);
    }

    /** Waits for a listener's close, at most what is left of {@code stop}; one line if it did not close by then. */
    private static void awaitClose(ChannelFuture closed, String what, StopDeadline stop) {
        long wait = stop.millisLeft(CLOSE_CONNECTIONS_MILLIS);
        if (!closed.awaitUninterruptibly(wait)) {
            stop.abandoned(what + " did not close", wait, "its event loop runs a task");
        }
    }

    @Override
    public void close() {
        close(StopDeadline.after(CLOSE_MILLIS, "a close, " + CLOSE_MILLIS + " ms"));
    }

    /**
     * Closes the listeners, every connection, the health checks, the admin listener and the event loops, each waited
     * for at most what is left of {@code stop} but its last {@link #AFTER_CLOSE_MILLIS} (the access log's); one that is
     * not done by then is left with one line, and this returns all the same: a loop running a task that does not end
     * would otherwise hold the process for good (Netty's shutdown waits for the task).
     */
    public void close(StopDeadline stop) {
        if (stopped) {
            return;
        }
        stopped = true;
        StopDeadline within = stop.earlier(AFTER_CLOSE_MILLIS);
        ChannelFuture listenerClosed = listener.close();
        ChannelFuture tlsListenerClosed = tlsListener == null ? null : tlsListener.close();
        if (tls != null) {
            tls.close();
        }
        // While the health checks' loop still runs: stop() has it close the checks in flight and waits for that.
        stop.step("closing the health checks in flight");
        long wait = within.millisLeft(CLOSE_CONNECTIONS_MILLIS);
        if (!health.stop(wait)) {
            within.abandoned("the health checks in flight were not closed", wait, "their event loop runs a task");
        }
        collector.stop();
        stop.step("closing the admin listener");
        wait = within.millisLeft(CLOSE_CONNECTIONS_MILLIS);
        if (!admin.close(wait)) {
            within.abandoned("the admin listener and its connections were not closed", wait,
                    "its event loop runs a task");
        }
        stop.step("closing the client and backend connections");
        closeConnections(listenerClosed, tlsListenerClosed, within);
        stop.step("stopping the event loops");
        Future<?> workersDone = workers.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        Future<?> controlDone = control.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        Future<?> healthDone = healthChecks.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        awaitStopped(workersDone, "the event loops (grapevine-io)", within);
        awaitStopped(controlDone, "the admin listener's loop (grapevine-control)", within);
        awaitStopped(healthDone, "the health checks' loop (grapevine-health)", within);
        log.debug("data plane stopped");
        terminated.countDown();
    }

    /** Waits for an event loop group's end, at most what is left of {@code stop}; one line if it did not end by then. */
    private static void awaitStopped(Future<?> done, String what, StopDeadline stop) {
        long wait = stop.millisLeft();
        if (!done.awaitUninterruptibly(wait)) {
            stop.abandoned(what + " did not stop", wait, "a loop still runs a task");
        }
    }

    /**
     * Once the listeners are closed (so that no connection is accepted after), every client and backend connection
     * closes at once on its loop ({@link DataPlane#closeAll}), before the loops shut down: their shutdown alone does
     * not always close them. Each wait is at most what is left of {@code stop}.
     */
    private void closeConnections(ChannelFuture listenerClosed, ChannelFuture tlsListenerClosed, StopDeadline stop) {
        try {
            listenerClosed.await(stop.millisLeft(CLOSE_CONNECTIONS_MILLIS));
            if (tlsListenerClosed != null) {
                tlsListenerClosed.await(stop.millisLeft(CLOSE_CONNECTIONS_MILLIS));
            }
            long wait = stop.millisLeft(CLOSE_CONNECTIONS_MILLIS);
            int late = dataPlane.closeAll(wait);
            if (late > 0) {
                log.warn("{} of {} event loops did not close their connections within {} ms; their shutdown will",
                        late, dataPlane.loops().size(), wait);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the loops' shutdown closes what is left
        }
    }

    /** Blocks until {@link #close()} (or {@link #drainAndStop}) has finished. */
    public void awaitTermination() throws InterruptedException {
        terminated.await();
    }
}
