package io.grapevine.proxy.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Reads the proxy's admin endpoints ({@code /table}, {@code /members}, ...) as JSON. */
public final class Admin {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** One row of {@code GET /table}. */
    public record Row(String name, String host, int port, String source, String state, int weight, String pool) {

        public String address() {
            return host + ":" + port;
        }
    }

    private final InetSocketAddress address;

    public Admin(InetSocketAddress address) {
        this.address = address;
    }

    public JsonNode json(String path) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + host() + ":" + address.getPort() + path))
                    .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new IllegalStateException(path + " answered " + r.statusCode() + ": " + r.body());
            }
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new UncheckedIOException(path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    public InetSocketAddress address() {
        return address;
    }

    /** The admin listener's address, loopback for one that listens on every address. */
    private String host() {
        java.net.InetAddress a = address.getAddress();
        if (a == null || a.isAnyLocalAddress()) {
            return "127.0.0.1";
        }
        String literal = a.getHostAddress();
        return literal.contains(":") ? "[" + literal + "]" : literal;
    }

    /** {@code GET /table}, or null when the admin port does not answer (yet). */
    public JsonNode tableOrNull() {
        try {
            return json("/table");
        } catch (RuntimeException e) {
            return null;
        }
    }

    public List<Row> table() {
        return rows(json("/table"));
    }

    public static List<Row> rows(JsonNode table) {
        List<Row> rows = new ArrayList<>();
        for (JsonNode s : table.path("servers")) {
            rows.add(new Row(s.path("name").asText(), s.path("host").asText(), s.path("port").asInt(),
                    s.path("source").asText(), s.path("state").asText(), s.path("weight").asInt(), s.path("pool").asText()));
        }
        return rows;
    }

    public long generation() {
        return json("/table").path("generation").asLong();
    }

    /** The row of the server at {@code host:port}, or null. */
    public Row row(String host, int port) {
        for (Row r : table()) {
            if (r.host().equals(host) && r.port() == port) {
                return r;
            }
        }
        return null;
    }

    public boolean hasServer(int port) {
        return row("127.0.0.1", port) != null;
    }

    /** Whether {@code 127.0.0.1:port} is in the table in {@code state}. */
    public boolean serverIn(int port, String state) {
        Row r = row("127.0.0.1", port);
        return r != null && r.state().equals(state);
    }

    public JsonNode members() {
        return json("/members");
    }

    @Override
    public String toString() {
        try {
            return "table " + json("/table").toString();
        } catch (RuntimeException e) {
            return "admin not answering: " + e;
        }
    }
}
