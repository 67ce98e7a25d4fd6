package io.grapevine.proxy.admin;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.testing.AdminRequests;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime API on real sockets: {@code PUT /servers/NAME/state} and {@code /weight} change where requests
 * go at once and keep doing so across servers.conf reloads, {@code POST /reload} says what it did, and
 * writes need the bearer token when one is configured, and a loopback listener when none is.
 */
class RuntimeApiIntegrationTest {

    private static final String TOKEN = "s3cret-token-0123456789";

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private final List<DemoBackend> backends = new ArrayList<>();

    private String servers(String... extra) {
        StringBuilder json = new StringBuilder("{ \"health_check\": {\"enabled\": false}, \"backend_servers\": [");
        for (int i = 0; i < backends.size(); i++) {
            json.append(i == 0 ? "" : ", ").append("{\"ip\": \"127.0.0.1\", \"port\": ").append(backends.get(i).port())
                    .append(", \"name\": \"web-").append((char) ('a' + i)).append('"')
                    .append(i < extra.length ? extra[i] : "").append('}');
        }
        return json.append("] }").toString();
    }

    private ProxyUnderTest proxy(int backendCount) throws Exception {
        for (int i = 0; i < backendCount; i++) {
            backends.add(resources.keep(DemoBackend.start("127.0.0.1", 0, i + 1)));
        }
        return resources.keep(ProxyUnderTest.in(dir).servers(servers()).noGossip().start());
    }

    private static AdminRequests admin(ProxyUnderTest proxy) {
        return new AdminRequests(proxy.instance().server().adminAddress());
    }

    /** Sends {@code n} requests one after the other; returns how many each backend received meanwhile. */
    private long[] spread(ProxyUnderTest proxy, int n) throws Exception {
        long[] before = counts();
        try (RawHttpClient client = RawHttpClient.connect(proxy.listen())) {
            for (int i = 0; i < n; i++) {
                assertEquals(200, client.send(get("/")).read().status());
            }
        }
        long[] after = counts();
        for (int i = 0; i < after.length; i++) {
            after[i] -= before[i];
        }
        return after;
    }

    private long[] counts() {
        return backends.stream().mapToLong(DemoBackend::requestCount).toArray();
    }

    @Test
    void drainAndMaintStopNewRequestsAtOnceAndSurviveAReload() throws Exception {
        ProxyUnderTest proxy = proxy(3);
        AdminRequests admin = admin(proxy);

        // Three slow requests on three connections: round robin puts one on each server, web-b included.
        ExecutorService pool = Executors.newFixedThreadPool(3);
        resources.keep(pool::shutdownNow);
        List<Future<Integer>> slow = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            slow.add(pool.submit(() -> {
                try (RawHttpClient c = RawHttpClient.connect(proxy.listen())) {
                    return c.timeout(10_000).send(get("/slow?ms=700")).read().status();
                }
            }));
        }
        Await.until(Duration.ofSeconds(10), "a slow request at every backend",
                () -> backends.stream().allMatch(b -> b.requestCount() == 1));

        JsonNode drained = AdminRequests.json(admin.put("/servers/web-b/state", "drain"), 200);
        assertEquals("draining", drained.path("server").path("state").asText(), drained.toString());
        assertEquals("drain", drained.path("server").path("admin_state").asText(), drained.toString());
        long[] share = spread(proxy, 30);
        assertEquals(0, share[1], "a drained server got new requests: " + Arrays.toString(share));
        assertEquals(30, share[0] + share[2]);
        for (Future<Integer> f : slow) {
            assertEquals(200, f.get(), "a request in flight on the drained server must finish");
        }

        AdminRequests.json(admin.put("/servers/web-c/state", "maint\n"), 200);
        assertEquals("maint", row(admin, "web-c").path("state").asText());
        share = spread(proxy, 20);
        assertEquals(20, share[0], "only web-a is left: " + Arrays.toString(share));

        // A reload that changes the file (a new weight for web-a) makes a new generation; the overrides stay.
        long generation = proxy.admin().generation();
        Files.writeString(dir.resolve("servers.conf"), servers(", \"weight\": 2"));
        JsonNode reloaded = AdminRequests.json(admin.send("POST", "/reload", null), 200);
        assertTrue(reloaded.path("ok").asBoolean(), reloaded.toString());
        assertTrue(reloaded.path("generation").asLong() > generation, reloaded.toString());
        assertEquals(generation, reloaded.path("previous_generation").asLong(), reloaded.toString());
        assertEquals(2, row(admin, "web-a").path("weight").asInt(), "the reload applied");
        assertEquals("draining", row(admin, "web-b").path("state").asText(), "the drain survives the reload");
        assertEquals("maint", row(admin, "web-c").path("state").asText(), "maint survives the reload");
        share = spread(proxy, 20);
        assertEquals(20, share[0], "after the reload: " + Arrays.toString(share));

        // Back to ready: both take requests again, at once.
        JsonNode ready = AdminRequests.json(admin.put("/servers/web-b/state", "ready"), 200);
        assertEquals("up", ready.path("server").path("state").asText(), ready.toString());
        AdminRequests.json(admin.send("DELETE", "/servers/web-c/state", null), 200);
        share = spread(proxy, 40);
        assertEquals(List.of(20L, 10L, 10L), List.of(share[0], share[1], share[2]),
                "weights 2, 1, 1 after the overrides are gone");
    }

    @Test
    void aWeightOverrideChangesTheShareUntilItIsRemoved() throws Exception {
        ProxyUnderTest proxy = proxy(2);
        AdminRequests admin = admin(proxy);
        long generation = proxy.admin().generation();

        JsonNode set = AdminRequests.json(admin.put("/servers/web-a/weight", "3"), 200);
        assertEquals(3, set.path("server").path("weight").asInt(), set.toString());
        assertEquals(3, set.path("server").path("weight_override").asInt(), set.toString());
        assertEquals(1, set.path("server").path("configured_weight").asInt(), set.toString());
        assertTrue(set.path("generation").asLong() > generation, "the balancers are rebuilt: " + set);
        long[] share = spread(proxy, 40);
        assertEquals(List.of(30L, 10L), List.of(share[0], share[1]), "weights 3 and 1");

        AdminRequests.json(admin.put("/servers/web-b/weight", "0"), 200);
        assertEquals("maint", row(admin, "web-b").path("state").asText(), "weight 0 is shown as maint");
        share = spread(proxy, 10);
        assertEquals(0, share[1], "weight 0 gets no requests");

        JsonNode empty = AdminRequests.json(admin.put("/servers/web-a/weight", ""), 200);
        assertTrue(empty.path("server").path("weight_override").isNull(), empty.toString());
        JsonNode deleted = AdminRequests.json(admin.send("DELETE", "/servers/web-b/weight", null), 200);
        assertEquals(1, deleted.path("server").path("weight").asInt(), deleted.toString());
        share = spread(proxy, 40);
        assertEquals(List.of(20L, 20L), List.of(share[0], share[1]), "the configured weights again");
    }

    @Test
    void badRequestsAreRefusedWithTheRightStatus() throws Exception {
        ProxyUnderTest proxy = proxy(1);
        AdminRequests admin = admin(proxy);

        HttpResponse<String> unknown = admin.put("/servers/nobody/state", "drain");
        assertTrue(AdminRequests.json(unknown, 404).path("error").asText().contains("nobody"), unknown.body());
        assertEquals(404, admin.send("GET", "/servers/nobody", null).statusCode());
        HttpResponse<String> badState = admin.put("/servers/web-a/state", "sleep");
        assertTrue(AdminRequests.json(badState, 400).path("error").asText().contains("ready, drain, maint"), badState.body());
        for (String bad : new String[] {"257", "-1", "heavy", "1.5", "+3"}) {
            assertEquals(400, admin.put("/servers/web-a/weight", bad).statusCode(), "weight " + bad);
        }
        HttpResponse<String> wrongMethod = admin.send("POST", "/servers/web-a/state", "drain");
        assertEquals(405, wrongMethod.statusCode(), wrongMethod.body());
        assertEquals("DELETE, GET, HEAD, PUT", wrongMethod.headers().firstValue("Allow").orElse(""));
        HttpResponse<String> getReload = admin.send("GET", "/reload", null);
        assertEquals(405, getReload.statusCode(), getReload.body());
        assertEquals("POST", getReload.headers().firstValue("Allow").orElse(""));
        assertEquals(405, admin.send("PUT", "/table", "x").statusCode());
        HttpResponse<String> crossOrigin = admin.withHeader("Origin", "http://evil.example").put("/servers/web-a/state", "maint");
        assertTrue(AdminRequests.json(crossOrigin, 403).path("error").asText().contains("another origin"), crossOrigin.body());
        assertEquals("up", row(admin, "web-a").path("state").asText(), "nothing changed");
        AdminRequests sameOrigin = admin.withHeader("Origin", "http://127.0.0.1:" + admin.port());
        AdminRequests.json(sameOrigin.put("/servers/web-a/state", "ready"), 200);

        // A file that does not load: 422 with the error; the running configuration stays.
        long generation = proxy.admin().generation();
        Files.writeString(dir.resolve("servers.conf"), "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\" } ] }");
        HttpResponse<String> failed = admin.send("POST", "/reload", null);
        JsonNode answer = AdminRequests.json(failed, 422);
        assertTrue(answer.path("errors").get(0).asText().contains("missing key \"port\""), failed.body());
        assertEquals(generation, answer.path("generation").asLong());
        assertEquals(1, proxy.admin().table().size());
    }

    @Test
    void writesNeedTheTokenWhenOneIsConfigured() throws Exception {
        backends.add(resources.keep(DemoBackend.start("127.0.0.1", 0, 1)));
        Path tokenFile = Files.writeString(dir.resolve("admin.token"), TOKEN + "\n");
        ProxyUnderTest proxy = resources.keep(ProxyUnderTest.in(dir).servers(servers()).noGossip()
                .adminTokenFile(tokenFile).start());
        AdminRequests anonymous = admin(proxy);

        HttpResponse<String> without = anonymous.put("/servers/web-a/state", "drain");
        assertEquals(401, without.statusCode(), without.body());
        assertTrue(without.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Bearer"), without.headers().toString());
        HttpResponse<String> wrong = anonymous.withToken(TOKEN + "x").put("/servers/web-a/state", "drain");
        assertEquals(401, wrong.statusCode(), wrong.body());
        assertEquals(401, anonymous.send("POST", "/reload", null).statusCode());
        assertEquals("up", row(anonymous, "web-a").path("state").asText(), "reads stay open; nothing changed");
        assertEquals(200, anonymous.send("GET", "/table", null).statusCode());

        JsonNode ok = AdminRequests.json(anonymous.withToken(TOKEN).put("/servers/web-a/state", "drain"), 200);
        assertEquals("draining", ok.path("server").path("state").asText());
        AdminRequests.json(anonymous.withToken(TOKEN).send("POST", "/reload", null), 200);
    }

    @Test
    void writesAreRefusedOnANonLoopbackListenerWithoutAToken() throws Exception {
        backends.add(resources.keep(DemoBackend.start("127.0.0.1", 0, 1)));
        ProxyUnderTest proxy = resources.keep(ProxyUnderTest.in(dir).servers(servers()).noGossip()
                .admin(new HostPort("0.0.0.0", 0)).start());
        AdminRequests admin = admin(proxy);
        HttpResponse<String> refused = admin.put("/servers/web-a/state", "maint");
        String error = AdminRequests.json(refused, 403).path("error").asText();
        assertTrue(error.contains("not on loopback") && error.contains("--admin-token-file"), error);
        assertEquals(403, admin.send("POST", "/reload", null).statusCode());
        assertEquals("up", row(admin, "web-a").path("state").asText());
        assertEquals(200, admin.send("GET", "/health", null).statusCode(), "reads stay open");
    }

    /**
     * A path that is not valid percent-encoding (RFC 3986 section 2.1) is a bad request, answered 400 on a connection
     * that goes on, not a closed connection without an answer.
     */
    @Test
    void aPathWithABrokenPercentEscapeIsAnswered400() throws Exception {
        ProxyUnderTest proxy = proxy(1);
        try (RawHttpClient client = RawHttpClient.connect(proxy.instance().server().adminAddress())) {
            client.timeout(10_000);
            for (String path : new String[] {"/servers/web-a%zz", "/table%", "/servers/web-a/state%2", "/servers/%g0"}) {
                RawHttpClient.Response r = client.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").read();
                assertEquals(400, r.status(), path + ": " + r);
            }
            assertEquals(200, client.send("GET /servers/web-a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").read().status(),
                    "the connection goes on");
        }
    }

    /**
     * DNS rebinding: a page of rebound.example, whose name its owner then points at 127.0.0.1, sends writes that its
     * browser addresses to rebound.example, so Origin and Host agree. Without a token, a loopback listener trusts
     * whoever reaches it; a browser's write must come from a page of the listener itself (its address, or localhost).
     */
    @Test
    void aWriteFromAPageWhoseNameWasReboundToLoopbackIsRefused() throws Exception {
        ProxyUnderTest proxy = proxy(1);
        AdminRequests admin = admin(proxy);
        String put = "PUT /servers/web-a/state HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\n"
                + "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nmaint";
        try (RawHttpClient client = RawHttpClient.connect(proxy.instance().server().adminAddress())) {
            client.timeout(10_000);
            String rebound = "rebound.example:" + admin.port();
            RawHttpClient.Response r = client.send(String.format(put, rebound, rebound)).read();
            assertEquals(403, r.status(), r.toString());
            assertEquals("up", row(admin, "web-a").path("state").asText(), "nothing changed");
            for (String own : new String[] {"localhost:" + admin.port(), "127.0.0.1:" + admin.port()}) {
                assertEquals(200, client.send(String.format(put, own, own)).read().status(), own);
            }
        }
        assertEquals("maint", row(admin, "web-a").path("state").asText());
    }

    /**
     * A request the HTTP decoder could not read (here a header line longer than it takes) is answered 400 and the
     * connection closed, not dispatched as the decoder's placeholder ({@code GET /bad-request}, a 404 that names
     * endpoints as if the path were wrong).
     */
    @Test
    void aRequestTheDecoderCannotReadIsAnswered400() throws Exception {
        ProxyUnderTest proxy = proxy(1);
        try (RawHttpClient client = RawHttpClient.connect(proxy.instance().server().adminAddress())) {
            client.timeout(10_000);
            RawHttpClient.Response r = client.send("GET /servers/web-a HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                    + "b".repeat(20_000) + "\r\n\r\n").read();
            assertEquals(400, r.status(), r.toString());
        }
        AdminRequests admin = admin(proxy);
        AdminRequests.json(admin.put("/servers/web-a/weight", "3"), 200);
        try (RawHttpClient client = RawHttpClient.connect(proxy.instance().server().adminAddress())) {
            client.timeout(10_000);
            RawHttpClient.Response r = client.send("DELETE /servers/web-a/weight HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "X-Big: " + "b".repeat(20_000) + "\r\n\r\n").read();
            assertEquals(400, r.status(), r.toString());
        }
        assertEquals(3, row(admin, "web-a").path("weight").asInt(), "a write the decoder could not read changes nothing");
    }

    /** A weight is ASCII digits: Java's Character.isDigit and Integer.parseInt also take Arabic-Indic or full-width ones. */
    @Test
    void aWeightWrittenInOtherDigitsThanAsciiIsRefused() throws Exception {
        ProxyUnderTest proxy = proxy(1);
        AdminRequests admin = admin(proxy);
        for (String bad : new String[] {"\u0663", "\uff13", "1\u0660"}) {
            assertEquals(400, admin.put("/servers/web-a/weight", bad).statusCode(), "weight " + bad);
        }
        assertEquals(1, row(admin, "web-a").path("weight").asInt(), "nothing changed");
    }

    private static JsonNode row(AdminRequests admin, String name) {
        return AdminRequests.json(admin.send("GET", "/servers/" + name, null), 200).path("server");
    }
}
