package io.grapevine.proxy.it;

import static io.grapevine.proxy.testing.H2Frames.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.testing.H2Client;
import io.grapevine.proxy.testing.H2Client.Response;
import io.grapevine.proxy.testing.H2Frames;
import io.grapevine.proxy.testing.H2Frames.Frame;
import io.grapevine.proxy.testing.MemorySampler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The known HTTP/2 attacks and malformed requests of RFC 9113, each on a real socket: every one is answered
 * by a stream reset or a GOAWAY, nothing malformed reaches the backend, the proxy's direct memory stays
 * bounded, and a second client on another connection is served normally during and after the attack.
 */
class Http2AttacksIntegrationTest {

    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final long MEMORY_BOUND = 16L << 20;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private DemoBackend backend;
    private ProxyServer proxy;
    private MemorySampler memory;
    private H2Client bystander;
    private long errorsBefore;

    @BeforeEach
    void start() throws Exception {
        backend = fx.backend(1);
        proxy = fx.proxy("\"limits\": {\"h2_max_concurrent_streams\": 10}", backend.port());
        bystander = fx.track(H2Client.connect(proxy.listenAddress()));
        assertEquals(200, bystander.get("/").status());
        errorsBefore = proxy.stats().http2ConnectionErrors.sum();
        memory = new MemorySampler();
    }

    @AfterEach
    void othersAreUnaffected() throws Exception {
        assertEquals(200, bystander.get("/").status(), "a client on another connection is still served");
        H2Client fresh = fx.track(H2Client.connect(proxy.listenAddress()));
        assertEquals(200, fresh.get("/").status(), "a new connection is served");
        long growth = memory.stop();
        assertTrue(growth < MEMORY_BOUND, "direct memory grew by " + (growth >> 20) + " MiB");
    }

    private H2Client attacker() throws IOException {
        return fx.track(H2Client.connect(proxy.listenAddress()));
    }

    /**
     * The proxy sent a GOAWAY with {@code errorCode} (or, for {@code -1}, with any error) and closed the
     * connection. The client may not get to read that GOAWAY: the proxy closes with the rest of the flood
     * unread, and the reset that follows can overtake it in the client's socket. So the proxy's count of
     * GOAWAYs sent with an error is the evidence, and the frame's code is checked when it was read.
     */
    private void assertGoAway(H2Client client, long errorCode) throws IOException {
        Fixtures.await(WAIT, "a GOAWAY with an error sent", () -> proxy.stats().http2ConnectionErrors.sum() > errorsBefore);
        Frame goAway = client.awaitGoAway(WAIT);
        if (goAway != null && errorCode >= 0) {
            assertEquals(errorCode, goAway.errorCode(), goAway.toString());
        }
        assertTrue(client.awaitClose(WAIT), "the connection is closed after the GOAWAY");
    }

    private long backendRequests() {
        return Fixtures.server(proxy, backend.port()).stats().requests.sum();
    }

    // ---------------------------------------------------------------- floods

    @Test
    void rapidResetEndsTheConnection() throws Exception {
        // CVE-2023-44487: open a stream and cancel it at once, as fast as the socket goes.
        H2Client attacker = attacker();
        long before = backendRequests();
        ByteArrayOutputStream burst = new ByteArrayOutputStream();
        for (int i = 0; i < 1000; i++) {
            int id = attacker.newStream();
            burst.writeBytes(attacker.frames().headers(id, request("GET", "/slow?ms=1000"), true));
            burst.writeBytes(H2Frames.rst(id, H2Frames.CANCEL));
        }
        try {
            attacker.send(burst.toByteArray());
        } catch (IOException e) {
            // closed by the proxy in the middle of the burst: the outcome the test wants
        }
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
        long sent = backendRequests() - before;
        assertTrue(sent <= 250, sent + " of 1000 cancelled requests reached the backend");
        assertTrue(proxy.stats().http2ResetsReceived.sum() >= 200);
        assertTrue(proxy.stats().http2ConnectionErrors.sum() >= 1);
    }

    @Test
    void aContinuationFloodOfSmallFramesEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        byte[] block = attacker.frames().block(request("GET", "/"));
        ByteArrayOutputStream flood = new ByteArrayOutputStream();
        flood.writeBytes(H2Frames.headersFragment(1, new byte[0], true));
        for (int i = 0; i < 10_000; i++) {
            flood.writeBytes(H2Frames.continuation(1, new byte[] {block[i % block.length]}, false));
        }
        sendIgnoringClose(attacker, flood.toByteArray());
        assertGoAway(attacker, -1);
    }

    @Test
    void aContinuationFloodBeyondTheHeaderListLimitEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        ByteArrayOutputStream flood = new ByteArrayOutputStream();
        flood.writeBytes(H2Frames.headersFragment(1, attacker.frames().block(request("GET", "/")), true));
        byte[] chunk = new byte[16_000];
        java.util.Arrays.fill(chunk, (byte) 0x40); // literal-with-indexing prefixes: never a complete field
        for (int i = 0; i < 1000; i++) { // 16 MB of header block, never ending
            flood.writeBytes(H2Frames.continuation(1, chunk, false));
        }
        sendIgnoringClose(attacker, flood.toByteArray());
        assertGoAway(attacker, -1);
    }

    @Test
    void aSettingsFloodEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        sendIgnoringClose(attacker, flood(20_000, i -> H2Frames.settings(0x3, 100)));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    /**
     * A SETTINGS frame may repeat its parameters (RFC 9113 section 6.5), and the codec decodes and applies each: a
     * frame of the largest size holds 2,730, a cost no budget of frames sees. One of more than 32 ends the connection
     * from its header, as nghttp2 does, its parameters unread (the last one here, ENABLE_PUSH 2, would have been a
     * PROTOCOL_ERROR); one of 32 is taken.
     */
    @Test
    void aSettingsFrameOfMoreThan32ParametersEndsTheConnectionUnread() throws Exception {
        H2Client client = attacker();
        client.send(settingsOf(32, 0));
        assertEquals(200, client.get("/").status(), "32 parameters are taken");
        assertEquals(errorsBefore, proxy.stats().http2ConnectionErrors.sum(), "http2_connection_errors");

        H2Client attacker = attacker();
        assertEquals(200, attacker.get("/").status(), "the preface's SETTINGS are acknowledged before the flood");
        attacker.send(settingsOf(33, 2));
        Frame goAway = attacker.awaitGoAway(WAIT);
        assertNotNull(goAway, "a GOAWAY, its SETTINGS unread: " + attacker.seen());
        assertEquals(H2Frames.ENHANCE_YOUR_CALM, goAway.errorCode(), goAway.toString());
        assertTrue(attacker.awaitClose(WAIT), "the connection is closed after the GOAWAY");
        assertEquals(errorsBefore + 1, proxy.stats().http2ConnectionErrors.sum(), "http2_connection_errors");
    }

    /** A SETTINGS frame of {@code n} parameters: HEADER_TABLE_SIZE 4096 but the last, ENABLE_PUSH {@code lastPush}. */
    private static byte[] settingsOf(int n, int lastPush) {
        int[] pairs = new int[2 * n];
        for (int i = 0; i < n - 1; i++) {
            pairs[2 * i] = 0x1;
            pairs[2 * i + 1] = 4096;
        }
        pairs[2 * n - 2] = 0x2;
        pairs[2 * n - 1] = lastPush;
        return H2Frames.settings(pairs);
    }

    @Test
    void aPingFloodEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        sendIgnoringClose(attacker, flood(20_000, H2Frames::ping));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    @Test
    void aPingFloodFromAClientThatReadsNothingEndsTheConnection() throws Exception {
        // The answers pile up towards a client that does not read: the proxy stops queueing them.
        H2Client attacker = attacker();
        byte[] burst = new byte[17 * 500];
        for (int i = 0; i < 500; i++) {
            System.arraycopy(H2Frames.ping(i), 0, burst, i * 17, 17);
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        boolean closed = false;
        while (!closed && System.nanoTime() < deadline) {
            try {
                attacker.send(burst);
            } catch (IOException e) {
                closed = true;
            }
        }
        assertTrue(closed, "the proxy kept taking PINGs it could not answer");
        Fixtures.await(WAIT, "a GOAWAY with an error sent", () -> proxy.stats().http2ConnectionErrors.sum() > errorsBefore);
    }

    /**
     * PRIORITY frames (RFC 9113 deprecates the scheme, section 5.3.2) are answered by nothing, but each moves a
     * stream in the codec's dependency tree, idle streams included: nginx and Envoy cap them, and so does the proxy.
     */
    @Test
    void aPriorityFloodEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        sendIgnoringClose(attacker,
                flood(20_000, i -> H2Frames.priority(1 + 2 * (i % 100), 0, 1 + i % 256, i % 2 == 0)));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    /**
     * WINDOW_UPDATE frames (RFC 9113 section 6.9) grant window for the DATA the proxy sends; a client that sends them
     * with no DATA to answer, on the connection and on an open stream, makes the flow controller work for nothing (on
     * the connection it looks over every open stream). Envoy bounds them by the DATA frames sent, and so does the
     * proxy.
     */
    @Test
    void aWindowUpdateFloodEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        int id = attacker.newStream();
        sendIgnoringClose(attacker, H2Frames.concat(
                attacker.frames().headers(id, request("GET", "/slow?ms=3000"), true),
                flood(20_000, i -> H2Frames.windowUpdate(i % 2 == 0 ? 0 : id, 1))));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    /**
     * Frames of a type the proxy does not know are ignored (RFC 9113 section 5.5), but each costs its reading: a flood
     * of them counts against the budget of PING, SETTINGS and PRIORITY frames.
     */
    @Test
    void aFloodOfFramesOfUnknownTypeEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        sendIgnoringClose(attacker, flood(20_000, i -> H2Frames.frame(0xfa, 0, 0, new byte[8])));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    /**
     * PING and SETTINGS acknowledgements the proxy never asked for (it sends a PING only to drain, a SETTINGS only in
     * its preface) are answered by nothing, but each is read and handed on as a frame: a flood of them spends the same
     * budget as PING and SETTINGS.
     */
    @Test
    void aFloodOfUnsolicitedAcknowledgementsEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        sendIgnoringClose(attacker, flood(20_000, i -> i % 2 == 0
                ? H2Frames.frame(H2Frames.PING, H2Frames.ACK, 0, new byte[8]) : H2Frames.settingsAck()));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    /**
     * RST_STREAM of a stream already closed does nothing (RFC 9113 section 5.1), and Netty's rapid-reset limit counts
     * only the resets of streams it still knows: a flood of them spends the budget of PING and SETTINGS, and none is
     * counted as a stream the client reset.
     */
    @Test
    void aFloodOfResetsOfAClosedStreamEndsTheConnection() throws Exception {
        H2Client attacker = attacker();
        int id = attacker.newStream();
        attacker.send(attacker.frames().headers(id, request("GET", "/"), true));
        assertEquals(200, attacker.await(id, WAIT).status());
        long resetsBefore = proxy.stats().http2ResetsReceived.sum();
        sendIgnoringClose(attacker, flood(20_000, i -> H2Frames.rst(id, H2Frames.CANCEL)));
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
        assertEquals(resetsBefore, proxy.stats().http2ResetsReceived.sum(), "http2_resets_received");
    }

    /**
     * Once a budget is spent the connection ends, and the frames still in the same read are dropped undecoded: here
     * WINDOW_UPDATE frames beyond the 5 a client may send before any stream or DATA, then 250 streams opened and
     * reset at once, enough to spend the rapid-reset budget as well. None of those resets counts as one received, and
     * the connection ends with one GOAWAY, counted once.
     */
    @Test
    void framesReadAfterASpentBudgetCountNoMore() throws Exception {
        H2Client attacker = attacker();
        long resetsBefore = proxy.stats().http2ResetsReceived.sum();
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        read.writeBytes(flood(10, i -> H2Frames.windowUpdate(0, 1)));
        for (int i = 0; i < 250; i++) {
            int id = attacker.newStream();
            read.writeBytes(attacker.frames().headers(id, request("GET", "/"), true));
            read.writeBytes(H2Frames.rst(id, H2Frames.CANCEL));
        }
        sendIgnoringClose(attacker, read.toByteArray());
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
        assertEquals(resetsBefore, proxy.stats().http2ResetsReceived.sum(), "http2_resets_received");
        assertEquals(errorsBefore + 1, proxy.stats().http2ConnectionErrors.sum(), "http2_connection_errors");
    }

    /**
     * RFC 9113 section 6.8: a GOAWAY names the last stream its sender might have acted on, and the streams above it
     * are not processed. Here a stream is served, then one write brings a WINDOW_UPDATE flood and 100 new streams:
     * the GOAWAY names the stream served, and none of the new ones reaches the backend.
     */
    @Test
    void streamsOpenedAfterTheFloodInTheSameReadNeverReachTheBackend() throws Exception {
        H2Client attacker = attacker();
        assertEquals(200, attacker.get("/").status());
        long before = backendRequests();
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        read.writeBytes(flood(200, i -> H2Frames.windowUpdate(0, 1)));
        for (int i = 0; i < 100; i++) {
            read.writeBytes(attacker.frames().headers(attacker.newStream(), request("GET", "/"), true));
        }
        sendIgnoringClose(attacker, read.toByteArray());
        Frame goAway = attacker.awaitGoAway(WAIT);
        assertNotNull(goAway, "a GOAWAY: " + attacker.seen());
        assertEquals(H2Frames.ENHANCE_YOUR_CALM, goAway.errorCode(), goAway.toString());
        assertTrue(attacker.awaitClose(WAIT), "the connection is closed after the GOAWAY");
        assertEquals(200, fx.track(H2Client.connect(proxy.listenAddress())).get("/").status());
        assertEquals(before + 1, backendRequests(), "only the request after the close reached the backend");
        assertEquals(1, goAway.lastStreamId(), "the last stream processed: " + goAway);
    }

    @Test
    void emptyDataFramesEndTheConnection() throws Exception {
        H2Client attacker = attacker();
        ByteArrayOutputStream flood = new ByteArrayOutputStream();
        flood.writeBytes(attacker.frames().headers(1, request("POST", "/echo"), false));
        for (int i = 0; i < 1000; i++) {
            flood.writeBytes(H2Frames.data(1, new byte[0], false));
        }
        sendIgnoringClose(attacker, flood.toByteArray());
        assertGoAway(attacker, H2Frames.ENHANCE_YOUR_CALM);
    }

    /**
     * Slow read: a client that opens its windows wide, asks for a large response and reads nothing from its socket.
     * Once the socket buffers are full nothing more reaches it, not even the reset of its stream or a GOAWAY: its
     * connection is closed after client_idle_ms all the same, and its backend connection with it.
     */
    @Test
    void aClientThatStopsReadingItsSocketIsClosedAfterClientIdleMs() throws Exception {
        ProxyServer quick = fx.proxy("\"timeouts\": {\"client_idle_ms\": 500}", backend.port());
        RawHttpClient reader = fx.track(RawHttpClient.connect(quick.listenAddress(), 8 * 1024));
        H2Frames frames = new H2Frames();
        reader.send(H2Frames.concat(frames.preface(), H2Frames.settings(0x4, Integer.MAX_VALUE),
                H2Frames.windowUpdate(0, Integer.MAX_VALUE - 65_535),
                frames.headers(1, request("GET", "/bytes?n=" + (1L << 30)), true)));
        Fixtures.await(WAIT, "the client's connection to be closed", () -> quick.stats().connectionsCurrent.get() == 0);
        long fromBackend = Fixtures.server(quick, backend.port()).stats().bytesIn.sum();
        assertTrue(fromBackend < 1L << 30, "the whole response left the backend: " + fromBackend);
    }

    // ---------------------------------------------------------------- limits

    @Test
    void streamsBeyondTheLimitAreRefused() throws Exception {
        H2Client client = attacker();
        int[] ids = new int[11];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = client.newStream();
            client.send(client.frames().headers(ids[i], request("GET", "/slow?ms=500"), true));
        }
        Response refused = client.await(ids[10], WAIT);
        assertEquals(H2Frames.REFUSED_STREAM, refused.reset(), "the 11th stream is refused: " + refused);
        for (int i = 0; i < 10; i++) {
            assertEquals(200, client.await(ids[i], WAIT).status(), "the first 10 are served");
        }
        assertEquals(200, client.get("/").status(), "room again once they are done");
    }

    @Test
    void aHeaderListOverTheLimitIsRefused() throws Exception {
        H2Client client = attacker();
        int id = client.newStream();
        client.send(client.frames().headers(id, request("GET", "/", "x-big", "a".repeat(40_000)), true));
        Response r = client.await(id, WAIT);
        assertTrue(r.status() == 431 || r.reset() >= 0, "431 or a reset: " + r);
        assertEquals(200, client.get("/").status(), "the connection goes on");
    }

    // ---------------------------------------------------------------- malformed requests

    static Stream<Arguments> malformed() {
        return Stream.of(
                Arguments.of("missing :path", headers(":method", "GET", ":scheme", "http", ":authority", "a")),
                Arguments.of("missing :method", headers(":scheme", "http", ":authority", "a", ":path", "/")),
                Arguments.of("missing :scheme", headers(":method", "GET", ":authority", "a", ":path", "/")),
                Arguments.of("duplicate :method", headers(":method", "GET", ":method", "POST", ":scheme", "http",
                        ":authority", "a", ":path", "/")),
                Arguments.of(":status in a request", headers(":method", "GET", ":scheme", "http", ":authority", "a",
                        ":path", "/", ":status", "200")),
                Arguments.of("unknown pseudo-header", headers(":method", "GET", ":scheme", "http", ":authority", "a",
                        ":path", "/", ":foo", "x")),
                Arguments.of("pseudo-header after a field", headers(":method", "GET", ":scheme", "http",
                        "accept", "*/*", ":authority", "a", ":path", "/")),
                Arguments.of("upper-case name", get("Accept", "*/*")),
                Arguments.of("connection", get("connection", "close")),
                Arguments.of("keep-alive", get("keep-alive", "timeout=5")),
                Arguments.of("proxy-connection", get("proxy-connection", "keep-alive")),
                Arguments.of("transfer-encoding", get("transfer-encoding", "chunked")),
                Arguments.of("upgrade", get("upgrade", "websocket")),
                Arguments.of("te other than trailers", get("te", "gzip")),
                Arguments.of("CR LF in a value", get("x-a", "1\r\nx-b: 2")),
                Arguments.of("NUL in a value", get("x-a", "1\u0000")),
                Arguments.of("host other than :authority", get("host", "elsewhere")));
    }

    /** A header block with exactly these fields, in this order. */
    private static byte[] headers(String... pairs) {
        return H2Frames.literalBlock(pairs);
    }

    private static byte[] get(String name, String value) {
        return headers(":method", "GET", ":scheme", "http", ":authority", "test", ":path", "/echo", name, value);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformed")
    void aMalformedRequestIsResetAndNeverReachesTheBackend(String name, byte[] block) throws Exception {
        H2Client client = attacker();
        long before = backendRequests();
        int id = client.newStream();
        client.send(H2Frames.headerBlock(id, block, true));
        Response r = client.await(id, WAIT);
        assertEquals(H2Frames.PROTOCOL_ERROR, r.reset(), name + ": " + r);
        assertEquals(before, backendRequests(), "nothing reached the backend");
        assertEquals(200, client.get("/").status(), "a stream error: the connection goes on");
    }

    @Test
    void teTrailersIsAccepted() throws Exception {
        H2Client client = attacker();
        assertEquals(200, client.get("/", "te", "trailers").status());
    }

    @Test
    void aBodyShorterThanItsContentLengthIsAStreamError() throws Exception {
        H2Client client = attacker();
        int id = client.newStream();
        client.send(client.frames().headers(id, request("POST", "/echo", "content-length", "10"), false),
                H2Frames.data(id, "12345".getBytes(), true));
        Response r = client.await(id, WAIT);
        assertEquals(H2Frames.PROTOCOL_ERROR, r.reset(), r.toString());
        assertFalse(r.status() == 200, "the backend never answered a complete request: " + r);
        assertEquals(200, client.get("/").status());
    }

    @Test
    void aBodyLongerThanItsContentLengthIsAStreamError() throws Exception {
        H2Client client = attacker();
        int id = client.newStream();
        client.send(client.frames().headers(id, request("POST", "/echo", "content-length", "3"), false),
                H2Frames.data(id, "12345".getBytes(), true));
        Response r = client.await(id, WAIT);
        assertEquals(H2Frames.PROTOCOL_ERROR, r.reset(), r.toString());
        assertEquals(200, client.get("/").status());
    }

    /** {@code n} frames in a row, the i-th {@code frame.apply(i)}. */
    private static byte[] flood(int n, IntFunction<byte[]> frame) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < n; i++) {
            out.writeBytes(frame.apply(i));
        }
        return out.toByteArray();
    }

    /**
     * Sends a flood from a thread of its own while the test reads: the proxy closes the connection while
     * the flood is still arriving, and a reset from the kernel could destroy a GOAWAY not yet read.
     */
    private static void sendIgnoringClose(H2Client client, byte[] bytes) {
        Thread sender = new Thread(() -> {
            try {
                client.send(bytes);
            } catch (IOException e) {
                // the proxy closed the connection in the middle of the flood
            }
        }, "flood");
        sender.setDaemon(true);
        sender.start();
    }
}
