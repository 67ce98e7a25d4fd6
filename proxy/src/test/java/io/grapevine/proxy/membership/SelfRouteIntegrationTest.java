package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.LogCapture;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy never routes to its own client or admin listener, whoever names it: a member of the cluster
 * (here one without a key, as {@code --insecure-gossip} lets in) or servers.conf, at start and on reload.
 */
class SelfRouteIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    @RegisterExtension
    final LogCapture log = new LogCapture(MembershipView.class);

    @RegisterExtension
    final LogCapture staticLog = new LogCapture(RunningConfig.class);

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    /** Refusals of gossip servers (the membership view) and of static ones (the running configuration). */
    private List<String> refusals() {
        return java.util.stream.Stream.concat(log.messages().stream(), staticLog.messages().stream())
                .filter(m -> m.startsWith("refused ")).toList();
    }

    private static long refusedCounter(Admin admin) {
        return admin.members().path("view").path("refused_backends").asLong();
    }

    /** What {@code GET /members} on the public listener answered: a backend's page, never the admin JSON. */
    private static HttpConnection.Response membersViaListener(ProxyUnderTest proxy) throws IOException {
        try (HttpConnection client = new HttpConnection(proxy.listen(), 5000)) {
            return client.get("/members");
        }
    }

    @Test
    void aMemberAnnouncingTheAdminAddressNeverGetsTheAdminPagesOntoThePublicListener() throws Exception {
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).insecureGossip().start());
        Admin admin = proxy.admin();
        int adminPort = proxy.instance().server().adminAddress().getPort();
        LocalAgent honest = keep(LocalAgent.start(proxy.seed(), null, "web"));
        keep(LocalAgent.announceOnly(proxy.seed(), null,
                MemberMetadata.backend("web", "127.0.0.1", adminPort, 1, Map.of(), MemberState.UP)));
        keep(LocalAgent.announceOnly(proxy.seed(), null, MemberMetadata.backend("web", "localhost",
                proxy.listen().getPort(), 1, Map.of(), MemberState.UP)));

        Await.until(Duration.ofSeconds(15), "both announcements seen, the honest backend up",
                () -> memberPorts(admin).containsAll(List.of(adminPort, proxy.listen().getPort()))
                        && admin.serverIn(honest.port(), "up") && refusedCounter(admin) >= 2,
                () -> admin + "; members " + admin.members());
        assertEquals(List.of(honest.port()), admin.table().stream().map(Admin.Row::port).toList(), admin.toString());
        assertTrue(admin.members().path("gossip").path("insecure").asBoolean(), admin.members().toString());

        for (int i = 0; i < 5; i++) {
            HttpConnection.Response answer = membersViaListener(proxy);
            assertEquals(honest.port(), answer.demoId(), "answered by " + answer);
            assertFalse(answer.body().contains("\"gossip\"") || answer.body().contains("refused_backends"),
                    "the admin JSON on the public listener: " + answer.body());
        }
        List<String> lines = refusals();
        assertEquals(1, lines.stream().filter(l -> l.contains(":" + adminPort + ")")).count(), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("refused gossip backend") && l.contains(":" + adminPort + ")")
                && l.contains("it is this proxy's own admin listener (--admin) 127.0.0.1:" + adminPort)), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("localhost:" + proxy.listen().getPort())
                && l.contains("own client listener (--listen)")), lines.toString());
    }

    @Test
    void serversConfNamingTheProxyItselfIsRefusedAtStartAndOnReload() throws Exception {
        DemoBackend first = keep(LocalAgent.demoBackend());
        DemoBackend second = keep(LocalAgent.demoBackend());
        int listenPort = Ports.free();
        int adminPort = Ports.free();
        ProxyUnderTest.Builder builder = ProxyUnderTest.in(dir).noGossip()
                .listen(new HostPort("127.0.0.1", listenPort)).admin(new HostPort("127.0.0.1", adminPort))
                .servers(servers(first.port(), listenPort));
        ProxyUnderTest proxy = keep(builder.start());
        Admin admin = proxy.admin();
        Await.until(Duration.ofSeconds(10), "the own listener refused at start", () -> refusals().size() == 1, () -> refusals().toString());
        assertEquals(List.of(first.port()), admin.table().stream().map(Admin.Row::port).toList(), admin.toString());
        assertTrue(refusals().get(0).startsWith("refused static backend 127.0.0.1:" + listenPort + " (127.0.0.1:" + listenPort
                + ") of " + builder.serversFile() + ": it is this proxy's own client listener (--listen)"), refusals().toString());
        assertEquals(first.port(), membersViaListener(proxy).demoId());

        // A reload that adds the admin address and another backend: the backend comes, the admin address does not.
        Path tmp = dir.resolve(".servers.conf.new");
        Files.writeString(tmp, servers(first.port(), listenPort, adminPort, second.port()));
        Files.move(tmp, builder.serversFile(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Await.until(Duration.ofSeconds(10), "the second backend in the table", () -> admin.hasServer(second.port()), admin::toString);
        assertEquals(List.of(first.port(), second.port()), admin.table().stream().map(Admin.Row::port).toList(), admin.toString());
        Await.until(Duration.ofSeconds(5), "both refusals of the reload logged",
                () -> refusals().stream().filter(l -> l.contains("(127.0.0.1:" + adminPort + ")")).count() == 1
                        && refusals().stream().filter(l -> l.contains("(127.0.0.1:" + listenPort + ")")).count() == 2,
                refusals()::toString);
    }

    private static java.util.Set<Integer> memberPorts(Admin admin) {
        java.util.Set<Integer> ports = new java.util.TreeSet<>();
        for (JsonNode m : admin.members().path("members")) {
            ports.add(m.path("metadata").path("port").asInt());
        }
        return ports;
    }

    private static String servers(int... ports) {
        StringBuilder sb = new StringBuilder("{ \"backend_servers\": [");
        for (int i = 0; i < ports.length; i++) {
            sb.append(i == 0 ? "" : ",").append(" { \"ip\": \"127.0.0.1\", \"port\": ").append(ports[i]).append(" }");
        }
        return sb.append(" ] }\n").toString();
    }
}
