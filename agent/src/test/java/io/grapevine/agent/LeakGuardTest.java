package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** The guard itself must be able to fail: a buffer dropped without release is reported. */
class LeakGuardTest {

    @Test
    void reportsAnUnreleasedPooledBuffer() {
        assertLeakReported("leak-guard-test-pooled", () -> ByteBufAllocator.DEFAULT.directBuffer(16));
    }

    @Test
    void reportsAnUnreleasedUnpooledDirectBuffer() {
        assertLeakReported("leak-guard-test-unpooled", () -> Unpooled.directBuffer(16));
    }

    private static void assertLeakReported(String hint, Supplier<ByteBuf> allocate) {
        leak(hint, allocate);
        long deadline = System.nanoTime() + 10_000_000_000L;
        List<String> found = List.of();
        while (found.isEmpty() && System.nanoTime() < deadline) {
            found = LeakGuard.collectLeaks(leak -> leak.contains(hint));
        }
        assertFalse(found.isEmpty(), "a buffer touched with '" + hint + "' and never released was not reported");
    }

    private static void leak(String hint, Supplier<ByteBuf> allocate) {
        ByteBuf buffer = allocate.get();
        buffer.writeLong(42);
        buffer.touch(hint);
    }
}
