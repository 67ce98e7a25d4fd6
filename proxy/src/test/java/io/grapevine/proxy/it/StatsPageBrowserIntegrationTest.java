package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stats page in a real browser: Debian's headless Chromium loads {@code /stats} from a live proxy (one
 * server up, one down, traffic), runs its script, and the DOM it leaves must be complete (every server drawn,
 * {@code data-state="ready"}) with no script error, nothing written to the console and no text the page had to
 * cut off (its {@code data-clipped}: a tile's figures hidden behind an ellipsis). Without Chromium the
 * test is skipped, except in CI ({@code CI=true}), whose {@code .ci/run} installs it.
 * {@code scripts/stats-screenshots.sh} makes the documentation's screenshots with the same checks.
 */
class StatsPageBrowserIntegrationTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @TempDir
    Path dir;

    @Test
    void thePageRendersEveryServerWithoutAScriptError() throws Exception {
        String chromium = chromium();
        DemoBackend a = fx.backend(1);
        int nothing = Fixtures.closedPort();
        ProxyServer proxy = fx.proxy("\"health_check\": {\"interval_ms\": 200, \"timeout_ms\": 200, \"rise\": 1, "
                + "\"fall\": 1}", a.port(), nothing);
        RawHttpClient client = fx.client(proxy);
        for (int i = 0; i < 10; i++) {
            assertEquals(200, client.send(get("/slow?ms=5")).read().status());
        }
        // One request over a second: the p99 chart's scale runs into seconds, its lower lines stay below one.
        assertEquals(200, client.send(get("/slow?ms=1200")).read().status());
        Fixtures.await(Duration.ofSeconds(10), "two seconds of history, for a line on the charts", () -> {
            try (RawHttpClient admin = RawHttpClient.connect(proxy.adminAddress())) {
                return JSON.readTree(admin.send(get("/stats/history.json")).read().body())
                        .path("series").path("*").path("t_ms").size() >= 2;
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        String url = "http://127.0.0.1:" + proxy.adminAddress().getPort() + "/stats";
        for (String size : List.of("1400,1000", "390,900")) {
            Path log = dir.resolve("chromium-" + size.replace(',', 'x') + ".log");
            String dom = run(chromium, log, "--window-size=" + size, "--dump-dom", url);
            String console = Files.readString(log, StandardCharsets.UTF_8);
            assertFalse(console.contains("CONSOLE") || console.contains("Uncaught"),
                    "the page wrote to the console at " + size + ":\n" + console);
            assertFalse(dom.contains("data-js-errors"), "script errors at " + size + ": " + dom);
            assertTrue(dom.contains("data-state=\"ready\""), "the page never finished drawing at " + size + ": " + dom);
            Matcher clipped = Pattern.compile("data-clipped=\"([^\"]*)\"").matcher(dom);
            assertFalse(clipped.find(), () -> "text the page cuts off at " + size + ": " + clipped.group(1));
            assertTrue(dom.contains(">127.0.0.1:" + a.port() + "<"), "the up server is drawn: " + dom);
            assertTrue(dom.contains(">127.0.0.1:" + nothing + "<"), "the down server is drawn: " + dom);
            assertTrue(dom.contains("class=\"srv st-down down\""), "the down server is drawn as down: " + dom);
            assertTrue(dom.contains("L4CON"), "with its failed check: " + dom);
            assertTrue(dom.contains("<polyline"), "the charts have a line: " + dom);
            String p99 = dom.substring(dom.indexOf("id=\"chart-p99\""));
            p99 = p99.substring(0, p99.indexOf("</svg>"));
            Matcher axis = Pattern.compile("text-anchor=\"end\"[^>]*>([^<]*)<").matcher(p99);
            List<String> labels = new java.util.ArrayList<>();
            while (axis.find()) {
                labels.add(axis.group(1));
            }
            assertTrue(labels.size() >= 5 && labels.stream().allMatch(l -> l.matches("0|now|[0-9.]+ ?(ms|s)")),
                    "every latency on the p99 chart's axis says its unit at " + size + ": " + labels);
        }
    }

    /** Runs headless Chromium on {@code args}; its standard output is returned, its log goes to {@code log}. */
    private String run(String chromium, Path log, String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(chromium, "--headless", "--no-sandbox",
                "--disable-gpu", "--no-first-run", "--user-data-dir=" + dir.resolve("profile"),
                "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"));
        command.addAll(List.of(args));
        Path out = dir.resolve("out.html");
        Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(log.toFile()).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not finish in 90 s: " + Files.readString(log));
        }
        assertEquals(0, p.exitValue(), "chromium failed: " + Files.readString(log));
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    private static String chromium() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            for (String name : List.of("chromium", "chromium-browser")) {
                File f = new File(dir, name);
                if (f.canExecute()) {
                    return f.getPath();
                }
            }
        }
        if ("true".equals(System.getenv("CI"))) {
            fail("chromium is not installed; .ci/run installs Debian's chromium for this test");
        }
        Assumptions.abort("chromium is not installed (apt-get install chromium); CI runs this test");
        return null;
    }
}
