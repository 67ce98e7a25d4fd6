package io.grapevine.proxy;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.cli.GossipOptions;
import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.cluster.cli.UsageException;
import io.grapevine.proxy.accesslog.AccessLog;
import io.grapevine.proxy.admin.AdminToken;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.membership.BackendTemplate;
import io.grapevine.proxy.membership.ExportRenderer;
import io.grapevine.proxy.membership.GossipMembership;
import io.grapevine.proxy.membership.MembershipEndpoints;
import io.grapevine.proxy.membership.MembershipView;
import io.grapevine.proxy.membership.PassiveHealthSharing;
import io.grapevine.proxy.reload.ReloadEndpoint;
import io.grapevine.proxy.reload.ReloadTriggers;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.net.LoopSlice;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.tls.ServerTls;
import java.io.IOException;
import java.io.InputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything {@code ./grapevine proxy} runs, assembled in order: every file checked first, then the data
 * plane serving the static servers at once, then the membership view, the reload triggers and, when
 * asked for, the gossip member, whose join may take a while (or never succeed) without delaying traffic.
 * In render mode there is no data plane: the membership is rendered into a file for an external proxy.
 */
public final class ProxyInstance implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ProxyInstance.class);

    /** How long a stop waits for the gossip leave at most (during the delay before the listener closes). */
    private static final long LEAVE_MILLIS = 3000;

    /** Default render window of the membership view. */
    public static final long DEFAULT_DEBOUNCE_MILLIS = 50;

    /** What the secret of sticky-session cookies is derived under from the cluster key. */
    static final String STICKY_SECRET_LABEL = "grapevine/proxy/v1/sticky-cookie";

    /**
     * What to run; see {@link ProxyMain.Flags}.
     *
     * @param gossip                the cluster to join, or null: serve from servers.conf alone
     * @param gossipPort            the gossip port (with {@code gossip})
     * @param onChangeTimeoutMillis how long {@code onChange} may run before it is killed
     * @param adminTokenFile        the file holding the bearer token admin writes need, or null
     * @param check                 check every file and exit ({@code --check}): no port opens
     * @param transport             the event loops' transport ({@code --transport}), or null: the default
     * @param loopSliceMicros       the event loops' scheduler slice ({@code --loop-slice-us}); 0: the kernel's
     */
    public record Options(Path servers, HostPort listen, HostPort admin, GossipOptions gossip, int gossipPort,
                          Path template, Path render, Path out, String onChange, long onChangeTimeoutMillis,
                          long debounceMillis, Path adminTokenFile, boolean check, Transport transport,
                          long loopSliceMicros) {

        /** Without an admin token file, and not {@code --check}. */
        public Options(Path servers, HostPort listen, HostPort admin, GossipOptions gossip, int gossipPort,
                       Path template, Path render, Path out, String onChange, long onChangeTimeoutMillis,
                       long debounceMillis) {
            this(servers, listen, admin, gossip, gossipPort, template, render, out, onChange, onChangeTimeoutMillis,
                    debounceMillis, null, false, null, LoopSlice.DEFAULT_MICROS);
        }

        public boolean gossipOn() {
            return gossip != null;
        }

        public boolean renderMode() {
            return render != null;
        }
    }

    private final ProxyServer server;
    private final RunningConfig running;
    private final MembershipView view;
    private final ReloadTriggers triggers;
    private final ExportRenderer export;
    private final AccessLog accessLog;
    private volatile GossipMembership gossip;
    private volatile PassiveHealthSharing sharing;

    private ProxyInstance(ProxyServer server, RunningConfig running, MembershipView view, ReloadTriggers triggers,
                          ExportRenderer export, AccessLog accessLog) {
        this.server = server;
        this.running = running;
        this.view = view;
        this.triggers = triggers;
        this.export = export;
        this.accessLog = accessLog;
    }

    /**
     * What was read and checked before any port was opened.
     *
     * @param adminToken the token admin writes need, or null
     * @param accessLog  the access log, its file open (off when not configured); null in render mode and for
     *                   {@code --check}
     */
    private record Checked(ProxyConfig config, BackendTemplate template, ClusterKeyring keyring, ExportRenderer export,
                           AdminToken adminToken, AccessLog accessLog) {
    }

    /**
     * Checks every file first, then opens the ports (client listener, admin listener, gossip), then logs
     * one line saying what runs. A failure at any point closes what was opened: no "listening" line is
     * ever followed by a stop at start.
     *
     * @throws ConfigException for an invalid servers.conf
     * @throws BackendTemplate.TemplateException for an invalid template
     * @throws UsageException for an unreadable or invalid cluster key file
     * @throws ListenerBindException when the client or admin address cannot be bound
     * @throws GossipStartException when the gossip port cannot be opened
     * @throws IOException when the file watch cannot start
     */
    public static ProxyInstance start(Options o) throws ConfigException, BackendTemplate.TemplateException,
            UsageException, IOException, InterruptedException {
        try {
            return start(o, () -> false, new StopBudget());
        } catch (StoppedWhileStarting e) {
            throw new AssertionError("no stop can be requested", e);
        }
    }

    /**
     * A stop (SIGTERM, SIGINT) requested while {@link #start(Options, BooleanSupplier)} ran, noticed at one of its
     * phase boundaries: what was opened is closed, nothing logged "listening", no gossip joined, no --on-change run.
     */
    public static final class StoppedWhileStarting extends Exception {
        private final String step;
        private final String before;

        StoppedWhileStarting(String step, String before) {
            super("stopped while " + step + ", before " + before, null, false, false);
            this.step = step;
            this.before = before;
        }

        /** What the start was doing when the stop came ("reading its files"). */
        public String step() {
            return step;
        }

        /** What the stop came before ("opening any port"). */
        public String before() {
            return before;
        }
    }

    /**
     * {@link #start(Options)}, which looks at {@code stopRequested} between its phases (files read, before any port
     * opens; in render mode the join, before the first render and --on-change) and gives up at the first boundary
     * after a stop was requested, closing what it opened, rather than opening the ports, joining gossip and then
     * draining. Once the listeners are open it does not: a connection may already be served, and the drain stops it.
     *
     * @param stopRequested polled from the calling thread at each phase boundary
     * @param budget        takes the timeouts of servers.conf once its files are read: a stop asked for from then on,
     *                      which may drain, is bounded with them
     * @throws StoppedWhileStarting when it gave up so
     */
    public static ProxyInstance start(Options o, BooleanSupplier stopRequested, StopBudget budget)
            throws ConfigException, BackendTemplate.TemplateException, UsageException, IOException, InterruptedException,
            StoppedWhileStarting {
        Checked checked = checkBeforeListening(o, true);
        ProxyConfig config = checked.config();
        // Before the stop is looked for below: one asked for after that look, which the drain carries out, has these.
        budget.timeoutsFrom(config::timeouts);
        ExportRenderer export = checked.export();
        AccessLog accessLog = checked.accessLog();
        if (stopRequested.getAsBoolean()) {
            if (export != null) {
                export.close();
            }
            if (accessLog != null) {
                accessLog.close();
            }
            throw new StoppedWhileStarting("reading its files", o.renderMode() ? "joining gossip" : "opening any port");
        }
        ProxyServer server = null;
        TableHolder tables;
        SelfAddressGuard self = SelfAddressGuard.NONE;
        if (o.renderMode()) {
            tables = new TableHolder(1, config.routes(), config::policyOf);
        } else {
            // Proxies of one cluster share its key: cookies naming servers by a secret derived from it hold on every
            // proxy and across restarts.
            byte[] stickySecret = checked.keyring() == null ? null
                    : checked.keyring().derivedSecret(STICKY_SECRET_LABEL);
            try {
                server = ProxyServer.start(config, stickySecret, checked.adminToken(), o.transport(),
                        o.loopSliceMicros());
            } catch (RuntimeException | InterruptedException e) {
                if (export != null) {
                    export.close();
                }
                accessLog.close();
                throw e;
            }
            tables = server.tables();
            self = server.selfAddressGuard();
            accessLog.attach(server.dataPlane(), server.stats());
        }
        RunningConfig running = new RunningConfig(tables, config, o.servers(), self);
        MembershipView view = o.gossipOn() ? new MembershipView(running, checked.template(), o.debounceMillis()) : null;
        if (export != null) {
            view.holdRemovedMembersFor(0); // no health checks here: nothing vouches for a member gossip removed
        }
        if (accessLog != null) {
            running.onConfigReload(c -> accessLog.reconfigure(c.accessLog(), String.valueOf(o.servers())));
        }
        BackendTemplate template = checked.template();
        Path watchedTemplate = template != null && Files.exists(template.file()) ? template.file() : null;
        ReloadTriggers triggers;
        try {
            triggers = new ReloadTriggers(running, o.servers(), watchedTemplate);
        } catch (IOException | RuntimeException e) {
            new ProxyInstance(server, running, view, null, export, accessLog).close();
            throw e;
        }
        ProxyInstance instance = new ProxyInstance(server, running, view, triggers, export, accessLog);
        if (server != null) {
            MembershipEndpoints.install(server.admin(), view, running, () -> instance.gossip);
            ReloadEndpoint.install(server.admin(), triggers);
        }
        ServerTls tls = server != null ? server.tls() : null;
        if (tls != null) {
            triggers.alsoOnSighup(tls::reloadChanged);
        }
        triggers.start();
        running.start("start");
        if (o.gossipOn()) {
            HostPort announced = server != null
                    ? new HostPort(server.listenAddress().getHostString(), server.listenAddress().getPort()) : config.listen();
            try {
                instance.gossip = GossipMembership.start(o.gossipPort(), o.gossip(), checked.keyring(), announced, view);
                if (export != null && stopRequested.getAsBoolean()) {
                    // Render mode only: a proxy that listens serves during the join, and the drain stops it.
                    instance.close(); // leaves the cluster just joined
                    throw new StoppedWhileStarting("joining gossip", "the first render and --on-change");
                }
                if (export != null) {
                    // After the first join, whose members are in the view's queue by now: the file's first version
                    // has them all. Joining through seeds, the file is left as it is until one answers.
                    view.addExport(export, instance.gossip.hasSeeds());
                }
                if (server != null) {
                    instance.sharing = PassiveHealthSharing.start(running, view, instance.gossip);
                }
            } catch (RuntimeException e) {
                instance.close();
                throw gossipFailure(e);
            }
        }
        if (server != null) {
            // Once the listeners, the admin listener, gossip and the log files are open: what stays open is the base.
            server.capConnections();
        }
        log.info(instance.describe(o, config));
        return instance;
    }

    private static GossipStartException gossipFailure(RuntimeException e) {
        String flag = e.getMessage() != null && e.getMessage().contains("already in use") ? " (--gossip)" : "";
        return new GossipStartException(e.getMessage() + flag, e);
    }

    /**
     * Everything that can be checked before a port opens: servers.conf, the backend template, the cluster
     * key file, the admin token file, the access log file, that the gossip port can be opened, the render
     * template; with {@code --check} also the TLS certificate and key files, which a start reads in
     * {@code ProxyServer}, before its listener opens.
     *
     * @param start false for {@code --check}: nothing is opened or created (no port probed, no access log
     *              file created, no renderer started), only read and checked
     */
    private static Checked checkBeforeListening(Options o, boolean start) throws ConfigException,
            BackendTemplate.TemplateException, UsageException, IOException {
        ProxyConfig config = o.servers() != null ? ConfigLoader.load(o.servers())
                : ConfigLoader.parse("{\"backend_servers\": []}", "(no servers.conf)");
        config = config.withListen(o.listen() != null ? o.listen() : config.listen(),
                o.admin() != null ? o.admin() : config.admin());
        if (!o.renderMode()) {
            checkListenersApart(config, o.gossipOn() && o.gossipPort() != 0
                    ? new HostPort(GossipMembership.bindHost(o.gossipPort(), o.gossip()), o.gossipPort()) : null);
        }
        BackendTemplate template = o.gossipOn() ? loadBackendTemplate(o.template()) : null;
        ClusterKeyring keyring = o.gossipOn() ? o.gossip().loadKeyring() : null;
        AdminToken token = null;
        if (o.adminTokenFile() != null) {
            try {
                token = AdminToken.read(o.adminTokenFile());
            } catch (IllegalArgumentException e) {
                throw new UsageException("--admin-token-file " + e.getMessage());
            }
        }
        if (o.gossipOn() && start) {
            try {
                GossipMembership.checkCanListen(o.gossipPort(), o.gossip());
            } catch (RuntimeException e) {
                throw gossipFailure(e);
            }
        }
        if (o.renderMode()) {
            checkCanReplace(o.out());
        }
        if (!start) {
            if (o.renderMode()) {
                BackendTemplate.load(o.render(), BackendTemplate.Escaping.CONFIG);
            }
            if (config.tls() != null && !o.renderMode()) {
                ServerTls.check(config.tls()); // a start reads them before its listener opens (ProxyServer)
            }
            if (config.accessLog() != null && !o.renderMode()) {
                try {
                    AccessLog.checkWritable(config.accessLog());
                } catch (IllegalArgumentException e) {
                    throw config.accessLog().error(String.valueOf(o.servers()), e.getMessage());
                }
            }
            return new Checked(config, template, keyring, null, token, null);
        }
        AccessLog accessLog = null;
        if (!o.renderMode()) {
            try {
                accessLog = AccessLog.open(config.accessLog());
            } catch (IllegalArgumentException e) {
                throw config.accessLog().error(String.valueOf(o.servers()), e.getMessage());
            }
        }
        ExportRenderer export;
        try {
            export = o.renderMode()
                    ? new ExportRenderer(o.render(), o.out(), o.onChange(), Duration.ofMillis(o.onChangeTimeoutMillis()))
                    : null;
        } catch (BackendTemplate.TemplateException | RuntimeException e) {
            if (accessLog != null) {
                accessLog.close();
            }
            throw e;
        }
        return new Checked(config, template, keyring, export, token, accessLog);
    }

    /**
     * Render mode writes {@code --out}'s new text beside it and renames it over it: its directory must exist and take
     * new files (for a link, the directory of the file it leads to), or every render would fail, long after a start
     * that said nothing (only once a seed answered).
     */
    private static void checkCanReplace(Path out) throws UsageException {
        Path file;
        try {
            file = ExportRenderer.fileOf(out); // the file a link leads to is the one replaced
        } catch (IOException e) {
            throw new UsageException("--out " + out + ": " + e.getMessage());
        }
        String named = "--out " + out + (file.equals(out) ? "" : " (a link to " + file + ")");
        Path directory = file.toAbsolutePath().getParent();
        if (!Files.isDirectory(directory)) {
            throw new UsageException(named + ": the directory " + directory + " does not exist");
        }
        if (!Files.isWritable(directory)) {
            throw new UsageException(named + ": cannot create files in " + directory
                    + " (the new file is written beside the old one, then renamed over it)");
        }
    }

    /** A listener the proxy opens: what it is, where it was configured, its address. */
    private record Listener(String what, String configuredBy, HostPort address) {
    }

    /**
     * The client listener, the TLS listener beside it, the admin listener and the gossip port each need an address of
     * their own: two on one port whose addresses overlap (the same address, or a wildcard that covers the other's, as
     * {@code 0.0.0.0} covers {@code 127.0.0.1} and {@code ::} every address) cannot both be bound. Checked before any
     * port opens, so that {@code --check} finds it and a start fails with the same line, naming both, rather than at
     * the second bind with "address already in use" and the advice to look for another process. Port 0 picks a free
     * port for each.
     *
     * @param gossip where the gossip port will listen, or null: no gossip, or on a port picked then
     * @throws UsageException naming the listener that could not be bound after the other, and the other
     */
    static void checkListenersApart(ProxyConfig config, HostPort gossip) throws UsageException {
        List<Listener> listeners = new ArrayList<>();
        listeners.add(new Listener("the client listener", ListenerBindException.LISTEN, config.listen()));
        if (config.tls() != null && config.tls().listen() != null) {
            listeners.add(new Listener("the TLS listener", ListenerBindException.TLS_LISTEN,
                    config.tls().listen()));
        }
        listeners.add(new Listener("the admin listener", ListenerBindException.ADMIN, config.admin()));
        if (gossip != null) {
            listeners.add(new Listener("the gossip port", "--gossip", gossip));
        }
        // The names are looked up all at once, under the one limit of servers.conf's (a silent DNS server holds the
        // start 5 s, not the system resolver's timeout per name); the binds that follow wait for the same lookups.
        // Only a name on a port another listener shares is waited for here, and the start says which it waits for.
        HostPort.lookUp(listeners.stream().map(l -> l.address().host()).toList());
        for (Listener listener : listeners) {
            boolean shared = listeners.stream().anyMatch(other -> other != listener && other.address().port() != 0
                    && other.address().port() == listener.address().port());
            if (shared && HostPort.stillLookingUp(listener.address().host(), 200)) {
                log.info("Waiting at most {} s for the DNS server to answer for {} ({})", HostPort.LOOKUP_MILLIS / 1000,
                        listener.address().host(), listener.what());
            }
        }
        for (int i = 1; i < listeners.size(); i++) {
            for (int j = 0; j < i; j++) {
                Listener later = listeners.get(i);
                Listener earlier = listeners.get(j);
                if (overlap(later.address(), earlier.address())) {
                    throw new UsageException("cannot listen on " + later.address() + " (" + later.configuredBy() + "): "
                            + earlier.what() + " is on " + earlier.address() + " (" + earlier.configuredBy()
                            + "); give each listener a port of its own");
                }
            }
        }
    }

    /** Whether binding both addresses would fail: the same port (not 0) and addresses one of which covers the other. */
    private static boolean overlap(HostPort a, HostPort b) {
        if (a.port() == 0 || a.port() != b.port()) {
            return false;
        }
        // Never a lookup without a time limit: a name is at the address its lookup (checkListenersApart) found in time.
        InetAddress x = HostPort.serverAddress(a.host(), a.port()).getAddress();
        InetAddress y = HostPort.serverAddress(b.host(), b.port()).getAddress();
        if (x == null || y == null) {
            return a.host().equals(b.host()); // unresolved: the start reports it; the same name is the same address
        }
        return x.equals(y) || covers(x, y) || covers(y, x);
    }

    /** A wildcard address covers the addresses of its family; {@code ::} (dual-stack) covers IPv4 ones too. */
    private static boolean covers(InetAddress wildcard, InetAddress other) {
        return wildcard.isAnyLocalAddress() && (wildcard instanceof Inet6Address || other instanceof Inet4Address);
    }

    /**
     * {@code --check}: reads and checks every file the proxy would read at start (servers.conf, the backend
     * template with gossip, the render template, the cluster key file, the admin token file, that the
     * access log can be written), like {@code nginx -t}. Opens no port and creates no file.
     *
     * @return one line: {@code ok: servers.conf: 3 servers, 2 pools, 1 route; ...}
     */
    public static String check(Options o) throws ConfigException, BackendTemplate.TemplateException,
            UsageException, IOException {
        Checked checked = checkBeforeListening(o, false);
        ProxyConfig c = checked.config();
        // The pools that matter: those with servers, an algorithm of their own, or a route to them.
        Set<String> pools = new TreeSet<>(c.poolPolicies().keySet());
        c.servers().forEach(s -> pools.add(s.pool()));
        c.routes().forEach(r -> pools.add(r.pool()));
        StringBuilder line = new StringBuilder("ok: ");
        line.append(o.servers() != null ? o.servers() : "(no servers.conf)").append(": ")
                .append(count(c.servers().size(), "server")).append(", ")
                .append(count(pools.size(), "pool")).append(pools.isEmpty() ? "" : " (" + String.join(", ", pools) + ")")
                .append(", ").append(count(c.routes().size(), "route"));
        if (c.accessLog() != null) {
            line.append("; access log ").append(c.accessLog().path()).append(" (").append(c.accessLog().format().configName())
                    .append(")");
        }
        if (checked.template() != null) {
            line.append("; backend template ").append(checked.template().file());
        }
        if (o.renderMode()) {
            line.append("; render template ").append(o.render());
        }
        if (o.gossipOn() && o.gossip().clusterKey() != null) {
            line.append("; cluster key file ").append(o.gossip().clusterKey());
        }
        if (checked.adminToken() != null) {
            line.append("; admin token file ").append(o.adminTokenFile());
        }
        if (c.tls() != null && !o.renderMode()) {
            line.append("; TLS certificate ").append(String.join(", ", c.tls().certificates().stream()
                    .map(f -> String.valueOf(f.cert())).toList()));
        }
        return line.toString();
    }

    private static String count(int n, String what) {
        return n + " " + what + (n == 1 ? "" : "s");
    }

    /** What SIGHUP does: servers.conf, the template and the certificate files read again now. */
    public void reloadNow(String why) {
        if (triggers != null) {
            triggers.reloadNow(why);
        }
    }

    /** Closes the access log and opens it again by name, as after logrotate's rename (SIGUSR1). */
    public void reopenAccessLog() {
        if (accessLog == null) {
            log.info("no access log to reopen: --render keeps none");
        } else {
            accessLog.reopen();
        }
    }

    /** The start-up line: what listens where, and where the servers come from. */
    private String describe(Options o, ProxyConfig config) {
        GossipMembership g = gossip;
        String membership = g == null ? "gossip off: serving the servers of " + o.servers() + " only"
                : "gossip " + g.listenDescription() + (o.gossip().insecure() ? " WITHOUT a cluster key (--insecure-gossip)"
                : "") + ", seeds " + (o.gossip().join().isEmpty() ? "none (members join this proxy)" : o.gossip().join());
        if (server == null) {
            return "grapevine proxy rendering " + o.render() + " into " + o.out() + "; " + membership;
        }
        return "grapevine proxy listening on " + format(server.listenAddress()) + " (admin " + format(server.adminAddress()) + "), "
                + server.description() + ", " + config.servers().size() + " static servers; " + membership;
    }

    private static String format(InetSocketAddress address) {
        String host = address.getHostString();
        return HostAndPort.format(host, address.getPort());
    }

    /**
     * The template at {@code file}; without one, {@code templates/backends.mustache} under the
     * installation directory, else the copy shipped inside the jar.
     */
    static BackendTemplate loadBackendTemplate(Path file) throws BackendTemplate.TemplateException, IOException {
        if (file != null) {
            return BackendTemplate.load(file, BackendTemplate.Escaping.JSON);
        }
        String home = System.getProperty("grapevine.home");
        if (home != null) {
            Path installed = Path.of(home, "templates", "backends.mustache");
            if (Files.isReadable(installed)) {
                return BackendTemplate.load(installed, BackendTemplate.Escaping.JSON);
            }
        }
        try (InputStream in = ProxyInstance.class.getResourceAsStream("/templates/backends.mustache")) {
            if (in == null) {
                throw new IOException("no backend template: give --template FILE");
            }
            return BackendTemplate.compile(Path.of("(built-in)/templates/backends.mustache"),
                    new String(in.readAllBytes(), StandardCharsets.UTF_8), BackendTemplate.Escaping.JSON);
        }
    }

    /** The data plane, or null in render mode. */
    public ProxyServer server() {
        return server;
    }

    /** The membership view, or null without gossip. */
    public MembershipView view() {
        return view;
    }

    /** servers.conf as running, and the table thread. */
    public RunningConfig runningConfig() {
        return running;
    }

    public GossipMembership gossip() {
        return gossip;
    }

    /**
     * A second SIGTERM, before the process halts: the access log lines already queued are written, waiting at most
     * {@code waitMillis}, so that the requests answered last are not missing from it. Any thread.
     */
    public void writeAccessLogBeforeHalt(long waitMillis) {
        if (accessLog != null) {
            accessLog.closeWithin(waitMillis);
        }
    }

    /**
     * A stop that begins now, bounded as operations.md says: {@code timeouts.shutdown_delay_ms + shutdown_grace_ms +}
     * {@link StopBudget#STOP_MARGIN_MILLIS}, with the timeouts this proxy started with (in render mode too).
     */
    private StopDeadline stopDeadline() {
        return StopBudget.deadline(running.config().timeouts());
    }

    /** SIGTERM: leave the cluster (peers stop counting on this proxy), then drain the data plane. */
    public void shutdown() {
        shutdown(stopDeadline());
    }

    /**
     * {@link #shutdown()} within {@code stop}: each step waits at most what is left of it, and one that is not done by
     * then is left with one line naming it.
     */
    public void shutdown(StopDeadline stop) {
        stop(true, stop);
    }

    @Override
    public void close() {
        stop(false, stopDeadline());
    }

    private void stop(boolean drain, StopDeadline stop) {
        if (drain && server != null) {
            // First of all, so that orchestrators stop sending while the rest of the drain goes on.
            server.stopBeingReady();
        }
        PassiveHealthSharing s = sharing;
        if (s != null) {
            s.close();
        }
        GossipMembership g = gossip;
        if (g != null) {
            g.leave(stop, LEAVE_MILLIS);
        }
        if (triggers != null) {
            triggers.close();
        }
        if (server != null) {
            if (drain) {
                server.drainAndStop(server.config().timeouts().shutdownGraceMillis(), stop);
            } else {
                server.close(stop);
            }
        }
        running.close();
        if (export != null) {
            stop.step("killing the --on-change command");
            // Before the access log's last lines, whose share of the stop's time it leaves to them.
            export.close(stop.earlier(ProxyServer.AFTER_CLOSE_MILLIS).millisLeft(ExportRenderer.CLOSE_WAIT_MILLIS));
        }
        if (accessLog != null) {
            accessLog.close(stop);
        }
        if (drain) {
            log.info("grapevine proxy stopped");
        }
    }
}
