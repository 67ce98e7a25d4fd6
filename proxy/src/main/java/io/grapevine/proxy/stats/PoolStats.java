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
    /** Requests answered 429 because their client was over the pool's rate limit. */
    public final LongAdder rateLimited = new LongAdder();
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
     * #WAIT_NANOS}); each loop's written by that loop alone, read as one snapshot.
     */
    private final PerLoop<VersionedCounters> waits = new PerLoop<>(() -> new VersionedCounters(2));
    private static final int WAITED = 0;
    private static final int WAIT_NANOS = 1;
    /** Retries the retry budget did not allow. */
    public final LongAdder retriesDenied = new LongAdder();
    /** Ejections max_ejected_percent prevented. */
    public final LongAdder ejectionsPrevented = new LongAdder();

    /**
     * Event loop {@code loop} only: a request it serves took the slot the queue granted it after waiting {@code nanos}.
     * Counted as the request uses the slot, not as the queue grants it: one whose client left meanwhile gives the slot
     * back unused and ends abandoned instead, so that each queued request ends in one outcome, counted once, and no
     * counter ever goes back.
     */
    public void recordWait(int loop, long nanos) {
        waits.of(loop).add(WAITED, 1, WAIT_NANOS, Math.max(0, nanos));
    }

    /** Requests that got a server after waiting, and the sum of their waits: of the same requests. Any thread. */
    public Waits waits() {
        long[] read = new long[2];
        waits.forEach(w -> w.addTo(read));
        return new Waits(read[WAITED], read[WAIT_NANOS]);
    }

    /** @param nanos the sum of the waits of the {@code count} requests */
    public record Waits(long count, long nanos) {
    }

    /**
     * What became of the queued requests, read so that {@code queued >= waits.count + timeouts + abandoned} at every
     * reading (each queued request ends in at most one of them; the rest wait still, or are on their way to their
     * slot). Every outcome is counted after its request's entry ({@link #queued}, under the queue's lock as it
     * enters; the outcome on the request's loop, after its offer returned or its grant came through the lock): the
     * outcomes are read first, then the entries, so an outcome read has its entry read too. Read the other way, a
     * request that entered and timed out between the two reads would be an outcome without an entry. Any thread.
     */
    public QueueCounts queueCounts() {
        long abandoned = queueAbandoned.sum();
        long timeouts = queueTimeouts.sum();
        Waits waited = waits();
        return new QueueCounts(queued.sum(), waited, timeouts, abandoned);
    }

    /** What {@link #queueCounts} read. */
    public record QueueCounts(long queued, Waits waited, long timeouts, long abandoned) {
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
