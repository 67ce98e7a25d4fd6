package io.grapevine.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How a {@link GossipNode} joins and talks to the cluster. Immutable; validated by {@link Builder#build()}.
 *
 * <p>The timing defaults suit a LAN (see {@code docs/membership.md}):
 * <ul>
 *   <li>{@code syncInterval} 1 s: each tick a node sends its whole member table to one random seed or
 *       member. While no seed has answered this is also the join retry: scalecube's start succeeds
 *       even when no seed answers, and the next attempt is the next sync.</li>
 *   <li>{@code syncTimeout} 1 s: how long the first join waits for seeds before start returns.</li>
 *   <li>{@code gossipInterval} 100 ms: how often pending gossip (joins, leaves, updates) is pushed
 *       to {@code gossipFanout} = 3 members.</li>
 *   <li>{@code pingInterval} 1 s, {@code pingTimeout} 500 ms: failure detection, one member per tick,
 *       with indirect pings through {@code pingReqMembers} = 3 others.</li>
 *   <li>{@code suspicionMult} 3: a suspected or leaving member is removed after
 *       suspicionMult x ceil(log2(cluster size + 1)) x pingInterval, e.g. 6 s with 2 members, 9 s with
 *       4 to 7, 12 s with 8 to 15.</li>
 *   <li>{@code metadataTimeout} 5 s: a member whose metadata cannot be fetched in time is not added, nor
 *       is an update of it applied (the next sync tries again). A suspected member's refutation is such an
 *       update, so on a lossy link a short timeout turns false suspicions into removals.</li>
 *   <li>{@code connectTimeout} 3 s (a lost SYN costs the kernel 1 s); {@code maxFrameBytes} 1 MiB: a longer frame
 *       is refused as soon as its length is read, and its connection closed.</li>
 *   <li>{@code maxInboundConnections} 1024: connections other members (or anyone who reaches the port) may
 *       hold open to the membership port at once; more are closed at once. With {@code maxFrameBytes} it
 *       bounds what the port can make this node buffer.</li>
 *   <li>{@code maxMembers} 4096: other members this node keeps and reports; more are refused until some
 *       leave.</li>
 *   <li>{@code replayWindow} 60 s: sealed frames carry their send time; a frame further than this
 *       from the receiver's clock is dropped, and within it each frame is accepted once.</li>
 * </ul>
 */
public final class ClusterSettings {

    private final int gossipPort;
    private final List<String> seeds;
    private final ClusterKeyring keyring;
    private final String advertiseHost;
    private final String bindHost;
    private final boolean insecure;
    private final String alias;
    private final String namespace;
    private final Duration syncInterval;
    private final Duration syncTimeout;
    private final Duration gossipInterval;
    private final int gossipFanout;
    private final Duration pingInterval;
    private final Duration pingTimeout;
    private final int pingReqMembers;
    private final int suspicionMult;
    private final Duration metadataTimeout;
    private final Duration connectTimeout;
    private final int maxFrameBytes;
    private final int maxInboundConnections;
    private final int maxMembers;
    private final Duration replayWindow;

    private ClusterSettings(Builder b) {
        this.gossipPort = b.gossipPort;
        this.seeds = List.copyOf(b.seeds);
        this.keyring = b.keyring;
        this.advertiseHost = b.advertiseHost;
        this.bindHost = b.bindHost;
        this.insecure = b.insecure;
        this.alias = b.alias;
        this.namespace = b.namespace;
        this.syncInterval = b.syncInterval;
        this.syncTimeout = b.syncTimeout;
        this.gossipInterval = b.gossipInterval;
        this.gossipFanout = b.gossipFanout;
        this.pingInterval = b.pingInterval;
        this.pingTimeout = b.pingTimeout;
        this.pingReqMembers = b.pingReqMembers;
        this.suspicionMult = b.suspicionMult;
        this.metadataTimeout = b.metadataTimeout;
        this.connectTimeout = b.connectTimeout;
        this.maxFrameBytes = b.maxFrameBytes;
        this.maxInboundConnections = b.maxInboundConnections;
        this.maxMembers = b.maxMembers;
        this.replayWindow = b.replayWindow;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Port the membership transport listens on; 0 picks a free one. */
    public int gossipPort() {
        return gossipPort;
    }

    /** Seed addresses, "host:port", tried until one answers. */
    public List<String> seeds() {
        return seeds;
    }

    /**
     * The cluster keys, or null: frames are then neither authenticated nor encrypted, which
     * {@link GossipNode#start} allows only when {@link #insecure()} says so.
     */
    public ClusterKeyring keyring() {
        return keyring;
    }

    /** The operator chose to run without a cluster key ({@code --insecure-gossip}). */
    public boolean insecure() {
        return insecure;
    }

    /** Address other members reach this one at; null picks one (see {@link GossipNode#start}). */
    public String advertiseHost() {
        return advertiseHost;
    }

    /**
     * The local address the membership port listens on: an IP address or host name of this host, or
     * {@code 0.0.0.0} / {@code ::} for every interface; null binds the advertised address.
     */
    public String bindHost() {
        return bindHost;
    }

    /** Human-readable member name shown next to the member id, or null. */
    public String alias() {
        return alias;
    }

    /** Scalecube membership namespace; members of unrelated namespaces ignore each other. */
    public String namespace() {
        return namespace;
    }

    public Duration syncInterval() {
        return syncInterval;
    }

    public Duration syncTimeout() {
        return syncTimeout;
    }

    public Duration gossipInterval() {
        return gossipInterval;
    }

    public int gossipFanout() {
        return gossipFanout;
    }

    public Duration pingInterval() {
        return pingInterval;
    }

    public Duration pingTimeout() {
        return pingTimeout;
    }

    public int pingReqMembers() {
        return pingReqMembers;
    }

    public int suspicionMult() {
        return suspicionMult;
    }

    public Duration metadataTimeout() {
        return metadataTimeout;
    }

    public Duration connectTimeout() {
        return connectTimeout;
    }

    public int maxFrameBytes() {
        return maxFrameBytes;
    }

    /** Connections to the membership port held open at once; more are closed as they arrive. */
    public int maxInboundConnections() {
        return maxInboundConnections;
    }

    /** Other members kept and reported at most; a member beyond this is refused (and counted) until room frees. */
    public int maxMembers() {
        return maxMembers;
    }

    public Duration replayWindow() {
        return replayWindow;
    }

    /**
     * How long after its last sign of life a member that crashed or left is reported REMOVED, for
     * a cluster of {@code clusterSize} members (scalecube's formula).
     */
    public Duration suspicionTimeout(int clusterSize) {
        int ceilLog2 = 32 - Integer.numberOfLeadingZeros(clusterSize);
        return pingInterval.multipliedBy((long) suspicionMult * ceilLog2);
    }

    /** A host name or IP address (IPv6 without brackets), without a port. */
    public static boolean isHost(String text) {
        return text.matches("[A-Za-z0-9._:-]+") && text.chars().filter(c -> c == ':').count() != 1;
    }

    public static final class Builder {
        private int gossipPort = 0;
        private List<String> seeds = List.of();
        private ClusterKeyring keyring;
        private String advertiseHost;
        private String bindHost;
        private boolean insecure;
        private String alias;
        private String namespace = "grapevine";
        private Duration syncInterval = Duration.ofSeconds(1);
        private Duration syncTimeout = Duration.ofSeconds(1);
        private Duration gossipInterval = Duration.ofMillis(100);
        private int gossipFanout = 3;
        private Duration pingInterval = Duration.ofSeconds(1);
        private Duration pingTimeout = Duration.ofMillis(500);
        private int pingReqMembers = 3;
        private int suspicionMult = 3;
        private Duration metadataTimeout = Duration.ofSeconds(5);
        private Duration connectTimeout = Duration.ofSeconds(3);
        private int maxFrameBytes = 1024 * 1024;
        private int maxInboundConnections = 1024;
        private int maxMembers = 4096;
        private Duration replayWindow = Duration.ofSeconds(60);

        private Builder() {
        }

        public Builder gossipPort(int port) {
            this.gossipPort = port;
            return this;
        }

        public Builder seeds(List<String> seeds) {
            this.seeds = new ArrayList<>(Objects.requireNonNull(seeds, "seeds"));
            return this;
        }

        public Builder keyring(ClusterKeyring keyring) {
            this.keyring = keyring;
            return this;
        }

        public Builder advertiseHost(String host) {
            this.advertiseHost = host;
            return this;
        }

        public Builder bindHost(String host) {
            this.bindHost = host;
            return this;
        }

        /** Allows a node without a keyring; see {@link ClusterSettings#insecure()}. */
        public Builder insecure(boolean insecure) {
            this.insecure = insecure;
            return this;
        }

        public Builder alias(String alias) {
            this.alias = alias;
            return this;
        }

        public Builder namespace(String namespace) {
            this.namespace = namespace;
            return this;
        }

        public Builder syncInterval(Duration interval) {
            this.syncInterval = interval;
            return this;
        }

        public Builder syncTimeout(Duration timeout) {
            this.syncTimeout = timeout;
            return this;
        }

        public Builder gossipInterval(Duration interval) {
            this.gossipInterval = interval;
            return this;
        }

        public Builder gossipFanout(int fanout) {
            this.gossipFanout = fanout;
            return this;
        }

        public Builder pingInterval(Duration interval) {
            this.pingInterval = interval;
            return this;
        }

        public Builder pingTimeout(Duration timeout) {
            this.pingTimeout = timeout;
            return this;
        }

        public Builder pingReqMembers(int members) {
            this.pingReqMembers = members;
            return this;
        }

        public Builder suspicionMult(int mult) {
            this.suspicionMult = mult;
            return this;
        }

        public Builder metadataTimeout(Duration timeout) {
            this.metadataTimeout = timeout;
            return this;
        }

        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = timeout;
            return this;
        }

        public Builder maxFrameBytes(int bytes) {
            this.maxFrameBytes = bytes;
            return this;
        }

        public Builder maxInboundConnections(int connections) {
            this.maxInboundConnections = connections;
            return this;
        }

        public Builder maxMembers(int members) {
            this.maxMembers = members;
            return this;
        }

        public Builder replayWindow(Duration window) {
            this.replayWindow = window;
            return this;
        }

        /** Validates and builds; throws {@link IllegalArgumentException} naming the bad setting. */
        public ClusterSettings build() {
            require(gossipPort >= 0 && gossipPort <= 65535, "gossip port must be in 0..65535, not " + gossipPort);
            for (String seed : seeds) {
                HostAndPort.parse(seed, "seed");
            }
            require(advertiseHost == null || isHost(advertiseHost),
                    "advertise host must be a host name or IP address without a port, not '" + advertiseHost + "'");
            require(bindHost == null || isHost(bindHost),
                    "bind host must be a host name or IP address without a port, not '" + bindHost + "'");
            require(keyring == null || !insecure, "a cluster key and insecure mode contradict each other");
            require(namespace != null && namespace.matches("\\w+[\\w\\-./]*\\w"), "namespace must be letters, digits, '_', '-', '.' or '/'");
            positive(syncInterval, "sync interval");
            positive(syncTimeout, "sync timeout");
            positive(gossipInterval, "gossip interval");
            positive(pingInterval, "ping interval");
            positive(pingTimeout, "ping timeout");
            require(pingTimeout.compareTo(pingInterval) < 0, "ping timeout must be shorter than the ping interval");
            positive(metadataTimeout, "metadata timeout");
            positive(connectTimeout, "connect timeout");
            positive(replayWindow, "replay window");
            require(gossipFanout >= 1, "gossip fanout must be at least 1");
            require(pingReqMembers >= 0, "ping-req members must not be negative");
            require(suspicionMult >= 1, "suspicion multiplier must be at least 1");
            require(maxFrameBytes >= 4096, "max frame bytes must be at least 4096");
            require(maxInboundConnections >= 1, "max inbound connections must be at least 1");
            require(maxMembers >= 1, "max members must be at least 1");
            return new ClusterSettings(this);
        }

        private static void positive(Duration value, String name) {
            require(value != null && !value.isNegative() && !value.isZero() && value.toMillis() <= Integer.MAX_VALUE,
                    name + " must be a positive duration");
        }

        private static void require(boolean condition, String message) {
            if (!condition) {
                throw new IllegalArgumentException(message);
            }
        }
    }
}
