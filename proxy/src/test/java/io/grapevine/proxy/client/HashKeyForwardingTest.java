package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What a hashing pool takes for a request's key, in the forwarding core on embedded channels: pipelined requests of
 * one connection stand for requests of many clients (each is an exchange of its own, on a connection of its own).
 */
class HashKeyForwardingTest {

    private static String ok(String body) {
        return "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
    }

    /** The servers that {@code requests} pipelined requests, each with field line {@code field}, went to, in order. */
    private static List<String> serversOf(String balance, String field, int requests) throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(2,
                "\"balance\": \"" + balance + "\""))) {
            StringBuilder pipelined = new StringBuilder();
            for (int i = 0; i < requests; i++) {
                pipelined.append("GET /").append(i).append(" HTTP/1.1\r\nHost: example\r\n").append(field)
                        .append("\r\n\r\n");
            }
            h.send(pipelined.toString());
            assertEquals(requests, h.backends.size(), "one backend connection per request in flight");
            List<String> servers = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                servers.add(h.backend(i).server().name());
                h.backend(i).send(ok("x"));
            }
            h.runPending();
            assertEquals(requests, h.received().split("HTTP/1.1 200 OK", -1).length - 1);
            return servers;
        }
    }

    @Test
    void anEmptyHeaderOrCookieValueIsNoKeyAndGoesRoundRobin() throws Exception {
        // As HAProxy's balance hdr(): "if the header is absent or if it does not contain any value, the roundrobin
        // algorithm is applied instead"; Envoy's cookie hash likewise hashes no empty value.
        assertEquals(List.of("s0", "s1", "s0", "s1"), serversOf("header:X-User", "X-User: ", 4));
        assertEquals(List.of("s0", "s1", "s0", "s1"), serversOf("cookie:SID", "Cookie: theme=dark; SID=", 4));
        assertEquals(List.of("s0", "s1", "s0", "s1"), serversOf("cookie:SID", "Cookie: SID=\"\"", 4));
    }

    @Test
    void aValueIsAKeyThatKeepsItsServer() throws Exception {
        List<String> header = serversOf("header:X-User", "X-User: alice", 4);
        assertEquals(1, header.stream().distinct().count(), header.toString());
        List<String> cookie = serversOf("cookie:SID", "Cookie: SID=alice", 4);
        assertEquals(1, cookie.stream().distinct().count(), cookie.toString());
    }
}
