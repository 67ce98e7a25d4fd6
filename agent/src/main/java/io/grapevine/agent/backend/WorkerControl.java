package io.grapevine.agent.backend;

import io.netty.channel.Channel;

/**
 * What the handlers of one accepted connection may see of and do to the worker (the
 * listening server) that accepted it. Methods may be called from any thread.
 */
interface WorkerControl {

    /** The worker id, as reported in {@code X-Backend-Id}. */
    int id();

    /**
     * Registers a newly accepted connection so that a crash can drop it.
     *
     * @return false when the worker already stopped listening; the caller closes the channel
     */
    boolean adopt(Channel connection);

    /** Counts one request head received (whatever its path, valid or not). */
    void requestReceived();

    /** Closes the listening socket; connections already accepted stay open. */
    void stopListening();

    /** Closes every connection this worker accepted. */
    void dropConnections();
}
