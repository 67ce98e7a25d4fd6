package io.grapevine.proxy.table;

import static io.grapevine.proxy.table.TableHolderTest.spec;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Sticky-session ids and cookies, and what a generation asks request heads to capture. */
class ServerPoolTest {

    private static final byte[] SECRET = "sixteen-or-more-bytes-of-secret!".getBytes(StandardCharsets.US_ASCII);
    private static final PoolPolicy STICKY = new PoolPolicy(Balance.ROUNDROBIN, null,
            new PoolPolicy.Sticky("GVSERVER", 0), 0);

    private static TableHolder holder(Map<String, PoolPolicy> policies, byte[] secret) {
        return new TableHolder(1, List.of(), pool -> policies.getOrDefault(pool, PoolPolicy.DEFAULT), secret);
    }

    private static String cookieValue(ServerPool pool, Server s) {
        String line = new String(pool.setCookie(s, false), StandardCharsets.US_ASCII);
        return line.substring("Set-Cookie: GVSERVER=".length(), line.indexOf(';'));
    }

    @Test
    void theCookieNamesItsServerOpaquelyAndRendersEveryAttribute() {
        TableHolder tables = holder(Map.of("default", new PoolPolicy(Balance.ROUNDROBIN, null,
                new PoolPolicy.Sticky("SRV", 3600), 0)), SECRET);
        ServerPool pool = tables.publish(List.of(spec(8001), spec(8002)), "t").defaultPool();
        Server s = pool.servers().get(0);
        String plain = new String(pool.setCookie(s, false), StandardCharsets.US_ASCII);
        String secure = new String(pool.setCookie(s, true), StandardCharsets.US_ASCII);
        assertTrue(plain.matches("Set-Cookie: SRV=[0-9a-f]{16}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax\r\n"), plain);
        assertEquals(plain.replace("\r\n", "; Secure\r\n"), secure);
        assertFalse(plain.contains("8001") || plain.contains("127.0.0.1") || plain.contains(s.name()), plain);
        String value = plain.substring("Set-Cookie: SRV=".length(), plain.indexOf(';'));
        assertSame(s, pool.stickyServer(value.getBytes(StandardCharsets.US_ASCII)));
        assertNotEquals(value, cookieValue(pool, pool.servers().get(1)));
    }

    @Test
    void aSessionCookieHasNoMaxAge() {
        ServerPool pool = holder(Map.of("default", STICKY), SECRET).publish(List.of(spec(1)), "t").defaultPool();
        String line = new String(pool.setCookie(pool.servers().get(0), false), StandardCharsets.US_ASCII);
        assertTrue(line.matches("Set-Cookie: GVSERVER=[0-9a-f]{16}; Path=/; HttpOnly; SameSite=Lax\r\n"), line);
    }

    @Test
    void idsSurviveGenerationsAndAreTheSameOnEveryProxyWithTheSameSecret() {
        TableHolder one = holder(Map.of("default", STICKY), SECRET);
        ServerPool g1 = one.publish(List.of(spec(1), spec(2)), "t").defaultPool();
        String before = cookieValue(g1, g1.servers().get(0));
        ServerPool g2 = one.publish(List.of(spec(1), spec(2), spec(3)), "a server joins").defaultPool();
        assertEquals(before, cookieValue(g2, g2.servers().get(0)));

        ServerPool otherProxy = holder(Map.of("default", STICKY), SECRET.clone()).publish(List.of(spec(2), spec(1)), "t")
                .defaultPool();
        assertEquals(before, cookieValue(otherProxy, otherProxy.servers().get(1)));

        byte[] otherSecret = SECRET.clone();
        otherSecret[0] ^= 1;
        ServerPool otherKey = holder(Map.of("default", STICKY), otherSecret).publish(List.of(spec(1)), "t").defaultPool();
        assertNotEquals(before, cookieValue(otherKey, otherKey.servers().get(0)));
    }

    @Test
    void valuesThatNameNoServerOfThePoolAreIgnored() {
        TableHolder tables = holder(Map.of("default", STICKY, "api", STICKY), SECRET);
        BackendTable t = tables.publish(List.of(spec(1), spec(2, 1, AdminState.UP, "api")), "t");
        ServerPool web = t.pools().get("default");
        ServerPool api = t.pools().get("api");
        byte[] apiValue = cookieValue(api, api.servers().get(0)).getBytes(StandardCharsets.US_ASCII);
        assertNull(web.stickyServer(apiValue), "a cookie of another pool");
        assertNull(api.setCookie(web.servers().get(0), false), "a server of another pool");
        for (String bad : new String[] {"", "abc", "ZZZZZZZZZZZZZZZZ", "0123456789ABCDEF", "0123456789abcdef0"}) {
            assertNull(web.stickyServer(bad.getBytes(StandardCharsets.US_ASCII)), bad);
        }
        assertNull(web.stickyServer(null));
    }

    @Test
    void drainingServersKeepTheirStickyClientsButTakeNoNewOnes() {
        TableHolder tables = holder(Map.of("default", STICKY), SECRET);
        tables.publish(List.of(spec(1), spec(2)), "t");
        Server s = tables.publish(List.of(spec(1), spec(2, 1, AdminState.DRAINING, "default")), "drain")
                .servers().get(1);
        long now = System.nanoTime();
        assertFalse(s.isAvailable(now));
        assertTrue(s.takesStickyRequests(now));
        tables.publish(List.of(spec(1), spec(2, 1, AdminState.DOWN, "default")), "down");
        assertFalse(s.takesStickyRequests(now), "announced down: not even sticky clients");
        tables.publish(List.of(spec(1), spec(2, 0, AdminState.UP, "default")), "maint");
        assertFalse(s.takesStickyRequests(now), "weight 0 (maint)");
        tables.publish(List.of(spec(1), spec(2)), "up");
        s.setActiveUp(false, "test");
        assertFalse(s.takesStickyRequests(now), "down by health check");
    }

    @Test
    void aGenerationAsksRequestHeadsForWhatItsPoolsNeedAndNothingElse() {
        TableHolder plain = holder(Map.of(), SECRET);
        RequestKeys none = plain.publish(List.of(spec(1)), "t").requestKeys();
        assertEquals(List.of(), none.headers());
        assertEquals(List.of(), none.cookies());
        assertFalse(none.path());
        assertFalse(plain.current().needsPath());

        TableHolder mixed = holder(Map.of(
                "a", new PoolPolicy(Balance.HEADER, "x-user", null, 0),
                "b", new PoolPolicy(Balance.COOKIE, "SID", new PoolPolicy.Sticky("GVSERVER", 0), 0),
                "c", new PoolPolicy(Balance.URI, null, new PoolPolicy.Sticky("OTHER", 0), 0),
                "d", new PoolPolicy(Balance.HEADER, "x-user", null, 0)), SECRET);
        BackendTable t = mixed.publish(List.of(spec(1, 1, AdminState.UP, "a"), spec(2, 1, AdminState.UP, "b"),
                spec(3, 1, AdminState.UP, "c"), spec(4, 1, AdminState.UP, "d"), spec(5)), "t");
        RequestKeys keys = t.requestKeys();
        assertEquals(List.of("x-user"), keys.headers());
        assertEquals(List.of("SID", "GVSERVER", "OTHER"), keys.cookies());
        assertEquals(List.of("GVSERVER", "OTHER"), keys.proxyCookies());
        assertTrue(keys.path());
        assertTrue(t.needsPath());
        ServerPool b = t.pools().get("b");
        assertEquals("SID", keys.cookies().get(b.keyIndex()));
        assertEquals("GVSERVER", keys.cookies().get(b.stickyIndex()));
        assertEquals("x-user", keys.headers().get(t.pools().get("d").keyIndex()));
        assertEquals(-1, t.pools().get("default").keyIndex());
        assertEquals(-1, t.pools().get("default").stickyIndex());
        assertFalse(t.pools().get("default").isSticky());
    }

    @Test
    void aChangeOfPolicyAloneIsANewGeneration() {
        Map<String, PoolPolicy> policies = new java.util.HashMap<>(Map.of("default", PoolPolicy.DEFAULT));
        TableHolder tables = new TableHolder(1, List.of(), policies::get);
        List<ServerSpec> specs = List.of(spec(1));
        BackendTable g1 = tables.publish(specs, "t");
        Map<String, PoolPolicy> sticky = Map.of("default", STICKY);
        BackendTable g2 = tables.publish(specs, List.of(), sticky::get, "reload");
        assertEquals(g1.generation() + 1, g2.generation());
        assertTrue(g2.defaultPool().isSticky());
        assertSame(g2, tables.publish(specs, List.of(), sticky::get, "same again"));
        assertArrayEquals(new long[] {g1.servers().get(0).stickyId()},
                Arrays.stream(new Server[] {g2.servers().get(0)}).mapToLong(Server::stickyId).toArray());
    }
}
