package io.grapevine.proxy.table;

import io.grapevine.proxy.stats.PoolStats;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The requests of one pool that wait for a server because every server that could take them is at its
 * {@code max_conn} (HAProxy's backend queue and its pending connections). First come, first served: a slot a server
 * frees while requests wait goes straight to the oldest of them that may use that server, and never back to the
 * pool, so a newcomer cannot overtake the queue; the waiter then resumes on its own event loop.
 *
 * <p>As HAProxy keeps a queue per server for the requests persistence ties to it beside the backend's queue, the
 * waiters tied to one server (a sticky cookie that names a server that takes them) wait in that server's own line,
 * the others in the pool's line, each line oldest first by the order they came in: a slot a server frees goes to the
 * older of the head of its own line and the first of the pool's line that may use it. So a release costs the same
 * whatever waits for other servers; a long line of requests tied to a busy server costs nothing to the releases of
 * the others. The requests of a server that stops taking the requests tied to it (down, in maintenance, gone from the
 * table) join the pool's line in their places, the next time the queue is looked at.
 *
 * <p>The queue belongs to a {@link PoolState}, so it outlives table generations: a request queued under one
 * generation is served by the servers of the next.
 *
 * <p>Threading: shared by every event loop of the pool. A short lock guards the lines; it is taken only by
 * requests that queue, by slots released while requests wait, by removals (timeouts, clients that leave) and by
 * table publications. A release while nobody waits reads one volatile field and takes no lock (see
 * {@link Server#releaseSlot}). Waiters are told of their slot outside the lock.
 */
public final class PoolQueue {

    /**
     * A request waiting in the queue. Its methods may be called on any thread.
     */
    public interface Waiter {
        /**
         * Whether the request may go to {@code server} now: the server takes requests (or, for a request its sticky
         * cookie ties to a server that still takes sticky requests, it is that one) and the request did not try it
         * already. A waiter tied to no server ({@link #pinnedTo} null) accepts none that takes no new requests
         * ({@link Server#isAvailable}). Called under the queue's lock: must be quick and must not block.
         */
        boolean accepts(Server server, long nowNanos);

        /**
         * The server the request is tied to, which alone it {@link #accepts} while that server takes sticky requests
         * ({@link Server#takesStickyRequests}); {@code null}: none. Fixed for the life of the waiter.
         */
        default Server pinnedTo() {
            return null;
        }

        /**
         * The request leaves the queue with a slot of {@code server} (counted in its in-flight requests): it must
         * use it or give it back ({@link Server#releaseSlot}). {@code null}: the pool left the table, no server
         * will come. Called once, outside the lock, on whichever thread freed the slot (for {@code null}, the thread
         * that published the table, or the one that offered the waiter to a pool already gone).
         */
        void granted(Server server);
    }

    /** @param seq the order it came in: the lower, the older */
    private record Entry(Waiter waiter, long seq) {
    }

    private record Grant(Entry entry, Server server) {
    }

    private final PoolState pool;
    private final PoolStats stats;
    private final ReentrantLock lock = new ReentrantLock();
    /** The pool's line: the waiters tied to no server that takes them, oldest first; guarded by {@link #lock}. */
    private final ArrayDeque<Entry> open = new ArrayDeque<>();
    /**
     * Each server's own line: the waiters tied to it while it takes them, oldest first; never an empty line; guarded
     * by {@link #lock}.
     */
    private final Map<Server, ArrayDeque<Entry>> pinned = new HashMap<>();
    /**
     * Waiters of the pool's line tied to a server ({@link Waiter#pinnedTo}), which may accept a server that takes
     * no new requests (their own, draining); guarded by {@link #lock}. While there are none, the pool's line is
     * not read for such a server: none of it would accept it.
     */
    private int tiedInOpen;
    /** The next {@link Entry#seq}; guarded by {@link #lock}. */
    private long nextSeq;
    /** Waiters in all lines, written under the lock, read without it. */
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
     * <p>The waiter of a pool that left the table is told at once, as {@link #retire} tells those that waited, that no
     * server will come: one that found its servers full under the generation it was read under, as a swap took the
     * pool out, would otherwise wait its whole timeout in a queue that no server serves any more.
     *
     * @return false: the queue is full; the waiter was not queued
     */
    public boolean offer(Waiter waiter, long nowNanos) {
        List<Grant> grants = null;
        boolean poolLeft;
        lock.lock();
        try {
            if (size >= pool.queuePolicy().max()) {
                return false;
            }
            stats.queued.increment();
            // A pool in the table has servers; TableHolder empties them before it retires the queue under this lock,
            // so a waiter either finds them empty here or is in a line when retire() empties it.
            poolLeft = pool.servers().isEmpty();
            if (!poolLeft) {
                Entry e = new Entry(waiter, nextSeq++);
                Server tie = waiter.pinnedTo();
                if (tie != null && tie.takesStickyRequests(nowNanos)) {
                    pinned.computeIfAbsent(tie, s -> new ArrayDeque<>()).addLast(e);
                } else {
                    open.addLast(e);
                    tiedInOpen += tie == null ? 0 : 1;
                }
                resized(size + 1);
                grants = dispatchLocked(null);
            }
        } finally {
            lock.unlock();
        }
        if (poolLeft) {
            waiter.granted(null);
        }
        deliver(grants);
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
            return removeLocked(waiter);
        } finally {
            lock.unlock();
        }
    }

    private boolean removeLocked(Waiter waiter) {
        Server tie = waiter.pinnedTo();
            if (removeFrom(open, waiter)) {
                tiedInOpen -= tie == null ? 0 : 1;
                return true;
            }
            ArrayDeque<Entry> line = tie == null ? null : pinned.get(tie);
            if (line != null && removeFrom(line, waiter)) {
                if (line.isEmpty()) {
                    pinned.remove(tie);
                }
                return true;
            }
            return false;
    }

    private boolean removeFrom(ArrayDeque<Entry> line, Waiter waiter) {
        for (Iterator<Entry> it = line.iterator(); it.hasNext(); ) {
            if (it.next().waiter() == waiter) {
                it.remove();
                resized(size - 1);
                return true;
            }
        }
        return false;
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
            openLinesOfServersThatLeft(now);
            Entry taker = server.isOverLimit() ? null : oldestFor(server, now);
            if (taker == null) {
                server.stats().inFlight.decrementAndGet();
                server.loadChanged();
                grants = null;
            } else {
                unlink(taker, server);
                grants = new ArrayList<>(2);
                grants.add(new Grant(taker, server));
            }
            grants = dispatchLocked(grants);
        } finally {
            lock.unlock();
        }
        deliver(grants);
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
        deliver(grants);
    }

    /** The pool left the table: every waiter learns that no server will come. */
    void retire() {
        List<Entry> all;
        lock.lock();
        try {
            all = new ArrayList<>(open);
            pinned.values().forEach(all::addAll);
            open.clear();
            pinned.clear();
            tiedInOpen = 0;
            resized(0);
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
    private List<Grant> dispatchLocked(List<Grant> grants) {
        if (size == 0) {
            return grants;
        }
        long now = System.nanoTime();
        openLinesOfServersThatLeft(now);
        for (Server s : pool.servers()) {
            // the widest: each waiter says which it accepts
            while (!s.isFull() && s.takesStickyRequests(now) && size > 0) {
                Entry e = oldestFor(s, now);
                if (e == null || !s.tryAcquireSlot()) {
                    break;
                }
                unlink(e, s);
                if (grants == null) {
                    grants = new ArrayList<>(2);
                }
                grants.add(new Grant(e, s));
            }
        }
        return grants;
    }

    /**
     * The oldest waiter that accepts {@code server}: the head of the server's own line, unless an older one of the
     * pool's line accepts it. The pool's line is read only up to the first that accepts, or the first younger than
     * the head of the server's line, and not at all for a server that takes no new requests (draining) while no
     * waiter of it is tied to a server.
     */
    private Entry oldestFor(Server server, long now) {
        ArrayDeque<Entry> own = pinned.get(server);
        Entry head = own == null ? null : own.peekFirst();
        if (head != null && !head.waiter().accepts(server, now)) {
            head = null;
        }
        if (tiedInOpen == 0 && !server.isAvailable(now)) {
            return head;
        }
        for (Entry e : open) {
            if (head != null && e.seq() > head.seq()) {
                break;
            }
            if (e.waiter().accepts(server, now)) {
                return e;
            }
        }
        return head;
    }

    /**
     * Takes {@code e}, which {@link #oldestFor} found for {@code server}, out of its line. Its wait is counted when the
     * request uses the slot ({@link PoolStats#recordWait}), on its own loop: its client may leave before.
     */
    private void unlink(Entry e, Server server) {
        ArrayDeque<Entry> own = pinned.get(server);
        if (own != null && own.peekFirst() == e) {
            own.pollFirst();
            if (own.isEmpty()) {
                pinned.remove(server);
            }
        } else {
            open.remove(e); // found by a walk from the head, which this one repeats
            tiedInOpen -= e.waiter().pinnedTo() == null ? 0 : 1;
        }
        resized(size - 1);
    }

    /**
     * The waiters tied to a server that no longer takes them (down, in maintenance, gone from the table) may go to
     * any server now: they join the pool's line, in their places. Every such change of a server is followed by a
     * {@link #dispatch}, so they do not wait for the next release.
     */
    private void openLinesOfServersThatLeft(long now) {
        if (pinned.isEmpty()) {
            return;
        }
        for (Iterator<Map.Entry<Server, ArrayDeque<Entry>>> it = pinned.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Server, ArrayDeque<Entry>> line = it.next();
            if (!line.getKey().takesStickyRequests(now)) {
                it.remove();
                tiedInOpen += line.getValue().size();
                merge(line.getValue());
            }
        }
    }

    /** Merges {@code line} into the pool's line, both oldest first. */
    private void merge(ArrayDeque<Entry> line) {
        List<Entry> merged = new ArrayList<>(open.size() + line.size());
        Entry a = open.pollFirst();
        Entry b = line.pollFirst();
        while (a != null || b != null) {
            if (b == null || (a != null && a.seq() < b.seq())) {
                merged.add(a);
                a = open.pollFirst();
            } else {
                merged.add(b);
                b = line.pollFirst();
            }
        }
        open.addAll(merged);
    }

    private void resized(int n) {
        size = n;
        stats.queueDepth(n);
    }

    private static void deliver(List<Grant> grants) {
        if (grants == null) {
            return;
        }
        for (Grant g : grants) {
            g.entry().waiter().granted(g.server());
        }
    }
}
