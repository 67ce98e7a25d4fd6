package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.grapevine.cluster.HostAndPort;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The health probe against small loopback servers: statuses, garbage, silence, refusal. */
class HealthProbeTest {

    private static final Duration TIMEOUT = Duration.ofMillis(500);

    private static HealthProbe.Result probe(int port) {
        return new HealthProbe(new HostAndPort("127.0.0.1", port), "/health", TIMEOUT).check();
    }

    @Test
    void judgesTheStatus() throws IOException {
        AtomicInteger status = new AtomicInteger(200);
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/health", exchange -> {
            exchange.sendResponseHeaders(status.get(), -1);
            exchange.close();
        });
        server.start();
        try {
            int port = server.getAddress().getPort();
            assertEquals(new HealthProbe.Result(true, "HTTP 200"), probe(port));
            status.set(302);
            assertEquals(new HealthProbe.Result(true, "HTTP 302"), probe(port));
            status.set(503);
            assertEquals(new HealthProbe.Result(false, "HTTP 503"), probe(port));
            status.set(404);
            assertEquals(new HealthProbe.Result(false, "HTTP 404"), probe(port));
        } finally {
            server.stop(0);
        }
    }

    @Test
    void refusesGarbageSilenceAndClosedPorts() throws Exception {
        try (ServerSocket garbage = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread answer = new Thread(() -> {
                try (Socket s = garbage.accept(); OutputStream out = s.getOutputStream()) {
                    out.write("SSH-2.0-OpenSSH\r\n".getBytes(StandardCharsets.US_ASCII));
                } catch (IOException ignored) {
                    // the probe closed first
                }
            });
            answer.start();
            assertEquals(new HealthProbe.Result(false, "not an HTTP response: 'SSH-2.0-OpenSSH'"), probe(garbage.getLocalPort()));
            answer.join(5_000);

            long start = System.nanoTime();
            assertEquals(new HealthProbe.Result(false, "no response within 500 ms"), probe(silent.getLocalPort()));
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertEquals(true, tookMs >= 450 && tookMs < 3_000, "took " + tookMs + " ms");

            int closed = silent.getLocalPort();
            silent.close();
            assertEquals(new HealthProbe.Result(false, "connection refused"), probe(closed));
        }
    }

    @Test
    void readsAStatusLineThatArrivesInPiecesAndStopsAtTheLongestOne() throws Exception {
        try (ServerSocket pieces = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             ServerSocket overlong = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread answer = answer(pieces, "HTTP/1.1 ", "50", "3 Unavailable\r", "\nContent-Length: 0\r\n\r\n");
            assertEquals(new HealthProbe.Result(false, "HTTP 503"), probe(pieces.getLocalPort()));
            answer.join(5_000);

            // A reason phrase longer than the 256 bytes read: the status is judged on what was read, without
            // waiting for the line feed.
            answer = answer(overlong, "HTTP/1.1 200 " + "x".repeat(400), "\r\n");
            long start = System.nanoTime();
            assertEquals(new HealthProbe.Result(true, "HTTP 200"), probe(overlong.getLocalPort()));
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertTrue(tookMs < 450, "took " + tookMs + " ms");
            answer.join(5_000);
        }
    }

    /**
     * A backend that answers {@code 103 Early Hints} (or {@code 100 Continue}) before its final response is judged on
     * the final status, however long the interim response's fields.
     */
    @Test
    void interimResponsesArePassedOverAndTheFinalStatusDecides() throws Exception {
        try (ServerSocket early = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             ServerSocket failing = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            String link = "Link: </a.css>; rel=preload" + ", </b.js>; rel=preload".repeat(30) + "\r\n";
            Thread answer = answer(early, "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\n" + link,
                    link + "\r\nHTTP/1.1 204 No Content\r\n\r\n");
            assertEquals(new HealthProbe.Result(true, "HTTP 204"), probe(early.getLocalPort()));
            answer.join(5_000);

            answer = answer(failing, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                    + "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
            assertEquals(new HealthProbe.Result(false, "HTTP 503"), probe(failing.getLocalPort()));
            answer.join(5_000);
        }
    }

    /**
     * The target's name is looked up within the probe's time too: a resolver that hangs (a DNS server gone) makes a
     * failed probe on time, not one that takes as long as the lookup, and a lookup still running is not started again
     * by the next probe.
     */
    @Test
    void aNameLookupThatHangsFailsTheProbeOnTime() throws Exception {
        AtomicInteger lookups = new AtomicInteger();
        HealthProbe probe = new HealthProbe(new HostAndPort("backend.example", 8080), "/health", TIMEOUT, host -> {
            lookups.incrementAndGet();
            Thread.sleep(3_000);
            throw new java.net.UnknownHostException(host);
        });
        for (int i = 0; i < 2; i++) {
            long start = System.nanoTime();
            HealthProbe.Result result = probe.check();
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertEquals(new HealthProbe.Result(false, "name lookup of backend.example took more than 500 ms"), result);
            assertTrue(tookMs >= 450 && tookMs < 1_500, "took " + tookMs + " ms");
        }
        assertEquals(1, lookups.get(), "one lookup at a time");
    }

    /** Accepts one connection and writes {@code parts} to it, 30 ms apart, each in its own TCP segment. */
    private static Thread answer(ServerSocket server, String... parts) {
        Thread thread = new Thread(() -> {
            try (Socket s = server.accept(); OutputStream out = s.getOutputStream()) {
                s.setTcpNoDelay(true);
                for (String part : parts) {
                    out.write(part.getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    Thread.sleep(30);
                }
            } catch (IOException | InterruptedException ignored) {
                // the probe closed first
            }
        });
        thread.start();
        return thread;
    }
}
