package io.grapevine.proxy.config;

import java.net.InetSocketAddress;

/** A host (IP literal or name) and a TCP port, as written in config or on the command line. */
public record HostPort(String host, int port) {

    public InetSocketAddress toSocketAddress() {
        return new InetSocketAddress(host, port);
    }

    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
