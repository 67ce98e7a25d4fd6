package io.grapevine.proxy;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.membership.BackendTemplate;
import io.grapevine.proxy.membership.ExportRenderer;
import io.grapevine.proxy.membership.GossipMembership;
import io.grapevine.proxy.membership.MembershipEndpoints;
import io.grapevine.proxy.membership.MembershipView;
import io.grapevine.proxy.membership.ReloadTriggers;
import io.grapevine.proxy.table.TableHolder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Everything {@code ./grapevine proxy} runs, assembled in order: the data plane serving the static
 * servers at once, then the membership view, the reload triggers and the gossip member, whose join may
 * take a while (or never succeed) without delaying traffic. In render mode there is no data plane: the
 * membership is rendered into a file for an external proxy.
 */
public final class ProxyInstance implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ProxyInstance.class);

    /** Default render window of the membership view. */
    public static final long DEFAULT_DEBOUNCE_MILLIS = 50;

    /** What the secret of sticky-session cookies is derived under from the cluster key. */
    static final String STICKY_SECRET_LABEL = "grapevine/proxy/v1/sticky-cookie";

    /** What to run; see {@link ProxyMain#USAGE}. */
    public record Options(Path servers, HostPort listen, HostPort admin, Integer gossipPort, boolean noGossip,
                          List<String> join, String advertise, Path clusterKey, Path template, Path render,
                          Path out, String onChange, long debounceMillis) {

        public boolean gossip() {
            return !noGossip;
        }

        public boolean renderMode() {
            return render != null;
        }
    }

    private final ProxyServer server;
    private final MembershipView view;
    private final ReloadTriggers triggers;
    private final ExportRenderer export;
    private volatile GossipMembership gossip;

    private ProxyInstance(ProxyServer server, MembershipView view, ReloadTriggers triggers, ExportRenderer export) {
        this.server = server;
        this.view = view;
        this.triggers = triggers;
        this.export = export;
    }

    /**
     * @throws ConfigException for an invalid servers.conf
     * @throws BackendTemplate.TemplateException for an invalid template
     * @throws IOException for an unreadable key file or a file watch that cannot start
     */
    public static ProxyInstance start(Options o) throws ConfigException, BackendTemplate.TemplateException,
            IOException, InterruptedException {
        ProxyConfig config = o.servers() != null ? ConfigLoader.load(o.servers())
                : ConfigLoader.parse("{\"backend_servers\": []}", "(no servers.conf)");
        config = config.withListen(o.listen() != null ? o.listen() : config.listen(),
                o.admin() != null ? o.admin() : config.admin());
        BackendTemplate template = o.gossip() ? loadBackendTemplate(o.template()) : null;
        // Proxies of one cluster share its key: cookies naming servers by a secret derived from it hold on every
        // proxy and across restarts.
        ClusterKeyring keyring = o.gossip() && o.clusterKey() != null ? ClusterKeyring.load(o.clusterKey()) : null;

        ExportRenderer export = null;
        ProxyServer server = null;
        TableHolder tables;
        if (o.renderMode()) {
            export = new ExportRenderer(o.render(), o.out(), o.onChange());
            tables = new TableHolder(1, config.routes(), config::policyOf);
        } else {
            server = ProxyServer.start(config, keyring == null ? null : keyring.derivedSecret(STICKY_SECRET_LABEL));
            tables = server.tables();
        }
        MembershipView view = new MembershipView(tables, config, o.servers(), template, o.debounceMillis());
        if (export != null) {
            view.addExport(export);
        }
        Path watchedTemplate = template != null && Files.exists(template.file()) ? template.file() : null;
        ReloadTriggers triggers = new ReloadTriggers(view, o.servers(), watchedTemplate);
        ProxyInstance instance = new ProxyInstance(server, view, triggers, export);
        if (server != null) {
            MembershipEndpoints.install(server.admin(), view, () -> instance.gossip);
        }
        triggers.start();
        view.renderNow("start");
        if (o.gossip()) {
            int port = o.gossipPort() != null ? o.gossipPort() : GossipMembership.DEFAULT_PORT;
            HostPort announced = server != null
                    ? new HostPort(server.listenAddress().getHostString(), server.listenAddress().getPort()) : config.listen();
            try {
                instance.gossip = GossipMembership.start(port, o.join(), keyring, announced, o.advertise(), view);
            } catch (RuntimeException e) {
                instance.close();
                throw e;
            }
        } else {
            log.info("gossip off (--no-gossip): serving the servers of {} only", o.servers());
        }
        return instance;
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

    public MembershipView view() {
        return view;
    }

    public GossipMembership gossip() {
        return gossip;
    }

    /** SIGTERM: leave the cluster (peers stop counting on this proxy), then drain the data plane. */
    public void shutdown() {
        stop(true);
    }

    @Override
    public void close() {
        stop(false);
    }

    private void stop(boolean drain) {
        GossipMembership g = gossip;
        if (g != null) {
            g.leave(3000);
        }
        triggers.close();
        if (server != null) {
            if (drain) {
                server.drainAndStop(server.config().timeouts().shutdownGraceMillis());
            } else {
                server.close();
            }
        }
        view.close();
        if (export != null) {
            export.close();
        }
    }
}
