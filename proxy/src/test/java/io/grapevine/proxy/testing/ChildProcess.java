package io.grapevine.proxy.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A child process of a test (an agent or proxy JVM from the packaged jars, a script), its output in a
 * file. {@link #close()} kills it and its descendants if they are still running.
 */
public final class ChildProcess implements AutoCloseable {

    /** The launcher's notice, at the first start after a build, that it records the jar's CDS archive. */
    private static final Pattern CDS_RECORDING =
            Pattern.compile("^grapevine: recording \\S+'s class data sharing archive ");

    private final String name;
    private final Process process;
    private final Path log;
    private final long startNanos;

    private ChildProcess(String name, Process process, Path log, long startNanos) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.startNanos = startNanos;
    }

    /** The repository root (where the {@code grapevine} launcher is), found from the working directory. */
    public static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("grapevine"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("no grapevine launcher above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    public static Path agentJar() {
        return jar("agent/target/grapevine-agent.jar");
    }

    public static Path proxyJar() {
        return jar("proxy/target/grapevine-proxy.jar");
    }

    private static Path jar(String relative) {
        Path jar = repoRoot().resolve(relative);
        assertTrue(Files.isRegularFile(jar), jar + " is missing: run 'mvn verify', which packages it before the integration tests");
        return jar;
    }

    /** {@code ./grapevine agent args...}: the launcher, so the JVM runs with the options it gives agents. */
    public static ChildProcess agent(Path dir, String name, String... args) {
        agentJar();
        return launcher(dir, name, "agent", args);
    }

    /** {@code ./grapevine proxy args...}. */
    public static ChildProcess proxy(Path dir, String name, String... args) {
        return proxy(dir, name, Map.of(), args);
    }

    /** {@code ./grapevine proxy args...} with {@code env} added to its environment. */
    public static ChildProcess proxy(Path dir, String name, Map<String, String> env, String... args) {
        proxyJar();
        return launcher(dir, name, env, "proxy", args);
    }

    /**
     * {@code ./grapevine COMMAND args...}. The launcher execs the JVM, so the process is the JVM itself
     * and signals reach it directly.
     */
    public static ChildProcess launcher(Path dir, String name, String command, String... args) {
        return launcher(dir, name, Map.of(), command, args);
    }

    private static ChildProcess launcher(Path dir, String name, Map<String, String> env, String command, String... args) {
        if (command.equals("proxy") || command.equals("agent")) {
            recordClassDataArchive(command, env);
        }
        List<String> line = new ArrayList<>();
        line.add(repoRoot().resolve("grapevine").toString());
        line.add(command);
        line.addAll(List.of(args));
        return start(dir, name, line, env);
    }

    /** The programs and environments whose class data sharing archive this JVM has seen recorded. */
    private static final Set<String> ARCHIVES_RECORDED = ConcurrentHashMap.newKeySet();

    /**
     * The launcher records a program's class data sharing archive at its first start after a build (once per JVM
     * options, so per environment): a warm-up of a few seconds idle, many more on a busy machine. It is recorded
     * here, by {@code ./grapevine PROGRAM --version}, before the process a test times, so that no test's bound on a
     * start pays for it, whichever test (in whichever test JVM: the launcher holds a lock) starts the program first.
     * LauncherIntegrationTest tests the recording itself.
     */
    private static void recordClassDataArchive(String command, Map<String, String> env) {
        if (!ARCHIVES_RECORDED.add(command + " " + new TreeMap<>(env))) {
            return;
        }
        ProcessBuilder pb = processBuilder(List.of(repoRoot().resolve("grapevine").toString(), command, "--version"), env)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        try {
            Process p = pb.start();
            // The launcher bounds the warm-up at 120 s; past that, the start it precedes reports what went wrong.
            if (!p.waitFor(180, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + pb.command(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Any command, its working directory the repository root, stdout and stderr into one log file. It starts
     * with the default handling of SIGHUP, SIGINT and SIGTERM, as from a terminal, whatever the build was started
     * under: {@code nohup} ignores SIGHUP, and a shell without job control starts its background commands with
     * SIGINT ignored; every process inherits that, and a shell script cannot trap a signal ignored when it
     * started. {@code env} execs the command, so the process is still the command itself.
     */
    public static ChildProcess start(Path dir, String name, List<String> command, Map<String, String> env) {
        Path log = dir.resolve(name + ".log");
        ProcessBuilder pb = processBuilder(command, env)
                .redirectErrorStream(true).redirectOutput(log.toFile()).redirectInput(ProcessBuilder.Redirect.PIPE);
        try {
            long start = System.nanoTime();
            return new ChildProcess(name, pb.start(), log, start);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    /** {@code command} in the repository root, with the signal handling and the environment {@link #start} describes. */
    private static ProcessBuilder processBuilder(List<String> command, Map<String, String> env) {
        List<String> line = new ArrayList<>(List.of("env", "--default-signal=HUP,INT,TERM"));
        line.addAll(command);
        ProcessBuilder pb = new ProcessBuilder(line).directory(repoRoot().toFile());
        // The launcher's own defaults; GRAPEVINE_JVM_EXTRA_OPTS, which adds to them, passes through (a GC or
        // safepoint log of every process a test starts: docs/reliability.md, "Running them").
        pb.environment().remove("GRAPEVINE_JVM_OPTS");
        // The jars this build just packaged, as they are: an edit made while the suite runs must not
        // start a build inside it.
        pb.environment().put("GRAPEVINE_USE_BUILT_JARS", "1");
        pb.environment().putAll(TestTransport.environment());
        pb.environment().putAll(env);
        return pb;
    }

    public Process process() {
        return process;
    }

    public long pid() {
        return process.pid();
    }

    /** {@link System#nanoTime()} just before the process was started. */
    public long startNanos() {
        return startNanos;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGTERM. */
    public void sigterm() {
        process.destroy();
    }

    /** SIGKILL ({@code kill -9}). */
    public void kill9() {
        process.destroyForcibly();
    }

    /** Sends a signal by name (HUP, INT, ...) with {@code kill}. */
    public void signal(String signal) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid())).inheritIO().start();
            assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal + " " + pid() + " failed");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits for the exit; returns the exit code, or -1 if still running after {@code seconds}. */
    public int waitFor(long seconds) throws InterruptedException {
        return process.waitFor(seconds, TimeUnit.SECONDS) ? process.exitValue() : -1;
    }

    /** The file its output goes to. */
    public Path logFile() {
        return log;
    }

    public String log() {
        try {
            return Files.exists(log) ? Files.readString(log) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }

    /**
     * The log's non-blank lines, without the launcher's one-time notice that it is recording the jar's class data
     * sharing archive (printed by whichever start comes first after a build), so that a test counting a command's
     * lines does not depend on the tests that ran before it.
     */
    public List<String> outputLines() {
        return log().lines().filter(l -> !l.isBlank() && !CDS_RECORDING.matcher(l).find()).toList();
    }

    /**
     * Waits, 60 s at most, until the demo backend {@code backend} listens on {@code backendPort} and the proxy
     * {@code proxy} says it is listening; fails with both logs' tails.
     */
    public static void awaitBackendAndProxy(ChildProcess backend, int backendPort, ChildProcess proxy) {
        Await.until(Duration.ofSeconds(60), "the backend and the proxy listening",
                () -> backend.log().contains("listening on 127.0.0.1:" + backendPort + " ")
                        && proxy.log().contains("grapevine proxy listening on"),
                () -> backend.tail() + "\n" + proxy.tail());
    }

    /** The log's last lines, for failure messages. */
    public String tail() {
        String[] lines = log().split("\n");
        return name + " (pid " + pid() + (isAlive() ? ", running" : ", exited " + process.exitValue()) + "):\n  "
                + String.join("\n  ", java.util.Arrays.copyOfRange(lines, Math.max(0, lines.length - 25), lines.length));
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return name + "[pid " + pid() + "]";
    }
}
