package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
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

    private static boolean accepts(InetSocketAddress address) {
        try (Socket s = new Socket()) {
            s.connect(address, 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
