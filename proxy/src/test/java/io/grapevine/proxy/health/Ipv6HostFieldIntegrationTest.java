package io.grapevine.proxy.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.TestTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * A backend on the IPv6 loopback ({@code ::1}) sees a bracketed Host, {@code [::1]:PORT}, in the
 * active health check's request and in a forwarded HTTP/1.0 request that had none (RFC 9110 section
 * 7.2, RFC 3986 section 3.2.2): {@code ::1:PORT} would be an invalid field value.
 */
class Ipv6HostFieldIntegrationTest {

    private ScriptedBackend backend;
    private ProxyServer proxy;

    @AfterEach
    void stop() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    /** A backend on [::1]:0 that records each request head and answers 200, one request per connection. */
    private int startBackend() throws IOException {
        try {
            backend = new ScriptedBackend(InetAddress.getByName("::1"),
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        } catch (IOException e) {
            Assumptions.abort("no IPv6 loopback here: " + e.getMessage());
        }
        return backend.port();
    }

    private String hostOf(String head) {
        return head.lines().filter(l -> l.regionMatches(true, 0, "Host:", 0, 5)).map(l -> l.substring(5).strip())
                .findFirst().orElse(null);
    }

    private void startProxy(int port, String healthCheck) throws Exception {
        proxy = ProxyServer.start(ConfigLoader.parse("{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", "
                + "\"backend_servers\": [{\"ip\": \"::1\", \"port\": " + port + "}], \"health_check\": " + healthCheck + "}",
                "test config"), 1, TestTransport.requested());
    }

    @Test
    void theHealthCheckSendsABracketedHost() throws Exception {
        int port = startBackend();
        startProxy(port, "{\"path\": \"/health\", \"interval_ms\": 50, \"timeout_ms\": 1000}");
        Await.until(Duration.ofSeconds(10), "a health check reaches the IPv6 backend", () -> !backend.heads.isEmpty());
        String head = backend.heads.get(0);
        assertTrue(head.startsWith("GET /health HTTP/1.1\r\n"), head);
        assertEquals("[::1]:" + port, hostOf(head), head);
    }

    @Test
    void aForwardedRequestWithoutHostGetsABracketedOne() throws Exception {
        int port = startBackend();
        startProxy(port, "{\"enabled\": false}");
        InetSocketAddress listen = proxy.listenAddress();
        try (Socket client = new Socket(listen.getAddress(), listen.getPort())) {
            client.getOutputStream().write("GET /page HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            String response = new String(client.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            assertTrue(response.startsWith("HTTP/1.1 200") || response.startsWith("HTTP/1.0 200"), response);
        }
        Await.until(Duration.ofSeconds(5), "the request reaches the backend", () -> !backend.heads.isEmpty());
        assertEquals("[::1]:" + port, hostOf(backend.heads.get(0)), backend.heads.get(0));
    }
}
