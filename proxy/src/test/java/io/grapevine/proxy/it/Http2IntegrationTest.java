package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.testing.H2Frames.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.testing.H2Client;
import io.grapevine.proxy.testing.H2Client.Response;
import io.grapevine.proxy.testing.H2Frames;
import io.grapevine.proxy.testing.H2Frames.Frame;
import io.grapevine.proxy.testing.MemorySampler;
import io.grapevine.proxy.testing.Tools;
import io.grapevine.proxy.testing.Tools.Run;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/2 from clients on real sockets: curl with prior knowledge in cleartext, HTTP/1.1 on the same port,
 * the forwarded head, bodies streamed both ways (an upload to a backend that reads nothing is held back by
 * flow control, with memory bounded; uploads answered before their body arrived leave the connection
 * standing), many streams at once on one connection, and the graceful drain.
 */
class Http2IntegrationTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @TempDir
    Path dir;

    @BeforeAll
    static void curl() throws Exception {
        Tools.requireCurlWithHttp2();
    }

    private static String url(ProxyServer proxy, String path) {
        return "http://127.0.0.1:" + proxy.listenAddress().getPort() + path;
    }

    @Test
    void curlWithPriorKnowledgeSpeaksHttp2ToTheProxy() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        Run run = Tools.ok(Tools.run(30, "curl", "-sS", "--http2-prior-knowledge", "-w", "\n%{http_version} %{response_code}",
                url(proxy, "/")));
        assertEquals("Hello, I am ID 1\n\n2 200", run.out());
        assertEquals(1, proxy.stats().http2Connections.sum());
        assertEquals(1, proxy.stats().http2Streams.sum());
    }

    @Test
    void http11StillWorksOnTheSamePort() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient client = fx.client(proxy);
        assertEquals(200, client.send(get("/")).read().status());
        Run run = Tools.ok(Tools.run(30, "curl", "-sS", "--http1.1", "-w", "\n%{http_version}", url(proxy, "/")));
        assertTrue(run.out().endsWith("\n1.1"), run.out());
        assertEquals(0, proxy.stats().http2Connections.sum());
    }

    @Test
    void theBackendGetsTheSameHeadAnHttp11ClientWouldCause() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        Run run = Tools.ok(Tools.run(30, "curl", "-sS", "--http2-prior-knowledge", "-H", "Cookie: a=1",
                "-H", "X-Forwarded-Proto: https", "-H", "X-Request-ID: r-1", "--data-binary", "hello",
                url(proxy, "/echo?x=1")));
        String echo = run.out(); // the demo backend echoes each line of the head it received, ending with LF
        assertTrue(echo.startsWith("POST /echo?x=1 HTTP/1.1\nhost: 127.0.0.1:" + proxy.listenAddress().getPort()
                + "\n"), echo);
        assertTrue(echo.contains("\ncookie: a=1\n"), echo);
        assertTrue(echo.contains("\nX-Forwarded-For: 127.0.0.1\nX-Forwarded-Proto: http\n"),
                "the client's address, and the proxy's own idea of the scheme: " + echo);
        assertTrue(echo.contains("\nx-request-id: r-1\n"), echo);
        assertTrue(echo.contains("\nContent-Length: 5\n"), echo);
        assertTrue(echo.contains("body-length: 5\n"), echo);
    }

    @Test
    void bodiesStreamBothWaysIntact() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        MemorySampler memory = new MemorySampler();
        Path upload = dir.resolve("upload");
        String sha = writeFile(upload, 64L << 20);
        // With a length, and without one (curl -T - streams stdin: chunked towards the backend).
        Run sized = Tools.ok(Tools.run(60, "curl", "-sS", "--http2-prior-knowledge", "--data-binary", "@" + upload,
                url(proxy, "/echo")));
        assertTrue(sized.out().contains("body-sha256: " + sha + "\nbody-length: " + (64L << 20)), sized.out());
        Run streamed = Tools.ok(Tools.run(60, "sh", "-c", "cat " + upload + " | curl -sS --http2-prior-knowledge -T - "
                + url(proxy, "/echo")));
        assertTrue(streamed.out().contains("Transfer-Encoding: chunked"), streamed.out());
        assertTrue(streamed.out().contains("body-sha256: " + sha), streamed.out());
        Path download = dir.resolve("download");
        Run got = Tools.ok(Tools.run(60, "curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", download.toString(),
                url(proxy, "/bytes?n=" + (64L << 20) + "&chunked=1")));
        String headers = got.out();
        assertTrue(headers.startsWith("HTTP/2 200"), headers);
        assertTrue(headers.contains("x-body-sha256: " + sha256(download)), headers);
        assertEquals(64L << 20, Files.size(download));
        long growth = memory.stop();
        assertTrue(growth < (32L << 20), "direct memory grew by " + (growth >> 20) + " MiB");
    }

    @Test
    void anUploadToABackendThatReadsNothingIsHeldBackByFlowControl() throws Exception {
        try (StalledBackend backend = new StalledBackend()) {
            ProxyServer proxy = fx.proxy("", backend.port());
            long size = 256L << 20;
            Path upload = dir.resolve("upload");
            String sha = writeFile(upload, size);
            MemorySampler memory = new MemorySampler();
            long before = proxy.stats().bytesIn.sum();
            Process curl = new ProcessBuilder("curl", "-sS", "--http2-prior-knowledge", "--data-binary", "@" + upload,
                    url(proxy, "/up")).redirectErrorStream(true).start();
            try {
                assertTrue(backend.headArrived.await(10, TimeUnit.SECONDS), "the request head reached the backend");
                long accepted = settled(() -> proxy.stats().bytesIn.sum()) - before;
                assertTrue(accepted < (16L << 20), "the proxy took " + (accepted >> 20)
                        + " MiB from the client while the backend read nothing");
                backend.release.countDown();
                assertTrue(curl.waitFor(60, TimeUnit.SECONDS), "upload finished");
                String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertEquals(0, curl.exitValue(), out);
                assertEquals(sha + " " + size, backend.result.get(), "the backend got the whole body, intact");
            } finally {
                curl.destroyForcibly();
            }
            long growth = memory.stop();
            assertTrue(growth < (32L << 20), "direct memory grew by " + (growth >> 20) + " MiB for a 256 MiB upload");
        }
    }

    @Test
    void uploadsAnsweredBeforeTheirBodyArrivedLeaveTheConnectionStanding() throws Exception {
        Tools.require("h2load", "nghttp2-client");
        try (EarlyAnsweringBackend backend = new EarlyAnsweringBackend()) {
            ProxyServer proxy = fx.proxy("", backend.port());
            Path upload = dir.resolve("upload");
            writeFile(upload, 1L << 20);
            // One connection, one stream at a time: each upload is answered 413 while most of it is still to come.
            // Were every DATA frame in flight behind the proxy's RST_STREAM answered with a reset of its own,
            // the connection's reset budget would end it within a few dozen uploads.
            Run run = Tools.ok(Tools.run(120, "h2load", "-n", "300", "-c", "1", "-m", "1", "-d", upload.toString(),
                    url(proxy, "/upload")));
            String out = run.out();
            // h2load counts a 4xx as "failed"; "errored" is a stream that got no response.
            assertTrue(out.contains("requests: 300 total, 300 started, 300 done, 0 succeeded, 300 failed, 0 errored, "
                    + "0 timeout"), out);
            assertTrue(out.contains("status codes: 0 2xx, 0 3xx, 300 4xx, 0 5xx"), out);
            assertEquals(1, proxy.stats().http2Connections.sum(), "one connection carried them all");
            assertEquals(0, proxy.stats().http2ConnectionErrors.sum());
            assertEquals(0, proxy.stats().http2ResetsSent.sum(), "no reset but NO_ERROR ones");
        }
    }

    @Test
    void aBodyDelimitedByTheCloseThatAResetCutsShortIsNotTakenAsComplete() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread backend = new Thread(() -> {
                try (Socket s = server.accept()) {
                    if (readHead(s.getInputStream()) == null) {
                        return;
                    }
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhalf"
                            .getBytes(StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                    Thread.sleep(200);
                    s.setSoLinger(true, 0); // the close sends RST: the backend crashed or gave up mid-body
                } catch (Exception e) {
                    // the test fails on what the client saw
                }
            }, "resetting-backend");
            backend.setDaemon(true);
            backend.start();
            ProxyServer proxy = fx.proxy("\"passive_health\": {\"max_fails\": 0}", server.getLocalPort());
            Run run = Tools.run(30, "curl", "-sS", "--http2-prior-knowledge", url(proxy, "/"));
            assertTrue(run.exitCode() != 0, "curl must see the stream reset, not a complete body: exit "
                    + run.exitCode() + ", " + run.out() + run.err());
            assertEquals(1, proxy.stats().abortedResponses.sum());
        }
    }

    @Test
    void manyStreamsRunAtOnceOnOneConnection() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        try (H2Client client = fx.track(H2Client.connect(proxy.listenAddress()))) {
            long start = System.nanoTime();
            int[] ids = new int[20];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = client.newStream();
                client.send(client.frames().headers(ids[i], request("GET", "/slow?ms=500"), true));
            }
            for (int id : ids) {
                Response r = client.await(id, WAIT);
                assertEquals(200, r.status(), r.toString());
                assertEquals("waited 500 ms\n", r.text());
            }
            long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(elapsedMs < 5000, "20 streams of 500 ms took " + elapsedMs + " ms: they did not run at once");
        }
    }

    @Test
    void aDrainSendsGoAwayAndFinishesTheStreamInFlight() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("", backend.port());
        H2Client client = fx.track(H2Client.connect(proxy.listenAddress()));
        int id = slowStreamInFlight(client, proxy, backend);
        Thread drain = new Thread(() -> proxy.drainAndStop(10_000), "drain");
        drain.start();
        Response r = client.await(id, WAIT);
        assertEquals(200, r.status(), "the stream in flight finishes: " + r);
        Frame first = client.seen().stream().filter(f -> f.type() == H2Frames.GOAWAY).findFirst().orElse(null);
        assertNotNull(first, "GOAWAY: " + client.seen());
        assertEquals(H2Frames.NO_ERROR, first.errorCode());
        assertTrue(client.awaitClose(WAIT), "the connection closes once its streams are done");
        Frame last = client.seen().stream().filter(f -> f.type() == H2Frames.GOAWAY).reduce((a, b) -> b).orElseThrow();
        assertEquals(id, last.lastStreamId(), "the last GOAWAY names the last stream taken");
        drain.join(15_000);
        assertEquals(0, proxy.stats().connectionsCurrent.get());
    }

    /**
     * When the proxy stops being ready ({@code /ready} 503, the start of a drain, {@code shutdown_delay_ms} before the
     * listener closes), an HTTP/2 connection gets a GOAWAY at once, finishes its stream in flight and closes, so its
     * client reconnects through whatever routes it by then; a connection opened during the delay is served, then
     * gets its GOAWAY too.
     */
    @Test
    void notReadyAnHttp2ConnectionGetsGoAwayAtOnceAndFinishesItsStream() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("\"timeouts\": {\"shutdown_delay_ms\": 30000}", backend.port());
        H2Client client = fx.track(H2Client.connect(proxy.listenAddress()));
        int id = slowStreamInFlight(client, proxy, backend);
        long notReady = System.nanoTime();
        proxy.stopBeingReady();
        // The GOAWAY comes at once, before the response of the slow stream (1 s): reading up to it reads none of that.
        Frame goAway = client.awaitGoAway(WAIT);
        assertNotNull(goAway, "a GOAWAY on the open connection: " + client.seen());
        assertEquals(H2Frames.NO_ERROR, goAway.errorCode());
        long goAwayMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - notReady);
        assertTrue(goAwayMs < 5_000, "GOAWAY long before the listener closes (30 s): " + goAwayMs + " ms");
        Response r = client.await(id, WAIT);
        assertEquals(200, r.status(), "the stream in flight finishes: " + r);
        assertTrue(client.awaitClose(WAIT), "the connection closes once its stream is done");

        H2Client late = fx.track(H2Client.connect(proxy.listenAddress()));
        assertEquals(200, late.get("/").status(), "a connection opened during the delay is served");
        assertTrue(late.awaitClose(WAIT), "and closed after it: " + late.seen());
        assertTrue(late.seen().stream().anyMatch(f -> f.type() == H2Frames.GOAWAY && f.errorCode() == H2Frames.NO_ERROR),
                late.seen().toString());
    }

    @Test
    void anIdleConnectionIsClosedWithGoAway() throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy("\"timeouts\": {\"client_idle_ms\": 300}", backend.port());
        H2Client client = fx.track(H2Client.connect(proxy.listenAddress()));
        assertEquals(200, client.get("/").status());
        assertTrue(client.awaitClose(Duration.ofSeconds(5)), "closed after client_idle_ms without a stream");
        Frame goAway = client.seen().stream().filter(f -> f.type() == H2Frames.GOAWAY).findFirst().orElse(null);
        assertNotNull(goAway, client.seen().toString());
        assertEquals(H2Frames.NO_ERROR, goAway.errorCode());
        await(WAIT, "the connection is forgotten", () -> proxy.stats().connectionsCurrent.get() == 0);
    }

    // ---------------------------------------------------------------- helpers

    /** After one answered request, opens a stream whose response takes 1 s and waits until it is at the backend. */
    private static int slowStreamInFlight(H2Client client, ProxyServer proxy, DemoBackend backend) throws Exception {
        assertEquals(200, client.get("/").status());
        int id = client.newStream();
        client.send(client.frames().headers(id, request("GET", "/slow?ms=1000"), true));
        await(WAIT, "the request reaches the backend", () -> Fixtures.server(proxy, backend.port()).stats().inFlight.get() == 1);
        return id;
    }

    /** Writes {@code size} bytes that differ from block to block; returns their SHA-256. */
    private static String writeFile(Path file, long size) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] block = new byte[64 * 1024];
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file))) {
            for (long written = 0, i = 0; written < size; i++) {
                for (int k = 0; k < block.length; k += 8) {
                    block[k] = (byte) (i * 31 + k);
                }
                int n = (int) Math.min(block.length, size - written);
                out.write(block, 0, n);
                sha.update(block, 0, n);
                written += n;
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] b = new byte[64 * 1024];
            int n;
            while ((n = in.read(b)) > 0) {
                sha.update(b, 0, n);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** Polls {@code value} until it stays the same for 300 ms (at most 10 s); returns it. */
    private static long settled(java.util.function.LongSupplier value) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        long last = value.getAsLong();
        long stableSince = System.nanoTime();
        while (System.nanoTime() < deadline) {
            Thread.sleep(20);
            long now = value.getAsLong();
            if (now != last) {
                last = now;
                stableSince = System.nanoTime();
            } else if (System.nanoTime() - stableSince > TimeUnit.MILLISECONDS.toNanos(300)) {
                return now;
            }
        }
        throw new AssertionError("the value never settled: " + last);
    }

    /** A backend's next request head, read byte by byte, or null at the end of the connection. */
    private static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        while (head.length() < 4 || !head.substring(head.length() - 4).equals("\r\n\r\n")) {
            int c = in.read();
            if (c < 0) {
                return null;
            }
            head.append((char) c);
        }
        return head.toString();
    }

    /**
     * A backend that answers every request 413 as soon as its head arrived, then reads and drops its
     * Content-Length body, as a server that keeps its connections would. A daemon thread per connection.
     */
    private static final class EarlyAnsweringBackend implements AutoCloseable {
        private static final byte[] TOO_LARGE = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII);
        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());

        EarlyAnsweringBackend() throws IOException {
            daemon(this::accept);
        }

        int port() {
            return server.getLocalPort();
        }

        private static void daemon(Runnable task) {
            Thread t = new Thread(task, "early-answering-backend");
            t.setDaemon(true);
            t.start();
        }

        private void accept() {
            try {
                while (true) {
                    Socket s = server.accept();
                    daemon(() -> answer(s));
                }
            } catch (IOException e) {
                // closed: the test is over
            }
        }

        /** Answers each request on the connection as its head arrives, then reads (and drops) its body. */
        private static void answer(Socket s) {
            try (s) {
                s.setSoTimeout(30_000);
                InputStream in = new java.io.BufferedInputStream(s.getInputStream());
                OutputStream out = s.getOutputStream();
                byte[] sink = new byte[64 * 1024];
                String head;
                while ((head = readHead(in)) != null) {
                    out.write(TOO_LARGE);
                    out.flush();
                    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)\r\ncontent-length: *(\\d+)")
                            .matcher(head);
                    long left = m.find() ? Long.parseLong(m.group(1)) : 0;
                    while (left > 0) {
                        int n = in.read(sink, 0, (int) Math.min(sink.length, left));
                        if (n < 0) {
                            return;
                        }
                        left -= n;
                    }
                }
            } catch (IOException e) {
                // the proxy went away
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }

    /**
     * A backend that takes one request, reads its head, then reads nothing of the body until
     * {@link #release} is counted down; then reads the whole Content-Length body and answers 200 with its
     * SHA-256 and length ({@link #result}).
     */
    private static final class StalledBackend implements AutoCloseable {
        final CountDownLatch headArrived = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicReference<String> result = new AtomicReference<>();
        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final Thread thread;

        StalledBackend() throws IOException {
            thread = new Thread(this::serve, "stalled-backend");
            thread.setDaemon(true);
            thread.start();
        }

        int port() {
            return server.getLocalPort();
        }

        private void serve() {
            try (Socket s = server.accept()) {
                s.setReceiveBufferSize(64 * 1024);
                InputStream in = s.getInputStream();
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)\r\ncontent-length: *(\\d+)")
                        .matcher(head);
                long length = m.find() ? Long.parseLong(m.group(1)) : 0;
                headArrived.countDown();
                release.await();
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                byte[] b = new byte[64 * 1024];
                long left = length;
                while (left > 0) {
                    int n = in.read(b, 0, (int) Math.min(b.length, left));
                    if (n < 0) {
                        return;
                    }
                    sha.update(b, 0, n);
                    left -= n;
                }
                result.set(HexFormat.of().formatHex(sha.digest()) + " " + length);
                s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
                        .getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                in.read(); // until the proxy closes or reuses
            } catch (Exception e) {
                // the test ends, or fails on what it observed
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            thread.interrupt();
        }
    }
}
