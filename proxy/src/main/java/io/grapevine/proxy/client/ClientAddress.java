package io.grapevine.proxy.client;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;
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

    private ClientAddress() {
    }

    /** The client's address, or {@code null} if unknown (not an IP connection). */
    public static InetSocketAddress of(Channel channel) {
        Channel connection = channel.parent() != null && !(channel.parent() instanceof io.netty.channel.ServerChannel)
                ? channel.parent() : channel;
        InetSocketAddress announced = connection.attr(ANNOUNCED).get();
        if (announced != null) {
            return announced;
        }
        SocketAddress remote = connection.remoteAddress();
        return remote instanceof InetSocketAddress inet ? inet : null;
    }

    /** The client's IP as text for X-Forwarded-For and logs: {@code 192.0.2.1}, {@code 2001:db8::1}, or {@code unknown}. */
    public static String text(Channel channel) {
        InetSocketAddress a = of(channel);
        return a == null || a.getAddress() == null ? "unknown" : a.getAddress().getHostAddress();
    }
}
