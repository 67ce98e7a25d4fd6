package io.grapevine.proxy.stats;

import java.util.LinkedHashMap;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * One latency series as the admin pages show it: everything since the start, and the last minute as a ring
 * of {@value #SLOTS} slots of {@value #SLOT_MILLIS} ms, so the window covers between 55 and 60 seconds.
 * Histograms are created only when a value arrives (an idle server costs a few references), and a slot that
 * falls out of the window is dropped. Slots follow the monotonic clock ({@link System#nanoTime}): a step of the
 * wall clock neither empties the window nor keeps old values in it.
 *
 * <p>Thread: one owner (the admin thread's collector) writes and reads; not thread-safe.
 */
public final class LatencyWindow {

    public static final int SLOTS = 12;
    public static final long SLOT_MILLIS = 5_000;
    /** The length of the window, for the documents that name it. */
    public static final long WINDOW_MILLIS = SLOTS * SLOT_MILLIS;
    private static final long SLOT_NANOS = SLOT_MILLIS * 1_000_000;

    private final Histogram[] slots = new Histogram[SLOTS];
    /** The slot number ({@link #slotNumber}) each entry of {@link #slots} holds. */
    private final long[] slotNumbers = new long[SLOTS];
    private Histogram sinceStart;
    private long sumMicros;

    /** Adds the values of {@code interval}, recorded up to {@code nowNanos} ({@link System#nanoTime}), and their sum. */
    public void add(Histogram interval, long intervalSumMicros, long nowNanos) {
        sumMicros += intervalSumMicros;
        if (interval.getTotalCount() == 0) {
            return;
        }
        if (sinceStart == null) {
            sinceStart = LatencyRecorder.newHistogram();
        }
        sinceStart.add(interval);
        long number = slotNumber(nowNanos);
        int i = Math.floorMod(number, SLOTS);
        if (slots[i] == null || slotNumbers[i] != number) {
            slots[i] = LatencyRecorder.newHistogram();
            slotNumbers[i] = number;
        }
        slots[i].add(interval);
    }

    /** Everything since the start; empty when nothing was recorded. */
    public Histogram sinceStart() {
        return sinceStart != null ? sinceStart : EMPTY;
    }

    /** Sum of every value since the start, in microseconds. */
    public long sumMicros() {
        return sumMicros;
    }

    /** The values of the last {@link #WINDOW_MILLIS} ms (whole slots) before {@code nowNanos}, merged. */
    public Histogram window(long nowNanos) {
        long current = slotNumber(nowNanos);
        Histogram merged = LatencyRecorder.newHistogram();
        for (int i = 0; i < SLOTS; i++) {
            if (slots[i] == null) {
                continue;
            }
            if (current - slotNumbers[i] >= SLOTS) {
                slots[i] = null; // out of the window: let it go
            } else {
                merged.add(slots[i]);
            }
        }
        return merged;
    }

    private static final Histogram EMPTY = LatencyRecorder.newHistogram();

    /** The slot of {@code nowNanos}; {@link System#nanoTime} may be negative, hence the floor. */
    private static long slotNumber(long nowNanos) {
        return Math.floorDiv(nowNanos, SLOT_NANOS);
    }

    /**
     * {@code {"count", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"}} of {@code h}; the
     * values are {@code null} when it is empty. Percentiles are the highest value of their 1 % bucket.
     */
    public static Map<String, Object> summary(Histogram h) {
        Map<String, Object> m = new LinkedHashMap<>();
        long count = h.getTotalCount();
        m.put("count", count);
        m.put("mean_ms", count == 0 ? null : millis(h.getMean()));
        m.put("p50_ms", count == 0 ? null : millis(h.getValueAtPercentile(50)));
        m.put("p90_ms", count == 0 ? null : millis(h.getValueAtPercentile(90)));
        m.put("p99_ms", count == 0 ? null : millis(h.getValueAtPercentile(99)));
        m.put("p999_ms", count == 0 ? null : millis(h.getValueAtPercentile(99.9)));
        m.put("max_ms", count == 0 ? null : millis(h.getMaxValue()));
        return m;
    }

    /** Microseconds to milliseconds, three decimals. */
    public static double millis(double micros) {
        return Math.round(micros) / 1000.0;
    }
}
