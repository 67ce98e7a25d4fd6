package io.grapevine.proxy.stats;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-second samples of one pool (or of the whole proxy) for the stats page's charts: request rate, error
 * rate (5xx answers and failed attempts) and the p50 / p99 of the total latency of the requests that ended
 * in that second. A ring of the newest {@code capacity} seconds.
 *
 * <p>Thread: one owner (the admin thread's collector) writes and reads; not thread-safe.
 */
public final class History {

    /**
     * Seconds of history kept: the stats page's charts, and how long a pool that left the table is remembered (its
     * chart by the stats page, its state by the table) for when it comes back.
     */
    public static final int KEPT_SECONDS = 300;

    private final long[] atMillis;
    private final double[] requestRate;
    private final double[] errorRate;
    private final double[] p50Millis;
    private final double[] p99Millis;
    private int next;
    private int size;

    public History(int capacity) {
        atMillis = new long[capacity];
        requestRate = new double[capacity];
        errorRate = new double[capacity];
        p50Millis = new double[capacity];
        p99Millis = new double[capacity];
    }

    /** Appends one second; {@code p50} and {@code p99} are NaN when no request ended in it. */
    public void add(long at, double requests, double errors, double p50, double p99) {
        atMillis[next] = at;
        requestRate[next] = requests;
        errorRate[next] = errors;
        p50Millis[next] = p50;
        p99Millis[next] = p99;
        next = (next + 1) % atMillis.length;
        size = Math.min(size + 1, atMillis.length);
    }

    public int size() {
        return size;
    }

    /**
     * The samples, oldest first, as columns: {@code {"t_ms": [...], "requests_per_s": [...], "errors_per_s":
     * [...], "p50_ms": [...], "p99_ms": [...]}}; a second without requests has {@code null} percentiles.
     */
    public Map<String, Object> columns() {
        List<Long> t = new ArrayList<>(size);
        List<Double> rate = new ArrayList<>(size);
        List<Double> errors = new ArrayList<>(size);
        List<Double> p50 = new ArrayList<>(size);
        List<Double> p99 = new ArrayList<>(size);
        int start = (next - size + atMillis.length) % atMillis.length;
        for (int k = 0; k < size; k++) {
            int i = (start + k) % atMillis.length;
            t.add(atMillis[i]);
            rate.add(requestRate[i]);
            errors.add(errorRate[i]);
            p50.add(Double.isNaN(p50Millis[i]) ? null : p50Millis[i]);
            p99.add(Double.isNaN(p99Millis[i]) ? null : p99Millis[i]);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("t_ms", t);
        m.put("requests_per_s", rate);
        m.put("errors_per_s", errors);
        m.put("p50_ms", p50);
        m.put("p99_ms", p99);
        return m;
    }
}
