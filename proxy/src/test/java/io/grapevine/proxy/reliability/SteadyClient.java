package io.grapevine.proxy.reliability;

import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.it.RawHttpClient.Response;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Real traffic beside an attack or a fault: one thread sends {@code GET target} with {@code Host: host} on one
 * keep-alive connection, one request after the other with {@code pauseMillis} between them, and records what
 * happened to each: answered 200 (with its latency), failed (another status, an error, no answer), and every
 * connection lost on the way (the next request goes on a new one). Stops by itself after 10 minutes at most.
 */
final class SteadyClient implements AutoCloseable {

    /** What the client saw; latencies in microseconds. */
    record Summary(long sent, long failed, long dropped, long p50Micros, long p99Micros, long maxMicros) {

        @Override
        public String toString() {
            return "sent " + sent + ", failed " + failed + ", connections dropped " + dropped + ", p50 "
                    + millis(p50Micros) + " ms, p99 " + millis(p99Micros) + " ms, max " + millis(maxMicros) + " ms";
        }

        static String millis(long micros) {
            return String.format(java.util.Locale.ROOT, "%.2f", micros / 1000.0);
        }
    }

    private static final long MAX_RUN_NANOS = 600_000_000_000L;

    private final InetSocketAddress proxy;
    private final String request;
    private final long pauseMillis;
    private final Thread thread;
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    /** Written by the client thread only; read after it ended. */
    private final List<Long> latenciesMicros = new ArrayList<>();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    private volatile boolean running = true;

    private SteadyClient(InetSocketAddress proxy, String host, String target, long pauseMillis) {
        this.proxy = proxy;
        this.request = "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
        this.pauseMillis = pauseMillis;
        this.thread = new Thread(this::run, "steady-client");
        thread.setDaemon(true);
    }

    static SteadyClient start(InetSocketAddress proxy, String host, String target, long pauseMillis) {
        SteadyClient client = new SteadyClient(proxy, host, target, pauseMillis);
        client.thread.start();
        return client;
    }

    long sent() {
        return sent.get();
    }

    /** The first few failures, for assertion messages. */
    List<String> failures() {
        synchronized (failures) {
            return List.copyOf(failures.subList(0, Math.min(5, failures.size())));
        }
    }

    private void run() {
        long deadline = System.nanoTime() + MAX_RUN_NANOS;
        RawHttpClient connection = null;
        while (running && System.nanoTime() < deadline) {
            try {
                if (connection == null) {
                    connection = RawHttpClient.connect(proxy);
                }
                long start = System.nanoTime();
                sent.incrementAndGet();
                Response r = connection.send(request).read();
                long micros = (System.nanoTime() - start) / 1000;
                if (r.status() == 200) {
                    latenciesMicros.add(micros);
                } else {
                    fail("status " + r.status());
                }
                if (r.connectionHas("close")) {
                    connection.close();
                    connection = null;
                    dropped.incrementAndGet();
                }
            } catch (IOException | RuntimeException e) {
                fail(e.toString());
                dropped.incrementAndGet();
                closeQuietly(connection);
                connection = null;
            }
            if (pauseMillis > 0) {
                try {
                    Thread.sleep(pauseMillis);
                } catch (InterruptedException e) {
                    break;
                }
            }
        }
        closeQuietly(connection);
    }

    private void fail(String why) {
        failed.incrementAndGet();
        if (failures.size() < 100) {
            failures.add(why);
        }
    }

    private static void closeQuietly(RawHttpClient connection) {
        if (connection != null) {
            try {
                connection.close();
            } catch (IOException ignored) {
                // closing a connection that is gone already
            }
        }
    }

    /** Stops after the request in progress and summarizes. */
    Summary stop() throws InterruptedException {
        running = false;
        thread.join(30_000);
        List<Long> sorted = new ArrayList<>(latenciesMicros);
        Collections.sort(sorted);
        return new Summary(sent.get(), failed.get(), dropped.get(), percentile(sorted, 0.50), percentile(sorted, 0.99),
                sorted.isEmpty() ? 0 : sorted.get(sorted.size() - 1));
    }

    private static long percentile(List<Long> sorted, double p) {
        if (sorted.isEmpty()) {
            return 0;
        }
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1));
    }

    @Override
    public void close() {
        if (running) {
            try {
                stop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
