package io.grapevine.proxy.client;

import static io.grapevine.proxy.client.ForwardingHarness.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code tls.redirect_http}: requests on the plaintext listener answered with a redirect to HTTPS (embedded channels). */
class HttpsRedirectForwardingTest {

    private static String tls(String extra) {
        return "\"tls\": {\"listen\": \"127.0.0.1:8443\", \"cert\": \"c.pem\", \"key\": \"k.pem\", \"redirect_http\": true"
                + extra + "}";
    }

    @Test
    void aGetIsAnswered301ToTheSameHostAndPathOverHttpsAndNoServerSeesIt() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, tls("")))) {
            h.send("GET /shop/cart?item=7&q=a%20b HTTP/1.1\r\nHost: Shop.Example:8080\r\n\r\n");
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 301 Moved Permanently\r\n"), answer);
            assertTrue(answer.contains("\r\nLocation: https://shop.example:8443/shop/cart?item=7&q=a%20b\r\n"),
                    "the host without its plaintext port, the TLS port, the path and query as sent: " + answer);
            assertTrue(answer.endsWith("\r\n\r\nMoved to https://shop.example:8443/shop/cart?item=7&q=a%20b\n"), answer);
            assertTrue(!answer.contains("Connection: close"), "the connection goes on: " + answer);
            assertEquals(0, h.backends.size(), "no server was dialled");
            assertEquals(1, h.stats.redirectedToHttps.sum());

            h.send("HEAD /x HTTP/1.1\r\nHost: [::1]\r\n\r\n");
            String head = h.received();
            assertTrue(head.startsWith("HTTP/1.1 301 ") && head.contains("\r\nLocation: https://[::1]:8443/x\r\n")
                    && head.endsWith("\r\n\r\n"), "HEAD: no body; an IPv6 host in its brackets: " + head);
        }
    }

    @Test
    void theLocationHasTheTargetAsItWouldHaveBeenForwarded() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, tls("")))) {
            h.send("GET /app;jsessionid=ABC//cart/../basket?x=%7C HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            String answer = h.received();
            assertTrue(answer.contains("\r\nLocation: https://shop.example:8443/app;jsessionid=ABC//basket?x=%7C\r\n"),
                    "parameters and slashes as sent, dot segments resolved: " + answer);
            h.send("GET http://shop.example/abs|olute HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            answer = h.received();
            assertTrue(answer.contains("\r\nLocation: https://shop.example:8443/abs%7Colute\r\n"),
                    "an absolute-form target's path, and no character a URI may not hold: " + answer);
        }
    }

    @Test
    void anUnsafeRequestIsAnswered308SoThatItIsSentAgainAsItWas() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, tls(", \"redirect_port\": 443")))) {
            h.send("POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\n{}");
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 308 Permanent Redirect\r\n"), answer);
            assertTrue(answer.contains("\r\nLocation: https://shop.example/orders\r\n"), "port 443 is left out: "
                    + answer);
            h.send("GET /next HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 301 "), "the body of the POST was not read as a request");
            assertEquals(0, h.backends.size());
        }
    }

    @Test
    void acmeChallengesAreForwardedAndARequestWithoutHostCannotBeRedirected() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, tls("")))) {
            h.send("GET /.well-known/acme-challenge/token123 HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            assertTrue(h.backend(0).received().startsWith("GET /.well-known/acme-challenge/token123 HTTP/1.1\r\n"),
                    "the challenge reaches the server that answers it");
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nproof");
            assertTrue(h.received().startsWith("HTTP/1.1 200 OK\r\n"));

            h.send("GET /.well-known/acme-challenge/..%5C..%5Cadmin HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 301 "), "only a token is a challenge");
            assertEquals(1, h.backends.size());
            h.send("GET / HTTP/1.0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 400 "), "no host to redirect to");
        }
    }

    @Test
    void requestsOverTlsAreForwarded() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, tls("")),
                (pipeline, loop) -> pipeline.addLast(new Http1Connection(loop, System.nanoTime(), true)))) {
            h.send("GET /page HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            assertTrue(h.backend(0).received().startsWith("GET /page HTTP/1.1\r\n"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 200 OK\r\n"));
        }
    }

    @Test
    void withoutRedirectHttpPlaintextRequestsAreForwarded() throws Exception {
        String noRedirect = "\"tls\": {\"listen\": \"127.0.0.1:8443\", \"cert\": \"c.pem\", \"key\": \"k.pem\"}";
        try (ForwardingHarness h = new ForwardingHarness(config(1, noRedirect))) {
            h.send("GET /page HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            assertTrue(h.backend(0).received().startsWith("GET /page HTTP/1.1\r\n"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 200 OK\r\n"));
        }
    }
}
