package io.grapevine.proxy.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.stats.HealthCheckResult;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.TestTransport;
import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Active HTTP health checks against a scripted backend on loopback: what the check reads of the answer decides
 * whether the server is up.
 */
@Timeout(60)
class HealthCheckIntegrationTest {

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

    private Server startProxy(int port) throws Exception {
        proxy = ProxyServer.start(ConfigLoader.parse("{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", "
                + "\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": " + port + "}], \"health_check\": "
                + "{\"path\": \"/health\", \"interval_ms\": 50, \"timeout_ms\": 2000, \"rise\": 1, \"fall\": 1}}",
                "test config"), 1, TestTransport.requested());
        return proxy.tables().current().servers().get(0);
    }

    /** The verdict of a check made after at least three requests reached the backend. */
    private static HealthCheckResult settledCheck(Server server, List<String> requests) {
        Await.until(Duration.ofSeconds(20), "three health checks reach the backend", () -> requests.size() >= 3);
        int seen = requests.size();
        Await.until(Duration.ofSeconds(20), "one more health check", () -> requests.size() > seen);
        Await.until(Duration.ofSeconds(20), "its verdict", () -> server.stats().lastCheck() != null);
        return server.stats().lastCheck();
    }

    @Test
    void interimResponsesBeforeTheFinalOneArePassedOver() throws Exception {
        String link = "Link: </style.css>; rel=preload; as=style" + ", </x.js>; rel=preload; as=script".repeat(20);
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(), "HTTP/1.1 100 Continue\r\n\r\n"
                + "HTTP/1.1 103 Early Hints\r\n" + link + "\r\n" + link + "\r\n\r\n"
                + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        Server server = startProxy(backend.port());
        HealthCheckResult check = settledCheck(server, backend.heads);
        assertEquals("L7OK", check.status(), check.toString());
        assertEquals(200, check.code(), check.toString());
        assertTrue(check.ok(), check.toString());
        assertTrue(server.isActiveUp(), "the server is up");
        assertEquals(0, server.stats().checksFailed.sum(), "no check failed");
    }

    @Test
    void theFinalStatusAfterAnInterimOneDecidesAFailureToo() throws Exception {
        backend = new ScriptedBackend(InetAddress.getLoopbackAddress(),
                "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                + "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        Server server = startProxy(backend.port());
        HealthCheckResult check = settledCheck(server, backend.heads);
        assertEquals("L7STS", check.status(), check.toString());
        assertEquals(503, check.code(), check.toString());
        Await.until(Duration.ofSeconds(5), "the server goes down", () -> !server.isActiveUp());
    }
}
