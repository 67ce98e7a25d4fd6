package io.grapevine.proxy.client;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.FastThreadLocal;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;

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

    /**
     * {@link #text(InetSocketAddress)} in US-ASCII, as X-Forwarded-For carries it; once per connection. The last
     * address formatted on this thread is kept with its text: connections come again and again from the same few
     * addresses (a balancer in front, a client's pool), and each would otherwise be formatted anew (the text, its
     * bytes, and the formatter's own). The array is therefore shared between connections: it is never written (the
     * parser copies it into heads, the source hash reads it). IPv6 addresses that differ only in their scope id are
     * equal to {@link InetAddress#equals}, and so is their text, which has no scope id.
     */
    static byte[] ascii(InetSocketAddress a) {
        InetAddress ip = a == null ? null : a.getAddress();
        LastFormatted last = LAST_FORMATTED.get();
        if (ip != null && ip.equals(last.ip)) {
            return last.text;
        }
        byte[] text = text(a).getBytes(StandardCharsets.US_ASCII);
        if (ip != null) {
            last.ip = ip;
            last.text = text;
        }
        return text;
    }

    /** The address {@link #ascii} formatted last on a thread, and its text. Owned by that thread (an event loop). */
    private static final class LastFormatted {
        InetAddress ip;
        byte[] text;
    }

    /** An array slot on an event loop's thread (a {@code FastThreadLocalThread}); a plain thread-local elsewhere. */
    private static final FastThreadLocal<LastFormatted> LAST_FORMATTED = new FastThreadLocal<>() {
        @Override
        protected LastFormatted initialValue() {
            return new LastFormatted();
        }
    };
}
