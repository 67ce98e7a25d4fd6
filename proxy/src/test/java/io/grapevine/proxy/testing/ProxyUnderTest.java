package io.grapevine.proxy.testing;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.cli.GossipOptions;
import io.grapevine.proxy.ProxyInstance;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.membership.ExportRenderer;
import io.grapevine.proxy.net.LoopSlice;
import io.grapevine.proxy.stats.ProxyStats;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * A whole proxy ({@link ProxyInstance}: data plane, membership view, reload triggers, gossip member) in
 * the test's JVM, on loopback ports picked by the system. Gossip is on (port 0) unless {@code noGossip()};
 * it needs {@code clusterKey(file)} or {@code insecureGossip()}, as on the command line.
 */
public final class ProxyUnderTest implements AutoCloseable {

    private final ProxyInstance instance;
    private final Admin admin;
    private final long startNanos;

    private ProxyUnderTest(ProxyInstance instance, long startNanos) {
        this.instance = instance;
        this.admin = instance.server() == null ? null : new Admin(instance.server().adminAddress());
        this.startNanos = startNanos;
    }

    public static Builder in(Path dir) {
        return new Builder(dir);
    }

    /** Writes a new cluster key file (mode 600) and returns its path. */
    public static Path keyFile(Path dir, String name) {
        try {
            Path file = dir.resolve(name);
            Files.writeString(file, ClusterKeyring.generateKey() + "\n");
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static ClusterKeyring keyring(Path keyFile) {
        try {
            return ClusterKeyring.load(keyFile);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public ProxyInstance instance() {
        return instance;
    }

    public DataPlane dataPlane() {
        return instance.server().dataPlane();
    }

    public ProxyStats stats() {
        return instance.server().stats();
    }

    public Admin admin() {
        return admin;
    }

    public InetSocketAddress listen() {
        return instance.server().listenAddress();
    }

    /** The seed address agents join: this proxy's gossip port on loopback. */
    public String seed() {
        return "127.0.0.1:" + instance.gossip().gossipAddress().getPort();
    }

    /** {@link System#nanoTime()} just before {@link ProxyInstance#start} was called. */
    public long startNanos() {
        return startNanos;
    }

    @Override
    public void close() {
        instance.close();
    }

    public static final class Builder {
        private final Path dir;
        private String servers = "{ \"backend_servers\": [] }";
        private boolean gossip = true;
        private int gossipPort;
        private final List<String> join = new ArrayList<>();
        private Path clusterKey;
        private boolean insecureGossip;
        private Path template;
        private long debounceMillis = ProxyInstance.DEFAULT_DEBOUNCE_MILLIS;
        private HostPort listen = new HostPort("127.0.0.1", 0);
        private HostPort admin = new HostPort("127.0.0.1", 0);
        private Path adminTokenFile;

        private Builder(Path dir) {
            this.dir = dir;
        }

        /** The content of servers.conf (written to {@code dir/servers.conf}). */
        public Builder servers(String json) {
            this.servers = json;
            return this;
        }

        public Builder noGossip() {
            this.gossip = false;
            return this;
        }

        public Builder gossipPort(int port) {
            this.gossipPort = port;
            return this;
        }

        public Builder join(String seed) {
            join.add(seed);
            return this;
        }

        public Builder clusterKey(Path file) {
            this.clusterKey = file;
            return this;
        }

        /** Gossip without a cluster key, as {@code --insecure-gossip}. */
        public Builder insecureGossip() {
            this.insecureGossip = true;
            return this;
        }

        public Builder admin(HostPort admin) {
            this.admin = admin;
            return this;
        }

        /** The bearer token file admin writes need, as {@code --admin-token-file}. */
        public Builder adminTokenFile(Path file) {
            this.adminTokenFile = file;
            return this;
        }

        public Builder template(Path file) {
            this.template = file;
            return this;
        }

        public Builder debounceMillis(long millis) {
            this.debounceMillis = millis;
            return this;
        }

        public Builder listen(HostPort listen) {
            this.listen = listen;
            return this;
        }

        public Path serversFile() {
            return dir.resolve("servers.conf");
        }

        public ProxyUnderTest start() throws Exception {
            Path file = serversFile();
            if (!Files.exists(file)) {
                Files.writeString(file, servers);
            }
            GossipOptions cluster = gossip ? new GossipOptions(join.stream().map(seed -> HostAndPort.parse(seed, "seed"))
                    .toList(), null, null, clusterKey, insecureGossip) : null;
            ProxyInstance.Options options = new ProxyInstance.Options(file, listen, admin, cluster, gossipPort,
                    gossip ? template : null, null, null, null, ExportRenderer.DEFAULT_COMMAND_TIMEOUT.toMillis(),
                    debounceMillis, adminTokenFile, false, TestTransport.requested(), LoopSlice.DEFAULT_MICROS);
            long start = System.nanoTime();
            return new ProxyUnderTest(ProxyInstance.start(options), start);
        }
    }
}
