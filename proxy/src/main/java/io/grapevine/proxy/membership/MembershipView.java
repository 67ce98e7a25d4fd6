package io.grapevine.proxy.membership;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MembershipListener;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.TableHolder;
import io.netty.util.NetUtil;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's view of the cluster, and the only writer of gossip servers into the table.
 *
 * <p>Thread: one dedicated thread ("grapevine-membership"). Membership events arrive on the gossip
 * thread and are handed off at once ({@link #onMembershipEvent}); reloads arrive from the file watcher
 * and SIGHUP. Everything else runs on the view's thread, so its state needs no lock; the admin pages
 * read volatile snapshots.
 *
 * <p>Flow: events update the member records; a render is scheduled at most once per debounce window, so
 * a burst of joins and leaves costs one table generation per window. The render turns the members into
 * text with the backend template, parses it with the servers.conf parser, keeps only servers that some
 * backend member announced (host and port) and that the allowlist admits, merges them after the static
 * servers and publishes the result. A template or validation failure keeps the last good table. Whatever
 * the source, a server that is the proxy itself ({@link SelfAddressGuard}) never reaches the table.
 */
public final class MembershipView implements MembershipListener, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(MembershipView.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the last render produced, for {@code GET /table/rendered}. */
    public record RenderResult(long atMillis, String text, String error, long generation) {
    }

    /**
     * What a reload did ({@code POST /reload}, SIGHUP).
     *
     * @param generationBefore the table generation in force before
     * @param generation       the table generation in force after (the same when nothing changed or it failed)
     * @param errors           why a file was not applied (it does not load, the template does not render);
     *                         empty when everything was applied
     */
    public record ReloadOutcome(long generationBefore, long generation, List<String> errors) {
    }

    private final ScheduledExecutorService thread;
    private final TableHolder tables;
    private final Path configFile;
    private final Path templateFile;
    private final long debounceMillis;
    private final SelfAddressGuard self;
    private final List<ExportRenderer> exports = new ArrayList<>();
    private final List<Consumer<ProxyConfig>> reloadListeners = new CopyOnWriteArrayList<>();

    private ProxyConfig staticConfig;
    private AddressAllowlist allowlist;
    private BackendTemplate template;
    private final Map<String, MemberRecord> members = new LinkedHashMap<>();
    private final List<String> pendingReasons = new ArrayList<>();
    /** Refusals already logged and counted; those of the last render are kept, the others forgotten. */
    private final Set<String> refused = new HashSet<>();
    private final Set<String> refusedNow = new HashSet<>();
    private boolean renderScheduled;

    private volatile List<MemberRecord> memberSnapshot = List.of();
    private volatile RenderResult lastRender = new RenderResult(0, "", "no render yet", 0);
    private final AtomicLong events = new AtomicLong();
    private final AtomicLong renders = new AtomicLong();
    private final AtomicLong renderFailures = new AtomicLong();
    private final AtomicLong reloadFailures = new AtomicLong();
    private final AtomicLong refusedBackends = new AtomicLong();

    /**
     * @param staticConfig   the loaded servers.conf (its servers are always in the table)
     * @param configFile     where it came from, for reloads; null when it cannot be reloaded
     * @param template       the compiled backend template; null without gossip (static servers only)
     * @param debounceMillis the render window
     */
    public MembershipView(TableHolder tables, ProxyConfig staticConfig, Path configFile, BackendTemplate template,
                          long debounceMillis) {
        this(tables, staticConfig, configFile, template, debounceMillis, SelfAddressGuard.NONE);
    }

    /** @param self refuses the proxy's own listeners as servers, from servers.conf and from gossip */
    public MembershipView(TableHolder tables, ProxyConfig staticConfig, Path configFile, BackendTemplate template,
                          long debounceMillis, SelfAddressGuard self) {
        this.tables = tables;
        this.self = self;
        this.staticConfig = staticConfig;
        this.allowlist = new AddressAllowlist(staticConfig.allowlist());
        this.configFile = configFile;
        this.template = template;
        this.templateFile = template == null ? null : template.file();
        this.debounceMillis = debounceMillis;
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "grapevine-membership");
            t.setDaemon(true);
            return t;
        });
    }

    /** Also renders {@code renderer} on every change (the --render mode). Call before events flow. */
    public void addExport(ExportRenderer renderer) {
        thread.execute(() -> {
            exports.add(renderer);
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

    /** Re-reads servers.conf (file watch, SIGHUP). */
    public void reloadConfig(String why) {
        thread.execute(() -> doReloadConfig(why));
    }

    /** Re-reads the backend template (file watch, SIGHUP). */
    public void reloadTemplate(String why) {
        thread.execute(() -> doReloadTemplate(why));
    }

    /**
     * Re-reads servers.conf and / or the template now ({@code POST /reload}, SIGHUP) and tells what that did
     * when done. Any thread; the work runs on the view's thread.
     */
    public CompletableFuture<ReloadOutcome> reload(String why, boolean config, boolean template) {
        CompletableFuture<ReloadOutcome> outcome = new CompletableFuture<>();
        thread.execute(() -> {
            long before = tables.current().generation();
            long startMillis = System.currentTimeMillis();
            List<String> errors = new ArrayList<>();
            String failed = config ? doReloadConfig(why) : null;
            if (failed != null) {
                errors.add(failed);
            }
            failed = template ? doReloadTemplate(why) : null;
            if (failed != null) {
                errors.add(failed);
            }
            RenderResult render = lastRender;
            if (errors.isEmpty() && render.error() != null && render.atMillis() >= startMillis) {
                errors.add(render.error());
            }
            outcome.complete(new ReloadOutcome(before, tables.current().generation(), List.copyOf(errors)));
        });
        return outcome;
    }

    /**
     * Called on the view's thread after every reload of servers.conf, with the configuration in force
     * afterwards (the new one, or the old one when the file did not load): what reopens the access log.
     */
    public void onConfigReload(Consumer<ProxyConfig> listener) {
        reloadListeners.add(listener);
    }

    /** Renders now (start-up). */
    public void renderNow(String why) {
        thread.execute(() -> {
            pendingReasons.add(why);
            render();
        });
    }

    // ---------------------------------------------------------------- the view's thread

    private void apply(MemberEvent e) {
        String what;
        switch (e.type()) {
            case REMOVED -> {
                MemberRecord gone = members.remove(e.memberId());
                what = "removed";
                log.info("member {} {}", gone != null ? gone.describe() : e.memberId(), what);
                boolean left = gone != null && gone.lastEvent() == MemberEvent.Type.LEAVING;
                timeline(left ? "leave" : "crash", gone, e.memberId(), left
                        ? "left the cluster (removed after its leave)"
                        : "removed by failure detection without leaving: crashed or unreachable");
            }
            default -> {
                MemberRecord previous = members.get(e.memberId());
                // An update without valid metadata keeps the last valid metadata.
                var metadata = e.metadata() != null ? e.metadata() : previous != null ? previous.metadata() : null;
                MemberRecord r = new MemberRecord(e.memberId(), e.alias(), e.gossipAddress(), metadata, e.type(),
                        e.timestampMillis());
                members.put(e.memberId(), r);
                what = switch (e.type()) {
                    case ADDED -> "joined";
                    case LEAVING -> "leaving";
                    default -> "updated";
                };
                String detail = metadata == null ? "no valid metadata"
                        : metadata.isBackend() ? "state " + r.effectiveState() + ", weight " + metadata.weight()
                        + ", version " + metadata.version() : "role " + metadata.role();
                log.info("member {} {}: {}", r.describe(), what, detail);
                String before = previous != null ? previous.effectiveState() : null;
                switch (e.type()) {
                    case ADDED -> timeline("join", r, e.memberId(), "joined: " + detail);
                    case LEAVING -> timeline("leave", r, e.memberId(), "leaving the cluster: drains, then goes");
                    default -> timeline(r.effectiveState().equals(before) ? "update"
                            : r.effectiveState().equals("draining") ? "drain" : r.effectiveState(), r, e.memberId(),
                            "announced " + detail + (before != null && !r.effectiveState().equals(before)
                            ? " (was " + before + ")" : ""));
                }
            }
        }
        memberSnapshot = List.copyOf(members.values());
        MemberRecord r = members.get(e.memberId());
        requestRender((r != null ? r.describe() : e.memberId()) + " " + what);
    }

    /** Adds a membership event to the stats page's timeline. */
    private void timeline(String kind, MemberRecord r, String memberId, String detail) {
        tables.events().add(kind, r != null ? r.describe() : "member " + memberId, null, detail);
    }

    private void requestRender(String reason) {
        pendingReasons.add(reason);
        if (!renderScheduled) {
            renderScheduled = true;
            thread.schedule(this::render, debounceMillis, TimeUnit.MILLISECONDS);
        }
    }

    private void render() {
        renderScheduled = false;
        String reason = reasons();
        Map<String, Object> context = TemplateContexts.build(members.values(), staticConfig.servers());
        long now = System.currentTimeMillis();
        String text = null;
        try {
            renders.incrementAndGet();
            List<ServerSpec> rendered = List.of();
            refusedNow.clear();
            if (template != null) {
                text = template.render(context);
                rendered = parseRendered(text);
            }
            List<ServerSpec> merged = merge(validate(rendered));
            refused.retainAll(refusedNow);
            BackendTable table = tables.publish(merged, staticConfig.routes(), staticConfig::policyOf,
                    "gossip: " + reason);
            lastRender = new RenderResult(now, text, null, table.generation());
        } catch (BackendTemplate.TemplateException | ConfigException e) {
            renderFailures.incrementAndGet();
            long generation = tables.current().generation();
            lastRender = new RenderResult(now, text == null ? "" : text, e.getMessage(), generation);
            log.warn("backend template failed, table generation {} stays in force: {}", generation, e.getMessage());
            tables.events().add("error", "backend template", null,
                    "render failed, table generation " + generation + " stays in force: " + e.getMessage());
        } catch (RuntimeException e) {
            renderFailures.incrementAndGet();
            lastRender = new RenderResult(now, text == null ? "" : text, e.toString(), tables.current().generation());
            log.error("rendering the backend table failed, the table stays in force", e);
        }
        for (ExportRenderer export : exports) {
            export.render(context);
        }
    }

    /**
     * The servers of a rendered document. A document that is not of the servers.conf schema as a whole
     * (not JSON, keys other than {@code backend_servers}) means the template is wrong: it fails and the last
     * good table stays. But when the document is sound and only some of its servers break a rule (a member
     * whose pool tag has a space, whose name is too long, whose tag a template put where it does not fit,
     * two members claiming one address), those servers are refused, logged and counted one by one, and the
     * rest is used: one member's unusable announcement must not hold up every other member's changes.
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
            boolean refusedAny = false;
            for (int i = 0; i < list.size(); i++) {
                JsonNode entry = list.get(i);
                String address = entry.path("ip").asText("?") + ":" + entry.path("port").asText("?");
                try {
                    for (ServerSpec s : ConfigLoader.parseServers("{\"backend_servers\": [" + entry + "]}",
                            source + " backend_servers[" + i + "]", ServerSpec.Source.GOSSIP)) {
                        if (keys.add(s.key())) {
                            kept.add(s);
                        } else {
                            refusedAny = true;
                            refuse(s.key() + " repeated", "gossip", s.name() + " (" + address + ")",
                                    "repeats the address of an earlier server of pool " + s.pool());
                        }
                    }
                } catch (ConfigException e) {
                    refusedAny = true;
                    String why = "server " + (i + 1) + " of the rendered table: " + problem(e);
                    refuse(address + " " + why, "gossip", address, why);
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

    /** Counts and logs a refused server once, for as long as consecutive renders keep refusing it. */
    private void refuse(String key, String source, String server, String why) {
        refusedNow.add(key);
        if (refused.add(key)) {
            refusedBackends.incrementAndGet();
            log.warn("refused {} backend {}: {}", source, server, why);
        }
    }

    /** Refuses a server that is the proxy itself; see {@link SelfAddressGuard}. */
    private void refuseSelf(ServerSpec s, String why) {
        String source = s.source() == ServerSpec.Source.STATIC ? "static" : "gossip";
        refuse(source + " " + s.key() + " self", source, s.name() + " (" + HostAndPort.format(s.host(), s.port()) + ")"
                + (s.source() == ServerSpec.Source.STATIC ? " of " + configFile : ""), why);
    }

    /** Keeps rendered servers that a backend member announced and that the allowlist admits. */
    private List<ServerSpec> validate(List<ServerSpec> rendered) {
        Set<String> announced = new HashSet<>();
        for (MemberRecord r : members.values()) {
            if (r.isBackend()) {
                announced.add(addressKey(r.metadata().host(), r.metadata().port()));
            }
        }
        List<ServerSpec> kept = new ArrayList<>(rendered.size());
        for (ServerSpec s : rendered) {
            String why = announced.contains(addressKey(s.host(), s.port())) ? allowlist.check(s.host(), s.port())
                    : "no backend member announced " + HostAndPort.format(s.host(), s.port());
            if (why == null) {
                kept.add(s);
            } else {
                refuse(s.key() + " " + why, "gossip", s.name() + " (" + HostAndPort.format(s.host(), s.port()) + ")", why);
            }
        }
        return self.filter(kept, this::refuseSelf);
    }

    /** Static servers first; a gossip server with the key of a static one is the static one. */
    private List<ServerSpec> merge(List<ServerSpec> gossip) {
        List<ServerSpec> merged = new ArrayList<>(self.filter(staticConfig.servers(), this::refuseSelf));
        Set<String> keys = new HashSet<>();
        Set<String> names = new HashSet<>();
        for (ServerSpec s : merged) {
            keys.add(s.key());
            names.add(s.name());
        }
        for (ServerSpec s : gossip) {
            if (keys.add(s.key())) {
                merged.add(names.add(s.name()) ? s : renamed(s));
            }
        }
        return merged;
    }

    private static ServerSpec renamed(ServerSpec s) {
        return new ServerSpec(s.name() + "/" + s.pool(), s.host(), s.port(), s.weight(), s.backup(), s.pool(),
                s.source(), s.state());
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

    /** @return why servers.conf was not applied, or {@code null} */
    private String doReloadConfig(String why) {
        if (configFile == null) {
            return null;
        }
        ProxyConfig next;
        try {
            next = ConfigLoader.load(configFile);
        } catch (ConfigException e) {
            reloadFailures.incrementAndGet();
            log.warn("{} not reloaded ({}), the running configuration stays: {}", configFile, why, e.getMessage());
            tables.events().add("error", configFile.getFileName().toString(), null,
                    "not reloaded (" + why + "), the running configuration stays: " + e.getMessage());
            configReloaded();
            return e.getMessage();
        }
        List<String> needRestart = new ArrayList<>();
        if (!Objects.equals(next.timeouts(), staticConfig.timeouts())) {
            needRestart.add("timeouts");
        }
        if (!Objects.equals(next.limits(), staticConfig.limits())) {
            needRestart.add("limits");
        }
        if (!Objects.equals(next.healthCheck(), staticConfig.healthCheck())) {
            needRestart.add("health_check");
        }
        if (!Objects.equals(next.tls(), staticConfig.tls())) {
            needRestart.add("tls (the certificate files themselves reload on change)");
        }
        if (!needRestart.isEmpty()) {
            log.warn("{} changed {}: these take effect at the next restart", configFile, needRestart);
        }
        // listen / admin may differ because the command line overrides them; they are never reloaded.
        staticConfig = next.withListen(staticConfig.listen(), staticConfig.admin());
        allowlist = new AddressAllowlist(next.allowlist());
        refused.clear();
        pendingReasons.add(configFile.getFileName() + " reloaded (" + why + ")");
        tables.events().add("reload", configFile.getFileName().toString(), null, "reloaded (" + why + ")");
        render();
        configReloaded();
        return null;
    }

    private void configReloaded() {
        for (Consumer<ProxyConfig> l : reloadListeners) {
            try {
                l.accept(staticConfig);
            } catch (RuntimeException e) {
                log.error("a reload listener failed", e);
            }
        }
    }

    /** @return why the template was not applied, or {@code null} */
    private String doReloadTemplate(String why) {
        if (templateFile == null) {
            return null;
        }
        try {
            template = BackendTemplate.load(templateFile, BackendTemplate.Escaping.JSON);
        } catch (BackendTemplate.TemplateException e) {
            reloadFailures.incrementAndGet();
            renderFailures.incrementAndGet();
            lastRender = new RenderResult(System.currentTimeMillis(), "", e.getMessage(),
                    tables.current().generation());
            log.warn("template not reloaded ({}), the running template stays: {}", why, e.getMessage());
            return e.getMessage();
        }
        pendingReasons.add(templateFile.getFileName() + " reloaded (" + why + ")");
        render();
        return null;
    }

    // ---------------------------------------------------------------- what the admin pages read

    public List<MemberRecord> members() {
        return memberSnapshot;
    }

    public RenderResult lastRender() {
        return lastRender;
    }

    public Map<String, Object> counters() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("events", events.get());
        c.put("renders", renders.get());
        c.put("render_failures", renderFailures.get());
        c.put("reload_failures", reloadFailures.get());
        c.put("refused_backends", refusedBackends.get());
        c.put("members", memberSnapshot.size());
        return c;
    }

    /** Waits until everything handed to the view so far has been processed (tests, shutdown). */
    public void awaitIdle(long timeoutMillis) throws InterruptedException {
        try {
            thread.submit(() -> { }).get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("membership view did not settle", e);
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
