package io.grapevine.proxy.config;

import io.grapevine.cluster.HostAndPort;
import java.net.InetSocketAddress;
import java.util.Collection;

/** A host (IP literal or name) and a TCP port, as written in config or on the command line. */
public record HostPort(String host, int port) {

    /**
     * Parses {@code host:port} or {@code [ipv6]:port} as written in {@code servers.conf} or on the command line.
     * Port 0 is accepted (a listener then picks a free port). The host is an IP literal or a host name; it is not
     * resolved here.
     *
     * @throws IllegalArgumentException with a one-line reason
     */
    public static HostPort parse(String text) {
        int colon = text.lastIndexOf(':');
        String host = colon < 0 ? null : Hosts.normalize(text.substring(0, colon));
        String port = colon < 0 ? "" : text.substring(colon + 1);
        if (host == null || (host.indexOf(':') >= 0 && !text.startsWith("["))) {
            throw new IllegalArgumentException("\"" + text + "\" is not host:port or [ipv6]:port");
        }
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
            throw new IllegalArgumentException("\"" + text + "\" has no port 0..65535");
        }
        return new HostPort(host, Integer.parseInt(port));
    }

    /**
     * The address of a server's host as {@code servers.conf} and the template check it: an IP literal parsed, a name
     * at the address the check's lookup found, never looked up without a time limit (see {@link Hosts}). Any thread.
     */
    public static InetSocketAddress serverAddress(String host, int port) {
        return Hosts.socketAddress(host, port);
    }

    /** How long a lookup of a host name is waited for: once for all the names {@link #lookUp} starts together. */
    public static final long LOOKUP_MILLIS = Hosts.LOOKUP_MILLIS;

    /**
     * Starts the lookups of those of {@code hosts} that are names, all at once and without waiting; {@link
     * #serverAddress} then waits for each at most until {@link #LOOKUP_MILLIS} after this. Any thread.
     */
    public static void lookUp(Collection<String> hosts) {
        Hosts.lookUp(hosts);
    }

    /** Whether the lookup {@link #lookUp} started for {@code host} has not answered within {@code millis}. */
    public static boolean stillLookingUp(String host, long millis) {
        return Hosts.stillLookingUp(host, millis);
    }

    /**
     * The address a listener binds: as {@link #serverAddress}, a name at the address its lookup found, waited for until
     * {@link #LOOKUP_MILLIS} after the lookup started ({@link #lookUp} starts them together), never without a time
     * limit; unresolved if it found none in time ({@link #whyUnresolved} says why). Any thread.
     */
    public InetSocketAddress toSocketAddress() {
        return serverAddress(host, port);
    }

    /** Why {@link #toSocketAddress} found no address for this name, in words that name it. */
    public String whyUnresolved() {
        return Hosts.lookupGivenUp(host) ? "the DNS server did not answer for " + host + " within " + LOOKUP_MILLIS + " ms"
                : host + " has no address (the DNS server found none)";
    }

    @Override
    public String toString() {
        return HostAndPort.format(host, port);
    }
}
