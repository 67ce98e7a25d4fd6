package io.grapevine.proxy.forward;

import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * The idle keep-alive connections to one server on one event loop (HAProxy's idle connection list,
 * nginx's upstream keepalive cache). Confined to that loop: a plain deque, no locks. Last in, first out,
 * so the hottest connection is reused and the extra ones age out on the backend's or the proxy's idle
 * timeout.
 *
 * @param <C> the connection type
 */
final class IdleConnections<C extends IdleConnections.Member> {

    /** What the idle list needs to know of a connection. */
    interface Member {
        /** Open, idle and clean: no bytes pending in either direction. */
        boolean isReusable();

        /** {@link System#nanoTime()} when it was last released to the idle list. */
        long idleSinceNanos();

        /** Closes the connection. */
        void close();
    }

    private final ArrayDeque<C> idle = new ArrayDeque<>();
    private final int maxIdle;
    private boolean closed;

    IdleConnections(int maxIdle) {
        this.maxIdle = maxIdle;
    }

    /**
     * @param maxIdleNanos only a connection idle for less than this is returned ({@code Long.MAX_VALUE}:
     *                     any); requests that must not be replayed use a short bound, because an old
     *                     connection is the one a backend is likely to close just as the request arrives
     * @return an idle reusable connection, or {@code null}
     */
    C acquire(long nowNanos, long maxIdleNanos) {
        C c;
        while ((c = idle.pollLast()) != null) {
            if (!c.isReusable()) {
                c.close();
                continue;
            }
            if (nowNanos - c.idleSinceNanos() > maxIdleNanos) {
                idle.addLast(c);
                return null;
            }
            return c;
        }
        return null;
    }

    /** @return false when the list is full or closed: the caller closes the connection */
    boolean release(C c) {
        if (closed || idle.size() >= maxIdle) {
            return false;
        }
        idle.addLast(c);
        return true;
    }

    /** Forgets a connection that closed while idle. */
    void remove(C c) {
        idle.remove(c);
    }

    int size() {
        return idle.size();
    }

    /** Closes idle connections older than {@code maxIdleNanos}. */
    void closeIdleOlderThan(long nowNanos, long maxIdleNanos) {
        for (Iterator<C> it = idle.iterator(); it.hasNext(); ) {
            C c = it.next();
            if (nowNanos - c.idleSinceNanos() > maxIdleNanos) {
                it.remove();
                c.close();
            }
        }
    }

    /** The server left: close what is idle and accept nothing more. */
    void close() {
        closed = true;
        C c;
        while ((c = idle.pollFirst()) != null) {
            c.close();
        }
    }
}
