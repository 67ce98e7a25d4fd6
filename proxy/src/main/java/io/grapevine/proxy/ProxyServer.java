package io.grapevine.proxy;

import io.grapevine.proxy.admin.AdminEndpoints;
import io.grapevine.proxy.admin.AdminServer;
import io.grapevine.proxy.admin.ExchangeMetrics;
import io.grapevine.proxy.admin.StatsCollector;
import io.grapevine.proxy.admin.StatsReport;
import io.grapevine.proxy.client.ClientInitializer;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.health.HealthChecker;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.TableHolder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running proxy: the client listener on one event loop per core, the admin listener and the health
 * checker on a separate single thread, and the table they share. The static servers are published
 * without any that is the proxy itself ({@link SelfAddressGuard}); the membership view, which republishes
 * them at start, logs those refusals.
 */
public final class ProxyServer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ProxyServer.class);

    private final ProxyConfig config;
    private final EventLoopGroup workers;
    private final EventLoopGroup control;
    private final ProxyStats stats = new ProxyStats();
    private final TableHolder tables;
    private final DataPlane dataPlane;
    private final Channel listener;
    private final AdminServer admin;
    private final HealthChecker health;
    /** Latencies, rates and state changes for the admin pages; runs on the control loop, like the admin listener. */
    private final StatsCollector collector;
    private final SelfAddressGuard self;
    private final String description;
    private volatile boolean stopped;
    private final java.util.concurrent.CountDownLatch terminated = new java.util.concurrent.CountDownLatch(1);

    private ProxyServer(ProxyConfig config, int ioThreads) throws InterruptedException {
        this.config = config;
        Transport transport = Transport.best();
        if (transport != Transport.EPOLL) {
            log.warn("native epoll transport unavailable ({}); using NIO", Transport.epollUnavailabilityCause());
        }
        this.workers = transport.newGroup(ioThreads, "grapevine-io");
        this.control = transport.newGroup(1, "grapevine-control");
        this.tables = new TableHolder(DataPlane.loopCount(workers), config.routes(), config::balanceOf);
        // Published before the listener opens, so that the first request finds them: the configured addresses
        // stand for the bound ones until those are known (a configured port 0 is no server's port).
        tables.publish(SelfAddressGuard.of(config.listen().toSocketAddress(), config.admin().toSocketAddress())
                .filter(config.servers(), (server, why) -> { }), "static config");
        this.dataPlane = new DataPlane(config, tables, stats, transport, workers);
        dataPlane.addObserver(new ExchangeMetrics(stats));
        Channel boundListener = null;
        try {
            boundListener = bind(new ServerBootstrap()
                    .group(workers)
                    .channel(transport.serverChannel())
                    .option(ChannelOption.SO_BACKLOG, 4096)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                    .childHandler(new ClientInitializer(dataPlane, stats, config)),
                    config.listen(), "--listen");
            this.admin = bindAdmin(config.admin(), transport);
            this.collector = new StatsCollector(tables, stats);
            AdminEndpoints.install(admin, new StatsReport(tables, stats, collector, config.limits().maxConnections()));
            this.health = new HealthChecker(config.healthCheck(), config.proxyProtocol(), tables, control.next(), transport);
        } catch (RuntimeException | InterruptedException e) {
            if (boundListener != null) {
                boundListener.close();
            }
            workers.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            control.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw e;
        }
        this.listener = boundListener;
        this.self = SelfAddressGuard.of(listenAddress(), adminAddress());
        tables.publish(self.filter(config.servers(), (server, why) -> { }), "static config");
        health.start();
        collector.start(control.next());
        // Start-up leaves megabytes of long-lived objects in the young generation; without this, the first
        // young collections under traffic copy them back and forth for tens of milliseconds each. One full
        // collection now moves them to the old generation, so collections under load stay sub-millisecond.
        System.gc();
        this.description = dataPlane.loops().size() + " event loops on " + transport;
    }

    private Channel bind(ServerBootstrap bootstrap, HostPort address, String flag) throws InterruptedException {
        try {
            return bootstrap.bind(address.toSocketAddress()).sync().channel();
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new ListenerBindException(address, flag, e);
        }
    }

    private AdminServer bindAdmin(HostPort address, Transport transport) throws InterruptedException {
        try {
            return AdminServer.start(address.toSocketAddress(), control, transport);
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            throw new ListenerBindException(address, "--admin", e);
        }
    }

    /** "4 event loops on EPOLL", for the start-up line. */
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
     */
    public static ProxyServer start(ProxyConfig config) throws InterruptedException {
        return new ProxyServer(config, Runtime.getRuntime().availableProcessors());
    }

    public static ProxyServer start(ProxyConfig config, int ioThreads) throws InterruptedException {
        return new ProxyServer(config, ioThreads);
    }

    public InetSocketAddress listenAddress() {
        return (InetSocketAddress) listener.localAddress();
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

    /**
     * Graceful stop: close the listener (no new connections), let every client connection finish what it
     * has in flight (then close it), and wait up to {@code graceMillis} for that before closing the rest.
     */
    public void drainAndStop(long graceMillis) {
        if (stopped) {
            return;
        }
        log.info("draining: listener closed, waiting up to {} ms for {} connections", graceMillis,
                stats.connectionsCurrent.get());
        listener.close().syncUninterruptibly();
        dataPlane.drain();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
        while (stats.connectionsCurrent.get() > 0 && System.nanoTime() < deadline) {
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
        close();
    }

    @Override
    public void close() {
        if (stopped) {
            return;
        }
        stopped = true;
        listener.close();
        health.stop();
        collector.stop();
        admin.close();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        control.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        log.debug("data plane stopped");
        terminated.countDown();
    }

    /** Blocks until {@link #close()} (or {@link #drainAndStop}) has finished. */
    public void awaitTermination() throws InterruptedException {
        terminated.await();
    }
}
