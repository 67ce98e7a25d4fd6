package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.table.Server;
import io.netty.channel.EventLoop;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link ProxyServer#drainAndStop}: in-flight requests complete, nothing new is accepted. */
class ShutdownIntegrationTest {

    private static final long GRACE_MILLIS = 10_000;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @Test
    void drainingFinishesEveryRequestInFlightAndRefusesNewConnectionsAndRequests() throws Exception {
        DemoBackend backend = fx.backend(1);
        // One event loop: once the drain has closed the idle connection, it has reached the busy one too.
        ProxyServer proxy = fx.proxy(1, "", backend.port());
        InetSocketAddress address = proxy.listenAddress();
        RawHttpClient idle = fx.client(proxy);
        assertEquals(200, idle.send(get("/")).read().status());
        RawHttpClient busy = fx.client(proxy);
        busy.send(get("/slow?ms=500") + get("/echo?n=pipelined-behind-it"));
        await(Duration.ofSeconds(5), "both requests to reach the backend", () -> backend.requestCount() == 3);

        long start = System.nanoTime();
        Thread drain = new Thread(() -> proxy.drainAndStop(GRACE_MILLIS), "drain");
        drain.start();
        assertTrue(idle.closedWithin(5000), "an idle keep-alive connection must be closed by the drain");
        assertFalse(accepts(address), "a draining proxy accepted a new connection");
        busy.send(get("/echo?n=sent-while-draining"));

        Response slow = busy.read();
        assertEquals(200, slow.status(), slow.toString());
        assertEquals("waited 500 ms\n", slow.bodyText());
        assertFalse(slow.connectionHas("close"), "a response with another one behind it must not announce the close");
        Response behind = busy.read();
        assertEquals(200, behind.status(), "a request in flight when the drain began must be answered: " + behind);
        assertTrue(behind.bodyText().startsWith("GET /echo?n=pipelined-behind-it "), behind.bodyText());
        assertTrue(busy.closedWithin(2000), "the drained connection must be closed after its last response");

        drain.join(GRACE_MILLIS + 5000);
        assertFalse(drain.isAlive(), "drainAndStop did not return");
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < GRACE_MILLIS / 2, "the drain waited " + millis + " ms although nothing was left in flight");
        assertEquals(3, backend.requestCount(), "a request sent during the drain reached the backend");
        assertFalse(accepts(address), "the listener is open again");
    }

    /**
     * A request of which only a first "P" had arrived when the drain began (a byte the HTTP/2 connection preface begins
     * with too, so the protocol was not told yet) is a head arriving: answered with Connection: close, not cut off.
     */
    @Test
    void aDrainAnswersARequestOfWhichOnlyAFirstPHadArrived() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(1, "", backend.port());
        RawHttpClient client = fx.client(proxy);
        client.send("P");
        await(Duration.ofSeconds(5), "the \"P\" read by the proxy", client::sentAllReadByPeer);
        // The read is done in the loop's I/O step, which hands the byte to the connection before the loop runs a task.
        EventLoop loop = proxy.dataPlane().loops().get(0).eventLoop();
        proxy.dataPlane().drain();
        // The drain is a task of the connection's one loop; a task queued after it runs after it.
        assertTrue(loop.submit(() -> { }).await(5, TimeUnit.SECONDS), "the loop did not run the drain");
        client.send(Fixtures.request("POST", "/echo?n=late", "Content-Length: 0").substring(1));
        Response r = client.read();
        assertEquals(200, r.status(), r.toString());
        assertTrue(r.connectionHas("close"), r.toString());
        assertTrue(client.closedWithin(2000), "the drained connection must be closed after its response");
    }

    /**
     * {@link ProxyServer#close} with a request in flight closes its client's connection (and so aborts its exchange and
     * releases its buffers) even when the loop is busy with a task as its shutdown begins. Netty closes a loop's
     * channels at shutdown only when the loop notices the shutdown between its I/O and its tasks; one that begins
     * while the loop runs a task ends the loop with its channels open, which is why the proxy closes them itself
     * first. Here a task holds the one event loop while {@code close()} is called: left to the shutdown, the client
     * connection would stay open for good.
     */
    @Test
    void closeEndsAConnectionInFlightEvenWhenTheLoopIsRunningATaskAsItsShutdownBegins() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(1, "", backend.port());
        RawHttpClient client = fx.client(proxy);
        client.send(get("/slow?ms=20000"));
        await(Duration.ofSeconds(5), "the request to reach the backend", () -> backend.requestCount() == 1);

        // Held for a second: close() waits longer for this loop to close its connections, so they are closed before
        // its shutdown begins (which is the fix: left to the shutdown, begun during the task, they would stay open).
        closeWithTheLoopBusy(proxy, 1000);
        assertTrue(client.closedWithin(3000), "the proxy stopped and left the client's connection open");
    }

    /**
     * A connection still sending its PROXY header (no codec installed yet) is one of the loop's connections too: the
     * proxy's stop closes it, and a drain closes it at once rather than leaving it to the header timeout. The stop
     * holds the loop until its shutdown has begun (after {@code close()} waited in vain for the listener's close and
     * the loops' {@code closeAll}), the case where only the proxy's own {@code closeAll}, run by the loop once the task
     * ends, closes a connection: Netty's shutdown does not.
     */
    @Test
    void stopAndDrainCloseAConnectionThatHasNotFinishedItsProxyHeader() throws Exception {
        String config = "\"accept_proxy_protocol\": true, \"timeouts\": {\"client_header_ms\": 30000}";
        ProxyServer stopped = fx.proxy(1, config, Fixtures.closedPort());
        RawHttpClient halfHeader = fx.client(stopped);
        halfHeader.send("PROXY TCP4 192.0.2.1 ");
        await(Duration.ofSeconds(5), "the connection to be counted", () -> stopped.stats().connectionsCurrent.get() == 1);
        closeWithTheLoopBusy(stopped, 6000);
        assertTrue(halfHeader.closedWithin(3000), "the proxy stopped and left a connection in its PROXY header open");

        ProxyServer drained = fx.proxy(1, config, Fixtures.closedPort());
        RawHttpClient waiting = fx.client(drained);
        waiting.send("PROXY TCP4 192.0.2.1 ");
        await(Duration.ofSeconds(5), "the connection to be counted", () -> drained.stats().connectionsCurrent.get() == 1);
        drained.dataPlane().drain();
        assertTrue(waiting.closedWithin(3000), "a drain left a connection in its PROXY header open");
    }

    /**
     * {@code proxy.close()} while a task holds the proxy's one event loop until that loop's shutdown has begun or
     * {@code holdMillis} have passed.
     */
    private static void closeWithTheLoopBusy(ProxyServer proxy, long holdMillis) throws InterruptedException {
        EventLoop loop = proxy.dataPlane().loops().get(0).eventLoop();
        CountDownLatch release = hold(loop, holdMillis + 10_000);
        Thread closer = new Thread(proxy::close, "close");
        closer.start();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(holdMillis);
        while (!loop.isShuttingDown() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        release.countDown();
        closer.join(holdMillis + 10_000);
        assertFalse(closer.isAlive(), "close() did not return");
    }

    /** Has {@code loop} run a task that returns once released, or after {@code millis}; returns once it runs. */
    private static CountDownLatch hold(EventLoop loop, long millis) throws InterruptedException {
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        loop.execute(() -> {
            running.countDown();
            try {
                release.await(millis, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(running.await(5, TimeUnit.SECONDS), "the loop did not run the task");
        return release;
    }

    /**
     * A close whose event loop runs a task that does not end (a call that blocks, a bug) returns all the same within
     * its time, leaving that loop (one line names it): Netty's shutdown of a loop waits for its task, and the close
     * waited with it, for good, holding a stop past any bound.
     */
    @Test
    void closeReturnsWithinItsTimeWhenALoopRunsATaskThatDoesNotEnd() throws Exception {
        ProxyServer proxy = fx.proxy(1, "", Fixtures.closedPort());
        CountDownLatch release = hold(proxy.dataPlane().loops().get(0).eventLoop(), 120_000);
        try {
            Thread closer = new Thread(proxy::close, "close");
            long start = System.nanoTime();
            closer.start();
            closer.join(20_000);
            long closeMillis = (System.nanoTime() - start) / 1_000_000;
            assertFalse(closer.isAlive(), "close() waited for the task");
            assertTrue(closeMillis < 6000, "close() took " + closeMillis + " ms, its time is 5000 ms");
        } finally {
            release.countDown();
        }
    }

    /**
     * The admin listener's open connections are closed by the admin server's {@code close()} itself, not left to the
     * control loop's shutdown, which, like any event loop's, leaves its channels open when it begins while the loop
     * runs a task (see the test above).
     */
    @Test
    void closingTheAdminServerEndsItsOpenConnections() throws Exception {
        ProxyServer proxy = fx.proxy(1, "", Fixtures.closedPort());
        RawHttpClient admin = fx.track(RawHttpClient.connect(proxy.adminAddress()));
        assertEquals(200, admin.send(get("/health")).read().status());
        proxy.admin().close();
        assertTrue(admin.closedWithin(3000), "the admin server closed and left a keep-alive connection open");
    }

    /**
     * Stopping the health checks (the first thing {@code close()} does) closes the connection of a check in flight at
     * once, rather than leaving it to its deadline or its loop's shutdown, and a check cut short that way is
     * no verdict on its server.
     */
    @Test
    void stoppingTheHealthChecksClosesACheckInFlightWithoutAVerdict() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            ProxyServer proxy = fx.proxy(1,
                    "\"health_check\": {\"path\": \"/\", \"interval_ms\": 50, \"timeout_ms\": 30000, \"fall\": 1}",
                    silent.getLocalPort());
            silent.setSoTimeout(5000);
            try (Socket check = silent.accept()) {
                check.setSoTimeout(3000);
                proxy.health().stop(2000);
                InputStream in = check.getInputStream();
                try {
                    while (in.read() != -1) {
                        // the probe's request
                    }
                } catch (SocketTimeoutException e) {
                    fail("the health checks stopped and left the connection of a check in flight open");
                }
            }
            Server server = proxy.tables().current().servers().iterator().next();
            assertNull(server.stats().lastCheck(), "a check cut short by the stop was recorded");
            assertTrue(server.isActiveUp(), "a check cut short by the stop took its server down");
        }
    }

    private static boolean accepts(InetSocketAddress address) {
        try (Socket s = new Socket()) {
            s.connect(address, 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
