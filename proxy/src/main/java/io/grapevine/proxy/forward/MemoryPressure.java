package io.grapevine.proxy.forward;

import io.grapevine.proxy.net.DirectMemoryCap;
import io.grapevine.proxy.stats.ProxyStats;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Direct memory near its limit, and what the event loops do about it: each loop's sweep closes its client connections
 * that have taken too little of what the proxy has to send them for over {@link #STALLED_NANOS}
 * ({@link ClientConnection#stalledSinceNanos}: a socket over its high-water mark all that while), and of the others
 * the HTTP/2 streams whose response waited that long for a window ({@link ClientConnection#shedStalledStreams}), as
 * Envoy's overload manager resets its highest-memory streams. Those hold the proxy's buffers: a response read from
 * the backend and waiting for a client that does not read it, reads it too slowly to drain what waits, or grants
 * no window for it.
 *
 * <p>{@link DirectMemoryCap} bounds what HTTP/1.1 connections can hold; an HTTP/2 connection holds up to one backend
 * read per stream, so many streams of clients that read nothing can still take the memory that every other
 * connection needs. At the limit an allocation fails and the connection that happened to need it is closed, whoever
 * its client; under pressure the ones that cause it go first.
 *
 * <p>One for the whole proxy, shared by its loops (any thread): its log line is rate-limited across them.
 */
public final class MemoryPressure {

    private static final Logger log = LoggerFactory.getLogger(MemoryPressure.class);

    /**
     * The room left under the limit below which the loops shed stalled client connections: a tenth of the limit, or
     * {@link #MIN_ROOM} if that is more (what the loops' sweeps, half a second apart, must have to act in).
     */
    public static final double ROOM_SHARE = 0.1;
    public static final long MIN_ROOM = 32L << 20;
    /** How long a client connection must have taken too little to be shed. */
    public static final long STALLED_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final long LOG_EVERY_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final long MIB = 1 << 20;

    private final long limit;
    private final long threshold;
    private final LongSupplier used;
    /** When the last line was logged; what was shed since then is counted in {@link #unlogged}, {@link #unloggedStreams}. */
    private final AtomicLong lastLogNanos = new AtomicLong(System.nanoTime() - LOG_EVERY_NANOS);
    private final AtomicLong unlogged = new AtomicLong();
    private final AtomicLong unloggedStreams = new AtomicLong();

    /**
     * @param limit the direct memory limit in bytes; -1 if unknown (never under pressure)
     * @param used  the direct memory in use now, in bytes
     */
    public MemoryPressure(long limit, LongSupplier used) {
        this.limit = limit;
        this.threshold = limit > 0 ? threshold(limit) : Long.MAX_VALUE;
        this.used = used;
    }

    /** The direct memory in use above which a {@code limit} is under pressure: the limit less its room, at least half. */
    public static long threshold(long limit) {
        return Math.max(limit / 2, limit - Math.max((long) (limit * ROOM_SHARE), MIN_ROOM));
    }

    /** This process's limit and use ({@link DirectMemoryCap#limitNow}, {@link DirectMemoryCap#usedNow}). */
    public static MemoryPressure ofThisProcess() {
        return new MemoryPressure(DirectMemoryCap.limitNow(), DirectMemoryCap::usedNow);
    }

    /** The direct memory in use is above the {@link #threshold}. */
    boolean isHigh() {
        return threshold != Long.MAX_VALUE && used.getAsLong() > threshold;
    }

    /**
     * Whether a client connection, or an HTTP/2 stream, stalled since {@code stalledSinceNanos} (0: not) is to be shed
     * at {@code nowNanos}.
     */
    public static boolean isShed(long stalledSinceNanos, long nowNanos) {
        return stalledSinceNanos != 0 && nowNanos - stalledSinceNanos > STALLED_NANOS;
    }

    /**
     * A loop closed {@code connections} stalled client connections and reset {@code streams} stalled HTTP/2 streams
     * under pressure: counted, and said in a line a second.
     */
    void shed(int connections, int streams, ProxyStats stats, long nowNanos) {
        stats.connectionsShed.add(connections);
        stats.http2StreamsShed.add(streams);
        unlogged.addAndGet(connections);
        unloggedStreams.addAndGet(streams);
        long last = lastLogNanos.get();
        if (nowNanos - last >= LOG_EVERY_NANOS && lastLogNanos.compareAndSet(last, nowNanos)) {
            long closed = unlogged.getAndSet(0);
            long reset = unloggedStreams.getAndSet(0);
            log.warn("direct memory {} MiB, within {} MiB of its {} MiB limit: closed {} client connections and reset {}"
                            + " HTTP/2 streams that had taken too little of their responses for over {} ms (clients"
                            + " reading nothing or too slowly, or granting no window, holding the proxy's buffers), {}"
                            + " and {} since the start (connections_shed, http2_streams_shed)",
                    used.getAsLong() / MIB, (limit - threshold) / MIB, limit / MIB, closed, reset,
                    TimeUnit.NANOSECONDS.toMillis(STALLED_NANOS), stats.connectionsShed.sum(),
                    stats.http2StreamsShed.sum());
        }
    }
}
