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
import java.util.LinkedHashMap;
import java.util.Map;

/** Any request to the admin listener (writes included), with or without a bearer token. */
public final class AdminRequests {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private final InetSocketAddress address;
    private final Map<String, String> headers;

    public AdminRequests(InetSocketAddress address) {
        this(address, Map.of());
    }

    private AdminRequests(InetSocketAddress address, Map<String, String> headers) {
        this.address = address;
        this.headers = headers;
    }

    /** The same listener, sending {@code Authorization: Bearer token}. */
    public AdminRequests withToken(String bearer) {
        return withHeader("Authorization", "Bearer " + bearer);
    }

    /** The same listener, sending one more header field with every request. */
    public AdminRequests withHeader(String name, String value) {
        Map<String, String> more = new LinkedHashMap<>(headers);
        more.put(name, value);
        return new AdminRequests(address, more);
    }

    public int port() {
        return address.getPort();
    }

    /** {@code method path} with {@code body} (null: none); the answer whatever its status. */
    public HttpResponse<String> send(String method, String path, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + address.getPort() + path))
                .timeout(Duration.ofSeconds(10))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(b::header);
        try {
            return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    public HttpResponse<String> put(String path, String body) {
        return send("PUT", path, body);
    }

    /** The JSON body of {@code response}, which must have {@code status}. */
    public static JsonNode json(HttpResponse<String> response, int status) {
        if (response.statusCode() != status) {
            throw new AssertionError(response.request().method() + " " + response.request().uri().getPath()
                    + " answered " + response.statusCode() + " instead of " + status + ": " + response.body());
        }
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + response.body(), e);
        }
    }
}
