package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Kubernetes ConfigMap mounted as a volume, laid out as kubelet lays it out: the files are links
 * ({@code servers.conf -> ..data/servers.conf}), {@code ..data} is a link to a timestamped directory, and
 * an update writes a new timestamped directory, points a new link at it and renames that link over
 * {@code ..data} (one atomic step), then deletes the old directory. No event of that update names
 * {@code servers.conf}; the file watch must still see that its content changed.
 */
class ConfigMapReloadIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private int generation;
    private Path current;

    /** Creates the ConfigMap volume in {@code dir} with these files (name to content). */
    private void mount(Map<String, String> files) throws IOException {
        current = writeGeneration(files);
        Files.createSymbolicLink(dir.resolve("..data"), current.getFileName());
        for (String name : files.keySet()) {
            Files.createSymbolicLink(dir.resolve(name), Path.of("..data", name));
        }
    }

    /** What kubelet does on an update: new directory, new link, atomic rename over ..data, old directory removed. */
    private void update(Map<String, String> files) throws IOException {
        Path previous = current;
        current = writeGeneration(files);
        Path link = Files.createSymbolicLink(dir.resolve("..data_tmp"), current.getFileName());
        Files.move(link, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
        try (var old = Files.list(previous)) {
            for (Path p : old.toList()) {
                Files.delete(p);
            }
        }
        Files.delete(previous);
    }

    private Path writeGeneration(Map<String, String> files) throws IOException {
        Path gen = Files.createDirectory(dir.resolve("..2026_01_01_00_00_0" + (generation++) + ".123456789"));
        for (Map.Entry<String, String> f : files.entrySet()) {
            Files.writeString(gen.resolve(f.getKey()), f.getValue());
        }
        return gen;
    }

    private static String servers(int... ports) {
        StringBuilder sb = new StringBuilder("{ \"backend_servers\": [");
        for (int i = 0; i < ports.length; i++) {
            sb.append(i == 0 ? "" : ",").append(" { \"ip\": \"127.0.0.1\", \"port\": ").append(ports[i]).append(" }");
        }
        return sb.append(" ] }\n").toString();
    }

    @Test
    void aProxyServesTheServersOfAConfigMapUpdate() throws Exception {
        DemoBackend first = resources.keep(LocalAgent.demoBackend());
        DemoBackend second = resources.keep(LocalAgent.demoBackend());
        mount(Map.of("servers.conf", servers(first.port())));
        ProxyUnderTest proxy = resources.keep(ProxyUnderTest.in(dir).noGossip().start());
        Admin admin = proxy.admin();
        Await.until(Duration.ofSeconds(10), "the first server in /table", () -> admin.serverIn(first.port(), "up"), admin::toString);
        assertTrue(Files.isSymbolicLink(dir.resolve("servers.conf")), "the proxy reads the ConfigMap's link");

        update(Map.of("servers.conf", servers(first.port(), second.port())));
        long ms = Await.until(Duration.ofSeconds(10), "the ConfigMap update applied",
                () -> admin.serverIn(second.port(), "up"), admin::toString);
        System.out.printf("[reload] a ConfigMap update applied %d ms after the ..data swap%n", ms);

        update(Map.of("servers.conf", servers(second.port())));
        Await.until(Duration.ofSeconds(10), "the next update applied too", () -> admin.row("127.0.0.1", first.port()) == null,
                admin::toString);
    }

    @Test
    void onlyTheFileWhoseContentChangedIsReloadedAndOnlyWhenItChanged() throws Exception {
        mount(Map.of("servers.conf", servers(8001), "backends.mustache", "{{! v1 }}"));
        List<String> reloads = new CopyOnWriteArrayList<>();
        ReloadTriggers triggers = resources.keep(new ReloadTriggers(dir.resolve("servers.conf"), why -> reloads.add("config: " + why),
                dir.resolve("backends.mustache"), why -> reloads.add("template: " + why)));
        triggers.start();

        // Events that change no content: another file, a touch of the link, an update with the same files.
        Files.writeString(dir.resolve("unrelated.txt"), "x");
        Files.setLastModifiedTime(current.resolve("servers.conf"), FileTime.from(Instant.now()));
        update(Map.of("servers.conf", servers(8001), "backends.mustache", "{{! v1 }}"));
        Await.holds(Duration.ofMillis(800), "nothing reloaded while the content stays", reloads::isEmpty, reloads::toString);

        update(Map.of("servers.conf", servers(8001), "backends.mustache", "{{! v2 }}"));
        Await.until(Duration.ofSeconds(10), "the template reloaded", () -> !reloads.isEmpty(), reloads::toString);
        Await.holds(Duration.ofMillis(500), "one reload, of the template", () -> reloads.size() == 1, reloads::toString);
        assertEquals(List.of("template: file changed"), reloads);

        update(Map.of("servers.conf", servers(8001, 8002), "backends.mustache", "{{! v2 }}"));
        Await.until(Duration.ofSeconds(10), "servers.conf reloaded", () -> reloads.size() == 2, reloads::toString);
        assertEquals("config: file changed", reloads.get(1));
        assertFalse(Files.exists(dir.resolve("..data_tmp")));
    }
}
