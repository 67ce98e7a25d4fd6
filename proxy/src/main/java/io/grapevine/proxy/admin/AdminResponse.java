package io.grapevine.proxy.admin;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What an admin endpoint answers.
 *
 * @param headers extra response header fields (such as {@code Allow} or {@code WWW-Authenticate})
 */
public record AdminResponse(int status, String contentType, byte[] body, Map<String, String> headers) {

    public AdminResponse(int status, String contentType, byte[] body) {
        this(status, contentType, body, Map.of());
    }

    public static AdminResponse json(byte[] body) {
        return json(200, body);
    }

    public static AdminResponse json(int status, byte[] body) {
        return new AdminResponse(status, "application/json", body);
    }

    public static AdminResponse text(int status, String body) {
        return new AdminResponse(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
    }

    public static AdminResponse html(String body) {
        return new AdminResponse(200, "text/html; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
    }

    /** This answer with one more header field. */
    public AdminResponse withHeader(String name, String value) {
        Map<String, String> more = new LinkedHashMap<>(headers);
        more.put(name, value);
        return new AdminResponse(status, contentType, body, Map.copyOf(more));
    }
}
