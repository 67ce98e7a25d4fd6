package io.grapevine.proxy.stats;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one server, kept for as long as the server stays in the table (across generations).
 * Updated from every event loop without locks; read by the admin thread.
 */
public final class ServerStats {
    /** Requests sent to this server (attempts, retries included). */
    public final LongAdder requests = new LongAdder();
    public final LongAdder responses1xx = new LongAdder();
    public final LongAdder responses2xx = new LongAdder();
    public final LongAdder responses3xx = new LongAdder();
    public final LongAdder responses4xx = new LongAdder();
    public final LongAdder responses5xx = new LongAdder();
    /** Connection attempts refused, reset or timed out. */
    public final LongAdder connectErrors = new LongAdder();
    /** Responses that failed: reset or closed early, garbage, timeout. */
    public final LongAdder responseErrors = new LongAdder();
    public final LongAdder timeouts = new LongAdder();
    /** Attempts that failed here and were retried elsewhere. */
    public final LongAdder retried = new LongAdder();
    public final LongAdder bytesIn = new LongAdder();
    public final LongAdder bytesOut = new LongAdder();
    /** Upgrades this server accepted (101): tunnels, WebSockets mostly. */
    public final LongAdder tunnels = new LongAdder();
    /** Connections opened to this server. */
    public final LongAdder connectionsOpened = new LongAdder();
    /** Times failed requests ejected this server (passive health). */
    public final LongAdder ejections = new LongAdder();
    /** Requests in flight now (with a max_conn: the slots taken). */
    public final AtomicInteger inFlight = new AtomicInteger();

    public void countResponse(int status) {
        switch (status / 100) {
            case 1 -> responses1xx.increment();
            case 2 -> responses2xx.increment();
            case 3 -> responses3xx.increment();
            case 4 -> responses4xx.increment();
            default -> responses5xx.increment();
        }
    }
}
