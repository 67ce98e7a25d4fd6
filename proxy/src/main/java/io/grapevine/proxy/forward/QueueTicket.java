package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.table.PoolQueue;
import io.grapevine.proxy.table.Server;
import io.netty.channel.EventLoop;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;

/**
 * An exchange's place in its pool's queue ({@link PoolQueue}): which servers it may go to, since when it waits, and
 * its timeout. Created, and its timeout set and cancelled, on the exchange's event loop; {@link #accepts} and
 * {@link #granted} are called by the queue on whichever event loop freed a slot, so what they read is fixed at
 * creation, and a grant travels back to the exchange's own loop.
 */
final class QueueTicket implements PoolQueue.Waiter {

    private static final Server[] NONE = new Server[0];

    private final Exchange exchange;
    private final EventLoop eventLoop;
    /**
     * The server the request's sticky cookie names, which alone may take it while it takes sticky requests;
     * {@code null}: any of the pool.
     */
    private final Server pinned;
    /** The servers this request tried already. */
    private final Server[] tried;
    private final long sinceNanos;
    /**
     * The pool's queue settings when the request began to wait: its timeout is scheduled from them, and a reload
     * changes neither the wait nor the {@code Retry-After} of its end.
     */
    private final PoolPolicy.Queue policy;
    /** Loop-confined. */
    private ScheduledFuture<?> timeout;

    QueueTicket(Exchange exchange, EventLoop eventLoop, Server pinned, List<Server> tried, long sinceNanos,
                PoolPolicy.Queue policy) {
        this.exchange = exchange;
        this.policy = policy;
        this.eventLoop = eventLoop;
        this.pinned = pinned;
        this.tried = tried == null ? NONE : tried.toArray(NONE);
        this.sinceNanos = sinceNanos;
    }

    long sinceNanos() {
        return sinceNanos;
    }

    PoolPolicy.Queue policy() {
        return policy;
    }

    void timeout(ScheduledFuture<?> future) {
        timeout = future;
    }

    void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }

    /**
     * A sticky request waits for its own server while that one takes sticky requests; once it does not (down, in
     * maintenance, gone from the table), the request is balanced as one without the cookie: any server it did not try.
     */
    @Override
    public boolean accepts(Server server, long nowNanos) {
        if (pinned != null && pinned.takesStickyRequests(nowNanos)) {
            return server == pinned;
        }
        for (Server t : tried) {
            if (t == server) {
                return false;
            }
        }
        return server.isAvailable(nowNanos);
    }

    @Override
    public Server pinnedTo() {
        return pinned;
    }

    @Override
    public void granted(Server server) {
        try {
            eventLoop.execute(() -> exchange.slotGranted(this, server));
        } catch (RejectedExecutionException e) {
            if (server != null) {
                server.releaseSlot(); // the loop is shutting down: nobody will use the slot
            }
        }
    }
}
