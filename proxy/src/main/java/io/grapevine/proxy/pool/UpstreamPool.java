package io.grapevine.proxy.pool;

import java.util.ArrayDeque;
import java.util.Iterator;

/**
 * Idle keep-alive connections to one server, owned by one event loop: no locks, plain deque.
 * Last in, first out, so the hottest connection is reused and the extra ones age out on the backend's
 * or the proxy's idle timeout.
 *
 * @param <C> the connection type
 */
public final class UpstreamPool<C extends PooledConnection> {

    private final ArrayDeque<C> idle = new ArrayDeque<>();
    private final int maxIdle;
    private boolean closed;

    public UpstreamPool(int maxIdle) {
        this.maxIdle = maxIdle;
    }

    /**
     * @param maxIdleNanos only a connection idle for less than this is returned ({@code Long.MAX_VALUE}:
     *                     any); requests that must not be replayed use a short bound, because an old
     *                     connection is the one a backend is likely to close just as the request arrives
     * @return an idle reusable connection, or {@code null}
     */
    public C acquire(long nowNanos, long maxIdleNanos) {
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

    /** @return false when the pool is full or closed: the caller closes the connection */
    public boolean release(C c) {
        if (closed || idle.size() >= maxIdle) {
            return false;
        }
        idle.addLast(c);
        return true;
    }

    /** Forgets a connection that closed while idle. */
    public void remove(C c) {
        idle.remove(c);
    }

    public int idleCount() {
        return idle.size();
    }

    /** Closes idle connections older than {@code maxIdleNanos}. */
    public void closeIdleOlderThan(long nowNanos, long maxIdleNanos) {
        for (Iterator<C> it = idle.iterator(); it.hasNext(); ) {
            C c = it.next();
            if (nowNanos - c.idleSinceNanos() > maxIdleNanos) {
                it.remove();
                c.close();
            }
        }
    }

    /** The server left: close what is idle and accept nothing more. */
    public void close() {
        closed = true;
        C c;
        while ((c = idle.pollFirst()) != null) {
            c.close();
        }
    }
}
