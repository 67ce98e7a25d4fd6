package io.grapevine.proxy;

import io.grapevine.proxy.config.HostPort;
import java.util.Locale;

/**
 * The client or admin listener could not be bound. The message is one line that names the address,
 * where it was configured ({@code --listen} / {@code --admin}, or that key of servers.conf) and why.
 */
public final class ListenerBindException extends RuntimeException {

    ListenerBindException(HostPort address, String flag, Throwable cause) {
        super(message(address, flag, cause), cause);
    }

    private static String message(HostPort address, String flag, Throwable cause) {
        String reason = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        reason = reason.replaceFirst("^bind\\(\\.\\.\\) failed: ", "");
        String lower = reason.toLowerCase(Locale.ROOT);
        if (lower.contains("already in use")) {
            reason = "address already in use (see which process has it: ss -ltnp 'sport = :" + address.port() + "')";
        } else if (lower.contains("cannot assign requested address")) {
            reason = address.host() + " is not an address of this host";
        } else if (lower.contains("permission denied")) {
            reason = "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
        }
        return "cannot listen on " + address + " (" + flag + ", or \"" + flag.substring(2) + "\" in servers.conf): " + reason;
    }
}
