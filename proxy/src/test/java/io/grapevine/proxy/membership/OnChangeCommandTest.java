package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code --on-change} of render mode: a failing or slow command is reported with what it printed. */
class OnChangeCommandTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final LogCapture log = new LogCapture(ExportRenderer.class);

    private List<String> warnings() {
        return log.messages(Level.WARN);
    }

    /** Renders once (the file is new, so it is written) and waits for the command's outcome. */
    private ExportRenderer renderWith(String command, Duration timeout) throws Exception {
        Path template = Files.writeString(dir.resolve("out.mustache"), "members {{#services}}{{name}} {{/services}}\n");
        ExportRenderer renderer = new ExportRenderer(template, dir.resolve("out.cfg"), command, timeout);
        renderer.render(Map.of());
        return renderer;
    }

    @Test
    void aFailingCommandIsLoggedWithItsExitStatusAndOutput() throws Exception {
        ExportRenderer renderer = renderWith("echo '[ALERT] parsing haproxy.cfg: unknown keyword' ; echo 'fatal' >&2 ; exit 3",
                ExportRenderer.DEFAULT_COMMAND_TIMEOUT);
        try {
            Await.until(Duration.ofSeconds(10), "the failure logged", () -> !warnings().isEmpty(), log::toString);
            String warning = warnings().get(0);
            assertTrue(warning.startsWith("--on-change command exited with 3: echo"), warning);
            assertTrue(warning.contains("; output:\n  | [ALERT] parsing haproxy.cfg: unknown keyword\n  | fatal"), warning);
            assertEquals(1, renderer.commandFailures());
        } finally {
            renderer.close();
        }
    }

    @Test
    void onlyTheFirstLinesOfALongOutputAreLogged() throws Exception {
        ExportRenderer renderer = renderWith("seq 1 5000; exit 1", ExportRenderer.DEFAULT_COMMAND_TIMEOUT);
        try {
            Await.until(Duration.ofSeconds(10), "the failure logged", () -> !warnings().isEmpty(), log::toString);
            String warning = warnings().get(0);
            assertTrue(warning.contains("; output (first " + ExportRenderer.OUTPUT_LINES + " lines):\n  | 1\n  | 2\n"), warning);
            assertTrue(warning.endsWith("\n  | " + ExportRenderer.OUTPUT_LINES), warning);
        } finally {
            renderer.close();
        }
    }

    @Test
    void aCommandPastItsTimeoutIsKilledAndReported() throws Exception {
        long start = System.nanoTime();
        ExportRenderer renderer = renderWith("echo reloading; sleep 31.4159; echo done", Duration.ofMillis(500));
        try {
            Await.until(Duration.ofSeconds(10), "the timeout logged", () -> !warnings().isEmpty(), log::toString);
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            String warning = warnings().get(0);
            assertTrue(warning.startsWith("--on-change command did not finish in 500 ms (--on-change-timeout-ms) and was killed"),
                    warning);
            assertTrue(warning.contains("| reloading"), warning);
            assertTrue(tookMs < 5000, "reported after " + tookMs + " ms");
            assertEquals(1, renderer.commandFailures());
        } finally {
            renderer.close();
        }
        Await.until(Duration.ofSeconds(5), "the command's child (sleep) killed too", () -> ProcessHandle.allProcesses()
                .noneMatch(p -> p.info().commandLine().orElse("").contains("sleep 31.4159")));
    }

    @Test
    void aSuccessfulCommandIsOneInfoLine() throws Exception {
        ExportRenderer renderer = renderWith("echo fine", ExportRenderer.DEFAULT_COMMAND_TIMEOUT);
        try {
            Await.until(Duration.ofSeconds(10), "the command done",
                    () -> log.messages().contains("--on-change command done: echo fine"),
                    log::toString);
            assertEquals(List.of(), warnings());
            assertEquals(0, renderer.commandFailures());
        } finally {
            renderer.close();
        }
    }
}
