package io.grapevine.proxy.membership;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberRecord;
import io.grapevine.proxy.admin.AdminEndpoints;
import io.grapevine.proxy.admin.AdminResponse;
import io.grapevine.proxy.admin.AdminServer;
import io.grapevine.proxy.reload.RunningConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * {@code GET /members} (the gossip view) and {@code GET /table/rendered} (the last template output). Without
 * gossip there is no view: {@code /members} says {@code "gossip": "off"} with the counters of servers.conf, and
 * {@code /table/rendered} holds no text.
 */
public final class MembershipEndpoints {

    private MembershipEndpoints() {
    }

    /**
     * @param view   the membership view, or null without gossip
     * @param gossip the cluster member, or a supplier of null without gossip
     */
    public static void install(AdminServer admin, MembershipView view, RunningConfig running,
                               Supplier<GossipMembership> gossip) {
        admin.route("/members", () -> AdminEndpoints.json(members(view, running, gossip.get())));
        admin.route("/table/rendered", () -> AdminEndpoints.json(rendered(lastRender(view, running))));
        admin.route("/table/rendered.txt", () -> renderedText(lastRender(view, running)));
    }

    private static MembershipView.RenderResult lastRender(MembershipView view, RunningConfig running) {
        return view != null ? view.lastRender()
                : new MembershipView.RenderResult(0, "", null, running.current().generation());
    }

    static Map<String, Object> members(MembershipView view, RunningConfig running, GossipMembership gossip) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (MemberRecord r : view == null ? List.<MemberRecord>of() : view.members()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", r.id());
            m.put("alias", r.alias());
            m.put("address", r.gossipAddress() == null ? null : HostAndPort.format(r.gossipAddress()));
            m.put("metadata", r.metadata());
            m.put("state", r.metadata() == null ? "unknown" : r.effectiveState());
            m.put("last_event", r.lastEvent().name());
            // Removed by gossip's failure detector, kept while the proxy still reaches its backend.
            m.put("held", r.lastEvent() == MemberEvent.Type.REMOVED);
            m.put("last_event_millis", r.lastEventMillis());
            list.add(m);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("gossip", gossip == null ? "off" : gossip.counters());
        out.put("view", view != null ? view.counters() : staticCounters(running));
        out.put("members", list);
        return out;
    }

    /** The view's counters as a proxy without gossip has them: those of servers.conf. */
    private static Map<String, Object> staticCounters(RunningConfig running) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("events", 0L);
        c.put("renders", 0L);
        c.put("render_failures", 0L);
        c.putAll(running.counters());
        c.put("members", 0);
        return c;
    }

    static Map<String, Object> rendered(MembershipView.RenderResult r) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", r.generation());
        out.put("rendered_at_millis", r.atMillis());
        out.put("error", r.error());
        out.put("text", r.text());
        return out;
    }

    /** Text form of the last render, for {@code curl .../table/rendered.txt}. */
    static AdminResponse renderedText(MembershipView.RenderResult r) {
        return AdminResponse.text(200, r.error() != null ? "# error: " + r.error() + "\n" + r.text() : r.text());
    }
}
