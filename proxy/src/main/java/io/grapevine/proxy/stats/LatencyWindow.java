package io.grapevine.proxy.stats;

import java.util.LinkedHashMap;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * One latency series as the admin pages show it: everything since the start, and the last minute as a ring
 * of {@value #SLOTS} slots of {@value #SLOT_MILLIS} ms, so the window covers between 55 and 60 seconds.
 * Histograms are created only when a value arrives (an idle server costs a few references), and a slot that
 * falls out of the window is dropped.
 *
 * <p>Thread: one owner (the admin thread's collector) writes and reads; not thread-safe.
 */
public final class LatencyWindow {

    public static final int SLOTS = 12;
    public static final long SLOT_MILLIS = 5_000;
    /** The length of the window, for the documents that name it. */
    public static final long WINDOW_MILLIS = SLOTS * SLOT_MILLIS;

    private final Histogram[] slots = new Histogram[SLOTS];
    /** The slot number ({@code millis / SLOT_MILLIS}) each entry of {@link #slots} holds. */
    private final long[] slotNumbers = new long[SLOTS];
    private Histogram sinceStart;
    private long sumMicros;

    /** Adds the values of {@code interval}, recorded up to {@code nowMillis}, and their sum. */
    public void add(Histogram interval, long intervalSumMicros, long nowMillis) {
        sumMicros += intervalSumMicros;
        if (interval.getTotalCount() == 0) {
            return;
        }
        if (sinceStart == null) {
            sinceStart = LatencyRecorder.newHistogram();
        }
        sinceStart.add(interval);
        long number = nowMillis / SLOT_MILLIS;
        int i = (int) (number % SLOTS);
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

    /** The values of the last {@link #WINDOW_MILLIS} ms (whole slots), merged into a new histogram. */
    public Histogram window(long nowMillis) {
        long current = nowMillis / SLOT_MILLIS;
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
