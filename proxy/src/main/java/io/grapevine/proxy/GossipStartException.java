package io.grapevine.proxy;

/** The gossip member could not start (its port in use, an address not of this host); the message is one line. */
public final class GossipStartException extends RuntimeException {

    GossipStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
