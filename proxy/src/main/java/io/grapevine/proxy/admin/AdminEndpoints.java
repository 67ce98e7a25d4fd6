package io.grapevine.proxy.admin;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.grapevine.proxy.forward.ProxyRuntime;
import io.grapevine.proxy.stats.StatsFormats;
import io.grapevine.proxy.stats.StatsReport;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** The standard admin endpoints of design.md. */
public final class AdminEndpoints {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private AdminEndpoints() {
    }

    static void install(AdminServer admin, ProxyRuntime runtime) {
        StatsReport report = new StatsReport(runtime);
        admin.route("/health", () -> AdminResponse.text(200, "ok\n"));
        admin.route("/table", () -> json(report.table()));
        admin.route("/stats.json", () -> json(report.stats()));
        admin.route("/stats.csv", () -> new AdminResponse(200, "text/csv; charset=utf-8",
                StatsFormats.csv(report.stats()).getBytes(StandardCharsets.UTF_8)));
        admin.route("/metrics", () -> new AdminResponse(200, "text/plain; version=0.0.4; charset=utf-8",
                StatsFormats.prometheus(report.stats()).getBytes(StandardCharsets.UTF_8)));
        admin.route("/stats", () -> AdminResponse.html(StatsFormats.html(report.stats())));
    }

    public static AdminResponse json(Object model) {
        try {
            return AdminResponse.json(JSON.writeValueAsBytes(model));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            Map<String, Object> error = new LinkedHashMap<>();
            error.put("error", e.getMessage());
            return AdminResponse.text(500, error.toString());
        }
    }
}
