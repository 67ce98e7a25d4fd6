package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Demo backends on real sockets (port 0), driven by java.net.http and by hand-written HTTP. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DemoBackendIntegrationTest {
    private static final HttpClient CLIENT = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();

    private final List<DemoBackend> started = new ArrayList<>();

    @AfterEach
    void closeBackends() {
        started.forEach(DemoBackend::close);
    }

    private DemoBackend start(int id) throws InterruptedException {
        DemoBackend backend = DemoBackend.start("127.0.0.1", 0, id);
        started.add(backend);
        return backend;
    }

    private static HttpResponse<String> get(DemoBackend backend, String path) throws IOException, InterruptedException {
        return CLIENT.send(HttpRequest.newBuilder(uri(backend, path)).timeout(Duration.ofSeconds(20)).build(),
                BodyHandlers.ofString());
    }

    private static URI uri(DemoBackend backend, String path) {
        return URI.create("http://127.0.0.1:" + backend.port() + path);
    }

    // ---- identity and simple endpoints

    @Test
    void rootSaysWhichWorkerAnswered() throws Exception {
        DemoBackend one = start(1);
        DemoBackend two = start(2);

        HttpResponse<String> first = get(one, "/");
        HttpResponse<String> second = get(two, "/");

        assertEquals(200, first.statusCode());
        assertEquals("Hello, I am ID 1\n", first.body());
        assertEquals("1", first.headers().firstValue("X-Backend-Id").orElse(null));
        assertEquals("text/plain; charset=utf-8", first.headers().firstValue("Content-Type").orElse(null));
        assertEquals("Hello, I am ID 2\n", second.body());
        assertEquals("2", second.headers().firstValue("X-Backend-Id").orElse(null));
        assertEquals(1, one.id());
        assertTrue(one.isListening());
    }

    @Test
    void everyResponseCarriesTheBackendId() throws Exception {
        DemoBackend backend = start(7);
        for (String path : List.of("/", "/health", "/nowhere", "/status?code=503", "/status?code=204",
                "/status?code=304", "/echo", "/slow?ms=1", "/slow?ms=oops", "/bytes?n=3", "/bytes?n=3&chunked=1")) {
            HttpResponse<String> response = get(backend, path);
            assertEquals("7", response.headers().firstValue("X-Backend-Id").orElse(null), path);
        }
    }

    @Test
    void healthSaysOk() throws Exception {
        HttpResponse<String> response = get(start(1), "/health");
        assertEquals(200, response.statusCode());
        assertEquals("ok\n", response.body());
    }

    @Test
    void unknownPathIsNotFound() throws Exception {
        assertEquals(404, get(start(1), "/no/such/thing").statusCode());
    }

    @Test
    void absoluteFormTargetIsRouted() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET http://example.test/health HTTP/1.1\r\nHost: example.test\r\n\r\n");
            assertEquals("ok\n", connection.read().text());
        }
    }

    @Test
    void statusAnswersWithTheAskedCodeAndNoBody() throws Exception {
        DemoBackend backend = start(1);
        HttpResponse<String> unavailable = get(backend, "/status?code=503");
        assertEquals(503, unavailable.statusCode());
        assertEquals("", unavailable.body());
        assertEquals("0", unavailable.headers().firstValue("Content-Length").orElse(null));

        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /status?code=304 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /status?code=299 HTTP/1.1\r\nHost: x\r\n\r\n");
            RawConnection.Response noContent = connection.read();
            assertEquals(204, noContent.status());
            assertNull(noContent.header("Content-Length"), "a 204 must not carry Content-Length");
            assertEquals(304, connection.read().status());
            assertEquals(299, connection.read().status(), "the connection survives both");
        }
    }

    @Test
    void badQueryParametersAreBadRequests() throws Exception {
        DemoBackend backend = start(1);
        for (String path : List.of("/status?code=99", "/status?code=600", "/status", "/slow?ms=-1", "/slow?ms=abc",
                "/bytes", "/bytes?n=-5", "/bytes?n=1&chunked=maybe")) {
            assertEquals(400, get(backend, path).statusCode(), path);
        }
    }

    @Test
    void requestCountCountsEveryRequest() throws Exception {
        DemoBackend backend = start(1);
        assertEquals(0, backend.requestCount());
        get(backend, "/");
        get(backend, "/nowhere");
        get(backend, "/status?code=500");
        assertEquals(3, backend.requestCount());
    }

    @Test
    void headAnswersWithHeadersOnly() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /bytes?n=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            RawConnection.Response root = connection.read(true);
            assertEquals("17", root.header("Content-Length"));
            RawConnection.Response bytes = connection.read(true);
            assertEquals("1000", bytes.header("Content-Length"));
            assertEquals(patternSha256(1000), bytes.header("X-Body-Sha256"));
            assertEquals("ok\n", connection.read().text(), "no stray body bytes before the next response");
        }
    }

    // ---- /echo

    @Test
    void echoRepeatsRequestLineAndHeadersAsReceived() throws Exception {
        DemoBackend backend = start(3);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("PUT /echo?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Mixed-Case: Some Value\r\n"
                    + "x-lower: v1\r\nx-lower: v2\r\nContent-Length: 5\r\n\r\nhello");
            RawConnection.Response response = connection.read();

            String sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
            assertEquals(200, response.status());
            assertEquals("PUT /echo?x=1 HTTP/1.1\n"
                    + "Host: example.test\n"
                    + "X-Mixed-Case: Some Value\n"
                    + "x-lower: v1\n"
                    + "x-lower: v2\n"
                    + "Content-Length: 5\n"
                    + "\n"
                    + "body-sha256: " + sha + "\n"
                    + "body-length: 5\n", response.text());
            assertEquals(sha, response.header("X-Body-Sha256"));
            assertEquals("5", response.header("X-Body-Length"));
            assertEquals("3", response.header("X-Backend-Id"));
        }
    }

    @Test
    void echoPrintsTrailers() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
                    + "3\r\nhel\r\n2\r\nlo\r\n0\r\nX-Sum: abc\r\nX-Other: 2\r\n\r\n");
            RawConnection.Response response = connection.read();
            assertTrue(response.text().endsWith("body-length: 5\ntrailer: X-Sum: abc\ntrailer: X-Other: 2\n"),
                    response.text());
            assertEquals("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
                    response.header("X-Body-Sha256"));
        }
    }

    @Test
    void echoDigestsALargeStreamedUpload() throws Exception {
        DemoBackend backend = start(1);
        long size = 100L << 20; // 100 MiB, sent chunked: the client does not know the length
        MessageDigest expected = MessageDigest.getInstance("SHA-256");
        InputStream upload = new RandomStream(size, 42, expected);

        HttpResponse<String> response = CLIENT.send(
                HttpRequest.newBuilder(uri(backend, "/echo")).timeout(Duration.ofSeconds(50))
                        .POST(BodyPublishers.ofInputStream(() -> upload)).build(),
                BodyHandlers.ofString());

        String sha = HexFormat.of().formatHex(expected.digest());
        assertEquals(200, response.statusCode());
        assertEquals(sha, response.headers().firstValue("X-Body-Sha256").orElse(null));
        assertEquals(Long.toString(size), response.headers().firstValue("X-Body-Length").orElse(null));
        assertTrue(response.body().contains("\nbody-sha256: " + sha + "\nbody-length: " + size + "\n"), response.body());
        assertTrue(response.body().toLowerCase(Locale.ROOT).contains("\ntransfer-encoding: chunked\n"),
                response.body());
    }

    @Test
    void expectContinueGetsAnInterimResponseBeforeTheBodyIsSent() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
            RawConnection.Response interim = connection.read();
            assertEquals(100, interim.status());
            connection.send("abc");
            RawConnection.Response response = connection.read();
            assertEquals(200, response.status());
            assertEquals("3", response.header("X-Body-Length"));
        }
    }

    @Test
    void unsupportedExpectationIsRefusedAndClosed() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 3\r\n\r\nabc");
            assertEquals(417, connection.read().status());
            assertTrue(connection.closedByPeer());
        }
    }

    // ---- /slow

    @Test
    void slowWaitsWithoutBlockingTheSharedEventLoop() throws Exception {
        DemoBackend slow = start(1);
        DemoBackend fast = start(2);
        long begin = System.nanoTime();
        CompletableFuture<HttpResponse<String>> pending = CLIENT.sendAsync(
                HttpRequest.newBuilder(uri(slow, "/slow?ms=3000")).build(), BodyHandlers.ofString());

        await(() -> slow.requestCount() == 1, "the slow request arrives");
        // From here on the slow request's wait has begun: had it held the shared event loop, the other worker
        // could not answer before that wait was over, 3 s from now at the earliest.
        long arrived = System.nanoTime();
        HttpResponse<String> meanwhile = get(fast, "/");
        long fastDone = System.nanoTime();
        assertFalse(pending.isDone(), "/slow answered before the other worker");
        HttpResponse<String> late = pending.get(20, TimeUnit.SECONDS);
        long slowDone = System.nanoTime();

        assertEquals(200, meanwhile.statusCode());
        assertTrue(fastDone - arrived < TimeUnit.MILLISECONDS.toNanos(2_000), "the other worker was held up "
                + TimeUnit.NANOSECONDS.toMillis(fastDone - arrived) + " ms");
        assertEquals(200, late.statusCode());
        assertEquals("waited 3000 ms\n", late.body());
        assertTrue(slowDone - begin >= TimeUnit.MILLISECONDS.toNanos(3_000), "answered before 3000 ms");
    }

    // ---- /bytes

    @Test
    void bytesStreamsThePatternWithContentLength() throws Exception {
        DemoBackend backend = start(1);
        long n = (5L << 20) + 123;
        HttpResponse<byte[]> response = CLIENT.send(HttpRequest.newBuilder(uri(backend, "/bytes?n=" + n)).build(),
                BodyHandlers.ofByteArray());

        byte[] body = response.body();
        assertEquals(200, response.statusCode());
        assertEquals(Long.toString(n), response.headers().firstValue("Content-Length").orElse(null));
        assertEquals(n, body.length);
        for (int i = 0; i < body.length; i++) {
            if (body[i] != (byte) ((i * 31 + 7) & 0xff)) {
                fail("byte " + i + " is " + body[i]);
            }
        }
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body));
        assertEquals(sha, response.headers().firstValue("X-Body-Sha256").orElse(null));
    }

    @Test
    void bytesChunkedOnRequest() throws Exception {
        DemoBackend backend = start(1);
        long n = (3L << 20) + 7;
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET /bytes?n=" + n + "&chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /bytes?n=0&chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n");
            RawConnection.Response response = connection.read();
            assertEquals("chunked", response.header("Transfer-Encoding"));
            assertNull(response.header("Content-Length"));
            assertEquals(n, response.bodyLength());
            assertEquals(patternSha256(n), response.bodySha256());
            assertEquals(patternSha256(n), response.header("X-Body-Sha256"));

            RawConnection.Response empty = connection.read();
            assertEquals(0, empty.bodyLength());
            assertEquals(patternSha256(0), empty.header("X-Body-Sha256"));
        }
    }

    @Test
    void bytesForAnHttp10ClientUseContentLengthAndClose() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET /bytes?n=70000&chunked=1 HTTP/1.0\r\n\r\n");
            RawConnection.Response response = connection.read();
            assertEquals("70000", response.header("Content-Length"));
            assertEquals(patternSha256(70_000), response.bodySha256());
            assertTrue(connection.closedByPeer());
        }
    }

    @Test
    void bytesWritesOnlyWhileTheClientKeepsUp() throws Exception {
        DemoBackend backend = start(1);
        long n = 64L << 20;
        try (RawConnection connection = new RawConnection(backend.port(), 64 * 1024)) {
            connection.send("GET /bytes?n=" + n + " HTTP/1.1\r\nHost: x\r\n\r\n");
            // Not reading: once the kernel buffers are full the rest waits in the server's
            // outbound buffer, which must stay near one high-water mark, not tens of MiB.
            await(() -> backend.pendingWriteBytes() > 0, "the socket fills up");
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
            while (System.nanoTime() < deadline) {
                long pending = backend.pendingWriteBytes();
                assertTrue(pending <= 256 * 1024, "server holds " + pending + " unsent bytes");
                Thread.sleep(20);
            }
            RawConnection.Response response = connection.read();
            assertEquals(n, response.bodyLength());
            assertEquals(patternSha256(n), response.bodySha256());
            assertEquals(patternSha256(n), response.header("X-Body-Sha256"));
        }
    }

    // ---- connection handling

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        DemoBackend backend = start(4);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                    + "GET /bytes?n=10 HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            assertEquals("waited 200 ms\n", connection.read().text());
            assertEquals("Hello, I am ID 4\n", connection.read().text());
            assertEquals("2", connection.read().header("X-Body-Length"));
            assertEquals(10, connection.read().bodyLength());
            assertEquals("ok\n", connection.read().text());
        }
        assertEquals(5, backend.requestCount());
    }

    @Test
    void closeAnswersThenClosesTheConnection() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
            RawConnection.Response response = connection.read();
            assertEquals(200, response.status());
            assertEquals("close", response.header("Connection"));
            assertTrue(connection.closedByPeer(), "the pipelined request after /close must not be answered");
        }
        assertTrue(backend.isListening());
    }

    @Test
    void http10WithoutKeepAliveIsClosedAfterTheResponse() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET / HTTP/1.0\r\n\r\n");
            assertEquals("Hello, I am ID 1\n", connection.read().text());
            assertTrue(connection.closedByPeer());
        }
    }

    @Test
    void http10KeepAliveIsConfirmedAndKept() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            RawConnection.Response first = connection.read();
            assertEquals("keep-alive", first.header("Connection"));
            connection.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            assertEquals("ok\n", connection.read().text());
        }
    }

    @Test
    void malformedRequestIsBadRequestAndClosed() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
            RawConnection.Response response = connection.read();
            assertEquals(400, response.status());
            assertEquals("1", response.header("X-Backend-Id"));
            assertTrue(connection.closedByPeer());
        }
    }

    // ---- crash and close

    @Test
    void crashStopsOnlyThatWorker() throws Exception {
        DemoBackend one = start(1);
        DemoBackend two = start(2);
        DemoBackend three = start(3);
        try (RawConnection idle = new RawConnection(two.port()); RawConnection crasher = new RawConnection(two.port())) {
            idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            assertEquals("ok\n", idle.read().text());

            crasher.send("GET /crash HTTP/1.1\r\nHost: x\r\n\r\n");
            RawConnection.Response response = crasher.read();
            assertEquals(200, response.status());
            assertEquals("crashing\n", response.text());
            assertEquals("2", response.header("X-Backend-Id"));

            assertTrue(crasher.closedByPeer(), "the connection that asked is dropped");
            assertTrue(idle.closedByPeer(), "every other connection of that worker is dropped");
        }
        assertFalse(two.isListening());
        assertRefused(two.port());
        assertEquals("Hello, I am ID 1\n", get(one, "/").body());
        assertEquals("Hello, I am ID 3\n", get(three, "/").body());
        assertTrue(one.isListening() && three.isListening());
    }

    @Test
    void crashMethodStopsListeningAndDropsConnections() throws Exception {
        DemoBackend backend = start(1);
        try (RawConnection connection = new RawConnection(backend.port())) {
            connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            connection.read();
            backend.crash();
            assertFalse(backend.isListening());
            assertRefused(backend.port());
            assertTrue(connection.closedByPeer());
        }
    }

    @Test
    void closeReleasesThePort() throws Exception {
        DemoBackend first = start(1);
        int port = first.port();
        first.close();
        first.close();
        assertFalse(first.isListening());

        DemoBackend again = DemoBackend.start("127.0.0.1", port, 9);
        started.add(again);
        assertEquals(port, again.port());
        assertEquals("Hello, I am ID 9\n", get(again, "/").body());
    }

    @Test
    void startOnABusyPortFailsWithTheAddress() throws Exception {
        DemoBackend running = start(1);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> DemoBackend.start("127.0.0.1", running.port(), 2));
        assertTrue(e.getMessage().contains("127.0.0.1:" + running.port()), e.getMessage());
    }

    @Test
    void allWorkersShareOneDaemonEventLoopThread() throws Exception {
        for (int id = 1; id <= 20; id++) {
            assertEquals("Hello, I am ID " + id + "\n", get(start(id), "/").body());
        }
        List<Thread> loops = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("grapevine-backend")).toList();
        assertEquals(1, loops.size(), loops.toString());
        assertTrue(loops.get(0).isDaemon());
    }

    // ---- helpers

    private static String patternSha256(long n) throws Exception {
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        byte[] piece = new byte[64 * 1024];
        for (int i = 0; i < piece.length; i++) {
            piece[i] = (byte) ((i * 31 + 7) & 0xff);
        }
        for (long left = n; left > 0; left -= piece.length) {
            sha256.update(piece, 0, (int) Math.min(left, piece.length));
        }
        return HexFormat.of().formatHex(sha256.digest());
    }

    private static void assertRefused(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 2_000);
            fail("port " + port + " still accepts connections");
        } catch (ConnectException expected) {
            // refused
        } catch (IOException e) {
            fail("expected connection refused on " + port + ", got " + e);
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting until " + what);
            }
            Thread.sleep(5);
        }
    }

    /** {@code size} pseudo-random bytes, digested as they are read. */
    private static final class RandomStream extends InputStream {
        private final Random random;
        private final MessageDigest digest;
        private long left;

        RandomStream(long size, long seed, MessageDigest digest) {
            this.left = size;
            this.random = new Random(seed);
            this.digest = digest;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (left == 0) {
                return -1;
            }
            int n = (int) Math.min(len, left);
            byte[] chunk = new byte[n];
            random.nextBytes(chunk);
            System.arraycopy(chunk, 0, b, off, n);
            digest.update(chunk);
            left -= n;
            return n;
        }
    }
}
