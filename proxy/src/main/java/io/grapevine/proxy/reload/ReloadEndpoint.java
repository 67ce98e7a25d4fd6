package io.grapevine.proxy.reload;

import io.grapevine.proxy.admin.AdminEndpoints;
import io.grapevine.proxy.admin.AdminResponse;
import io.grapevine.proxy.admin.AdminServer;
import io.netty.handler.codec.http.HttpMethod;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code POST /reload}: servers.conf and the template re-read, as on SIGHUP, and what that did. */
public final class ReloadEndpoint {

    private ReloadEndpoint() {
    }

    /**
     * Answers when the reload is done: {@code {"ok": true, "generation": N, "previous_generation": M, "errors": []}},
     * or 422 with the errors when a file was not applied (the running configuration stays).
     */
    public static void install(AdminServer admin, ReloadTriggers triggers) {
        admin.route(HttpMethod.POST, "/reload", r -> triggers.reloadNow(r.who()).thenApply(ReloadEndpoint::reloaded));
    }

    static AdminResponse reloaded(ReloadOutcome o) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ok", o.errors().isEmpty());
        out.put("generation", o.generation());
        out.put("previous_generation", o.generationBefore());
        out.put("errors", o.errors());
        return AdminEndpoints.json(o.errors().isEmpty() ? 200 : 422, out);
    }
}
