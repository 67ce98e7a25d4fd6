package io.grapevine.proxy.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * Each class of error, with the exact one-line message: source, line, column, key, what was expected. Positions are
 * those of the first occurrence of a marker text in the document: the value at fault, or the object for messages
 * about an object as a whole.
 */
class ConfigErrorsTest {

    private static final String TOP_LEVEL_KEYS = "backend_servers, listen, admin, balance, sticky, slow_start_ms, queue, compression, rate_limit, pools, "
            + "health_check, "
            + "passive_health, timeouts, limits, routes, allowed_backends, accept_proxy_protocol, accept_proxy_protocol_from, "
            + "send_proxy_protocol, tls, "
            + "access_log";
    private static final String BALANCE_VALUES = "one of: roundrobin, leastconn, p2c, source, uri, header:NAME, "
            + "cookie:NAME";
    private static final String SERVER_KEYS = "ip, port, name, weight, backup, pool, max_conn";

    private static String error(String json) {
        return assertThrows(ConfigException.class, () -> ConfigLoader.parse(json, "servers.conf")).getMessage();
    }

    private static String gossipError(String json) {
        return assertThrows(ConfigException.class,
                () -> ConfigLoader.parseServers(json, "backends", ServerSpec.Source.GOSSIP)).getMessage();
    }

    /** {@code line:column} (1-based) where {@code marker} first occurs in {@code json}. */
    private static String at(String json, String marker) {
        int offset = json.indexOf(marker);
        if (offset < 0) {
            throw new IllegalArgumentException(marker + " not in " + json);
        }
        String before = json.substring(0, offset);
        return (before.split("\n", -1).length) + ":" + (offset - before.lastIndexOf('\n'));
    }

    @Test
    void compressionNamesAMediaTypeALevelAndOnlyItsOwnKeys() {
        assertEquals("servers.conf:1:64: \"types[1]\" is \"html\" in compression (expected a media type such as "
                + "text/html, or text/* for every subtype of text)",
                error("{\"backend_servers\": [], \"compression\": {\"types\": [\"text/html\", \"html\"]}}"));
        assertEquals("servers.conf:1:66: \"level\" is 10 in pools.a.compression (expected an integer 1..9)",
                error("{\"backend_servers\": [], \"pools\": {\"a\": {\"compression\": {\"level\": 10}}}}"));
        assertEquals("servers.conf:1:54: unknown key \"algorithm\" in compression (expected one of: enabled, level, "
                + "min_length, types)", error("{\"backend_servers\": [], \"compression\": {\"algorithm\": \"br\"}}"));
    }

    @Test
    void rateLimitNamesItsKeyItsRequestsAndOnlyItsOwnKeys() {
        assertEquals("servers.conf:1:47: \"key\" is \"ip\" in rate_limit (expected source, or header: and a field"
                + " name such as header:x-api-key)",
                error("{\"backend_servers\": [], \"rate_limit\": {\"key\": \"ip\"}}"));
        assertEquals("servers.conf:1:39: rate_limit has no \"requests\" (expected how many requests a client may send"
                + " per period_ms (1000 unless set), such as {\"requests\": 100})",
                error("{\"backend_servers\": [], \"rate_limit\": {\"burst\": 5}}"));
        assertEquals("servers.conf:1:55: rate_limit of pool \"a\" has no \"requests\" (expected how many requests a"
                + " client may send per period_ms (1000 unless set), such as {\"requests\": 100})",
                error("{\"backend_servers\": [], \"pools\": {\"a\": {\"rate_limit\": {}}}}"));
        assertEquals("servers.conf:1:84: routes[0].rate_limit has no \"requests\" (expected how many requests a client"
                + " may send per period_ms (1000 unless set), such as {\"requests\": 100})", error("{\"backend_servers\": [], \"pools\": {\"a\": {}}, \"routes\": [{\"pool\": \"a\","
                + " \"rate_limit\": {\"burst\": 2}}]}"));
        assertEquals("servers.conf:1:52: \"requests\" is 0 in rate_limit (expected an integer 1..1000000000)",
                error("{\"backend_servers\": [], \"rate_limit\": {\"requests\": 0}}"));
        assertEquals("servers.conf:1:48: unknown key \"rate\" in rate_limit (expected one of: enabled, requests, "
                + "period_ms, burst, key, max_keys, exempt)", error("{\"backend_servers\": [], \"rate_limit\": {\"rate\": 5}}"));
        assertTrue(error("{\"backend_servers\": [], \"rate_limit\": {\"requests\": 5, \"exempt\": [\"10.0.0/8\"]}}")
                .contains("\"exempt[0]\" is \"10.0.0/8\" in rate_limit (expected a network such as 10.0.0.0/8"));
    }

    @Test
    void redirectHttpNeedsATlsListenerBesideThePlaintextOneAndAPort() {
        String certs = "\"cert\": \"c.pem\", \"key\": \"k.pem\"";
        assertEquals("servers.conf:1:32: tls.redirect_http is set but tls has no \"listen\": the plaintext listener is"
                + " the TLS one (expected \"listen\" inside \"tls\", the TLS port beside the plaintext one)",
                error("{\"backend_servers\": [], \"tls\": {" + certs + ", \"redirect_http\": true}}"));
        assertEquals("servers.conf:1:32: tls.redirect_http with tls.listen on port 0 redirects to no port (expected"
                + " \"redirect_port\": the port clients reach the TLS listener on)",
                error("{\"backend_servers\": [], \"tls\": {" + certs + ", \"listen\": \"127.0.0.1:0\","
                        + " \"redirect_http\": true}}"));
        assertEquals("servers.conf:1:32: tls.redirect_port is set but tls.redirect_http is not (expected"
                + " \"redirect_http\": true)", error("{\"backend_servers\": [], \"tls\": {" + certs
                        + ", \"listen\": \"127.0.0.1:8443\", \"redirect_port\": 443}}"));
        assertEquals("servers.conf:1:56: tls.redirect_http redirects the plaintext listen port 80 to itself (expected"
                + " \"redirect_port\": the port clients reach the TLS listener on)",
                error("{\"backend_servers\": [], \"listen\": \"0.0.0.0:80\", \"tls\": {" + certs
                        + ", \"listen\": \"0.0.0.0:443\", \"redirect_http\": true, \"redirect_port\": 80}}"));
    }

    // ---- unknown, missing, duplicate keys

    @Test
    void unknownKeyNamesKeyObjectAndKnownKeys() {
        String json = """
                {
                  "backend_servers": [
                    { "ip": "127.0.0.1", "port": 8001 },
                    { "ip": "127.0.0.1", "prot": 8002 }
                  ]
                }
                """;
        assertEquals("4:34", at(json, "8002"));
        assertEquals("servers.conf:4:34: unknown key \"prot\" in backend_servers[1] (expected one of: "
                + SERVER_KEYS + ")", error(json));
    }

    @Test
    void unknownTopLevelKeyListsTopLevelKeys() {
        String json = "{\"backend_servers\": [], \"ssl\": {\"cert\": \"x.pem\"}}";
        assertEquals("servers.conf:" + at(json, "{\"cert")
                + ": unknown key \"ssl\" (expected one of: " + TOP_LEVEL_KEYS + ")", error(json));
    }

    // ---- tls

    @Test
    void unknownKeysInTlsAreNamedWithTheirLine() {
        String json = "{\"backend_servers\": [],\n \"tls\": {\"cert\": \"c.pem\", \"key\": \"k.pem\",\n"
                + "  \"ciphers\": \"ALL\"}}";
        assertEquals("servers.conf:" + at(json, "\"ALL") + ": unknown key \"ciphers\" in tls (expected one of: "
                + "cert, key, certificates, listen, provider, redirect_http, redirect_port)", error(json));
        String nested = "{\"backend_servers\": [], \"tls\": {\"certificates\": [\n"
                + "  {\"cert\": \"c.pem\", \"key\": \"k.pem\", \"password\": \"x\"}]}}";
        assertEquals("servers.conf:" + at(nested, "\"x\"") + ": unknown key \"password\" in tls.certificates[0] "
                + "(expected one of: cert, key)", error(nested));
    }

    @Test
    void aTlsCertificateNeedsBothFiles() {
        String json = "{\"backend_servers\": [], \"tls\": {\"certificates\": [{\"cert\": \"c.pem\"}]}}";
        assertEquals("servers.conf:" + at(json, "{\"cert\"") + ": missing key \"key\" in tls.certificates[0] "
                + "(expected a file name)", error(json));
        String half = "{\"backend_servers\": [], \"tls\": {\"key\": \"k.pem\"}}";
        assertEquals("servers.conf:" + at(half, "{\"key") + ": tls has \"key\" without \"cert\" "
                + "(expected both \"cert\" and \"key\", or neither)", error(half));
        String none = "{\"backend_servers\": [], \"tls\": {\"listen\": \"127.0.0.1:8443\", \"certificates\": []}}";
        assertEquals("servers.conf:" + at(none, "{\"listen") + ": tls has no certificate (expected \"cert\" and "
                + "\"key\", or \"certificates\": [{\"cert\": ..., \"key\": ...}])", error(none));
    }

    @Test
    void tlsValuesAreChecked() {
        String provider = "{\"backend_servers\": [], \"tls\": {\"cert\": \"c\", \"key\": \"k\", \"provider\": \"boring\"}}";
        assertEquals("servers.conf:" + at(provider, "\"boring") + ": \"provider\" is \"boring\" in tls "
                + "(expected one of: auto, openssl, jdk)", error(provider));
        String listen = "{\"backend_servers\": [], \"tls\": {\"cert\": \"c\", \"key\": \"k\", \"listen\": \"8443\"}}";
        assertEquals("servers.conf:" + at(listen, "\"8443") + ": \"listen\" is \"8443\" in tls "
                + "(expected host:port or [ipv6]:port, such as 127.0.0.1:9000)", error(listen));
        String file = "{\"backend_servers\": [], \"tls\": {\"cert\": \"\", \"key\": \"k\"}}";
        assertEquals("servers.conf:" + at(file, "\"\",") + ": \"cert\" is \"\" in tls (expected a file name)",
                error(file));
        String timeout = "{\"backend_servers\": [], \"timeouts\": {\"tls_handshake_ms\": 0}}";
        assertEquals("servers.conf:" + at(timeout, "0}") + ": \"tls_handshake_ms\" is 0 in timeouts "
                + "(expected an integer 1..86400000)", error(timeout));
    }

    @Test
    void unknownKeyInNestedObject() {
        String json = "{\"backend_servers\": [], \"health_check\": {\"interval\": 5}}";
        assertEquals("servers.conf:" + at(json, "5}") + ": unknown key \"interval\" in health_check "
                + "(expected one of: enabled, path, host, interval_ms, timeout_ms, rise, fall)", error(json));
    }

    @Test
    void stateIsUnknownInAStaticFile() {
        String json = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"state\": \"up\"}]}";
        assertEquals("servers.conf:" + at(json, "\"up\"") + ": unknown key \"state\" in backend_servers[0] "
                + "(expected one of: " + SERVER_KEYS + ")", error(json));
    }

    @Test
    void missingKeyPointsAtTheObject() {
        String json = """
                {"backend_servers": [
                    {"ip": "127.0.0.1", "port": 8001},
                    {"ip": "127.0.0.1"}
                ]}
                """;
        assertEquals("3:5", at(json, "{\"ip\": \"127.0.0.1\"}"));
        assertEquals("servers.conf:3:5: missing key \"port\" in backend_servers[1] (expected an integer 1..65535)",
                error(json));
    }

    @Test
    void missingBackendServers() {
        assertEquals("servers.conf:1:1: missing key \"backend_servers\" (expected an array)",
                error("{\"listen\": \"127.0.0.1:9000\"}"));
    }

    @Test
    void missingRoutePool() {
        String json = "{\"backend_servers\": [], \"routes\": [{\"path_prefix\": \"/\"}]}";
        assertEquals("servers.conf:" + at(json, "{\"path_prefix") + ": missing key \"pool\" in routes[0] "
                + "(expected a pool name: 1 to 64 of A-Z a-z 0-9 _ . -)", error(json));
    }

    @Test
    void duplicateKeyInOneObject() {
        String json = """
                {"backend_servers": [
                  {"ip": "127.0.0.1", "port": 1, "port": 2}
                ]}
                """;
        String message = error(json);
        // Jackson places the duplicate at the end of its name
        assertEquals("servers.conf:2:40: duplicate key \"port\" in backend_servers[0] "
                + "(expected each key at most once per object)", message);
        assertEquals("2:34", at(json, "\"port\": 2"));
    }

    // ---- values

    @Test
    void outOfRangeValue() {
        String json = """
                {
                  "backend_servers": [
                    { "ip": "127.0.0.1", "port": 70000 }
                  ]
                }
                """;
        assertEquals("3:34", at(json, "70000"));
        assertEquals("servers.conf:3:34: \"port\" is 70000 in backend_servers[0] (expected an integer 1..65535)",
                error(json));
    }

    @Test
    void numbersAreNotStringsOrFractions() {
        String quoted = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": \"8001\"}]}";
        assertEquals("servers.conf:" + at(quoted, "\"8001\"") + ": \"port\" is \"8001\" in backend_servers[0] "
                + "(expected an integer 1..65535)", error(quoted));
        String fraction = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 8001.5}]}";
        assertEquals("servers.conf:" + at(fraction, "8001.5") + ": \"port\" is 8001.5 in backend_servers[0] "
                + "(expected an integer 1..65535)", error(fraction));
        String huge = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"weight\": 99999999999999999999}]}";
        assertEquals("servers.conf:" + at(huge, "999") + ": \"weight\" is 99999999999999999999 in backend_servers[0] "
                + "(expected an integer 0..256)", error(huge));
    }

    @Test
    void booleansAreNotStringsOrNumbers() {
        String string = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"backup\": \"yes\"}]}";
        assertEquals("servers.conf:" + at(string, "\"yes\"") + ": \"backup\" is \"yes\" in backend_servers[0] "
                + "(expected true or false)", error(string));
        String number = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"backup\": 1}]}";
        assertEquals("servers.conf:" + at(number, "1}") + ": \"backup\" is 1 in backend_servers[0] "
                + "(expected true or false)", error(number));
    }

    @Test
    void stringsAreNotNumbers() {
        String json = "{\"backend_servers\": [{\"ip\": 127, \"port\": 1}]}";
        assertEquals("servers.conf:" + at(json, "127") + ": \"ip\" is 127 in backend_servers[0] "
                + "(expected an IP address or a host name that resolves)", error(json));
    }

    @Test
    void nullIsNeverAValue() {
        String scalar = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"weight\": null}]}";
        assertEquals("servers.conf:" + at(scalar, "null") + ": \"weight\" is null in backend_servers[0] "
                + "(expected an integer 0..256)", error(scalar));
        String object = "{\"backend_servers\": [], \"health_check\": null}";
        assertEquals("servers.conf:" + at(object, "null") + ": \"health_check\" is null (expected an object)",
                error(object));
        String element = "{\"backend_servers\": [], \"allowed_backends\": {\"cidrs\": [\"::/0\", null]}}";
        assertEquals("servers.conf:" + at(element, "null") + ": \"cidrs[1]\" is null in allowed_backends "
                + "(expected a network such as 10.0.0.0/8 or fd00::/8)", error(element));
    }

    @Test
    void wrongContainerTypes() {
        assertEquals("servers.conf:1:1: the document is an array (expected an object)",
                error("[{\"ip\": \"127.0.0.1\", \"port\": 8001}]"));
        String object = "{\"backend_servers\": {\"ip\": \"127.0.0.1\", \"port\": 8001}}";
        assertEquals("servers.conf:" + at(object, "{\"ip")
                + ": \"backend_servers\" is an object (expected an array)", error(object));
        String string = "{\"backend_servers\": [\"127.0.0.1:8001\"]}";
        assertEquals("servers.conf:" + at(string, "\"127")
                + ": \"backend_servers[0]\" is \"127.0.0.1:8001\" (expected an object)", error(string));
        String number = "{\"backend_servers\": [], \"timeouts\": 5000}";
        assertEquals("servers.conf:" + at(number, "5000") + ": \"timeouts\" is 5000 (expected an object)",
                error(number));
    }

    /** A name that breaks the host name syntax is told so: "a host name that resolves" would mislead when it resolves. */
    @Test
    void hostThatIsNoHostName() {
        for (String host : List.of("web_1", "-web", "10.0.0.300", "a b")) {
            String json = "{\"backend_servers\": [{\"ip\": \"" + host + "\", \"port\": 80}]}";
            assertEquals("servers.conf:" + at(json, "\"" + host) + ": \"ip\" is \"" + host + "\" in backend_servers[0] "
                    + "(expected an IP address or a host name of letters, digits, '-' and '.')", error(json));
        }
    }

    /**
     * The port written into "ip", as HAProxy's and nginx's server lines have it, is told so: the address is fine, the
     * port has a key of its own ("a host name of letters, digits, '-' and '.'" would send one looking for a typo).
     */
    @Test
    void aHostWithItsPortIsToldThePortHasAKeyOfItsOwn() {
        for (String host : List.of("127.0.0.1:8001", "[::1]:8001", "web-1.example.com:8001")) {
            String json = "{\"backend_servers\": [{\"ip\": \"" + host + "\"}]}";
            assertEquals("servers.conf:" + at(json, "\"" + host) + ": \"ip\" is \"" + host + "\" in backend_servers[0] "
                    + "(expected an IP address or a host name without the port, which goes in \"port\")", error(json));
        }
    }

    /** A list of trusted balancers says nothing without the PROXY protocol it would restrict. */
    @Test
    void proxyProtocolSourcesWithoutTheProtocol() {
        String json = "{\"backend_servers\": [], \"accept_proxy_protocol_from\": [\"10.0.0.0/8\"]}";
        assertEquals("servers.conf:1:1: accept_proxy_protocol_from is set but accept_proxy_protocol is not "
                + "(expected \"accept_proxy_protocol\": true beside it, or neither)", error(json));
        String notANetwork = "{\"backend_servers\": [], \"accept_proxy_protocol\": true, "
                + "\"accept_proxy_protocol_from\": [\"10.0.0.0\"]}";
        assertEquals("servers.conf:" + at(notANetwork, "\"10.0.0.0\"") + ": \"accept_proxy_protocol_from[0]\" is "
                + "\"10.0.0.0\" (expected a network such as 10.0.0.0/8 or fd00::/8)", error(notANetwork));
    }

    /** A check's Host is a Host field's value: a name or an address, with a port or without, and nothing else. */
    @Test
    void checkHostThatIsNoHostField() {
        for (String host : List.of("api example.com", "api.example.com/health", "api.example.com:http", "[::1")) {
            String json = "{\"backend_servers\": [], \"health_check\": {\"path\": \"/\", \"host\": \"" + host + "\"}}";
            assertEquals("servers.conf:" + at(json, "\"" + host) + ": \"host\" is \"" + host + "\" in health_check "
                    + "(expected a host name or IP address, with :port or without, such as api.example.com)", error(json));
        }
    }

    @Test
    void hostNameThatDoesNotResolve() {
        String json = "{\"backend_servers\": [{\"ip\": \"no-such-host.invalid\", \"port\": 80}]}";
        assertEquals("servers.conf:" + at(json, "\"no-such") + ": \"ip\" is \"no-such-host.invalid\" in "
                + "backend_servers[0] (expected an IP address or a host name that resolves)", error(json));
    }

    /**
     * A name refused because its lookup did not answer in time is told so: "a host name that resolves" alone would send
     * one looking for a typo in a name that is right, while the DNS server is what fails (nginx tells "could not be
     * resolved (110: Operation timed out)" from "host not found").
     */
    @Test
    void hostNameWhoseLookupDidNotAnswer() {
        String host = "silent-" + System.nanoTime() + ".example";
        String json = "{\"backend_servers\": [{\"ip\": \"" + host + "\", \"port\": 80}]}";
        try (SilentDns dns = new SilentDns()) {
            assertEquals("servers.conf:" + at(json, "\"silent") + ": \"ip\" is \"" + host + "\" in backend_servers[0] "
                    + "(expected an IP address or a host name that resolves: its lookup did not answer within 5000 ms)",
                    error(json));
        }
    }

    @Test
    void malformedStringValues() {
        String listen = "{\"backend_servers\": [], \"listen\": \"9000\"}";
        assertEquals("servers.conf:" + at(listen, "\"9000") + ": \"listen\" is \"9000\" "
                + "(expected host:port or [ipv6]:port, such as 127.0.0.1:9000)", error(listen));
        String balance = "{\"backend_servers\": [], \"balance\": \"rr\"}";
        assertEquals("servers.conf:" + at(balance, "\"rr") + ": \"balance\" is \"rr\" "
                + "(expected " + BALANCE_VALUES + ")", error(balance));
        String pool = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"pool\": \"a b\"}]}";
        assertEquals("servers.conf:" + at(pool, "\"a b") + ": \"pool\" is \"a b\" in backend_servers[0] "
                + "(expected a pool name: 1 to 64 of A-Z a-z 0-9 _ . -)", error(pool));
        String path = "{\"backend_servers\": [], \"health_check\": {\"path\": \"health\"}}";
        assertEquals("servers.conf:" + at(path, "\"health\"") + ": \"path\" is \"health\" in health_check "
                + "(expected a path that starts with / and has no spaces)", error(path));
        String cidr = "{\"backend_servers\": [], \"allowed_backends\": {\"cidrs\": [\"10.0.0.0/8\", \"10.0.0.0/33\"]}}";
        assertEquals("servers.conf:" + at(cidr, "\"10.0.0.0/33") + ": \"cidrs[1]\" is \"10.0.0.0/33\" in "
                + "allowed_backends (expected a network such as 10.0.0.0/8 or fd00::/8)", error(cidr));
        String ports = "{\"backend_servers\": [], \"allowed_backends\": {\"ports\": [80, \"9000-8000\"]}}";
        assertEquals("servers.conf:" + at(ports, "\"9000") + ": \"ports[1]\" is \"9000-8000\" in allowed_backends "
                + "(expected a port 1..65535 or a range such as \"8000-8999\")", error(ports));
    }

    @Test
    void badPoolNameUnderPools() {
        String json = "{\"backend_servers\": [], \"pools\": {\"a/b\": {}}}";
        assertEquals("servers.conf:" + at(json, "{}") + ": bad pool name \"a/b\" in pools "
                + "(expected a pool name: 1 to 64 of A-Z a-z 0-9 _ . -)", error(json));
    }

    // ---- checks across values

    @Test
    void duplicateServerName() {
        String json = """
                {"backend_servers": [
                  {"ip": "127.0.0.1", "port": 8001, "name": "web"},
                  {"ip": "127.0.0.1", "port": 8002, "name": "web"}
                ]}
                """;
        assertEquals("servers.conf:" + at(json, "{\"ip\": \"127.0.0.1\", \"port\": 8002") + ": backend_servers[1] "
                + "has the same name \"web\" as backend_servers[0] (expected unique server names; set \"name\" on "
                + "one of them)", error(json));
    }

    @Test
    void sameHostAndPortInTwoPoolsNeedTwoNames() {
        String json = """
                {"backend_servers": [
                  {"ip": "127.0.0.1", "port": 8001},
                  {"ip": "127.0.0.1", "port": 8001, "pool": "api"}
                ]}
                """;
        assertEquals("servers.conf:" + at(json, "{\"ip\": \"127.0.0.1\", \"port\": 8001, \"pool") + ": "
                + "backend_servers[1] has the same name \"127.0.0.1:8001\" as backend_servers[0] "
                + "(expected unique server names; set \"name\" on one of them)", error(json));
    }

    @Test
    void duplicateHostAndPortInOnePool() {
        String json = """
                {"backend_servers": [
                  {"ip": "127.0.0.1", "port": 8001},
                  {"ip": "localhost", "port": 8002},
                  {"ip": "LOCALHOST", "port": 8002, "name": "again"}
                ]}
                """;
        assertEquals("servers.conf:" + at(json, "{\"ip\": \"LOCALHOST\"") + ": backend_servers[2] repeats "
                + "localhost:8002 of backend_servers[1] in pool \"default\" "
                + "(expected each host:port at most once per pool)", error(json));
    }

    @Test
    void routeToAPoolWithoutServers() {
        String json = """
                {
                  "backend_servers": [ {"ip": "127.0.0.1", "port": 8001} ],
                  "routes": [ {"path_prefix": "/api/", "pool": "api"} ]
                }
                """;
        assertEquals("servers.conf:" + at(json, "{\"path_prefix") + ": routes[0] sends to pool \"api\", which has "
                + "no servers (expected a pool of some backend_servers entry or a key of \"pools\")", error(json));
    }

    @Test
    void aPathPrefixRoutesCannotMatchIsRefusedWithTheFormTheyMatch() {
        String why = ": routes compare the path with a run of slashes as one, without ;parameters, dot segments "
                + "resolved and letters, digits and -._~ not percent-encoded)";
        String[][] cases = {
                {"/api//v1/", "/api/v1/"},
                {"//admin", "/admin"},
                {"/admin;jsessionid=1/", "/admin/"},
                {"/admin;x", "/admin"},
                {"/az;b", "/az"},
                {"/api/./v1", "/api/v1"},
                {"/api/../admin/", "/admin/"},
                {"/api/..;/admin/", "/admin/"},
                {"/%61pi/", "/api/"},
                {"/api/%2e%2E/admin", "/admin"},
        };
        for (String[] c : cases) {
            String json = "{\"backend_servers\": [ {\"ip\": \"127.0.0.1\", \"port\": 8001} ],\n"
                    + " \"routes\": [ {\"path_prefix\": \"" + c[0] + "\", \"pool\": \"default\"} ]}";
            assertEquals("servers.conf:" + at(json, "\"" + c[0]) + ": \"path_prefix\" is \"" + c[0]
                    + "\" in routes[0] (expected \"" + c[1] + "\"" + why, error(json), c[0]);
        }
        // A last segment may be the start of a longer one: "/." matches "/.well-known", "/a%6" matches "/a%6G".
        for (String prefix : List.of("/.", "/.well-known/", "/api/..", "/a%6", "/a%2F", "/search?q=a//b;c", "/")) {
            assertEquals(List.of(new RouteSpec(null, prefix, "default")), assertDoesNotThrow(() -> ConfigLoader.parse(
                    "{\"backend_servers\": [ {\"ip\": \"127.0.0.1\", \"port\": 8001} ], \"routes\": [ "
                            + "{\"path_prefix\": \"" + prefix + "\", \"pool\": \"default\"} ]}", "servers.conf"))
                    .routes(), prefix);
        }
    }

    // ---- JSON syntax and the document as a whole

    @Test
    void invalidJsonCarriesJacksonsPosition() {
        String json = """
                {
                  "backend_servers": []
                  "listen": "127.0.0.1:9000"
                }
                """;
        assertEquals("servers.conf:" + at(json, "\"listen") + ": invalid JSON: Unexpected character ('\"' (code 34)) "
                + "(expected comma to separate Object entries)", error(json));
        String trailingComma = "{\"backend_servers\": [], }";
        assertEquals("servers.conf:" + at(trailingComma, "}") + ": invalid JSON: Unexpected character "
                + "('}' (code 125)) (expected double-quote to start field name)", error(trailingComma));
        assertEquals("servers.conf:1:1: invalid JSON: comments are not allowed (expected plain JSON)",
                error("# static servers\n{\"backend_servers\": []}"));
        String slashes = "{\n  \"backend_servers\": [] // none yet\n}";
        assertEquals("servers.conf:" + at(slashes, "//") + ": invalid JSON: comments are not allowed "
                + "(expected plain JSON)", error(slashes));
        assertEquals("servers.conf:1:21: invalid JSON: Unrecognized token 'yes' (expected JSON String, Number, "
                + "Array, Object or token 'null', 'true' or 'false')", error("{\"backend_servers\": yes}"));
    }

    @Test
    void truncatedDocument() {
        assertEquals("servers.conf:1:22: invalid JSON: Unexpected end-of-input (expected close marker for Array)",
                error("{\"backend_servers\": ["));
    }

    @Test
    void balanceValuesThatNameNoAlgorithmOrABadField() {
        for (String value : new String[] {"header", "cookie", "header:", "header:X User", "uri:x", "source:a",
                "cookie:a=b", "Header:X-User", "random:x"}) {
            String json = "{\"backend_servers\": [], \"pools\": {\"api\": {\"balance\": \"" + value + "\"}}}";
            assertEquals("servers.conf:" + at(json, "\"" + value) + ": \"balance\" is \"" + value + "\" in pools.api "
                    + "(expected " + BALANCE_VALUES + ")", error(json));
        }
    }

    @Test
    void stickyAndSlowStartValues() {
        String cookie = "{\"backend_servers\": [], \"sticky\": {\"cookie\": \"my cookie\"}}";
        assertEquals("servers.conf:" + at(cookie, "\"my") + ": \"cookie\" is \"my cookie\" in sticky (expected a "
                + "cookie name: 1 to 128 of A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)", error(cookie));
        String age = "{\"backend_servers\": [], \"pools\": {\"a\": {\"sticky\": {\"max_age_s\": -1}}}}";
        assertEquals("servers.conf:" + at(age, "-1") + ": \"max_age_s\" is -1 in pools.a.sticky "
                + "(expected an integer 0..34560000)", error(age));
        String unknown = "{\"backend_servers\": [], \"sticky\": {\"name\": \"X\"}}";
        assertEquals("servers.conf:" + at(unknown, "\"X") + ": unknown key \"name\" in sticky "
                + "(expected one of: enabled, cookie, max_age_s)", error(unknown));
        String slow = "{\"backend_servers\": [], \"slow_start_ms\": 1.5}";
        assertEquals("servers.conf:" + at(slow, "1.5") + ": \"slow_start_ms\" is 1.5 "
                + "(expected an integer 0..86400000)", error(slow));
    }

    @Test
    void contentAfterTheDocument() {
        String json = "{\"backend_servers\": []}\n{\"backend_servers\": []}\n";
        assertEquals("servers.conf:2:1: more content after the top-level object (expected end of input)", error(json));
    }

    @Test
    void emptyDocument() {
        assertEquals("servers.conf: no content (expected a JSON object such as {\"backend_servers\": []})",
                error(" \n\t"));
    }

    @Test
    void messagesAreOneLineWhateverTheInput() {
        String json = "{\"backend_servers\": [], \"balance\": \"round\\nrobin\"}";
        assertEquals("servers.conf:" + at(json, "\"round") + ": \"balance\" is \"round\\nrobin\" "
                + "(expected " + BALANCE_VALUES + ")", error(json));
    }

    @Test
    void accessLogNeedsAPathAndAKnownFormat() {
        String noPath = "{\"backend_servers\": [], \"access_log\": {\"format\": \"json\"}}";
        assertEquals("servers.conf:" + at(noPath, "{\"format") + ": missing key \"path\" in access_log (expected a file path)",
                error(noPath));
        String badFormat = "{\"backend_servers\": [], \"access_log\": {\"path\": \"a.log\", \"format\": \"common\"}}";
        assertEquals("servers.conf:" + at(badFormat, "\"common") + ": \"format\" is \"common\" in access_log "
                + "(expected one of: combined, json)", error(badFormat));
        String negativeDelay = "{\"backend_servers\": [], \"timeouts\": {\"shutdown_delay_ms\": -1}}";
        assertEquals("servers.conf:" + at(negativeDelay, "-1") + ": \"shutdown_delay_ms\" is -1 in timeouts "
                + "(expected an integer 0..86400000)", error(negativeDelay));
    }

    // ---- gossip documents

    @Test
    void gossipDocumentHoldsOnlyServers() {
        String json = "{\"backend_servers\": [], \"listen\": \"127.0.0.1:9000\"}";
        assertEquals("backends:" + at(json, "\"127") + ": unknown key \"listen\" (expected one of: backend_servers)",
                gossipError(json));
    }

    @Test
    void gossipStateIsChecked() {
        String json = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"state\": \"gone\"}]}";
        assertEquals("backends:" + at(json, "\"gone") + ": \"state\" is \"gone\" in backend_servers[0] "
                + "(expected one of: up, down, draining)", gossipError(json));
    }

    @Test
    void gossipServersAreValidatedLikeStaticOnes() {
        String json = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 0, \"shard\": 1}]}";
        assertEquals("backends:" + at(json, "0,") + ": \"port\" is 0 in backend_servers[0] "
                + "(expected an integer 1..65535)", gossipError(json));
        String unknown = "{\"backend_servers\": [{\"ip\": \"::1\", \"port\": 1, \"shard\": 1}]}";
        assertEquals("backends:" + at(unknown, "1}") + ": unknown key \"shard\" in backend_servers[0] "
                + "(expected one of: " + SERVER_KEYS + ", state)", gossipError(unknown));
    }

    // ---- files

    @Test
    void missingFile(@TempDir Path dir) {
        Path file = dir.resolve("servers.conf");
        assertEquals(file + ": cannot read file: No such file or directory",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(file)).getMessage());
    }

    @Test
    void directoryInsteadOfFile(@TempDir Path dir) {
        assertEquals(dir + ": cannot read file: Is a directory",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(dir)).getMessage());
    }

    @Test
    void fifoInsteadOfFileIsRefusedAtOnce(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("servers.conf");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        try {
            assertEquals(fifo + ": cannot read file: not a regular file", assertTimeoutPreemptively(
                    Duration.ofSeconds(10), () -> assertThrows(ConfigException.class, () -> ConfigLoader.load(fifo)))
                    .getMessage());
        } finally {
            // a reader still blocked in its open gets a writer, and the end of the file
            new ProcessBuilder("timeout", "2", "sh", "-c", "echo {} > \"$0\"", fifo.toString()).start().waitFor();
        }
    }

    @Test
    void fileLargerThanTheLimitIsRefused(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("servers.conf");
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(ConfigLoader.MAX_FILE_BYTES + 1);
        }
        assertEquals(file + ": cannot read file: larger than 16 MiB",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(file)).getMessage());
    }

    @Test
    void unreadableFile(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("servers.conf"), "{\"backend_servers\": []}");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("---------"));
        assumeFalse(Files.isReadable(file), "running as root: every file is readable");
        assertEquals(file + ": cannot read file: Permission denied",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(file)).getMessage());
    }

    @Test
    void emptyFile(@TempDir Path dir) throws IOException {
        Path file = Files.createFile(dir.resolve("servers.conf"));
        assertEquals(file + ": no content (expected a JSON object such as {\"backend_servers\": []})",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(file)).getMessage());
    }

    @Test
    void fileThatIsNotUtf8(@TempDir Path dir) throws IOException {
        Path file = Files.write(dir.resolve("servers.conf"), new byte[] {'{', (byte) 0xff, '}'});
        assertEquals(file + ": cannot read file: not UTF-8 text",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(file)).getMessage());
    }

    @Test
    void fileErrorsNameTheFileLineAndColumn(@TempDir Path dir) throws IOException {
        String json = "{\n  \"backend_servers\": [],\n  \"prot\": 1\n}\n";
        Path file = Files.writeString(dir.resolve("servers.conf"), "\uFEFF" + json);
        assertEquals("3:11", at(json, "1\n}"));
        assertEquals(file + ":3:11: unknown key \"prot\" (expected one of: " + TOP_LEVEL_KEYS + ")",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(file)).getMessage());
    }

    @Test
    void loadsAValidFile(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("servers.conf"),
                "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 8001 } ] }\n");
        assertEquals(1, ConfigLoader.load(file).servers().size());
    }

    @Test
    void connectionLimitAndQueueValuesAreChecked() {
        String maxConn = "{\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": 8001, \"max_conn\": -1}]}";
        assertEquals("servers.conf:" + at(maxConn, "-1") + ": \"max_conn\" is -1 in backend_servers[0] "
                + "(expected an integer 0..1000000)", error(maxConn));
        String timeout = "{\"backend_servers\": [], \"queue\": {\"timeout_ms\": 0}}";
        assertEquals("servers.conf:" + at(timeout, "0}") + ": \"timeout_ms\" is 0 in queue "
                + "(expected an integer 1..86400000)", error(timeout));
        String unknown = "{\"backend_servers\": [], \"pools\": {\"api\": {\"queue\": {\"size\": 3}}}}";
        assertEquals("servers.conf:" + at(unknown, "3}") + ": unknown key \"size\" in pools.api.queue "
                + "(expected one of: max, timeout_ms)", error(unknown));
        String percent = "{\"backend_servers\": [], \"passive_health\": {\"max_ejected_percent\": 101}}";
        assertEquals("servers.conf:" + at(percent, "101") + ": \"max_ejected_percent\" is 101 in passive_health "
                + "(expected an integer 0..100)", error(percent));
        String budget = "{\"backend_servers\": [], \"limits\": {\"retry_budget_percent\": 1001}}";
        assertEquals("servers.conf:" + at(budget, "1001") + ": \"retry_budget_percent\" is 1001 in limits "
                + "(expected an integer 0..1000)", error(budget));
    }
}
