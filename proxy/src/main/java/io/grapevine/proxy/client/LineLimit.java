package io.grapevine.proxy.client;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * At most one log line per second for an event that a client can make as often as it likes (each connection it opens
 * and floods is one), whatever the event loop: the others are counted, and the next line says how many were not
 * logged, so nothing is lost but the lines. The counter the statistics keep for the same event counts every one.
 *
 * <p>Thread: any; lock-free (one compare-and-set per line, one increment per line not logged), and only reached
 * when the event happens, never per request.
 */
final class LineLimit {

    private static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** When the next line may be logged ({@link System#nanoTime}). */
    private final AtomicLong nextNanos = new AtomicLong();
    /** Events not logged since the last line. */
    private final AtomicLong notLogged = new AtomicLong();
    /** The monotonic clock, in nanoseconds: {@link System#nanoTime} but in tests. */
    private volatile LongSupplier clock = System::nanoTime;

    LineLimit() {
        reset(System::nanoTime);
    }

    /**
     * An event happened now: returns -1 if its line is not to be logged (it is counted), otherwise how many events
     * were not logged since the last line, for this line to say.
     */
    long admit() {
        long nowNanos = clock.getAsLong();
        long next = nextNanos.get();
        if (nowNanos - next < 0 || !nextNanos.compareAndSet(next, nowNanos + INTERVAL_NANOS)) {
            notLogged.incrementAndGet();
            return -1;
        }
        // An event counted by another thread between the compare-and-set and here goes to this line, not lost.
        return notLogged.getAndSet(0);
    }

    /**
     * The next event is logged, with nothing not logged before it, and time is read from {@code nanoClock} from now
     * on (a test's starting point).
     */
    void reset(LongSupplier nanoClock) {
        clock = nanoClock;
        notLogged.set(0);
        nextNanos.set(nanoClock.getAsLong() - INTERVAL_NANOS);
    }
}
