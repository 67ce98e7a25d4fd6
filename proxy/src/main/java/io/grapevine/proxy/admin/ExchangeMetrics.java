package io.grapevine.proxy.admin;

import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.forward.ExchangeObserver;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.ServerStats;
import io.grapevine.proxy.table.Server;

/**
 * Records each exchange's latencies and outcome where the {@link StatsCollector} finds them: the total time
 * (request head read to response complete) and the upstream time (start of the last attempt to the backend's
 * response head) in the server's per-loop histograms, the answer's status class in the proxy's counters, and
 * a client that went away mid-exchange as a client abort of its server.
 *
 * <p>What is not a latency: a tunnel's lifetime (a {@code 101} opens it; its upstream time is recorded), an
 * exchange the client abandoned (counted as an abort), an answer the proxy gave without trying a server (no
 * server to charge it to; it shows in the proxy's 5xx and local answer counters). An answer the proxy gave
 * after trying a server (a 504 after the server's timeout, a 502) is a total latency of that server. An exchange
 * that ended waiting in its pool's queue, even after an attempt that failed (a queue timeout's 503, the 503 of
 * its pool leaving the table, a client that left while it waited), is the pool's ({@code queue_timeouts}, {@code queue_abandoned}), as HAProxy charges queue
 * timeouts to the backend: no latency nor abort of the server that failed it.
 *
 * <p>Thread: the exchange's event loop; a few uncontended atomic operations, no lock, no allocation.
 */
public final class ExchangeMetrics implements ExchangeObserver {

    private final ProxyStats proxyStats;

    public ExchangeMetrics(ProxyStats proxyStats) {
        this.proxyStats = proxyStats;
    }

    @Override
    public void exchangeEnded(Exchange exchange) {
        int status = exchange.status();
        boolean completed = exchange.state() == Exchange.State.DONE;
        if (completed || status == 101) {
            proxyStats.countResponse(status);
        }
        Server server = exchange.server();
        if (server == null || exchange.endedInQueue()) {
            return;
        }
        ServerStats stats = server.stats();
        int loop = exchange.loopIndex();
        long responseNanos = exchange.responseNanos();
        if (responseNanos != 0 && !exchange.answeredByProxy()) {
            stats.latency.recordUpstream(loop, responseNanos - exchange.lastAttemptNanos());
        }
        if (status == 101) {
            return;
        }
        if (completed) {
            stats.latency.recordTotal(loop, exchange.endNanos() - exchange.startNanos());
        } else if (exchange.state() == Exchange.State.ABORTED) {
            stats.clientAborts.increment();
        }
    }
}
