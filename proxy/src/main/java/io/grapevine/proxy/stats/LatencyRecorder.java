package io.grapevine.proxy.stats;

import java.util.concurrent.atomic.LongAdder;
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
 * value there, so a percentile reads at most 6.25 % high, never low.
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

    private static final Recorders[] NONE = new Recorders[0];

    private static final class Recorders {
        final SingleWriterRecorder total = new SingleWriterRecorder(1, HIGHEST_MICROS, RECORDING_DIGITS);
        final SingleWriterRecorder upstream = new SingleWriterRecorder(1, HIGHEST_MICROS, RECORDING_DIGITS);
    }

    private volatile Recorders[] perLoop = NONE;
    private final LongAdder totalSumMicros = new LongAdder();
    private final LongAdder upstreamSumMicros = new LongAdder();

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
        recorders(loop).total.recordValue(micros);
        totalSumMicros.add(micros);
    }

    /** Event loop {@code loop} only: the backend's response head came {@code nanos} after the attempt started. */
    public void recordUpstream(int loop, long nanos) {
        long micros = toMicros(nanos);
        recorders(loop).upstream.recordValue(micros);
        upstreamSumMicros.add(micros);
    }

    private static long toMicros(long nanos) {
        return nanos <= 0 ? 0 : Math.min(nanos / 1000, HIGHEST_MICROS);
    }

    private Recorders recorders(int loop) {
        Recorders[] r = perLoop;
        Recorders mine;
        if (loop < r.length && (mine = r[loop]) != null) {
            return mine;
        }
        return create(loop);
    }

    private synchronized Recorders create(int loop) {
        Recorders[] r = perLoop;
        if (loop < r.length && r[loop] != null) {
            return r[loop];
        }
        Recorders[] grown = java.util.Arrays.copyOf(r, Math.max(r.length, loop + 1));
        grown[loop] = new Recorders();
        perLoop = grown;
        return grown[loop];
    }

    /**
     * The reader (one thread): adds what every loop recorded since the last call into {@code total} and
     * {@code upstream}, using {@code scratch} (from {@link #newScratch}) as the interval buffer.
     */
    public void drainInto(Histogram total, Histogram upstream, Histogram scratch) {
        for (Recorders r : perLoop) {
            if (r == null) {
                continue;
            }
            r.total.getIntervalHistogramInto(scratch);
            addBins(scratch, total);
            r.upstream.getIntervalHistogramInto(scratch);
            addBins(scratch, upstream);
        }
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

    /** Sum of every total latency recorded since the start, in microseconds (exact, for Prometheus' _sum). */
    public long totalSumMicros() {
        return totalSumMicros.sum();
    }

    /** Sum of every upstream latency recorded since the start, in microseconds. */
    public long upstreamSumMicros() {
        return upstreamSumMicros.sum();
    }
}
