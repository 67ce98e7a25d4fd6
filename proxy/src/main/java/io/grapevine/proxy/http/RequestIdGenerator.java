package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes X-Request-ID values: 32 lower-case hex digits (128 random bits), the form of a UUID without
 * dashes. Uses the calling thread's {@link ThreadLocalRandom}; holds no state, so any thread may share it.
 */
public final class RequestIdGenerator {

    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    public void writeNext(ByteBuf out) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        writeHex(out, random.nextLong());
        writeHex(out, random.nextLong());
    }

    private static void writeHex(ByteBuf out, long value) {
        for (int shift = 60; shift >= 0; shift -= 4) {
            out.writeByte(HEX[(int) (value >>> shift) & 0xF]);
        }
    }
}
