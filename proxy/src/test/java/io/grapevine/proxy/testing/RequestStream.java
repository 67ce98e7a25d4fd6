package io.grapevine.proxy.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A steady stream of {@code GET /} requests through the proxy on keep-alive connections, one thread per
 * connection, paced so that the stream does not starve gossip on a small machine. Records every
 * failure (a status other than 200, an I/O error, a closed connection), every connection it had to
 * open, and when each demo backend answered first and last.
 *
 * <p>A stream never reconnects silently: a connection the proxy closed is counted in
 * {@link #connectionsOpened()} and the failure list, then replaced so the stream goes on.
 */
public final class RequestStream implements AutoCloseable {

    private final InetSocketAddress proxy;
    private final String path;
    private final byte[] postBody;
    private final long pauseNanos;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean running = true;

    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong ok = new AtomicLong();
    private final AtomicInteger connectionsOpened = new AtomicInteger();
    private final ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
    private final Map<Integer, Long> firstSeenNanos = new ConcurrentHashMap<>();
    private final Map<Integer, Long> lastSeenNanos = new ConcurrentHashMap<>();
    private final Map<Integer, AtomicLong> answers = new ConcurrentHashMap<>();

    private RequestStream(InetSocketAddress proxy, String path, byte[] postBody, long pauseMicros) {
        this.proxy = proxy;
        this.path = path;
        this.postBody = postBody;
        this.pauseNanos = TimeUnit.MICROSECONDS.toNanos(pauseMicros);
    }

    /**
     * Starts {@code connections} threads, each sending {@code GET path} back to back on its own keep-alive
     * connection with {@code pauseMicros} between requests.
     */
    public static RequestStream start(InetSocketAddress proxy, String path, int connections, long pauseMicros) {
        return start(new RequestStream(proxy, path, null, pauseMicros), connections);
    }

    /**
     * Like {@link #start}, with {@code POST path} and a small body: requests the proxy must never replay
     * once they may have reached a backend, so a backend that goes away under one fails it visibly.
     */
    public static RequestStream startPosts(InetSocketAddress proxy, String path, int connections, long pauseMicros) {
        return start(new RequestStream(proxy, path, "grapevine".repeat(100).getBytes(java.nio.charset.StandardCharsets.US_ASCII),
                pauseMicros), connections);
    }

    private static RequestStream start(RequestStream s, int connections) {
        for (int i = 0; i < connections; i++) {
            Thread t = new Thread(s::run, "request-stream-" + i);
            t.setDaemon(true);
            s.threads.add(t);
            t.start();
        }
        return s;
    }

    private void run() {
        HttpConnection c = null;
        while (running) {
            try {
                if (c == null) {
                    c = new HttpConnection(proxy, 10_000);
                    connectionsOpened.incrementAndGet();
                }
                HttpConnection.Response r = postBody == null ? c.get(path) : c.post(path, postBody);
                long now = System.nanoTime();
                requests.incrementAndGet();
                if (r.status() == 200) {
                    ok.incrementAndGet();
                    int id = r.demoId();
                    firstSeenNanos.putIfAbsent(id, now);
                    lastSeenNanos.put(id, now);
                    answers.computeIfAbsent(id, k -> new AtomicLong()).incrementAndGet();
                } else {
                    failures.add("status " + r.status() + ": " + r.body().strip());
                }
                if (r.close()) {
                    failures.add("the proxy closed the client connection (Connection: close)");
                    c.close();
                    c = null;
                }
            } catch (IOException e) {
                if (!running) {
                    break;
                }
                requests.incrementAndGet();
                failures.add("I/O error: " + e);
                if (c != null) {
                    c.close();
                }
                c = null;
            }
            if (pauseNanos > 0) {
                LockSupport.parkNanos(pauseNanos);
            }
        }
        if (c != null) {
            c.close();
        }
    }

    public long requests() {
        return requests.get();
    }

    public long ok() {
        return ok.get();
    }

    public List<String> failures() {
        return List.copyOf(failures);
    }

    /**
     * Forgets the failures so far, for a test that starts its stream before the proxy has anything to
     * route to (it answers 503 then, as it should) and counts failures from here on.
     */
    public void resetFailures() {
        failures.clear();
    }

    /** Connections opened so far; equal to the number of threads while the proxy never closed one. */
    public int connectionsOpened() {
        return connectionsOpened.get();
    }

    public int connections() {
        return threads.size();
    }

    /** When demo backend {@code id} first answered, or null. */
    public Long firstSeenNanos(int id) {
        return firstSeenNanos.get(id);
    }

    public Long lastSeenNanos(int id) {
        return lastSeenNanos.get(id);
    }

    public long answersFrom(int id) {
        AtomicLong n = answers.get(id);
        return n == null ? 0 : n.get();
    }

    /** Waits until {@code more} further requests have completed (a sign the stream is flowing). */
    public void awaitMore(long more, java.time.Duration timeout) {
        long target = requests() + more;
        Await.until(timeout, more + " more requests", () -> requests() >= target, this::toString);
    }

    @Override
    public void close() {
        running = false;
        for (Thread t : threads) {
            try {
                t.join(15_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public String toString() {
        List<String> f = failures();
        return requests() + " requests, " + ok() + " ok, " + connectionsOpened() + " connections opened for "
                + threads.size() + ", answers by backend " + answers + ", " + f.size() + " failures"
                + (f.isEmpty() ? "" : " (first: " + f.subList(0, Math.min(5, f.size())) + ")");
    }
}
