package io.grapevine.proxy.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.grapevine.proxy.stats.StatsFormats;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** The standard admin endpoints of design.md. */
public final class AdminEndpoints {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** The stats page and its script and style, served from the jar (no framework, nothing from elsewhere). */
    private static final String PAGE_RESOURCES = "/io/grapevine/proxy/admin/stats/";

    private AdminEndpoints() {
    }

    /** Routes the standard endpoints over {@code report}. */
    public static void install(AdminServer admin, StatsReport report) {
        admin.route("/health", () -> AdminResponse.text(200, "ok\n"));
        admin.route("/table", () -> json(report.table()));
        admin.route("/stats.json", () -> json(report.stats()));
        admin.route("/stats.csv", () -> new AdminResponse(200, "text/csv; charset=utf-8",
                StatsFormats.csv(report.stats()).getBytes(StandardCharsets.UTF_8)));
        admin.route("/metrics", () -> new AdminResponse(200, "text/plain; version=0.0.4; charset=utf-8",
                report.prometheus().getBytes(StandardCharsets.UTF_8)));
        admin.route("/stats/events.json", () -> json(report.events()));
        admin.route("/stats/history.json", () -> json(report.history()));
        AdminResponse page = resource("stats.html", "text/html; charset=utf-8");
        admin.route("/stats", () -> page);
        AdminResponse script = resource("stats.js", "text/javascript; charset=utf-8");
        admin.route("/stats/stats.js", () -> script);
        AdminResponse style = resource("stats.css", "text/css; charset=utf-8");
        admin.route("/stats/stats.css", () -> style);
        RuntimeEndpoints.install(admin, report.tables());
    }

    private static AdminResponse resource(String name, String contentType) {
        try (InputStream in = AdminEndpoints.class.getResourceAsStream(PAGE_RESOURCES + name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource " + PAGE_RESOURCES + name + " in the jar");
            }
            return new AdminResponse(200, contentType, in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static AdminResponse json(Object model) {
        return json(200, model);
    }

    /** {@code {"error": message}} with {@code status}: how the API endpoints say no. */
    public static AdminResponse error(int status, String message) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("error", message);
        return json(status, error);
    }

    public static AdminResponse json(int status, Object model) {
        try {
            return AdminResponse.json(status, JSON.writeValueAsBytes(model));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            Map<String, Object> error = new LinkedHashMap<>();
            error.put("error", e.getMessage());
            return AdminResponse.text(500, error.toString());
        }
    }
}
