package io.grapevine.proxy;

import io.grapevine.proxy.config.HostPort;
import java.nio.channels.UnresolvedAddressException;
import java.util.Locale;

/**
 * The client or admin listener could not be bound. The message is one line that names the address,
 * where it was configured ({@code --listen} / {@code --admin}, or that key of servers.conf) and why.
 */
public final class ListenerBindException extends RuntimeException {

    /** Where the client listener's address comes from, as the messages name it. */
    static final String LISTEN = "--listen, or \"listen\" in servers.conf";
    /** Where the admin listener's address comes from. */
    static final String ADMIN = "--admin, or \"admin\" in servers.conf";
    /** Where the address of the TLS listener beside the plaintext one comes from: servers.conf alone. */
    static final String TLS_LISTEN = "\"listen\" of \"tls\" in servers.conf";

    /** @param configuredBy where the address was given: {@link #LISTEN}, {@link #ADMIN} or {@link #TLS_LISTEN} */
    ListenerBindException(HostPort address, String configuredBy, Throwable cause) {
        super(message(address, configuredBy, cause), cause);
    }

    private static String message(HostPort address, String configuredBy, Throwable cause) {
        String reason = cause instanceof UnresolvedAddressException ? address.whyUnresolved()
                : cause.getMessage() == null ? cause.toString() : cause.getMessage();
        reason = reason.replaceFirst("^bind\\(\\.\\.\\) failed: ", "");
        String lower = reason.toLowerCase(Locale.ROOT);
        if (lower.contains("already in use")) {
            reason = "address already in use (see which process has it: ss -ltnp 'sport = :" + address.port() + "')";
        } else if (lower.contains("cannot assign requested address")) {
            reason = address.host() + " is not an address of this host";
        } else if (lower.contains("permission denied")) {
            reason = "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
        }
        return "cannot listen on " + address + " (" + configuredBy + "): " + reason;
    }
}
