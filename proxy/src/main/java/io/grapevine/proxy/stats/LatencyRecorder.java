package io.grapevine.proxy.stats;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.SingleWriterRecorder;

/**
 * The latencies of one server's exchanges, as they are recorded: one pair of HdrHistogram recorders per event
 * loop, each written by that loop alone, so recording takes no lock (a {@link SingleWriterRecorder} costs a
 * few uncontended atomic increments), and read by one reader thread (the admin thread's collector), which
 * takes each recorder's interval histogram, leaving the recorder empty.
 *
 * <p>Two latencies per exchange: <em>total</em>, from the request head read to the response complete, and
 * <em>upstream</em>, from the start of the last attempt (connect or reuse of an idle connection) to the
 * backend's response head. Values are microseconds up to an hour (longer ones count as an hour). The
 * recorders are plain (not packed) histograms with one significant digit (a value lands in a bin at most
 * 1/16 = 6.25 % wide): recording is an array increment, and a server costs about 15 KiB per event loop that
 * served it. Packed histograms would take less memory but rebuild their structure every time the reader
 * swaps the interval, which measured at about a microsecond per exchange on the event loop. What the reader
 * merges them into ({@link #newHistogram}) is packed, with two digits; each recorded bin counts at its highest
 * value there, so a percentile reads at most 6.25 % high, never low. Those bins are too wide for Prometheus'
 * buckets, which are counted exactly beside them (one array element per exchange).
 *
 * <p>A loop's recorders are created the first time that loop records for this server (copy-on-write array
 * under a lock taken only then); afterwards the hot path reads one volatile array.
 */
public final class LatencyRecorder {

    /** Significant digits of the merged histograms (the reader's). */
    public static final int SIGNIFICANT_DIGITS = 2;
    /** Significant digits of the recorders on the event loops. */
    static final int RECORDING_DIGITS = 1;
    /** The longest latency told apart, in microseconds (an hour); longer ones are recorded as this. */
    static final long HIGHEST_MICROS = 3_600_000_000L;

    /**
     * The Prometheus buckets ({@link StatsFormats#LATENCY_BUCKETS}, then +Inf), counted exactly on the event loops:
     * the recorders' bins are too wide to say on which side of a bound a value near it was, and {@code le} means at
     * most the bound.
     */
    public static final int BUCKETS = StatsFormats.LATENCY_BUCKETS.size() + 1;
    /** Index of the sum (microseconds) in a series as {@link #addBucketCounts} adds it, after the buckets. */
    public static final int SUM = BUCKETS;
    /** Length of a series as {@link #addBucketCounts} adds it: the buckets, then the sum. */
    public static final int SERIES = BUCKETS + 1;
    private static final long[] BOUND_NANOS = StatsFormats.LATENCY_BUCKETS.stream()
            .mapToLong(le -> le.movePointRight(9).longValueExact()).toArray();

    private static final class Recorders {
        final SingleWriterRecorder total = new SingleWriterRecorder(1, HIGHEST_MICROS, RECORDING_DIGITS);
        final SingleWriterRecorder upstream = new SingleWriterRecorder(1, HIGHEST_MICROS, RECORDING_DIGITS);
        /**
         * Values per bucket since the start and their sum ({@link #SUM}); written by this loop only, read by {@link
         * #addBucketCounts} as one snapshot.
         */
        final VersionedCounters totalBuckets = new VersionedCounters(SERIES);
        final VersionedCounters upstreamBuckets = new VersionedCounters(SERIES);
    }

    private final PerLoop<Recorders> perLoop = new PerLoop<>(Recorders::new);

    /** A new, empty histogram of the kind every latency histogram is (microseconds, auto-resizing, packed). */
    public static Histogram newHistogram() {
        return new org.HdrHistogram.PackedHistogram(SIGNIFICANT_DIGITS);
    }

    /** A histogram shaped like the recorders, for {@link #drainInto}'s scratch space. */
    public static Histogram newScratch() {
        return new Histogram(1, HIGHEST_MICROS, RECORDING_DIGITS);
    }

    /** Event loop {@code loop} only: one exchange took {@code nanos} from request head to response end. */
    public void recordTotal(int loop, long nanos) {
        long micros = toMicros(nanos);
        Recorders r = recorders(loop);
        r.total.recordValue(micros);
        count(r.totalBuckets, nanos, micros);
    }

    /** Event loop {@code loop} only: the backend's response head came {@code nanos} after the attempt started. */
    public void recordUpstream(int loop, long nanos) {
        long micros = toMicros(nanos);
        Recorders r = recorders(loop);
        r.upstream.recordValue(micros);
        count(r.upstreamBuckets, nanos, micros);
    }

    /**
     * The recording loop only: one more value in the bucket of the first bound {@code nanos} does not exceed, and
     * {@code micros} more in the sum, as one change of the loop's series (a reader takes both or neither).
     */
    private static void count(VersionedCounters series, long nanos, long micros) {
        int i = 0;
        while (i < BOUND_NANOS.length && nanos > BOUND_NANOS[i]) {
            i++;
        }
        series.add(i, 1, SUM, micros);
    }

    /**
     * Adds the values of every loop since the start to {@code total} and {@code upstream} ({@link #SERIES} each):
     * per bucket ({@link #BUCKETS}, not cumulative), then their sum in microseconds ({@link #SUM}). A loop's buckets
     * and sum are read as of one moment (retried while the loop was writing them), so the sum is that of the values
     * counted: Prometheus' {@code _sum} and {@code _count} describe the same exchanges.
     */
    public void addBucketCounts(long[] total, long[] upstream) {
        perLoop.forEach(r -> {
            r.totalBuckets.addTo(total);
            r.upstreamBuckets.addTo(upstream);
        });
    }

    private static long toMicros(long nanos) {
        return nanos <= 0 ? 0 : Math.min(nanos / 1000, HIGHEST_MICROS);
    }

    private Recorders recorders(int loop) {
        return perLoop.of(loop);
    }

    /**
     * The reader (one thread): adds what every loop recorded since the last call into {@code total} and
     * {@code upstream}, using {@code scratch} (from {@link #newScratch}) as the interval buffer.
     */
    public void drainInto(Histogram total, Histogram upstream, Histogram scratch) {
        perLoop.forEach(r -> {
            r.total.getIntervalHistogramInto(scratch);
            addBins(scratch, total);
            r.upstream.getIntervalHistogramInto(scratch);
            addBins(scratch, upstream);
        });
    }

    /**
     * Adds a recorder's interval to a finer histogram bin by bin, each bin counted at its highest value (as
     * HdrHistogram reports percentiles): {@code Histogram.add} would count it at its lowest, so a 200 ms request
     * would read 197 ms.
     */
    private static void addBins(Histogram interval, Histogram into) {
        for (HistogramIterationValue v : interval.recordedValues()) {
            into.recordValueWithCount(interval.highestEquivalentValue(v.getValueIteratedTo()),
                    v.getCountAtValueIteratedTo());
        }
    }

    /**
     * Sum of every total latency recorded since the start, in microseconds. A value it includes is in the recorders
     * already (each loop records there first).
     */
    public long totalSumMicros() {
        long[] sum = new long[1];
        perLoop.forEach(r -> sum[0] += r.totalBuckets.get(SUM));
        return sum[0];
    }

    /** Sum of every upstream latency recorded since the start, in microseconds (as {@link #totalSumMicros}). */
    public long upstreamSumMicros() {
        long[] sum = new long[1];
        perLoop.forEach(r -> sum[0] += r.upstreamBuckets.get(SUM));
        return sum[0];
    }
}
