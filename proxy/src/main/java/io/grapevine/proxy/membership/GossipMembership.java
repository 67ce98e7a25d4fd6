package io.grapevine.proxy.membership;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.SecurityCounters;
import io.grapevine.proxy.config.HostPort;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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

    private GossipMembership(GossipNode node) {
        this.node = node;
    }

    /**
     * Joins (or keeps trying to join, in the background) the cluster of {@code seeds}.
     *
     * @param listen    the proxy's client listener, announced in its metadata
     * @param advertise the address other members reach this one at (and the host announced for the
     *                  listener), or null to let the cluster module choose (see {@code GossipNode.start})
     * @param keyring   the cluster keys, or null for an open cluster
     * @throws IllegalArgumentException for an unusable seed or advertise address
     */
    public static GossipMembership start(int gossipPort, List<String> seeds, ClusterKeyring keyring, HostPort listen,
                                         String advertise, MembershipView view) {
        ClusterSettings settings = ClusterSettings.builder()
                .gossipPort(gossipPort)
                .seeds(seeds)
                .keyring(keyring)
                .advertiseHost(advertise)
                .alias("proxy-" + listen)
                .build();
        MemberMetadata self = MemberMetadata.proxy(advertise != null ? advertise : listen.host(), listen.port());
        GossipNode node = GossipNode.start(settings, self, view);
        log.info("gossip member {} on {} (seeds {}, {})", node.memberId(), node.gossipAddress(), seeds,
                keyring == null ? "NO cluster key" : keyring.size() + " cluster key(s)");
        return new GossipMembership(node);
    }

    /** The membership address this proxy advertises (its gossip port). */
    public InetSocketAddress gossipAddress() {
        return node.gossipAddress();
    }

    /** What the membership port refused since start. */
    public SecurityCounters securityCounters() {
        return node.counters();
    }

    public Map<String, Object> counters() {
        SecurityCounters c = node.counters();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("member_id", node.memberId());
        InetSocketAddress address = node.gossipAddress();
        m.put("gossip_address", HostAndPort.format(address));
        m.put("security", c);
        return m;
    }

    /** Leaves gracefully, waiting at most {@code timeoutMillis}. */
    public void leave(long timeoutMillis) {
        try {
            node.leave().get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            log.warn("gossip leave did not complete: {}", e.toString());
        }
    }

    @Override
    public void close() {
        leave(5000);
    }
}
