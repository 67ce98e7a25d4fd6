package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Buffer accounting for the byte-level tests. Every buffer the code under test allocates through
 * {@link #alloc()}, and every input made by {@link #buf}, is recorded; after each test all of them must have
 * been released (refCnt 0), so a leak in the parser or in the test fails the test that caused it. A retained
 * slice holds a reference to its parent, so a leaked slice keeps its parent alive and is caught too.
 *
 * <p>Netty's own detector (PARANOID in tests) is hooked as a second net: whatever it reports (it reports
 * after a garbage collection, so only a best effort at the end of a class) fails the class.
 *
 * <p>Register with {@code @RegisterExtension static final LeakCheck leaks = new LeakCheck();} (static, so
 * that the class-level check runs too).
 */
final class LeakCheck implements AfterEachCallback, AfterAllCallback {

    private static final List<String> REPORTED = new CopyOnWriteArrayList<>();

    static {
        try {
            Field f = Class.forName("io.netty.buffer.AbstractByteBuf").getDeclaredField("leakDetector");
            f.setAccessible(true);
            ((ResourceLeakDetector<?>) f.get(null)).setLeakListener((type, records) -> REPORTED.add(type + records));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final List<ByteBuf> recorded = new ArrayList<>();
    private final ByteBufAllocator alloc = new Recording();

    /** A pooled allocator that records what it hands out. */
    ByteBufAllocator alloc() {
        return alloc;
    }

    /** A recorded direct buffer holding {@code s} as ISO-8859-1 (each char one byte, 0x00-0xFF). */
    ByteBuf buf(String s) {
        return buf(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    ByteBuf buf(byte[] bytes) {
        return alloc.directBuffer(Math.max(bytes.length, 1)).writeBytes(bytes);
    }

    /** The readable bytes as ISO-8859-1; the buffer is left unchanged. */
    static String str(ByteBuf buf) {
        return buf.toString(buf.readerIndex(), buf.readableBytes(), StandardCharsets.ISO_8859_1);
    }

    /** The readable bytes as ISO-8859-1, then releases the buffer (null stays null). */
    static String take(ByteBuf buf) {
        if (buf == null) {
            return null;
        }
        String s = str(buf);
        assertTrue(buf.release(), "buffer still referenced elsewhere");
        return s;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<String> leaked = new ArrayList<>();
        for (ByteBuf b : recorded) {
            if (b.refCnt() != 0) {
                leaked.add("refCnt " + b.refCnt() + ": " + b);
            }
        }
        recorded.clear();
        if (!leaked.isEmpty()) {
            fail("unreleased buffers: " + leaked);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        // The detector notices an unreleased buffer only after it was collected and the reference queued,
        // and reports it when the next buffer is tracked. There is no condition to wait for when nothing
        // leaked, so this gives the collector a few short chances and then stops.
        for (int i = 0; i < 3 && REPORTED.isEmpty(); i++) {
            System.gc();
            Thread.sleep(20);
            for (int j = 0; j < 8; j++) {
                PooledByteBufAllocator.DEFAULT.directBuffer(8).release();
            }
        }
        if (!REPORTED.isEmpty()) {
            String first = REPORTED.get(0);
            REPORTED.clear();
            fail("Netty leak detector reported a leak: " + first);
        }
    }

    private final class Recording extends AbstractByteBufAllocator {
        Recording() {
            super(true);
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            return record(PooledByteBufAllocator.DEFAULT.heapBuffer(initialCapacity, maxCapacity));
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            return record(PooledByteBufAllocator.DEFAULT.directBuffer(initialCapacity, maxCapacity));
        }

        @Override
        public boolean isDirectBufferPooled() {
            return true;
        }

        private ByteBuf record(ByteBuf b) {
            recorded.add(b);
            return b;
        }
    }
}
