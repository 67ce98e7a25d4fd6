package io.grapevine.agent;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A gossip member standing in for the proxy: records what it learns about backends. */
final class ProxyView implements AutoCloseable {

    final GossipNode node;
    final List<MemberEvent> events = new CopyOnWriteArrayList<>();
    final List<Long> eventNanos = new CopyOnWriteArrayList<>();

    ProxyView(ClusterKeyring keyring) {
        this(keyring, 0);
    }

    /** @param gossipPort the membership port, 0 for a free one */
    ProxyView(ClusterKeyring keyring, int gossipPort) {
        this.node = GossipNode.start(ClusterSettings.builder().alias("proxy").keyring(keyring).insecure(keyring == null)
                        .gossipPort(gossipPort).build(),
                MemberMetadata.proxy("127.0.0.1", 9000), event -> {
                    events.add(event);
                    eventNanos.add(System.nanoTime());
                });
    }

    String seed() {
        return "127.0.0.1:" + node.gossipAddress().getPort();
    }

    /** Index of the first event of {@code type} for a backend of {@code service} in {@code state} (any state if null). */
    int indexOf(MemberEvent.Type type, String service, MemberState state) {
        for (int i = 0; i < events.size(); i++) {
            MemberEvent e = events.get(i);
            if (e.type() == type && e.metadata() != null && e.metadata().service().equals(service)
                    && (state == null || e.metadata().state() == state)) {
                return i;
            }
        }
        return -1;
    }

    boolean saw(MemberEvent.Type type, String service, MemberState state) {
        return indexOf(type, service, state) >= 0;
    }

    MemberEvent event(MemberEvent.Type type, String service, MemberState state) {
        return events.get(indexOf(type, service, state));
    }

    @Override
    public String toString() {
        return events.stream().map(e -> e.type() + " " + e.metadata()).toList().toString();
    }

    @Override
    public void close() {
        node.close();
    }
}
