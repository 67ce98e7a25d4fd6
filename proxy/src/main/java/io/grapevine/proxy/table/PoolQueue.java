package io.grapevine.proxy.table;

import io.grapevine.proxy.stats.PoolStats;
import java.util.ArrayList;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The requests of one pool that wait for a server because every server that could take them is at its
 * {@code max_conn} (HAProxy's backend queue and its pending connections). First come, first served: a slot a server
 * frees while requests wait goes straight to the oldest of them that may use that server, and never back to the
 * pool, so a newcomer cannot overtake the queue; the waiter then resumes on its own event loop.
 *
 * <p>The queue belongs to a {@link PoolState}, so it outlives table generations: a request queued under one
 * generation is served by the servers of the next.
 *
 * <p>Threading: shared by every event loop of the pool. A short lock guards the waiters; it is taken only by
 * requests that queue, by slots released while requests wait, by removals (timeouts, clients that leave) and by
 * table publications. A release while nobody waits reads one volatile field and takes no lock (see
 * {@link Server#releaseSlot}). Waiters are told of their slot outside the lock.
 */
public final class PoolQueue {

    /**
     * A request waiting in the queue. Both methods may be called on any thread.
     */
    public interface Waiter {
        /**
         * Whether the request may go to {@code server} now: the server takes requests (or, for a request its sticky
         * cookie ties to a server that still takes sticky requests, it is that one) and the request did not try it
         * already. Called under the queue's lock: must be quick and must not block.
         */
        boolean accepts(Server server, long nowNanos);

        /**
         * The request leaves the queue with a slot of {@code server} (counted in its in-flight requests): it must
         * use it or give it back ({@link Server#releaseSlot}). {@code null}: the pool left the table, no server
         * will come. Called once, outside the lock, on whichever thread freed the slot.
         */
        void granted(Server server);
    }

    private record Entry(Waiter waiter, long sinceNanos) {
    }

    private record Grant(Entry entry, Server server) {
    }

    private final PoolState pool;
    private final PoolStats stats;
    private final ReentrantLock lock = new ReentrantLock();
    /** Oldest first; guarded by {@link #lock}. */
    private final ArrayDeque<Entry> waiters = new ArrayDeque<>();
    /** {@code waiters.size()}, written under the lock, read without it. */
    private volatile int size;

    PoolQueue(PoolState pool, PoolStats stats) {
        this.pool = pool;
        this.stats = stats;
    }

    /** Requests waiting now. */
    public int size() {
        return size;
    }

    public boolean isEmpty() {
        return size == 0;
    }

    /**
     * Queues {@code waiter}, unless the queue holds {@code queue.max} requests already. If a server of the pool has a
     * free slot by now (one was released while the waiter decided to queue), it is handed out at once, oldest
     * waiter first.
     *
     * @return false: the queue is full; the waiter was not queued
     */
    public boolean offer(Waiter waiter, long nowNanos) {
        List<Grant> grants;
        lock.lock();
        try {
            if (size >= pool.queuePolicy().max()) {
                return false;
            }
            waiters.addLast(new Entry(waiter, nowNanos));
            resized();
            stats.queued.increment();
            grants = dispatchLocked(null);
        } finally {
            lock.unlock();
        }
        deliver(grants, nowNanos);
        return true;
    }

    /**
     * Takes {@code waiter} out of the queue (its time is up, or its client left).
     *
     * @return false when it was not waiting any more: its slot was granted and is on its way to it
     */
    public boolean remove(Waiter waiter) {
        lock.lock();
        try {
            for (Iterator<Entry> it = waiters.iterator(); it.hasNext(); ) {
                if (it.next().waiter() == waiter) {
                    it.remove();
                    resized();
                    return true;
                }
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    /**
     * A slot of {@code server} is free while requests may wait: the oldest that accepts the server gets it, or the
     * server's in-flight count goes down. Then any other server with a free slot (one that came back, one whose
     * limit was raised) serves further waiters.
     */
    void handOver(Server server) {
        long now = System.nanoTime();
        List<Grant> grants;
        lock.lock();
        try {
            Entry taker = null;
            if (!server.isOverLimit()) {
                for (Iterator<Entry> it = waiters.iterator(); it.hasNext(); ) {
                    Entry e = it.next();
                    if (e.waiter().accepts(server, now)) {
                        it.remove();
                        resized();
                        taker = e;
                        break;
                    }
                }
            }
            if (taker == null) {
                server.stats().inFlight.decrementAndGet();
                server.loadChanged();
            }
            grants = dispatchLocked(taker == null ? null : new Grant(taker, server));
        } finally {
            lock.unlock();
        }
        deliver(grants, now);
    }

    /** Hands the free slots of the pool's servers to the waiters that may use them, oldest first. */
    public void dispatch() {
        if (size == 0) {
            return;
        }
        List<Grant> grants;
        lock.lock();
        try {
            grants = dispatchLocked(null);
        } finally {
            lock.unlock();
        }
        deliver(grants, System.nanoTime());
    }

    /** The pool left the table: every waiter learns that no server will come. */
    void retire() {
        List<Entry> all;
        lock.lock();
        try {
            all = new ArrayList<>(waiters);
            waiters.clear();
            resized();
        } finally {
            lock.unlock();
        }
        for (Entry e : all) {
            e.waiter().granted(null);
        }
    }

    /**
     * Matches waiters, oldest first, with servers that have a free slot now. Cheap when no server has one: one
     * pass over the pool's servers.
     */
    private List<Grant> dispatchLocked(Grant first) {
        List<Grant> grants = first == null ? null : new ArrayList<>(2);
        if (first != null) {
            grants.add(first);
        }
        if (waiters.isEmpty()) {
            return grants;
        }
        long now = System.nanoTime();
        List<Server> free = null;
        for (Server s : pool.servers()) {
            if (!s.isFull() && s.takesStickyRequests(now)) { // the widest: each waiter says which it accepts
                if (free == null) {
                    free = new ArrayList<>(4);
                }
                free.add(s);
            }
        }
        if (free == null) {
            return grants;
        }
        for (Iterator<Entry> it = waiters.iterator(); it.hasNext() && !free.isEmpty(); ) {
            Entry e = it.next();
            for (Iterator<Server> fs = free.iterator(); fs.hasNext(); ) {
                Server s = fs.next();
                if (!e.waiter().accepts(s, now)) {
                    continue;
                }
                if (s.tryAcquireSlot()) {
                    it.remove();
                    if (grants == null) {
                        grants = new ArrayList<>(2);
                    }
                    grants.add(new Grant(e, s));
                    break;
                }
                fs.remove(); // full after all
            }
        }
        resized();
        return grants;
    }

    private void resized() {
        size = waiters.size();
        stats.queueDepth(size);
    }

    private void deliver(List<Grant> grants, long nowNanos) {
        if (grants == null) {
            return;
        }
        for (Grant g : grants) {
            stats.recordWait(nowNanos - g.entry().sinceNanos());
            g.entry().waiter().granted(g.server());
        }
    }
}
