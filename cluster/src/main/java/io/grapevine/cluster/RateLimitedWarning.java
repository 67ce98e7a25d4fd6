package io.grapevine.cluster;

import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;

/**
 * One kind of warning that may repeat at network speed (a dropped frame, a refused connection): logged at most
 * once every {@link #EVERY_MILLIS}, with how many happened since the last line. Thread-safe.
 */
final class RateLimitedWarning {

    static final long EVERY_MILLIS = 10_000;

    private final Logger log;
    /** The line's start; the count and the latest detail follow: "{what}: {n} since the last report; latest: ...". */
    private final String what;
    private final LongAdder sinceLast = new LongAdder();
    private long lastMillis = Long.MIN_VALUE / 2;

    RateLimitedWarning(Logger log, String what) {
        this.log = log;
        this.what = what;
    }

    /** Counts one occurrence and logs it with {@code detail} unless a line went out less than 10 s ago. */
    void warn(String detail) {
        sinceLast.increment();
        long now = System.nanoTime() / 1_000_000;
        synchronized (this) {
            if (now - lastMillis < EVERY_MILLIS) {
                return;
            }
            lastMillis = now;
        }
        log.warn("{}: {} since the last report; latest: {}", what, sinceLast.sumThenReset(), detail);
    }
}
