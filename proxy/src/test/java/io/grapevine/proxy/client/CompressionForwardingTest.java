package io.grapevine.proxy.client;

import static io.grapevine.proxy.client.ForwardingHarness.config;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.client.ForwardingHarness.Backend;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

/** Gzip compression of responses to HTTP/1.1 clients, through the whole forwarding path (embedded channels). */
class CompressionForwardingTest {

    private static final String ON = "\"compression\": {\"enabled\": true, \"min_length\": 100}";

    private static String get(String path, String acceptEncoding) {
        return "GET " + path + " HTTP/1.1\r\nHost: test\r\n"
                + (acceptEncoding == null ? "" : "Accept-Encoding: " + acceptEncoding + "\r\n") + "\r\n";
    }

    /** Compressible text: words drawn from a small set, so that gzip has repeats to find. */
    private static String text(int length, long seed) {
        String[] words = {"grapevine ", "proxy ", "gossip ", "backend ", "table ", "swap ", "event ", "loop "};
        Random r = new Random(seed);
        StringBuilder sb = new StringBuilder(length + 16);
        while (sb.length() < length) {
            sb.append(words[r.nextInt(words.length)]);
        }
        return sb.substring(0, length);
    }

    /** A received response split into its head and its body, the body de-chunked when chunked. */
    private record Response(String head, byte[] body, boolean complete) {
        boolean has(String fieldLine) {
            return head.toLowerCase().contains("\r\n" + fieldLine.toLowerCase() + "\r\n");
        }

        String gunzipped() throws IOException {
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(body))) {
                return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
            }
        }
    }

    private static Response parse(String raw) {
        int end = raw.indexOf("\r\n\r\n");
        String head = raw.substring(0, end + 2);
        String rest = raw.substring(end + 4);
        if (!head.toLowerCase().contains("\r\ntransfer-encoding: chunked\r\n")) {
            return new Response(head, rest.getBytes(StandardCharsets.ISO_8859_1), true);
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        int i = 0;
        while (true) {
            int lineEnd = rest.indexOf("\r\n", i);
            if (lineEnd < 0) {
                return new Response(head, body.toByteArray(), false);
            }
            int size = Integer.parseInt(rest.substring(i, lineEnd), 16);
            if (size == 0) {
                return new Response(head, body.toByteArray(), rest.startsWith("\r\n", lineEnd + 2));
            }
            byte[] chunk = rest.substring(lineEnd + 2, lineEnd + 2 + size).getBytes(StandardCharsets.ISO_8859_1);
            body.write(chunk, 0, chunk.length);
            i = lineEnd + 2 + size + 2;
        }
    }

    @Test
    void aTextResponseToAClientThatAcceptsGzipLeavesCompressedChunkedAndVaryingOnAcceptEncoding() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ON))) {
            String body = text(20_000, 1);
            h.send(get("/page", "br, gzip;q=0.8"));
            Backend b = h.backend(0);
            assertTrue(b.received().contains("\r\nAccept-Encoding: br, gzip;q=0.8\r\n"),
                    "the backend still sees what the client accepts");
            b.send("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nETag: \"v1\"\r\nContent-Length: "
                    + body.length() + "\r\n\r\n" + body);
            Response r = parse(h.received());
            assertTrue(r.complete(), r.head());
            assertTrue(r.has("Content-Encoding: gzip"), r.head());
            assertTrue(r.has("Vary: Accept-Encoding"), r.head());
            assertTrue(r.has("Transfer-Encoding: chunked"), r.head());
            assertFalse(r.head().toLowerCase().contains("content-length"), "the length was the uncompressed one: "
                    + r.head());
            assertTrue(r.has("ETag: W/\"v1\""), "a strong tag no longer names these bytes (RFC 9110 8.8.1): "
                    + r.head());
            assertEquals(body, r.gunzipped());
            assertTrue(r.body().length < body.length() / 3, "compressed: " + r.body().length + " bytes");
            assertEquals(1, h.stats.responsesCompressed.sum());
            assertEquals(body.length(), h.stats.compressionBytesIn.sum());
            assertEquals(r.body().length, h.stats.compressionBytesOut.sum());
            assertEquals(0, h.loop.compressorsInUse(), "the zlib stream went back to the loop");

            // the connection goes on, and the next response is compressed with a zlib stream used before
            h.send(get("/again", "gzip"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
                    + text(400, 2));
            Response again = parse(h.received());
            assertEquals(text(400, 2), again.gunzipped());
        }
    }

    @Test
    void whatMustNotOrNeedNotBeCompressedPassesUntouched() throws Exception {
        String body = text(5_000, 3);
        String[][] cases = {
            // {what, Accept-Encoding, response head fields, status line}
            {"no Accept-Encoding", null, "Content-Type: text/html\r\n", "200 OK"},
            {"gzip refused", "gzip;q=0, br", "Content-Type: text/html\r\n", "200 OK"},
            {"a type not listed", "gzip", "Content-Type: image/png\r\n", "200 OK"},
            {"no Content-Type", "gzip", "", "200 OK"},
            {"encoded already", "gzip", "Content-Type: text/html\r\nContent-Encoding: br\r\n", "200 OK"},
            {"no-transform", "gzip", "Content-Type: text/html\r\nCache-Control: public, No-Transform\r\n", "200 OK"},
            {"a partial response", "gzip", "Content-Type: text/html\r\nContent-Range: bytes 0-4999/9999\r\n",
                "206 Partial Content"},
            {"a 404", "gzip", "Content-Type: text/html\r\n", "404 Not Found"},
        };
        for (String[] c : cases) {
            try (ForwardingHarness h = new ForwardingHarness(config(1, ON))) {
                h.send(get("/x", c[1]));
                h.backend(0).send("HTTP/1.1 " + c[3] + "\r\n" + c[2] + "Content-Length: " + body.length() + "\r\n\r\n"
                        + body);
                Response r = parse(h.received());
                assertFalse(r.head().toLowerCase().contains("content-encoding: gzip"), c[0] + ": " + r.head());
                assertEquals(c[0].equals("no Accept-Encoding") || c[0].equals("gzip refused"),
                        r.has("Vary: Accept-Encoding"), c[0] + ": the Vary of a response that varies: " + r.head());
                assertTrue(r.has("Content-Length: " + body.length()), c[0] + ": " + r.head());
                assertEquals(body, new String(r.body(), StandardCharsets.ISO_8859_1), c[0]);
                assertEquals(0, h.stats.responsesCompressed.sum(), c[0]);
            }
        }
        // shorter than min_length, and an HTTP/1.0 client (no chunks to end a body of unknown length with)
        try (ForwardingHarness h = new ForwardingHarness(config(1, ON))) {
            h.send(get("/short", "gzip"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 99\r\n\r\n" + text(99, 4));
            assertTrue(parse(h.received()).has("Content-Length: 99"));
            h.send("GET /old HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n");
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n" + body);
            Response r = parse(h.received());
            assertTrue(r.has("Content-Length: 5000"), r.head());
            assertEquals(0, h.stats.responsesCompressed.sum());
        }
        // a request that asks for no transformation (RFC 9111 section 5.2.1.6)
        try (ForwardingHarness h = new ForwardingHarness(config(1, ON))) {
            h.send("GET /nt HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip\r\nCache-Control: no-transform\r\n\r\n");
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n" + body);
            Response r = parse(h.received());
            assertTrue(r.has("Content-Length: 5000"), r.head());
            assertFalse(r.head().contains("Content-Encoding"), r.head());
        }
        // a pool without compression (the default)
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("/off", "gzip"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n" + body);
            assertTrue(parse(h.received()).has("Content-Length: 5000"));
        }
    }

    /** What the gzip stream {@code gz} (perhaps not ended yet) decompresses to so far. */
    private static String inflatedSoFar(byte[] gz) throws Exception {
        assertEquals(0x1f, gz[0] & 0xff);
        assertEquals(0x8b, gz[1] & 0xff);
        java.util.zip.Inflater inflater = new java.util.zip.Inflater(true);
        inflater.setInput(gz, 10, gz.length - 10);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        int n;
        while ((n = inflater.inflate(buf)) > 0) {
            out.write(buf, 0, n);
        }
        inflater.end();
        return out.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void aStreamedResponseReachesTheClientAsTheBackendSendsIt() throws Exception {
        String events = "\"compression\": {\"enabled\": true, \"types\": [\"text/event-stream\"]}";
        try (ForwardingHarness h = new ForwardingHarness(config(1, events))) {
            h.send(get("/events", "gzip"));
            Backend b = h.backend(0);
            b.send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "b\r\ndata: one\n\n\r\n");
            StringBuilder raw = new StringBuilder(h.received());
            Response first = parse(raw.toString());
            assertTrue(first.has("Content-Encoding: gzip"), first.head());
            assertFalse(first.complete());
            assertEquals("data: one\n\n", inflatedSoFar(first.body()),
                    "the event is flushed out of zlib at the end of the backend's read, not held for more");
            b.send("b\r\ndata: two\n\n\r\n");
            raw.append(h.received());
            assertEquals("data: one\n\ndata: two\n\n", inflatedSoFar(parse(raw.toString()).body()));
            b.send("0\r\n\r\n");
            raw.append(h.received());
            Response whole = parse(raw.toString());
            assertTrue(whole.complete());
            assertEquals("data: one\n\ndata: two\n\n", whole.gunzipped(), "a whole gzip stream, CRC and length right");
        }
    }

    @Test
    void aResponseCutOffGivesItsZlibStreamBackAndOverTheLimitResponsesLeaveUncompressed() throws Exception {
        String limited = ON + ", \"limits\": {\"max_compressing\": 1}";
        try (ForwardingHarness h = new ForwardingHarness(config(1, limited))) {
            h.send(get("/a", "gzip"));
            Backend b = h.backend(0);
            b.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10000\r\n\r\n" + text(3000, 5));
            assertEquals(1, h.loop.compressorsInUse());
            b.channel().close(); // the backend fails mid-body: the client's connection is closed
            h.runPending();
            assertEquals(0, h.loop.compressorsInUse(), "the zlib stream of a response cut off went back");
            assertEquals(0, h.stats.responsesCompressed.sum());
        }
        try (ForwardingHarness h = new ForwardingHarness(config(3, limited))) {
            h.send(get("/a", "gzip") + get("/b", "gzip") + get("/c.png", "gzip"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n");
            // The other responses' heads come while the first holds the loop's only compressor.
            h.backend(1).send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n"
                    + text(500, 6));
            assertEquals(1, h.stats.compressionsSkipped.sum());
            h.backend(2).send("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 500\r\n\r\n"
                    + text(500, 8));
            assertEquals(1, h.stats.compressionsSkipped.sum(), "an image would not have been compressed anyway");
            h.backend(0).send(text(500, 7));
            String raw = h.received();
            Response first = parse(raw);
            assertEquals(text(500, 7), first.gunzipped());
            int second = raw.indexOf("HTTP/1.1 200", 1);
            Response r2 = parse(raw.substring(second));
            assertTrue(r2.has("Content-Length: 500"), "left uncompressed: " + r2.head());
            assertEquals(text(500, 6), new String(r2.body(), StandardCharsets.ISO_8859_1).substring(0, 500));
        }
    }
}
