package io.grapevine.proxy.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.ProxyProtocolConfig;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.HealthCheckResult;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.Errors;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Checks that cannot open their socket because the process is out of file descriptors judge nothing of the server.
 * Their sockets come from a factory that fails as Netty's does at {@code EMFILE}; the server's port has nothing
 * listening, so every check that gets a socket fails ({@code L4CON}).
 */
@Timeout(60)
class HealthCheckSocketShortageTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(HealthChecker.class);

    @BeforeAll
    static void nativeTransportLoaded() {
        Epoll.ensureAvailability(); // NativeIoException's message is the native strerror(3)
    }

    /** What Netty's channel factory throws when socket(2) fails with EMFILE. */
    static ChannelException noDescriptor() {
        return new ChannelException("Unable to create Channel from class class io.netty.channel.epoll.EpollSocketChannel",
                new Errors.NativeIoException("newSocketStream", -24));
    }

    /** A server that accepts (and closes) every connection, on loopback; its port. Closed with {@code sockets}. */
    private static int acceptingServer(List<Closeable> sockets) throws IOException {
        ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        sockets.add(listener);
        HealthCheckIntegrationTest.accepting(listener, Socket::close);
        return listener.getLocalPort();
    }

    /** TCP checks every 20 ms with {@code rise} and {@code fall}, their sockets made by {@code factory}; no quiet time. */
    private static HealthChecker checker(int rise, int fall, TableHolder tables, EventLoopGroup group,
                                         ChannelFactory<Channel> factory) {
        return new HealthChecker(new HealthCheckConfig(true, null, null, 20, 2000, rise, fall, 1, 10_000, 50, 300_000),
                new ProxyProtocolConfig(false, null, Map.of()), tables, group.next(), factory, 0);
    }

    /** How the server and its checks stood when the first check after the shortage started. */
    record Seen(boolean up, long failed, HealthCheckResult last) {
    }

    /**
     * With {@code fall} 2, one failed check, twenty with no socket, then one more failed check: only the last takes the
     * server down. The checks with no socket neither took it down nor reset its streak; they show {@code SOCKERR} and
     * count in no {@code chkfail}; the shortage is logged once when it starts and once when it ends. When every check
     * that failed counted, the first with no socket took the server down (as every server of a proxy out of
     * descriptors went down).
     */
    @Test
    void checksWithNoSocketLeaveTheServerAsItWas() throws Exception {
        int port;
        try (ServerSocket closed = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = closed.getLocalPort(); // nothing listens there from now on: connects are refused
        }
        TableHolder tables = HealthCheckIntegrationTest.tableOf(port);
        Server server = tables.current().servers().get(0);
        AtomicInteger sockets = new AtomicInteger();
        AtomicReference<Seen> afterShortage = new AtomicReference<>();
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            // Asked once per check, on the checks' loop, when the check starts: every earlier check has concluded.
            ChannelFactory<Channel> factory = () -> {
                int n = sockets.incrementAndGet();
                if (n >= 2 && n <= 21) {
                    throw noDescriptor();
                }
                if (n == 22) {
                    afterShortage.set(new Seen(server.isActiveUp(), server.stats().checksFailed.sum(),
                            server.stats().lastCheck()));
                }
                return new NioSocketChannel();
            };
            checker = checker(2, 2, tables, group, factory);
            checker.start();
            Await.until(Duration.ofSeconds(30), "the first check after the shortage started",
                    () -> afterShortage.get() != null);
            Seen seen = afterShortage.get();
            assertTrue(seen.up(), "a check with no socket counted against the server");
            assertEquals(1, seen.failed(), "checks failed while up: the one that reached the server");
            assertEquals("SOCKERR", seen.last().status(), seen.last().toString());
            assertFalse(seen.last().ok());
            assertTrue(seen.last().detail().startsWith("no socket: too many open files"), seen.last().detail());

            Await.until(Duration.ofSeconds(10), "the server down by its second failed check", () -> !server.isActiveUp());
            assertEquals("L4CON", server.stats().lastCheck().status(), server.stats().lastCheck().toString());

            List<String> warnings = log.messages(Level.WARN);
            assertEquals(1, warnings.size(), warnings.toString());
            String warning = warnings.get(0);
            assertTrue(warning.startsWith("Health checks cannot open sockets: the process is out of file descriptors"
                    + " (too many open files; open-files limit "), warning);
            assertTrue(warning.contains("Servers keep their state"), warning);
            assertTrue(warning.contains("ulimit -n") && warning.contains("limits.max_connections"), warning);
            Await.until(Duration.ofSeconds(10), "the line of the shortage's end",
                    () -> log.messages(Level.INFO).stream().anyMatch(l -> l.startsWith("Health checks open sockets again")),
                    log::toString);
            assertEquals(1, log.messages(Level.INFO).stream()
                    .filter(l -> l.startsWith("Health checks open sockets again")).count(), log.toString());
        } finally {
            HealthCheckIntegrationTest.stopChecker(checker, group, List.of());
        }
    }

    /**
     * With {@code rise} 2, a server down by its first check (its socket failed otherwise than for want of a
     * descriptor: a verdict, L4CON) passes one check, then twenty have no socket: it is still one passing check from
     * up, and the next brings it up. When the checks with no socket counted, they reset its streak and it took two.
     */
    @Test
    void checksWithNoSocketKeepTheProgressTowardsRise() throws Exception {
        List<Closeable> sockets = new ArrayList<>();
        TableHolder tables = HealthCheckIntegrationTest.tableOf(acceptingServer(sockets));
        Server server = tables.current().servers().get(0);
        AtomicInteger made = new AtomicInteger();
        AtomicReference<Boolean> upBeforeSecondPass = new AtomicReference<>();
        AtomicReference<Boolean> upAfterSecondPass = new AtomicReference<>();
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            // Asked once per check, on the checks' loop, when the check starts: every earlier check has concluded.
            ChannelFactory<Channel> factory = () -> {
                int n = made.incrementAndGet();
                if (n == 1) {
                    throw new ChannelException("not a shortage: a verdict on the server");
                }
                if (n >= 3 && n <= 22) {
                    throw noDescriptor();
                }
                if (n == 23) {
                    upBeforeSecondPass.set(server.isActiveUp());
                }
                if (n == 24) {
                    upAfterSecondPass.set(server.isActiveUp());
                }
                return new NioSocketChannel();
            };
            checker = checker(2, 1, tables, group, factory);
            checker.start();
            Await.until(Duration.ofSeconds(30), "the second check after the shortage started",
                    () -> upAfterSecondPass.get() != null);
            assertFalse(upBeforeSecondPass.get(), "up before its second passing check");
            assertTrue(upAfterSecondPass.get(), "checks with no socket reset the progress towards rise");
        } finally {
            HealthCheckIntegrationTest.stopChecker(checker, group, sockets);
        }
    }
    /**
     * A check whose connect finds no local port free ({@code EADDRNOTAVAIL}: the port range used up towards the server,
     * by connections open or in TIME_WAIT) is the proxy's shortage too: with {@code fall} 1, twenty such checks leave
     * the server up, show {@code SOCKERR} with what was missing, and are logged once, naming the port range. Before,
     * the first took the server down ({@code L4CON}).
     */
    @Test
    void checksWithNoLocalPortLeaveTheServerUp() throws Exception {
        List<Closeable> sockets = new ArrayList<>();
        TableHolder tables = HealthCheckIntegrationTest.tableOf(acceptingServer(sockets));
        Server server = tables.current().servers().get(0);
        AtomicInteger made = new AtomicInteger();
        AtomicReference<Seen> afterShortage = new AtomicReference<>();
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            ChannelFactory<Channel> factory = () -> {
                int n = made.incrementAndGet();
                if (n == 22) {
                    afterShortage.set(new Seen(server.isActiveUp(), server.stats().checksFailed.sum(),
                            server.stats().lastCheck()));
                }
                if (n >= 2 && n <= 21) {
                    return new NioSocketChannel() {
                        @Override
                        protected boolean doConnect(java.net.SocketAddress remote, java.net.SocketAddress local)
                                throws Exception {
                            throw new java.net.ConnectException("Cannot assign requested address");
                        }
                    };
                }
                return new NioSocketChannel();
            };
            checker = checker(1, 1, tables, group, factory);
            checker.start();
            Await.until(Duration.ofSeconds(30), "the first check after the shortage started",
                    () -> afterShortage.get() != null);
            Seen seen = afterShortage.get();
            assertTrue(seen.up(), "a check with no local port took the server down");
            assertEquals(0, seen.failed(), "checks with no local port counted as failed");
            assertEquals("SOCKERR", seen.last().status(), seen.last().toString());
            assertEquals("no socket: no local port free (cannot assign requested address)", seen.last().detail());
            List<String> warnings = log.messages(Level.WARN);
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).startsWith("Health checks cannot open sockets: no local port is free"),
                    warnings.get(0));
            assertTrue(warnings.get(0).contains("net.ipv4.ip_local_port_range"), warnings.get(0));
        } finally {
            HealthCheckIntegrationTest.stopChecker(checker, group, sockets);
        }
    }
}
