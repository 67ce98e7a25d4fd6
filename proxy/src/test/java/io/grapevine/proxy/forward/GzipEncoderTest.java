package io.grapevine.proxy.forward;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.stats.ProxyStats;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

class GzipEncoderTest {

    private final List<ByteBuf> outputs = new ArrayList<>();

    private byte[] taken() {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (ByteBuf b : outputs) {
            byte[] bytes = new byte[b.readableBytes()];
            b.readBytes(bytes);
            all.write(bytes, 0, bytes.length);
            assertTrue(b.release(), "each output buffer is the sink's, held once");
        }
        outputs.clear();
        return all.toByteArray();
    }

    private static byte[] gunzip(byte[] gz) throws Exception {
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
            return in.readAllBytes();
        }
    }

    @Test
    void aBodyWrittenInPartsOfEveryKindGunzipsToItselfWithItsCrcAndLength() throws Exception {
        Random r = new Random(42);
        byte[] body = new byte[3_000_000]; // incompressible: many output buffers, and an ISIZE past 2^21
        r.nextBytes(body);
        for (int i = 0; i < body.length / 2; i++) {
            body[i] = (byte) ('a' + (i % 7)); // and a compressible half
        }
        Compressors compressors = new Compressors(1, new ProxyStats());
        GzipEncoder gz = new GzipEncoder(compressors, 6, PooledByteBufAllocator.DEFAULT);
        int at = 0;
        int part = 1;
        while (at < body.length) {
            int n = Math.min(part, body.length - at);
            ByteBuf in;
            if (part % 3 == 0) { // a composite of a heap and a direct buffer
                CompositeByteBuf c = Unpooled.compositeBuffer();
                int half = n / 2;
                c.addComponent(true, Unpooled.wrappedBuffer(body, at, half));
                ByteBuf direct = PooledByteBufAllocator.DEFAULT.directBuffer(n - half);
                direct.writeBytes(body, at + half, n - half);
                c.addComponent(true, direct);
                in = c;
            } else {
                in = PooledByteBufAllocator.DEFAULT.directBuffer(n);
                in.writeBytes(body, at, n);
            }
            gz.write(in, outputs::add);
            assertEquals(0, in.refCnt(), "the input is released");
            at += n;
            part = part * 2 + 1 > 200_000 ? 1 : part * 2 + 1;
            if (part == 127) {
                gz.flush(outputs::add);
            }
        }
        gz.finish(outputs::add);
        assertEquals(0, compressors.inUse());
        assertTrue(compressors.available());
        long outBytes = gz.outputBytes();
        byte[] compressed = taken();
        assertEquals(compressed.length, outBytes);
        assertEquals(body.length, gz.inputBytes());
        assertArrayEquals(body, gunzip(compressed));
    }

    @Test
    void aFlushOfAFewBytesLeavesInABufferOfTheirSize() throws Exception {
        Compressors compressors = new Compressors(1, new ProxyStats());
        GzipEncoder gz = new GzipEncoder(compressors, 1, PooledByteBufAllocator.DEFAULT);
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < 50; i++) {
            String event = "data: event " + i + "\n\n";
            all.append(event);
            ByteBuf in = PooledByteBufAllocator.DEFAULT.directBuffer();
            in.writeCharSequence(event, java.nio.charset.StandardCharsets.US_ASCII);
            gz.write(in, outputs::add);
            int before = outputs.size();
            gz.flush(outputs::add);
            assertEquals(before + 1, outputs.size(), "each event leaves at its flush");
            ByteBuf last = outputs.get(outputs.size() - 1);
            assertTrue(last.capacity() < GzipEncoder.COPY_BELOW,
                    "a buffer of about its bytes, not of " + GzipEncoder.OUT_BYTES + ": " + last.capacity());
        }
        gz.finish(outputs::add);
        assertArrayEquals(all.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII), gunzip(taken()));
    }

    @Test
    void anEmptyBodyIsAValidGzipStreamAndAReleaseAfterFinishChangesNothing() throws Exception {
        Compressors compressors = new Compressors(2, new ProxyStats());
        GzipEncoder gz = new GzipEncoder(compressors, 1, PooledByteBufAllocator.DEFAULT);
        gz.flush(outputs::add);
        gz.finish(outputs::add);
        gz.release();
        assertEquals(0, compressors.inUse());
        assertArrayEquals(new byte[0], gunzip(taken()));
    }

    @Test
    void theLoopsShareOfCompressorsIsBoundedAndGivenBack() {
        assertEquals(0, Compressors.shareOf(0, 2));
        assertEquals(1, Compressors.shareOf(1, 2));
        assertEquals(128, Compressors.shareOf(256, 2));
        assertEquals(86, Compressors.shareOf(256, 3));
        Compressors c = new Compressors(2, new ProxyStats());
        GzipEncoder a = new GzipEncoder(c, 1, PooledByteBufAllocator.DEFAULT);
        GzipEncoder b = new GzipEncoder(c, 9, PooledByteBufAllocator.DEFAULT);
        assertEquals(false, c.available());
        a.release();
        a.release();
        assertEquals(1, c.inUse(), "a second release gives nothing back twice");
        b.release();
        assertEquals(0, c.inUse());
        c.close();
    }
}
