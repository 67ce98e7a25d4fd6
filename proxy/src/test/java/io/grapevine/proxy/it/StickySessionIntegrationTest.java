package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.ProxyUnderTest;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sticky sessions through real sockets: the cookie pins a client to its server across connections and table
 * generations, never reaches the backend, moves when its server leaves, and keeps its clients on a draining server
 * that takes no new ones.
 */
class StickySessionIntegrationTest {

    private static final Pattern SET_COOKIE =
            Pattern.compile("GVSERVER=([0-9a-f]{16}); Path=/; HttpOnly; SameSite=Lax");

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @TempDir
    Path dir;

    /** One request on a new connection, with {@code cookie} ({@code GVSERVER} value) when not null. */
    private static Response request(InetSocketAddress proxy, String cookie) throws IOException {
        try (RawHttpClient client = RawHttpClient.connect(proxy)) {
            Response r = cookie == null ? client.send(get("/")).read()
                    : client.send(get("/", "Cookie: theme=dark; GVSERVER=" + cookie)).read();
            assertEquals(200, r.status(), r.toString());
            return r;
        }
    }

    /** The GVSERVER value a response sets, or null when it sets none. */
    private static String setCookie(Response r) {
        String header = r.header("Set-Cookie");
        if (header == null) {
            return null;
        }
        Matcher m = SET_COOKIE.matcher(header);
        assertTrue(m.matches(), "unexpected Set-Cookie: " + header);
        return m.group(1);
    }

    /** A cookie from a response of backend {@code id} (requests without a cookie until that one answers). */
    private static String cookieOf(InetSocketAddress proxy, String id) throws IOException {
        for (int i = 0; i < 50; i++) {
            Response r = request(proxy, null);
            String value = setCookie(r);
            assertTrue(value != null, "a response without the cookie: " + r);
            if (r.header("X-Backend-Id").equals(id)) {
                return value;
            }
        }
        throw new AssertionError("backend " + id + " never answered");
    }

    private static void assertPinned(InetSocketAddress proxy, String cookie, String id, int requests) throws IOException {
        for (int i = 0; i < requests; i++) {
            Response r = request(proxy, cookie);
            assertEquals(id, r.header("X-Backend-Id"), "request " + i + " with the cookie went elsewhere");
            assertNull(r.header("Set-Cookie"), "the client presented the right cookie; no new one: " + r);
        }
    }

    private static String servers(String policy, DemoBackend... backends) {
        return "{ " + policy + ", \"health_check\": {\"enabled\": false}, \"backend_servers\": ["
                + java.util.Arrays.stream(backends).map(b -> "{\"ip\": \"127.0.0.1\", \"port\": " + b.port() + "}")
                .collect(Collectors.joining(", ")) + "] }\n";
    }

    private static void replace(Path file, String content) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".new");
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    @Test
    void theCookiePinsAClientToItsServerAndNeverReachesTheBackend() throws Exception {
        ProxyServer proxy = fx.proxy("\"sticky\": {}", fx.backend(1).port(), fx.backend(2).port(), fx.backend(3).port());
        InetSocketAddress address = proxy.listenAddress();

        Map<String, String> cookieOfBackend = new HashMap<>();
        try (RawHttpClient client = RawHttpClient.connect(address)) {
            for (int i = 0; i < 30; i++) {
                Response r = client.send(get("/")).read();
                String value = setCookie(r);
                assertTrue(value != null, "a client without the cookie gets one: " + r);
                String before = cookieOfBackend.putIfAbsent(r.header("X-Backend-Id"), value);
                assertTrue(before == null || before.equals(value), "one server, two cookie values");
            }
        }
        assertEquals(3, cookieOfBackend.size(), "clients without a cookie are balanced: " + cookieOfBackend);
        assertEquals(3, cookieOfBackend.values().stream().distinct().count());
        for (Map.Entry<String, String> e : cookieOfBackend.entrySet()) {
            assertPinned(address, e.getValue(), e.getKey(), 10);
        }

        String cookie = cookieOfBackend.get("2");
        try (RawHttpClient client = RawHttpClient.connect(address)) {
            Response echo = client.send(get("/echo", "Cookie: a=1; GVSERVER=" + cookie + "; b=2", "Cookie: GVSERVER="
                    + cookie)).read();
            assertEquals("2", echo.header("X-Backend-Id"));
            assertTrue(echo.bodyText().contains("\nCookie: a=1; b=2\n"), echo.bodyText());
            assertFalse(echo.bodyText().contains("GVSERVER"), "the proxy's cookie reached the backend:\n" + echo.bodyText());
        }

        Response unknown = request(address, "0123456789abcdef");
        assertEquals(cookieOfBackend.get(unknown.header("X-Backend-Id")), setCookie(unknown),
                "a value that names no server is balanced and corrected");
    }

    @Test
    void maxAgeAndTheCookieNameAreConfigurable() throws Exception {
        ProxyServer proxy = fx.proxy("\"sticky\": {\"cookie\": \"SRV\", \"max_age_s\": 600}", fx.backend(1).port());
        Response r = request(proxy.listenAddress(), null);
        assertTrue(r.header("Set-Cookie").matches("SRV=[0-9a-f]{16}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"),
                r.header("Set-Cookie"));
    }

    @Test
    void theCookieSurvivesAReloadThatAddsAServerAndMovesWhenItsServerLeaves() throws Exception {
        DemoBackend a = fx.backend(1);
        DemoBackend b = fx.backend(2);
        ProxyUnderTest.Builder builder = ProxyUnderTest.in(dir).noGossip().servers(servers("\"sticky\": {}", a, b));
        ProxyUnderTest proxy = fx.track(builder.start());
        Admin admin = proxy.admin();
        InetSocketAddress address = proxy.listen();
        String cookie = cookieOf(address, "2");
        assertPinned(address, cookie, "2", 5);

        DemoBackend c = fx.backend(3);
        replace(builder.serversFile(), servers("\"sticky\": {}", a, b, c));
        Await.until(Duration.ofSeconds(10), "the third server in /table", () -> admin.hasServer(c.port()), admin::toString);
        assertPinned(address, cookie, "2", 20);

        replace(builder.serversFile(), servers("\"sticky\": {}", a, c));
        Await.until(Duration.ofSeconds(10), "server 2 gone from /table", () -> !admin.hasServer(b.port()), admin::toString);
        Response moved = request(address, cookie);
        assertNotEquals("2", moved.header("X-Backend-Id"));
        String newCookie = setCookie(moved);
        assertTrue(newCookie != null && !newCookie.equals(cookie), "a client whose server left gets a new cookie: "
                + moved);
        assertPinned(address, newCookie, moved.header("X-Backend-Id"), 10);
    }

    @Test
    void aDrainingServerKeepsItsStickyClientsAndTakesNoNewOnes() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest proxy = fx.track(ProxyUnderTest.in(dir).clusterKey(key)
                .servers("{ \"sticky\": {}, \"health_check\": {\"enabled\": false}, \"backend_servers\": [] }").start());
        Admin admin = proxy.admin();
        LocalAgent draining = fx.track(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        LocalAgent staying = fx.track(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        Await.until(Duration.ofSeconds(30), "both agents up in /table",
                () -> admin.serverIn(draining.port(), "up") && admin.serverIn(staying.port(), "up"), admin::toString);
        InetSocketAddress address = proxy.listen();
        String drainingId = String.valueOf(draining.port());
        String stayingId = String.valueOf(staying.port());
        String cookie = cookieOf(address, drainingId);

        draining.publish(MemberState.DRAINING);
        Await.until(Duration.ofSeconds(10), "draining in /table", () -> admin.serverIn(draining.port(), "draining"),
                admin::toString);
        assertPinned(address, cookie, drainingId, 10);
        String stayingCookie = null;
        for (int i = 0; i < 20; i++) {
            Response r = request(address, null);
            assertEquals(stayingId, r.header("X-Backend-Id"), "a new client went to the draining server");
            stayingCookie = setCookie(r);
        }

        draining.backend().close(); // the drain is over: the server is gone
        Response moved = request(address, cookie);
        assertEquals(stayingId, moved.header("X-Backend-Id"));
        assertEquals(stayingCookie, setCookie(moved), "the client is given the cookie of the server it reached");
    }

    @Test
    void proxiesOfOneClusterNameEachServerAlike() throws Exception {
        DemoBackend backend = fx.backend(1);
        String servers = servers("\"sticky\": {}", backend);
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        Path otherKey = ProxyUnderTest.keyFile(dir, "other.key");
        String[] cookies = new String[3];
        Path[] keys = {key, key, otherKey};
        for (int i = 0; i < 3; i++) {
            Path proxyDir = Files.createDirectory(dir.resolve("proxy-" + i));
            ProxyUnderTest proxy = fx.track(ProxyUnderTest.in(proxyDir).clusterKey(keys[i]).servers(servers).start());
            cookies[i] = setCookie(request(proxy.listen(), null));
        }
        assertEquals(cookies[0], cookies[1], "two proxies with one cluster key: a client keeps its server across them");
        assertNotEquals(cookies[0], cookies[2], "another cluster key, another secret");
    }
}
