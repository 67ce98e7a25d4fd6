package io.grapevine.cluster;

import java.net.InetSocketAddress;

/**
 * A "host:port" pair as given on a command line ({@code [v6]:port} also accepted), and the one place
 * that writes a host and a port together ({@link #format(String, int)}): every log line, Host field,
 * template variable and admin document that shows an address goes through it.
 *
 * @param host host name or IP literal, without brackets
 * @param port 1..65535 (0 only where {@link #parse(String, String, boolean)} allows it)
 */
public record HostAndPort(String host, int port) {

    /** Parses "host:port" with port 1..65535; the message of the exception names {@code what}. */
    public static HostAndPort parse(String text, String what) {
        return parse(text, what, false);
    }

    public static HostAndPort parse(String text, String what, boolean allowPortZero) {
        String expected = what + " must be HOST:PORT, not '" + text + "'";
        if (text == null) {
            throw new IllegalArgumentException(what + " must be HOST:PORT");
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException(expected);
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw new IllegalArgumentException(what + ": write an IPv6 address in brackets, [addr]:port, not '" + text + "'");
        }
        if (host.isEmpty() || !host.matches("[A-Za-z0-9._:-]+")) {
            throw new IllegalArgumentException(expected);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(expected);
        }
        if (port < (allowPortZero ? 0 : 1) || port > 65535) {
            throw new IllegalArgumentException(what + " port must be in " + (allowPortZero ? 0 : 1) + "..65535, not " + port);
        }
        return new HostAndPort(host, port);
    }

    /**
     * {@code host:port}, with an IPv6 literal in brackets ({@code [::1]:8001}) as RFC 3986 section 3.2.2
     * writes it in URIs and RFC 9110 section 7.2 in a Host field; a host name or IPv4 address as it is.
     * The host is given without brackets.
     */
    public static String format(String host, int port) {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }

    /** {@link #format(String, int)} of a socket address: its host string (not resolved) and port. */
    public static String format(InetSocketAddress address) {
        return format(address.getHostString(), address.getPort());
    }

    /** "host:port" as scalecube writes member addresses (an IPv6 host is not bracketed). */
    public String toAddress() {
        return host + ":" + port;
    }

    @Override
    public String toString() {
        return format(host, port);
    }
}
