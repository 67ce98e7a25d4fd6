package io.grapevine.proxy.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import java.nio.file.Files;
import java.nio.file.Path;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Valid documents: the assignment's format, every optional key, defaults and normalization. */
class ConfigLoaderTest {

    /** Verbatim from the original assignment. */
    private static final String ASSIGNMENT_FORMAT = "{ \"backend_servers\": [ "
            + "{ \"ip\": \"127.0.0.1\", \"port\": 8001 }, { \"ip\": \"127.0.0.1\", \"port\": 8002 } ] }";

    @Test
    void acceptsTheAssignmentFormatExactly() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse(ASSIGNMENT_FORMAT, "servers.conf");

        assertEquals(List.of(
                new ServerSpec("127.0.0.1:8001", "127.0.0.1", 8001, 1, false, "default", ServerSpec.Source.STATIC,
                        ServerSpec.AdminState.UP),
                new ServerSpec("127.0.0.1:8002", "127.0.0.1", 8002, 1, false, "default", ServerSpec.Source.STATIC,
                        ServerSpec.AdminState.UP)), config.servers());
    }

    @Test
    void absentKeysTakeTheRecordsDefaults() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse(ASSIGNMENT_FORMAT, "servers.conf");

        assertEquals(ProxyConfig.DEFAULT_LISTEN, config.listen());
        assertEquals(ProxyConfig.DEFAULT_ADMIN, config.admin());
        assertEquals(PoolPolicy.DEFAULT, config.policy());
        assertEquals(Map.of(), config.poolPolicies());
        assertEquals(HealthCheckConfig.defaults(), config.healthCheck());
        assertEquals(Timeouts.defaults(), config.timeouts());
        assertEquals(Limits.defaults(), config.limits());
        assertEquals(List.of(), config.routes());
        assertEquals(BackendAllowlist.allowAll(), config.allowlist());
        assertNull(config.accessLog(), "no access log unless asked for");
    }

    @Test
    void anAccessLogIsCombinedUnlessToldOtherwise() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [], "access_log": { "path": "access.log" } }
                """, "servers.conf");
        assertEquals(new AccessLogConfig(Path.of("access.log"), AccessLogConfig.Format.COMBINED), config.accessLog());
    }

    @Test
    void absentSubKeysTakeTheirDefaults() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [],
                  "health_check": { "path": "/health" }, "passive_health": { "max_fails": 0 },
                  "timeouts": { "connect_ms": 500 }, "limits": { "retries": 0 } }
                """, "servers.conf");

        HealthCheckConfig health = HealthCheckConfig.defaults();
        assertEquals(new HealthCheckConfig(health.enabled(), "/health", health.intervalMillis(),
                health.timeoutMillis(), health.rise(), health.fall(), 0, health.passiveFailTimeoutMillis()),
                config.healthCheck());
        Timeouts timeouts = Timeouts.defaults();
        assertEquals(new Timeouts(500, timeouts.clientHeaderMillis(), timeouts.clientIdleMillis(),
                timeouts.serverMillis(), timeouts.upstreamIdleMillis(), timeouts.shutdownGraceMillis(),
                timeouts.tunnelIdleMillis(), timeouts.tlsHandshakeMillis(), timeouts.shutdownDelayMillis()),
                config.timeouts());
        Limits limits = Limits.defaults();
        assertEquals(new Limits(limits.maxRequestLineBytes(), limits.maxHeaderBytes(), limits.maxHeaderCount(),
                limits.maxPipelineDepth(), limits.maxIdlePerServer(), limits.maxConnections(), 0,
                limits.h2MaxConcurrentStreams(), limits.h2StreamWindowBytes()), config.limits());
    }

    @Test
    void readsEveryOptionalKey() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                {
                  "listen": "0.0.0.0:8080",
                  "admin": "[::1]:8081",
                  "balance": "leastconn",
                  "pools": { "api": { "balance": "random" }, "static": {} },
                  "health_check": { "enabled": false, "path": "/healthz", "interval_ms": 5000, "timeout_ms": 800,
                                    "rise": 3, "fall": 4 },
                  "passive_health": { "max_fails": 5, "fail_timeout_ms": 20000 },
                  "timeouts": { "connect_ms": 1000, "client_header_ms": 5000, "client_idle_ms": 30000,
                                "server_ms": 15000, "upstream_idle_ms": 20000, "shutdown_grace_ms": 10000, "tunnel_idle_ms": 600000,
                                "tls_handshake_ms": 4000, "shutdown_delay_ms": 2500 },
                  "limits": { "max_request_line": 4096, "max_header_bytes": 16384, "max_header_count": 50,
                              "max_pipeline_depth": 8, "max_idle_per_server": 16, "max_connections": 2000,
                              "retries": 1, "h2_max_concurrent_streams": 50, "h2_stream_window": 131072 },
                  "routes": [ { "host": "API.example.com", "path_prefix": "/v1/", "pool": "api" },
                              { "path_prefix": "/assets/", "pool": "static" } ],
                  "allowed_backends": { "cidrs": ["10.0.0.0/8", "FD00::/8"], "ports": [8080, "9000", "8000-8999"] },
                  "access_log": { "path": "/var/log/grapevine/access.log", "format": "json" },
                  "backend_servers": [
                    { "ip": "10.0.0.1", "port": 8001, "name": "web-1", "weight": 3, "backup": true },
                    { "ip": "10.0.0.2", "port": 8001, "weight": 0, "pool": "api" }
                  ]
                }
                """, "servers.conf");

        assertEquals(new HostPort("0.0.0.0", 8080), config.listen());
        assertEquals(new HostPort("::1", 8081), config.admin());
        assertEquals(PoolPolicy.of(Balance.LEASTCONN), config.policy());
        assertEquals(Map.of("api", PoolPolicy.of(Balance.P2C)), config.poolPolicies());
        assertEquals(Balance.P2C, config.balanceOf("api"));
        assertEquals(Balance.LEASTCONN, config.balanceOf("static"));
        assertEquals(new HealthCheckConfig(false, "/healthz", 5000, 800, 3, 4, 5, 20_000), config.healthCheck());
        assertEquals(new Timeouts(1000, 5000, 30_000, 15_000, 20_000, 10_000, 600_000, 4000, 2500), config.timeouts());
        assertEquals(new AccessLogConfig(Path.of("/var/log/grapevine/access.log"), AccessLogConfig.Format.JSON),
                config.accessLog());
        assertEquals(new Limits(4096, 16_384, 50, 8, 16, 2000, 1, 50, 131_072), config.limits());
        assertEquals(List.of(new RouteSpec("api.example.com", "/v1/", "api"),
                new RouteSpec(null, "/assets/", "static")), config.routes());
        assertEquals(List.of("10.0.0.0/8", "fd00::/8"), config.allowlist().cidrs());
        assertEquals(3, config.allowlist().ports().size());
        assertArrayEquals(new int[] {8080, 8080}, config.allowlist().ports().get(0));
        assertArrayEquals(new int[] {9000, 9000}, config.allowlist().ports().get(1));
        assertArrayEquals(new int[] {8000, 8999}, config.allowlist().ports().get(2));
        assertEquals(List.of(
                new ServerSpec("web-1", "10.0.0.1", 8001, 3, true, "default", ServerSpec.Source.STATIC,
                        ServerSpec.AdminState.UP),
                new ServerSpec("10.0.0.2:8001", "10.0.0.2", 8001, 0, false, "api", ServerSpec.Source.STATIC,
                        ServerSpec.AdminState.UP)), config.servers());
    }

    @Test
    void hostsAreNormalizedSoOneServerHasOneIdentity() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [ { "ip": "[0:0:0:0:0:0:0:1]", "port": 8001 },
                                       { "ip": "LocalHost", "port": 8002 } ] }
                """, "servers.conf");

        assertEquals("::1", config.servers().get(0).host());
        assertEquals("[::1]:8001", config.servers().get(0).name());
        assertEquals("localhost", config.servers().get(1).host());
    }

    @Test
    void allowsAnEmptyServerListForAProxyThatLearnsFromGossip() throws ConfigException {
        assertEquals(List.of(), ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf").servers());
    }

    @Test
    void aRouteMayTargetAPoolDeclaredOnlyUnderPools() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [], "pools": { "api": {} }, "routes": [ { "pool": "api" } ] }
                """, "servers.conf");

        assertEquals(List.of(new RouteSpec(null, null, "api")), config.routes());
    }

    @Test
    void sameHostAndPortMayServeTwoPoolsUnderTwoNames() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [ { "ip": "127.0.0.1", "port": 8001 },
                                       { "ip": "127.0.0.1", "port": 8001, "pool": "api", "name": "api-1" } ] }
                """, "servers.conf");

        assertEquals(List.of("default/127.0.0.1:8001", "api/127.0.0.1:8001"),
                config.servers().stream().map(ServerSpec::key).toList());
    }

    @Test
    void parseServersReadsTheGossipTableWithStates() throws ConfigException {
        List<ServerSpec> servers = ConfigLoader.parseServers("""
                { "backend_servers": [
                  { "ip": "127.0.0.1", "port": 8001, "name": "web-a", "state": "draining", "pool": "web" },
                  { "ip": "127.0.0.1", "port": 8002, "state": "down" },
                  { "ip": "127.0.0.1", "port": 8003 } ] }
                """, "backends.mustache", ServerSpec.Source.GOSSIP);

        assertEquals(List.of(
                new ServerSpec("web-a", "127.0.0.1", 8001, 1, false, "web", ServerSpec.Source.GOSSIP,
                        ServerSpec.AdminState.DRAINING),
                new ServerSpec("127.0.0.1:8002", "127.0.0.1", 8002, 1, false, "default", ServerSpec.Source.GOSSIP,
                        ServerSpec.AdminState.DOWN),
                new ServerSpec("127.0.0.1:8003", "127.0.0.1", 8003, 1, false, "default", ServerSpec.Source.GOSSIP,
                        ServerSpec.AdminState.UP)), servers);
    }

    @Test
    void healthCheckWithoutPathIsATcpCheck() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": [], \"health_check\": {\"rise\": 1}}", "s");

        assertNull(config.healthCheck().path());
        assertEquals(1, config.healthCheck().rise());
    }

    /** The check's Host is kept as a Host field writes it: a name with its port, an IPv6 address in brackets. */
    @Test
    void checkHostIsAHostFieldValue() throws ConfigException {
        for (String[] given : new String[][] {{"API.example.com", "api.example.com"},
                {"api.example.com:8080", "api.example.com:8080"}, {"::1", "[::1]"}, {"[::1]:8443", "[::1]:8443"}}) {
            ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": [], \"health_check\": {\"path\": \"/\", "
                    + "\"host\": \"" + given[0] + "\"}}", "s");
            assertEquals(given[1], config.healthCheck().host(), given[0]);
        }
        assertNull(ConfigLoader.parse("{\"backend_servers\": []}", "s").healthCheck().host());
    }

    @Test
    void tlsFileNamesAreRelativeToTheConfigurationFile(@TempDir Path dir) throws Exception {
        Path conf = Files.writeString(Files.createDirectories(dir.resolve("etc")).resolve("servers.conf"), """
                { "backend_servers": [],
                  "tls": { "cert": "tls/default.crt", "key": "tls/default.key", "listen": "0.0.0.0:8443",
                           "certificates": [ { "cert": "/srv/b.pem", "key": "/srv/b.pem" } ] } }
                """);
        TlsConfig tls = ConfigLoader.load(conf).tls();
        assertEquals(new HostPort("0.0.0.0", 8443), tls.listen());
        assertEquals(List.of(
                new TlsConfig.CertificateFiles(dir.resolve("etc/tls/default.crt"), dir.resolve("etc/tls/default.key")),
                new TlsConfig.CertificateFiles(Path.of("/srv/b.pem"), Path.of("/srv/b.pem"))), tls.certificates());
        assertEquals(TlsConfig.Provider.AUTO, tls.provider());
    }

    @Test
    void withoutTlsThereIsNoTlsConfig() throws ConfigException {
        assertNull(ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf").tls());
        TlsConfig onListen = ConfigLoader.parse("{\"backend_servers\": [], \"tls\": {\"provider\": \"jdk\", "
                + "\"certificates\": [{\"cert\": \"/c\", \"key\": \"/k\"}]}}", "servers.conf").tls();
        assertNull(onListen.listen(), "TLS on the listener itself");
        assertEquals(TlsConfig.Provider.JDK, onListen.provider());
    }

    @Test
    void poolPoliciesTakeTheTopLevelSettingsTheyDoNotSetThemselves() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [],
                  "balance": "uri", "sticky": { "cookie": "SRV", "max_age_s": 3600 }, "slow_start_ms": 10000,
                  "pools": {
                    "api": { "balance": "header:X-User", "sticky": {}, "slow_start_ms": 0 },
                    "shop": { "balance": "cookie:SessionId", "sticky": { "max_age_s": 0 } },
                    "static": { "balance": "random", "sticky": { "enabled": false } },
                    "images": {}
                  } }
                """, "servers.conf");

        PoolPolicy.Sticky topSticky = new PoolPolicy.Sticky("SRV", 3600);
        assertEquals(new PoolPolicy(Balance.URI, null, topSticky, 10_000), config.policy());
        assertEquals(new PoolPolicy(Balance.HEADER, "x-user", topSticky, 0), config.policyOf("api"));
        assertEquals("header:x-user", config.policyOf("api").balanceName());
        assertEquals(new PoolPolicy(Balance.COOKIE, "SessionId", new PoolPolicy.Sticky("SRV", 0), 10_000),
                config.policyOf("shop"));
        assertEquals(new PoolPolicy(Balance.P2C, null, null, 10_000), config.policyOf("static"));
        assertEquals(config.policy(), config.policyOf("images"));
        assertEquals(config.policy(), config.policyOf("not-declared"));
    }

    @Test
    void aRateLimitIsOffByDefaultAndAPoolTakesTheTopLevelSettingsItDoesNotSet() throws ConfigException {
        assertEquals(RateLimit.OFF, ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf").policy()
                .rateLimit());
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [],
                  "rate_limit": { "requests": 100, "burst": 20, "key": "header:X-Api-Key" },
                  "pools": {
                    "api": { "rate_limit": { "key": "source", "max_keys": 1000 } },
                    "search": { "rate_limit": { "requests": 30, "period_ms": 60000 } },
                    "static": { "rate_limit": { "enabled": false } },
                    "other": { "balance": "leastconn" }
                  } }
                """, "servers.conf");
        RateLimit top = new RateLimit(true, 100, 1000, 20, "x-api-key", 65_536);
        assertEquals(top, config.policy().rateLimit(), "a rate_limit object turns it on; a header's name lower case");
        assertEquals("header:x-api-key", top.keyName());
        assertEquals(new RateLimit(true, 100, 1000, 20, null, 1000), config.policyOf("api").rateLimit());
        assertEquals(new RateLimit(true, 30, 60_000, 30, "x-api-key", 65_536), config.policyOf("search").rateLimit(),
                "new requests without a burst: the burst is the new requests");
        assertEquals(false, config.policyOf("static").rateLimit().enabled());
        assertEquals(top, config.policyOf("other").rateLimit());
        assertEquals("30 per 60 s by header:x-api-key, burst 30", config.policyOf("search").rateLimit().describe());
        ProxyConfig offAtTheTop = ConfigLoader.parse("""
                { "backend_servers": [],
                  "rate_limit": { "enabled": false, "requests": 100, "burst": 200 },
                  "pools": { "api": { "rate_limit": { "enabled": true } } } }
                """, "servers.conf");
        assertEquals(false, offAtTheTop.policy().rateLimit().enabled());
        assertEquals(new RateLimit(true, 100, 1000, 200, null, 65_536), offAtTheTop.policyOf("api").rateLimit(),
                "defaults at the top level, turned on in a pool, burst included");
        ProxyConfig routed = ConfigLoader.parse("""
                { "backend_servers": [{ "ip": "127.0.0.1", "port": 8001 }],
                  "rate_limit": { "requests": 100 },
                  "routes": [ { "path_prefix": "/login", "pool": "default", "rate_limit": { "requests": 5, "period_ms": 60000 } },
                              { "path_prefix": "/", "pool": "default" } ] }
                """, "servers.conf");
        assertEquals(new RateLimit(true, 5, 60_000, 5, null, 65_536), routed.routes().get(0).rateLimit(),
                "a route's limit stands alone: nothing of the top level's");
        assertEquals(RateLimit.OFF, routed.routes().get(1).rateLimit());
        ProxyConfig exempt = ConfigLoader.parse("""
                { "backend_servers": [],
                  "rate_limit": { "requests": 10, "exempt": ["10.0.0.0/8", "fd00::/8"] },
                  "pools": { "api": { "rate_limit": { "requests": 20 } }, "ops": { "rate_limit": { "exempt": [] } } } }
                """, "servers.conf");
        assertEquals(List.of("10.0.0.0/8", "fd00::/8"), exempt.policyOf("api").rateLimit().exempt(), "inherited");
        assertEquals(List.of(), exempt.policyOf("ops").rateLimit().exempt(), "a pool's own list replaces the top's");
        assertEquals("10 per 1 s by source, burst 10, 10.0.0.0/8 fd00::/8 exempt", exempt.policy().rateLimit().describe());
        assertEquals(new RateLimit(true, 5, 1000, 5, null, 65_536), ConfigLoader.parse(
                "{\"backend_servers\": [], \"rate_limit\": {\"requests\": 5}}", "servers.conf").policy().rateLimit(),
                "by source, a burst of a period's requests");
    }

    @Test
    void compressionIsOffByDefaultAndAPoolTakesTheTopLevelSettingsItDoesNotSet() throws ConfigException {
        assertEquals(Compression.OFF, ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf").policy()
                .compression());
        ProxyConfig config = ConfigLoader.parse("""
                { "backend_servers": [],
                  "compression": { "level": 6, "types": ["text/*", "Application/JSON"] },
                  "limits": { "max_compressing": 10 },
                  "pools": {
                    "api": { "compression": { "min_length": 0 } },
                    "media": { "compression": { "enabled": false } },
                    "other": { "balance": "leastconn" }
                  } }
                """, "servers.conf");
        Compression top = new Compression(true, 6, 1024, List.of("text/*", "application/json"));
        assertEquals(top, config.policy().compression(), "a compression object turns it on");
        assertEquals(new Compression(true, 6, 0, top.types()), config.policyOf("api").compression());
        assertEquals(new Compression(false, 6, 1024, top.types()), config.policyOf("media").compression());
        assertEquals(top, config.policyOf("other").compression());
        assertEquals(10, config.limits().maxCompressing());
        assertEquals(Limits.DEFAULT_MAX_COMPRESSING,
                ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf").limits().maxCompressing());

        byte[] type = "text/CSS; charset=utf-8".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(top.compresses(type, 0, type.length));
        byte[] json = " application/json".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        assertTrue(top.compresses(json, 0, json.length));
        byte[] png = "image/png".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        assertFalse(top.compresses(png, 0, png.length));
        byte[] bare = "text".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        assertFalse(top.compresses(bare, 0, bare.length));
    }

    @Test
    void stickyWithoutKeysUsesTheDefaultCookie() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": [], \"sticky\": {}}", "servers.conf");

        assertEquals(new PoolPolicy.Sticky("GVSERVER", 0), config.policy().sticky());
        assertEquals(Balance.ROUNDROBIN, config.policy().balance());
        assertEquals(0, config.policy().slowStartMillis());
    }

    @Test
    void readsConnectionLimitsTheQueueTheRetryBudgetAndEjectionLimits() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("""
                { "queue": { "max": 50, "timeout_ms": 2000 },
                  "passive_health": { "max_ejected_percent": 30, "max_ejection_ms": 60000 },
                  "limits": { "retry_budget_percent": 10, "retry_budget_min_per_s": 3 },
                  "pools": { "api": { "queue": { "timeout_ms": 9000 } }, "bulk": { "queue": { "max": 0 } }, "web": {} },
                  "backend_servers": [ { "ip": "10.0.0.1", "port": 8001, "max_conn": 100 },
                                       { "ip": "10.0.0.2", "port": 8001 } ] }
                """, "servers.conf");

        assertEquals(new PoolPolicy.Queue(50, 2000), config.policy().queue());
        assertEquals(new PoolPolicy.Queue(50, 9000), config.policyOf("api").queue(), "a pool's queue inherits max");
        assertEquals(new PoolPolicy.Queue(0, 2000), config.policyOf("bulk").queue());
        assertEquals(config.policy(), config.policyOf("web"));
        assertEquals(100, config.servers().get(0).maxConn());
        assertEquals(0, config.servers().get(1).maxConn(), "no limit by default");
        assertEquals(30, config.healthCheck().passiveMaxEjectedPercent());
        assertEquals(60_000, config.healthCheck().passiveMaxEjectionMillis());
        assertEquals(10, config.limits().retryBudgetPercent());
        assertEquals(3, config.limits().retryBudgetMinPerSecond());
    }

    @Test
    void theNewKeysHaveTheirDocumentedDefaults() throws ConfigException {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf");

        assertEquals(new PoolPolicy.Queue(1000, 5000), config.policy().queue());
        assertEquals(5, config.policy().queue().retryAfterSeconds());
        assertEquals(50, config.healthCheck().passiveMaxEjectedPercent());
        assertEquals(300_000, config.healthCheck().passiveMaxEjectionMillis());
        assertEquals(20, config.limits().retryBudgetPercent());
        assertEquals(10, config.limits().retryBudgetMinPerSecond());
        assertEquals(1, new PoolPolicy.Queue(1, 1).retryAfterSeconds(), "at least a second");
        assertEquals(3, new PoolPolicy.Queue(1, 2001).retryAfterSeconds(), "rounded up");
    }

    @Test
    void aGossipServerMayCarryMaxConn() throws ConfigException {
        List<ServerSpec> servers = ConfigLoader.parseServers(
                "{\"backend_servers\": [{\"ip\": \"10.0.0.5\", \"port\": 8080, \"max_conn\": 7, \"state\": \"up\"}]}",
                "rendered", ServerSpec.Source.GOSSIP);
        assertEquals(7, servers.get(0).maxConn());
    }
}
