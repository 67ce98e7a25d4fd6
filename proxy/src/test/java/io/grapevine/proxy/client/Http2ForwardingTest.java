package io.grapevine.proxy.client;

import static io.grapevine.proxy.client.ForwardingHarness.config;
import static io.grapevine.proxy.testing.H2Frames.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.client.ForwardingHarness.Backend;
import io.grapevine.proxy.client.ForwardingHarness.Dial;
import io.grapevine.proxy.net.RelayBuffers;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.H2Frames;
import io.grapevine.proxy.testing.H2Frames.Frame;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.epoll.Epoll;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * HTTP/2 streams through the forwarding core without sockets: an {@link Http2Connection} on an embedded
 * client channel, fed frames written by hand, its streams' exchanges on embedded backend channels. Each
 * stream is one exchange; responses come back on their own stream in whatever order the servers answer;
 * flow control holds back the backend on one side and the client on the other; failures reset a stream
 * or become an error response, never more.
 */
class Http2ForwardingTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(Http2Connection.class);

    private final H2Frames wire = new H2Frames();
    private final List<Frame> received = new ArrayList<>();

    /** The clock of the flood lines' limit, which only the test moves. */
    private final AtomicLong lineClock = new AtomicLong(System.nanoTime());

    @BeforeEach
    void everyFloodLineIsLoggedAtFirst() {
        Http2Connection.CALM_LINES.reset(lineClock::get);
    }

    private ForwardingHarness harness(int servers, String extra) throws Exception {
        ForwardingHarness h = new ForwardingHarness(config(servers, extra), Http2Connection::install);
        send(h, wire.preface(), H2Frames.settingsAck());
        read(h);
        assertTrue(received.stream().anyMatch(f -> f.type() == H2Frames.SETTINGS), "the server's preface: " + received);
        received.clear();
        return h;
    }

    private static void send(ForwardingHarness h, byte[]... frames) {
        h.client.writeInbound(Unpooled.wrappedBuffer(H2Frames.concat(frames)));
        h.runPending();
    }

    /** Reads what the client received so far into {@link #received}. */
    private List<Frame> read(ForwardingHarness h) {
        received.addAll(h.receivedFrames(wire));
        return received;
    }

    private Frame find(ForwardingHarness h, Predicate<Frame> which) {
        for (Frame f : read(h)) {
            if (which.test(f)) {
                return f;
            }
        }
        return null;
    }

    /** Lets {@code millis} pass, then runs the loop's sweep of deadlines and what it queued. */
    private static void sweepAfter(ForwardingHarness h, long millis) throws InterruptedException {
        Thread.sleep(millis);
        h.loop.sweep();
        h.runPending();
    }

    private static Predicate<Frame> on(int stream, int type) {
        return f -> f.streamId() == stream && f.type() == type;
    }

    private String body(ForwardingHarness h, int stream) {
        StringBuilder sb = new StringBuilder();
        for (Frame f : read(h)) {
            if (f.streamId() == stream && f.type() == H2Frames.DATA) {
                sb.append(new String(f.payload(), StandardCharsets.ISO_8859_1));
            }
        }
        return sb.toString();
    }

    private boolean ended(ForwardingHarness h, int stream) {
        return read(h).stream().anyMatch(f -> f.streamId() == stream && f.endStream());
    }

    private static String ok(String body) {
        return "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
    }

    // ---------------------------------------------------------------- one stream, one exchange

    @Test
    void aStreamBecomesAnHttp11RequestAndItsResponseComesBackOnTheStream() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/a?b=1", "accept", "text/plain", "cookie", "x=1", "cookie", "y=2"),
                    true));
            Backend b = h.backend(0);
            String head = b.received();
            assertTrue(head.startsWith("GET /a?b=1 HTTP/1.1\r\nhost: test\r\naccept: text/plain\r\n"), head);
            assertTrue(head.contains("\r\ncookie: x=1; y=2\r\n"), "cookie crumbs joined (RFC 9113 8.2.3): " + head);
            assertTrue(head.contains("\r\nX-Forwarded-For: unknown\r\nX-Forwarded-Proto: http\r\nX-Request-ID: "), head);
            assertFalse(head.contains("Content-Length") || head.contains("Transfer-Encoding"), head);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Thing: 1\r\n\r\nhi");
            Frame headers = find(h, on(1, H2Frames.HEADERS));
            assertNotNull(headers, "response HEADERS: " + received);
            assertEquals("200", headers.headers().status().toString());
            assertEquals("2", headers.headers().get("content-length").toString());
            assertEquals("1", headers.headers().get("x-thing").toString());
            assertNull(headers.headers().get("connection"), "no connection-specific field in HTTP/2");
            assertEquals("hi", body(h, 1));
            assertTrue(ended(h, 1));
            assertEquals(1, h.stats.requests.sum());
            assertEquals(1, h.stats.http2Streams.sum());
        }
    }

    @Test
    void aCompressedResponseHasNoContentLengthAndEndsWithItsStream() throws Exception {
        try (ForwardingHarness h = harness(1, "\"compression\": {\"enabled\": true}")) {
            String text = "gossip table swap ".repeat(2000);
            send(h, wire.headers(1, request("GET", "/doc", "accept-encoding", "gzip, deflate, br"), true));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nVary: Origin\r\nContent-Length: "
                    + text.length() + "\r\n\r\n" + text);
            Frame headers = find(h, on(1, H2Frames.HEADERS));
            assertNotNull(headers, "response HEADERS: " + received);
            assertEquals("gzip", headers.headers().get("content-encoding").toString());
            assertNull(headers.headers().get("content-length"), "the length was the uncompressed body's");
            assertEquals(List.of("Origin", "Accept-Encoding"),
                    headers.headers().getAll("vary").stream().map(CharSequence::toString).toList());
            assertTrue(ended(h, 1));
            byte[] gz = body(h, 1).getBytes(StandardCharsets.ISO_8859_1);
            try (java.io.InputStream in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(gz))) {
                assertEquals(text, new String(in.readAllBytes(), StandardCharsets.ISO_8859_1));
            }
            assertTrue(gz.length < text.length() / 10, gz.length + " bytes");
            assertEquals(1, h.stats.responsesCompressed.sum());
        }
    }

    @Test
    void aStreamOverThePoolsRateLimitIsAnswered429AndTheConnectionGoesOn() throws Exception {
        try (ForwardingHarness h = harness(1, "\"rate_limit\": {\"requests\": 1, \"period_ms\": 60000}")) {
            send(h, wire.headers(1, request("GET", "/first"), true));
            h.backend(0).send(ok("fine"));
            assertEquals("200", find(h, on(1, H2Frames.HEADERS)).headers().status().toString());
            send(h, wire.headers(3, request("GET", "/second"), true));
            Frame headers = find(h, on(3, H2Frames.HEADERS));
            assertNotNull(headers, "response HEADERS: " + received);
            assertEquals("429", headers.headers().status().toString());
            assertEquals("60", headers.headers().get("retry-after").toString(), "a minute until the next token");
            assertEquals("Too many requests; try again later.\n", body(h, 3));
            assertTrue(ended(h, 3));
            String atServer = h.backend(0).received();
            assertTrue(atServer.startsWith("GET /first ") && !atServer.contains("/second"), "only the first reached"
                    + " the server: " + atServer);
            assertEquals(1, h.backends.size(), "no connection was opened for the second");
            assertEquals(1, h.stats.rateLimited.sum());
        }
    }

    @Test
    void aCleartextStreamIsRedirectedToHttpsWhenTheListenerRedirects() throws Exception {
        try (ForwardingHarness h = harness(1, "\"tls\": {\"listen\": \"127.0.0.1:8443\", \"cert\": \"c.pem\","
                + " \"key\": \"k.pem\", \"redirect_http\": true}")) {
            send(h, wire.headers(1, request("GET", "/docs?page=2"), true));
            Frame headers = find(h, on(1, H2Frames.HEADERS));
            assertNotNull(headers, "response HEADERS: " + received);
            assertEquals("301", headers.headers().status().toString());
            assertTrue(headers.headers().get("location").toString().matches("https://[^/]+:8443/docs\\?page=2"),
                    headers.headers().get("location").toString());
            assertTrue(ended(h, 1));
            assertEquals(0, h.backends.size(), "no server was dialled");
        }
    }

    @Test
    void theLastDataFrameOfAResponseCarriesItsEndStream() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/whole"), true));
            h.backend(0).send(ok("all of it"));
            List<Frame> data = read(h).stream().filter(on(1, H2Frames.DATA)).toList();
            assertEquals(1, data.size(), "a body that arrives whole: one DATA frame, no empty one after it: " + data);
            assertEquals("all of it", new String(data.get(0).payload(), StandardCharsets.ISO_8859_1));
            assertTrue(data.get(0).endStream());

            received.clear();
            send(h, wire.headers(3, request("GET", "/parts"), true));
            Backend b = h.backend(0);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nfirst");
            assertEquals("first", body(h, 3), "a part is not held past its read");
            assertFalse(ended(h, 3));
            b.send("!!");
            data = read(h).stream().filter(on(3, H2Frames.DATA)).toList();
            assertEquals(2, data.size(), "" + data);
            assertEquals("!!", new String(data.get(1).payload(), StandardCharsets.ISO_8859_1));
            assertTrue(data.get(1).endStream());
        }
    }

    @Test
    void streamsAnswerInWhateverOrderTheirServersDo() throws Exception {
        try (ForwardingHarness h = harness(2, "")) {
            send(h, wire.headers(1, request("GET", "/slow"), true), wire.headers(3, request("GET", "/fast"), true));
            assertEquals(2, h.backends.size(), "one exchange, one backend connection per stream, at once");
            h.backend(1).send(ok("fast"));
            assertEquals("fast", body(h, 3));
            assertTrue(ended(h, 3), "stream 3 does not wait for stream 1");
            assertFalse(ended(h, 1));
            h.backend(0).send(ok("slow"));
            assertEquals("slow", body(h, 1));
        }
    }

    @Test
    void aRequestBodyWithoutLengthGoesChunkedAndItsTrailersFollow() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/up"), false), H2Frames.data(1, bytes("hello"), false),
                    wire.headers(1, new io.netty.handler.codec.http2.DefaultHttp2Headers().add("x-sum", "5"), true));
            String sent = h.backend(0).received();
            assertTrue(sent.startsWith("POST /up HTTP/1.1\r\n"), sent);
            assertTrue(sent.contains("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 5\r\n\r\n"), sent);
        }
    }

    @Test
    void aRequestBodyWithLengthKeepsIt() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("PUT", "/up", "content-length", "5"), false),
                    H2Frames.data(1, bytes("hel"), false), H2Frames.data(1, bytes("lo"), true));
            String sent = h.backend(0).received();
            assertTrue(sent.contains("Content-Length: 5\r\n\r\nhello"), sent);
            assertFalse(sent.contains("chunked"), sent);
        }
    }

    /**
     * A stream's HEADERS and DATA, read and written, pass between the codec and the connection without frame
     * objects (the decoder calls the connection's listener, the stream writes to the codec's encoder): nothing of
     * a request and its response crosses the pipeline between them as an {@code Http2HeadersFrame} or
     * {@code Http2DataFrame}.
     */
    @Test
    void aStreamsHeadersAndDataPassWithoutFrameObjects() throws Exception {
        List<Object> crossed = new ArrayList<>();
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""), (pipeline, loop) -> {
            Http2Connection.install(pipeline, loop);
            pipeline.addAfter(Http2Connection.CODEC, "spy", new io.netty.channel.ChannelDuplexHandler() {
                @Override
                public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
                    if (msg instanceof io.netty.handler.codec.http2.Http2HeadersFrame
                            || msg instanceof io.netty.handler.codec.http2.Http2DataFrame) {
                        crossed.add(msg);
                    }
                    ctx.fireChannelRead(msg);
                }

                @Override
                public void write(io.netty.channel.ChannelHandlerContext ctx, Object msg,
                                  io.netty.channel.ChannelPromise promise) {
                    if (msg instanceof io.netty.handler.codec.http2.Http2HeadersFrame
                            || msg instanceof io.netty.handler.codec.http2.Http2DataFrame) {
                        crossed.add(msg);
                    }
                    ctx.write(msg, promise);
                }
            });
        })) {
            send(h, wire.preface(), H2Frames.settingsAck());
            send(h, wire.headers(1, request("PUT", "/up", "content-length", "5"), false),
                    H2Frames.data(1, bytes("hello"), true));
            assertTrue(h.backend(0).received().endsWith("\r\n\r\nhello"));
            h.backend(0).send(ok("done"));
            assertEquals("done", body(h, 1));
            assertTrue(ended(h, 1));
            assertEquals(List.of(), crossed.stream().map(Object::toString).toList());
        }
    }

    @Test
    void responseTrailersAndInterimResponsesPassThrough() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/x", "expect", "100-continue", "content-length", "2"), false));
            Backend b = h.backend(0);
            assertTrue(b.received().contains("expect: 100-continue\r\n"));
            b.send("HTTP/1.1 100 Continue\r\n\r\n");
            Frame interim = find(h, on(1, H2Frames.HEADERS));
            assertNotNull(interim, "100 Continue relayed: " + received);
            assertEquals("100", interim.headers().status().toString());
            assertFalse(interim.endStream());
            received.clear();
            send(h, H2Frames.data(1, bytes("ok"), true));
            b.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n3\r\nabc\r\n0\r\n"
                    + "X-Checksum: 42\r\n\r\n");
            List<Frame> frames = read(h);
            Frame head = frames.stream().filter(on(1, H2Frames.HEADERS)).findFirst().orElseThrow();
            assertNull(head.headers().get("content-length"), "unknown length: END_STREAM delimits it");
            assertEquals("abc", body(h, 1));
            Frame trailers = frames.stream().filter(on(1, H2Frames.HEADERS)).skip(1).findFirst().orElseThrow();
            assertTrue(trailers.endStream());
            assertEquals("42", trailers.headers().get("x-checksum").toString(), "trailer names in lower case");
        }
    }

    @Test
    void aHeadResponseEndsWithItsHeaders() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("HEAD", "/x"), true));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertTrue(head.endStream(), "no DATA after a HEAD response");
            assertEquals("1234", head.headers().get("content-length").toString(), "kept: it describes the GET");
            assertEquals(1, read(h).stream().filter(f -> f.streamId() == 1).count(), received.toString());
        }
    }

    @Test
    void aNoContentResponseReachesTheClientWithoutTheContentLengthItMustNotHave() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("DELETE", "/x"), true));
            h.backend(0).send("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-A: 1\r\n\r\n");
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertNotNull(head, "response HEADERS: " + received);
            assertEquals("204", head.headers().status().toString());
            assertTrue(head.endStream());
            assertNull(head.headers().get("content-length"), "RFC 9110 section 8.6: an HTTP/2 client resets "
                    + "a stream whose 204 carries content-length (RFC 9113 section 8.1.1)");
            assertEquals("1", head.headers().get("x-a").toString());
        }
    }

    // ---------------------------------------------------------------- flow control

    /** The first backend, with what it received so far read, made unable to take more. */
    private static Backend blocked(ForwardingHarness h) {
        Backend b = h.backend(0);
        b.received();
        h.writable(b.channel(), false);
        return b;
    }

    @Test
    void aBlockedBackendStopsReadingTheStreamAndWithholdsItsWindow() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/up", "content-length", "100000"), false));
            Backend b = blocked(h);
            byte[] piece = new byte[16_000];
            send(h, H2Frames.data(1, piece, false));
            received.clear();
            read(h);
            send(h, H2Frames.data(1, piece, false), H2Frames.data(1, piece, false));
            assertEquals(16_000, b.received().length(), "only what arrived before the backend blocked");
            assertNull(find(h, f -> f.type() == H2Frames.WINDOW_UPDATE && f.streamId() == 1),
                    "no window for the stream while its backend is blocked: " + received);
            h.writable(b.channel(), true);
            assertEquals(32_000, b.received().length(), "the held frames go on once the backend drains");
            assertNotNull(find(h, f -> f.type() == H2Frames.WINDOW_UPDATE && f.streamId() == 1),
                    "the window reopens: " + received);
            send(h, H2Frames.rst(1, H2Frames.CANCEL)); // ends stream 1's exchange before the harness closes
        }
    }

    @Test
    void dataAndTrailersHeldWhileTheBackendIsBlockedFollowInOrder() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/up"), false));
            Backend b = blocked(h);
            send(h, H2Frames.data(1, bytes("one,"), false));
            send(h, H2Frames.data(1, bytes("two,"), false), H2Frames.data(1, bytes("three"), false),
                    wire.headers(1, new io.netty.handler.codec.http2.DefaultHttp2Headers().add("x-sum", "13"), true));
            String before = b.received();
            assertTrue(before.contains("one,") && !before.contains("two,"), "only what came before the block: " + before);
            h.writable(b.channel(), true);
            String after = before + b.received();
            assertTrue(after.endsWith("4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\nx-sum: 13\r\n\r\n"),
                    "the held frames, then the trailers, in order: " + after);
        }
    }

    @Test
    void framesHeldForABlockedBackendAreReleasedWhenTheClientResets() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/up", "content-length", "100000"), false));
            Backend b = blocked(h);
            byte[] piece = new byte[16_000];
            io.netty.buffer.ByteBuf pieces = Unpooled.wrappedBuffer(H2Frames.concat(
                    H2Frames.data(1, piece, false), H2Frames.data(1, piece, false), H2Frames.data(1, piece, false)));
            h.client.writeInbound(pieces);
            h.runPending();
            assertEquals(16_000, b.received().length(), "two frames held");
            assertTrue(pieces.refCnt() > 0, "the held frames' content still refers to what was read");
            send(h, H2Frames.rst(1, H2Frames.CANCEL));
            assertFalse(b.channel().isActive(), "the exchange was dropped with its backend connection");
            assertEquals(0, pieces.refCnt(), "the held frames were released with their stream");
            send(h, wire.headers(3, request("GET", "/next"), true));
            h.backend(1).send(ok("next"));
            assertEquals("next", body(h, 3));
        }
    }

    @Test
    void aStreamWaitingForItsBackendIsNotTimedWhileAnotherFillsTheConnectionWindow() throws Exception {
        try (ForwardingHarness h = harness(2, "\"timeouts\": {\"client_idle_ms\": 200}")) {
            send(h, H2Frames.settings(0x4, 1 << 20)); // large stream windows; the connection's stays 65,535
            send(h, wire.headers(1, request("GET", "/slow"), true));
            send(h, wire.headers(3, request("GET", "/big"), true));
            h.backend(1).send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(100_000));
            read(h);
            Thread.sleep(400); // past client_idle_ms, with the connection's window closed throughout
            h.loop.sweep();
            h.runPending();
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "stream 1 has nothing to send, so nothing is held back: "
                    + received);
            assertTrue(h.backend(0).channel().isActive(), "stream 1's exchange goes on");
            assertNotNull(find(h, on(3, H2Frames.RST_STREAM)), "stream 3, held back past the deadline, is reset");
            send(h, H2Frames.rst(1, H2Frames.CANCEL)); // ends stream 1's exchange before the harness closes
        }
    }

    /**
     * A response the proxy answers itself (here a 503: no server) waits, like any other, for the window of a client
     * that grants none; the stream is reset once it has waited client_idle_ms, not held with the connection for
     * good.
     */
    @Test
    void aLocalResponseTheClientTakesNothingOfIsResetAfterClientIdleMs() throws Exception {
        try (ForwardingHarness h = harness(0, "\"timeouts\": {\"client_idle_ms\": 30}")) {
            send(h, H2Frames.settings(0x4, 0)); // SETTINGS_INITIAL_WINDOW_SIZE 0: no DATA may be sent yet
            send(h, wire.headers(1, request("GET", "/"), true));
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertEquals("503", head.headers().status().toString());
            assertFalse(ended(h, 1), "its body waits for window: " + received);
            sweepAfter(h, 60);
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "reset once the client took nothing for client_idle_ms: " + received);
            assertEquals(H2Frames.CANCEL, rst.errorCode());
            sweepAfter(h, 60);
            assertFalse(h.client.isActive(), "then the connection, without streams, is idle");
        }
    }

    /**
     * A client that opens a stream and never grants it window (a zero-window stall) holds its backend paused, with
     * one read of the response at most, for client_idle_ms: then the stream is reset and the backend connection,
     * its response unfinished, closed.
     */
    @Test
    void aResponseTheClientGrantsNoWindowForIsResetAndItsBackendConnectionClosedAfterClientIdleMs() throws Exception {
        try (ForwardingHarness h = harness(1, "\"timeouts\": {\"client_idle_ms\": 30}")) {
            Backend b = responseWithoutWindow(h, 1_000_000, 64 * 1024);
            sweepAfter(h, 60);
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "reset once the client took nothing for client_idle_ms: " + received);
            assertEquals(H2Frames.CANCEL, rst.errorCode());
            assertFalse(b.channel().isActive(), "the backend connection of the unfinished response is closed");
            sweepAfter(h, 60);
            assertFalse(h.client.isActive(), "then the connection, without streams, is idle");
        }
    }

    /**
     * Stream 1 asks for a response of {@code length} bytes from a client that grants no window
     * (SETTINGS_INITIAL_WINDOW_SIZE 0); its backend sends the head and {@code sent} bytes of the body, and is paused.
     */
    private Backend responseWithoutWindow(ForwardingHarness h, int length, int sent) {
        send(h, H2Frames.settings(0x4, 0));
        send(h, wire.headers(1, request("GET", "/big"), true));
        Backend b = h.backend(0);
        b.send("HTTP/1.1 200 OK\r\nContent-Length: " + length + "\r\n\r\n" + "x".repeat(sent));
        assertFalse(b.isReading(), "the stream cannot take more: its backend is paused");
        return b;
    }

    @Test
    void aClosedStreamWindowPausesTheBackendUntilTheClientGrantsMore() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            int size = 256 * 1024;
            Backend b = responseWithoutWindow(h, size, 128 * 1024);
            assertEquals("", body(h, 1));
            send(h, H2Frames.windowUpdate(1, size), H2Frames.windowUpdate(0, size));
            assertTrue(b.isReading(), "window granted: the backend is read again");
            b.send("y".repeat(128 * 1024));
            assertEquals(size, body(h, 1).length());
            assertTrue(ended(h, 1));
        }
    }

    /**
     * A client that reads its socket but grants no window to a stream takes none of its response, though its socket
     * is writable: under memory pressure that stream alone is reset once it waited over a second, its backend
     * connection closed; a stream the client takes its response on, and the connection, go on.
     */
    @Test
    void underPressureAStreamWaitingForWindowIsResetAndTheOthersGoOn() throws Exception {
        try (ForwardingHarness h = harness(2, "")) {
            Http2Connection connection = h.client.pipeline().get(Http2Connection.class);
            Backend stalled = responseWithoutWindow(h, 1_000_000, 1000);
            send(h, wire.headers(3, request("GET", "/other"), true), H2Frames.windowUpdate(3, 60_000));
            Backend taking = h.backend(1);
            taking.send("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + "y".repeat(1000));
            assertTrue(h.client.isWritable(), "its socket takes everything");
            assertEquals(0, connection.stalledSinceNanos(), "so the connection is not stalled");

            assertEquals(0, connection.shedStalledStreams(System.nanoTime()), "stalled for less than a second");
            assertEquals(1, connection.shedStalledStreams(System.nanoTime() + TimeUnit.SECONDS.toNanos(2)));
            h.runPending();
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "stream 1 reset: " + received);
            assertEquals(H2Frames.CANCEL, rst.errorCode());
            assertFalse(stalled.channel().isActive(), "its backend connection closed");

            assertTrue(h.client.isOpen());
            assertTrue(taking.channel().isActive());
            taking.send("y".repeat(1000));
            assertEquals(2000, body(h, 3).length(), "stream 3 got all of its response");
            assertTrue(ended(h, 3));
        }
    }

    /** A part the client's socket keeps pauses the stream's backend until the socket drains. */
    @Test
    void aPartTheSocketKeepsPausesTheBackendUntilItDrains() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            h.client.config().setWriteBufferWaterMark(RelayBuffers.WATER_MARK);
            String part = "x".repeat(RelayBuffers.MAX_READ);
            send(h, H2Frames.windowUpdate(0, 2 * part.length()), wire.headers(1, request("GET", "/big"), true),
                    H2Frames.windowUpdate(1, 2 * part.length()));
            Backend b = h.backend(0);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: " + 2 * part.length() + "\r\n\r\n");
            h.writable(h.client, false); // the socket's buffer is full
            b.send(part);
            assertFalse(b.isReading(), "the socket kept the part: the backend must wait");
            h.writable(h.client, true);
            assertTrue(b.isReading(), "the socket drained: the backend is read again");
            b.send(part);
            assertEquals(2 * part.length(), body(h, 1).length());
            assertTrue(ended(h, 1));
        }
    }

    /**
     * A client that reads nothing from its socket (its TCP window closed, whatever its HTTP/2 windows say) can be
     * sent nothing more, not even the RST_STREAM of a stream it stalled nor a GOAWAY: a stream reset for it stays
     * open until its reset is written. Its connection is closed once the socket took nothing for client_idle_ms, as
     * an HTTP/1.1 client's that reads nothing is, not held with its streams for good.
     */
    @Test
    void aClientThatReadsNothingFromItsSocketIsClosedAfterClientIdleMs() throws Exception {
        try (ForwardingHarness h = harness(1, "\"timeouts\": {\"client_idle_ms\": 30}")) {
            send(h, wire.headers(1, request("GET", "/big"), true));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + "x".repeat(1000));
            read(h);
            h.client.pipeline().addFirst(new SocketNotRead());
            h.writable(h.client, false);
            sweepAfter(h, 60);
            sweepAfter(h, 60);
            assertFalse(h.client.isActive(), "closed once its socket took nothing for client_idle_ms");
            assertFalse(h.backend(0).channel().isActive(), "its exchange's backend connection too");
        }
    }

    /**
     * Stands for the socket of a client that reads nothing: what is written stays, its promise open, until the
     * channel closes (then it is released and its promise failed, as a channel's outbound buffer does with what it
     * could not write: a writer that released a buffer when its write completed releases it then).
     */
    private static final class SocketNotRead extends ChannelOutboundHandlerAdapter {
        private final List<Object> held = new ArrayList<>();
        private final List<ChannelPromise> promises = new ArrayList<>();

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            held.add(msg);
            promises.add(promise);
        }

        @Override
        public void flush(ChannelHandlerContext ctx) {
            // nothing leaves
        }

        @Override
        public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
            held.forEach(ReferenceCountUtil::release);
            held.clear();
            promises.forEach(p -> p.tryFailure(new ClosedChannelException()));
            promises.clear();
            ctx.close(promise);
        }
    }

    // ---------------------------------------------------------------- failures

    @Test
    void aBackendFailureBeforeAnyResponseByteBecomesAnErrorResponse() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/x"), true));
            h.backend(0).send("this is not HTTP\r\n\r\n");
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertEquals("502", head.headers().status().toString());
            assertTrue(body(h, 1).contains("backend"), body(h, 1));
            assertTrue(ended(h, 1));
        }
    }

    @Test
    void noServerMeans503() throws Exception {
        try (ForwardingHarness h = harness(0, "")) {
            send(h, wire.headers(1, request("GET", "/"), true));
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertEquals("503", head.headers().status().toString());
            assertNotNull(head.headers().get("date"), "the proxy dates its own answers: " + head.headers());
            assertTrue(ended(h, 1));
        }
    }

    /**
     * A stream whose backend connect has no file descriptor (the proxy is at its open-files limit) is answered 503
     * at once, its request body dropped as it arrives, and counted against no server; the connection's next stream
     * is served as usual.
     */
    @Test
    void aStreamWhoseConnectHasNoDescriptorIsAnswered503AndTheNextStreamIsServed() throws Exception {
        Epoll.ensureAvailability(); // the scripted failure's native error needs the library
        try (ForwardingHarness h = harness(2, "")) {
            h.dials(Dial.NO_SOCKET);
            send(h, wire.headers(1, request("POST", "/upload"), false));
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertNotNull(head, "no answer to the stream: " + received);
            assertEquals("503", head.headers().status().toString());
            send(h, H2Frames.data(1, "part of a body".getBytes(StandardCharsets.US_ASCII), true));
            assertTrue(ended(h, 1));
            assertEquals(1, h.stats.status503NoSocket.sum());
            assertEquals(0, h.stats.retries.sum());
            assertEquals(0, h.backends.size(), "a connection was dialled");
            for (Server s : h.tables.current().servers()) {
                assertFalse(s.isFailing(), s + " has a failure streak");
                assertEquals(0, s.stats().connectErrors.sum(), s + " has connect errors");
            }

            send(h, wire.headers(3, request("GET", "/next"), true));
            h.backend(0).send(ok("hi"));
            Frame next = find(h, on(3, H2Frames.HEADERS));
            assertNotNull(next, "the next stream was not answered: " + received);
            assertEquals("200", next.headers().status().toString());
            assertEquals("hi", body(h, 3));
        }
    }

    @Test
    void dataAfterTheRequestEndedIsAStreamErrorWhileTheResponseEndWaitsForWindow() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, H2Frames.settings(0x4, 5)); // the response's end waits for window: the stream stays open
            send(h, wire.headers(1, request("GET", "/x"), true));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
            read(h);
            received.clear();
            send(h, H2Frames.data(1, new byte[] {1, 2, 3}, false)); // after END_STREAM: RFC 9113 section 5.1
            Frame reset = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(reset, received.toString());
            assertEquals(0x5, reset.errorCode(), "STREAM_CLOSED");
        }
    }

    @Test
    void aBackendFailureMidResponseResetsThatStreamAndOnlyThatOne() throws Exception {
        try (ForwardingHarness h = harness(1, "\"passive_health\": {\"max_fails\": 0}")) {
            send(h, wire.headers(1, request("GET", "/cut"), true));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
            h.backend(0).close();
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "the stream is reset: " + received);
            assertEquals(H2Frames.INTERNAL_ERROR, rst.errorCode());
            assertEquals(1, h.stats.abortedResponses.sum());
            send(h, wire.headers(3, request("GET", "/next"), true));
            h.backend(1).send(ok("next"));
            assertEquals("next", body(h, 3), "the connection and its other streams go on");
            assertNull(find(h, f -> f.type() == H2Frames.GOAWAY));
        }
    }

    /** GOAWAY ENHANCE_YOUR_CALM once the proxy wrote more resets the client provoked than the budget allows. */
    private void assertResetBudgetSpent(ForwardingHarness h) {
        Frame goAway = find(h, f -> f.type() == H2Frames.GOAWAY);
        assertNotNull(goAway, "the connection ends: " + received.size() + " frames");
        assertEquals(H2Frames.ENHANCE_YOUR_CALM, goAway.errorCode(), goAway.toString());
    }

    /**
     * Behind an L4 balancer that speaks the PROXY protocol, the line an operator acts on when a client floods the
     * proxy names the client the header announced, as X-Forwarded-For and the access log do, not the balancer.
     */
    @Test
    void theFloodLineNamesTheClientAProxyHeaderAnnounced() throws Exception {
        try (ForwardingHarness h = behindABalancer()) {
            pingFlood(h);
            List<String> lines = log.messages(Level.INFO);
            assertEquals(1, lines.size(), lines.toString());
            assertTrue(lines.get(0).startsWith("HTTP/2 client /203.0.113.7:40000 closed with ENHANCE_YOUR_CALM"),
                    lines.get(0));
        }
    }

    /** A connection whose PROXY header announced client 203.0.113.7:40000, past its preface. */
    private ForwardingHarness behindABalancer() throws Exception {
        InetSocketAddress announced = new InetSocketAddress(InetAddress.getByName("203.0.113.7"), 40000);
        ForwardingHarness h = new ForwardingHarness(config(1, ""), (pipeline, loop) -> {
            pipeline.channel().attr(ClientAddress.ANNOUNCED).set(announced); // as ProxyProtocolReader leaves it
            Http2Connection.install(pipeline, loop);
        });
        send(h, wire.preface(), H2Frames.settingsAck());
        return h;
    }

    /**
     * Control frames queued towards a client that reads none (PING and SETTINGS acknowledgements, resets) beyond
     * {@link Http2Connection#MAX_QUEUED_CONTROL_FRAMES} end the connection in the codec's encoder, which reports it to
     * no handler: the close is a flood like the others, with its line naming the client and its count. The client's
     * budgets let it queue that many only over a client_idle_ms of more than about 90 s, so the encoder is driven here
     * as the codec drives it answering them.
     */
    @Test
    void controlFramesQueuedTowardsAClientThatReadsNoneEndItWithTheFloodLineAndCount() throws Exception {
        try (ForwardingHarness h = behindABalancer()) {
            assertControlFramesQueuedUnreadEndIt(h);
        }
    }

    /**
     * The same after the drain's last GOAWAY: the codec then sends no GOAWAY of its own for the encoder's error, which
     * reaches no handler, so the close went untold to the client and uncounted, its line unwritten.
     */
    @Test
    void controlFramesQueuedUnreadAfterTheDrainsLastGoAwayAreToldAndCounted() throws Exception {
        try (ForwardingHarness h = behindABalancer()) {
            drainWithAStreamInFlight(h);
            assertControlFramesQueuedUnreadEndIt(h);
        }
    }

    /**
     * The client reads nothing more while the codec answers its frames (the encoder driven as the codec drives it): one
     * control frame beyond {@link Http2Connection#MAX_QUEUED_CONTROL_FRAMES} ends the connection with the flood's
     * line and count.
     */
    private void assertControlFramesQueuedUnreadEndIt(ForwardingHarness h) {
        long errorsBefore = h.stats.http2ConnectionErrors.sum();
        h.client.pipeline().addFirst(new SocketNotRead());
        Http2FrameCodec codec = h.client.pipeline().get(Http2FrameCodec.class);
        ChannelHandlerContext codecContext = h.client.pipeline().context(codec);
        for (int i = 0; i <= Http2Connection.MAX_QUEUED_CONTROL_FRAMES && h.client.isActive(); i++) {
            codec.encoder().writePing(codecContext, true, i, codecContext.newPromise());
        }
        h.runPending();
        assertFalse(h.client.isActive(), "the connection is closed");
        assertEquals(errorsBefore + 1, h.stats.http2ConnectionErrors.sum(), "http2_connection_errors");
        List<String> lines = log.messages(Level.INFO);
        assertEquals(1, lines.size(), lines.toString());
        assertTrue(lines.get(0).startsWith("HTTP/2 client /203.0.113.7:40000 closed with ENHANCE_YOUR_CALM: "
                + "Maximum number " + Http2Connection.MAX_QUEUED_CONTROL_FRAMES), lines.get(0));
    }

    /** Stream 1 in flight, a drain to its last GOAWAY (naming stream 1), the connection still open for the stream. */
    private void drainWithAStreamInFlight(ForwardingHarness h) {
        send(h, wire.headers(1, request("GET", "/long"), true));
        h.loop.drain();
        h.runPending();
        Frame ping = find(h, f -> f.type() == H2Frames.PING);
        assertNotNull(ping, received.toString());
        send(h, H2Frames.frame(H2Frames.PING, H2Frames.ACK, 0, ping.payload()));
        assertEquals(2, read(h).stream().filter(f -> f.type() == H2Frames.GOAWAY).count(), received.toString());
        assertTrue(h.client.isActive(), "the stream in flight holds the connection open");
        received.clear();
    }

    /**
     * A SETTINGS frame of more than {@link Http2Connection#MAX_SETTINGS_PER_FRAME} parameters ends the connection from
     * its header, whose bytes here arrive over two reads, with the line and the count of the other floods: the frames
     * before it are read as usual, none after it.
     */
    @Test
    void aSettingsFrameOfTooManyParametersEndsTheConnectionFromItsHeader() throws Exception {
        try (ForwardingHarness h = behindABalancer()) {
            int[] pairs = new int[2 * (Http2Connection.MAX_SETTINGS_PER_FRAME + 1)];
            for (int i = 0; i < pairs.length; i += 2) {
                pairs[i] = 0x1; // SETTINGS_HEADER_TABLE_SIZE
                pairs[i + 1] = 4096;
            }
            byte[] before = wire.headers(1, request("GET", "/before"), true);
            byte[] after = wire.headers(3, request("GET", "/after"), true);
            byte[] read = H2Frames.concat(before, H2Frames.settings(pairs), after);
            int split = before.length + 4; // within the SETTINGS frame's header
            send(h, Arrays.copyOf(read, split));
            send(h, Arrays.copyOfRange(read, split, read.length));
            assertEquals(1, h.backends.size(), "the request before it was read, not the one after");
            Frame goAway = find(h, f -> f.type() == H2Frames.GOAWAY);
            assertNotNull(goAway, received.toString());
            assertEquals(H2Frames.ENHANCE_YOUR_CALM, goAway.errorCode(), goAway.toString());
            assertEquals(1, h.stats.http2ConnectionErrors.sum(), "http2_connection_errors");
            List<String> lines = log.messages(Level.INFO);
            assertEquals(List.of("HTTP/2 client /203.0.113.7:40000 closed with ENHANCE_YOUR_CALM: a SETTINGS frame of "
                    + (Http2Connection.MAX_SETTINGS_PER_FRAME + 1) + " parameters, more than "
                    + Http2Connection.MAX_SETTINGS_PER_FRAME), lines);
            h.runPending();
            assertFalse(h.client.isActive(), "the connection is closed");
        }
    }

    /** One PING more than the budget allows, and the GOAWAY ENHANCE_YOUR_CALM that ends the connection (returned). */
    /**
     * The codec decodes nothing after a flood's GOAWAY (RFC 9113 section 6.8): in the read that brought the flood, the
     * DATA of a stream opened before it and a new stream's HEADERS reach no backend, and the GOAWAY names the stream
     * opened before; a later read is not decoded either.
     */
    @Test
    void nothingReadAfterAFloodsGoAwayReachesABackend() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/upload"), false), H2Frames.data(1, bytes("early"), false));
            assertEquals(1, h.backends.size());
            assertTrue(h.backend(0).received().contains("early"), "the stream before the flood is forwarded");
            byte[][] read = new byte[Http2Connection.MAX_CONTROL_FRAMES_PER_WINDOW + 3][];
            for (int i = 0; i <= Http2Connection.MAX_CONTROL_FRAMES_PER_WINDOW; i++) {
                read[i] = H2Frames.ping(i);
            }
            read[read.length - 2] = H2Frames.data(1, bytes("late"), true);
            read[read.length - 1] = wire.headers(3, request("GET", "/after"), true);
            h.client.pipeline().fireChannelRead(Unpooled.wrappedBuffer(H2Frames.concat(read)));
            h.client.pipeline().fireChannelRead(Unpooled.wrappedBuffer(wire.headers(5, request("GET", "/later"), true)));
            h.client.pipeline().fireChannelReadComplete();
            h.runPending();
            Frame goAway = find(h, f -> f.type() == H2Frames.GOAWAY);
            assertNotNull(goAway, received.toString());
            assertEquals(H2Frames.ENHANCE_YOUR_CALM, goAway.errorCode(), goAway.toString());
            assertEquals(1, goAway.lastStreamId(), "the last stream processed");
            assertEquals(1, h.backends.size(), "no stream opens after the GOAWAY");
            assertFalse(h.backend(0).received().contains("late"), "nor does DATA read after it reach the backend");
            assertEquals(1, h.stats.http2ConnectionErrors.sum(), "http2_connection_errors");
            assertFalse(h.client.isActive(), "the flood closes the connection");
        }
    }

    private Frame pingFlood(ForwardingHarness h) {
        byte[][] flood = new byte[Http2Connection.MAX_CONTROL_FRAMES_PER_WINDOW + 1][];
        for (int i = 0; i < flood.length; i++) {
            flood[i] = H2Frames.ping(i);
        }
        send(h, flood);
        Frame goAway = find(h, f -> f.type() == H2Frames.GOAWAY);
        assertNotNull(goAway, "the flood ends the connection");
        assertEquals(H2Frames.ENHANCE_YOUR_CALM, goAway.errorCode(), goAway.toString());
        return goAway;
    }

    /**
     * A client that opens connection after connection and floods each writes at most a line a second, the next one
     * saying how many were not logged; the counter counts every close.
     */
    @Test
    void floodLinesAreAtMostOneASecondAndTheNextCountsThoseNotLogged() throws Exception {
        for (int i = 0; i < 3; i++) {
            try (ForwardingHarness h = harness(1, "")) {
                pingFlood(h);
                assertEquals(1, h.stats.http2ConnectionErrors.sum(), "http2_connection_errors");
            }
        }
        assertEquals(1, log.messages(Level.INFO).size(), log.messages(Level.INFO).toString());
        lineClock.addAndGet(TimeUnit.MILLISECONDS.toNanos(1001));
        try (ForwardingHarness h = harness(1, "")) {
            pingFlood(h);
        }
        List<String> lines = log.messages(Level.INFO);
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(1).endsWith("(2 more since the last such line, not logged)"), lines.get(1));
    }

    /** The mirror image of rapid reset: malformed requests, each reset by the proxy, at the client's pace. */
    @Test
    void resetsOfMalformedRequestsSpendTheClientsResetBudget() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            for (int i = 0; i <= Http2Connection.MAX_RESETS_PER_WINDOW; i++) {
                int id = 1 + 2 * i;
                assertNull(find(h, f -> f.type() == H2Frames.GOAWAY), "after " + i + " resets");
                send(h, H2Frames.headerBlock(id, H2Frames.literalBlock(":method", "GET", ":scheme", "http",
                        ":authority", "test", ":path", "/", "te", "gzip"), true));
                assertEquals(H2Frames.PROTOCOL_ERROR, find(h, on(id, H2Frames.RST_STREAM)).errorCode());
            }
            assertResetBudgetSpent(h);
            assertEquals(0, h.backends.size(), "nothing reached a backend");
        }
    }

    /** The codec's own resets count too: DATA on a stream that is closed, each answered with STREAM_CLOSED. */
    @Test
    void theCodecsResetsOfFramesOnClosedStreamsSpendTheClientsResetBudget() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/x"), true));
            h.backend(0).send(ok("x"));
            assertTrue(ended(h, 1));
            for (int i = 0; i <= Http2Connection.MAX_RESETS_PER_WINDOW; i++) {
                send(h, H2Frames.data(1, new byte[] {1}, false));
            }
            assertResetBudgetSpent(h);
        }
    }

    /**
     * The connection's reset budget (rapid reset, and the resets a client provokes) is the client's: streams the
     * proxy resets because their backends failed mid-response are none of its doing, and however many there are,
     * the connection and its other streams go on.
     */
    @Test
    void streamsResetForTheirBackendsFailuresDoNotSpendTheClientsResetBudget() throws Exception {
        try (ForwardingHarness h = harness(1, "\"passive_health\": {\"max_fails\": 0}")) {
            int failures = Http2Connection.MAX_RESETS_PER_WINDOW + 50;
            for (int i = 0; i < failures; i++) {
                int id = 1 + 2 * i;
                send(h, wire.headers(id, request("GET", "/cut"), true));
                Backend b = h.backends.get(h.backends.size() - 1);
                b.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
                b.close();
                Frame rst = find(h, on(id, H2Frames.RST_STREAM));
                assertNotNull(rst, "stream " + id + " is reset: " + received);
                assertEquals(H2Frames.INTERNAL_ERROR, rst.errorCode());
                assertNull(find(h, f -> f.type() == H2Frames.GOAWAY), "after " + (i + 1) + " backend failures");
                received.clear();
            }
            int next = 1 + 2 * failures;
            send(h, wire.headers(next, request("GET", "/next"), true));
            h.backends.get(h.backends.size() - 1).send(ok("next"));
            assertEquals("next", body(h, next), "the connection goes on: " + received);
            assertTrue(h.client.isActive());
        }
    }

    /**
     * The codec forgets a stream it reset, and answers each DATA frame the client had already sent it with RST_STREAM
     * STREAM_CLOSED. When the proxy reset that stream because its backend failed mid-response, those answers are no
     * more the client's doing than the reset: small frames of one upload do not spend its reset budget, as long as
     * they stay within the window the stream had; beyond it they count again.
     */
    @Test
    void dataInFlightToAStreamResetForItsBackendsFailureDoesNotSpendTheClientsResetBudget() throws Exception {
        try (ForwardingHarness h = harness(1, "\"passive_health\": {\"max_fails\": 0}")) {
            send(h, wire.headers(1, request("POST", "/up", "content-length", "1000000"), false),
                    H2Frames.data(1, new byte[1000], false));
            Backend b = h.backend(0);
            b.received();
            b.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
            b.close();
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "stream 1 is reset: " + received);
            assertEquals(H2Frames.INTERNAL_ERROR, rst.errorCode());
            received.clear();
            byte[] small = new byte[100];
            int inFlight = Http2Connection.MAX_RESETS_PER_WINDOW + 100; // 30,000 bytes: within the stream's window
            int sent = 0;
            while (sent < inFlight && h.client.isActive()) {
                send(h, H2Frames.data(1, small, false));
                sent++;
            }
            assertNull(find(h, f -> f.type() == H2Frames.GOAWAY), "DATA sent before the reset reached the client: "
                    + sent + " frames");
            send(h, wire.headers(3, request("GET", "/next"), true));
            h.backend(1).send(ok("next"));
            assertEquals("next", body(h, 3), "the connection goes on");

            int more = 0;
            while (h.client.isActive() && more < 2000) {
                send(h, H2Frames.data(1, small, false));
                more++;
            }
            assertResetBudgetSpent(h);
            assertTrue((inFlight + more) * 100 > 64_535, "free only within the stream's window: " + more);
        }
    }

    @Test
    void aBodyDelimitedByTheCloseThatEndsInAResetIsCutOffNotEnded() throws Exception {
        try (ForwardingHarness h = harness(1, "\"passive_health\": {\"max_fails\": 0}")) {
            send(h, wire.headers(1, request("GET", "/until-close"), true));
            h.backend(0).send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhalf");
            assertEquals("half", body(h, 1));
            h.backend(0).reset();
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "a connection reset is no end of the body (RFC 9112 section 8): " + received);
            assertEquals(H2Frames.INTERNAL_ERROR, rst.errorCode());
            assertFalse(ended(h, 1), "the client must not take the cut body as complete: " + received);
            assertEquals(1, h.stats.abortedResponses.sum());

            send(h, wire.headers(3, request("GET", "/until-close"), true));
            h.backend(1).send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nwhole");
            h.backend(1).close();
            assertEquals("whole", body(h, 3));
            assertTrue(ended(h, 3), "a clean close still ends such a body");
        }
    }

    @Test
    void aClientResetDropsTheExchangeAndItsBackendConnection() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/long"), true));
            Backend b = h.backend(0);
            assertTrue(b.channel().isActive());
            send(h, H2Frames.rst(1, H2Frames.CANCEL));
            assertFalse(b.channel().isActive(), "the backend connection that carried the request is closed");
            assertEquals(1, h.stats.http2ResetsReceived.sum());
        }
    }

    /** The codec's count of request bytes the connection took and has not returned to the client's window. */
    private static int unreturnedBytes(ForwardingHarness h) {
        io.netty.handler.codec.http2.Http2Connection c =
                ((io.netty.handler.codec.http2.Http2FrameCodec) h.client.pipeline().get(Http2Connection.CODEC))
                        .connection();
        return c.local().flowController().unconsumedBytes(c.connectionStream());
    }

    /** A 413 to an upload of a megabyte of which 1,000 bytes arrived: the stream's window is 64,535 after. */
    private List<Frame> answerEarly(ForwardingHarness h) {
        return answerEarly(h, 1_000_000);
    }

    /** A 413 to an upload of {@code length} bytes of which 1,000 arrived. */
    private List<Frame> answerEarly(ForwardingHarness h, int length) {
        send(h, wire.headers(1, request("POST", "/upload", "content-length", Integer.toString(length)), false),
                H2Frames.data(1, new byte[1000], false));
        Backend b = h.backend(0);
        b.received();
        b.send("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
        return read(h);
    }

    @Test
    void aResponseBeforeTheWholeRequestBodyAsksTheClientToStopOnceItsWindowIsSpent() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            answerEarly(h);
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertEquals("413", head.headers().status().toString());
            assertTrue(head.endStream());
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "DATA may be in flight: no reset yet: " + received);

            byte[] piece = new byte[16_000];
            send(h, H2Frames.data(1, piece, false), H2Frames.data(1, piece, false), H2Frames.data(1, piece, false),
                    H2Frames.data(1, piece, false));
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "535 bytes of window left: " + received);
            assertNull(find(h, on(1, H2Frames.WINDOW_UPDATE)), "what is dropped is not returned: " + received);
            assertEquals(64_000, unreturnedBytes(h), "the dropped bytes hold the connection's window for now");
            send(h, H2Frames.data(1, new byte[535], false));
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "the window is spent, nothing can follow: RST_STREAM: " + received);
            assertEquals(H2Frames.NO_ERROR, rst.errorCode(), "RFC 9113 section 8.1");
            assertEquals(0, unreturnedBytes(h), "the stream closed: its bytes are the connection's again");
            assertEquals("", h.backend(0).received(), "nothing of it reached the backend");

            send(h, wire.headers(3, request("GET", "/next"), true));
            h.backend(1).send(ok("next"));
            assertEquals("next", body(h, 3));
            assertTrue(h.client.isActive());
        }
    }

    @Test
    void aClientThatEndsTheBodyItselfAfterAnEarlyResponseIsNotReset() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            answerEarly(h, 6010);
            send(h, H2Frames.data(1, new byte[5000], false), H2Frames.data(1, new byte[10], true));
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "both sides ended: " + received);
            assertEquals(0, unreturnedBytes(h), "the stream closed: its bytes are the connection's again");
        }
    }

    @Test
    void aClientThatKeepsSendingAfterAnEarlyResponseIsNotCutOffWhileItsWindowLasts() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            answerEarly(h);
            long pause = TimeUnit.NANOSECONDS.toMillis(Http2Stream.DISCARD_MAX_NANOS) * 7 / 10;
            for (int i = 0; i < 2; i++) {
                Thread.sleep(pause);
                send(h, H2Frames.data(1, new byte[1000], false));
                h.loop.sweep();
                h.runPending();
            }
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "longer than the limit in all, but never silent that "
                    + "long: DATA may still be on its way: " + received);
            Thread.sleep(pause * 2);
            h.loop.sweep();
            h.runPending();
            assertNotNull(find(h, on(1, H2Frames.RST_STREAM)), "then silent past the limit: " + received);
        }
    }

    @Test
    void aClientToldNoToItsExpectContinueIsResetAtOnce() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("POST", "/upload", "content-length", "1000000", "expect", "100-continue"),
                    false));
            Backend b = h.backend(0);
            assertTrue(b.received().contains("expect: 100-continue\r\n"));
            b.send("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
            Frame head = find(h, on(1, H2Frames.HEADERS));
            assertEquals("401", head.headers().status().toString());
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "it waits for a 100 that will not come, and sends no body: " + received);
            assertEquals(H2Frames.NO_ERROR, rst.errorCode());
        }
    }

    @Test
    void aClientThatSendsNothingMoreAfterAnEarlyResponseIsResetAfterASecond() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            answerEarly(h);
            send(h, H2Frames.data(1, new byte[5000], false));
            h.loop.sweep();
            h.runPending();
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "not yet: " + received);
            Thread.sleep(TimeUnit.NANOSECONDS.toMillis(Http2Stream.DISCARD_MAX_NANOS) + 100);
            h.loop.sweep();
            h.runPending();
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, "reset after the second: " + received);
            assertEquals(H2Frames.NO_ERROR, rst.errorCode());
        }
    }

    /**
     * RFC 9113 section 8.1: a response may begin before the request is complete, and the client may stop sending. A
     * 408 would reset the stream and cut the response off: it goes on without the rest of the body, and its backend
     * connection is not reused.
     */
    @Test
    void aClientThatStopsSendingItsBodyAfterAnEarlyResponseGetsAllOfIt() throws Exception {
        try (ForwardingHarness h = harness(1, "\"timeouts\": {\"client_idle_ms\": 30}")) {
            send(h, wire.headers(1, request("PUT", "/up", "content-length", "1000"), false),
                    H2Frames.data(1, bytes("12345"), false));
            Backend b = h.backend(0);
            b.received();
            b.send("HTTP/1.1 413 Content Too Large\r\nContent-Length: 10\r\n\r\nhello");
            assertEquals("hello", body(h, 1));
            sweepAfter(h, 60); // the body stalls past client_idle_ms
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "no 408, no reset cuts the response off: " + received);
            assertEquals(0, h.stats.clientTimeouts.sum());
            assertTrue(b.channel().isActive(), "the response goes on");
            b.send("world");
            assertEquals("helloworld", body(h, 1));
            assertTrue(ended(h, 1), "the whole response: " + received);
            assertFalse(b.channel().isActive(), "a backend connection that never got the whole request is not reused");
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "DATA may still be in flight: " + received);
            send(h, H2Frames.data(1, new byte[995], true));
            assertNull(find(h, on(1, H2Frames.RST_STREAM)), "a client that ends its body after all: " + received);
            assertEquals(0, unreturnedBytes(h), "the stream closed: its bytes are the connection's again");
            assertEquals("", b.received(), "nothing more reached the backend");
        }
    }

    @Test
    void aMalformedRequestIsResetAndNeverReachesABackend() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/", "connection", "close"), true));
            Frame rst = find(h, on(1, H2Frames.RST_STREAM));
            assertNotNull(rst, received.toString());
            assertEquals(H2Frames.PROTOCOL_ERROR, rst.errorCode());
            assertEquals(0, h.backends.size());
            send(h, wire.headers(3, request("GET", "/", "host", "other"), true));
            assertEquals(H2Frames.PROTOCOL_ERROR, find(h, on(3, H2Frames.RST_STREAM)).errorCode(),
                    "host must agree with :authority");
            assertEquals(0, h.backends.size());
            assertEquals(2, h.stats.http2ResetsSent.sum(), "one reset by Netty's checks, one by the proxy's");
        }
    }

    @Test
    void aRequestTheHttp11RulesRefuseIsAnswered() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/a b"), true));
            assertEquals("400", find(h, on(1, H2Frames.HEADERS)).headers().status().toString());
            Http2Headers badHost = request("GET", "/");
            badHost.authority("bad host");
            send(h, wire.headers(3, badHost, true));
            assertEquals("400", find(h, on(3, H2Frames.HEADERS)).headers().status().toString());
            send(h, wire.headers(5, request("GET", "/" + "p".repeat(9000)), true));
            assertEquals("414", find(h, on(5, H2Frames.HEADERS)).headers().status().toString(),
                    "max_request_line holds for :method and :path");
            String[] many = new String[2 * 101];
            for (int i = 0; i < 101; i++) {
                many[2 * i] = "x-f" + i;
                many[2 * i + 1] = "v";
            }
            send(h, wire.headers(7, request("GET", "/", many), true));
            assertEquals("431", find(h, on(7, H2Frames.HEADERS)).headers().status().toString(),
                    "max_header_count holds too");
            assertEquals(0, h.backends.size());
        }
    }

    // ---------------------------------------------------------------- deadlines

    /**
     * A connection that is HTTP/2 before its client sent a byte (ALPN chose h2 in the TLS handshake) has
     * client_header_ms for its connection preface, as one on the plaintext listener has for its first bytes and one
     * of HTTP/1.1 over TLS for its request head; client_idle_ms is for a connection that was set up.
     */
    @Test
    void aConnectionWithoutItsPrefaceIsClosedAfterClientHeaderMs() throws Exception {
        String timeouts = "\"timeouts\": {\"client_header_ms\": 30, \"client_idle_ms\": 60000}";
        try (ForwardingHarness h = new ForwardingHarness(config(1, timeouts), Http2Connection::install)) {
            send(h, Arrays.copyOf(wire.preface(), 24)); // the magic, not its SETTINGS
            sweepAfter(h, 60);
            assertFalse(h.client.isActive(), "no preface within client_header_ms");
        }
        try (ForwardingHarness h = harness(1, timeouts)) {
            sweepAfter(h, 60);
            assertTrue(h.client.isActive(), "a connection whose preface arrived is idle only after client_idle_ms");
        }
    }

    /**
     * A header block has client_header_ms to arrive whole, from the first byte of its HEADERS frame, as an HTTP/1.1
     * request head has: a client that leaves one open (its HEADERS without END_HEADERS, or the frame itself cut
     * short) held the connection for client_idle_ms. RFC 9113 section 6.10 lets no other frame in until the block
     * ends, so the whole connection waits on it.
     */
    @Test
    void aHeaderBlockLeftOpenClosesTheConnectionAfterClientHeaderMs() throws Exception {
        String timeouts = "\"timeouts\": {\"client_header_ms\": 40, \"client_idle_ms\": 60000}";
        byte[] block = wire.block(request("GET", "/"));
        byte[] firstHalf = Arrays.copyOf(block, block.length / 2);
        byte[] headersWithoutEnd = H2Frames.frame(H2Frames.HEADERS, H2Frames.END_STREAM, 1, firstHalf);
        try (ForwardingHarness h = harness(1, timeouts)) {
            send(h, headersWithoutEnd);
            sweepAfter(h, 80);
            assertFalse(h.client.isActive(), "a HEADERS frame whose block never ends");
            assertEquals(0, h.backends.size());
            assertEquals(1, h.stats.clientTimeouts.sum());
        }
        try (ForwardingHarness h = harness(1, timeouts)) {
            byte[] frame = wire.headers(1, request("GET", "/"), true);
            send(h, Arrays.copyOf(frame, 12)); // the frame header and three bytes of its block
            sweepAfter(h, 80);
            assertFalse(h.client.isActive(), "a HEADERS frame cut short");
        }
        try (ForwardingHarness h = harness(1, timeouts)) {
            send(h, headersWithoutEnd);
            sweepAfter(h, 10);
            send(h, H2Frames.continuation(1, Arrays.copyOfRange(block, firstHalf.length, block.length), true));
            assertEquals(1, h.backends.size(), "the block ended in time");
            sweepAfter(h, 80);
            assertTrue(h.client.isActive(), "a stream whose head arrived whole is the stream's deadlines' business");
            h.backend(0).send(ok("done"));
            assertEquals("done", body(h, 1));
            sweepAfter(h, 80);
            assertTrue(h.client.isActive(), "then the connection is idle, for client_idle_ms");
            assertEquals(0, h.stats.clientTimeouts.sum());
        }
    }

    // ---------------------------------------------------------------- drain

    @Test
    void aDrainAnnouncesTheEndWithTwoGoAwaysAndLetsTheStreamInFlightFinish() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            send(h, wire.headers(1, request("GET", "/long"), true));
            h.loop.drain();
            h.runPending();
            Frame first = find(h, f -> f.type() == H2Frames.GOAWAY);
            assertNotNull(first, received.toString());
            assertEquals(Integer.MAX_VALUE, first.lastStreamId(), "first GOAWAY: no new streams, those sent still count");
            assertEquals(H2Frames.NO_ERROR, first.errorCode());
            Frame ping = find(h, f -> f.type() == H2Frames.PING);
            assertNotNull(ping);
            received.clear();
            send(h, wire.headers(3, request("GET", "/raced"), true));
            assertEquals(2, h.backends.size(), "a stream sent before the client saw the GOAWAY is served");
            send(h, H2Frames.frame(H2Frames.PING, H2Frames.ACK, 0, ping.payload()));
            Frame last = find(h, f -> f.type() == H2Frames.GOAWAY);
            assertNotNull(last, "second GOAWAY after the PING round trip: " + received);
            assertEquals(3, last.lastStreamId());
            assertTrue(h.client.isActive(), "streams in flight keep the connection open");
            h.backend(0).send(ok("one"));
            h.backend(1).send(ok("three"));
            assertEquals("one", body(h, 1));
            assertEquals("three", body(h, 3));
            h.runPending();
            assertFalse(h.client.isActive(), "closed once its streams are done");
            assertEquals(0, h.stats.connectionsCurrent.get());
        }
    }

    /**
     * A client that floods the connection once the drain's GOAWAY went out gets its GOAWAY ENHANCE_YOUR_CALM and is
     * counted in http2_connection_errors, as before the drain: the codec sends no GOAWAY after one of its own that
     * named the same or a lower last stream, so the close went unsent and uncounted, with its line written.
     */
    @Test
    void aFloodAfterTheDrainsLastGoAwayIsToldToTheClientAndCounted() throws Exception {
        try (ForwardingHarness h = harness(1, "")) {
            drainWithAStreamInFlight(h);
            assertEquals(1, pingFlood(h).lastStreamId(), "the last stream id does not grow");
            assertEquals(1, h.stats.http2ConnectionErrors.sum(), "http2_connection_errors");
            h.runPending();
            assertFalse(h.client.isActive(), "the flood closes the connection");
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }
}
