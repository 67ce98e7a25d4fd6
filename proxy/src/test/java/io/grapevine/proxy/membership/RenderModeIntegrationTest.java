package io.grapevine.proxy.membership;

import io.grapevine.cluster.MemberRecord;
import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.JoinGate;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProxyUnderTest;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./grapevine proxy --render templates/haproxy.cfg.mustache --out FILE --on-change CMD}: a proxy
 * process that only renders the membership into a file for an external HAProxy.
 */
class RenderModeIntegrationTest {

    private static final Pattern GOSSIP_PORT = Pattern.compile("Gossip member \\S+ \\([^)]*\\) listening on 127\\.0\\.0\\.1:(\\d+) ");

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static long lines(Path file) {
        String text = read(file);
        return text.isEmpty() ? 0 : text.split("\n").length;
    }

    private static long count(String text, String what) {
        return text.lines().filter(l -> l.contains(what)).count();
    }

    private static String serverLine(LocalAgent agent, String service) {
        return "server " + service + "-127.0.0.1-" + agent.port() + " 127.0.0.1:" + agent.port() + " weight 1 check";
    }

    @Test
    void writesTheFileOnlyWhenMembershipChangesAndRunsTheCommandEachTime() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        Path out = dir.resolve("haproxy.cfg");
        Path marker = dir.resolve("reloads");
        ChildProcess proxy = keep(ChildProcess.proxy(dir, "render", "--render", "templates/haproxy.cfg.mustache",
                "--out", out.toString(), "--on-change", "echo reload >> '" + marker + "'",
                "--gossip", "0", "--cluster-key", key.toString()));
        Matcher m = GOSSIP_PORT.matcher("");
        Await.until(Duration.ofSeconds(30), "render proxy's gossip up", () -> m.reset(proxy.log()).find(), proxy::tail);
        String seed = "127.0.0.1:" + m.group(1);
        Await.until(Duration.ofSeconds(10), "the file rendered for an empty cluster, the command run",
                () -> read(out).contains("no backend members are announced yet") && lines(marker) == 1, proxy::tail);
        Await.until(Duration.ofSeconds(10), "the start-up line",
                () -> proxy.log().contains("grapevine proxy rendering templates/haproxy.cfg.mustache into " + out),
                proxy::tail);
        assertFalse(proxy.log().contains("grapevine proxy listening on"), "render mode serves no traffic");

        ClusterKeyring keyring = ProxyUnderTest.keyring(key);
        LocalAgent web = keep(LocalAgent.start(seed, keyring, "web"));
        Await.until(Duration.ofSeconds(10), "web member in the file", () -> read(out).contains(serverLine(web, "web")),
                () -> read(out) + proxy.tail());
        LocalAgent api = keep(LocalAgent.start(seed, keyring, "api"));
        Await.until(Duration.ofSeconds(10), "api member in the file", () -> read(out).contains(serverLine(api, "api")),
                () -> read(out) + proxy.tail());
        // The file is in place just before the proxy logs the write: wait for the line of this very version.
        Await.until(Duration.ofSeconds(10), "the write logged and the command run once per write",
                () -> proxy.log().contains("rendered " + out + " (" + read(out).length() + " bytes)")
                        && lines(marker) == count(proxy.log(), "rendered " + out),
                () -> lines(marker) + " runs; " + proxy.tail());
        String text = read(out);
        assertTrue(text.contains("backend api\n") && text.contains("backend web\n") && text.contains("default_backend api"), text);
        long writes = count(proxy.log(), "rendered " + out);
        FileTime written = Files.getLastModifiedTime(out);

        // A change that does not change the file (new metadata version, same state): no write, no command.
        web.publish(MemberState.UP);
        Await.until(Duration.ofSeconds(10), "the update seen", () -> proxy.log().contains("version 2"), proxy::tail);
        Await.holds(Duration.ofMillis(500), "no write and no command for an update that changes nothing in the file",
                () -> count(proxy.log(), "rendered " + out) == writes && lines(marker) == writes,
                () -> "writes " + writes + ", now " + count(proxy.log(), "rendered " + out) + " writes and " + lines(marker)
                        + " command runs; " + proxy.tail());
        assertEquals(written, Files.getLastModifiedTime(out));
        assertEquals(text, read(out));

        // A real change: web drains; HAProxy gets the server disabled.
        web.publish(MemberState.DRAINING);
        Await.until(Duration.ofSeconds(10), "web disabled in the file", () -> read(out).contains(serverLine(web, "web") + " disabled"),
                () -> read(out) + proxy.tail());
        Await.until(Duration.ofSeconds(10), "one more write and one more command run",
                () -> count(proxy.log(), "rendered " + out) == writes + 1 && lines(marker) == writes + 1,
                () -> lines(marker) + " runs; " + proxy.tail());
        System.out.printf("[render] %d writes of %s (empty cluster, two joins, one drain; none for an update that changed nothing); "
                + "the command ran %d times%n", writes + 1, out.getFileName(), lines(marker));
    }

    /**
     * A renderer that joins through a seed knows nothing of the cluster until the seed answers: restarted while the
     * seed is out of reach, it leaves the file (and the HAProxy reloaded from it) as it was, instead of writing it
     * with no backend at all, and writes it once the seed answers.
     */
    @Test
    void aRendererJoiningThroughASeedLeavesTheFileAsItIsUntilTheSeedAnswers() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ClusterKeyring keyring = ProxyUnderTest.keyring(key);
        GossipNode seed = keep(GossipNode.start(ClusterSettings.builder().keyring(keyring).alias("web@127.0.0.1:8080").build(),
                MemberMetadata.backend("web", "127.0.0.1", 8080, 1, Map.of(), MemberState.UP), event -> { }));
        JoinGate gate = keep(new JoinGate(seed.gossipAddress()));
        Path out = dir.resolve("haproxy.cfg");
        String before = "# haproxy.cfg as the renderer's last run left it\n";
        Files.writeString(out, before);
        Path marker = dir.resolve("reloads");
        ChildProcess proxy = keep(ChildProcess.proxy(dir, "render", "--render", "templates/haproxy.cfg.mustache",
                "--out", out.toString(), "--on-change", "echo reload >> '" + marker + "'",
                "--join", gate.seed(), "--gossip", "0", "--cluster-key", key.toString()));
        Await.until(Duration.ofSeconds(30), "the start-up line",
                () -> proxy.log().contains("grapevine proxy rendering templates/haproxy.cfg.mustache into " + out),
                proxy::tail);
        Await.holds(Duration.ofMillis(1500), "the file as it was while no seed answers",
                () -> read(out).equals(before) && !Files.exists(marker), () -> read(out) + proxy.tail());

        gate.open();
        String line = "server web-127.0.0.1-8080 127.0.0.1:8080 weight 1 check";
        Await.until(Duration.ofSeconds(10), "the seed's backend in the file", () -> read(out).contains(line),
                () -> read(out) + proxy.tail());
        Await.until(Duration.ofSeconds(10), "the command run", () -> lines(marker) == 1, proxy::tail);
    }

    /**
     * An agent killed with {@code kill -9} while its backend (a process of its own) keeps answering: a serving proxy
     * would hold its server for up to {@link MembershipView#DEFAULT_HOLD_MILLIS} while its health checks reach the
     * backend, but render mode runs no health checks, so nothing vouches for the backend and the member leaves the
     * file as soon as gossip's failure detector removes it.
     */
    @Test
    void aCrashedAgentLeavesTheFileWhenGossipRemovesItWithoutAHold() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        Path out = dir.resolve("haproxy.cfg");
        ChildProcess proxy = keep(ChildProcess.proxy(dir, "render", "--render", "templates/haproxy.cfg.mustache",
                "--out", out.toString(), "--gossip", "0", "--cluster-key", key.toString()));
        Matcher m = GOSSIP_PORT.matcher("");
        Await.until(Duration.ofSeconds(30), "render proxy's gossip up", () -> m.reset(proxy.log()).find(), proxy::tail);
        int port = Ports.free();
        ChildProcess backend = keep(ChildProcess.launcher(dir, "backend", "backend", "--port", Integer.toString(port)));
        Await.until(Duration.ofSeconds(30), "the backend accepting", () -> Ports.accepts(port), backend::tail);
        ChildProcess agent = keep(ChildProcess.agent(dir, "agent", "--join", "127.0.0.1:" + m.group(1), "--service", "web",
                "--target", "127.0.0.1:" + port, "--cluster-key", key.toString()));
        String line = "server web-127.0.0.1-" + port + " 127.0.0.1:" + port;
        Await.until(Duration.ofSeconds(30), "the agent's backend in the file", () -> read(out).contains(line),
                () -> read(out) + proxy.tail() + agent.tail());

        agent.kill9();
        long killed = System.nanoTime();
        // Two members (the render proxy and the agent): the failure detector removes the agent after its suspicion
        // timeout, well within the hold a serving proxy would give it.
        Duration removal = ClusterSettings.builder().build().suspicionTimeout(2).plusSeconds(8);
        assertTrue(removal.toMillis() < MembershipView.DEFAULT_HOLD_MILLIS / 2, "the bound must tell a hold apart: " + removal);
        Await.until(removal, "the crashed agent's server out of the file", () -> !read(out).contains(line),
                () -> read(out) + proxy.tail());
        long goneMs = (System.nanoTime() - killed) / 1_000_000;
        assertTrue(Ports.accepts(port), "the backend still answers: a serving proxy would have held its server");
        assertFalse(proxy.log().contains("its server stays for up to"), () -> "render mode held the member: " + proxy.tail());
        System.out.printf("[render] kill -9 of an agent whose backend still answers: its server left the file %d ms later "
                + "(suspicion timeout %d ms; no hold)%n", goneMs, ClusterSettings.builder().build().suspicionTimeout(2).toMillis());
    }

    /** The shipped haproxy.cfg template renders a configuration HAProxy itself accepts ({@code haproxy -c}). */
    @Test
    void renderedHaproxyCfgIsValidForHaproxy() throws Exception {
        Path haproxy = List.of("/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy").stream().map(Path::of)
                .filter(Files::isExecutable).findFirst().orElse(null);
        Assumptions.assumeTrue(haproxy != null, "haproxy is not installed here, so the rendered haproxy.cfg is not checked "
                + "with 'haproxy -c' (Debian package haproxy; CI installs it)");
        Path out = dir.resolve("haproxy.cfg");
        ExportRenderer renderer = new ExportRenderer(ChildProcess.repoRoot().resolve("templates/haproxy.cfg.mustache"), out, null);
        List<MemberRecord> members = List.of(
                record("a", "web", "127.0.0.1", 8001, MemberState.UP, Map.of("zone", "a b")),
                record("b", "web", "127.0.0.1", 8002, MemberState.DRAINING, Map.of()),
                record("c", "web", "127.0.0.1", 8003, MemberState.DOWN, Map.of()),
                record("d", "api.v2", "::1", 9001, MemberState.UP, Map.of()),
                record("e", "api.v2", "backend-7.internal", 9002, MemberState.UP, Map.of()));
        renderer.render(TemplateContexts.build(members, List.of()));
        renderer.close();
        String text = Files.readString(out, StandardCharsets.UTF_8);
        assertTrue(text.contains("backend web") && text.contains("backend api.v2"), text);
        Process check = new ProcessBuilder(haproxy.toString(), "-c", "-f", out.toString()).redirectErrorStream(true).start();
        assertTrue(check.waitFor(30, TimeUnit.SECONDS), "haproxy -c did not finish");
        String said = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, check.exitValue(), "haproxy -c refused the rendered file:\n" + said + "\n--- file:\n" + text);
    }

    private static MemberRecord record(String id, String service, String host, int port, MemberState state, Map<String, String> tags) {
        return new MemberRecord(id, null, new InetSocketAddress("127.0.0.1", 1),
                MemberMetadata.backend(service, host, port, 1, tags, state), MemberEvent.Type.ADDED, 1);
    }
}
