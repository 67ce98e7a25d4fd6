package io.grapevine.proxy.membership;

import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.RequestStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot reload: edits of the backend template and of servers.conf while traffic flows, picked up by the
 * file watch of a running proxy, and SIGHUP to a proxy process for a change no file watch can see.
 */
class ReloadIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private static String servers(int... ports) {
        StringBuilder sb = new StringBuilder("{ \"backend_servers\": [");
        for (int i = 0; i < ports.length; i++) {
            sb.append(i == 0 ? "" : ",").append(" { \"ip\": \"127.0.0.1\", \"port\": ").append(ports[i]).append(" }");
        }
        return sb.append(" ] }\n").toString();
    }

    /** Writes beside and renames, as editors do: the watch sees one complete new file. */
    private static void replace(Path file, String content) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".new");
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static long counter(Admin admin, String name) {
        return admin.members().path("view").path(name).asLong();
    }

    @Test
    void badTemplateKeepsTableAndTrafficAndFixesAndServersConfEditsApplyWithoutRestart() throws Exception {
        DemoBackend staticBackend = keep(LocalAgent.demoBackend());
        Path template = dir.resolve("backends.mustache");
        String shipped = Files.readString(ChildProcess.repoRoot().resolve("templates/backends.mustache"));
        Files.writeString(template, shipped);
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest.Builder builder = ProxyUnderTest.in(dir).servers(servers(staticBackend.port())).clusterKey(key).template(template);
        ProxyUnderTest proxy = keep(builder.start());
        Admin admin = proxy.admin();
        LocalAgent gossip = keep(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        Await.until(Duration.ofSeconds(10), "gossip backend in /table", () -> admin.serverIn(gossip.port(), "up"), admin::toString);
        RequestStream stream = keep(RequestStream.start(proxy.listen(), "/", 2, 5_000));
        Await.until(Duration.ofSeconds(10), "both backends answering",
                () -> stream.answersFrom(staticBackend.port()) > 5 && stream.answersFrom(gossip.port()) > 5, stream::toString);
        JsonNode before = admin.json("/table");

        // 1. A template that does not compile: the running template stays.
        long failures = counter(admin, "reload_failures");
        replace(template, shipped.replace("{{/members}}", ""));
        long ms = Await.until(Duration.ofSeconds(10), "broken template refused", () -> counter(admin, "reload_failures") > failures,
                admin::toString);
        System.out.printf("[reload] a template that does not compile was refused %d ms after the edit%n", ms);
        stream.awaitMore(50, Duration.ofSeconds(10));
        assertEquals(before, admin.json("/table"), "table untouched");

        // 2. A template that compiles but renders garbage: the table stays as it was, the error is shown.
        long renderFailures = counter(admin, "render_failures");
        replace(template, shipped.replace("] }", "] ]"));
        Await.until(Duration.ofSeconds(10), "garbage render counted", () -> counter(admin, "render_failures") > renderFailures,
                admin::toString);
        JsonNode rendered = admin.json("/table/rendered");
        assertTrue(rendered.path("error").asText().contains("invalid JSON"), rendered.toString());
        assertEquals(before.path("generation").asLong(), rendered.path("generation").asLong(), rendered.toString());
        stream.awaitMore(50, Duration.ofSeconds(10));
        assertEquals(before, admin.json("/table"), "table untouched");

        // 3. The fix applies without a restart: the gossip server gets the fixed template's name.
        replace(template, shipped.replace("\"name\": \"{{name}}\"", "\"name\": \"fixed-{{name}}\""));
        ms = Await.until(Duration.ofSeconds(10), "fixed template applied",
                () -> admin.row("127.0.0.1", gossip.port()) != null && admin.row("127.0.0.1", gossip.port()).name().startsWith("fixed-"),
                admin::toString);
        System.out.printf("[reload] the fixed template applied %d ms after the edit%n", ms);
        assertNull(admin.json("/table/rendered").path("error").textValue(), admin.json("/table/rendered").toString());

        // 4. servers.conf edited in place: a second static server, no restart.
        DemoBackend second = keep(LocalAgent.demoBackend());
        replace(builder.serversFile(), servers(staticBackend.port(), second.port()));
        ms = Await.until(Duration.ofSeconds(10), "second static server in /table", () -> admin.serverIn(second.port(), "up"),
                admin::toString);
        System.out.printf("[reload] a servers.conf edit applied %d ms after the edit%n", ms);
        Await.until(Duration.ofSeconds(10), "second static server answering", () -> stream.answersFrom(second.port()) > 5,
                stream::toString);
        stream.close();
        assertEquals(List.of(), stream.failures(), stream.toString());
        assertEquals(2, stream.connectionsOpened(), "a client connection was closed: " + stream);
        assertEquals("static", admin.row("127.0.0.1", second.port()).source());
    }

    private static final Pattern LISTENING = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+) \\(admin 127\\.0\\.0\\.1:(\\d+)\\)");

    /**
     * servers.conf reached through a symbolic link into another directory (as configuration mounts often
     * are): an edit of its target is invisible to the file watch, and SIGHUP reloads it.
     */
    @Test
    void sighupReloadsAProxyProcess() throws Exception {
        DemoBackend first = keep(LocalAgent.demoBackend());
        DemoBackend second = keep(LocalAgent.demoBackend());
        Path real = Files.createDirectories(dir.resolve("mounted")).resolve("servers.conf");
        Files.writeString(real, servers(first.port()));
        Path link = Files.createSymbolicLink(Files.createDirectories(dir.resolve("etc")).resolve("servers.conf"), real);
        ChildProcess proc = keep(ChildProcess.proxy(dir, "proxy", "--servers", link.toString(), "--listen", "127.0.0.1:0",
                "--admin", "127.0.0.1:0", "--no-gossip"));
        Matcher m = LISTENING.matcher("");
        Await.until(Duration.ofSeconds(30), "proxy process listening", () -> m.reset(proc.log()).find(), proc::tail);
        InetSocketAddress listen = new InetSocketAddress("127.0.0.1", Integer.parseInt(m.group(1)));
        Admin admin = new Admin(new InetSocketAddress("127.0.0.1", Integer.parseInt(m.group(2))));
        assertTrue(admin.serverIn(first.port(), "up"), admin.toString());
        String sigIgn = Files.readAllLines(Path.of("/proc", Long.toString(proc.pid()), "status")).stream()
                .filter(l -> l.startsWith("SigIgn:")).findFirst().orElse("SigIgn: 0");
        assertEquals(0, Long.parseLong(sigIgn.substring(7).trim(), 16) & 1,
                "SIGHUP is ignored by the proxy process: ChildProcess starts its commands with its default handling");

        Files.writeString(real, servers(first.port(), second.port()));
        Await.holds(Duration.ofMillis(1500), "no reload without SIGHUP (the watch cannot see the link's target)",
                () -> !admin.hasServer(second.port()), admin::toString);
        proc.signal("HUP");
        long ms = Await.until(Duration.ofSeconds(10), "second server in /table after SIGHUP", () -> admin.serverIn(second.port(), "up"),
                () -> admin + "\n" + proc.tail());
        System.out.printf("[reload] SIGHUP applied a servers.conf change %d ms after the signal%n", ms);
        try (HttpConnection c = new HttpConnection(listen, 5_000)) {
            boolean seen = false;
            for (int i = 0; i < 10 && !seen; i++) {
                HttpConnection.Response r = c.get("/");
                assertEquals(200, r.status(), r.body());
                seen = r.demoId() == second.port();
            }
            assertTrue(seen, "the new server answered");
        }
        assertTrue(proc.isAlive(), "SIGHUP must not stop the proxy\n" + proc.tail());
        assertTrue(proc.log().contains("SIGHUP"), proc.tail());
    }

    /** A proxy started with SIGHUP ignored cannot be reloaded by it, and says so instead of staying silent. */
    @Test
    void aProxyThatCannotReceiveSighupSaysSo() throws Exception {
        DemoBackend backend = keep(LocalAgent.demoBackend());
        Path servers = Files.writeString(dir.resolve("servers.conf"), servers(backend.port()));
        ChildProcess proc = keep(ChildProcess.start(dir, "nohup-proxy", List.of("nohup",
                ChildProcess.repoRoot().resolve("grapevine").toString(), "proxy", "--servers", servers.toString(),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--no-gossip"), java.util.Map.of()));
        // Logged once the reload triggers are set up.
        Await.until(Duration.ofSeconds(30), "proxy process started", () -> proc.log().contains("gossip off"), proc::tail);
        assertTrue(proc.log().contains("SIGHUP is ignored by this process"), proc.tail());
    }
}
