package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.Admin;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Slow start through real sockets: a server that joins a pool, or comes back from a drain, gets a small share of the
 * requests at first, growing to its full share over {@code slow_start_ms}, as the request counts per time window and
 * the admin documents show.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it counts requests and shares per 300 ms of wall clock
class SlowStartIntegrationTest {

    private static final long RAMP_MS = 2000;
    private static final int WINDOWS = 10;
    private static final long WINDOW_MS = 300;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private static JsonNode row(Admin admin, String path, int port) {
        for (JsonNode s : admin.json(path).path("servers")) {
            if (s.path("port").asInt() == port) {
                return s;
            }
        }
        throw new AssertionError("no server " + port + " in " + path);
    }

    /** Measures and checks the share of the warming server (id 2) per window after {@code change} is published. */
    private static void sharesAfter(ProxyServer proxy, Admin admin, List<ServerSpec> change, int warmingPort,
                                    String what) throws Exception {
        int[] total = new int[WINDOWS];
        int[] toWarming = new int[WINDOWS];
        try (RawHttpClient client = RawHttpClient.connect(proxy.listenAddress())) {
            client.send(get("/")).read(); // connection, first request and admin client out of the way
            admin.json("/table");
            long changed = System.nanoTime();
            proxy.tables().publish(change, "test: " + what);
            double earlyWeight = row(admin, "/stats.json", warmingPort).path("effective_weight").asDouble();
            assertTrue(earlyWeight > 0 && earlyWeight < 0.5, "effective weight just after: " + earlyWeight);
            while (true) {
                int window = (int) ((System.nanoTime() - changed) / 1_000_000 / WINDOW_MS);
                if (window >= WINDOWS) {
                    break;
                }
                Response r = client.send(get("/")).read();
                assertEquals(200, r.status(), r.toString());
                total[window]++;
                if (r.header("X-Backend-Id").equals("2")) { // the warming server has id 2 in both tests
                    toWarming[window]++;
                }
            }
        }
        StringBuilder shares = new StringBuilder();
        double[] share = new double[WINDOWS];
        for (int w = 0; w < WINDOWS; w++) {
            share[w] = toWarming[w] / (double) Math.max(1, total[w]);
            shares.append(String.format(" %d-%d ms: %.2f (%d);", w * WINDOW_MS, (w + 1) * WINDOW_MS, share[w], total[w]));
        }
        System.out.println("[slow start] " + what + ": its share per window:" + shares);
        for (int w = 0; w < WINDOWS; w++) {
            assertTrue(total[w] >= 20, "too few requests to judge window " + w + ":" + shares);
        }
        // Effective weight f of the warming one, 1 for the other: its share is f / (1 + f), f growing from 1/16
        // over 2000 ms. First window (f <= 0.15): at most about 0.13; after the ramp: a half.
        assertTrue(share[0] < 0.2, "the first 300 ms:" + shares);
        assertTrue(share[1] < share[5], "no ramp:" + shares);
        double middle = (share[2] + share[3] + share[4]) / 3; // 600-1500 ms: f from 0.3 to 0.75, share 0.23-0.43
        assertTrue(middle > 0.15 && middle < 0.48, "the middle of the ramp:" + shares);
        for (int w = 7; w < WINDOWS; w++) { // 2100 ms on: warm, a strict rotation
            assertEquals(0.5, share[w], 0.05, "after the ramp:" + shares);
        }
        assertEquals(1.0, row(admin, "/stats.json", warmingPort).path("effective_weight").asDouble());
    }

    private static ServerSpec spec(DemoBackend backend, ServerSpec.AdminState state) {
        return new ServerSpec("server-" + backend.id(), "127.0.0.1", backend.port(), 1, false, "default",
                ServerSpec.Source.STATIC, state);
    }

    @Test
    void aJoiningServersShareOfRequestsRampsUpOverSlowStart() throws Exception {
        DemoBackend warm = fx.backend(1);
        DemoBackend joining = fx.backend(2);
        ProxyServer proxy = fx.proxy(2, "\"slow_start_ms\": " + RAMP_MS, warm.port());
        Admin admin = new Admin(proxy.adminAddress());
        assertEquals(1.0, row(admin, "/table", warm.port()).path("effective_weight").asDouble());
        List<ServerSpec> both = new ArrayList<>(proxy.config().servers());
        both.add(spec(joining, ServerSpec.AdminState.UP));
        sharesAfter(proxy, admin, both, joining.port(), "a server joins");
    }

    @Test
    void aServerBackFromDrainingRampsUpToo() throws Exception {
        DemoBackend warm = fx.backend(1);
        DemoBackend back = fx.backend(2);
        ProxyServer proxy = fx.proxy(2, "\"slow_start_ms\": " + RAMP_MS, warm.port(), back.port());
        Admin admin = new Admin(proxy.adminAddress());
        proxy.tables().publish(List.of(spec(warm, ServerSpec.AdminState.UP), spec(back, ServerSpec.AdminState.UP)),
                "test: names");
        proxy.tables().publish(List.of(spec(warm, ServerSpec.AdminState.UP), spec(back, ServerSpec.AdminState.DRAINING)),
                "test: drain");
        try (RawHttpClient client = RawHttpClient.connect(proxy.listenAddress())) {
            for (int i = 0; i < 20; i++) {
                assertEquals("1", client.send(get("/")).read().header("X-Backend-Id"), "draining takes no request");
            }
        }
        sharesAfter(proxy, admin, List.of(spec(warm, ServerSpec.AdminState.UP), spec(back, ServerSpec.AdminState.UP)),
                back.port(), "a drained server is ready again");
    }
}
