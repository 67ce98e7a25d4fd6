package io.grapevine.agent;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberMetadata;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A short run through an agent's start, so that the {@code grapevine} launcher can record the classes it
 * loads in a class data sharing archive ({@code -XX:ArchiveClassesAtExit}). Agents started with that
 * archive map those classes instead of reading and verifying them from the jar, which halves the CPU an
 * agent's start costs and so the time until its backend is routable.
 *
 * <p>On loopback only, with ephemeral ports: a seed member, and an agent with a demo backend that
 * probes it, joins the seed with a fresh key (from a temporary key file), announces, and leaves. Exits 0
 * when all of that worked.
 */
final class AgentWarmup {

    private AgentWarmup() {
    }

    public static void main(String[] args) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path keyFile = Files.createTempFile("grapevine-warmup", ".key");
        boolean joined;
        try {
            Files.writeString(keyFile, ClusterKeyring.generateKey() + "\n");
            joined = warmUp(keyFile, port);
        } finally {
            Files.deleteIfExists(keyFile);
        }
        System.exit(joined ? 0 : 1);
    }

    /** @return whether the seed saw the agent's backend */
    private static boolean warmUp(Path keyFile, int port) throws Exception {
        ClusterKeyring keyring = ClusterKeyring.load(keyFile);
        GossipNode seed = GossipNode.start(ClusterSettings.builder().keyring(keyring).build(),
                MemberMetadata.proxy("127.0.0.1", 1), event -> { });
        AgentOptions options = AgentOptions.parse("--join", "127.0.0.1:" + seed.gossipAddress().getPort(),
            "--service", "warmup", "--target", "127.0.0.1:" + port, "--demo", "--tag", "pool=warmup",
            "--cluster-key", keyFile.toString());
        Agent agent = Agent.start(options, options.gossip().loadKeyring());
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        boolean joined = false;
        while (!joined && System.nanoTime() < deadline) {
            joined = seed.members().stream().anyMatch(m -> m.metadata() != null && m.metadata().isBackend());
            Thread.sleep(20);
        }
        agent.drainAndLeave(Duration.ZERO);
        seed.close();
        return joined;
    }
}
