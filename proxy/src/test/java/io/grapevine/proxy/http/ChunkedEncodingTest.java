package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ChunkedEncodingTest {

    @RegisterExtension
    static final LeakCheck leaks = new LeakCheck();

    @ParameterizedTest
    @CsvSource({"1, 1", "9, 9", "10, a", "15, f", "16, 10", "255, ff", "256, 100", "4096, 1000",
            "2147483647, 7fffffff", "1152921504606846975, fffffffffffffff"})
    void chunkHeaderIsLowerCaseHexWithoutLeadingZeros(long size, String hex) {
        assertEquals(hex + "\r\n", LeakCheck.take(ChunkedEncoding.chunkHeader(leaks.alloc(), size)));
    }

    @Test
    void chunkEndAndLastChunkAreSharedAndSurviveRelease() {
        for (int i = 0; i < 3; i++) {
            ByteBuf end = ChunkedEncoding.chunkEnd();
            assertEquals("\r\n", LeakCheck.str(end));
            assertFalse(end.release());
            ByteBuf last = ChunkedEncoding.lastChunk(leaks.alloc(), null);
            assertEquals("0\r\n\r\n", LeakCheck.str(last));
            last.skipBytes(2);
            assertFalse(last.release());
        }
    }

    @Test
    void lastChunkTakesOwnershipOfTheTrailers() {
        ByteBuf trailers = leaks.buf("X-Sum: 1\r\n");
        ByteBuf last = ChunkedEncoding.lastChunk(leaks.alloc(), trailers);
        assertEquals(0, trailers.refCnt());
        assertEquals("0\r\nX-Sum: 1\r\n\r\n", LeakCheck.take(last));
    }

    /** Encoded with random chunk sizes, decoded with random splits: the same bytes and trailers come out. */
    @Test
    void roundTrip() {
        Random random = new Random(20240611);
        for (int round = 0; round < 200; round++) {
            byte[] data = new byte[random.nextInt(round < 100 ? 64 : 70_000)];
            random.nextBytes(data);
            String trailers = random.nextBoolean() ? null : "X-Round: " + round + "\r\nX-B: b\r\n";
            StringBuilder wire = new StringBuilder();
            for (int at = 0; at < data.length; ) {
                int n = Math.min(data.length - at, 1 + random.nextInt(random.nextBoolean() ? 16 : 20_000));
                wire.append(LeakCheck.take(ChunkedEncoding.chunkHeader(leaks.alloc(), n)));
                wire.append(new String(data, at, n, StandardCharsets.ISO_8859_1));
                wire.append(LeakCheck.str(ChunkedEncoding.chunkEnd()));
                at += n;
            }
            ByteBuf t = trailers == null ? null : leaks.buf(trailers);
            ByteBuf last = ChunkedEncoding.lastChunk(leaks.alloc(), t);
            wire.append(LeakCheck.str(last));
            last.release();
            String encoded = wire.toString();

            List<String> parts = new ArrayList<>();
            for (int at = 0; at < encoded.length(); ) {
                int n = Math.min(encoded.length() - at, 1 + random.nextInt(random.nextBoolean() ? 3 : 5000));
                parts.add(encoded.substring(at, at + n));
                at += n;
            }
            ChunkedDecoderTest.Outcome out = ChunkedDecoderTest.decode(leaks, parts.toArray(new String[0]));
            assertEquals(ChunkedDecoderTest.Outcome.ok(new String(data, StandardCharsets.ISO_8859_1),
                    trailers, ""), out, "round " + round);
        }
    }
}
