package io.grapevine.proxy.membership;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberRecord;
import io.grapevine.cluster.MembershipListener;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.reload.Refusals;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.reload.ServerSource;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.Server;
import io.netty.util.NetUtil;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's view of the cluster, and the only source of gossip servers for the table.
 *
 * <p>Thread: the table thread of {@link RunningConfig} ("grapevine-table"). Membership events arrive on the
 * gossip thread and are handed off at once ({@link #onMembershipEvent}); template reloads and servers.conf
 * changes arrive through {@link RunningConfig}. Everything else runs on the table thread, so the view's
 * state needs no lock; the admin pages read volatile snapshots.
 *
 * <p>Flow: events update the member records; a render is scheduled at most once per debounce window, so a
 * burst of joins and leaves costs one table generation per window. The render turns the members into text
 * with the backend template, parses it with the servers.conf parser, keeps only servers that some backend
 * member announced (host and port), that the allowlist admits and that are not the proxy itself, and hands
 * them to {@link RunningConfig#publish}, which puts them after the static servers. A template or validation
 * failure keeps the last good table.
 */
public final class MembershipView implements MembershipListener, ServerSource {

    private static final Logger log = LoggerFactory.getLogger(MembershipView.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * How long a backend member removed by gossip's failure detector stays while the proxy still reaches its
     * backend: beyond the suspicion timeouts of clusters of any size (15 s with 31 members), so that a member
     * falsely suspected is back long before.
     */
    public static final long DEFAULT_HOLD_MILLIS = 30_000;
    private static final long HOLD_CHECK_MILLIS = 250;
    /**
     * A join reports the members it brings one by one, each once its metadata came (fetched from each at once): the
     * first export of a late join waits until no member came for this long ({@code syncInterval}, by which the
     * members that answer at all have answered)...
     */
    static final long FIRST_EXPORT_QUIET_MILLIS = 1_000;
    /** ...but no longer than this after the first ({@code metadataTimeout}: a member slower than that is not added). */
    static final long FIRST_EXPORT_MAX_WAIT_MILLIS = 5_000;

    /** What the last render produced, for {@code GET /table/rendered}. */
    public record RenderResult(long atMillis, String text, String error, long generation) {
    }

    private final RunningConfig running;
    private final ScheduledExecutorService thread;
    private final long debounceMillis;
    private final Path templateFile;
    private final List<ExportRenderer> exports = new ArrayList<>();
    /** No member is known yet, and the exports wait for one ({@link #addExport}). */
    private boolean exportsWaitForMembers;
    /** The first member of a late join is known, and the exports wait for the others it brought; since (nano time). */
    private boolean exportsSettling;
    private long exportsSettlingSince;
    /** When the member records last changed (nano time). */
    private long lastMemberChange;
    private final Refusals refusals = new Refusals(log);
    private final List<Runnable> membersListeners = new ArrayList<>();

    private BackendTemplate template;
    private ProxyConfig allowlistOf;
    private AddressAllowlist allowlist;
    private final Map<String, MemberRecord> members = new LinkedHashMap<>();
    private final List<String> pendingReasons = new ArrayList<>();
    private boolean renderScheduled;
    /** Members gossip removed while their backend still answers: member id to when the hold ends (nano time). */
    private final Map<String, Long> held = new LinkedHashMap<>();
    private boolean holdCheckScheduled;
    private long holdMillis = DEFAULT_HOLD_MILLIS;

    private volatile List<MemberRecord> memberSnapshot = List.of();
    private volatile RenderResult lastRender = new RenderResult(0, "", "no render yet", 0);
    private final AtomicLong events = new AtomicLong();
    private final AtomicLong renders = new AtomicLong();
    private final AtomicLong renderFailures = new AtomicLong();
    private final AtomicLong reloadFailures = new AtomicLong();

    /**
     * Becomes the source of {@code running}'s gossip servers.
     *
     * @param template       the compiled backend template
     * @param debounceMillis the render window
     */
    public MembershipView(RunningConfig running, BackendTemplate template, long debounceMillis) {
        this.running = running;
        this.thread = running.thread();
        this.template = template;
        this.templateFile = template.file();
        this.debounceMillis = debounceMillis;
        running.setSource(this);
    }

    /**
     * Also renders {@code renderer} on every change (the --render mode).
     *
     * @param afterFirstMember render it only once some member is known: a node that joins through seeds knows nothing
     *                         of the cluster until one answers, and an export rendered before would empty the file
     *                         (and the external proxy reloaded with it) of every backend
     */
    public void addExport(ExportRenderer renderer, boolean afterFirstMember) {
        thread.execute(() -> {
            exports.add(renderer);
            if (afterFirstMember && members.isEmpty()) {
                exportsWaitForMembers = true;
                log.info("{} is rendered once a seed has answered; until then the file stays as it is",
                        renderer.describe());
            }
            requestRender("export " + renderer.describe() + " added");
        });
    }

    // ---------------------------------------------------------------- inputs (any thread)

    /** Gossip thread: hand off at once, never block it. */
    @Override
    public void onMembershipEvent(MemberEvent event) {
        events.incrementAndGet();
        thread.execute(() -> apply(event));
    }

    // ---------------------------------------------------------------- the table thread

    @Override
    public String configChanged(String reason) {
        refusals.forgetAll();
        pendingReasons.add(reason);
        return render();
    }

    @Override
    public String loadFile(String why) {
        try {
            template = template.reload();
            return null;
        } catch (BackendTemplate.TemplateException e) {
            reloadFailures.incrementAndGet(); // a file that did not load; nothing was rendered
            lastRender = new RenderResult(System.currentTimeMillis(), "", e.getMessage(),
                    running.current().generation());
            log.warn("template not reloaded ({}), the running template stays: {}", why, e.getMessage());
            return e.getMessage();
        }
    }

    private void apply(MemberEvent e) {
        String what;
        MemberRecord previous = members.get(e.memberId());
        held.remove(e.memberId());
        if (e.type() == MemberEvent.Type.REMOVED) {
            if (previous != null && previous.isBackend() && previous.lastEvent() != MemberEvent.Type.LEAVING
                    && previous.lastEvent() != MemberEvent.Type.REMOVED && servesHere(previous) && holdMillis > 0
                    && successor(previous) == null) {
                hold(previous, e);
                return;
            }
            members.remove(e.memberId());
            what = "removed";
            boolean left = previous != null && previous.lastEvent() == MemberEvent.Type.LEAVING;
            String why = left ? "left the cluster (removed after its leave)"
                    : "removed by failure detection without leaving: crashed or unreachable" + whyNotHeld(previous);
            log.info("member {} {}: {}", previous != null ? previous.describe() : e.memberId(), what, why);
            timeline(left ? "leave" : "crash", previous, e.memberId(), why);
        } else {
            MemberRecord r = MemberRecord.next(previous, e);
            members.put(e.memberId(), r);
            boolean back = previous != null && previous.lastEvent() == MemberEvent.Type.REMOVED;
            what = switch (e.type()) {
                case ADDED -> back ? "back" : "joined";
                case LEAVING -> "leaving";
                default -> "updated";
            };
            MemberMetadata metadata = r.metadata();
            String detail = metadata == null ? "no valid metadata"
                    : metadata.isBackend() ? "state " + r.effectiveState() + ", weight " + metadata.weight()
                    + ", version " + metadata.version() : "role " + metadata.role();
            log.info("member {} {}: {}", r.describe(), what, detail);
            String before = previous != null ? previous.effectiveState() : null;
            switch (e.type()) {
                case ADDED -> timeline("join", r, e.memberId(), (back ? "back after its removal: " : "joined: ") + detail);
                case LEAVING -> timeline("leave", r, e.memberId(), "leaving the cluster: drains, then goes");
                default -> timeline(r.effectiveState().equals(before) ? "update"
                        : r.effectiveState().equals("draining") ? "drain" : r.effectiveState(), r, e.memberId(),
                        "announced " + detail + (before != null && !r.effectiveState().equals(before)
                        ? " (was " + before + ")" : ""));
            }
        }
        snapshotMembers();
        lastMemberChange = System.nanoTime();
        if (exportsWaitForMembers && !members.isEmpty()) {
            exportsWaitForMembers = false;
            exportsSettling = true;
            exportsSettlingSince = lastMemberChange;
            thread.schedule(this::checkExportsSettled, FIRST_EXPORT_QUIET_MILLIS, TimeUnit.MILLISECONDS);
        }
        MemberRecord r = members.get(e.memberId());
        requestRender((r != null ? r.describe() : previous != null ? previous.describe() : e.memberId()) + " " + what);
    }

    /**
     * Gossip's failure detector removed a backend member that did not leave, but the proxy still reaches its
     * backend: the removal may be a false suspicion (a lossy or slow membership network) or a partition of the
     * membership plane alone. Its server stays as it is for {@link #holdMillis}, unless the proxy's own health
     * checks find the backend down first or the member comes back; then it goes. Gossip alone never takes a
     * server the proxy reaches out of the table at once, so a flapping membership does not flap the table.
     *
     * <p>Never a member whose backend another live member announces (an agent restarted on the same address): the
     * server is that member's, and a held predecessor must not outlive it (its last word, {@code up}, would
     * come back into the table when its successor drains and leaves). A hold ends when such a member appears.
     */
    private void hold(MemberRecord previous, MemberEvent e) {
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(holdMillis);
        members.put(e.memberId(), new MemberRecord(previous.id(), previous.alias(), previous.gossipAddress(),
                previous.metadata(), MemberEvent.Type.REMOVED, e.timestampMillis()));
        held.put(e.memberId(), until);
        snapshotMembers();
        log.info("member {} removed by gossip's failure detector, but its backend answers this proxy: its server stays "
                + "for up to {} ms, until a health check fails or the member is back", previous.describe(), holdMillis);
        timeline("crash", previous, e.memberId(), "removed by failure detection without leaving, but its backend "
                + "answers this proxy: its server stays for up to " + holdMillis + " ms");
        if (!holdCheckScheduled) {
            holdCheckScheduled = true;
            thread.schedule(this::checkHeld, HOLD_CHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /** Why a member removed by failure detection goes at once rather than being held ({@link #hold}); may be empty. */
    private String whyNotHeld(MemberRecord r) {
        if (r == null || !r.isBackend() || holdMillis == 0) {
            return ""; // not a backend, or nothing vouches for one (render mode)
        }
        MemberRecord successor = successor(r);
        return successor != null ? "; its backend is announced by " + successor.describe() + " now"
                : "; its server is not up here (down by this proxy's health checks, announced down, or not in the table)";
    }

    /** Releases held members whose time is up or whose backend the proxy's health checks found down. */
    private void checkHeld() {
        holdCheckScheduled = false;
        long now = System.nanoTime();
        List<String> released = new ArrayList<>();
        for (var it = held.entrySet().iterator(); it.hasNext(); ) {
            var entry = it.next();
            MemberRecord r = members.get(entry.getKey());
            boolean expired = now - entry.getValue() >= 0;
            MemberRecord successor = r == null ? null : successor(r);
            if (r == null || expired || successor != null || !servesHere(r)) {
                it.remove();
                if (r != null) {
                    members.remove(entry.getKey());
                    log.info("member {} removed: {}", r.describe(), expired ? "held " + holdMillis + " ms and not back"
                            : successor != null ? "its backend is announced by " + successor.describe() + " now"
                            : "its backend fails this proxy's health checks");
                    released.add(r.describe() + " removed");
                }
            }
        }
        if (!released.isEmpty()) {
            snapshotMembers();
            released.forEach(this::requestRender);
        }
        if (!held.isEmpty()) {
            holdCheckScheduled = true;
            thread.schedule(this::checkHeld, HOLD_CHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Ends the first export's wait once the members of the late join that were coming have come
     * ({@link #FIRST_EXPORT_QUIET_MILLIS}, at most {@link #FIRST_EXPORT_MAX_WAIT_MILLIS}), else checks again then.
     */
    private void checkExportsSettled() {
        long now = System.nanoTime();
        long due = Math.min(lastMemberChange + TimeUnit.MILLISECONDS.toNanos(FIRST_EXPORT_QUIET_MILLIS),
                exportsSettlingSince + TimeUnit.MILLISECONDS.toNanos(FIRST_EXPORT_MAX_WAIT_MILLIS));
        if (now - due < 0) {
            thread.schedule(this::checkExportsSettled, due - now, TimeUnit.NANOSECONDS);
            return;
        }
        exportsSettling = false;
        log.info("{} members known since the join, and no other coming: rendering the exports now", members.size());
        requestRender("the members of the join are in");
    }

    /**
     * Another member announcing the same backend (service, host and port) as {@code r} that is not on its way out
     * (not draining, leaving or held): the agent restarted on r's address, whose word counts for that backend now
     * ({@link TemplateContexts#announcer}). Null if there is none.
     */
    private MemberRecord successor(MemberRecord r) {
        String key = r.metadata().service() + "@" + addressKey(r.metadata().host(), r.metadata().port());
        for (MemberRecord other : members.values()) {
            if (!other.id().equals(r.id()) && other.isBackend() && !TemplateContexts.isOnItsWayOut(other)
                    && key.equals(other.metadata().service() + "@" + addressKey(other.metadata().host(),
                    other.metadata().port()))) {
                return other;
            }
        }
        return null;
    }

    /** Whether the table has a server at the member's address that is not down by health (or announced down). */
    private boolean servesHere(MemberRecord r) {
        String key = addressKey(r.metadata().host(), r.metadata().port());
        long now = System.nanoTime();
        for (Server s : running.current().servers()) {
            if (s.spec().source() == ServerSpec.Source.GOSSIP && addressKey(s.spec().host(), s.spec().port()).equals(key)
                    && !s.stateName(now).equals("down")) {
                return true;
            }
        }
        return false;
    }

    /**
     * How long a backend member removed by failure detection, whose backend still answers, is held; 0: never (render
     * mode, where no health check vouches for a backend). Any thread.
     */
    public void holdRemovedMembersFor(long millis) {
        thread.execute(() -> holdMillis = millis);
    }

    /**
     * Called on the table thread after every change of the member records ({@link #members()}), before the render
     * it causes.
     */
    public void onMembersChanged(Runnable listener) {
        thread.execute(() -> membersListeners.add(listener));
    }

    private void snapshotMembers() {
        memberSnapshot = List.copyOf(members.values());
        for (Runnable l : membersListeners) {
            l.run();
        }
    }

    /** Adds a membership event to the stats page's timeline. */
    private void timeline(String kind, MemberRecord r, String memberId, String detail) {
        running.events().add(kind, r != null ? r.describe() : "member " + memberId, null, detail);
    }

    private void requestRender(String reason) {
        pendingReasons.add(reason);
        if (!renderScheduled) {
            renderScheduled = true;
            thread.schedule(this::render, debounceMillis, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * A host name the render refused because its lookup had not answered in time was found since (a lookup's thread):
     * renders again, through the same debounce as a membership change, rather than at the next change, which in a
     * quiet cluster may be hours away (as a resolver of HAProxy or nginx's {@code resolve} picks the name up).
     */
    private void foundLate(String name) {
        try {
            thread.execute(() -> requestRender(name + " resolves now"));
        } catch (RejectedExecutionException e) {
            // the proxy is stopping: nothing to render for
        }
    }

    /** @return why the render failed (the table stays), or {@code null} */
    private String render() {
        renderScheduled = false;
        String reason = reasons();
        ProxyConfig config = running.config();
        Map<String, Object> context = TemplateContexts.build(members.values(), config.servers());
        long now = System.currentTimeMillis();
        String text = null;
        String error = null;
        try {
            renders.incrementAndGet();
            refusals.startRound();
            text = template.render(context);
            ConfigLoader.lookUpServerHosts(text).thenAccept(this::foundLate);
            List<ServerSpec> gossip = validate(parseRendered(text), config);
            refusals.endRound();
            BackendTable table = running.publish("gossip: " + reason, gossip);
            lastRender = new RenderResult(now, text, null, table.generation());
        } catch (BackendTemplate.TemplateException | ConfigException e) {
            renderFailures.incrementAndGet();
            long generation = running.current().generation();
            error = e.getMessage();
            lastRender = new RenderResult(now, text == null ? "" : text, error, generation);
            log.warn("backend template failed, table generation {} stays in force: {}", generation, error);
            running.events().add("error", "backend template", null, "render failed, table generation " + generation
                    + " stays in force: " + error);
        } catch (RuntimeException e) {
            renderFailures.incrementAndGet();
            error = e.toString();
            lastRender = new RenderResult(now, text == null ? "" : text, error, running.current().generation());
            log.error("rendering the backend table failed, the table stays in force: {}", error, e);
        }
        if (!exportsWaitForMembers && !exportsSettling && !exports.isEmpty()) {
            // An export is another proxy's table: what allowed_backends refuses from this one stays out of it too.
            AddressAllowlist allowed = allowlist(config);
            Map<String, Object> exported = TemplateContexts.build(members.values().stream().filter(r -> !r.isBackend()
                    || allowed.check(r.metadata().host(), r.metadata().port()) == null).toList(), config.servers());
            for (ExportRenderer export : exports) {
                export.render(exported);
            }
        }
        return error;
    }

    /**
     * The servers of a rendered document. A document that is not of the servers.conf schema as a whole
     * (not JSON, keys other than {@code backend_servers}) means the template is wrong: it fails and the last
     * good table stays. But when the document is sound and only some of its servers break a rule (a member
     * whose pool tag has a space, whose name is too long, whose tag a template put where it does not fit,
     * two servers claiming one address or one name: the later is refused), those servers are refused, logged and
     * counted one by one, and the rest is used: one member's unusable announcement must not hold up every other
     * member's changes.
     */
    private List<ServerSpec> parseRendered(String text) throws ConfigException {
        String source = "rendered " + templateFile;
        try {
            return ConfigLoader.parseServers(text, source, ServerSpec.Source.GOSSIP);
        } catch (ConfigException whole) {
            JsonNode document;
            try {
                document = JSON.readTree(text);
            } catch (IOException e) {
                throw whole;
            }
            JsonNode list = document == null ? null : document.get("backend_servers");
            if (document == null || !document.isObject() || document.size() != 1 || list == null || !list.isArray()) {
                throw whole;
            }
            List<ServerSpec> kept = new ArrayList<>();
            Set<String> keys = new HashSet<>();
            Set<String> names = new HashSet<>();
            boolean refusedAny = false;
            for (int i = 0; i < list.size(); i++) {
                JsonNode entry = list.get(i);
                String address = entry.path("ip").asText("?") + ":" + entry.path("port").asText("?");
                try {
                    for (ServerSpec s : ConfigLoader.parseServers("{\"backend_servers\": [" + entry + "]}",
                            source + " backend_servers[" + i + "]", ServerSpec.Source.GOSSIP)) {
                        if (keys.contains(s.key())) {
                            refusedAny = true;
                            refuse(s.key() + " repeated", s.name() + " (" + address + ")",
                                    "repeats the address of an earlier server of pool " + s.pool());
                        } else if (names.contains(s.name())) {
                            refusedAny = true;
                            refuse(s.key() + " name repeated", s.name() + " (" + address + ")",
                                    "has the name of an earlier server; the template must give each server a name of its own");
                        } else {
                            keys.add(s.key());
                            names.add(s.name());
                            kept.add(s);
                        }
                    }
                } catch (ConfigException e) {
                    refusedAny = true;
                    String why = "server " + (i + 1) + " of the rendered table: " + problem(e);
                    refuse(address + " " + why, address, why);
                }
            }
            if (!refusedAny) {
                throw whole; // no single server is at fault after all
            }
            return kept;
        }
    }

    /** What is wrong, without the position in the one-server document it was checked in. */
    private static String problem(ConfigException e) {
        String position = e.source() + (e.line() > 0 ? ":" + e.line() + (e.column() > 0 ? ":" + e.column() : "") : "") + ": ";
        String message = e.getMessage();
        return (message.startsWith(position) ? message.substring(position.length()) : message)
                .replace(" in backend_servers[0]", "");
    }

    private void refuse(String key, String server, String why) {
        refusals.refuse(key, "gossip", server, why);
    }

    /**
     * Keeps rendered servers that a backend member announced, that the allowlist admits and that are not the
     * proxy itself.
     */
    private List<ServerSpec> validate(List<ServerSpec> rendered, ProxyConfig config) {
        AddressAllowlist allowed = allowlist(config);
        Set<String> announced = new HashSet<>();
        for (MemberRecord r : members.values()) {
            if (r.isBackend()) {
                announced.add(addressKey(r.metadata().host(), r.metadata().port()));
            }
        }
        List<ServerSpec> kept = new ArrayList<>(rendered.size());
        for (ServerSpec s : rendered) {
            String why = announced.contains(addressKey(s.host(), s.port())) ? allowed.check(s.host(), s.port())
                    : "no backend member announced " + HostAndPort.format(s.host(), s.port());
            if (why == null) {
                kept.add(s);
            } else {
                refuse(s.key() + " " + why, s.name() + " (" + HostAndPort.format(s.host(), s.port()) + ")", why);
            }
        }
        return running.self().filter(kept, (s, why) -> refuse(s.key() + " self",
                s.name() + " (" + HostAndPort.format(s.host(), s.port()) + ")", why));
    }

    /** The allowed_backends of {@code config}, made once per configuration. */
    private AddressAllowlist allowlist(ProxyConfig config) {
        if (allowlistOf != config) {
            allowlist = new AddressAllowlist(config.allowlist());
            allowlistOf = config;
        }
        return allowlist;
    }

    /** One spelling per address: IP literals by their bytes, names lower case. */
    static String addressKey(String host, int port) {
        String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        byte[] ip = NetUtil.createByteArrayFromIpAddressString(h);
        return (ip != null ? java.util.Arrays.toString(ip) : h.toLowerCase(Locale.ROOT)) + ":" + port;
    }

    private String reasons() {
        String reason;
        if (pendingReasons.size() <= 3) {
            reason = String.join("; ", pendingReasons);
        } else {
            reason = pendingReasons.size() + " changes: " + String.join("; ", pendingReasons.subList(0, 2))
                    + "; ...";
        }
        pendingReasons.clear();
        return reason.isEmpty() ? "re-render" : reason;
    }

    // ---------------------------------------------------------------- what the admin pages read

    public List<MemberRecord> members() {
        return memberSnapshot;
    }

    public RenderResult lastRender() {
        return lastRender;
    }

    /**
     * The view's counters for {@code /members}: events, renders, render failures, reload failures (of the template
     * and of servers.conf), refused backends (gossip and static) and members.
     */
    public Map<String, Object> counters() {
        Map<String, Object> c = new LinkedHashMap<>();
        Map<String, Object> config = running.counters();
        c.put("events", events.get());
        c.put("renders", renders.get());
        c.put("render_failures", renderFailures.get());
        c.put("reload_failures", reloadFailures.get() + (Long) config.get("reload_failures"));
        c.put("refused_backends", refusals.count() + (Long) config.get("refused_backends"));
        c.put("members", memberSnapshot.size());
        return c;
    }

    /** Waits until everything handed to the view so far has been processed (tests). */
    public void awaitIdle(long timeoutMillis) throws InterruptedException {
        running.awaitIdle(timeoutMillis);
    }
}
