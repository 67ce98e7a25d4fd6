package io.grapevine.proxy.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

class LatencyWindowTest {

    private static Histogram values(long micros, int count) {
        Histogram h = LatencyRecorder.newHistogram();
        h.recordValueWithCount(micros, count);
        return h;
    }

    @Test
    void theWindowForgetsWhatIsOlderThanAMinuteAndSinceStartDoesNot() {
        LatencyWindow w = new LatencyWindow();
        long t0 = -1_000_000_000_000L; // System.nanoTime() may be negative
        w.add(values(100_000, 10), 1_000_000, t0); // ten of 100 ms
        w.add(values(2_000, 90), 180_000, t0 + nanos(30_000)); // ninety of 2 ms, half a minute later
        Map<String, Object> both = LatencyWindow.summary(w.window(t0 + nanos(30_000)));
        assertEquals(100L, both.get("count"));
        assertWithin(2.0, (double) both.get("p50_ms"));
        assertWithin(100.0, (double) both.get("p99_ms"));

        Map<String, Object> later = LatencyWindow.summary(w.window(t0 + nanos(LatencyWindow.WINDOW_MILLIS + 1)));
        assertEquals(90L, later.get("count"), "the first values left the window");
        assertWithin(2.0, (double) later.get("p99_ms"));
        assertEquals(100L, w.sinceStart().getTotalCount());
        assertEquals(1_180_000L, w.sumMicros());

        Map<String, Object> empty = LatencyWindow.summary(w.window(t0 + nanos(10 * LatencyWindow.WINDOW_MILLIS)));
        assertEquals(0L, empty.get("count"));
        assertNull(empty.get("p50_ms"));
    }

    @Test
    void recordersOfSeveralLoopsMergeOnRead() {
        LatencyRecorder r = new LatencyRecorder();
        r.recordTotal(0, 5_000_000);
        r.recordTotal(3, 7_000_000);
        r.recordUpstream(1, 4_000_000);
        Histogram total = LatencyRecorder.newHistogram();
        Histogram upstream = LatencyRecorder.newHistogram();
        r.drainInto(total, upstream, LatencyRecorder.newHistogram());
        assertEquals(2, total.getTotalCount());
        assertEquals(1, upstream.getTotalCount());
        assertEquals(12_000, r.totalSumMicros());
        total.reset();
        upstream.reset();
        r.drainInto(total, upstream, LatencyRecorder.newHistogram());
        assertEquals(0, total.getTotalCount(), "a value is taken once");
    }

    private static long nanos(long millis) {
        return millis * 1_000_000;
    }

    private static void assertWithin(double expected, double actual) {
        assertTrue(actual >= expected && actual <= expected * 1.01, actual + " is not within 1 % above " + expected);
    }
}
