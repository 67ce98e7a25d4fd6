package io.grapevine.proxy.http;

import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes X-Request-ID values: 32 lower-case hex digits (128 random bits), the form of a UUID without
 * dashes. Uses the calling thread's {@link ThreadLocalRandom}; holds no state, so any thread may share it.
 */
public final class RequestIdGenerator {

    private static final byte[] HEX = "0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    void writeNext(HeadBuilder out) {
        out.ensure(32);
        fill(out.array(), out.length());
        out.advance(32);
    }

    private static void fill(byte[] dst, int at) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        writeHex(dst, at, random.nextLong());
        writeHex(dst, at + 16, random.nextLong());
    }

    private static void writeHex(byte[] dst, int at, long value) {
        for (int i = 0; i < 16; i++) {
            dst[at + i] = HEX[(int) (value >>> (60 - 4 * i)) & 0xF];
        }
    }
}
