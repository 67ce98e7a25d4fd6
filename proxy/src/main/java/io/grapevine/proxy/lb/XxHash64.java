package io.grapevine.proxy.lb;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * XXH64, Yann Collet's 64-bit xxHash (the reference is {@code xxhash.h}, version 0.8; test vectors from
 * {@code xxhsum -H1}): the hash of request keys and of server identities for the consistent hash. Fast on short
 * inputs, and every input bit affects every output bit. Not a MAC: nothing secret depends on it.
 *
 * <p>Pure functions; any thread.
 */
public final class XxHash64 {

    private static final long P1 = 0x9E3779B185EBCA87L;
    private static final long P2 = 0xC2B2AE3D27D4EB4FL;
    private static final long P3 = 0x165667B19E3779F9L;
    private static final long P4 = 0x85EBCA77C2B2AE63L;
    private static final long P5 = 0x27D4EB2F165667C5L;

    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private XxHash64() {
    }

    /** The hash of {@code b[off, off + len)} with {@code seed}. */
    public static long hash(byte[] b, int off, int len, long seed) {
        int p = off;
        int end = off + len;
        long h;
        if (len >= 32) {
            long v1 = seed + P1 + P2;
            long v2 = seed + P2;
            long v3 = seed;
            long v4 = seed - P1;
            int limit = end - 32;
            do {
                v1 = round(v1, (long) LONG.get(b, p));
                v2 = round(v2, (long) LONG.get(b, p + 8));
                v3 = round(v3, (long) LONG.get(b, p + 16));
                v4 = round(v4, (long) LONG.get(b, p + 24));
                p += 32;
            } while (p <= limit);
            h = Long.rotateLeft(v1, 1) + Long.rotateLeft(v2, 7) + Long.rotateLeft(v3, 12) + Long.rotateLeft(v4, 18);
            h = mergeRound(h, v1);
            h = mergeRound(h, v2);
            h = mergeRound(h, v3);
            h = mergeRound(h, v4);
        } else {
            h = seed + P5;
        }
        h += len;
        while (p + 8 <= end) {
            h ^= round(0, (long) LONG.get(b, p));
            h = Long.rotateLeft(h, 27) * P1 + P4;
            p += 8;
        }
        if (p + 4 <= end) {
            h ^= ((int) INT.get(b, p) & 0xFFFFFFFFL) * P1;
            h = Long.rotateLeft(h, 23) * P2 + P3;
            p += 4;
        }
        while (p < end) {
            h ^= (b[p] & 0xFFL) * P5;
            h = Long.rotateLeft(h, 11) * P1;
            p++;
        }
        return avalanche(h);
    }

    /** The hash of all of {@code b}, seed 0. */
    public static long hash(byte[] b) {
        return hash(b, 0, b.length, 0);
    }

    /** The hash of {@code s} in UTF-8, with {@code seed}. */
    public static long hash(String s, long seed) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        return hash(b, 0, b.length, seed);
    }

    /**
     * A new, independent-looking 64-bit value for each {@code (value, i)} (the finalizer of SplitMix64 over
     * {@code value + i * golden ratio}): the {@code i}-th further choice of a key.
     */
    static long rehash(long value, long i) {
        long z = value + i * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static long round(long acc, long input) {
        acc += input * P2;
        acc = Long.rotateLeft(acc, 31);
        return acc * P1;
    }

    private static long mergeRound(long acc, long value) {
        acc ^= round(0, value);
        return acc * P1 + P4;
    }

    private static long avalanche(long h) {
        h ^= h >>> 33;
        h *= P2;
        h ^= h >>> 29;
        h *= P3;
        h ^= h >>> 32;
        return h;
    }
}
