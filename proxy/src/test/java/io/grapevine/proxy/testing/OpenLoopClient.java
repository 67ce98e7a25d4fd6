package io.grapevine.proxy.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * An open-loop HTTP/1.1 load generator: {@code GET path} at a constant rate, whatever the answers, on a fixed
 * number of keep-alive connections (one thread each). Request {@code i} is due at {@code start + i / rate}; a
 * worker takes the next due request, waits for its time and sends it, so when the proxy is slow the requests
 * queue up behind the busy connections and their latency, measured from the time they were due (not the time
 * they were written), shows it: no coordinated omission, as in wrk2.
 *
 * <p>Counted: requests sent, answered 200, failed (any other status, an I/O error, a timeout), client
 * connections the server dropped (a {@code Connection: close}, a close or a reset: each is replaced by a new
 * connection), and per demo backend the answers and when the first and last came. With several targets the
 * client is the one DNS round robin makes: connection {@code k} goes to target {@code k mod n}, and a request
 * whose connection fails before any answer is sent again to the next target ({@code failovers}), as browsers
 * and HTTP libraries retry an idempotent request on a connection reset.
 *
 * <p>Runs in the test's JVM ({@link #start}) or as a process of its own in another network namespace
 * ({@link #main}, driven by {@link OpenLoopProcess}: until its standard input closes, printing progress lines and,
 * at the end, one {@code report {...}} line of JSON).
 */
public final class OpenLoopClient implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What to send.
     *
     * @param targets       proxies to send to (one, or several for round robin with failover)
     * @param rate          requests per second
     * @param connections   keep-alive connections (and threads): the most requests in flight at once
     * @param timeoutMillis connect and read deadline of one request
     */
    public record Settings(List<InetSocketAddress> targets, double rate, int connections, String path, int timeoutMillis) {

        public static Settings of(InetSocketAddress target, double rate, int connections) {
            return new Settings(List.of(target), rate, connections, "/", 10_000);
        }
    }

    /** Answers of one demo backend. */
    public record BackendAnswers(long answers, long firstMillis, long lastMillis) {
    }

    /**
     * What happened. Latencies are in microseconds, from the time each request was due; times are
     * {@link System#currentTimeMillis()}. Of the failed requests (all 0 when none failed): when the first and the
     * last were sent (their last attempt began: the connect, or the write on a kept-alive connection), and when the
     * first and the last failure were counted.
     */
    public record Report(long startMillis, long endMillis, double rate, int connections, long sent, long ok, long failed,
                         long connectionsDropped, long failovers, long p50Micros, long p99Micros, long p999Micros,
                         long maxMicros, Map<Integer, BackendAnswers> backends, List<String> firstFailures,
                         Map<Integer, Long> p99MicrosByPhase, Map<Integer, Long> requestsByPhase,
                         long firstFailedSentMillis, long lastFailedSentMillis, long firstFailureMillis,
                         long lastFailureMillis, List<RequestTiming> slowest) {

        /** One line for test output: {@code sent 3000, failed 0, dropped 0, p50 0.41 ms, p99 1.9 ms, ...}. */
        public String summary() {
            return String.format("%d requests in %.1f s at %.0f/s on %d connections: %d failed, %d connections dropped, "
                            + "%d failed over; latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
                    sent, (endMillis - startMillis) / 1000.0, rate, connections, failed, connectionsDropped, failovers,
                    p50Micros / 1000.0, p99Micros / 1000.0, p999Micros / 1000.0, maxMicros / 1000.0);
        }

        public long answersFrom(int backendId) {
            BackendAnswers a = backends.get(backendId);
            return a == null ? 0 : a.answers();
        }

        public String toJson() {
            try {
                return JSON.writeValueAsString(this);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        public static Report fromJson(String json) {
            try {
                return JSON.readValue(json, Report.class);
            } catch (IOException e) {
                throw new IllegalArgumentException("not a report: " + json, e);
            }
        }
    }

    /**
     * A request answered: when it was due ({@link System#nanoTime()}, which on Linux is the same clock in every
     * process of the machine, so a test can line it up with what it did then), its latency, its phase. A
     * {@link Report} lists those at or above their phase's 99th percentile.
     */
    public record RequestTiming(long dueNanos, long micros, int phase) {
    }

    /** At most this many of a phase's slowest requests in a report. */
    private static final int SLOWEST_KEPT = 2_000;

    private final Settings settings;
    private final long periodNanos;
    private final long startNanos;
    private final long startMillis;
    private final List<Thread> workers = new ArrayList<>();
    private final AtomicLong next = new AtomicLong();
    private volatile long stopAtNanos = Long.MAX_VALUE;

    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong ok = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong failovers = new AtomicLong();
    private final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    private final AtomicInteger failuresKept = new AtomicInteger();
    private final AtomicLong firstFailedSentMillis = new AtomicLong(Long.MAX_VALUE);
    private final AtomicLong lastFailedSentMillis = new AtomicLong();
    private final AtomicLong firstFailureMillis = new AtomicLong(Long.MAX_VALUE);
    private final AtomicLong lastFailureMillis = new AtomicLong();
    private final Map<Integer, long[]> backends = new ConcurrentHashMap<>();
    /**
     * Per request, two longs: its latency in microseconds tagged with its phase (see {@link #record}), then when it
     * was due; -1 where none yet.
     */
    private final List<long[]> latencies = new ArrayList<>();
    private static final int TAG_SHIFT = 48;
    private static final long MICROS_MASK = (1L << TAG_SHIFT) - 1;
    private volatile int phase;

    private OpenLoopClient(Settings settings) {
        this.settings = settings;
        this.periodNanos = (long) (1_000_000_000L / settings.rate());
        this.startNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(50);
        this.startMillis = System.currentTimeMillis() + 50;
    }

    public static OpenLoopClient start(Settings settings) {
        OpenLoopClient c = new OpenLoopClient(settings);
        for (int i = 0; i < settings.connections(); i++) {
            Worker w = c.new Worker(i);
            Thread t = new Thread(w, "open-loop-" + i);
            t.setDaemon(true);
            c.workers.add(t);
            t.start();
        }
        return c;
    }

    /** Requests sent so far. */
    public long sent() {
        return sent.get();
    }

    /** Requests that failed so far. */
    public long failed() {
        return failed.get();
    }

    /** Answers from demo backend {@code id} so far. */
    public long answersFrom(int id) {
        long[] a = backends.get(id);
        return a == null ? 0 : a[0];
    }

    /** When demo backend {@code id} last answered ({@link System#currentTimeMillis()}), or 0. */
    public long lastAnswerMillis(int id) {
        long[] a = backends.get(id);
        return a == null ? 0 : a[2];
    }

    /** Waits until {@code more} further requests were sent. */
    public void awaitMore(long more, java.time.Duration timeout) {
        long target = sent() + more;
        Await.until(timeout, more + " more requests", () -> sent() >= target, () -> snapshot().summary());
    }

    /** Stops sending requests that are not due yet, waits for those in flight, and reports. */
    public Report stop() {
        stopAtNanos = System.nanoTime();
        for (Thread t : workers) {
            try {
                t.join(settings.timeoutMillis() * 2L + 5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return snapshot();
    }

    @Override
    public void close() {
        stop();
    }

    /**
     * From now on, requests due are counted in phase {@code phase} (0 at start): {@link Report#p99MicrosByPhase()}
     * then compares phases that took turns (a quiet one and a busy one, alternating, so that both see the same
     * background noise of a shared machine). Phase -1 is a warm-up: its latencies count in no percentile.
     */
    public void setPhase(int phase) {
        this.phase = phase;
    }

    /** What happened so far. */
    public Report snapshot() {
        List<long[]> blocks;
        synchronized (latencies) {
            blocks = new ArrayList<>(latencies);
        }
        Map<Integer, List<RequestTiming>> byPhase = new TreeMap<>();
        for (long[] b : blocks) {
            for (int i = 0; i + 1 < b.length; i += 2) {
                long v = b[i];
                int tag = (int) (v >>> TAG_SHIFT) - 1;
                if (v >= 0 && tag >= 0) {
                    byPhase.computeIfAbsent(tag, k -> new ArrayList<>())
                            .add(new RequestTiming(b[i + 1], v & MICROS_MASK, tag));
                }
            }
        }
        long[] recorded = byPhase.values().stream().flatMap(List::stream).mapToLong(RequestTiming::micros).sorted()
                .toArray();
        Map<Integer, Long> p99 = new TreeMap<>();
        Map<Integer, Long> counts = new TreeMap<>();
        List<RequestTiming> slowest = new ArrayList<>();
        byPhase.forEach((tag, requests) -> {
            long p = percentile(requests.stream().mapToLong(RequestTiming::micros).sorted().toArray(), 0.99);
            p99.put(tag, p);
            counts.put(tag, (long) requests.size());
            requests.stream().filter(r -> r.micros() >= p)
                    .sorted(java.util.Comparator.comparingLong(RequestTiming::micros).reversed()).limit(SLOWEST_KEPT)
                    .sorted(java.util.Comparator.comparingLong(RequestTiming::dueNanos)).forEach(slowest::add);
        });
        Map<Integer, BackendAnswers> answers = new TreeMap<>();
        backends.forEach((id, a) -> answers.put(id, new BackendAnswers(a[0], a[1], a[2])));
        long end = System.currentTimeMillis();
        return new Report(startMillis, end, settings.rate(), settings.connections(), sent.get(), ok.get(), failed.get(),
                dropped.get(), failovers.get(), percentile(recorded, 0.50), percentile(recorded, 0.99),
                percentile(recorded, 0.999), recorded.length == 0 ? 0 : recorded[recorded.length - 1], answers,
                List.copyOf(failures), p99, counts, failed.get() == 0 ? 0 : firstFailedSentMillis.get(),
                lastFailedSentMillis.get(), failed.get() == 0 ? 0 : firstFailureMillis.get(), lastFailureMillis.get(),
                slowest);
    }

    private static long percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int index = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, index))];
    }

    /** A failed request, whose last attempt began at {@code sentMillis}. */
    private void fail(String why, long sentMillis) {
        long now = System.currentTimeMillis();
        firstFailedSentMillis.accumulateAndGet(sentMillis, Math::min);
        lastFailedSentMillis.accumulateAndGet(sentMillis, Math::max);
        firstFailureMillis.accumulateAndGet(now, Math::min);
        lastFailureMillis.accumulateAndGet(now, Math::max);
        failed.incrementAndGet();
        if (failuresKept.incrementAndGet() <= 20) {
            failures.add(why);
        }
    }

    /** One connection and its thread. */
    private final class Worker implements Runnable {
        private final int index;
        private int target;
        private HttpConnection connection;
        /** Latencies in microseconds, -1 where none yet; grown in blocks. */
        private long[] block = newBlock();
        private int used;

        Worker(int index) {
            this.index = index;
            this.target = index % settings.targets().size();
        }

        private long[] newBlock() {
            long[] b = new long[8192];
            Arrays.fill(b, -1);
            synchronized (latencies) {
                latencies.add(b);
            }
            return b;
        }

        @Override
        public void run() {
            try {
                for (;;) {
                    long due = startNanos + next.getAndIncrement() * periodNanos;
                    if (due - stopAtNanos > 0) {
                        return;
                    }
                    long wait = due - System.nanoTime();
                    while (wait > 0) {
                        LockSupport.parkNanos(wait);
                        if (due - stopAtNanos > 0) {
                            return;
                        }
                        wait = due - System.nanoTime();
                    }
                    send(due);
                }
            } finally {
                if (connection != null) {
                    connection.close();
                }
            }
        }

        private void send(long dueNanos) {
            sent.incrementAndGet();
            int tag = phase + 1;
            int tries = settings.targets().size();
            for (int attempt = 0; attempt < tries; attempt++) {
                boolean answered = false;
                long sentMillis = System.currentTimeMillis();
                try {
                    if (connection == null) {
                        connection = new HttpConnection(settings.targets().get(target), settings.timeoutMillis());
                    }
                    HttpConnection.Response r = connection.get(settings.path());
                    answered = true;
                    record(dueNanos, tag);
                    if (r.status() == 200) {
                        ok.incrementAndGet();
                        answeredBy(r.demoId());
                    } else {
                        fail("status " + r.status() + " from " + settings.targets().get(target) + ": " + r.body().strip(), sentMillis);
                    }
                    if (r.close()) {
                        dropConnection();
                    }
                    return;
                } catch (IOException e) {
                    boolean hadConnection = connection != null;
                    if (hadConnection) {
                        dropConnection();
                    }
                    if (answered || attempt == tries - 1) {
                        record(dueNanos, tag);
                        fail("I/O error on " + settings.targets().get(target) + ": " + e, sentMillis);
                        return;
                    }
                    // Not answered: another proxy gets the request, as a client of a round-robin name does.
                    failovers.incrementAndGet();
                    target = (target + 1) % settings.targets().size();
                }
            }
        }

        private void dropConnection() {
            dropped.incrementAndGet();
            connection.close();
            connection = null;
        }

        /**
         * The latency of the request due at {@code dueNanos}, tagged with its phase + 1 (0: warm-up), and when it
         * was due. The due time is written first: {@link #snapshot} reads a pair whose latency is set.
         */
        private void record(long dueNanos, int tag) {
            if (used == block.length) {
                block = newBlock();
                used = 0;
            }
            long micros = Math.min(MICROS_MASK, Math.max(0, (System.nanoTime() - dueNanos) / 1000));
            block[used + 1] = dueNanos;
            block[used] = ((long) tag << TAG_SHIFT) | micros;
            used += 2;
        }

        private void answeredBy(int id) {
            long now = System.currentTimeMillis();
            long[] a = backends.computeIfAbsent(id, k -> new long[] {0, now, now});
            synchronized (a) {
                a[0]++;
                a[2] = now;
            }
        }
    }

    /**
     * {@code OpenLoopClient --target HOST:PORT [--target ...] --rate R --connections N [--path P]}: sends until its
     * standard input closes (a line {@code phase N} read from it is {@link #setPhase}{@code (N)}), prints
     * {@code progress sent=.. ok=.. failed=.. dropped=.. failovers=.. answers=ID:N,...} every half second, then
     * {@code report {json}}.
     */
    public static void main(String[] args) throws Exception {
        List<InetSocketAddress> targets = new ArrayList<>();
        double rate = 100;
        int connections = 4;
        String path = "/";
        for (int i = 0; i < args.length; i += 2) {
            String value = args[i + 1];
            switch (args[i]) {
                case "--target" -> {
                    int colon = value.lastIndexOf(':');
                    targets.add(new InetSocketAddress(value.substring(0, colon), Integer.parseInt(value.substring(colon + 1))));
                }
                case "--rate" -> rate = Double.parseDouble(value);
                case "--connections" -> connections = Integer.parseInt(value);
                case "--path" -> path = value;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        OpenLoopClient client = start(new Settings(targets, rate, connections, path, 10_000));
        Thread progress = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                StringBuilder answers = new StringBuilder();
                new TreeMap<>(client.backends).forEach((id, a) -> answers.append(answers.length() == 0 ? "" : ",")
                        .append(id).append(':').append(a[0]));
                System.out.println("progress sent=" + client.sent.get() + " ok=" + client.ok.get() + " failed="
                        + client.failed.get() + " dropped=" + client.dropped.get() + " failovers=" + client.failovers.get()
                        + " answers=" + answers);
                System.out.flush();
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "progress");
        progress.setDaemon(true);
        progress.start();
        // Runs until the test closes our standard input; a line "phase N" is setPhase(N).
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        for (String line; (line = in.readLine()) != null; ) {
            if (line.startsWith("phase ")) {
                client.setPhase(Integer.parseInt(line.substring("phase ".length()).strip()));
            }
        }
        Report report = client.stop();
        progress.interrupt();
        System.out.println("report " + report.toJson());
        System.out.flush();
    }
}
