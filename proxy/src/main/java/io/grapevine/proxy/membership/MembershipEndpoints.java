package io.grapevine.proxy.membership;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.admin.AdminEndpoints;
import io.grapevine.proxy.admin.AdminResponse;
import io.grapevine.proxy.admin.AdminServer;
import io.netty.handler.codec.http.HttpMethod;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code GET /members} (the gossip view), {@code GET /table/rendered} (the last template output) and
 * {@code POST /reload} (servers.conf and the template, as SIGHUP).
 */
public final class MembershipEndpoints {

    private MembershipEndpoints() {
    }

    /** @param gossip the cluster member, or a supplier of null without gossip */
    public static void install(AdminServer admin, MembershipView view, Supplier<GossipMembership> gossip) {
        admin.route("/members", () -> AdminEndpoints.json(members(view, gossip.get())));
        admin.route("/table/rendered", () -> AdminEndpoints.json(rendered(view)));
        admin.route("/table/rendered.txt", () -> renderedText(view));
    }

    /**
     * {@code POST /reload}: re-reads servers.conf and the template as SIGHUP does, and answers when done:
     * {@code {"ok": true, "generation": N, "previous_generation": M, "errors": []}}, or 422 with the errors
     * when a file was not applied (the running configuration stays).
     */
    public static void installReload(AdminServer admin, ReloadTriggers triggers) {
        admin.route(HttpMethod.POST, "/reload", r -> triggers.reloadNow(r.who()).thenApply(MembershipEndpoints::reloaded));
    }

    static AdminResponse reloaded(MembershipView.ReloadOutcome o) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ok", o.errors().isEmpty());
        out.put("generation", o.generation());
        out.put("previous_generation", o.generationBefore());
        out.put("errors", o.errors());
        return AdminEndpoints.json(o.errors().isEmpty() ? 200 : 422, out);
    }

    static Map<String, Object> members(MembershipView view, GossipMembership gossip) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (MemberRecord r : view.members()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", r.id());
            m.put("alias", r.alias());
            m.put("address", r.gossipAddress() == null ? null : HostAndPort.format(r.gossipAddress()));
            m.put("metadata", r.metadata());
            m.put("state", r.metadata() == null ? "unknown" : r.effectiveState());
            m.put("last_event", r.lastEvent().name());
            m.put("last_event_millis", r.lastEventMillis());
            list.add(m);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("gossip", gossip == null ? "off" : gossip.counters());
        out.put("view", view.counters());
        out.put("members", list);
        return out;
    }

    static Map<String, Object> rendered(MembershipView view) {
        MembershipView.RenderResult r = view.lastRender();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", r.generation());
        out.put("rendered_at_millis", r.atMillis());
        out.put("error", r.error());
        out.put("text", r.text());
        return out;
    }

    /** Text form of the last render, for {@code curl .../table/rendered.txt}. */
    static AdminResponse renderedText(MembershipView view) {
        MembershipView.RenderResult r = view.lastRender();
        return AdminResponse.text(200, r.error() != null ? "# error: " + r.error() + "\n" + r.text() : r.text());
    }
}
