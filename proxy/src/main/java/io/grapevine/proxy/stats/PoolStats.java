package io.grapevine.proxy.stats;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one pool (a group of servers), kept across table generations (as its {@code PoolState} is): its
 * queue (HAProxy's {@code qcur} and {@code qmax}), the time requests waited in it, and the retries its budget
 * refused. Updated from every event loop without locks (the queue's own counts under its lock); read by the
 * admin thread.
 */
public final class PoolStats {
    /** Requests waiting in the queue now. */
    public final AtomicInteger queueCurrent = new AtomicInteger();
    /** The most requests that ever waited at once. */
    public final AtomicInteger queueMax = new AtomicInteger();
    /** Requests that entered the queue. */
    public final LongAdder queued = new LongAdder();
    /** Requests answered 503 because the queue was full. */
    public final LongAdder queueFull = new LongAdder();
    /**
     * Requests answered 503 because they waited {@code queue.timeout_ms} in vain, or because their pool left the
     * table while they waited (no server would come before their timeout).
     */
    public final LongAdder queueTimeouts = new LongAdder();
    /** Requests that left the queue because their client went away (or their request became void). */
    public final LongAdder queueAbandoned = new LongAdder();
    /**
     * Requests answered 503 because no server of the pool could take them (none available: down, draining, in
     * maintenance, ejected, or tried already), none having failed them: Envoy's {@code upstream_cx_none_healthy}. One
     * refused because every server is at its {@code max_conn} is {@link #queueFull}.
     */
    public final LongAdder noServer = new LongAdder();
    /**
     * Requests that got a server after waiting ({@link #WAITED}), and their total wait in nanoseconds ({@link
     * #WAIT_NANOS}); written under the queue's lock, read as one snapshot.
     */
    private final VersionedCounters waits = new VersionedCounters(2);
    private static final int WAITED = 0;
    private static final int WAIT_NANOS = 1;
    /** Retries the retry budget did not allow. */
    public final LongAdder retriesDenied = new LongAdder();
    /** Ejections max_ejected_percent prevented. */
    public final LongAdder ejectionsPrevented = new LongAdder();

    /**
     * A request got a server after waiting {@code nanos}. Called under the queue's lock, which makes the queue's
     * grants one writer at a time.
     */
    public void recordWait(long nanos) {
        waits.add(WAITED, 1, WAIT_NANOS, Math.max(0, nanos));
    }

    /**
     * A request granted a slot after waiting {@code nanos} ({@link #recordWait}) gave it back unused, its client gone:
     * it is no wait. Called under the queue's lock.
     */
    public void withdrawWait(long nanos) {
        waits.add(WAITED, -1, WAIT_NANOS, -nanos);
    }

    /** The last {@link #waits} returned; guarded by this object's monitor (the readers', never the queue's). */
    private Waits lastRead = new Waits(0, 0);

    /**
     * Requests that got a server after waiting, and the sum of their waits: of the same requests. Never less than
     * the last reading, in either: a wait withdrawn after a reading saw it ({@link #withdrawWait}) would make these
     * counters go back, which Prometheus takes for a restart; until both pass the last reading again it is read
     * again (itself a count and the sum of the same waits). The readers (the admin thread) take the monitor; the
     * queue never does.
     */
    public synchronized Waits waits() {
        long[] read = new long[2];
        waits.addTo(read);
        if (read[WAITED] >= lastRead.count() && read[WAIT_NANOS] >= lastRead.nanos()) {
            lastRead = new Waits(read[WAITED], read[WAIT_NANOS]);
        }
        return lastRead;
    }

    /** @param nanos the sum of the waits of the {@code count} requests */
    public record Waits(long count, long nanos) {
    }

    /**
     * Requests the pool turned away with a 503 of the proxy's own, no server having answered them: {@link #noServer},
     * {@link #queueFull}, {@link #queueTimeouts}. What its clients were refused beyond what its servers did. Any
     * thread; three sums, not read as of one moment.
     */
    public long shed() {
        return noServer.sum() + queueFull.sum() + queueTimeouts.sum();
    }

    /** The queue holds {@code depth} requests now (called under the queue's lock). */
    public void queueDepth(int depth) {
        queueCurrent.set(depth);
        if (depth > queueMax.get()) {
            queueMax.set(depth);
        }
    }
}
