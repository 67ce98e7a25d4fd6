package io.grapevine.proxy.testing.netns;

import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.OpenLoopClient;
import io.grapevine.proxy.testing.OpenLoopProcess;
import io.grapevine.proxy.testing.ProxyUnderTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A Grapevine cluster in a {@link NetnsLab}, every program a real process of the packaged jars in a host of its
 * own: proxies ({@code ./grapevine proxy}, gossip on 7946, client listener on 8080, admin on 9001 of the host's
 * address), agents with their demo backends ({@code ./grapevine agent --demo}, gossip on 7946 too: each host has
 * its own ports), static demo backends ({@code ./grapevine backend}) and open-loop clients
 * ({@link OpenLoopClient} in a JVM of its own). Gossip is sealed with a cluster key made for the test.
 */
public final class LabCluster {

    /** Where every proxy and agent listens for gossip, each in its own host. */
    public static final int GOSSIP_PORT = 7946;
    public static final int LISTEN_PORT = 8080;
    public static final int ADMIN_PORT = 9001;

    private final NetnsLab lab;
    private final Path dir;
    private final Path key;

    public LabCluster(NetnsLab lab, Path dir) {
        this.lab = lab;
        this.dir = dir;
        this.key = ProxyUnderTest.keyFile(dir, "cluster.key");
    }

    /** A proxy process, its host, and its admin pages. */
    public record LabProxy(NetnsLab.Host host, ChildProcess process, Admin admin) {

        public InetSocketAddress listen() {
            return new InetSocketAddress(host.address(), LISTEN_PORT);
        }

        public String seed() {
            return host.address() + ":" + GOSSIP_PORT;
        }
    }

    /** An agent process (with its demo backend, whose id is its port) and its host. */
    public record LabAgent(NetnsLab.Host host, ChildProcess process, int port) {

        public String address() {
            return host.address() + ":" + port;
        }
    }

    /** A demo backend process without an agent (a server of servers.conf), and the id its answers carry. */
    public record StaticBackend(NetnsLab.Host host, ChildProcess process, int port, int id) {

        /** Its line of servers.conf's {@code backend_servers}. */
        public String serversEntry() {
            return "{ \"name\": \"static-" + port + "\", \"ip\": \"" + host.address() + "\", \"port\": " + port + " }";
        }
    }

    public StaticBackend staticBackend(String hostName, int port) {
        return staticBackends(hostName, port, 1).get(0);
    }

    /**
     * {@code count} demo backends in one process of host {@code hostName}, on ports {@code firstPort} upwards, with
     * ids 1 to {@code count} ({@code ./grapevine backend --count}), each accepting when this returns.
     */
    public List<StaticBackend> staticBackends(String hostName, int firstPort, int count) {
        NetnsLab.Host h = lab.host(hostName);
        ChildProcess p = h.launcher(dir, hostName, "backend", "--host", h.address(), "--port", Integer.toString(firstPort),
                "--count", Integer.toString(count));
        List<StaticBackend> backends = new ArrayList<>();
        for (int id = 1; id <= count; id++) {
            int port = firstPort + id - 1;
            Await.until(Duration.ofSeconds(30), "static backend " + h + ":" + port + " accepting",
                    () -> accepts(h.address(), port) || !p.isAlive(), p::tail);
            backends.add(new StaticBackend(h, p, port, id));
        }
        return backends;
    }

    /**
     * Starts a proxy in host {@code hostName} with {@code serversConf} as its servers.conf, joining {@code seeds}
     * (none: it is the seed), listening on the host's address, and waits until its admin listener answers.
     */
    public LabProxy proxy(String hostName, String serversConf, List<LabProxy> seeds, String... extraArgs) {
        return startProxy(hostName, null, serversConf, seeds, extraArgs);
    }

    /**
     * Like {@link #proxy}, with the client listener on {@code 0.0.0.0}: it accepts on an address that arrives in
     * the host later, a virtual IP.
     */
    public LabProxy proxyOnEveryAddress(String hostName, String serversConf, List<LabProxy> seeds, String... extraArgs) {
        return startProxy(hostName, "0.0.0.0", serversConf, seeds, extraArgs);
    }

    private LabProxy startProxy(String hostName, String listenHost, String serversConf, List<LabProxy> seeds,
                                String... extraArgs) {
        NetnsLab.Host h = lab.host(hostName);
        Path servers = dir.resolve("servers-" + hostName + ".conf");
        try {
            Files.writeString(servers, serversConf);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String listen = (listenHost == null ? h.address() : listenHost) + ":" + LISTEN_PORT;
        List<String> args = new ArrayList<>(List.of("--servers", servers.toString(),
                "--listen", listen, "--admin", h.address() + ":" + ADMIN_PORT,
                "--gossip", Integer.toString(GOSSIP_PORT), "--advertise", h.address(), "--cluster-key", key.toString()));
        if (!seeds.isEmpty()) {
            args.add("--join");
            args.add(seeds.stream().map(LabProxy::seed).collect(Collectors.joining(",")));
        }
        args.addAll(List.of(extraArgs));
        ChildProcess p = h.launcher(dir, hostName, "proxy", args.toArray(String[]::new));
        Admin admin = new Admin(new InetSocketAddress(h.address(), ADMIN_PORT));
        Await.until(Duration.ofSeconds(60), "proxy in " + h + " answering on its admin listener",
                () -> admin.tableOrNull() != null || !p.isAlive(), p::tail);
        return new LabProxy(h, p, admin);
    }

    /**
     * Starts an agent with a demo backend on {@code port} in host {@code hostName}, joining {@code seeds}; it
     * drains for {@code drainSeconds} on SIGTERM.
     */
    public LabAgent agent(String hostName, int port, List<LabProxy> seeds, int drainSeconds) {
        NetnsLab.Host h = lab.host(hostName);
        ChildProcess p = h.launcher(dir, hostName, "agent", "--join",
                seeds.stream().map(LabProxy::seed).collect(Collectors.joining(",")), "--service", "web",
                "--target", h.address() + ":" + port, "--demo", "--cluster-key", key.toString(),
                "--gossip-port", Integer.toString(GOSSIP_PORT), "--advertise", h.address(),
                "--drain-seconds", Integer.toString(drainSeconds));
        return new LabAgent(h, p, port);
    }

    /** An open-loop client in host {@code hostName}, a JVM of its own, sending to {@code targets} until stopped. */
    public OpenLoopProcess client(String hostName, double rate, int connections, List<InetSocketAddress> targets) {
        return new OpenLoopProcess(lab.host(hostName).run(dir, hostName, OpenLoopProcess.command(rate, connections, targets)));
    }

    /** Whether {@code host:port} accepts a TCP connection now (from the machine, through the bridge). */
    public static boolean accepts(String host, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Servers.conf with these static backends. */
    public static String serversConf(StaticBackend... backends) {
        return serversConf("", backends);
    }

    public static String serversConf(String extraJson, List<StaticBackend> backends) {
        return serversConf(extraJson, backends.toArray(StaticBackend[]::new));
    }

    /** servers.conf with further top-level members ({@code extraJson}, e.g. {@code "limits": {...},}) first. */
    public static String serversConf(String extraJson, StaticBackend... backends) {
        return "{ " + extraJson + " \"backend_servers\": [ " + java.util.Arrays.stream(backends)
                .map(StaticBackend::serversEntry).collect(Collectors.joining(", ")) + " ] }\n";
    }
}
