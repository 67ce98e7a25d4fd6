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
import org.junit.jupiter.api.Assumptions;
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

    /** {@link #renderWith} a command that has started {@code child} (a command line) by the time this returns. */
    private ExportRenderer renderWithItsChildRunning(String command, String child) throws Exception {
        ExportRenderer renderer = renderWith(command, ExportRenderer.DEFAULT_COMMAND_TIMEOUT);
        try {
            Await.until(Duration.ofSeconds(10), "the command's child (" + child + ") running",
                    () -> ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine().orElse("").contains(child)));
        } catch (RuntimeException | Error e) {
            renderer.close();
            throw e;
        }
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

    /**
     * A command that keeps forking is killed with every child it forked, those forked while it was being killed too:
     * they are all in its process group, which one signal kills at once. Listing its descendants and killing them
     * left the ones it forked after the last listing running (and took seconds). The loop forks a child every 5 ms
     * or so; each run's children have a command line of their own.
     */
    @Test
    void aCommandThatKeepsForkingIsKilledWithEveryChildItForked() throws Exception {
        Assumptions.assumeTrue(java.util.stream.Stream.of(System.getenv("PATH").split(":"))
                .anyMatch(d -> Files.isExecutable(Path.of(d, "setsid"))), "util-linux's setsid is not on the PATH");
        String child = "sleep 23." + (100_000 + new java.util.Random().nextInt(900_000));
        try {
            ExportRenderer renderer = renderWith("while :; do " + child + " & sleep 0.005; done", Duration.ofMillis(300));
            try {
                Await.until(Duration.ofSeconds(10), "the timeout logged", () -> !warnings().isEmpty(), log::toString);
            } finally {
                renderer.close();
            }
            Await.until(Duration.ofSeconds(5), "every child it forked killed", () -> running(child).isEmpty(),
                    () -> running(child).size() + " still running");
        } finally {
            running(child).forEach(ProcessHandle::destroyForcibly); // a failed run leaves none behind
        }
    }

    private static List<ProcessHandle> running(String commandLine) {
        return ProcessHandle.allProcesses().filter(p -> p.info().commandLine().orElse("").contains(commandLine))
                .toList();
    }

    @Test
    void changesWhileTheCommandRunsShareOneMoreRunWhichSeesTheLastOfThem() throws Exception {
        Path template = Files.writeString(dir.resolve("out.mustache"), "members {{#services}}{{name}} {{/services}}\n");
        Path out = dir.resolve("out.cfg");
        Path seen = dir.resolve("seen");
        // a slow reload, like haproxy -c then a reload: each run records the file it was given
        ExportRenderer renderer = new ExportRenderer(template, out, "sleep 0.3; cat " + out + " >> " + seen,
                ExportRenderer.DEFAULT_COMMAND_TIMEOUT);
        try {
            for (int i = 1; i <= 20; i++) {
                renderer.render(Map.of("services", List.of(Map.of("name", "s" + i))));
            }
            assertEquals(20, renderer.writes());
            // until a run has been and no other added for a second and a half (each takes 0.3 s): at most 15 s
            long deadline = System.nanoTime() + 15_000_000_000L;
            int runs = 0;
            long stableSince = System.nanoTime();
            while (System.nanoTime() < deadline && (runs == 0 || System.nanoTime() - stableSince < 1_500_000_000L)) {
                Thread.sleep(100);
                int now = readOrEmpty(seen).split("\n", -1).length - 1;
                if (now != runs) {
                    runs = now;
                    stableSince = System.nanoTime();
                }
            }
            String given = readOrEmpty(seen);
            assertTrue(runs >= 1 && runs <= 3, runs + " runs for 20 changes: " + given);
            assertTrue(given.endsWith("members s20 \n"), "the last run was not given the last change: " + given);
            assertEquals(0, renderer.commandFailures());
        } finally {
            renderer.close();
        }
    }

    private static String readOrEmpty(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return "";
        }
    }

    /**
     * A command that reads its standard input (a script's {@code read}, a client that takes commands from it) finds
     * it empty at once, as from a terminal-less service, instead of waiting on a pipe no one writes or closes until
     * its time limit kills it.
     */
    @Test
    void aCommandThatReadsItsStandardInputFindsItEmpty() throws Exception {
        ExportRenderer renderer = renderWith("cat; echo read", Duration.ofSeconds(5));
        try {
            long tookMs = Await.until(Duration.ofSeconds(10), "the command done or failed",
                    () -> log.messages().contains("--on-change command done: cat; echo read") || !warnings().isEmpty(),
                    log::toString);
            assertEquals(List.of(), warnings());
            assertEquals(0, renderer.commandFailures());
            assertTrue(tookMs < 4000, "done after " + tookMs + " ms");
        } finally {
            renderer.close();
        }
    }

    /** A proxy that stops while the command runs kills it with the processes it started, as its time limit does. */
    @Test
    void aCommandStillRunningWhenTheRendererClosesIsKilledWithItsChildren() throws Exception {
        renderWithItsChildRunning("sleep 27.1828; echo done", "sleep 27.1828").close();
        Await.until(Duration.ofSeconds(5), "the command's child (sleep) killed", () -> ProcessHandle.allProcesses()
                .noneMatch(p -> p.info().commandLine().orElse("").contains("sleep 27.1828")));
    }

    /**
     * {@link ExportRenderer#close()} returns only once a command still running is killed: the proxy exits right after
     * it (a SIGTERM during a render), and a kill left to a thread of a process that has exited never comes, leaving the
     * command running for as long as it likes.
     */
    @Test
    void aCommandStillRunningIsKilledBeforeCloseReturns() throws Exception {
        renderWithItsChildRunning("sleep 16.1803; echo done", "sleep 16.1803").close();
        assertEquals(List.of("--on-change command killed, the proxy stopping: sleep 16.1803; echo done"), warnings());
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
