package io.grapevine.proxy.config;

import java.util.List;
import java.util.Map;

/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) on both sides of the proxy.
 *
 * @param accept      client connections must start with a PROXY header (from an L4 balancer in front),
 *                    whose source address then stands for the client
 * @param sendDefault what every pool without its own setting sends to its servers, or {@code null}
 * @param sendByPool  per-pool override of {@code sendDefault}
 * @param acceptFrom  with {@code accept}, the networks (CIDRs) of the balancers that may send a header; a connection
 *                    from any other source is refused. Empty: any source.
 */
public record ProxyProtocolConfig(boolean accept, Version sendDefault, Map<String, Version> sendByPool,
                                  List<String> acceptFrom) {

    /** From any source, if accepted at all. */
    public ProxyProtocolConfig(boolean accept, Version sendDefault, Map<String, Version> sendByPool) {
        this(accept, sendDefault, sendByPool, List.of());
    }

    /** A PROXY protocol version, as servers.conf names it. */
    public enum Version {
        V1("v1"), V2("v2");

        private final String configName;

        Version(String configName) {
            this.configName = configName;
        }

        public String configName() {
            return configName;
        }

        static Version fromConfigName(String name) {
            for (Version v : values()) {
                if (v.configName.equals(name)) {
                    return v;
                }
            }
            return null;
        }
    }

    public static ProxyProtocolConfig off() {
        return new ProxyProtocolConfig(false, null, Map.of());
    }

    /** What {@code pool}'s servers get before each connection's first request, or {@code null}: nothing. */
    public Version sendTo(String pool) {
        return sendByPool.getOrDefault(pool, sendDefault);
    }
}
