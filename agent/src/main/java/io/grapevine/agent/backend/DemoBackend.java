package io.grapevine.agent.backend;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * PLACEHOLDER, replaced on merge by the real demo backend (same package, same API:
 * {@code start(host, port, id)}, {@code port()}, {@code close()}). It only exists so that
 * {@code agent --demo} compiles and answers {@code /health} on this branch; keep the real class
 * when the two meet.
 */
public final class DemoBackend {

    private final HttpServer server;

    private DemoBackend(HttpServer server) {
        this.server = server;
    }

    public static DemoBackend start(String host, int port, int id) throws InterruptedException {
        try {
            HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
            server.createContext("/", exchange -> {
                byte[] body = ("demo backend " + id + "\n").getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            server.start();
            return new DemoBackend(server);
        } catch (IOException e) {
            throw new UncheckedIOException("demo backend cannot listen on " + host + ":" + port + ": " + e.getMessage(), e);
        }
    }

    public int port() {
        return server.getAddress().getPort();
    }

    public void close() {
        server.stop(0);
    }
}
