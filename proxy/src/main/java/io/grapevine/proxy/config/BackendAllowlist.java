package io.grapevine.proxy.config;

import java.util.List;

/**
 * Addresses a gossip-announced backend may have. Empty lists allow everything. Static servers are not
 * checked: the operator wrote them.
 *
 * @param cidrs IPv4/IPv6 networks such as {@code 10.0.0.0/8}
 * @param ports allowed ports, or port ranges written {@code "8000-8999"} parsed into [low, high] pairs
 */
public record BackendAllowlist(List<String> cidrs, List<int[]> ports) {

    public static BackendAllowlist allowAll() {
        return new BackendAllowlist(List.of(), List.of());
    }
}
