package io.grapevine.proxy.client;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * Who the client is. Normally the peer of the client connection; when an L4 balancer in front passes the
 * original address with the PROXY protocol, the address it announced, recorded on the channel before any
 * request is read. The HTTP/2 streams of a connection ask their parent channel.
 */
public final class ClientAddress {

    /** The client's address as a PROXY protocol header announced it; absent otherwise. */
    public static final AttributeKey<InetSocketAddress> ANNOUNCED = AttributeKey.valueOf("grapevine.clientAddress");
    /** The address the client connected to, as a PROXY protocol header announced it; absent otherwise. */
    public static final AttributeKey<InetSocketAddress> ANNOUNCED_DESTINATION =
            AttributeKey.valueOf("grapevine.clientDestination");

    private ClientAddress() {
    }

    /** The client's address, or {@code null} if unknown (not an IP connection). */
    public static InetSocketAddress of(Channel channel) {
        Channel connection = connectionOf(channel);
        InetSocketAddress announced = announced(connection, ANNOUNCED);
        if (announced != null) {
            return announced;
        }
        SocketAddress remote = connection.remoteAddress();
        return remote instanceof InetSocketAddress inet ? inet : null;
    }

    /** The address the client connected to (the announced one behind a balancer), or {@code null}. */
    public static InetSocketAddress destinationOf(Channel channel) {
        Channel connection = connectionOf(channel);
        InetSocketAddress announced = announced(connection, ANNOUNCED_DESTINATION);
        if (announced != null) {
            return announced;
        }
        SocketAddress local = connection.localAddress();
        return local instanceof InetSocketAddress inet ? inet : null;
    }

    /**
     * What a PROXY header announced under {@code key}, or {@code null}. Asked with {@code hasAttr} first: {@code attr}
     * makes the attribute when the channel has none (an object and a copy of the channel's attribute array, twice per
     * connection that came without a PROXY header, nearly every one).
     */
    private static InetSocketAddress announced(Channel connection, AttributeKey<InetSocketAddress> key) {
        return connection.hasAttr(key) ? connection.attr(key).get() : null;
    }

    /**
     * The client as log lines name it: its address ({@link #of}: the one a PROXY header announced, when one did),
     * else the peer's address of whatever kind. Not for the hot path: log lines only.
     */
    public static SocketAddress forLog(Channel channel) {
        InetSocketAddress client = of(channel);
        return client != null ? client : connectionOf(channel).remoteAddress();
    }

    /** The client connection a channel belongs to (an HTTP/2 stream's parent). */
    private static Channel connectionOf(Channel channel) {
        Channel parent = channel.parent();
        return parent != null && !(parent instanceof io.netty.channel.ServerChannel) ? parent : channel;
    }

    /** The client's IP as text for X-Forwarded-For and logs: {@code 192.0.2.1}, {@code 2001:db8::1}, or {@code unknown}. */
    public static String text(Channel channel) {
        return text(of(channel));
    }

    /**
     * An address's IP as text, or {@code unknown}: an IPv6 address in RFC 5952 form ({@code 2001:db8::1}, {@code ::1},
     * no scope id), as HAProxy and nginx write it, and as the access log does; not the JDK's {@code getHostAddress}
     * ({@code 2001:db8:0:0:0:0:0:1%eth0}), which a backend comparing addresses as text would not recognise. Once per
     * connection.
     */
    public static String text(InetSocketAddress a) {
        return a == null || a.getAddress() == null ? "unknown" : NetUtil.toAddressString(a.getAddress());
    }
}
