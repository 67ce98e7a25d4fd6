package io.grapevine.proxy.reliability;

import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.it.Fixtures;
import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.MemorySampler;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Backends that fail in the ways real ones do: accept and never answer, answer half and reset, send a head
 * that never ends, send more body than their Content-Length. Each test puts the faulty backend alone in the
 * default pool and a demo backend in pool {@code bystander} (requests with {@code Host: bystander}), where a
 * {@link SteadyClient} sends requests all along: the fault is answered as the design says (502 / 504, or the
 * client connection cut once the response had started), the faulty connection is never reused, and the
 * bystander sees no error at all.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts failed-request counts under load
class BackendFaultsIntegrationTest {

    private static final int SERVER_TIMEOUT_MILLIS = 500;
    private static final int MAX_HEADER_BYTES = 16_384;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private SteadyClient bystander;
    private String scenario;

    private ProxyServer proxy(FaultyBackend faulty) throws Exception {
        DemoBackend steady = fx.backend(2);
        String json = "{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", \"health_check\": {\"enabled\": false},"
                + " \"timeouts\": {\"server_ms\": " + SERVER_TIMEOUT_MILLIS + "},"
                + " \"limits\": {\"max_header_bytes\": " + MAX_HEADER_BYTES + "},"
                + " \"routes\": [{\"host\": \"bystander\", \"pool\": \"bystander\"}],"
                + " \"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": " + faulty.port() + "},"
                + " {\"ip\": \"127.0.0.1\", \"port\": " + steady.port() + ", \"pool\": \"bystander\"}]}";
        ProxyServer proxy = fx.track(ProxyServer.start(ConfigLoader.parse(json, "test config"), 2));
        bystander = SteadyClient.start(proxy.listenAddress(), "bystander", "/", 2);
        Await.until(Duration.ofSeconds(5), "the bystander's first answers", () -> bystander.sent() > 5);
        return proxy;
    }

    @BeforeEach
    void noScenarioYet() {
        scenario = null;
        bystander = null;
    }

    /** The bystander saw no error while the fault happened, whatever the test checked before. */
    @AfterEach
    void bystanderUnaffected() throws Exception {
        if (bystander == null) {
            return;
        }
        SteadyClient.Summary s = bystander.stop();
        System.out.println("[reliability] backend fault, " + scenario + ": bystander " + s);
        assertTrue(s.sent() > 0, "the bystander sent nothing");
        assertEquals(0, s.failed(), "the bystander on another backend saw errors: " + bystander.failures());
        assertEquals(0, s.dropped(), "the bystander lost its connection: " + bystander.failures());
    }

    @Test
    void aBackendThatAcceptsAndNeverAnswersIs504AfterTheServerTimeoutAndItsConnectionIsClosed() throws Exception {
        scenario = "accepts and never answers";
        FaultyBackend silent = fx.track(FaultyBackend.start((socket, out, n) -> { }));
        ProxyServer proxy = proxy(silent);
        RawHttpClient client = fx.client(proxy);
        long start = System.nanoTime();
        Response r = client.send(get("/")).read();
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(504, r.status(), r.toString());
        assertTrue(millis >= SERVER_TIMEOUT_MILLIS && millis < SERVER_TIMEOUT_MILLIS + 2000, "504 after " + millis + " ms");
        assertEquals(1, silent.requests(), "a request that timed out may have had effects: never replayed");
        Await.until(Duration.ofSeconds(5), "the proxy closed the silent connection", () -> silent.closedByProxy() == 1);
        assertTrue(client.openAfter(100), "a 504 need not cost the client its connection");
        scenario += " (504 after " + millis + " ms)";
    }

    @Test
    void aBackendThatAnswersHalfABodyAndResetsCutsTheClientConnectionOffBeforeTheBodyEnds() throws Exception {
        scenario = "half a body, then a reset";
        FaultyBackend half = fx.track(FaultyBackend.start((socket, out, n) -> {
            FaultyBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(50_000));
            FaultyBackend.reset(socket);
        }));
        ProxyServer proxy = proxy(half);
        RawHttpClient client = fx.client(proxy);
        Response head = client.send(get("/")).readHead();
        assertEquals(200, head.status(), "the head was relayed as it came");
        IOException cut = assertThrows(IOException.class, () -> client.readBody(head, false, (b, off, len) -> { }));
        assertTrue(cut.getMessage().contains("missing"), "the body must not look complete: " + cut);
        assertEquals(1, half.connections());
    }

    @Test
    void aBackendThatAnswersHalfAHeadAndResetsIs502BeforeAnyByteAndAPostIsNotReplayed() throws Exception {
        scenario = "half a head, then a reset";
        FaultyBackend half = fx.track(FaultyBackend.start((socket, out, n) -> {
            FaultyBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Le");
            FaultyBackend.reset(socket);
        }));
        ProxyServer proxy = proxy(half);
        RawHttpClient client = fx.client(proxy);
        Response post = client.send(request("POST", "/", "Content-Length: 5") + "hello").read();
        assertEquals(502, post.status(), post.toString());
        assertEquals(1, half.requests(), "a POST that may have had effects was replayed");
        assertEquals(1, half.connections());
    }

    @Test
    void aBackendSendingAnEndlessHeadIs502AtTheHeaderLimitWithMemoryBounded() throws Exception {
        scenario = "endless response head";
        FaultyBackend endless = fx.track(FaultyBackend.start((socket, out, n) -> {
            FaultyBackend.write(out, "HTTP/1.1 200 OK\r\n");
            String field = "X-Endless: " + "a".repeat(1000) + "\r\n";
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (System.nanoTime() < deadline) {
                FaultyBackend.write(out, field); // until the proxy closes the connection: the write fails
            }
        }));
        ProxyServer proxy = proxy(endless);
        MemorySampler memory = new MemorySampler();
        Response r = fx.client(proxy).send(get("/")).read();
        assertEquals(502, r.status(), r.toString());
        Await.until(Duration.ofSeconds(10), "the proxy closed the endless connection", () -> endless.closedByProxy() == 1,
                () -> endless.connections() + " connections, " + endless.bytesWritten() + " bytes written");
        long grown = memory.stop();
        assertTrue(grown < 4 << 20, "direct memory grew by " + grown + " bytes for a head limited to " + MAX_HEADER_BYTES);
        // What the backend managed to write is the header limit plus what the sockets' buffers hold.
        assertTrue(endless.bytesWritten() < 16 << 20, endless.bytesWritten() + " bytes written before the proxy gave up");
        scenario += " (backend wrote " + endless.bytesWritten() + " bytes before the close, proxy direct memory +"
                + grown + " bytes)";
    }

    @Test
    void extraBodyBytesInTheSameWriteNeverReachTheClientAndTheConnectionIsNotReused() throws Exception {
        scenario = "body longer than its Content-Length (same write)";
        FaultyBackend liar = fx.track(FaultyBackend.start((socket, out, n) -> FaultyBackend.write(out,
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst\n"
                        + "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nSMUGGLED\n")));
        assertExtraBytesDiscarded(liar);
    }

    @Test
    void extraBodyBytesArrivingLaterNeverReachTheNextRequestAndTheConnectionIsNotReused() throws Exception {
        scenario = "body longer than its Content-Length (a later write)";
        FaultyBackend liar = fx.track(FaultyBackend.start((socket, out, n) -> {
            FaultyBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst\n");
            sleep(50);
            FaultyBackend.write(out, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nSMUGGLED\n");
        }));
        assertExtraBytesDiscarded(liar);
    }

    /**
     * The first response is relayed with exactly its declared body; the connection it came on is closed by the
     * proxy (the extra bytes arrived with the body or while it was idle), and the next request on the same
     * client connection is answered on a new backend connection.
     */
    private void assertExtraBytesDiscarded(FaultyBackend liar) throws Exception {
        ProxyServer proxy = proxy(liar);
        RawHttpClient client = fx.client(proxy);
        Response first = client.send(get("/")).read();
        assertEquals(200, first.status(), first.toString());
        assertEquals("first\n", first.bodyText());
        Await.until(Duration.ofSeconds(5), "the proxy closed the connection that sent too much",
                () -> liar.closedByProxy() == 1, () -> liar.connections() + " connections");
        Response second = client.send(get("/")).read();
        assertEquals(200, second.status(), second.toString());
        assertEquals("first\n", second.bodyText(), "the extra bytes were taken for the next response");
        assertEquals(2, liar.connections(), "the second request must go on a new connection");
        assertEquals(1, liar.mostRequestsOnOneConnection(), "a connection that sent too much was reused");
        assertFalse(client.closedWithin(100), "nothing more may reach the client");
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
