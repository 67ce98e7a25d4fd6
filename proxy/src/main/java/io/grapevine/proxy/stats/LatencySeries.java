package io.grapevine.proxy.stats;

import java.util.Map;

/**
 * One latency histogram as Prometheus exposes it: its labels, the exact sum of its values since the start
 * (microseconds), and their exact count per bucket.
 *
 * @param sumMicros the sum of the values the buckets count, read with them
 * @param buckets values per bucket of {@link StatsFormats#LATENCY_BUCKETS}, then above the last bound ({@link
 *                LatencyRecorder#BUCKETS} counts, not cumulative), as {@link LatencyRecorder#addBucketCounts} counts
 *                them
 */
public record LatencySeries(Map<String, String> labels, long sumMicros, long[] buckets) {

    /** The series of {@code series}: buckets then sum, as {@link LatencyRecorder#addBucketCounts} adds them. */
    public static LatencySeries of(Map<String, String> labels, long[] series) {
        return new LatencySeries(labels, series[LatencyRecorder.SUM], series);
    }
}
