package io.grapevine.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.buffer.ByteBuf;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/** The buffer accounting the other tests rely on must itself be able to fail. */
class LeakCheckTest {

    @Test
    void anUnreleasedBufferFailsTheTest() {
        LeakCheck leaks = new LeakCheck();
        ByteBuf kept = leaks.alloc().directBuffer(4).writeInt(1);
        leaks.buf("input").release();
        assertThrows(AssertionFailedError.class, () -> leaks.afterEach(null));
        kept.release();
    }

    @Test
    void aLeakedRetainedSliceFailsTheTest() {
        LeakCheck leaks = new LeakCheck();
        ByteBuf in = leaks.buf("hello");
        ByteBuf slice = in.readRetainedSlice(2);
        in.release();
        assertEquals(1, slice.refCnt());
        assertThrows(AssertionFailedError.class, () -> leaks.afterEach(null));
        slice.release();
        leaks.afterEach(null);
    }

    @Test
    void releasedBuffersPass() {
        LeakCheck leaks = new LeakCheck();
        leaks.alloc().heapBuffer().release();
        leaks.alloc().buffer(8).release();
        leaks.buf("x").release();
        leaks.afterEach(null);
    }
}
