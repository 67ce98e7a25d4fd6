package io.grapevine.cluster;

import io.scalecube.cluster.Cluster;
import io.scalecube.cluster.ClusterImpl;
import io.scalecube.cluster.ClusterMessageHandler;
import io.scalecube.cluster.membership.MembershipEvent;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * This process's member of the Grapevine cluster: a SWIM member (scalecube-cluster) whose frames
 * are sealed with the cluster key and whose metadata is {@link MemberMetadata} JSON.
 *
 * <p>Events reach the {@link MembershipListener} on the node's gossip thread. All methods are
 * thread-safe.
 */
public final class GossipNode implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(GossipNode.class);
    private static final Duration JOIN_WARNING_AFTER = Duration.ofSeconds(10);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

    /** The one line shown when gossip is asked for without a key. */
    public static final String MISSING_KEY = "gossip needs a cluster key: give --cluster-key FILE (make one: "
            + ClusterKeyring.HOW_TO_MAKE_A_KEY + "), or --insecure-gossip to run it unauthenticated";

    private final Cluster cluster;
    private final MembershipTable table;
    private final FrameCounters counters;
    private final InetSocketAddress gossipAddress;
    private final String bindHost;
    private final boolean hasSeeds;
    private final AtomicBoolean leaving = new AtomicBoolean();
    private final CompletableFuture<Void> left = new CompletableFuture<>();

    private GossipNode(Cluster cluster, MembershipTable table, FrameCounters counters, String bindHost, boolean hasSeeds) {
        this.cluster = cluster;
        this.table = table;
        this.counters = counters;
        this.bindHost = bindHost;
        this.hasSeeds = hasSeeds;
        this.gossipAddress = MembershipTable.toSocketAddress(cluster.member().address());
    }

    /**
     * Binds the membership port, announces {@code self} and starts joining the seeds. Returns once
     * bound and the first join attempt has had {@code syncTimeout} to get an answer; if no seed
     * answered, joining goes on in the background every {@code syncInterval} until one does.
     *
     * <p>The advertised address is {@code settings.advertiseHost()} if set; otherwise the local
     * address this host uses to reach the first seed (127.0.0.1 for loopback seeds), or 127.0.0.1
     * for a node without seeds. The port listens on {@code settings.bindHost()} if set, otherwise on
     * the advertised address: never on every interface unless asked to.
     *
     * @throws IllegalArgumentException without a keyring, unless {@code settings.insecure()}
     * @throws IllegalStateException if the port cannot be bound
     */
    public static GossipNode start(ClusterSettings settings, MemberMetadata self, MembershipListener listener) {
        Objects.requireNonNull(settings, "settings");
        Objects.requireNonNull(self, "self");
        Objects.requireNonNull(listener, "listener");
        ClusterKeyring keyring = settings.keyring();
        if (keyring == null && !settings.insecure()) {
            throw new IllegalArgumentException(MISSING_KEY);
        }
        if (keyring == null) {
            LOG.warn("**************************************************************************");
            LOG.warn("* INSECURE GOSSIP (--insecure-gossip): no cluster key. Membership        *");
            LOG.warn("* traffic is neither authenticated nor encrypted: anyone who can reach  *");
            LOG.warn("* the gossip port can join, announce backends that receive traffic, and *");
            LOG.warn("* read the member list. Use --cluster-key outside a demo.               *");
            LOG.warn("**************************************************************************");
        }
        String advertiseHost = advertiseHost(settings);
        String bindHost = bindHost(settings, advertiseHost);
        // Scalecube logs a failed bind as two errors with stack traces; a plain socket finds the common
        // cases first and says them in one line.
        checkCanListen(bindHost, settings.gossipPort(), settings.bindHost() == null);
        // A node may be given its own address among the seeds (the same --join everywhere); scalecube
        // would filter it with a warning, and it is no one to join through.
        List<HostAndPort> given = settings.seeds().stream().map(seed -> HostAndPort.parse(seed, "seed")).toList();
        List<InetAddress> addresses = NameLookups.addresses(given,
                seed -> needsAddress(seed, settings.gossipPort(), advertiseHost));
        List<String> seeds = new ArrayList<>();
        for (int i = 0; i < given.size(); i++) {
            if (!isSelf(given.get(i), addresses.get(i), settings.gossipPort(), advertiseHost)) {
                seeds.add(given.get(i).toAddress());
            }
        }

        // Scalecube encodes the metadata on its single thread when a peer first asks for it, and the
        // first encoding in a JVM loads the JSON codec (a few hundred ms on a busy machine): long enough
        // for the first join's answer to miss syncTimeout, which costs a syncInterval. Encode once here.
        MetadataJson.encode(self);
        FrameCounters counters = new FrameCounters();
        MembershipTable table = new MembershipTable(listener, counters, settings.maxMembers());
        FrameCodec codec = new FrameCodec(keyring, counters, settings.replayWindow().toMillis(), 100_000,
                System::currentTimeMillis);
        ClusterMessageHandler handler = new ClusterMessageHandler() {
            @Override
            public void onMembershipEvent(MembershipEvent event) {
                table.onEvent(event);
            }
        };

        Cluster cluster;
        try {
            cluster = new ClusterImpl()
                    .config(c -> c.memberAlias(settings.alias())
                            .externalHost(advertiseHost)
                            .metadata(self)
                            .metadataCodec(new JsonMetadataCodec())
                            .metadataTimeout(millis(settings.metadataTimeout())))
                    .membership(m -> m.seedMembers(seeds)
                            .namespace(settings.namespace())
                            .syncInterval(millis(settings.syncInterval()))
                            .syncTimeout(millis(settings.syncTimeout()))
                            .suspicionMult(settings.suspicionMult()))
                    .failureDetector(f -> f.pingInterval(millis(settings.pingInterval()))
                            .pingTimeout(millis(settings.pingTimeout()))
                            .pingReqMembers(settings.pingReqMembers()))
                    .gossip(g -> g.gossipInterval(settings.gossipInterval().toMillis())
                            .gossipFanout(settings.gossipFanout()))
                    .transport(t -> t.port(settings.gossipPort())
                            .messageCodec(codec)
                            .connectTimeout(millis(settings.connectTimeout()))
                            .maxFrameLength(settings.maxFrameBytes()))
                    .transportFactory(() -> new BoundTcpTransportFactory(bindHost, settings.maxInboundConnections(), counters))
                    .handler(c -> handler)
                    .startAwait();
        } catch (RuntimeException e) {
            throw new IllegalStateException(bindFailure(bindHost, settings.gossipPort(), settings.bindHost() == null, e), e);
        }

        GossipNode node = new GossipNode(cluster, table, counters, bindHost, !seeds.isEmpty());
        LOG.info("Gossip member {}{} listening on {} advertised as {}, seeds {}, {}", node.memberId(),
                settings.alias() == null ? "" : " (" + settings.alias() + ")", node.listenDescription(),
                cluster.member().address(), seeds,
                keyring == null ? "OPEN: no cluster key (--insecure-gossip)" : "frames sealed with key "
                        + keyring.keyIds().get(0) + ", keys accepted " + String.join(", ", keyring.keyIds()));
        if (isWildcard(bindHost)) {
            LOG.warn("The gossip port {} listens on every interface: allow it only from the cluster's hosts in the firewall",
                    node.gossipAddress.getPort());
        }
        if (!seeds.isEmpty() && !node.joined()) {
            LOG.info("No seed answered yet; retrying every {} ms", settings.syncInterval().toMillis());
            Mono.delay(JOIN_WARNING_AFTER).subscribe(tick -> {
                if (!node.joined() && !node.leaving.get()) {
                    LOG.warn("Still no answer from seeds {} after {} s (wrong address, seed down, or a different cluster key?); still retrying",
                            settings.seeds(), JOIN_WARNING_AFTER.toSeconds());
                }
            });
        }
        return node;
    }

    /**
     * Fails, as {@link #start} would, when the membership port of {@code settings} cannot be opened (in
     * use, an address not of this host); for programs that check everything before they open any port.
     *
     * @throws IllegalStateException naming the address and why
     */
    public static void checkCanListen(ClusterSettings settings) {
        checkCanListen(bindHost(settings, advertiseHost(settings)), settings.gossipPort(), settings.bindHost() == null);
    }

    private static void checkCanListen(String bindHost, int port, boolean bindHostIsAdvertised) {
        InetSocketAddress address = bindAddress(bindHost, port);
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(address);
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException(bindFailure(bindHost, port, bindHostIsAdvertised, e), e);
        }
    }

    /**
     * The address the membership port binds for {@code bindHost}: an IP literal parsed, a name at the address its
     * lookup found within {@link NameLookups#LOOKUP_MILLIS}. Never a lookup without a time limit. Scalecube's own bind
     * (Reactor Netty's TcpServer, new InetSocketAddress on the starting thread) follows this check in {@link #start},
     * which fails unless the name was found: the JVM's cache (networkaddress.cache.ttl, 30 s) answers it then.
     *
     * @throws IllegalStateException when the DNS server did not answer for the name in time, or found no address for
     *         it (a typo in --gossip-bind or --advertise), naming it: the bind of an unresolved address would be told
     *         as "not an address of this host", which sends the operator to the host's interfaces and NAT, not to DNS
     */
    private static InetSocketAddress bindAddress(String bindHost, int port) {
        try {
            return new InetSocketAddress(NameLookups.address(bindHost), port);
        } catch (UnknownHostException e) {
            if (NameLookups.isIpLiteral(bindHost) || Thread.currentThread().isInterrupted()) {
                return InetSocketAddress.createUnresolved(bindHost, port); // a scope of no interface here; a stop
            }
            throw new IllegalStateException("cannot listen for gossip on " + HostAndPort.format(bindHost, port) + ": "
                    + bindHost + " has no address (the DNS server found none)");
        } catch (TimeoutException e) {
            throw new IllegalStateException("cannot listen for gossip on " + HostAndPort.format(bindHost, port)
                    + ": the DNS server did not answer for " + bindHost + " within " + NameLookups.LOOKUP_MILLIS + " ms");
        }
    }

    /**
     * The local address the membership port of {@code settings} listens on: its bind host, else the advertised host
     * (given, or the address that routes to the first seed, or 127.0.0.1), as {@link #start} binds it.
     */
    public static String bindHost(ClusterSettings settings) {
        return bindHost(settings, advertiseHost(settings));
    }

    private static String advertiseHost(ClusterSettings settings) {
        return settings.advertiseHost() != null ? settings.advertiseHost() : chooseAdvertiseHost(settings.seeds());
    }

    private static String bindHost(ClusterSettings settings, String advertiseHost) {
        return settings.bindHost() != null ? settings.bindHost() : advertiseHost;
    }

    /**
     * Whether this member has heard from the cluster: a frame accepted from another member (a seed's
     * answer to the join comes before the seed is reported ADDED, which waits for its metadata), or a
     * member seen. False while no seed has answered (a wrong address, the seed down, a different
     * cluster key): then no other member knows this one either.
     */
    public boolean joined() {
        return table.joined() || counters.accepted.sum() > 0;
    }

    /**
     * Whether this member joins through seeds (other than itself): then the cluster's members are known only once
     * one of them answered ({@link #joined()}). A member without seeds is where the others join.
     */
    public boolean hasSeeds() {
        return hasSeeds;
    }

    /** The address the membership port listens on, e.g. "127.0.0.1:7946" or "every interface, port 7946". */
    public String listenDescription() {
        int port = gossipAddress.getPort();
        return isWildcard(bindHost) ? "every interface (" + bindHost + "), port " + port
                : HostAndPort.format(bindHost, port);
    }

    /** Publishes new metadata; peers fetch it and report UPDATED. Asynchronous. */
    public void updateMetadata(MemberMetadata metadata) {
        Objects.requireNonNull(metadata, "metadata");
        if (leaving.get()) {
            return;
        }
        cluster.updateMetadata(metadata).subscribe(null,
                e -> LOG.warn("Could not publish metadata update: {}", e.toString()));
    }

    /** The other members currently known (including leaving ones until they are removed). */
    public List<MemberRecord> members() {
        return table.members();
    }

    public String memberId() {
        return cluster.member().id();
    }

    /** The address this member advertises to the others. */
    public InetSocketAddress gossipAddress() {
        return gossipAddress;
    }

    /**
     * Leaves gracefully: peers see LEAVING within a few gossip intervals, then REMOVED after their
     * suspicion timeout. Completes when the leave has most likely spread and the port is closed.
     */
    public CompletableFuture<Void> leave() {
        if (leaving.compareAndSet(false, true)) {
            LOG.info("Leaving the cluster");
            cluster.onShutdown().subscribe(null, e -> left.complete(null), () -> left.complete(null));
            cluster.shutdown();
        }
        return left.copy();
    }

    public SecurityCounters counters() {
        return counters.snapshot();
    }

    /** Leaves gracefully and waits (at most 10 s) for it. */
    @Override
    public void close() {
        try {
            leave().get(CLOSE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("Gossip member did not shut down cleanly: {}", e.toString());
        }
    }

    /** Stops answering on the membership port without leaving, as a crash looks to the others. For tests. */
    void stopTransportWithoutLeaving() {
        cluster.transport().stop().block(CLOSE_TIMEOUT);
    }

    /** The local address that routes to the first seed that has one; the seeds' names looked up under a time limit. */
    private static String chooseAdvertiseHost(List<String> seeds) {
        List<HostAndPort> given = seeds.stream().map(seed -> HostAndPort.parse(seed, "seed")).toList();
        List<InetAddress> addresses = NameLookups.addresses(given, seed -> true);
        for (int i = 0; i < given.size(); i++) {
            if (addresses.get(i) == null) {
                continue; // not found, or its lookup did not answer in time (said so)
            }
            // Connecting a UDP socket sends nothing; it only asks the kernel for the route.
            try (DatagramSocket probe = new DatagramSocket()) {
                probe.connect(new InetSocketAddress(addresses.get(i), given.get(i).port()));
                InetAddress local = probe.getLocalAddress();
                if (local != null && !local.isAnyLocalAddress()) {
                    return local.getHostAddress();
                }
            } catch (Exception e) {
                LOG.debug("No route to seed {}: {}", seeds.get(i), e.toString());
            }
        }
        return "127.0.0.1";
    }

    /**
     * Whether only its address tells whether {@code seed} is this node: on its port, its host neither ours nor
     * localhost. Names compare without case, as DNS does (RFC 4343): {@code Node-A} is {@code node-a}.
     */
    private static boolean needsAddress(HostAndPort seed, int gossipPort, String advertiseHost) {
        return gossipPort != 0 && seed.port() == gossipPort && !seed.host().equalsIgnoreCase(advertiseHost)
                && !seed.host().equalsIgnoreCase("localhost");
    }

    /** @param address the seed's, as {@link NameLookups} found it, or null */
    static boolean isSelf(HostAndPort seed, InetAddress address, int gossipPort, String advertiseHost) {
        if (gossipPort == 0 || seed.port() != gossipPort) {
            return false;
        }
        if (!needsAddress(seed, gossipPort, advertiseHost)) {
            return true; // our advertised host, or localhost
        }
        return address != null && (address.isLoopbackAddress() || address.isAnyLocalAddress());
    }

    /**
     * Why the port could not be opened, in one line that says what to change. Reactor Netty reports a
     * failed bind without its reason, so the reason comes from trying the same bind with a plain socket.
     */
    private static String bindFailure(String bindHost, int port, boolean bindHostIsAdvertised, Exception e) {
        String where = HostAndPort.format(bindHost, port);
        String reason;
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(bindAddress(bindHost, port));
            reason = rootMessage(e);
        } catch (IllegalStateException unanswered) {
            return unanswered.getMessage();
        } catch (IOException | IllegalArgumentException probeFailure) {
            reason = probeFailure.getMessage() == null ? probeFailure.toString() : probeFailure.getMessage();
        }
        String lower = reason.toLowerCase(Locale.ROOT);
        if (lower.contains("already in use")) {
            return "cannot listen for gossip on " + where + ": address already in use";
        }
        if (lower.contains("cannot assign requested address") || lower.contains("unresolved")) {
            return "cannot listen for gossip on " + where + ": " + bindHost + " is not an address of this host"
                    + (bindHostIsAdvertised ? " (it is the advertised address; behind NAT, give --gossip-bind with a"
                    + " local address, or 0.0.0.0 and a firewall rule)" : "");
        }
        return "cannot listen for gossip on " + where + ": " + reason;
    }

    static boolean isWildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("::0") || host.equals("0:0:0:0:0:0:0:0");
    }

    private static int millis(Duration duration) {
        return Math.toIntExact(duration.toMillis());
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.toString() : root.getMessage();
    }
}
