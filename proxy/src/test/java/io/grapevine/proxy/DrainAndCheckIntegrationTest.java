package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.it.Fixtures;
import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.testing.AdminRequests;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./grapevine proxy} as a process: on SIGTERM {@code /ready} answers 503 while the listener still
 * serves (each connection closing after its next response), and the listener closes
 * {@code timeouts.shutdown_delay_ms} later; {@code --check} passes a good
 * setup and fails a bad one with the start's own line, opening no port.
 */
class DrainAndCheckIntegrationTest {

    private static final long DELAY_MILLIS = 3000;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    @Test
    void readyTurns503OnSigtermBeforeTheListenerCloses() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        int port = Ports.free();
        int adminPort = Ports.free();
        Path conf = Files.writeString(dir.resolve("servers.conf"), "{ \"timeouts\": { \"shutdown_delay_ms\": " + DELAY_MILLIS
                + " }, \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": " + backend.port() + " } ] }\n");
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "ready", "--servers", conf.toString(),
                "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort));
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> Ports.accepts(port) && Ports.accepts(adminPort),
                proxy::tail);
        AdminRequests admin = new AdminRequests(new InetSocketAddress("127.0.0.1", adminPort));
        assertEquals(200, admin.send("GET", "/ready", null).statusCode(), proxy.tail());
        assertEquals(200, statusOfNewConnection(port), "traffic flows");
        HttpConnection keptAlive = new HttpConnection(new InetSocketAddress("127.0.0.1", port), 5_000);
        assertFalse(keptAlive.get("/").close(), "a kept-alive connection before the signal");

        long signalled = System.nanoTime();
        proxy.sigterm();
        Await.until(Duration.ofSeconds(10), "/ready to answer 503", () -> status(admin, "/ready") == 503, proxy::tail);
        long notReadyMillis = (System.nanoTime() - signalled) / 1_000_000;
        // Not ready, yet still serving: a new connection is accepted and its request answered.
        assertEquals(200, statusOfNewConnection(port), "the listener must serve until the delay has passed: " + proxy.tail());
        // Each connection closes after its next response, so that clients reconnect through the balancer.
        try (keptAlive; HttpConnection opened = new HttpConnection(new InetSocketAddress("127.0.0.1", port), 5_000)) {
            HttpConnection.Response last = keptAlive.get("/");
            assertTrue(last.status() == 200 && last.close(), "the open connection's next response closes it: " + last);
            HttpConnection.Response first = opened.get("/");
            assertTrue(first.status() == 200 && first.close(), "a new connection's first response closes it: " + first);
        }
        assertEquals(200, status(admin, "/health"), "the process is alive");

        Await.until(Duration.ofSeconds(15), "the listener to close", () -> !Ports.accepts(port), proxy::tail);
        long closedMillis = (System.nanoTime() - signalled) / 1_000_000;
        assertTrue(notReadyMillis < closedMillis, "503 at " + notReadyMillis + " ms, closed at " + closedMillis + " ms");
        assertTrue(closedMillis >= DELAY_MILLIS - 200, "the listener closed " + closedMillis
                + " ms after SIGTERM, before timeouts.shutdown_delay_ms (" + DELAY_MILLIS + " ms)");
        assertEquals(0, proxy.waitFor(30), proxy.tail());
        String log = proxy.log();
        assertTrue(log.indexOf("/ready answers 503") < log.indexOf("listener closed"), proxy.tail());
    }

    @Test
    void checkPassesAGoodSetupWithoutOpeningAPortOrCreatingAFile() throws Exception {
        try (ServerSocket listen = occupied(); ServerSocket adminPort = occupied(); ServerSocket gossip = occupied()) {
            Path accessLog = dir.resolve("access.log");
            Path conf = Files.writeString(dir.resolve("servers.conf"), """
                    { "listen": "127.0.0.1:%d", "admin": "127.0.0.1:%d",
                      "access_log": { "path": "%s", "format": "json" },
                      "pools": { "api": {} },
                      "routes": [ { "path_prefix": "/api/", "pool": "api" } ],
                      "backend_servers": [ { "ip": "127.0.0.1", "port": 8001 }, { "ip": "127.0.0.1", "port": 8002 } ] }
                    """.formatted(listen.getLocalPort(), adminPort.getLocalPort(), accessLog));
            Path token = Files.writeString(dir.resolve("admin.token"), "0123456789abcdef0123\n");
            ChildProcess check = run("check-ok", "--servers", conf.toString(), "--check", "--admin-token-file",
                    token.toString(), "--gossip", Integer.toString(gossip.getLocalPort()), "--insecure-gossip");
            assertEquals(0, check.process().exitValue(), check.tail());
            List<String> lines = check.outputLines();
            assertEquals(1, lines.size(), check.log());
            assertTrue(lines.get(0).startsWith("ok: " + conf + ": 2 servers, 2 pools (api, default), 1 route; access log "
                    + accessLog + " (json); backend template "), lines.get(0));
            assertTrue(lines.get(0).endsWith("; admin token file " + token), lines.get(0));
            assertFalse(Files.exists(accessLog), "--check created the access log");
        }
    }

    @Test
    void checkFailsABadSetupWithTheLineOfAStart() throws Exception {
        Path conf = Files.writeString(dir.resolve("servers.conf"),
                "{ \"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\",\n"
                        + "  \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 70000 } ] }\n");
        ChildProcess check = run("check-bad", "--servers", conf.toString(), "--check");
        ChildProcess start = run("start-bad", "--servers", conf.toString());
        assertEquals(2, check.process().exitValue(), check.tail());
        assertEquals(2, start.process().exitValue(), start.tail());
        assertEquals(1, check.outputLines().size(), check.log());
        assertTrue(check.outputLines().get(0).contains(conf + ":2:" + (1 + "  \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": "
                .length()) + ": \"port\" is 70000"), check.log());
        assertEquals(start.outputLines(), check.outputLines(), "the same line as at start");

        Path good = Files.writeString(dir.resolve("good.conf"), "{ \"backend_servers\": [] }\n");
        Path shortToken = Files.writeString(dir.resolve("short.token"), "abc\n");
        ChildProcess badToken = run("check-token", "--servers", good.toString(), "--check", "--admin-token-file",
                shortToken.toString());
        assertEquals(2, badToken.process().exitValue(), badToken.tail());
        assertEquals(List.of("grapevine proxy: --admin-token-file " + shortToken + ": the token has 3 characters; it needs"
                + " at least 16 (make one with: openssl rand -hex 32)"), badToken.outputLines());

        Path template = Files.writeString(dir.resolve("bad.mustache"), "{{#members}}{{/nothing}}");
        ChildProcess badTemplate = run("check-template", "--servers", good.toString(), "--check", "--join",
                "127.0.0.1:1", "--insecure-gossip", "--template", template.toString());
        assertEquals(2, badTemplate.process().exitValue(), badTemplate.tail());
        assertEquals(1, badTemplate.outputLines().size(), badTemplate.log());
        assertTrue(badTemplate.outputLines().get(0).contains(template.toString()), badTemplate.log());

        Path logDir = dir.resolve("no-such-dir");
        Path unwritable = Files.writeString(dir.resolve("log.conf"), "{ \"access_log\": { \"path\": \""
                + logDir.resolve("access.log") + "\" }, \"backend_servers\": [] }\n");
        ChildProcess badLog = run("check-log", "--servers", unwritable.toString(), "--check");
        assertEquals(2, badLog.process().exitValue(), badLog.tail());
        assertEquals(List.of("grapevine proxy: " + unwritable + ":1:27: access_log: cannot open " + logDir.resolve("access.log")
                + " for appending: No such file or directory"), badLog.outputLines());
    }

    private ChildProcess run(String name, String... args) throws InterruptedException {
        ChildProcess p = resources.keep(ChildProcess.proxy(dir, name, args));
        assertTrue(p.waitFor(60) >= 0, "did not exit: " + p.tail());
        return p;
    }

    private static ServerSocket occupied() throws IOException {
        return new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
    }

    private static int status(AdminRequests admin, String path) {
        try {
            return admin.send("GET", path, null).statusCode();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** The status of {@code GET /} on a new connection to the listener, or -1 when that fails. */
    private static int statusOfNewConnection(int port) {
        try (RawHttpClient c = RawHttpClient.connect(new InetSocketAddress("127.0.0.1", port))) {
            return c.timeout(5000).send(Fixtures.get("/")).read().status();
        } catch (IOException e) {
            return -1;
        }
    }
}
