package io.grapevine.proxy.config;

import java.util.List;
import java.util.Map;

/**
 * The whole, validated configuration of one proxy: built once at the edge (file + command line) and read
 * nowhere else. Immutable.
 *
 * @param listen      client listener
 * @param admin       admin listener (loopback by default)
 * @param policy      balancing, stickiness and slow start of every pool without its own
 * @param poolPolicies each pool's own, the top-level settings filled in where the pool has none
 * @param healthCheck active and passive health settings
 * @param timeouts    deadlines
 * @param limits      sizes, depths, retries
 * @param routes      Host/path routing to pools, in order
 * @param servers     static servers
 * @param allowlist   where gossip-announced backends may live
 * @param proxyProtocol the PROXY protocol towards clients and servers (read at start: changes need a restart)
 * @param tls         TLS termination, or {@code null} for plaintext only
 * @param accessLog   where and how requests are logged; {@code null}: no access log
 */
public record ProxyConfig(HostPort listen, HostPort admin, PoolPolicy policy, Map<String, PoolPolicy> poolPolicies,
                          HealthCheckConfig healthCheck, Timeouts timeouts, Limits limits, List<RouteSpec> routes,
                          List<ServerSpec> servers, BackendAllowlist allowlist,
                          ProxyProtocolConfig proxyProtocol, TlsConfig tls, AccessLogConfig accessLog) {

    public static final HostPort DEFAULT_LISTEN = new HostPort("127.0.0.1", 9000);
    public static final HostPort DEFAULT_ADMIN = new HostPort("127.0.0.1", 9001);

    /** How {@code pool} balances: its own settings, or the top-level ones. */
    public PoolPolicy policyOf(String pool) {
        return poolPolicies.getOrDefault(pool, policy);
    }

    public Balance balanceOf(String pool) {
        return policyOf(pool).balance();
    }

    public ProxyConfig withListen(HostPort newListen, HostPort newAdmin) {
        return new ProxyConfig(newListen, newAdmin, policy, poolPolicies, healthCheck, timeouts, limits, routes,
                servers, allowlist, proxyProtocol, tls, accessLog);
    }

    /**
     * This configuration with what a reload does not change taken from {@code running}, the one in force: the
     * listeners, health checks, timeouts, limits, the PROXY protocol settings and {@code tls}, which the proxy read
     * at its start and keeps until a restart.
     */
    public ProxyConfig withRestartOnlyKeysOf(ProxyConfig running) {
        return new ProxyConfig(running.listen, running.admin, policy, poolPolicies, running.healthCheck,
                running.timeouts, running.limits, routes, servers, allowlist, running.proxyProtocol, running.tls,
                accessLog);
    }

    public ProxyConfig withServers(List<ServerSpec> newServers) {
        return new ProxyConfig(listen, admin, policy, poolPolicies, healthCheck, timeouts, limits, routes,
                newServers, allowlist, proxyProtocol, tls, accessLog);
    }
}
