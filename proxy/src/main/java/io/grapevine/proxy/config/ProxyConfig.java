package io.grapevine.proxy.config;

import java.util.List;
import java.util.Map;

/**
 * The whole, validated configuration of one proxy: built once at the edge (file + command line) and read
 * nowhere else. Immutable.
 *
 * @param listen      client listener
 * @param admin       admin listener (loopback by default)
 * @param balance     default algorithm of every pool
 * @param poolBalance per-pool override of {@code balance}
 * @param healthCheck active and passive health settings
 * @param timeouts    deadlines
 * @param limits      sizes, depths, retries
 * @param routes      Host/path routing to pools, in order
 * @param servers     static servers
 * @param allowlist   where gossip-announced backends may live
 * @param proxyProtocol the PROXY protocol towards clients and servers (read at start: changes need a restart)
 * @param accessLog   where and how requests are logged; {@code null}: no access log
 */
public record ProxyConfig(HostPort listen, HostPort admin, Balance balance, Map<String, Balance> poolBalance,
                          HealthCheckConfig healthCheck, Timeouts timeouts, Limits limits, List<RouteSpec> routes,
                          List<ServerSpec> servers, BackendAllowlist allowlist,
                          ProxyProtocolConfig proxyProtocol, AccessLogConfig accessLog) {

    public static final HostPort DEFAULT_LISTEN = new HostPort("127.0.0.1", 9000);
    public static final HostPort DEFAULT_ADMIN = new HostPort("127.0.0.1", 9001);

    public Balance balanceOf(String pool) {
        return poolBalance.getOrDefault(pool, balance);
    }

    public ProxyConfig withListen(HostPort newListen, HostPort newAdmin) {
        return new ProxyConfig(newListen, newAdmin, balance, poolBalance, healthCheck, timeouts, limits, routes,
                servers, allowlist, proxyProtocol, accessLog);
    }

    public ProxyConfig withServers(List<ServerSpec> newServers) {
        return new ProxyConfig(listen, admin, balance, poolBalance, healthCheck, timeouts, limits, routes,
                newServers, allowlist, proxyProtocol, accessLog);
    }
}
