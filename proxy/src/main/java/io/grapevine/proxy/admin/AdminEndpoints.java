package io.grapevine.proxy.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.stats.StatsFormats;
import io.grapevine.proxy.table.TableHolder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** The standard admin endpoints of design.md. */
public final class AdminEndpoints {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private AdminEndpoints() {
    }

    /** Routes the standard endpoints over {@code tables} and {@code stats}. */
    public static void install(AdminServer admin, TableHolder tables, ProxyStats stats) {
        StatsReport report = new StatsReport(tables, stats);
        admin.route("/health", () -> AdminResponse.text(200, "ok\n"));
        admin.route("/table", () -> json(report.table()));
        admin.route("/stats.json", () -> json(report.stats()));
        admin.route("/stats.csv", () -> new AdminResponse(200, "text/csv; charset=utf-8",
                StatsFormats.csv(report.stats()).getBytes(StandardCharsets.UTF_8)));
        admin.route("/metrics", () -> new AdminResponse(200, "text/plain; version=0.0.4; charset=utf-8",
                StatsFormats.prometheus(report.stats()).getBytes(StandardCharsets.UTF_8)));
        admin.route("/stats", () -> AdminResponse.html(StatsFormats.html(report.stats())));
        RuntimeEndpoints.install(admin, tables);
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
