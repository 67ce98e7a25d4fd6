package io.grapevine.proxy.stats;

import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * One latency histogram as Prometheus exposes it: its labels, every value since the start (microseconds), their
 * exact sum, and their exact count per bucket.
 *
 * @param buckets values per bucket of {@link StatsFormats#LATENCY_BUCKETS}, then above the last bound ({@link
 *                LatencyRecorder#BUCKETS} counts, not cumulative), as {@link LatencyRecorder#addBucketCounts} counts
 *                them
 */
public record LatencySeries(Map<String, String> labels, Histogram sinceStart, long sumMicros, long[] buckets) {

    /** A series whose histogram holds exact values: its buckets are read from the histogram. */
    public LatencySeries(Map<String, String> labels, Histogram sinceStart, long sumMicros) {
        this(labels, sinceStart, sumMicros, bucketsOf(sinceStart));
    }

    private static long[] bucketsOf(Histogram h) {
        long[] buckets = new long[LatencyRecorder.BUCKETS];
        long below = 0;
        for (int i = 0; i < StatsFormats.LATENCY_BUCKETS.size(); i++) {
            long micros = StatsFormats.LATENCY_BUCKETS.get(i).movePointRight(6).longValueExact();
            long upTo = h.getTotalCount() == 0 ? 0 : Math.min(h.getTotalCount(), h.getCountBetweenValues(0, micros));
            buckets[i] = upTo - below;
            below = upTo;
        }
        buckets[buckets.length - 1] = h.getTotalCount() - below;
        return buckets;
    }
}
