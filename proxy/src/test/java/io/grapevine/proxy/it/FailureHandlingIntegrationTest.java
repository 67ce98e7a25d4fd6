package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.closedPort;
import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.request;
import static io.grapevine.proxy.it.Fixtures.server;
import static io.grapevine.proxy.it.HttpSemanticsIntegrationTest.sha256;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.it.RecordingBackend.Mode;
import io.grapevine.proxy.table.Server;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What the client sees when backends fail: 503 with no server, 502 for garbage or a non-replayable
 * request that was cut off, 504 when too slow, and transparent retries where replaying is safe.
 *
 * <p>Round robin starts each event loop at the first server of the table, so the first request of a
 * fresh proxy goes to the first server listed; tests list the failing server first and check that it
 * was indeed tried.
 */
class FailureHandlingIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @Test
    void allBackendsDownIs503AndTheConnectionStaysUsable() throws Exception {
        DemoBackend a = fx.backend(1);
        DemoBackend b = fx.backend(2);
        DemoBackend c = fx.backend(3);
        ProxyServer proxy = fx.proxy("", a.port(), b.port(), c.port());
        a.close();
        b.close();
        c.close();
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 3; i++) {
            Response r = client.send(get("/")).read();
            assertEquals(503, r.status(), "request " + i + ": " + r);
            assertFalse(r.connectionHas("close"), "a 503 need not cost the client its connection: " + r);
        }
    }

    @Test
    void anEmptyTableIs503() throws Exception {
        ProxyServer proxy = fx.proxy("");
        Response r = fx.client(proxy).send(get("/")).read();
        assertEquals(503, r.status(), r.toString());
    }

    @Test
    void aTableThatBecomesEmptyIs503() throws Exception {
        DemoBackend a = fx.backend(1);
        ProxyServer proxy = fx.proxy("", a.port());
        RawHttpClient client = fx.client(proxy);
        assertEquals(200, client.send(get("/")).read().status());
        proxy.tables().publish(List.of(), "test: every server left");
        assertEquals(503, client.send(get("/")).read().status());
    }

    @Test
    void aBackendAnsweringGarbageIs502AndIsNotRetried() throws Exception {
        RecordingBackend garbage = fx.recording(Mode.GARBAGE);
        DemoBackend good = fx.backend(2);
        ProxyServer proxy = fx.proxy("", garbage.port(), good.port());
        Response r = fx.client(proxy).send(get("/")).read();
        assertEquals(502, r.status(), r.toString());
        assertEquals(1, garbage.requestCount());
        assertEquals(0, good.requestCount(), "a request that got an invalid answer may have had effects");
    }

    @Test
    void aBackendSlowerThanTheServerTimeoutIs504() throws Exception {
        DemoBackend slow = fx.backend(1);
        ProxyServer proxy = fx.proxy("\"timeouts\": {\"server_ms\": 300}", slow.port());
        long start = System.nanoTime();
        Response r = fx.client(proxy).send(get("/slow?ms=5000")).read();
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertEquals(504, r.status(), r.toString());
        assertTrue(millis >= 300 && millis < 3000, "504 after " + millis + " ms");
    }

    @Test
    void aGetCutOffBeforeAnyResponseByteIsRetriedOnAnotherServer() throws Exception {
        RecordingBackend reset = fx.recording(Mode.RESET);
        DemoBackend good = fx.backend(2);
        ProxyServer proxy = fx.proxy("", reset.port(), good.port());
        Response r = fx.client(proxy).send(get("/echo?n=1")).read();
        assertEquals(200, r.status(), r.toString());
        assertEquals("2", r.header("X-Backend-Id"));
        assertEquals(1, reset.requestCount(), "the first attempt must have gone to the resetting server");
        assertEquals(1, proxy.stats().retries.sum());
    }

    @Test
    void aPostCutOffBeforeAnyResponseByteIsNotReplayed() throws Exception {
        RecordingBackend reset = fx.recording(Mode.RESET);
        DemoBackend good = fx.backend(2);
        ProxyServer proxy = fx.proxy("", reset.port(), good.port());
        Response r = fx.client(proxy).send(request("POST", "/echo", "Content-Length: 5") + "hello").read();
        assertEquals(502, r.status(), r.toString());
        assertEquals(1, reset.requestCount(), "the POST must have reached the resetting server exactly once");
        assertEquals(0, good.requestCount(), "the POST was replayed on another server");
        assertEquals(0, proxy.stats().retries.sum());
    }

    @Test
    void connectRefusedIsRetriedTransparentlyWhateverTheMethod() throws Exception {
        int refusing = closedPort();
        DemoBackend good = fx.backend(2);
        ProxyServer proxy = fx.proxy("", refusing, good.port());
        RawHttpClient client = fx.client(proxy);
        // Never sent, so even a POST may go elsewhere (RFC 9110 section 9.2.2 is about requests that were).
        Response post = client.send(request("POST", "/echo", "Content-Length: 5") + "hello").read();
        assertEquals(200, post.status(), post.toString());
        assertEquals(sha256("hello".getBytes(StandardCharsets.US_ASCII)), post.header("X-Body-Sha256"));
        for (int i = 0; i < 10; i++) {
            Response r = client.send(get("/")).read();
            assertEquals(200, r.status(), "request " + i + ": " + r);
        }
        assertTrue(server(proxy, refusing).stats().connectErrors.sum() >= 1, "the refusing server was never tried");
        assertTrue(proxy.stats().retries.sum() >= 1);
    }

    @Test
    void aBackendDyingMidBodyClosesTheClientConnectionWithoutEndingTheBody() throws Exception {
        for (String target : new String[] {"/bytes?n=104857600", "/bytes?n=104857600&chunked=1"}) {
            DemoBackend dying = fx.backend(1);
            ProxyServer proxy = fx.proxy("", dying.port());
            RawHttpClient client = fx.client(proxy);
            Response head = client.send(get(target)).readHead();
            assertEquals(200, head.status(), head.toString());
            long[] received = {0};
            // A chunked body must not get its last chunk, nor a Content-Length body its last byte.
            assertThrows(IOException.class, () -> client.readBody(head, false, (buf, off, len) -> {
                received[0] += len;
                if (received[0] >= 1 << 20 && dying.isListening()) {
                    dying.crash();
                }
            }), target + ": the client saw a complete body");
            assertTrue(received[0] < 104857600, target);
        }
    }

    @Test
    void clientsGoingAwayMidTransferLeaveNothingBehind() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        Server server = proxy.tables().current().servers().get(0);

        try (RawHttpClient uploader = RawHttpClient.connect(proxy.listenAddress())) {
            uploader.send(request("POST", "/echo", "Content-Length: 10485760"));
            OutputStream out = uploader.output();
            out.write(new byte[1 << 20]);
            out.flush();
            await(Duration.ofSeconds(5), "the upload to reach the backend", () -> server.stats().inFlight.get() == 1);
        }
        try (RawHttpClient downloader = RawHttpClient.connect(proxy.listenAddress(), 64 * 1024)) {
            Response head = downloader.send(get("/bytes?n=104857600")).readHead();
            assertEquals(200, head.status());
        }
        try (RawHttpClient waiting = RawHttpClient.connect(proxy.listenAddress())) {
            waiting.send(get("/slow?ms=200"));
            await(Duration.ofSeconds(5), "the slow request to reach the backend", () -> server.stats().inFlight.get() == 1);
        }
        await(Duration.ofSeconds(5), "the proxy to let go of every exchange",
                () -> server.stats().inFlight.get() == 0 && proxy.stats().connectionsCurrent.get() == 0);
        Response r = fx.client(proxy).send(get("/")).read();
        assertEquals(200, r.status(), "the proxy still serves: " + r);
    }

    @Test
    void aGetOnAKeepAliveConnectionTheBackendJustClosedIsRetriedOnAFreshOne() throws Exception {
        RecordingBackend closing = fx.recording(Mode.CLOSE_ON_REUSE);
        ProxyServer proxy = fx.proxy(1, "", closing.port());
        Server server = proxy.tables().current().servers().get(0);
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 5; i++) {
            Response r = client.send(get("/")).read();
            assertEquals(200, r.status(), "request " + i + ": " + r);
        }
        assertTrue(proxy.stats().retries.sum() >= 1, "no request met a connection closed under it");
        assertEquals("up", server.stateName(System.nanoTime()), "a stale keep-alive says nothing about the server");
    }

    @Test
    void allBackendsDownIs503EvenForAnUploadStillUnderWay() throws Exception {
        ProxyServer proxy = fx.proxy("", closedPort());
        RawHttpClient client = fx.client(proxy);
        client.send(request("POST", "/echo", "Content-Length: 4194304"));
        Thread writer = new Thread(() -> {
            try {
                OutputStream out = client.output();
                byte[] piece = new byte[64 * 1024];
                for (int i = 0; i < 64; i++) {
                    out.write(piece);
                }
                out.flush();
            } catch (IOException e) {
                // the proxy may stop reading once it has answered
            }
        }, "uploader");
        writer.setDaemon(true);
        writer.start();
        Response r = client.read();
        assertEquals(503, r.status(), r.toString());
        writer.join(5000);
    }
}
