package io.grapevine.proxy.net;

import io.grapevine.proxy.config.ProxyProtocolConfig;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that tells a backend who the
 * client is: its address and port, and the address and port it connected to. Encoded by Netty's
 * {@code HAProxyMessageEncoder}.
 */
public final class ProxyHeaders {

    private ProxyHeaders() {
    }

    /**
     * The header for a connection made on behalf of a client at {@code source} that connected to
     * {@code destination}. When either is unknown (not an IP connection), version 1 says {@code UNKNOWN} and
     * version 2 sends a {@code LOCAL} command, which tells the backend to use the connection's own addresses.
     * When one is IPv4 and the other IPv6, the IPv4 one is written as an IPv4-mapped IPv6 address, since a
     * header carries one address family.
     */
    public static HAProxyMessage of(ProxyProtocolConfig.Version version, InetSocketAddress source,
                             InetSocketAddress destination) {
        HAProxyProtocolVersion v = version == ProxyProtocolConfig.Version.V1 ? HAProxyProtocolVersion.V1
                : HAProxyProtocolVersion.V2;
        if (source == null || destination == null || source.getAddress() == null
                || destination.getAddress() == null) {
            return new HAProxyMessage(v, v == HAProxyProtocolVersion.V1 ? HAProxyCommand.PROXY : HAProxyCommand.LOCAL,
                    HAProxyProxiedProtocol.UNKNOWN, null, null, 0, 0);
        }
        InetAddress s = source.getAddress();
        InetAddress d = destination.getAddress();
        boolean ipv4 = s instanceof Inet4Address && d instanceof Inet4Address;
        return new HAProxyMessage(v, HAProxyCommand.PROXY,
                ipv4 ? HAProxyProxiedProtocol.TCP4 : HAProxyProxiedProtocol.TCP6,
                ipv4 ? s.getHostAddress() : ipv6Text(s), ipv4 ? d.getHostAddress() : ipv6Text(d),
                source.getPort(), destination.getPort());
    }

    private static String ipv6Text(InetAddress a) {
        if (a instanceof Inet4Address) {
            return "::ffff:" + a.getHostAddress();
        }
        String text = a.getHostAddress();
        int scope = text.indexOf('%');
        return scope < 0 ? text : text.substring(0, scope);
    }
}
