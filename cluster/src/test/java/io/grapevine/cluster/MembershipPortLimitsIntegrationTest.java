package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The bounds of the membership port, against a real node: frames over {@code maxFrameBytes}, connections over
 * {@code maxInboundConnections}, and members over {@code maxMembers} (a key holder announcing thousands): each
 * refused, counted in {@link GossipNode#counters()}, and the node still a working member afterwards.
 */
class MembershipPortLimitsIntegrationTest {

    private static final Duration JOIN = Duration.ofSeconds(10);
    private final List<AutoCloseable> started = new ArrayList<>();
    private final ClusterKeyring keyring = ClusterKeyring.of(List.of(ClusterKeyring.generateKey()));

    @AfterEach
    void closeAll() throws Exception {
        for (int i = started.size() - 1; i >= 0; i--) {
            started.get(i).close();
        }
    }

    private GossipNode node(ClusterSettings.Builder settings, RecordingListener listener) {
        GossipNode node = GossipNode.start(settings.keyring(keyring).build(), backend("web", 8080), listener);
        started.add(node);
        return node;
    }

    private static MemberMetadata backend(String service, int port) {
        return MemberMetadata.backend(service, "127.0.0.1", port, 1, Map.of(), MemberState.UP);
    }

    private static InetSocketAddress port(GossipNode node) {
        return new InetSocketAddress("127.0.0.1", node.gossipAddress().getPort());
    }

    /** A member with the key still joins {@code node}: the attack left it working. */
    private void aGoodMemberStillJoins(GossipNode node) {
        GossipNode other = node(ClusterSettings.builder().alias("good").seeds(List.of("127.0.0.1:" + port(node).getPort())),
                new RecordingListener());
        Await.until(JOIN, "a good member joined", () -> node.members().stream()
                .anyMatch(m -> m.id().equals(other.memberId()) && m.metadata() != null), () -> node.counters().toString());
    }

    @Test
    void aFrameOverTheLimitIsRefusedWhenItsLengthIsReadAndItsConnectionClosed() throws Exception {
        GossipNode node = node(ClusterSettings.builder().alias("target").maxFrameBytes(64 * 1024), new RecordingListener());
        try (Socket socket = MembershipAttacker.connect(port(node))) {
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            out.writeInt(512 * 1024 * 1024); // announces half a gigabyte, then sends a little of it
            out.write(new byte[64 * 1024]);
            out.flush();
            assertTrue(MembershipAttacker.closedByPeer(socket), "the node kept the connection of an oversized frame");
        }
        Await.until(Duration.ofSeconds(5), "the oversized frame counted", () -> node.counters().rejectedOversized() == 1,
                () -> node.counters().toString());
        assertEquals(0, node.counters().framesAccepted());
        aGoodMemberStillJoins(node);
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAsTheyArrive() throws Exception {
        int limit = 20;
        GossipNode node = node(ClusterSettings.builder().alias("target").maxInboundConnections(limit), new RecordingListener());
        List<Socket> flood = new ArrayList<>();
        try {
            for (int i = 0; i < 3 * limit; i++) {
                flood.add(MembershipAttacker.connect(port(node)));
            }
            Await.until(Duration.ofSeconds(5), "the connections over the limit refused",
                    () -> node.counters().connectionsRefused() == 2 * limit, () -> node.counters().toString());
            int closed = 0;
            for (Socket s : flood) {
                s.setSoTimeout(200);
                closed += MembershipAttacker.closedByPeer(s) ? 1 : 0;
            }
            assertEquals(2 * limit, closed, "connections over the limit must be closed, the others kept");
        } finally {
            for (Socket s : flood) {
                s.close();
            }
        }
        aGoodMemberStillJoins(node);
    }

    @Test
    void aKeyHolderAnnouncingThousandsOfMembersIsBoundedByMaxMembers() throws Exception {
        int max = 50;
        int announced = 2000;
        RecordingListener listener = new RecordingListener();
        GossipNode node = node(ClusterSettings.builder().alias("target").maxMembers(max), listener);
        MembershipAttacker attacker = MembershipAttacker.start(keyring, i -> backend("fake", 10_000 + i));
        started.add(attacker);
        attacker.announceMembers(port(node), announced);
        // How many fake members get as far as the table depends on scalecube (a metadata answer later than
        // metadataTimeout is dropped); several times the limit is enough to show it holds.
        Await.until(Duration.ofSeconds(30), "fake members refused beyond " + max,
                () -> node.counters().membersRefused() >= 2 * max,
                () -> node.counters() + ", " + attacker.metadataAnswered() + " metadata answers, "
                        + node.members().size() + " members");
        assertEquals(max, node.members().size(), "members kept");
        assertEquals(max, listener.events.stream().filter(e -> e.type() == MemberEvent.Type.ADDED).count(),
                "the listener heard of more members than are kept");
        System.out.println("[reliability] thousands of members (cluster): " + announced + " announced by a key holder, "
                + node.members().size() + " kept, " + node.counters().membersRefused() + " refused");
    }
}
