package io.grapevine.proxy.membership;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberRecord;
import io.grapevine.proxy.config.ServerSpec;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds what a template sees. Members are sorted (service, host, port), so every proxy renders the
 * same text from the same members. One backend (service, host and port) appears once, however many
 * members announce it: an agent restarted on the same address is a new member while the old one
 * lingers until gossip declares it dead or gone, and the live one is what counts (see
 * {@link #announcer}). Variables (documented in docs/membership.md):
 *
 * <pre>
 * members[]        backends: id alias service host port address weight state up down draining version pool name
 *                  max_conn tags[] (key value first last) tag.KEY first last
 * services[]       name members[] first last
 * proxies[]        id alias host port first last
 * static_servers[] name host port weight backup pool first last
 * member_count     number of backends
 * </pre>
 *
 * {@code first} / {@code last} mark the ends of each list (for commas: {@code {{^first}},{{/first}}}).
 * {@code pool} is the member's {@code pool} tag, else {@code default}. {@code max_conn} is its {@code max_conn} tag
 * when that is a whole number (absent otherwise, so that a section {@code {{#max_conn}}} renders only then).
 */
final class TemplateContexts {

    /** A {@code max_conn} tag fit to render as a JSON number (its range is the parser's to check). */
    private static final java.util.regex.Pattern WHOLE_NUMBER = java.util.regex.Pattern.compile("[0-9]{1,9}");

    private static final Comparator<MemberRecord> ORDER = Comparator
            .comparing((MemberRecord r) -> r.metadata().service())
            .thenComparing(r -> r.metadata().host())
            .thenComparingInt(r -> r.metadata().port())
            .thenComparing(MemberRecord::id);

    private TemplateContexts() {
    }

    static Map<String, Object> build(Collection<MemberRecord> records, List<ServerSpec> staticServers) {
        Map<String, MemberRecord> byBackend = new LinkedHashMap<>();
        for (MemberRecord r : records) {
            if (r.isBackend()) {
                MemberMetadata md = r.metadata();
                // By the address's identity, as the table keys servers: "::1" and "0:0:0:0:0:0:0:1" are one backend.
                byBackend.merge(md.service() + "@" + MembershipView.addressKey(md.host(), md.port()), r,
                        TemplateContexts::announcer);
            }
        }
        List<MemberRecord> backends = byBackend.values().stream().sorted(ORDER).toList();
        List<Map<String, Object>> members = new ArrayList<>();
        Map<String, List<Map<String, Object>>> byService = new TreeMap<>();
        for (MemberRecord r : backends) {
            Map<String, Object> m = member(r);
            members.add(m);
            byService.computeIfAbsent(r.metadata().service(), k -> new ArrayList<>()).add(new LinkedHashMap<>(m));
        }
        markEnds(members);
        List<Map<String, Object>> services = new ArrayList<>();
        byService.forEach((name, list) -> {
            markEnds(list);
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("name", name);
            s.put("members", list);
            services.add(s);
        });
        markEnds(services);
        List<Map<String, Object>> proxies = new ArrayList<>();
        records.stream().filter(r -> r.metadata() != null && !r.metadata().isBackend())
                .sorted(Comparator.comparing(MemberRecord::id)).forEach(r -> {
                    Map<String, Object> p = new LinkedHashMap<>();
                    p.put("id", r.id());
                    p.put("alias", r.alias() == null ? "" : r.alias());
                    p.put("host", r.metadata().host());
                    p.put("port", r.metadata().port());
                    proxies.add(p);
                });
        markEnds(proxies);
        List<Map<String, Object>> statics = new ArrayList<>();
        for (ServerSpec s : staticServers) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.name());
            m.put("host", s.host());
            m.put("port", s.port());
            m.put("weight", s.weight());
            m.put("backup", s.backup());
            m.put("pool", s.pool());
            statics.add(m);
        }
        markEnds(statics);
        Map<String, Object> context = new LinkedHashMap<>();
        context.put("members", members);
        context.put("services", services);
        context.put("proxies", proxies);
        context.put("static_servers", statics);
        context.put("member_count", members.size());
        return context;
    }

    /**
     * Of two members announcing the same backend, the one whose word counts: one that is not on its way
     * out (leaving, draining, or held after gossip removed it) over one that is, then the one heard from last. A member killed and
     * restarted thus gives way to its successor at once, and a draining predecessor cannot drain its
     * successor's backend.
     */
    static MemberRecord announcer(MemberRecord a, MemberRecord b) {
        boolean aOut = isOnItsWayOut(a);
        if (aOut != isOnItsWayOut(b)) {
            return aOut ? b : a;
        }
        if (a.lastEventMillis() != b.lastEventMillis()) {
            return a.lastEventMillis() > b.lastEventMillis() ? a : b;
        }
        return a.id().compareTo(b.id()) <= 0 ? a : b;
    }

    /** Draining, leaving, or removed by gossip and only held while its backend answers. */
    static boolean isOnItsWayOut(MemberRecord r) {
        return r.lastEvent() == MemberEvent.Type.REMOVED || r.effectiveState().equals("draining");
    }

    private static Map<String, Object> member(MemberRecord r) {
        MemberMetadata md = r.metadata();
        String state = r.effectiveState();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", r.id());
        m.put("alias", r.alias() == null ? "" : r.alias());
        m.put("service", md.service());
        m.put("host", md.host());
        m.put("port", md.port());
        m.put("address", HostAndPort.format(md.host(), md.port()));
        m.put("weight", md.weight());
        m.put("state", state);
        m.put("up", state.equals("up"));
        m.put("down", state.equals("down"));
        m.put("draining", state.equals("draining"));
        m.put("version", md.version());
        m.put("pool", md.tags().getOrDefault("pool", ServerSpec.DEFAULT_POOL));
        String maxConn = md.tags().get("max_conn");
        if (maxConn != null && WHOLE_NUMBER.matcher(maxConn).matches()) {
            m.put("max_conn", maxConn); // a number in JSON as it is; the servers.conf rules check its range
        }
        m.put("name", md.service() + "@" + HostAndPort.format(md.host(), md.port()));
        List<Map<String, Object>> tags = new ArrayList<>();
        md.tags().forEach((k, v) -> {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("key", k);
            t.put("value", v);
            tags.add(t);
        });
        markEnds(tags);
        m.put("tags", tags);
        m.put("tag", md.tags());
        return m;
    }

    private static void markEnds(List<Map<String, Object>> list) {
        for (int i = 0; i < list.size(); i++) {
            list.get(i).put("first", i == 0);
            list.get(i).put("last", i == list.size() - 1);
        }
    }
}
