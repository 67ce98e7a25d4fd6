package io.grapevine.proxy.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.admin.AdminResponse;
import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ProxyProtocolConfig;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.HealthCheckResult;
import io.grapevine.proxy.table.RuntimeState;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import io.grapevine.proxy.testing.TestTransport;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.Closeable;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Active HTTP health checks against a scripted backend on loopback: what the check reads of the answer decides
 * whether the server is up.
 */
@Timeout(60)
class HealthCheckIntegrationTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(Server.class);

    private ScriptedBackend backend;
    private ProxyServer proxy;

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    private Server startProxy(int port) throws Exception {
        return startProxy(port, "");
    }

    /**
     * A proxy with {@code port} as its one server, checked with {@code GET /health}; {@code more}: more check keys. The
     * timeout is long: no test of these times a check out, and a first check took over 2 s on a busy machine.
     */
    private Server startProxy(int port, String more) throws Exception {
        proxy = ProxyServer.start(ConfigLoader.parse("{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", "
                + "\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": " + port + "}], \"health_check\": "
                + "{\"path\": \"/health\", \"interval_ms\": 50, \"timeout_ms\": 10000, \"rise\": 1, \"fall\": 1" + more
                + "}}", "test config"), 1, TestTransport.requested());
        return proxy.tables().current().servers().get(0);
    }

    /**
     * A check's Host is the server's address unless {@code host} names the virtual host to ask, as HAProxy's {@code
     * http-check send hdr host}, Envoy's {@code host} and Traefik's {@code hostname} do: a backend that serves by name
     * (an nginx whose default server answers 404) otherwise fails every check.
     */
    @Test
    void aCheckAsksForTheHostItIsGiven() throws Exception {
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(),
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        Server server = startProxy(backend.port(), ", \"host\": \"api.example.com\"");
        settledCheck(server, backend.heads);
        String head = backend.heads.get(0);
        assertTrue(head.startsWith("GET /health HTTP/1.1\r\n"), head);
        assertTrue(head.contains("\r\nHost: api.example.com\r\n"), head);
    }

    @Test
    void aCheckWithoutAHostAsksForTheServersAddress() throws Exception {
        startProxyWithAHealthyServer();
        assertTrue(backend.heads.get(0).contains("\r\nHost: 127.0.0.1:" + backend.port() + "\r\n"), backend.heads.get(0));
    }

    /**
     * The checks have a thread of their own: an admin endpoint that holds the admin listener's thread (a slow scrape
     * of a large table, a client hammering {@code /stats.json}) neither stops them nor lets their deadlines run late.
     * Here an endpoint holds that thread until the test lets it go; meanwhile the checks of the healthy server go on
     * and pass. When the checks shared that thread, none was made while it was held.
     */
    @Test
    void checksGoOnWhileAnAdminEndpointHoldsTheAdminThread() throws Exception {
        Server server = startProxyWithAHealthyServer();
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean held = new AtomicBoolean();
        proxy.admin().route("/hold", () -> {
            held.set(true);
            entered.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            held.set(false);
            return AdminResponse.text(200, "released\n");
        });
        try (Socket admin = new Socket()) {
            admin.connect(proxy.adminAddress(), 2000);
            admin.getOutputStream().write("GET /hold HTTP/1.1\r\nHost: admin\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            admin.getOutputStream().flush();
            try {
                assertTrue(entered.await(10, TimeUnit.SECONDS), "the endpoint was not reached");
                int seen = backend.heads.size();
                HealthCheckResult before = server.stats().lastCheck();
                long failed = server.stats().checksFailed.sum();
                Await.until(Duration.ofSeconds(10), "three health checks made and judged while the admin thread is held",
                        () -> backend.heads.size() >= seen + 3 && server.stats().lastCheck() != before);
                assertTrue(held.get(), "the admin thread was let go before the checks were made");
                HealthCheckResult last = server.stats().lastCheck();
                assertTrue(last.ok(), last.toString());
                assertEquals("L7OK", last.status(), last.toString());
                assertEquals(failed, server.stats().checksFailed.sum(), "a check failed while the admin thread was held");
                assertTrue(server.isActiveUp(), "the server was taken down while the admin thread was held");
            } finally {
                release.countDown();
            }
        }
    }

    /** A backend that answers every check 200, and a proxy whose checks of it have settled. */
    private Server startProxyWithAHealthyServer() throws Exception {
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(),
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        Server server = startProxy(backend.port());
        settledCheck(server, backend.heads);
        return server;
    }

    /** The verdict of a check made after at least three requests reached the backend. */
    private static HealthCheckResult settledCheck(Server server, List<String> requests) {
        Await.until(Duration.ofSeconds(20), "three health checks reach the backend", () -> requests.size() >= 3);
        int seen = requests.size();
        Await.until(Duration.ofSeconds(20), "one more health check", () -> requests.size() > seen);
        Await.until(Duration.ofSeconds(20), "its verdict", () -> server.stats().lastCheck() != null);
        return server.stats().lastCheck();
    }

    @Test
    void interimResponsesBeforeTheFinalOneArePassedOver() throws Exception {
        String link = "Link: </style.css>; rel=preload; as=style" + ", </x.js>; rel=preload; as=script".repeat(20);
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(), "HTTP/1.1 100 Continue\r\n\r\n"
                + "HTTP/1.1 103 Early Hints\r\n" + link + "\r\n" + link + "\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        Server server = startProxy(backend.port());
        HealthCheckResult check = settledCheck(server, backend.heads);
        assertEquals("L7OK", check.status(), check.toString());
        assertEquals(200, check.code(), check.toString());
        assertTrue(check.ok(), check.toString());
        assertTrue(server.isActiveUp(), "the server is up");
        assertEquals(0, server.stats().checksFailed.sum(), "no check failed");
    }

    @Test
    void theFinalStatusAfterAnInterimOneDecidesAFailureToo() throws Exception {
        assertChecksFail("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                + "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "L7STS", 503);
    }

    /** A backend that answers every check {@code answer}: checks fail with {@code status} and {@code code}, it goes down. */
    private void assertChecksFail(String answer, String status, int code) throws Exception {
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(), answer);
        Server server = startProxy(backend.port());
        HealthCheckResult check = settledCheck(server, backend.heads);
        assertEquals(status, check.status(), check.toString());
        assertEquals(code, check.code(), check.toString());
        Await.until(Duration.ofSeconds(5), "the server goes down", () -> !server.isActiveUp());
    }

    /**
     * RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]; the code is three digits and
     * a space follows them. "HTTP/1.1 2000" is no status line, and a check that reads it fails as HAProxy's L7RSP
     * (before, its first three digits were taken for a 200 and the server was up).
     */
    @Test
    void aStatusCodeOfMoreThanThreeDigitsIsNoStatusLine() throws Exception {
        assertChecksFail("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", "L7RSP", 0);
    }

    /**
     * A server that resets the check's connection (here: it reads the request, then closes with SO_LINGER 0, an RST)
     * fails it as HAProxy's "L4CON, Connection reset by peer" does: the reason names the error. Before, the error was
     * dropped and the check said "L7RSP, closed before a status line", as if the server had closed in good order.
     */
    @Test
    void aConnectionResetDuringTheCheckIsToldAsSuch() throws Exception {
        List<String> heads = new CopyOnWriteArrayList<>();
        ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        accepting(listener, s -> {
            heads.add(ScriptedBackend.readHead(s.getInputStream()));
            s.setSoLinger(true, 0);
            s.close();
        });
        try (listener) {
            Server server = startProxy(listener.getLocalPort());
            HealthCheckResult check = settledCheck(server, heads);
            assertEquals("L4CON", check.status(), check.toString());
            assertTrue(check.detail().toLowerCase(java.util.Locale.ROOT).contains("reset"), check.toString());
        }
    }

    /**
     * A server that leaves the table while its check is in flight gets no verdict from it: the check's timeout, come
     * after the server left, neither logs it as DOWN by health check nor counts a failed check in its stats (which its
     * pool's row sums, servers that left included). Here the backend accepts the check and never answers; the server
     * leaves before the check's timeout.
     */
    @Test
    void aServerThatLeftWhileItsCheckWasInFlightGetsNoVerdictFromIt() throws Exception {
        leavingWhileChecked(new HealthCheckConfig(true, "/health", 10_000, 500, 1, 1, 1, 10_000), (server, closed) -> {
            Thread.sleep(1500); // past the check's timeout
            assertTrue(server.isRemoved());
            assertTrue(server.isActiveUp(), "a server that had left was taken down by its check");
            assertEquals(null, server.stats().lastCheck(), "a server that had left got a verdict");
            assertEquals(0, server.stats().checksFailed.sum(), "a server that had left counted a failed check");
        });
    }

    /**
     * The check in flight of a server that leaves the table has its connection closed when the checks see the table
     * without it, not left open until the check's own timeout: a gossip backend that left, or a server taken out by a
     * reload, is not held a connection by a check whose verdict no longer counts. Here the backend never answers and
     * the timeout is 10 s; the server leaves, and the backend sees the check's connection closed within 3 s.
     */
    @Test
    void theCheckInFlightOfAServerThatLeftIsClosedAtOnce() throws Exception {
        leavingWhileChecked(new HealthCheckConfig(true, "/health", 1000, 10_000, 1, 1, 1, 10_000), (server, closed) ->
                assertTrue(closed.await(3, TimeUnit.SECONDS), "the check of a server that left was still open"));
    }

    /** What a test checks once its server left the table; {@code closed}: the backend saw the check closed. */
    private interface Left {
        void check(Server server, CountDownLatch closed) throws Exception;
    }

    /**
     * Checks a server, "b", with {@code config} against a backend that reads each check's request and never answers;
     * once the first check connects, b leaves the table and {@code left} runs.
     */
    private static void leavingWhileChecked(HealthCheckConfig config, Left left) throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        AtomicInteger connections = new AtomicInteger();
        List<Closeable> held = new CopyOnWriteArrayList<>();
        ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        accepting(listener, s -> {
            held.add(s); // never answered
            connections.incrementAndGet();
            ScriptedBackend.readHead(s.getInputStream());
            if (s.getInputStream().read() < 0) {
                closed.countDown();
            }
        });

        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            TableHolder tables = tableOf(listener.getLocalPort());
            Server server = tables.current().servers().get(0);
            checker = checking(config, tables, group.next());
            Await.until(Duration.ofSeconds(10), "the first check connects", () -> connections.get() >= 1);
            tables.publish(List.of(), "test: b left");
            left.check(server, closed);
        } finally {
            held.add(listener);
            stopChecker(checker, group, held);
        }
    }

    /**
     * A server in maintenance is not checked, as HAProxy pauses the checks of a server in {@code maint}: no check
     * traffic, no DOWN or UP lines of a server the operator took out. When it leaves maintenance it is checked at
     * once, up and one failed check from down (HAProxy's "start OK but check immediately": its health set to
     * {@code rise}). Here the server refuses connections, {@code fall} is 3 and the interval 2 s: while in maintenance
     * no check is made, and when it is made ready the first check, made at once, takes it down.
     */
    @Test
    void aServerInMaintenanceIsNotCheckedAndIsCheckedAtOnceWhenItLeaves() throws Exception {
        int port;
        try (ServerSocket closed = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            port = closed.getLocalPort(); // nothing listens there from now on: every check is refused
        }
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            TableHolder tables = tableOf(port);
            Server server = tables.current().servers().get(0);
            tables.setRuntimeState("b", RuntimeState.MAINT, "test");
            checker = checking(new HealthCheckConfig(true, null, 2000, 500, 2, 3, 1, 10_000), tables, group.next());
            Thread.sleep(1000); // several ticks of the checks
            assertEquals(null, server.stats().lastCheck(), "a server in maintenance was checked");
            assertEquals(0, server.stats().checksFailed.sum(), "a server in maintenance was checked");

            tables.setRuntimeState("b", RuntimeState.READY, "test");
            Await.until(Duration.ofMillis(1500), "the server down by the check made when it left maintenance",
                    () -> !server.isActiveUp());
            assertEquals(1, server.stats().checksFailed.sum(), "checks failed before it went down");
            assertEquals("L4CON", server.stats().lastCheck().status(), server.stats().lastCheck().toString());
        } finally {
            stopChecker(checker, group, List.of());
        }
    }

    /** What a test's backend does with each connection it accepts; an IOException is a check that went away. */
    interface Connection {
        void accepted(Socket s) throws IOException;
    }

    /** Accepts on {@code listener} until it closes, on a daemon thread of its own. */
    static void accepting(ServerSocket listener, Connection connection) {
        Thread acceptor = new Thread(() -> {
            while (!listener.isClosed()) {
                try {
                    connection.accepted(listener.accept());
                } catch (IOException e) {
                    // closed by the test, or a check that went away
                }
            }
        }, "health-check-backend");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** A checker of {@code tables} on {@code loop}, started, with no PROXY protocol. */
    static HealthChecker checking(HealthCheckConfig config, TableHolder tables, EventLoop loop) {
        HealthChecker checker = new HealthChecker(config, new ProxyProtocolConfig(false, null, Map.of()), tables, loop,
                Transport.NIO);
        checker.start();
        return checker;
    }

    /** A table of one server, "b", on loopback at {@code port}. */
    static TableHolder tableOf(int port) {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.of(Balance.ROUNDROBIN));
        tables.publish(List.of(new ServerSpec("b", "127.0.0.1", port, 1, false,
                ServerSpec.DEFAULT_POOL, ServerSpec.Source.STATIC, ServerSpec.AdminState.UP)), "test");
        return tables;
    }

    /**
     * The line of a server's change of state names its pool and what the check found, as HAProxy's "Server api/b is
     * DOWN, reason: Layer7 wrong status, code: 500" does: one backend serves several pools (a server of one host and
     * port in each), and their lines were told apart by nothing.
     */
    @Test
    void theLineOfAServerGoneDownNamesItsPoolAndTheCheckStatus() throws Exception {
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(),
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            TableHolder tables = tableOf(backend.port());
            Server server = tables.current().servers().get(0);
            // The first check decides (fall 1): its timeout is long, as the status it ends with is what is checked.
            checker = checking(new HealthCheckConfig(true, "/health", 100, 10_000, 1, 1, 1, 10_000), tables,
                    group.next());
            String expected = "server b (" + server.address() + ") of pool " + ServerSpec.DEFAULT_POOL
                    + " is DOWN by health check: L7STS, answered \"HTTP/1.1 500 Internal Server Error\"";
            // The line itself is waited for: the server is down a moment before the checks' thread writes it.
            Await.until(Duration.ofSeconds(30), "the line of the server gone down",
                    () -> log.messages().stream().anyMatch(l -> l.contains(" is DOWN by health check: ")),
                    log::toString);
            assertTrue(log.messages().contains(expected), expected + " in " + log.messages());
            assertFalse(server.isActiveUp(), "the server is down");
        } finally {
            stopChecker(checker, group, List.of());
        }
    }

    /** Stops {@code checker} (if it started) and its loop, then closes the test's sockets. */
    static void stopChecker(HealthChecker checker, EventLoopGroup group, List<? extends Closeable> sockets)
            throws IOException {
        if (checker != null) {
            checker.stop(5000);
        }
        group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).syncUninterruptibly();
        for (Closeable s : sockets) {
            s.close();
        }
    }

    /**
     * The checks go on after a server leaves the table. The checker forgot a server gone from it by reading the
     * server's check state from the map entry it had just removed, which an IdentityHashMap's entry refuses (it
     * throws): the tick failed, and a periodic task that throws is never run again, so from the first server a gossip
     * member's leave or a reload took out, no server was checked any more, and nothing said so.
     */
    @Test
    void theChecksGoOnAfterAServerLeftTheTable() throws Exception {
        checkingManyServers(2, 300, (loop, tables, accepted) -> {
            tables.publish(List.of(tables.current().servers().get(0).spec()), "test: s1 left");
            int before = accepted.get(0).size();
            Await.until(Duration.ofSeconds(10), "s0 checked twice more after s1 left",
                    () -> accepted.get(0).size() >= before + 2);
        });
    }

    /**
     * What a test does with the checks of many servers, of {@code tables}: {@code accepted} holds when each server was
     * checked.
     */
    interface ManyServers {
        void run(EventLoop loop, TableHolder tables, List<List<Long>> accepted) throws Exception;
    }

    /**
     * Runs {@code test} once a checker on a loop of its own, with TCP checks every {@code intervalMillis}, has checked
     * each of {@code servers} servers twice.
     */
    static void checkingManyServers(int servers, long intervalMillis, ManyServers test) throws Exception {
        List<ServerSocket> listeners = new ArrayList<>();
        List<List<Long>> accepted = new ArrayList<>();
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        HealthChecker checker = null;
        try {
            EventLoop loop = group.next();
            TableHolder tables = tableOfListeners(servers, listeners, accepted);
            checker = checking(new HealthCheckConfig(true, null, intervalMillis, 200, 1, 1, 1, 10_000), tables, loop);
            Await.until(Duration.ofSeconds(20), "every server checked twice",
                    () -> accepted.stream().allMatch(t -> t.size() >= 2));
            test.run(loop, tables, accepted);
        } finally {
            stopChecker(checker, group, listeners);
        }
    }

    /**
     * A table of {@code servers} servers on loopback, each a listener of its own (added to {@code listeners}) that
     * accepts and closes, noting when ({@link System#nanoTime()}) in its list of {@code accepted}.
     */
    private static TableHolder tableOfListeners(int servers, List<ServerSocket> listeners, List<List<Long>> accepted)
            throws IOException {
        List<ServerSpec> specs = new ArrayList<>();
        for (int i = 0; i < servers; i++) {
            ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            List<Long> times = new CopyOnWriteArrayList<>();
            listeners.add(listener);
            accepted.add(times);
            accepting(listener, s -> {
                try (s) {
                    times.add(System.nanoTime());
                }
            });
            specs.add(new ServerSpec("s" + i, "127.0.0.1", listener.getLocalPort(), 1, false,
                    ServerSpec.DEFAULT_POOL, ServerSpec.Source.STATIC, ServerSpec.AdminState.UP));
        }
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.of(Balance.ROUNDROBIN));
        tables.publish(specs, "test");
        return tables;
    }
}
