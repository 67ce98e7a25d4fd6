package io.grapevine.proxy.forward;

/**
 * What an event loop needs of each client connection it serves, whatever its protocol: deadlines swept
 * periodically, and a graceful drain. Called on the connection's event loop.
 */
public interface ClientConnection {

    /** Enforces the connection's deadlines (header, idle, stalled body or reader) at {@code nowNanos}. */
    void checkDeadlines(long nowNanos);

    /** Graceful shutdown: finish what is in flight, take no new request, then close. */
    void beginDrain();
}
