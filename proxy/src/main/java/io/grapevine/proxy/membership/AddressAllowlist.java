package io.grapevine.proxy.membership;

import io.grapevine.proxy.config.BackendAllowlist;
import io.netty.util.NetUtil;
import java.util.ArrayList;
import java.util.List;

/**
 * Where gossip-announced backends may live: CIDR networks and ports from {@code allowed_backends}.
 * An empty list allows everything of its kind. Host names are refused when networks are configured
 * (an announced name could resolve anywhere).
 */
final class AddressAllowlist {

    private record Network(byte[] prefix, int bits) {
        boolean contains(byte[] address) {
            if (address.length != prefix.length) {
                return false;
            }
            int full = bits / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != prefix[i]) {
                    return false;
                }
            }
            int rest = bits % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xFF << (8 - rest)) & 0xFF;
            return (address[full] & mask) == (prefix[full] & mask);
        }
    }

    private final List<Network> networks = new ArrayList<>();
    private final List<int[]> ports;

    AddressAllowlist(BackendAllowlist config) {
        for (String cidr : config.cidrs()) {
            int slash = cidr.indexOf('/');
            String ip = slash < 0 ? cidr : cidr.substring(0, slash);
            byte[] bytes = NetUtil.createByteArrayFromIpAddressString(ip);
            if (bytes == null) {
                throw new IllegalArgumentException("not a network: " + cidr);
            }
            int bits = slash < 0 ? bytes.length * 8 : Integer.parseInt(cidr.substring(slash + 1));
            networks.add(new Network(bytes, bits));
        }
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
        for (Network n : networks) {
            if (n.contains(address)) {
                return null;
            }
        }
        return "address " + host + " is not in allowed_backends.cidrs";
    }
}
