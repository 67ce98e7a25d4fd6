package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.H2Client;
import io.grapevine.proxy.testing.H2Client.Response;
import io.grapevine.proxy.testing.H2Frames;
import io.grapevine.proxy.testing.H2Frames.Frame;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.Resources;
import io.grapevine.proxy.testing.Tools;
import io.grapevine.proxy.testing.Tools.Run;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy as a process of its own, as deployed, with two demo backends: nghttp2's load generator in
 * cleartext with prior knowledge (100,000 requests on 10 connections, 20 streams at once on each, every one
 * answered 200, none failed, none reset; in the test JVM its leak detection would make this a test of the
 * detector), and SIGTERM on a proxy with an HTTP/2 stream in flight.
 */
class Http2ProcessIntegrationTest {

    @RegisterExtension
    final Resources resources = new Resources();

    @TempDir
    Path dir;

    private int backendPort;
    private int port;
    private int adminPort;
    private ChildProcess backends;
    private ChildProcess proxy;

    /** Two demo backends and a proxy in front of them, all listening. */
    private void start() throws Exception {
        backendPort = Ports.freeRange(2);
        backends = resources.keep(ChildProcess.launcher(dir, "backends", "backend",
                "--port", Integer.toString(backendPort), "--count", "2"));
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"health_check\": {\"enabled\": false}, \"backend_servers\": [ "
                + "{ \"ip\": \"127.0.0.1\", \"port\": " + backendPort + " }, "
                + "{ \"ip\": \"127.0.0.1\", \"port\": " + (backendPort + 1) + " } ] }\n");
        port = Ports.free();
        adminPort = Ports.free();
        proxy = resources.keep(ChildProcess.proxy(dir, "proxy", "--servers", conf.toString(),
                "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort, "--no-gossip"));
        // The backends' own word that they bound their ports: something else may accept on a port too.
        // The admin port too: the proxy binds it after the listener, and the tests read /stats.json.
        Await.until(Duration.ofSeconds(60), "the backends and the proxy listening",
                () -> backends.log().contains("listening on 127.0.0.1:" + backendPort + " ")
                        && backends.log().contains("listening on 127.0.0.1:" + (backendPort + 1) + " ")
                        && Ports.accepting(port) && Ports.accepting(adminPort),
                () -> backends.tail() + proxy.tail());
    }

    @Test
    void h2loadGetsEveryAnswer() throws Exception {
        Tools.require("h2load", "nghttp2-client");
        start();
        Run run = Tools.ok(Tools.run(300, "h2load", "-n", "100000", "-c", "10", "-m", "20",
                "http://127.0.0.1:" + port + "/"));
        String out = run.out();
        Matcher requests = Pattern.compile("requests: (\\d+) total, (\\d+) started, (\\d+) done, (\\d+) succeeded, "
                + "(\\d+) failed, (\\d+) errored, (\\d+) timeout").matcher(out);
        assertTrue(requests.find(), out);
        assertEquals("100000", requests.group(4), "succeeded: " + out + "\nproxy: " + proxy.tail() + "\nbackends: "
                + backends.tail());
        assertEquals("0", requests.group(5), "failed: " + out);
        assertEquals("0", requests.group(6), "errored: " + out);
        assertEquals("0", requests.group(7), "timed out: " + out);
        assertTrue(out.contains("status codes: 100000 2xx, 0 3xx, 0 4xx, 0 5xx"), out);

        JsonNode stats = new Admin(new InetSocketAddress("127.0.0.1", adminPort)).json("/stats.json");
        JsonNode counters = stats.get("proxy");
        assertEquals(10, counters.get("http2_connections").asLong(), counters.toString());
        assertEquals(100_000, counters.get("http2_streams").asLong(), counters.toString());
        assertEquals(0, counters.get("http2_resets_sent").asLong(), counters.toString());
        assertEquals(0, counters.get("http2_connection_errors").asLong(), counters.toString());
        long first = stats.get("servers").get(0).get("requests").asLong();
        long second = stats.get("servers").get(1).get("requests").asLong();
        assertEquals(100_000, first + second);
        assertTrue(Math.abs(first - second) <= 2 * 10 * 20,
                "balanced per request, not per connection: " + first + " / " + second);
    }


    @Test
    void sigtermSendsGoAwayAndFinishesTheStreamInFlight() throws Exception {
        start();
        H2Client client = resources.keep(H2Client.connect(new InetSocketAddress("127.0.0.1", port)));
        assertEquals(200, client.get("/").status());
        int id = client.newStream();
        client.send(client.frames().headers(id, H2Frames.request("GET", "/slow?ms=1500"), true));
        Admin admin = new Admin(new InetSocketAddress("127.0.0.1", adminPort));
        Await.until(Duration.ofSeconds(10), "the request at a backend", () -> inFlight(admin) == 1, proxy::tail);
        proxy.sigterm();
        Response r = client.await(id, Duration.ofSeconds(10));
        assertEquals(200, r.status(), "the stream in flight finishes: " + r);
        Frame goAway = client.awaitGoAway(Duration.ofSeconds(5));
        assertNotNull(goAway, "a GOAWAY announced the drain: " + client.seen());
        assertEquals(H2Frames.NO_ERROR, goAway.errorCode());
        assertTrue(client.awaitClose(Duration.ofSeconds(10)), "the connection closes once its stream is done");
        assertTrue(proxy.waitFor(30) >= 0, "the proxy exits: " + proxy.tail());
    }

    private static long inFlight(Admin admin) {
        long n = 0;
        for (JsonNode server : admin.json("/stats.json").get("servers")) {
            n += server.get("in_flight").asLong();
        }
        return n;
    }
}
