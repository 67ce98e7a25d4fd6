package io.grapevine.proxy.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * External programs a test drives (curl, h2load): found on the PATH, or installed from Debian's packages
 * when missing, so a fresh machine runs the same tests as a prepared one.
 */
public final class Tools {

    /** What a program printed and how it ended. */
    public record Run(int exitCode, String out, String err) {
    }

    private Tools() {
    }

    /**
     * Makes sure {@code command} is on the PATH, installing Debian package {@code debianPackage} if it is not;
     * fails the test when neither works.
     */
    public static synchronized void require(String command, String debianPackage) throws Exception {
        if (onPath(command)) {
            return;
        }
        Run update = run(300, "apt-get", "update", "-qq");
        Run install = run(300, "apt-get", "install", "-y", "-qq", debianPackage);
        assertTrue(onPath(command), command + " is missing and installing " + debianPackage + " failed: "
                + update.err() + install.err());
    }

    /** {@code curl} with HTTP/2 support (Debian's is built with nghttp2). */
    public static void requireCurlWithHttp2() throws Exception {
        require("curl", "curl");
        Run version = run(30, "curl", "-V");
        assertTrue(version.out().contains("HTTP2"), "this curl has no HTTP/2 support: " + version.out());
    }

    private static boolean onPath(String command) throws Exception {
        return run(30, "sh", "-c", "command -v " + command).exitCode() == 0;
    }

    /** Runs a program to its end (at most {@code timeoutSeconds}); its output as text. */
    public static Run run(int timeoutSeconds, String... command) throws Exception {
        return run(timeoutSeconds, List.of(command));
    }

    public static Run run(int timeoutSeconds, List<String> command) throws Exception {
        Process p = new ProcessBuilder(new ArrayList<>(command)).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        // Read both streams while it runs, so a full pipe never blocks it.
        var out = new java.util.concurrent.CompletableFuture<String>();
        var err = new java.util.concurrent.CompletableFuture<String>();
        daemon(() -> out.complete(readAll(p.getInputStream())));
        daemon(() -> err.complete(readAll(p.getErrorStream())));
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            p.waitFor();
        }
        return new Run(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
    }

    private static void daemon(Runnable task) {
        Thread t = new Thread(task, "tool-output");
        t.setDaemon(true);
        t.start();
    }

    private static String readAll(java.io.InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Fails unless {@code run} exited with 0. */
    public static Run ok(Run run) {
        assertEquals(0, run.exitCode(), "exit code; stderr: " + run.err() + "; stdout: " + run.out());
        return run;
    }
}
