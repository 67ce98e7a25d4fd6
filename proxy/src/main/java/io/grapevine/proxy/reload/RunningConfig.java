package io.grapevine.proxy.reload;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.ProxyProtocolConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.TableHolder;
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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running configuration: servers.conf as loaded last, reloaded on request (file watch, SIGHUP,
 * {@code POST /reload}), and the table it makes: the static servers first, then those of a
 * {@link ServerSource} (gossip), published into the {@link TableHolder}. A proxy without gossip has no
 * source: its table is servers.conf alone.
 *
 * <p>Thread: one dedicated thread, "grapevine-table" ({@link #thread()}), runs every reload and every
 * publication, and the source's work too, so none of it needs a lock. Requests from other threads are
 * queued to it. A file that does not load is logged and counted, and the running configuration stays.
 * Whatever the source, a server that is the proxy itself ({@link SelfAddressGuard}) never reaches the table.
 */
public final class RunningConfig implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RunningConfig.class);

    private final ScheduledExecutorService thread;
    private final TableHolder tables;
    private final Path configFile;
    private final SelfAddressGuard self;
    private final Refusals refusals = new Refusals(log);
    private final List<ReloadListener> reloadListeners = new CopyOnWriteArrayList<>();
    private final AtomicLong reloadFailures = new AtomicLong();

    private volatile ProxyConfig config;
    /** Table thread: the text of servers.conf that {@link #config} was parsed from; null before the first reload. */
    private String configText;
    /**
     * Table thread: the last load of servers.conf, when it was refused; a host name it refused because its lookup had
     * not answered in time, found since, loads the file again ({@link #loadAgainWhenFound}). Null after any other.
     */
    private Object refusedLoad;
    private ServerSource source;

    /**
     * @param config     the loaded servers.conf (its servers are always in the table)
     * @param configFile where it came from, for reloads; null when it cannot be reloaded
     * @param self       refuses the proxy's own listeners as servers
     */
    public RunningConfig(TableHolder tables, ProxyConfig config, Path configFile, SelfAddressGuard self) {
        this.tables = tables;
        this.config = config;
        this.configFile = configFile;
        this.self = self;
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "grapevine-table");
            t.setDaemon(true);
            return t;
        });
    }

    /** The table thread, on which a {@link ServerSource} does all its work. */
    public ScheduledExecutorService thread() {
        return thread;
    }

    /** The servers after the static ones (gossip); call before {@link #start}. */
    public void setSource(ServerSource source) {
        this.source = source;
    }

    /** Publishes the first table: the static servers, with the source's as soon as it has some. */
    public void start(String why) {
        thread.execute(() -> republish(why));
    }

    /**
     * servers.conf as applied last: what takes a restart (listeners, health checks, timeouts, limits, the PROXY
     * protocol, tls) as the proxy started with it, the listen and admin addresses of the command line. Any thread.
     */
    public ProxyConfig config() {
        return config;
    }

    /** The table in force. Any thread. */
    public BackendTable current() {
        return tables.current();
    }

    /** The stats page's timeline, where reloads, membership changes and their failures are told. Any thread. */
    public EventLog events() {
        return tables.events();
    }

    /** What refuses the proxy's own listeners as servers. */
    public SelfAddressGuard self() {
        return self;
    }

    /**
     * Table thread: makes the static servers (less any that is the proxy itself) followed by {@code others} the
     * table. A server of {@code others} with the key (pool, host, port) of a static one is the static one; one
     * whose name a static server has already is renamed {@code name/pool}, and refused (logged and counted once) when
     * that name is taken too: every name in the table is one server's, as the admin API names a server to change it.
     *
     * @return the table in force afterwards
     */
    public BackendTable publish(String reason, List<ServerSpec> others) {
        refusals.startRound();
        List<ServerSpec> merged = new ArrayList<>(self.filter(config.servers(), this::refuseSelf));
        Set<String> keys = new HashSet<>();
        Set<String> names = new HashSet<>();
        for (ServerSpec s : merged) {
            keys.add(s.key());
            names.add(s.name());
        }
        for (ServerSpec s : others) {
            if (!keys.add(s.key())) {
                continue;
            }
            ServerSpec named = names.contains(s.name()) ? renamed(s) : s;
            if (names.add(named.name())) {
                merged.add(named);
            } else {
                refusals.refuse(s.key() + " name taken", s.source().name().toLowerCase(Locale.ROOT),
                        s.name() + " (" + HostAndPort.format(s.host(), s.port()) + ")", "its name, and " + named.name()
                        + ", are other servers' already");
            }
        }
        refusals.endRound();
        ProxyConfig c = config;
        return tables.publish(merged, c.routes(), c::policyOf, reason);
    }

    private void refuseSelf(ServerSpec s, String why) {
        refusals.refuse(s.key() + " self", "static", s.name() + " (" + HostAndPort.format(s.host(), s.port()) + ") of "
                + configFile, why);
    }

    private static ServerSpec renamed(ServerSpec s) {
        return new ServerSpec(s.name() + "/" + s.pool(), s.host(), s.port(), s.weight(), s.backup(), s.pool(),
                s.source(), s.state(), s.maxConn());
    }

    // ---------------------------------------------------------------- reloads (any thread)

    /** Re-reads servers.conf (file watch). */
    public void reloadConfig(String why) {
        reload(why, true, false);
    }

    /** Re-reads the source's own file, the backend template (file watch). */
    public void reloadTemplate(String why) {
        reload(why, false, true);
    }

    /**
     * Re-reads servers.conf and / or the template now ({@code POST /reload}, SIGHUP) and tells what that did when
     * done.
     *
     * @return completes on the table thread when the reload is done, whatever happened: with what it did, or
     *         exceptionally with what it threw (logged, on the timeline; the admin API answers that 500), so that
     *         no one waiting for it (the admin API has no time limit of its own) waits for ever
     */
    public CompletableFuture<ReloadOutcome> reload(String why, boolean reloadConfig, boolean reloadTemplate) {
        CompletableFuture<ReloadOutcome> outcome = new CompletableFuture<>();
        try {
            thread.execute(() -> reloadNow(why, reloadConfig, reloadTemplate, outcome));
        } catch (RejectedExecutionException e) {
            outcome.completeExceptionally(new IllegalStateException("the proxy is stopping: nothing reloaded", e));
        }
        return outcome;
    }

    /** Table thread: {@link #reloadNow(String, boolean, boolean)}, which completes {@code outcome} however it ends. */
    private void reloadNow(String why, boolean reloadConfig, boolean reloadTemplate,
            CompletableFuture<ReloadOutcome> outcome) {
        try {
            outcome.complete(reloadNow(why, reloadConfig, reloadTemplate));
        } catch (RuntimeException | Error e) {
            reloadFailures.incrementAndGet();
            log.error("reload ({}) failed, the table in force stays", why, e);
            tables.events().add("error", "reload", null, "reload (" + why + ") failed, the table in force stays: "
                    + e);
            outcome.completeExceptionally(e);
        }
    }

    /**
     * Table thread: loads the files asked for, then renders and publishes once for whatever of them loaded (one
     * render for both files, not one each).
     */
    private ReloadOutcome reloadNow(String why, boolean reloadConfig, boolean reloadTemplate) {
        long before = tables.current().generation();
        List<String> errors = new ArrayList<>();
        List<String> loaded = new ArrayList<>();
        if (reloadConfig && configFile != null) {
            String failed = doReloadConfig(why);
            if (failed == null) {
                loaded.add(configFile.getFileName().toString());
            } else {
                errors.add(failed);
            }
        }
        if (reloadTemplate && source != null) {
            String failed = source.loadFile(why);
            if (failed == null) {
                loaded.add("the template");
            } else {
                errors.add(failed);
            }
        }
        if (!loaded.isEmpty()) {
            String failed = republish(String.join(" and ", loaded) + " reloaded (" + why + ")");
            if (failed != null) {
                errors.add(failed);
            }
        }
        return new ReloadOutcome(before, tables.current().generation(), List.copyOf(errors));
    }

    /** What applies a part of servers.conf that lives outside the table: the access log. */
    @FunctionalInterface
    public interface ReloadListener {
        /**
         * Table thread: applies {@code config}, or throws and leaves what it applies as it was.
         *
         * @throws ConfigException why {@code config} cannot be applied, said at the key of servers.conf
         */
        void apply(ProxyConfig config) throws ConfigException;
    }

    /**
     * Called on the table thread at every reload of servers.conf: with a file that loaded before it becomes the
     * running configuration, so that one the listener cannot apply (an access log file that does not open) is
     * refused as a whole, as a file that does not load; then, or when the file did not load or was unchanged, with
     * the configuration in force (which reopens the access log).
     */
    public void onConfigReload(ReloadListener listener) {
        reloadListeners.add(listener);
    }

    /** @return why the render failed, or {@code null} */
    private String republish(String reason) {
        if (source != null) {
            return source.configChanged(reason);
        }
        publish(reason, List.of());
        return null;
    }

    /** Loads servers.conf; the listeners hear of it whether or not it loaded. @return why it did not, or {@code null} */
    private String doReloadConfig(String why) {
        if (configFile == null) {
            return null;
        }
        ProxyConfig next;
        String text;
        Object load = new Object();
        refusedLoad = null;
        try {
            text = ConfigLoader.readText(configFile);
            if (text.equals(configText)) {
                // The configuration is a function of the text (and of the file's directory, which is fixed): the
                // same text makes the same configuration.
                tables.events().add("reload", configFile.getFileName().toString(), null, "reloaded (" + why
                        + "), unchanged");
                configReloaded();
                return null;
            }
            next = ConfigLoader.load(configFile, text, name -> loadAgainWhenFound(load, name));
        } catch (ConfigException e) {
            refusedLoad = load;
            return notReloaded(why, e);
        }
        List<String> needRestart = new ArrayList<>();
        ProxyConfig running = config;
        if (!Objects.equals(next.timeouts(), running.timeouts())) {
            needRestart.add("timeouts");
        }
        if (!Objects.equals(next.limits(), running.limits())) {
            needRestart.add("limits");
        }
        if (!next.healthCheck().sameActiveChecks(running.healthCheck())) {
            needRestart.add("health_check");
        }
        if (!next.healthCheck().samePassiveHealth(running.healthCheck())) {
            needRestart.add("passive_health");
        }
        ProxyProtocolConfig nextProxy = next.proxyProtocol();
        ProxyProtocolConfig runningProxy = running.proxyProtocol();
        if (nextProxy.accept() != runningProxy.accept()) {
            needRestart.add("accept_proxy_protocol");
        }
        if (!nextProxy.acceptFrom().equals(runningProxy.acceptFrom())) {
            needRestart.add("accept_proxy_protocol_from");
        }
        if (!Objects.equals(nextProxy.sendDefault(), runningProxy.sendDefault())
                || !nextProxy.sendByPool().equals(runningProxy.sendByPool())) {
            needRestart.add("send_proxy_protocol");
        }
        if (!Objects.equals(next.tls(), running.tls())) {
            needRestart.add("tls (the certificate files themselves reload on change)");
        }
        // What takes a restart stays as the start read it, so that config() is what is in force (passive health
        // sharing reads it) and the next reload compares the file with that, not with a value never applied.
        // listen / admin may differ because the command line overrides them; they are never reloaded.
        next = next.withRestartOnlyKeysOf(running);
        for (ReloadListener l : reloadListeners) {
            try {
                l.apply(next);
            } catch (ConfigException e) {
                // Nothing of next is in force yet: the listeners that applied it are told the running one again.
                return notReloaded(why, e);
            } catch (RuntimeException e) {
                log.error("a reload listener failed", e);
            }
        }
        if (!needRestart.isEmpty()) {
            log.warn("{} changed {}: these take effect at the next restart", configFile, needRestart);
        }
        config = next;
        configText = text;
        refusals.forgetAll();
        tables.events().add("reload", configFile.getFileName().toString(), null, "reloaded (" + why + ")");
        return null;
    }

    /**
     * A lookup's thread: {@code name}, which the load of servers.conf {@code load} refused because its lookup had not
     * answered in time, is found. Unless servers.conf was loaded since, it is loaded again, once, as a gossip backend
     * refused that way is rendered again, rather than when an operator reloads (HAProxy's resolvers and nginx's
     * {@code resolve} pick a name up as it resolves).
     */
    private void loadAgainWhenFound(Object load, String name) {
        try {
            thread.execute(() -> {
                if (refusedLoad == load) {
                    reloadNow(name + " resolves now", true, false, new CompletableFuture<>());
                }
            });
        } catch (RejectedExecutionException e) {
            // the proxy is stopping: nothing to load for
        }
    }

    /** Table thread: a servers.conf that is not applied; the running configuration stays. @return the error */
    private String notReloaded(String why, ConfigException e) {
        reloadFailures.incrementAndGet();
        log.warn("{} not reloaded ({}), the running configuration stays: {}", configFile, why, e.getMessage());
        tables.events().add("error", configFile.getFileName().toString(), null,
                "not reloaded (" + why + "), the running configuration stays: " + e.getMessage());
        configReloaded();
        return e.getMessage();
    }

    /** Table thread: tells the listeners the configuration in force. */
    private void configReloaded() {
        for (ReloadListener l : reloadListeners) {
            try {
                l.apply(config);
            } catch (ConfigException e) {
                log.error("{}", e.getMessage());
            } catch (RuntimeException e) {
                log.error("a reload listener failed", e);
            }
        }
    }

    // ---------------------------------------------------------------- what the admin pages read

    /**
     * Called when what the proxy knows of its servers' health changed: a new table generation, an ejection made or
     * cleared early (see {@link TableHolder#onHealthFindingsChanged}). Quick, never blocking; any thread.
     */
    public void onHealthFindingsChanged(Runnable listener) {
        tables.onHealthFindingsChanged(listener);
    }

    /** servers.conf reloads that failed; static servers refused (the proxy itself). */
    public Map<String, Object> counters() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("reload_failures", reloadFailures.get());
        c.put("refused_backends", refusals.count());
        return c;
    }

    /** Waits until everything handed to the table thread so far has been done (tests, shutdown). */
    public void awaitIdle(long timeoutMillis) throws InterruptedException {
        try {
            thread.submit(() -> { }).get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("the table thread did not settle", e);
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
