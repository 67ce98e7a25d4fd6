package io.grapevine.proxy.stats;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A few counters that change together and are read together: one writer at a time (a single thread, or writers a
 * lock serializes) adds to two of them as one change, and any thread reads all of them as of one moment, so that a
 * count and the sum of what it counts describe the same values. The writer brackets its change with a version it
 * makes odd while it writes; the reader retries until it reads all counters between two equal even versions.
 *
 * <p>The writer takes no lock and does no read-modify-write: plain reads and release stores only.
 */
public final class VersionedCounters {

    /** The counters, then the version (odd while the writer writes). */
    private final AtomicLongArray slots;
    private final int version;

    public VersionedCounters(int counters) {
        this.slots = new AtomicLongArray(counters + 1);
        this.version = counters;
    }

    /**
     * The writer only: adds {@code a} to counter {@code i} and {@code b} to counter {@code j}, inside an odd version
     * so that a reader takes both or neither. Each store is a release store: the odd version is visible before the
     * counters, and they before the even version. A second writer must come after this one (a lock between them).
     */
    public void add(int i, long a, int j, long b) {
        long v = slots.getPlain(version);
        slots.lazySet(version, v + 1);
        slots.lazySet(i, slots.getPlain(i) + a);
        slots.lazySet(j, slots.getPlain(j) + b);
        slots.lazySet(version, v + 2);
    }

    /** Counter {@code i} now, on its own (not as of one moment with the others). */
    public long get(int i) {
        return slots.get(i);
    }

    /** Any thread: adds every counter, as of one moment, to {@code into} (as long as the counters, at least). */
    public void addTo(long[] into) {
        long[] read = new long[version];
        for (int tries = 1; ; tries++) {
            long before = slots.get(version); // volatile reads: none is done before this one or after the next
            if ((before & 1) == 0) {
                for (int i = 0; i < version; i++) {
                    read[i] = slots.get(i);
                }
                if (slots.get(version) == before) {
                    break;
                }
            }
            if (tries % 64 == 0) {
                Thread.yield(); // the writer was descheduled mid-write
            } else {
                Thread.onSpinWait();
            }
        }
        for (int i = 0; i < version; i++) {
            into[i] += read[i];
        }
    }
}
