package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.TestTransport;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.IntFunction;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Hash balancing through real sockets: {@code uri}, {@code header:NAME}, {@code cookie:NAME} and {@code source} keep
 * each key on one server and use every server; the consistent hash moves few keys when a server leaves or joins;
 * weights hold.
 */
class HashBalancingIntegrationTest {

    private static final int BATCH = 100;

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    private List<DemoBackend> backends(int n) throws InterruptedException {
        List<DemoBackend> list = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            list.add(fx.backend(i));
        }
        return list;
    }

    private static String servers(List<DemoBackend> backends, int... weights) {
        return IntStream.range(0, backends.size()).mapToObj(i -> "{\"ip\": \"127.0.0.1\", \"port\": "
                + backends.get(i).port() + (weights.length > i ? ", \"weight\": " + weights[i] : "") + "}")
                .collect(Collectors.joining(", "));
    }

    private ProxyServer proxy(String policyJson, List<DemoBackend> backends, int... weights) throws Exception {
        String json = "{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", \"health_check\": {\"enabled\": false}, "
                + policyJson + ", \"backend_servers\": [" + servers(backends, weights) + "]}";
        return fx.track(ProxyServer.start(ConfigLoader.parse(json, "test config"), 2, TestTransport.requested()));
    }

    /** The backend ({@code X-Backend-Id}) that answered each request, sent in pipelined batches on one connection. */
    private List<String> answeredBy(ProxyServer proxy, int count, IntFunction<String> request) throws Exception {
        List<String> ids = new ArrayList<>(count);
        try (RawHttpClient client = RawHttpClient.connect(proxy.listenAddress())) {
            for (int start = 0; start < count; start += BATCH) {
                StringBuilder batch = new StringBuilder();
                int end = Math.min(count, start + BATCH);
                for (int i = start; i < end; i++) {
                    batch.append(request.apply(i));
                }
                client.send(batch.toString());
                for (int i = start; i < end; i++) {
                    Response r = client.read();
                    assertEquals(200, r.status(), r.toString());
                    ids.add(r.header("X-Backend-Id"));
                }
            }
        }
        return ids;
    }

    private static int moved(List<String> before, List<String> after) {
        int moved = 0;
        for (int i = 0; i < before.size(); i++) {
            if (!before.get(i).equals(after.get(i))) {
                moved++;
            }
        }
        return moved;
    }

    private static Map<String, Integer> counts(List<String> ids) {
        Map<String, Integer> counts = new TreeMap<>();
        ids.forEach(id -> counts.merge(id, 1, Integer::sum));
        return counts;
    }

    /** Each key twice, on two connections: the same server both times, and every server has keys. */
    private void assertStableAndSpread(ProxyServer proxy, int servers, IntFunction<String> request) throws Exception {
        List<String> first = answeredBy(proxy, 300, request);
        List<String> second = answeredBy(proxy, 300, request);
        assertEquals(first, second, "a key went to another server the second time");
        Map<String, Integer> counts = counts(first);
        assertEquals(servers, counts.size(), "keys did not reach every server: " + counts);
        counts.values().forEach(n -> assertTrue(n > 300 / servers / 2, "uneven: " + counts));
    }

    @Test
    void uriHashingKeepsEachPathAndQueryOnOneServer() throws Exception {
        ProxyServer proxy = proxy("\"balance\": \"uri\"", backends(4));
        assertStableAndSpread(proxy, 4, i -> get("/echo?item=" + i));
        List<String> byQuery = answeredBy(proxy, 200, i -> get("/echo?user=" + i));
        assertTrue(counts(byQuery).size() > 1, "the query is part of the key: " + counts(byQuery));
    }

    @Test
    void headerHashingKeepsEachValueOnOneServerAndRequestsWithoutItGoRoundRobin() throws Exception {
        ProxyServer proxy = proxy("\"balance\": \"header:X-User\"", backends(3));
        JsonNode pool = new Admin(proxy.adminAddress()).json("/table").path("pools").path(0);
        assertEquals("default", pool.path("name").asText());
        assertEquals("header:x-user", pool.path("balance").asText(), pool.toString());
        assertTrue(pool.path("sticky_cookie").isNull(), pool.toString());
        assertStableAndSpread(proxy, 3, i -> get("/", "x-user: user-" + i));
        List<String> sameUser = answeredBy(proxy, 50, i -> get("/echo?page=" + i, "X-User: alice"));
        assertEquals(1, new HashSet<>(sameUser).size(), "one user, whatever the path: " + counts(sameUser));
        assertEquals(Map.of("1", 10, "2", 10, "3", 10), counts(answeredBy(proxy, 30, i -> get("/"))),
                "without the header: round robin");
    }

    @Test
    void cookieHashingKeepsEachSessionOnOneServer() throws Exception {
        ProxyServer proxy = proxy("\"balance\": \"cookie:SID\"", backends(3));
        assertStableAndSpread(proxy, 3, i -> get("/", "Cookie: theme=dark; SID=session-" + i + "; lang=en"));
        List<String> sameSession = answeredBy(proxy, 50, i -> get("/echo?n=" + i, "Cookie: SID=s-1", "Cookie: n=" + i));
        assertEquals(1, new HashSet<>(sameSession).size(), counts(sameSession).toString());
        assertEquals(Map.of("1", 10, "2", 10, "3", 10), counts(answeredBy(proxy, 30, i -> get("/", "Cookie: other=1"))),
                "without the cookie: round robin");
    }

    @Test
    void sourceHashingKeepsEachClientAddressOnOneServer() throws Exception {
        ProxyServer proxy = proxy("\"balance\": \"source\"", backends(3));
        Map<String, String> first = new HashMap<>();
        for (int round = 0; round < 2; round++) {
            for (int host = 2; host < 62; host++) {
                InetAddress local = InetAddress.getByAddress(new byte[] {127, 0, 0, (byte) host});
                try (RawHttpClient client = RawHttpClient.connect(proxy.listenAddress(), local)) {
                    for (int i = 0; i < 3; i++) {
                        Response r = client.send(get("/echo?n=" + i)).read();
                        assertEquals(200, r.status(), r.toString());
                        String previous = first.putIfAbsent(local.getHostAddress(), r.header("X-Backend-Id"));
                        assertTrue(previous == null || previous.equals(r.header("X-Backend-Id")),
                                "client " + local + " moved from " + previous + " to " + r.header("X-Backend-Id"));
                    }
                }
            }
        }
        Set<String> used = new HashSet<>(first.values());
        assertEquals(Set.of("1", "2", "3"), used, "60 client addresses did not reach every server: " + first);
    }

    @Test
    void oneOfFiveServersLeavingOrASixthJoiningMovesFewKeys() throws Exception {
        List<DemoBackend> six = backends(6);
        ProxyServer proxy = proxy("\"balance\": \"uri\"", six.subList(0, 5));
        int keys = 10_000;
        IntFunction<String> request = i -> get("/echo?k=" + i);
        List<String> five = answeredBy(proxy, keys, request);
        assertEquals(5, counts(five).size(), counts(five).toString());

        List<ServerSpec> specs = proxy.config().servers();
        proxy.tables().publish(specs.subList(1, 5), "test: server 1 leaves");
        List<String> four = answeredBy(proxy, keys, request);
        int movedOnLeave = moved(five, four);
        long ofLeaver = five.stream().filter("1"::equals).count();

        ServerSpec sixth = new ServerSpec("sixth", "127.0.0.1", six.get(5).port(), 1, false, "default",
                ServerSpec.Source.STATIC, ServerSpec.AdminState.UP);
        List<ServerSpec> withSixth = new ArrayList<>(specs);
        withSixth.add(sixth);
        proxy.tables().publish(withSixth, "test: a sixth joins");
        List<String> sixServers = answeredBy(proxy, keys, request);
        int movedOnJoin = moved(five, sixServers);
        long toJoiner = sixServers.stream().filter("6"::equals).count();

        System.out.printf("[hash over sockets] 1 of 5 leaves: %d of %d keys moved (%d were its own); a 6th joins: "
                + "%d moved, %d to it%n", movedOnLeave, keys, ofLeaver, movedOnJoin, toJoiner);
        assertTrue(movedOnLeave <= 1.5 * keys / 5, movedOnLeave + " keys moved when one of 5 left");
        assertTrue(movedOnLeave >= ofLeaver, "every key of the server that left must move");
        assertTrue(movedOnJoin <= 1.5 * keys / 5, movedOnJoin + " keys moved when a 6th joined");
        assertTrue(toJoiner >= 0.8 * movedOnJoin, toJoiner + " of the " + movedOnJoin + " moved keys went to the new one");
    }

    @Test
    void weightsDecideTheShareOfKeys() throws Exception {
        ProxyServer proxy = proxy("\"balance\": \"header:X-User\"", backends(3), 1, 2, 3);
        int keys = 3000;
        Map<String, Integer> counts = counts(answeredBy(proxy, keys, i -> get("/", "X-User: u" + i)));
        for (int id = 1; id <= 3; id++) {
            double share = counts.getOrDefault(String.valueOf(id), 0) / (double) keys;
            double expected = id / 6.0;
            assertTrue(Math.abs(share - expected) < expected * 0.15, "server " + id + " (weight " + id + ") got "
                    + share + " of the keys: " + counts);
        }
    }
}
