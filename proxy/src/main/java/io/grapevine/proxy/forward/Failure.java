package io.grapevine.proxy.forward;

/** Why an attempt lost its backend connection. */
public enum Failure {
    /** Connect refused, unreachable, or reset during connect: the request was not sent. */
    CONNECT_REFUSED,
    /** Connect did not complete in time: the request was not sent. */
    CONNECT_TIMEOUT,
    /**
     * The proxy could not open the connection's socket: it is out of file descriptors or socket memory, or no local
     * port is free towards the server ({@link io.grapevine.proxy.net.Descriptors#localShortage}). The request was not
     * sent, and the failure says nothing of the server.
     */
    NO_SOCKET,
    /** Closed or reset before the response head was complete: the request may have been processed. */
    CLOSED_EARLY,
    /** Closed or reset in the middle of the response body. */
    CLOSED_MID_BODY,
    /** The response was not valid HTTP. */
    BAD_RESPONSE,
    /** No byte for longer than the server timeout. */
    TIMEOUT,
    /**
     * The backend's host stopped acknowledging what was sent (it lost its network, or died without a reset): bytes
     * outstanding for longer than the connect timeout, or keepalive probes unanswered. The request may have
     * been processed.
     */
    UNREACHABLE;

    /** The request never left the proxy. */
    public boolean beforeSending() {
        return this == CONNECT_REFUSED || this == CONNECT_TIMEOUT || this == NO_SOCKET;
    }
}
