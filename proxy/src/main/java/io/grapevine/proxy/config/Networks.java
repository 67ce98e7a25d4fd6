package io.grapevine.proxy.config;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * A set of IPv4/IPv6 networks written as CIDRs ({@code 10.0.0.0/8}, {@code fd00::/8}), as servers.conf's CIDR values
 * are checked ({@link ValueRule#CIDR}). Immutable; any thread.
 */
public final class Networks {

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

    private final List<Network> networks;

    private Networks(List<Network> networks) {
        this.networks = networks;
    }

    /**
     * @param cidrs networks such as {@code 10.0.0.0/8}; an address without {@code /bits} is a network of one
     * @throws IllegalArgumentException for one that is not a network
     */
    public static Networks of(List<String> cidrs) {
        List<Network> networks = new ArrayList<>(cidrs.size());
        for (String cidr : cidrs) {
            int slash = cidr.indexOf('/');
            String ip = slash < 0 ? cidr : cidr.substring(0, slash);
            byte[] bytes = NetUtil.createByteArrayFromIpAddressString(ip);
            if (bytes == null) {
                throw new IllegalArgumentException("not a network: " + cidr);
            }
            int bits = slash < 0 ? bytes.length * 8 : Integer.parseInt(cidr.substring(slash + 1));
            networks.add(new Network(bytes, bits));
        }
        return new Networks(List.copyOf(networks));
    }

    public boolean isEmpty() {
        return networks.isEmpty();
    }

    /** Whether {@code address} (4 or 16 bytes) lies in one of the networks; an IPv4 one is not in an IPv6 network. */
    public boolean contains(byte[] address) {
        for (Network n : networks) {
            if (n.contains(address)) {
                return true;
            }
        }
        return false;
    }

    /** As {@link #contains(byte[])}; an IPv4-mapped IPv6 address ({@code ::ffff:10.0.0.1}) counts as its IPv4 one. */
    public boolean contains(InetAddress address) {
        byte[] bytes = address.getAddress();
        if (bytes.length == 16 && isIpv4Mapped(bytes)) {
            byte[] v4 = new byte[4];
            System.arraycopy(bytes, 12, v4, 0, 4);
            return contains(v4);
        }
        return contains(bytes);
    }

    private static boolean isIpv4Mapped(byte[] b) {
        for (int i = 0; i < 10; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return b[10] == (byte) 0xFF && b[11] == (byte) 0xFF;
    }
}
