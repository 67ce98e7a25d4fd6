package io.grapevine.proxy.membership;

import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.CorruptingRelay;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cluster key at the proxy: agents with another key or none never reach the table, and frames
 * altered on the wire are dropped and counted in {@code /members} while the proxy goes on working.
 */
class ClusterKeyIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private static Set<Integer> tablePorts(Admin admin) {
        Set<Integer> ports = new TreeSet<>();
        admin.table().forEach(r -> ports.add(r.port()));
        return ports;
    }

    private static Set<Integer> memberPorts(Admin admin) {
        Set<Integer> ports = new TreeSet<>();
        for (JsonNode m : admin.members().path("members")) {
            ports.add(m.path("metadata").path("port").asInt());
        }
        return ports;
    }

    private static JsonNode security(Admin admin) {
        return admin.members().path("gossip").path("security");
    }

    @Test
    void wrongOrMissingKeysNeverReachTheTableAndCorruptedFramesAreDroppedAndCounted() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        Path otherKey = ProxyUnderTest.keyFile(dir, "other.key");
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).start());
        Admin admin = proxy.admin();
        LocalAgent control = keep(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));

        int wrongPort = Ports.free();
        int openPort = Ports.free();
        ChildProcess wrong = keep(ChildProcess.agent(dir, "wrong-key", "--join", proxy.seed(), "--service", "web",
                "--target", "127.0.0.1:" + wrongPort, "--demo", "--cluster-key", otherKey.toString()));
        ChildProcess open = keep(ChildProcess.agent(dir, "no-key", "--join", proxy.seed(), "--service", "web",
                "--target", "127.0.0.1:" + openPort, "--demo", "--insecure-gossip"));
        CorruptingRelay relay = keep(new CorruptingRelay(new InetSocketAddress("127.0.0.1",
                proxy.instance().gossip().gossipAddress().getPort())));
        LocalAgent tampered = keep(LocalAgent.start("127.0.0.1:" + relay.port(), ProxyUnderTest.keyring(key), "web"));

        Await.until(Duration.ofSeconds(10), "control backend in /table", () -> admin.serverIn(control.port(), "up"), admin::toString);
        // Both agents without the key have been knocking (a join attempt each second), and frames altered
        // on their way through the relay have reached the proxy.
        Await.until(Duration.ofSeconds(30), "frames refused: unknown key from both keyless agents, bad MAC via the relay",
                () -> wrong.log().contains("Not joined") && open.log().contains("Not joined")
                        && security(admin).path("rejectedUnknownKey").asLong() >= 4
                        && security(admin).path("rejectedBadMac").asLong() >= 2,
                () -> security(admin) + "; relay corrupted " + relay.corrupted() + "\n" + wrong.tail() + "\n" + open.tail());
        Await.holds(Duration.ofSeconds(2), "only the control backend known to the proxy",
                () -> tablePorts(admin).equals(Set.of(control.port())) && memberPorts(admin).equals(Set.of(control.port())),
                () -> admin + "; members " + memberPorts(admin));

        relay.corrupt(false);
        long joinedMs = Await.until(Duration.ofSeconds(10), "the relayed agent in /table once its frames arrive intact",
                () -> admin.serverIn(tampered.port(), "up"), () -> admin + "; " + security(admin));
        JsonNode counters = security(admin);
        System.out.printf("[security] refused %d frames with an unknown key, %d altered frames (bad MAC) of %d relayed; "
                + "the relayed agent joined %d ms after the relay stopped altering%n",
                counters.path("rejectedUnknownKey").asLong(), counters.path("rejectedBadMac").asLong(), relay.forwarded(), joinedMs);
        assertEquals(relay.corrupted(), counters.path("rejectedBadMac").asLong(), "every altered frame dropped and counted: " + counters);
        assertEquals(0, counters.path("rejectedMalformed").asLong(), counters.toString());
        assertEquals(Set.of(control.port(), tampered.port()), tablePorts(admin), admin.toString());
        assertEquals(Set.of(control.port(), tampered.port()), memberPorts(admin), admin.members().toString());
        assertTrue(wrong.isAlive() && open.isAlive(), "the keyless agents kept trying");
    }
}
