package io.grapevine.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class of the test class path in a JVM of its own whose names come from a hosts file
 * ({@code jdk.net.hosts.file}) instead of the system resolver: a text the JDK looks up then comes back at the
 * address the file gives it, which shows that it went to the resolver (a name looked up where only an IP literal
 * should be parsed, and where a silent DNS server would hold the thread for the resolver's timeout).
 */
public final class HostsFileJvm {

    private HostsFileJvm() {
    }

    /**
     * @param hosts lines of a hosts file, as {@code 10.9.9.9 300.1.1.1}
     * @return what {@code main} wrote (standard output and error; no log lines), once it ended within 30 s
     */
    public static String run(Path dir, List<String> hosts, Class<?> main, String... args)
            throws IOException, InterruptedException {
        Path file = Files.write(dir.resolve("hosts"), hosts);
        // No log lines and no logging set-up lines: what it writes is only what main prints.
        Path quiet = Files.writeString(dir.resolve("logback-quiet.xml"), "<configuration/>");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djdk.net.hosts.file=" + file, "-Dlogback.configurationFile=" + quiet,
                "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener",
                "-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(main.getName() + " did not end within 30 s: " + out);
        }
        return out;
    }
}
