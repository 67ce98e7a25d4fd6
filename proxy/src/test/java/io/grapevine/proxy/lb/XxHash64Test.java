package io.grapevine.proxy.lb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Against the reference implementation: the values are those of {@code xxhsum -H1} (xxHash 0.8.1). */
class XxHash64Test {

    private static long ascii(String s) {
        return XxHash64.hash(s.getBytes(StandardCharsets.US_ASCII));
    }

    /** {@code n} bytes {@code (i * 31 + 7) & 0xFF}: every branch of the algorithm for some n. */
    private static byte[] pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + 7);
        }
        return b;
    }

    @Test
    void knownStrings() {
        assertEquals(0xef46db3751d8e999L, ascii(""));
        assertEquals(0xd24ec4f1a98c6e5bL, ascii("a"));
        assertEquals(0x44bc2cf5ad770999L, ascii("abc"));
        assertEquals(0xc08b1587df65b7a7L, ascii("127.0.0.1"));
        assertEquals(0xb1dd4cc9e62ca011L, ascii("default/127.0.0.1:8001"));
    }

    @Test
    void everyLengthClass() {
        int[] lengths = {1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 31, 32, 33, 40, 63, 64, 65, 100, 257};
        long[] expected = {0xa96c7f0ce858bbb7L, 0x56e6957632a487f9L, 0xc60d15b1e3ff8f04L, 0x808815858624dd4eL,
            0xafbefc3d6c6f9a8eL, 0x3da5c7aa269683e0L, 0x4b17a9ba9e215c09L, 0x8fe8ab1c1fd0666eL, 0xae2a37eb9357caa7L,
            0xa19ad429b02bc413L, 0x4a74f3a1a39ad4a1L, 0x8d57d6a4671cc43dL, 0x62c9fd21ed857664L, 0x49b45332e280f187L,
            0x5c320a0d2707057fL, 0x7bbabbc45729d17eL, 0xf3980c34bae65dc1L, 0xefa0ad2d3e70c151L, 0x6ff15897658784e0L};
        for (int i = 0; i < lengths.length; i++) {
            assertEquals(expected[i], XxHash64.hash(pattern(lengths[i])), "length " + lengths[i]);
        }
    }

    @Test
    void anOffsetInsideALargerArrayHashesTheSameBytes() {
        byte[] inner = pattern(100);
        byte[] outer = new byte[120];
        System.arraycopy(inner, 0, outer, 13, 100);
        assertEquals(XxHash64.hash(inner), XxHash64.hash(outer, 13, 100, 0));
    }

    @Test
    void theSeedAndTheRehashIndexChangeTheValue() {
        byte[] b = pattern(20);
        assertNotEquals(XxHash64.hash(b, 0, 20, 0), XxHash64.hash(b, 0, 20, 1));
        assertNotEquals(XxHash64.rehash(42, 1), XxHash64.rehash(42, 2));
        assertEquals(XxHash64.rehash(42, 1), XxHash64.rehash(42, 1));
    }
}
