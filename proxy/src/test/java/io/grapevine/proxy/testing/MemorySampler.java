package io.grapevine.proxy.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.util.internal.PlatformDependent;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Samples Netty's count of direct memory ({@link PlatformDependent#usedDirectMemory()}, the whole JVM) every
 * few milliseconds on a thread of its own; {@link #stop} returns the peak growth over the baseline.
 */
public final class MemorySampler {
    private final long baseline = PlatformDependent.usedDirectMemory();
    private final AtomicLong peak = new AtomicLong(baseline);
    private final Thread thread;
    private volatile boolean running = true;

    public MemorySampler() {
        assertTrue(baseline >= 0, "Netty does not count direct memory in this JVM");
        thread = new Thread(() -> {
            while (running) {
                peak.accumulateAndGet(PlatformDependent.usedDirectMemory(), Math::max);
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "direct-memory-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    /** The peak growth so far, without stopping. */
    public long growth() {
        return peak.get() - baseline;
    }

    public long stop() throws InterruptedException {
        running = false;
        thread.join(1000);
        return peak.get() - baseline;
    }
}
