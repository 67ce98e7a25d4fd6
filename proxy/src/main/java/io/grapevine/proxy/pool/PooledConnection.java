package io.grapevine.proxy.pool;

/** What an {@link UpstreamPool} needs to know of a backend connection. */
public interface PooledConnection {

    /** Open, idle and clean: no bytes pending in either direction. */
    boolean isReusable();

    /** {@link System#nanoTime()} when it was last released to its pool. */
    long idleSinceNanos();

    /** Closes the connection (its close listener removes it from the pool). */
    void close();
}
