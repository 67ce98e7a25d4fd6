package io.grapevine.proxy.testing;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import java.util.List;
import java.util.Map;

/**
 * An agent in the test's JVM: a demo backend on an ephemeral loopback port and a gossip member
 * announcing it, as {@code ./grapevine agent --demo} does (without the probe loop). Cheap enough to
 * start several per test; the real agent process is {@link ChildProcess#agent}.
 */
public final class LocalAgent implements AutoCloseable {

    private final DemoBackend backend;
    private final GossipNode node;
    private MemberMetadata announced;

    private LocalAgent(DemoBackend backend, GossipNode node, MemberMetadata announced) {
        this.backend = backend;
        this.node = node;
        this.announced = announced;
    }

    /** A demo backend announced as {@code service} with weight 1, no tags; a null keyring gossips insecurely. */
    public static LocalAgent start(String seed, ClusterKeyring keyring, String service) throws InterruptedException {
        return start(seed, keyring, service, Map.of());
    }

    public static LocalAgent start(String seed, ClusterKeyring keyring, String service, Map<String, String> tags)
            throws InterruptedException {
        DemoBackend backend = demoBackend();
        try {
            return announce(seed, keyring, backend, MemberMetadata.backend(service, "127.0.0.1", backend.port(), 1, tags,
                    MemberState.UP));
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    /** A demo backend on a free loopback port whose id is its port, so answers tell which one it was. */
    public static DemoBackend demoBackend() throws InterruptedException {
        for (int attempt = 0; ; attempt++) {
            int port = Ports.free();
            try {
                return DemoBackend.start("127.0.0.1", port, port);
            } catch (IllegalStateException e) {
                if (attempt == 5) {
                    throw e; // the port was taken between the check and the bind, five times
                }
            }
        }
    }

    /** A member announcing {@code metadata} with no backend of its own (null backend). */
    public static LocalAgent announceOnly(String seed, ClusterKeyring keyring, MemberMetadata metadata) {
        return announce(seed, keyring, null, metadata);
    }

    private static LocalAgent announce(String seed, ClusterKeyring keyring, DemoBackend backend, MemberMetadata metadata) {
        ClusterSettings settings = ClusterSettings.builder().seeds(List.of(seed)).keyring(keyring).insecure(keyring == null)
                .alias(metadata.service() + "@" + metadata.host() + ":" + metadata.port()).build();
        GossipNode node = GossipNode.start(settings, metadata, event -> { });
        return new LocalAgent(backend, node, metadata);
    }

    /** The backend's port, which is also the id its demo server answers with. */
    public int port() {
        return announced.port();
    }

    public DemoBackend backend() {
        return backend;
    }

    public GossipNode node() {
        return node;
    }

    public synchronized void publish(MemberState state) {
        announced = announced.withState(state);
        node.updateMetadata(announced);
    }

    @Override
    public void close() {
        node.close();
        if (backend != null) {
            backend.close();
        }
    }

    @Override
    public String toString() {
        return "LocalAgent[" + announced + "]";
    }
}
