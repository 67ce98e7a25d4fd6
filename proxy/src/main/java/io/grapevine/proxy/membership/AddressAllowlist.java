package io.grapevine.proxy.membership;

import io.grapevine.proxy.config.BackendAllowlist;
import io.grapevine.proxy.config.Networks;
import io.netty.util.NetUtil;
import java.util.List;

/**
 * Where gossip-announced backends may live: CIDR networks and ports from {@code allowed_backends}.
 * An empty list allows everything of its kind. Host names are refused when networks are configured
 * (an announced name could resolve anywhere).
 */
final class AddressAllowlist {

    private final Networks networks;
    private final List<int[]> ports;

    AddressAllowlist(BackendAllowlist config) {
        this.networks = Networks.of(config.cidrs());
        this.ports = List.copyOf(config.ports());
    }

    /** @return null when allowed, else why not */
    String check(String host, int port) {
        if (!ports.isEmpty() && ports.stream().noneMatch(r -> port >= r[0] && port <= r[1])) {
            return "port " + port + " is not in allowed_backends.ports";
        }
        if (networks.isEmpty()) {
            return null;
        }
        byte[] address = NetUtil.createByteArrayFromIpAddressString(host);
        if (address == null) {
            return "host " + host + " is not an IP address (allowed_backends.cidrs is set)";
        }
        return networks.contains(address) ? null : "address " + host + " is not in allowed_backends.cidrs";
    }
}
