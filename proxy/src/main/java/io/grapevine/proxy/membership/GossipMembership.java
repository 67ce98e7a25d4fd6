package io.grapevine.proxy.membership;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.SecurityCounters;
import io.grapevine.cluster.cli.GossipOptions;
import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.proxy.config.HostPort;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy as a member of the gossip cluster: role {@code proxy} (never a backend), its events handed
 * to the {@link MembershipView}. The seam between the proxy and the cluster module.
 */
public final class GossipMembership implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(GossipMembership.class);

    /** The conventional gossip port (Serf's). */
    public static final int DEFAULT_PORT = 7946;

    private final GossipNode node;
    private final boolean insecure;
    /** What this proxy announces; replaced when its down servers change. */
    private MemberMetadata self;

    private GossipMembership(GossipNode node, boolean insecure, MemberMetadata self) {
        this.node = node;
        this.insecure = insecure;
        this.self = self;
    }

    /**
     * Joins (or keeps trying to join, in the background) the cluster of {@code gossip.join()}; the
     * advertised address (also the host announced for the listener) is {@code gossip.advertise()}, or the
     * cluster module's choice (see {@code GossipNode.start}).
     *
     * @param keyring the cluster keys, or null when {@code gossip.insecure()}
     * @param listen  the proxy's client listener, announced in its metadata
     * @throws IllegalArgumentException for an unusable seed or advertise address
     * @throws IllegalStateException when the gossip port cannot be opened
     */
    public static GossipMembership start(int gossipPort, GossipOptions gossip, ClusterKeyring keyring, HostPort listen,
                                         MembershipView view) {
        ClusterSettings settings = gossip.settings(keyring)
                .gossipPort(gossipPort)
                .alias("proxy-" + listen)
                .build();
        MemberMetadata self = MemberMetadata.proxy(gossip.advertise() != null ? gossip.advertise() : listen.host(),
                listen.port());
        GossipNode node = GossipNode.start(settings, self, view);
        return new GossipMembership(node, keyring == null, self);
    }

    /**
     * Fails as {@link #start} would if the gossip port cannot be opened; checked before any other port.
     *
     * @throws IllegalStateException naming the address and why
     */
    public static void checkCanListen(int gossipPort, GossipOptions gossip) {
        GossipNode.checkCanListen(gossip.settings(null).gossipPort(gossipPort).build());
    }

    /** The local address the gossip port of {@code gossip} will listen on, as {@link #start} binds it. */
    public static String bindHost(int gossipPort, GossipOptions gossip) {
        return GossipNode.bindHost(gossip.settings(null).gossipPort(gossipPort).build());
    }

    /** Where the gossip port listens, e.g. "127.0.0.1:7946". */
    public String listenDescription() {
        return node.listenDescription();
    }

    /** Whether it joins through seeds (--join), rather than being where the others join. */
    public boolean hasSeeds() {
        return node.hasSeeds();
    }

    /** Gossip runs without a cluster key (--insecure-gossip). */
    public boolean insecure() {
        return insecure;
    }

    /** The membership address this proxy advertises (its gossip port). */
    public InetSocketAddress gossipAddress() {
        return node.gossipAddress();
    }

    /**
     * Announces the servers this proxy found failing (its passive health), for the other proxies; see
     * {@link PassiveHealthSharing}. Any thread.
     */
    public synchronized void announceDownServers(java.util.List<MemberMetadata.DownServer> servers) {
        self = self.withDownServers(servers);
        node.updateMetadata(self);
    }

    /** What the membership port refused since start. */
    public SecurityCounters securityCounters() {
        return node.counters();
    }

    public Map<String, Object> counters() {
        SecurityCounters c = node.counters();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("insecure", insecure);
        if (insecure) {
            m.put("warning", "gossip runs without a cluster key (--insecure-gossip): anyone who can reach "
                    + node.listenDescription() + " can join the cluster and announce backends that receive traffic");
        }
        m.put("member_id", node.memberId());
        m.put("listening_on", node.listenDescription());
        InetSocketAddress address = node.gossipAddress();
        m.put("gossip_address", HostAndPort.format(address));
        m.put("security", c);
        return m;
    }

    /** Leaves gracefully, waiting at most {@code timeoutMillis}. */
    public void leave(long timeoutMillis) {
        leave(StopDeadline.after(timeoutMillis, "the leave's " + timeoutMillis + " ms"), timeoutMillis);
    }

    /**
     * A stop's leave: waits at most {@code timeoutMillis} or what is left of {@code stop}; one line if the leave was
     * not over by then (it goes on while the stop does, and ends with the process).
     */
    public void leave(StopDeadline stop, long timeoutMillis) {
        stop.step("the gossip leave");
        long wait = stop.millisLeft(timeoutMillis);
        try {
            node.leave().get(wait, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (TimeoutException e) {
            stop.abandoned("the gossip leave did not finish", wait,
                    "the leave spreading to the peers and the gossip port closing");
        } catch (Exception e) {
            log.warn("gossip leave did not complete: {}", e.toString());
        }
    }

    @Override
    public void close() {
        leave(5000);
    }
}
