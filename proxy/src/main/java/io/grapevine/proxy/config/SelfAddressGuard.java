package io.grapevine.proxy.config;

import io.grapevine.cluster.HostAndPort;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * Keeps the proxy from routing to itself: a backend server whose address reaches the proxy's own client
 * listener or admin listener is refused, whether it came from servers.conf or from gossip. Routing to the
 * client listener would send each request round in a loop until the connection limit ran out; routing to
 * the admin listener would serve the admin pages (member addresses, the table) on the public port.
 *
 * <p>A listener bound to one address is reached by that address only (127.0.0.2 does not reach a
 * listener on 127.0.0.1). A listener bound to a wildcard address (0.0.0.0, ::) answers on every local
 * address, so any address of a local interface, any loopback address and the wildcard itself are the
 * proxy when the port matches. A server address of 0.0.0.0 or :: connects to the loopback address.
 * Host names are resolved, only when the port is one of the proxy's own.
 *
 * <p>Immutable and thread-safe. {@link #check} may wait for the lookup of a name, {@link Hosts#LOOKUP_MILLIS} at
 * most: call it off the event loops (start-up, the membership view's thread).
 */
public final class SelfAddressGuard {

    /** One listener of the proxy: its role for the log ("admin listener (--admin)") and its bound address. */
    public record Listener(String role, InetSocketAddress address) {
    }

    /** No listener (render mode): nothing is refused. */
    public static final SelfAddressGuard NONE = new SelfAddressGuard(List.of());

    private final List<Listener> listeners;

    public SelfAddressGuard(List<Listener> listeners) {
        this.listeners = List.copyOf(listeners);
    }

    /** The guard of a proxy whose client and admin listeners are bound to these addresses. */
    public static SelfAddressGuard of(InetSocketAddress client, InetSocketAddress admin) {
        return new SelfAddressGuard(List.of(new Listener("client listener (--listen)", client),
                new Listener("admin listener (--admin)", admin)));
    }

    /** @return null when {@code host:port} is not this proxy, else why it is, for the log */
    public String check(String host, int port) {
        List<InetAddress> targets = null;
        for (Listener listener : listeners) {
            InetSocketAddress bound = listener.address();
            if (bound.getPort() != port || bound.getAddress() == null) {
                continue;
            }
            if (targets == null) {
                targets = resolve(host);
            }
            for (InetAddress target : targets) {
                if (reaches(target, bound.getAddress())) {
                    return "it is this proxy's own " + listener.role() + " " + format(bound)
                            + (bound.getAddress().isAnyLocalAddress() ? ", which answers on every local address" : "")
                            + "; a proxy never routes to itself";
                }
            }
        }
        return null;
    }

    /** The servers that are not this proxy; each refused one is handed to {@code refused} with the reason. */
    public List<ServerSpec> filter(List<ServerSpec> servers, BiConsumer<ServerSpec, String> refused) {
        List<ServerSpec> kept = new ArrayList<>(servers.size());
        for (ServerSpec server : servers) {
            String why = check(server.host(), server.port());
            if (why == null) {
                kept.add(server);
            } else {
                refused.accept(server, why);
            }
        }
        return kept;
    }

    private static boolean reaches(InetAddress target, InetAddress bound) {
        InetAddress destination = target;
        if (target.isAnyLocalAddress()) {
            destination = target instanceof Inet6Address ? InetAddress.getLoopbackAddress() : loopbackV4();
        }
        return bound.isAnyLocalAddress() ? isLocal(destination) : bound.equals(destination);
    }

    private static boolean isLocal(InetAddress address) {
        if (address.isLoopbackAddress() || address.isAnyLocalAddress()) {
            return true;
        }
        try {
            return NetworkInterface.getByInetAddress(address) != null;
        } catch (SocketException e) {
            return false;
        }
    }

    private static InetAddress loopbackV4() {
        try {
            return InetAddress.getByAddress(new byte[] {127, 0, 0, 1});
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The addresses of {@code host}: an IP literal parsed, a name's as its host check found them, never a lookup
     * without a time limit (the table thread checks every server it publishes; see {@link Hosts#addresses}).
     */
    private static List<InetAddress> resolve(String host) {
        String literal = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (!Hosts.isIpLiteral(literal)) {
            String name = Hosts.normalize(literal);
            return name == null ? List.of() : Hosts.addresses(name); // none: it reaches nothing, this proxy included
        }
        try {
            return List.of(InetAddress.getAllByName(literal)); // parsed, no DNS
        } catch (UnknownHostException e) {
            return List.of();
        }
    }

    private static String format(InetSocketAddress address) {
        String host = address.getAddress().getHostAddress();
        return HostAndPort.format(host, address.getPort());
    }
}
