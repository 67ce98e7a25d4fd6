package io.grapevine.proxy.forward;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.Fixtures;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.it.RecordingBackend.Mode;
import io.grapevine.proxy.it.RecordingBackend;
import io.grapevine.proxy.table.Server;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A client that leaves while its backend connection is still being dialled: the connection, once made,
 * must not act for the dead exchange (it carried nothing yet), so it goes to the pool and serves the
 * next request, as any pooled connection does. In this package to see the loops' pools.
 */
class AbandonedConnectIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @Test
    void aConnectionDialledForAClientThatLeftGoesToThePool() throws Exception {
        RecordingBackend overloaded = fx.track(RecordingBackend.startUnaccepting(Mode.OK));
        ProxyServer proxy = proxyWithAnAbandonedConnectionInThePool(overloaded);
        Server server = proxy.tables().current().servers().get(0);

        Response r = fx.client(proxy).send(get("/")).read();
        assertEquals(200, r.status(), r.toString());
        assertEquals(1, server.stats().connectionsOpened.sum(), "the pooled connection was not reused");
        assertEquals(0, server.stats().timeouts.sum() + server.stats().connectErrors.sum()
                + server.stats().responseErrors.sum(), "a failure was counted against a healthy server");
        assertEquals("up", server.stateName(System.nanoTime()));
    }

    /**
     * A pooled connection that never carried a request is reused all the same when taken: the backend may close it
     * (no request came on it for a while) just as the request goes out, the keep-alive race. The request goes
     * again to the same server on a fresh connection, and the server is not held to have failed.
     */
    @Test
    void aPooledConnectionThatNeverCarriedARequestClosedAsItIsTakenIsAStaleKeepAlive() throws Exception {
        RecordingBackend closing = fx.track(RecordingBackend.startUnaccepting(Mode.CLOSE_FIRST_REQUEST));
        ProxyServer proxy = proxyWithAnAbandonedConnectionInThePool(closing);
        Server server = proxy.tables().current().servers().get(0);

        Response r = fx.client(proxy).send(get("/")).read();
        assertEquals(200, r.status(), r.toString());
        assertEquals(2, closing.requestCount(), "the request went once on the pooled connection, once on a fresh one");
        assertEquals(2, server.stats().connectionsOpened.sum());
        assertEquals("up", server.stateName(System.nanoTime()), "a stale keep-alive says nothing about the server");
    }

    /**
     * A proxy with one event loop (so the next client uses the pool the abandoned connection went to) in front of
     * {@code unaccepting} (started unaccepting), and a connection in that pool that was dialled for a client that
     * left before it was made: it carried nothing.
     */
    private ProxyServer proxyWithAnAbandonedConnectionInThePool(RecordingBackend unaccepting) throws Exception {
        ProxyServer proxy = fx.proxy(1, "\"timeouts\": {\"connect_ms\": 10000, \"server_ms\": 2000}", unaccepting.port());
        Server server = proxy.tables().current().servers().get(0);

        RawHttpClient leaving = RawHttpClient.connect(proxy.listenAddress());
        leaving.send(get("/"));
        await(Duration.ofSeconds(5), "the proxy to dial the backend", () -> server.stats().connectionsOpened.sum() == 1);
        leaving.abort(); // a reset: a plain close would read as a half-close, whose request is still answered
        await(Duration.ofSeconds(5), "the proxy to drop the client connection",
                () -> proxy.stats().connectionsCurrent.get() == 0 && server.stats().inFlight.get() == 0);

        unaccepting.startAccepting(); // the proxy's next SYN gets through
        await(Duration.ofSeconds(10), "the abandoned connection to reach the pool", () -> idle(proxy) == 1);
        return proxy;
    }

    /** Idle pooled connections of every loop, each counted on its own loop. */
    private static int idle(ProxyServer proxy) {
        int n = 0;
        for (LoopContext loop : proxy.dataPlane().loops()) {
            try {
                n += loop.eventLoop().submit(loop::idleConnections).get();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        return n;
    }
}
