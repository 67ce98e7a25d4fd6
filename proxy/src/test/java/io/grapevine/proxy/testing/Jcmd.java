package io.grapevine.proxy.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** {@code jcmd} of the JDK running the tests, against a JVM of the same JDK (a proxy or agent process). */
public final class Jcmd {

    private Jcmd() {
    }

    /** What {@code jcmd PID COMMAND} printed; fails the test unless it exits 0. */
    public static String run(long pid, String command) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "jcmd " + command + ": " + out);
        return out;
    }
}
