package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.MemorySampler;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * 100 MiB responses compressed on their way through real sockets, Content-Length and chunked from the backend: the
 * client inflates them as they come, and gets the backend's bytes (its SHA-256), a gzip trailer that is right (CRC-32,
 * length), a fraction of the bytes on the wire, and the proxy's direct memory stays bounded: nothing is gathered.
 */
class CompressionIntegrationTest {

    private static final long SIZE = 100L << 20;
    private static final long MEMORY_BOUND = 64L << 20;
    /** The demo backend's /bytes are application/octet-stream (a repeating pattern, which compresses well). */
    private static final String COMPRESSION = "\"compression\": {\"enabled\": true, \"types\": [\"application/octet-stream\"]}";

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    /** Inflates a gzip stream fed in parts, digesting what it inflates; checks the header and the trailer. */
    private static final class Gunzip {
        private final Inflater inflater = new Inflater(true);
        private final MessageDigest sha;
        private final CRC32 crc = new CRC32();
        private final byte[] out = new byte[64 * 1024];
        private final ByteArrayOutputStream header = new ByteArrayOutputStream();
        private final ByteArrayOutputStream trailer = new ByteArrayOutputStream();
        long compressed;
        long inflated;

        Gunzip() throws Exception {
            sha = MessageDigest.getInstance("SHA-256");
        }

        void feed(byte[] b, int off, int len) throws IOException {
            compressed += len;
            int headerPart = Math.min(len, 10 - header.size());
            header.write(b, off, headerPart);
            off += headerPart;
            len -= headerPart;
            if (len == 0) {
                return;
            }
            if (inflater.finished()) {
                trailer.write(b, off, len);
                return;
            }
            inflater.setInput(b, off, len);
            try {
                while (!inflater.finished() && !inflater.needsInput()) {
                    int n = inflater.inflate(out);
                    sha.update(out, 0, n);
                    crc.update(out, 0, n);
                    inflated += n;
                }
            } catch (DataFormatException e) {
                throw new IOException("not a deflate stream: " + e.getMessage(), e);
            }
            if (inflater.finished()) {
                int rest = inflater.getRemaining();
                trailer.write(b, off + len - rest, rest);
            }
        }

        String sha256() {
            return HexFormat.of().formatHex(sha.digest());
        }

        void assertWhole() {
            byte[] h = header.toByteArray();
            assertEquals(0x1f, h[0] & 0xff);
            assertEquals(0x8b, h[1] & 0xff);
            assertEquals(8, h[2], "deflate");
            assertTrue(inflater.finished(), "the deflate stream ended");
            byte[] t = trailer.toByteArray();
            assertEquals(8, t.length, "CRC-32 and ISIZE, nothing after");
            long crc32 = (t[0] & 0xffL) | (t[1] & 0xffL) << 8 | (t[2] & 0xffL) << 16 | (t[3] & 0xffL) << 24;
            long isize = (t[4] & 0xffL) | (t[5] & 0xffL) << 8 | (t[6] & 0xffL) << 16 | (t[7] & 0xffL) << 24;
            assertEquals(crc.getValue(), crc32, "CRC-32");
            assertEquals(inflated & 0xffffffffL, isize, "ISIZE");
            inflater.end();
        }
    }

    private void download(String target) throws Exception {
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(COMPRESSION, backend.port());
        RawHttpClient client = fx.client(proxy);
        MemorySampler memory = new MemorySampler();
        Response head = client.send(get(target, "Accept-Encoding: gzip")).readHead();
        assertEquals(200, head.status(), head.toString());
        assertEquals("gzip", head.header("Content-Encoding"), head.toString());
        assertEquals("chunked", head.header("Transfer-Encoding"), head.toString());
        assertEquals(null, head.header("Content-Length"), head.toString());
        Gunzip gunzip = new Gunzip();
        client.readBody(head, false, gunzip::feed);
        long growth = memory.stop();
        gunzip.assertWhole();
        assertEquals(SIZE, gunzip.inflated, "body length");
        assertEquals(head.header("X-Body-Sha256"), gunzip.sha256(), "the download arrived altered");
        assertTrue(gunzip.compressed < SIZE / 20, "compressed to " + gunzip.compressed + " bytes");
        assertTrue(growth < MEMORY_BOUND, "direct memory grew by " + (growth >> 20) + " MiB during the transfer");
        assertEquals(1, proxy.stats().responsesCompressed.sum());
        assertEquals("gzip level 1", new io.grapevine.proxy.testing.Admin(proxy.adminAddress()).json("/table")
                .path("pools").path(0).path("compression").asText(), "the pool's compression, in /table");
        assertEquals(SIZE, proxy.stats().compressionBytesIn.sum());
        assertEquals(gunzip.compressed, proxy.stats().compressionBytesOut.sum());

        // The connection goes on: the next response is compressed too.
        Response next = client.send(get("/bytes?n=5000", "Accept-Encoding: gzip")).readHead();
        assertEquals("gzip", next.header("Content-Encoding"), next.toString());
        Gunzip small = new Gunzip();
        client.readBody(next, false, small::feed);
        small.assertWhole();
        assertEquals(5000, small.inflated);
    }

    @Test
    void aContentLengthDownloadIsCompressedWholeAndStreamed() throws Exception {
        download("/bytes?n=" + SIZE);
    }

    @Test
    void aChunkedDownloadIsCompressedWholeAndStreamed() throws Exception {
        download("/bytes?n=" + SIZE + "&chunked=1");
    }
}
