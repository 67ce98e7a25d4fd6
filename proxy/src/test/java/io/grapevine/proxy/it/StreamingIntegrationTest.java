package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static io.grapevine.proxy.it.Fixtures.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.testing.MemorySampler;
import io.netty.util.internal.PlatformDependent;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * 100 MiB bodies stream through the proxy in both directions, Content-Length and chunked, intact
 * (SHA-256 end to end), with the proxy's direct memory bounded: nothing is buffered whole. A client that
 * stops reading stops the backend too (backpressure), instead of filling the proxy's memory.
 *
 * <p>Direct memory is Netty's own count ({@link PlatformDependent#usedDirectMemory()}) for the whole JVM,
 * backend and proxy together, sampled every few milliseconds; the bound is on its growth during a
 * transfer.
 */
class StreamingIntegrationTest {

    private static final long SIZE = 100L << 20;
    private static final long MEMORY_BOUND = 64L << 20;
    /** How far the proxy may read ahead of a client that reads nothing: socket buffers and a little more. */
    private static final long READ_AHEAD_BOUND = 16L << 20;
    private static final int PIECE = 64 * 1024;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private ProxyServer proxy;
    private DemoBackend backend;
    private MemorySampler memory;

    @BeforeEach
    void start() throws Exception {
        backend = fx.backend(1);
        proxy = fx.proxy("", backend.port());
        memory = new MemorySampler();
    }

    @AfterEach
    void memoryStayedBounded() throws InterruptedException {
        long growth = memory.stop();
        assertTrue(growth < MEMORY_BOUND, "direct memory grew by " + (growth >> 20) + " MiB during the transfer");
    }

    @Test
    void aContentLengthUploadStreamsIntact() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send(request("POST", "/echo", "Content-Length: " + SIZE));
        String sent = upload(client.output(), false);
        assertEchoed(client.read(), sent);
    }

    @Test
    void aChunkedUploadStreamsIntact() throws Exception {
        RawHttpClient client = fx.client(proxy);
        client.send(request("POST", "/echo", "Transfer-Encoding: chunked"));
        String sent = upload(client.output(), true);
        assertEchoed(client.read(), sent);
    }

    @Test
    void aContentLengthDownloadStreamsIntact() throws Exception {
        RawHttpClient client = fx.client(proxy);
        Response head = client.send(get("/bytes?n=" + SIZE)).readHead();
        assertEquals(200, head.status(), head.toString());
        assertEquals(Long.toString(SIZE), head.header("Content-Length"));
        assertDownloaded(client, head, total -> { });
    }

    @Test
    void aChunkedDownloadStreamsIntact() throws Exception {
        RawHttpClient client = fx.client(proxy);
        Response head = client.send(get("/bytes?n=" + SIZE + "&chunked=1")).readHead();
        assertEquals(200, head.status(), head.toString());
        assertEquals("chunked", head.header("Transfer-Encoding"));
        assertDownloaded(client, head, total -> { });
    }

    @Test
    void aClientThatStopsReadingStopsTheBackendToo() throws Exception {
        RawHttpClient client = fx.track(RawHttpClient.connect(proxy.listenAddress(), 64 * 1024));
        ServerStats fromBackend = proxy.tables().current().servers().get(0).stats();
        Response head = client.send(get("/bytes?n=" + SIZE)).readHead();
        assertEquals(200, head.status(), head.toString());
        AtomicLong received = new AtomicLong();
        // Stall now, and again half way through: each time the proxy must stop pulling from the backend.
        assertReadAheadBounded(fromBackend, received.get());
        assertDownloaded(client, head, total -> {
            if (total >= SIZE / 2 && received.getAndSet(total) < SIZE / 2) {
                assertReadAheadBounded(fromBackend, total);
            }
        });
    }

    // ---------------------------------------------------------------- helpers

    /** Sends {@link #SIZE} bytes that differ from piece to piece; returns their SHA-256. */
    private static String upload(OutputStream out, boolean chunked) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] piece = new byte[PIECE];
        for (int i = 0; i < piece.length; i++) {
            piece[i] = (byte) (i * 7 + 3);
        }
        long left = SIZE;
        for (int index = 0; left > 0; index++) {
            // Odd chunk sizes too, so chunk boundaries fall anywhere in the proxy's reads.
            int n = (int) Math.min(left, index % 3 == 0 ? PIECE : PIECE - 1 - index % 1000);
            piece[0] = (byte) index;
            piece[1] = (byte) (index >> 8);
            if (chunked) {
                out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
            }
            out.write(piece, 0, n);
            if (chunked) {
                out.write('\r');
                out.write('\n');
            }
            sha.update(piece, 0, n);
            left -= n;
        }
        if (chunked) {
            out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        }
        out.flush();
        return HexFormat.of().formatHex(sha.digest());
    }

    private static void assertEchoed(Response r, String sha256) {
        assertEquals(200, r.status(), r.toString());
        assertEquals(Long.toString(SIZE), r.header("X-Body-Length"));
        assertEquals(sha256, r.header("X-Body-Sha256"), "the upload arrived altered");
    }

    /** Observes the download's progress: {@code total} bytes so far. */
    private interface Progress {
        void update(long total) throws InterruptedException;
    }

    private static void assertDownloaded(RawHttpClient client, Response head, Progress progress) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        long[] total = {0};
        client.readBody(head, false, (buf, off, len) -> {
            sha.update(buf, off, len);
            total[0] += len;
            try {
                progress.update(total[0]);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException();
            }
        });
        assertEquals(SIZE, total[0], "body length");
        assertEquals(head.header("X-Body-Sha256"), HexFormat.of().formatHex(sha.digest()), "the download arrived altered");
    }

    /**
     * With the client reading nothing, waits until the proxy stops reading from the backend (its count of
     * bytes from the backend stays put for 300 ms), then checks how far ahead of the client it got.
     */
    private static void assertReadAheadBounded(ServerStats fromBackend, long clientReceived) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        long last = -1;
        long stableSince = System.nanoTime();
        for (;;) {
            long now = System.nanoTime();
            long in = fromBackend.bytesIn.sum();
            if (in != last) {
                last = in;
                stableSince = now;
            } else if (now - stableSince > 300_000_000L) {
                break;
            }
            if (in - clientReceived > READ_AHEAD_BOUND) {
                fail("the proxy read " + ((in - clientReceived) >> 20) + " MiB ahead of a client that reads nothing");
            }
            if (now - deadline > 0) {
                fail("the proxy kept reading from the backend while the client read nothing (" + (in >> 20) + " MiB)");
            }
            Thread.sleep(20);
        }
        assertTrue(last < SIZE, "the whole body left the backend while the client read nothing");
    }
}
