package io.grapevine.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.Arrays;

/**
 * Assembles a message head in a reusable heap array, then copies it into a direct buffer in one piece.
 * Writing a head field by field into a direct buffer costs a reference-count and bounds check per call;
 * here the pieces are plain array copies. One instance per parser (per event loop); not thread-safe.
 */
final class HeadBuilder {

    private byte[] buf = new byte[2048];
    private int length;

    HeadBuilder reset(int expected) {
        length = 0;
        if (buf.length < expected) {
            buf = new byte[Math.max(expected, buf.length * 2)];
        }
        return this;
    }

    HeadBuilder put(byte[] bytes) {
        return put(bytes, 0, bytes.length);
    }

    HeadBuilder put(byte[] bytes, int offset, int count) {
        ensure(count);
        System.arraycopy(bytes, offset, buf, length, count);
        length += count;
        return this;
    }

    HeadBuilder put(byte b) {
        ensure(1);
        buf[length++] = b;
        return this;
    }

    HeadBuilder putDecimal(long value) {
        int digits = 1;
        for (long v = value; v >= 10; v /= 10) {
            digits++;
        }
        ensure(digits);
        long v = value;
        for (int i = length + digits - 1; i >= length; i--) {
            buf[i] = (byte) ('0' + v % 10);
            v /= 10;
        }
        length += digits;
        return this;
    }

    /** Room for {@code count} bytes written directly at {@link #array()}[{@link #length()}]. */
    void ensure(int count) {
        if (length + count > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(length + count, buf.length * 2));
        }
    }

    byte[] array() {
        return buf;
    }

    int length() {
        return length;
    }

    void advance(int count) {
        length += count;
    }

    /** The head as a new direct buffer of exactly its size. */
    ByteBuf toBuffer(ByteBufAllocator alloc) {
        return toBuffer(alloc, 0);
    }

    /** The head as a new direct buffer with {@code room} writable bytes after it, and no more. */
    ByteBuf toBuffer(ByteBufAllocator alloc, int room) {
        return alloc.directBuffer(length + room, length + room).writeBytes(buf, 0, length);
    }
}
