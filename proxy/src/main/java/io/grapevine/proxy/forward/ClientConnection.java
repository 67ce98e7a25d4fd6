package io.grapevine.proxy.forward;

import io.netty.channel.Channel;
import java.net.InetSocketAddress;

/**
 * What an event loop needs of each client connection it serves, whatever its protocol: deadlines swept
 * periodically, and a graceful drain. Called on the connection's event loop.
 */
public interface ClientConnection {

    /** Enforces the connection's deadlines (header, idle, stalled body or reader) at {@code nowNanos}. */
    void checkDeadlines(long nowNanos);

    /** Graceful shutdown: finish what is in flight, take no new request, then close. */
    void beginDrain();

    /**
     * The end of keep-alive (the proxy is no longer ready): the next response is the connection's last, and says
     * so (HTTP/1: {@code Connection: close}; HTTP/2: GOAWAY), so that the client reconnects, through whatever
     * balancer or virtual IP routes it by then. An idle connection stays open for that one request; unlike
     * {@link #beginDrain}, nothing is refused.
     */
    void closeAfterNextResponse();

    /**
     * Since when ({@link System#nanoTime}) the client has taken too little of what the proxy has to send it, or 0:
     * since its socket kept more than the high-water mark after a flush, without draining below the low-water mark
     * since (a client that reads nothing, or too slowly to drain it). Under memory pressure, such connections are
     * closed ({@link MemoryPressure}).
     */
    default long stalledSinceNanos() {
        return 0;
    }

    /**
     * Under memory pressure, for a connection not stalled itself: resets its streams (HTTP/2) whose response has waited
     * for the client's window for over {@link MemoryPressure#STALLED_NANOS}. Returns how many.
     */
    default int shedStalledStreams(long nowNanos) {
        return 0;
    }

    /**
     * Closes the connection at once, what waits to be written dropped, as its idle timeout closes a client that reads
     * nothing: no graceful end (an HTTP/2 codec's close would wait for its streams, TLS for its close_notify to be
     * written). Returns whether it was open.
     */
    default boolean abort() {
        if (!channel().isOpen()) {
            return false;
        }
        channel().close();
        return true;
    }

    /** The client's channel (the proxy closes it at once when it stops: {@link LoopContext#closeAll}). */
    Channel channel();

    /**
     * The client's address (announced by a PROXY header, or the peer), or {@code null}: with the destination, the key
     * of the backend connections that speak for this client alone ({@link IdleKey}), closed with it. {@code null} for
     * a connection that forwards no request (one whose protocol is not known yet).
     */
    default InetSocketAddress clientInet() {
        return null;
    }

    /** The address the client connected to (announced, or this socket's), or {@code null}. */
    default InetSocketAddress destinationInet() {
        return null;
    }
}
