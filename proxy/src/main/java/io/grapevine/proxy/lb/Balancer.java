package io.grapevine.proxy.lb;

import io.grapevine.proxy.table.Server;
import java.util.List;

/**
 * Picks the server for one request among a pool's servers. An instance belongs to one event loop and
 * one table generation: it is created when the table is built and then used only on its loop, so it may
 * keep plain mutable state. Backup servers are considered only when no primary is available.
 */
public interface Balancer {

    /**
     * @param nowNanos {@link System#nanoTime()} of the caller
     * @param excluded servers already tried for this request (may be null)
     * @return an available server, or {@code null} when there is none
     */
    Server pick(long nowNanos, List<Server> excluded);
}
