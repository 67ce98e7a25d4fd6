package io.grapevine.proxy.admin;

import java.nio.charset.StandardCharsets;

/** What an admin endpoint answers. */
public record AdminResponse(int status, String contentType, byte[] body) {

    public static AdminResponse json(byte[] body) {
        return new AdminResponse(200, "application/json", body);
    }

    public static AdminResponse text(int status, String body) {
        return new AdminResponse(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
    }

    public static AdminResponse html(String body) {
        return new AdminResponse(200, "text/html; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
    }
}
