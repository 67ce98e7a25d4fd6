package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.buffer.UnpooledHeapByteBuf;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ChunkedDecoderTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    static final int MAX_TRAILER_BYTES = 1024;
    static final int MAX_TRAILERS = 16;

    /** Collects what the decoder passes on, releasing every buffer. */
    static final class Collected implements ChunkedDecoder.Sink {
        final StringBuilder data = new StringBuilder();
        String trailers;
        int lastChunks;

        @Override
        public void onChunkData(ByteBuf chunk) {
            assertTrue(chunk.isReadable(), "empty data buffer");
            data.append(LeakCheck.str(chunk));
            chunk.release();
        }

        @Override
        public void onLastChunk(ByteBuf trailerFields) {
            lastChunks++;
            if (trailerFields != null) {
                assertTrue(trailerFields.isReadable(), "empty trailers must be null");
            }
            trailers = LeakCheck.take(trailerFields);
        }
    }

    /** The complete outcome of decoding one input: what was passed on, and what was left unread. */
    record Outcome(boolean error, boolean done, String data, String trailers, int lastChunks, String left) {
        static Outcome ok(String data, String trailers, String left) {
            return new Outcome(false, true, data, trailers, 1, left);
        }
    }

    /** Feeds {@code parts} one after the other to one decoder through a cumulation, as a connection handler does. */
    static Outcome decode(LeakCheck leaks, String... parts) {
        ChunkedDecoder decoder = new ChunkedDecoder(MAX_TRAILER_BYTES, MAX_TRAILERS);
        Collected sink = new Collected();
        ByteBuf cumulation = leaks.alloc().directBuffer(64);
        boolean error = false;
        try {
            for (String part : parts) {
                cumulation.writeBytes(LeakCheck.bytes(part));
                if (decoder.decode(cumulation, sink, leaks.alloc()) == ChunkedDecoder.ERROR) {
                    error = true;
                    assertEquals(ChunkedDecoder.ERROR, decoder.decode(cumulation, sink, leaks.alloc()),
                            "a failed decoder stays failed");
                    break;
                }
                cumulation.discardSomeReadBytes();
            }
            return new Outcome(error, decoder.isDone(), sink.data.toString(), sink.trailers, sink.lastChunks,
                    LeakCheck.str(cumulation));
        } finally {
            cumulation.release();
        }
    }

    static String[] chars(String s) {
        String[] out = new String[s.length()];
        for (int i = 0; i < s.length(); i++) {
            out[i] = String.valueOf(s.charAt(i));
        }
        return out;
    }

    /** One shot, every two-part split, and byte by byte must all give {@code expected}. */
    private static void assertEveryFeeding(Outcome expected, String body) {
        assertEquals(expected, decode(leaks, body), "one shot");
        for (int k = 0; k <= body.length(); k++) {
            assertEquals(expected, decode(leaks, body.substring(0, k), body.substring(k)), "split at " + k);
        }
        assertEquals(expected, decode(leaks, chars(body)), "byte by byte");
    }

    static Stream<Arguments> valid() {
        return Stream.of(
                Arguments.of("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                        Outcome.ok("hello world", null, "")),
                Arguments.of("extensions dropped", "5;a=b\r\nhello\r\n6 ; x = \"y;z\"\r\n world\r\n1\t;q\r\n!\r\n0;end\r\n\r\n",
                        Outcome.ok("hello world!", null, "")),
                Arguments.of("hex digits in both cases and leading zeros",
                        "A\r\n0123456789\r\n0000b\r\nabcdefghijk\r\n00000000000000f\r\n" + "f".repeat(15) + "\r\n000\r\n\r\n",
                        Outcome.ok("0123456789abcdefghijk" + "f".repeat(15), null, "")),
                Arguments.of("no data at all", "0\r\n\r\n", Outcome.ok("", null, "")),
                Arguments.of("data containing CRLF and hex", "4\r\n\r\n0\r\r\n0\r\n\r\n", Outcome.ok("\r\n0\r", null, "")),
                Arguments.of("next message left unread", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
                        Outcome.ok("abc", null, "GET / HTTP/1.1\r\n")),
                Arguments.of("trailers kept in canonical form", "1\r\nx\r\n0\r\nX-Sum:  42 \r\nx-b:\tv\r\n\r\n",
                        Outcome.ok("x", "X-Sum: 42\r\nx-b: v\r\n", "")),
                Arguments.of("forbidden trailers removed",
                        "1\r\nx\r\n0\r\nContent-Length: 9\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n"
                                + "Connection: close\r\nKeep-Alive: 1\r\nProxy-Connection: x\r\nTE: trailers\r\n"
                                + "Upgrade: h2c\r\nTRAILER: X-A\r\nX-B: 2\r\n\r\nnext",
                        Outcome.ok("x", "X-A: 1\r\nX-B: 2\r\n", "next")),
                Arguments.of("only forbidden trailers: none", "0\r\nContent-Length: 5\r\nhost: a\r\n\r\n",
                        Outcome.ok("", null, "")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("valid")
    void decodesInEverySplitPosition(String name, String body, Outcome expected) {
        assertEveryFeeding(expected, body);
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                Arguments.of("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("negative size", "-1\r\nx\r\n0\r\n\r\n"),
                Arguments.of("plus sign", "+5\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("two sizes", "5 5\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("SP before the size", " 5\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("SP after the size", "5 \r\nhello\r\n0\r\n\r\n"),
                Arguments.of("HTAB after the size", "5\t\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("empty size line", "\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("not hex", "g\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("16 hex digits", "0000000000000005\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("17 hex digits", "10000000000000000\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("64-bit size", "ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("extension without semicolon", "5 a=b\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("bare CR in an extension", "5;a\rb\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("NUL in an extension", "5;a\u0000\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("DEL in an extension", "5;a\u007f\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("size line never ending", "5;" + "a".repeat(5000) + "\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("bare LF after the size", "5\nhello\r\n0\r\n\r\n"),
                Arguments.of("bare CR after the size", "5\rhello\r\n0\r\n\r\n"),
                Arguments.of("data longer than the size", "3\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("data shorter than the size", "6\r\nhello\r\n0\r\n\r\n"),
                Arguments.of("no CRLF after data", "5\r\nhello0\r\n\r\n"),
                Arguments.of("bare LF after data", "5\r\nhello\n0\r\n\r\n"),
                Arguments.of("bare CR after data", "5\r\nhello\r0\r\n\r\n"),
                Arguments.of("LF CR after data", "5\r\nhello\n\r0\r\n\r\n"),
                Arguments.of("bare LF after the last chunk", "0\n\r\n"),
                Arguments.of("bare LF as the end of the trailers", "0\r\n\n"),
                Arguments.of("bare LF ends a trailer", "0\r\nX-A: 1\n\r\n"),
                Arguments.of("bare LF after a trailer", "0\r\nX-A: 1\r\n\n"),
                Arguments.of("bare CR in a trailer", "0\r\nX-A: 1\r2\r\n\r\n"),
                Arguments.of("obs-fold in the trailers", "0\r\nX-A: 1\r\n 2\r\n\r\n"),
                Arguments.of("SP before a trailer's colon", "0\r\nX-A : 1\r\n\r\n"),
                Arguments.of("trailer without colon", "0\r\nX-A 1\r\n\r\n"),
                Arguments.of("NUL in a trailer", "0\r\nX-A: \u0000\r\n\r\n"),
                Arguments.of("too many trailers", "0\r\n" + "X-A: 1\r\n".repeat(MAX_TRAILERS + 1) + "\r\n"),
                Arguments.of("trailers too large", "0\r\nX-A: " + "a".repeat(MAX_TRAILER_BYTES) + "\r\n\r\n"),
                Arguments.of("trailers never ending", "0\r\nX-A: " + "a".repeat(2 * MAX_TRAILER_BYTES)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalid")
    void rejectsInEveryFeeding(String name, String body) {
        Outcome oneShot = decode(leaks, body);
        assertTrue(oneShot.error(), () -> "accepted: " + oneShot);
        assertEquals(0, oneShot.lastChunks());
        Outcome bytewise = decode(leaks, chars(body));
        assertTrue(bytewise.error(), () -> "accepted byte by byte: " + bytewise);
        assertEquals(oneShot.data(), bytewise.data(), "data passed on before the error");
    }

    @Test
    void aLargeChunkIsPassedOnAsItArrives() {
        String big = "x".repeat(100_000);
        String body = Integer.toHexString(big.length()) + "\r\n" + big + "\r\n0\r\n\r\n";
        assertEquals(Outcome.ok(big, null, ""), decode(leaks, body));
        assertEquals(Outcome.ok(big, null, ""), decode(leaks, body.substring(0, 50), body.substring(50, 70_000),
                body.substring(70_000)));
    }

    @Test
    void passesDataOnAsSlicesOfTheInput() {
        ChunkedDecoder decoder = new ChunkedDecoder(MAX_TRAILER_BYTES, MAX_TRAILERS);
        ByteBuf in = leaks.buf("5\r\nhello\r\n0\r\n\r\n");
        ByteBuf[] passed = new ByteBuf[1];
        ChunkedDecoder.Sink sink = new ChunkedDecoder.Sink() {
            @Override
            public void onChunkData(ByteBuf data) {
                passed[0] = data;
            }

            @Override
            public void onLastChunk(ByteBuf trailerFields) {
                assertEquals(null, trailerFields);
            }
        };
        assertEquals(ChunkedDecoder.OK, decoder.decode(in, sink, leaks.alloc()));
        assertTrue(decoder.isDone());
        in.setByte(3, 'j');
        assertEquals("jello", LeakCheck.str(passed[0]), "zero copy: the data is a slice of the input");
        in.release();
        assertEquals("jello", LeakCheck.str(passed[0]), "the slice keeps the input alive");
        passed[0].release();
    }

    @Test
    void aDoneDecoderReadsNothingMore() {
        ChunkedDecoder decoder = new ChunkedDecoder(MAX_TRAILER_BYTES, MAX_TRAILERS);
        Collected sink = new Collected();
        ByteBuf in = leaks.buf("0\r\n\r\n1\r\nx\r\n0\r\n\r\n");
        assertEquals(ChunkedDecoder.OK, decoder.decode(in, sink, leaks.alloc()));
        assertEquals(ChunkedDecoder.OK, decoder.decode(in, sink, leaks.alloc()));
        assertEquals("1\r\nx\r\n0\r\n\r\n", LeakCheck.str(in));
        assertEquals(1, sink.lastChunks);
        in.release();
    }

    /** A heap buffer that counts the bytes a reader examines: each getByte, and each span indexOf searches. */
    private static final class CountingBuf extends UnpooledHeapByteBuf {
        long examined;

        CountingBuf() {
            super(UnpooledByteBufAllocator.DEFAULT, 256, Integer.MAX_VALUE);
        }

        @Override
        public byte getByte(int index) {
            examined++;
            return super.getByte(index);
        }

        @Override
        public int indexOf(int fromIndex, int toIndex, byte value) {
            examined += Math.abs(toIndex - fromIndex);
            return super.indexOf(fromIndex, toIndex, value);
        }
    }

    /**
     * A peer that sends one byte at a time must cost linear work, as for heads ({@link HeadScanner}): a long
     * chunk-size line (extensions) or trailer line is not searched again from its start on every read.
     */
    @Test
    void bytesArrivingOneByOneAreExaminedAFewTimesAtMost() {
        String body = "1;" + "e".repeat(4000) + "\r\nx\r\n1;" + "f".repeat(3000) + "\r\ny\r\n0\r\nX-A: "
                + "t".repeat(20_000) + "\r\nX-B: " + "u".repeat(10_000) + "\r\n\r\n";
        ChunkedDecoder decoder = new ChunkedDecoder(64 * 1024, MAX_TRAILERS);
        Collected sink = new Collected();
        CountingBuf cumulation = new CountingBuf();
        for (byte b : LeakCheck.bytes(body)) {
            cumulation.writeByte(b);
            assertEquals(ChunkedDecoder.OK, decoder.decode(cumulation, sink, leaks.alloc()));
        }
        assertTrue(decoder.isDone());
        assertEquals("xy", sink.data.toString());
        assertEquals("X-A: " + "t".repeat(20_000) + "\r\nX-B: " + "u".repeat(10_000) + "\r\n", sink.trailers);
        assertTrue(cumulation.examined < 8L * body.length(),
                () -> cumulation.examined + " bytes examined for " + body.length() + " received");
        assertTrue(cumulation.release());
    }
}
