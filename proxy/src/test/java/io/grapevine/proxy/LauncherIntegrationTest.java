package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Limits;
import io.grapevine.proxy.config.Timeouts;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code grapevine} launcher's build decisions, on a copy of it in a scratch tree whose Maven is a
 * stand-in script (it prints like Maven, records the call and puts the real jars in place): the jars
 * are rebuilt when missing or older than any pom, source or template, and not otherwise;
 * {@code build --help} builds nothing; a failed build runs nothing; and {@code keygen}'s stdout is the
 * key alone, build or not. And the class data sharing archives of the proxy and the agent: made by the first
 * start, used by the next ones, made again when the jar is newer; an empty file when the warm-up fails, so that
 * starts do not retry it. And the systemd unit, scripts/grapevine.service: its proxy command line, run as it
 * would be.
 */
class LauncherIntegrationTest {

    private static final String KEY = "[A-Za-z0-9+/]{43}=";

    @TempDir
    Path root;

    private Path calls;
    private Instant hourAgo;

    private record Run(int exit, String stdout, String stderr) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout:\n" + stdout + "\n--- stderr:\n" + stderr;
        }
    }

    @BeforeEach
    void scratchTree() throws IOException {
        Path repo = ChildProcess.repoRoot();
        Files.copy(repo.resolve("grapevine"), root.resolve("grapevine"));
        hourAgo = Instant.now().minus(1, ChronoUnit.HOURS);
        for (String source : List.of("pom.xml", "cluster/pom.xml", "agent/pom.xml", "proxy/pom.xml",
                "cluster/src/main/java/io/grapevine/cluster/A.java", "agent/src/main/java/io/grapevine/agent/B.java",
                "proxy/src/main/java/io/grapevine/proxy/C.java", "cluster/src/main/resources/logback.xml",
                "templates/backends.mustache")) {
            Path file = root.resolve(source);
            Files.createDirectories(file.getParent());
            Files.writeString(file, "source\n");
        }
        // Sources (and their directories) two hours old, the jars one hour old: current.
        try (var all = Files.walk(root)) {
            for (Path p : all.toList()) {
                Files.setLastModifiedTime(p, FileTime.from(hourAgo.minus(1, ChronoUnit.HOURS)));
            }
        }
        placeJars(hourAgo);

        calls = root.resolve("mvn-calls");
        Path mvn = root.resolve("fake-mvn");
        Files.writeString(mvn, String.join("\n",
                "#!/bin/sh",
                "echo \"[INFO] Scanning for projects... (stand-in Maven: $*)\"",
                "echo \"$*\" >> '" + calls + "'",
                "if [ -n \"$FAKE_MVN_FAIL\" ]; then echo '[ERROR] COMPILATION ERROR'; exit 1; fi",
                // FAKE_MVN_HOLD=FILE: says it runs (FILE.running), then builds when FILE exists
                "if [ -n \"$FAKE_MVN_HOLD\" ]; then : > \"$FAKE_MVN_HOLD.running\";"
                        + " while [ ! -e \"$FAKE_MVN_HOLD\" ]; do sleep 0.05; done; fi",
                "mkdir -p agent/target proxy/target",
                "cp '" + ChildProcess.agentJar() + "' agent/target/grapevine-agent.jar",
                "cp '" + ChildProcess.proxyJar() + "' proxy/target/grapevine-proxy.jar",
                "echo '[INFO] BUILD SUCCESS'", ""));
        Files.setPosixFilePermissions(mvn, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private void placeJars(Instant modified) throws IOException {
        for (Path jar : List.of(ChildProcess.agentJar(), ChildProcess.proxyJar())) {
            Path copy = root.resolve(ChildProcess.repoRoot().relativize(jar));
            Files.createDirectories(copy.getParent());
            Files.copy(jar, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.setLastModifiedTime(copy, FileTime.from(modified));
        }
    }

    private void touch(String relative, Instant modified) throws IOException {
        Files.setLastModifiedTime(root.resolve(relative), FileTime.from(modified));
    }

    private List<String> builds() throws IOException {
        return Files.exists(calls) ? Files.readAllLines(calls) : List.of();
    }

    private Run launch(Map<String, String> env, String... args) throws Exception {
        return launchWith(List.of(), env, args);
    }

    /** Runs the launcher under {@code wrapper} (a command that runs the rest of its command line). */
    private Run launchWith(List<String> wrapper, Map<String, String> env, String... args) throws Exception {
        return finish(start(wrapper, env, args));
    }

    /** Starts the launcher under {@code wrapper}, its output into the files {@link #finish} reads. */
    private Process start(List<String> wrapper, Map<String, String> env, String... args) throws IOException {
        List<String> command = new ArrayList<>(wrapper);
        command.add(root.resolve("grapevine").toString());
        command.addAll(List.of(args));
        Path out = root.resolve("stdout");
        Path err = root.resolve("stderr");
        ProcessBuilder pb = new ProcessBuilder(command).directory(root.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        Map<String, String> environment = pb.environment();
        environment.remove("GRAPEVINE_USE_BUILT_JARS");
        environment.put("JAVA_HOME", System.getProperty("java.home"));
        environment.put("GRAPEVINE_MVN", root.resolve("fake-mvn").toString());
        environment.putAll(env);
        return pb.start();
    }

    /**
     * Waits for a launcher {@link #start} started, and what it printed: as long as its class data sharing warm-up
     * may take (the launcher bounds it at 120 s), and its program's start after that.
     */
    private Run finish(Process p) throws Exception {
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "launcher did not finish: " + p.info().commandLine());
        return new Run(p.exitValue(), Files.readString(root.resolve("stdout")), Files.readString(root.resolve("stderr")));
    }

    private Run launch(String... args) throws Exception {
        return launch(Map.of(), args);
    }

    private static void assertOnlyAKey(Run run) {
        assertEquals(0, run.exit(), run.toString());
        assertTrue(run.stdout().matches(KEY + "\n"), "stdout must be the key alone: " + run);
    }

    @Test
    void currentJarsRunWithoutABuild() throws Exception {
        Run run = launch("keygen");
        assertOnlyAKey(run);
        assertEquals(List.of(), builds(), run.toString());
        assertEquals("", run.stderr(), run.toString());
    }

    @Test
    void aSourceNewerThanTheJarsRebuildsOnceAndKeygenStdoutStaysTheKey() throws Exception {
        touch("proxy/src/main/java/io/grapevine/proxy/C.java", hourAgo.plus(10, ChronoUnit.MINUTES));
        Run run = launch("keygen");
        assertOnlyAKey(run);
        assertEquals(List.of("-q -B -DskipTests clean package"), builds(), run.toString());
        assertTrue(run.stderr().contains("proxy/src/main/java/io/grapevine/proxy/C.java is newer than the jars"), run.toString());
        assertTrue(run.stderr().contains("[INFO] BUILD SUCCESS"), "Maven's output goes to stderr: " + run);

        Run again = launch("keygen");
        assertOnlyAKey(again);
        assertEquals(1, builds().size(), "the jars are current after the build: " + again);
    }

    @Test
    void everyKindOfSourceCounts() throws Exception {
        for (String source : List.of("pom.xml", "cluster/pom.xml", "agent/src/main/java/io/grapevine/agent/B.java",
                "cluster/src/main/java/io/grapevine/cluster/A.java", "cluster/src/main/resources/logback.xml",
                "templates/backends.mustache")) {
            placeJars(hourAgo);
            int before = builds().size();
            touch(source, hourAgo.plus(5, ChronoUnit.MINUTES));
            Run run = launch("keygen");
            assertOnlyAKey(run);
            assertEquals(before + 1, builds().size(), source + " newer than the jars must rebuild: " + run);
            touch(source, hourAgo.minus(5, ChronoUnit.MINUTES));
        }
    }

    /**
     * A SIGHUP to the launcher while it builds (systemctl reload just after systemctl start) does not end it: the
     * program has read nothing yet, and runs once the build is done.
     */
    @Test
    void aSighupWhileTheLauncherBuildsDoesNotEndIt() throws Exception {
        touch("pom.xml", Instant.now());
        Path hold = root.resolve("hold");
        Process launcher = start(List.of(), Map.of("FAKE_MVN_HOLD", hold.toString()), "keygen");
        Await.until(Duration.ofSeconds(10), "the build running", () -> Files.exists(root.resolve("hold.running")));
        assertEquals(0, new ProcessBuilder("kill", "-HUP", Long.toString(launcher.pid())).start().waitFor());
        Files.writeString(hold, "");
        Run run = finish(launcher);
        assertOnlyAKey(run);
        assertEquals(1, builds().size(), run.toString());
    }

    /**
     * A SIGTERM to the launcher while it builds (systemctl stop, docker stop during a first start) stops the build
     * too: Maven does not run on, holding the build lock, after the launcher is gone. The launcher ends by the
     * signal, as without a child.
     */
    @Test
    void aSigtermWhileTheLauncherBuildsStopsTheBuild() throws Exception {
        touch("pom.xml", Instant.now());
        Process launcher = start(List.of(), Map.of("FAKE_MVN_HOLD", root.resolve("hold").toString()), "keygen");
        Await.until(Duration.ofSeconds(10), "the build running", () -> Files.exists(root.resolve("hold.running")));
        assertStopsWithItsChildren(launcher);
        assertFalse(Files.exists(root.resolve("hold")), "the build was still held");
    }

    /**
     * A SIGTERM to the launcher while {@code test} runs Maven (Ctrl-C, a CI job cancelled) stops Maven too: the
     * test suite's proxies and agents do not run on after the launcher is gone.
     */
    @Test
    void aSigtermWhileTheLauncherTestsStopsMaven() throws Exception {
        Process launcher = start(List.of(), Map.of("FAKE_MVN_HOLD", root.resolve("hold").toString()), "test");
        Await.until(Duration.ofSeconds(10), "Maven running", () -> Files.exists(root.resolve("hold.running")));
        assertStopsWithItsChildren(launcher);
        assertEquals(List.of("-B verify"), builds());
    }

    /**
     * A SIGTERM to the launcher while it records the class data sharing archive (the first start after a build, a
     * few seconds) stops the warm-up JVM too, and leaves no archive, neither a part-written one nor the empty file
     * of a failed warm-up, which would keep the next starts from recording it.
     */
    @Test
    void aSigtermWhileTheArchiveIsRecordedStopsTheWarmUp() throws Exception {
        Process launcher = start(List.of(), Map.of(), "proxy", "--version");
        Await.until(Duration.ofSeconds(30), "the warm-up running", () -> !launcher.isAlive() || launcher.descendants()
                .anyMatch(p -> p.info().commandLine().orElse("").contains("ArchiveClassesAtExit")));
        assertStopsWithItsChildren(launcher);
        try (var files = Files.list(root.resolve("proxy/target"))) {
            assertEquals(List.of(), files.filter(p -> p.toString().matches(".*\\.(jsa|tmp)$")).toList());
        }
    }

    /** SIGTERM to {@code launcher}: it ends by that signal, and every process it had started is gone with it. */
    private static void assertStopsWithItsChildren(Process launcher) throws Exception {
        List<ProcessHandle> children = launcher.descendants().toList();
        try {
            assertTrue(launcher.isAlive() && !children.isEmpty(), "the launcher and its child: " + children);
            launcher.destroy();
            assertTrue(launcher.waitFor(10, TimeUnit.SECONDS), "the launcher did not stop");
            assertEquals(128 + 15, launcher.exitValue(), "ended by SIGTERM");
            Await.until(Duration.ofSeconds(5), "the launcher's children gone",
                    () -> children.stream().noneMatch(LauncherIntegrationTest::running),
                    () -> children.stream().filter(LauncherIntegrationTest::running)
                            .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList().toString());
        } finally {
            children.forEach(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * Whether {@code process} still runs: alive and not a zombie. A child whose parent, the launcher, is gone is reaped
     * by PID 1, whenever that gets to it; until then it is dead but still listed, and its command line reads empty.
     */
    private static boolean running(ProcessHandle process) {
        if (!process.isAlive()) {
            return false;
        }
        try {
            String stat = Files.readString(Path.of("/proc/" + process.pid() + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z'; // "pid (comm) S ...": the state follows the name
        } catch (IOException | RuntimeException e) {
            return process.isAlive(); // gone since (no such file), or unreadable: the handle's answer
        }
    }

    @Test
    void aDeletedSourceRebuilds() throws Exception {
        Files.delete(root.resolve("agent/src/main/java/io/grapevine/agent/B.java")); // its directory is now newer
        Run run = launch("keygen");
        assertOnlyAKey(run);
        assertEquals(1, builds().size(), run.toString());
    }

    @Test
    void missingJarsAreBuilt() throws Exception {
        Files.delete(root.resolve("proxy/target/grapevine-proxy.jar"));
        Run run = launch("keygen");
        assertOnlyAKey(run);
        assertEquals(1, builds().size(), run.toString());
        assertTrue(run.stderr().contains("the jars are missing"), run.toString());
    }

    @Test
    void buildHelpBuildsNothing() throws Exception {
        touch("pom.xml", Instant.now());
        for (String help : List.of("--help", "-h")) {
            Run run = launch("build", help);
            assertEquals(0, run.exit(), run.toString());
            assertTrue(run.stdout().startsWith("usage: ./grapevine build"), run.toString());
        }
        assertEquals(List.of(), builds());
        Run bad = launch("build", "--fast");
        assertEquals(2, bad.exit(), bad.toString());
        assertEquals(List.of(), builds());
    }

    /**
     * The launcher and its own commands (build, demo, test) answer {@code --version} and {@code -V} as the
     * programs do ("grapevine keygen 0.1.0", then the JVM), with the version a build would make, and
     * {@code --help}, wherever it comes: stale jars are not built, Maven does not run, nor does the demo.
     */
    @Test
    void theLauncherAndItsCommandsAnswerVersionAndHelpWithoutBuildingOrRunningAnything() throws Exception {
        Path repo = ChildProcess.repoRoot();
        Files.copy(repo.resolve("pom.xml"), root.resolve("pom.xml"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        touch("pom.xml", hourAgo.minus(1, ChronoUnit.HOURS));
        Run program = launch("keygen", "--version");
        assertEquals(0, program.exit(), program.toString());
        assertTrue(program.stdout().matches("grapevine keygen \\S+\nJava .+ \\(.+\\)\n"), program.toString());
        String version = program.stdout().substring("grapevine keygen ".length());

        Files.createDirectories(root.resolve("scripts"));
        Files.copy(repo.resolve("scripts/demo.sh"), root.resolve("scripts/demo.sh"));
        touch("pom.xml", Instant.now()); // a build would run before any program
        for (String command : List.of("", "build", "demo", "test")) {
            for (String flag : List.of("--version", "-V")) {
                Run run = command.isEmpty() ? launch(flag) : launch(command, flag);
                assertEquals(0, run.exit(), run.toString());
                assertEquals("grapevine" + (command.isEmpty() ? "" : " " + command) + " " + version, run.stdout(),
                        command + " " + flag);
                assertEquals("", run.stderr(), run.toString());
            }
            if (!command.isEmpty()) {
                for (String help : List.of("--help", "-h")) {
                    Run run = launch(command, help);
                    assertEquals(0, run.exit(), run.toString());
                    assertTrue(run.stdout().startsWith("usage: ./grapevine " + command), command + " " + help + ": " + run);
                }
            }
        }
        Run late = launch("test", "-o", "--version");
        assertEquals(0, late.exit(), late.toString());
        assertTrue(late.stdout().startsWith("grapevine test "), late.toString());
        assertEquals(List.of(), builds(), "nothing built, Maven never ran");
    }

    /** {@code ./grapevine} alone is a usage error like any other: the usage on stderr, status 2. */
    @Test
    void noCommandIsAUsageError() throws Exception {
        Run run = launch();
        assertEquals(2, run.exit(), run.toString());
        assertEquals("", run.stdout(), run.toString());
        assertTrue(run.stderr().contains("usage: ./grapevine <command>"), run.toString());
        Run help = launch("--help");
        assertEquals(0, help.exit(), help.toString());
        assertTrue(help.stdout().startsWith("usage: ./grapevine <command>"), help.toString());
    }

    /** {@code test} runs the Maven GRAPEVINE_MVN names, as a build does; when it fails, nothing runs after it. */
    @Test
    void testRunsTheMavenOfGrapevineMvn() throws Exception {
        Run run = launch(Map.of("FAKE_MVN_FAIL", "1"), "test", "-Dgrapevine.longTests=true");
        assertEquals(List.of("-B verify -Dgrapevine.longTests=true"), builds(), run.toString());
        assertNotEquals(0, run.exit(), run.toString());
        assertTrue(run.stdout().contains("COMPILATION ERROR"), run.toString());
    }

    @Test
    void aFailedBuildRunsNothing() throws Exception {
        touch("proxy/pom.xml", hourAgo.plus(1, ChronoUnit.MINUTES));
        Run run = launch(Map.of("FAKE_MVN_FAIL", "1"), "keygen");
        assertNotEquals(0, run.exit(), run.toString());
        assertEquals("", run.stdout(), "no key, no Maven output on stdout: " + run);
        assertTrue(run.stderr().contains("the build failed") && run.stderr().contains("COMPILATION ERROR"), run.toString());
    }

    @Test
    void withoutMavenStaleJarsRunWithAWarningAndMissingJarsStop() throws Exception {
        Map<String, String> noMaven = new HashMap<>();
        noMaven.put("GRAPEVINE_MVN", root.resolve("no-such-mvn").toString());
        touch("proxy/pom.xml", hourAgo.plus(1, ChronoUnit.MINUTES));
        Run stale = launch(noMaven, "keygen");
        assertOnlyAKey(stale);
        assertTrue(stale.stderr().contains("WARNING: proxy/pom.xml is newer than the jars, but Maven"), stale.toString());

        Files.delete(root.resolve("agent/target/grapevine-agent.jar"));
        Run missing = launch(noMaven, "keygen");
        assertEquals(1, missing.exit(), missing.toString());
        assertEquals("", missing.stdout());
        assertFalse(missing.stderr().isBlank());
    }

    @Test
    void theFirstStartMakesAClassDataSharingArchiveAndLaterStartsUseIt() throws Exception {
        Map<String, String> mains = Map.of("proxy", "io.grapevine.proxy.ProxyMain", "agent", "io.grapevine.agent.AgentOptions");
        for (String program : List.of("proxy", "agent")) {
            Run first = launch(program, "--version");
            assertEquals(0, first.exit(), first.toString());
            assertTrue(first.stderr().contains("class data sharing archive"), "says why this start takes longer: " + first);
            Path archive = archive(program);
            assertTrue(Files.size(archive) > 1_000_000, program + ": the warm-up recorded its classes: " + archive);
            FileTime made = Files.getLastModifiedTime(archive);

            Path loaded = root.resolve(program + "-classes.log");
            Run second = launch(Map.of("JAVA_TOOL_OPTIONS", "-Xlog:class+load=info:file=" + loaded), program, "--version");
            assertEquals(0, second.exit(), second.toString());
            assertFalse(second.stderr().contains("class data sharing archive"), "made once: " + second);
            assertEquals(made, Files.getLastModifiedTime(archive), program + ": a current archive is not made again");
            String main = mains.get(program) + " source: shared objects file (top)";
            assertTrue(Files.readString(loaded).contains(main), program + ": its classes come from the archive (" + main + ")");

            Path jar = root.resolve(program + "/target/grapevine-" + program + ".jar");
            Files.setLastModifiedTime(jar, FileTime.from(Instant.now()));
            Run newer = launch(program, "--version");
            assertEquals(0, newer.exit(), newer.toString());
            Path remade = archive(program); // one archive: the older jar's is gone
            assertNotEquals(archive, remade, program + ": a new jar gets an archive of its own");
            assertTrue(Files.size(remade) > 1_000_000, remade.toString());
        }
    }

    @Test
    void aFailedWarmUpLeavesAnEmptyArchiveAndStartsGoOnWithout() throws Exception {
        Path unshare = Path.of("/usr/bin/unshare");
        Assumptions.assumeTrue(Files.isExecutable(unshare)
                && new ProcessBuilder(unshare.toString(), "-n", "true").start().waitFor() == 0,
                "needs a network namespace of its own (unshare -n): without loopback the warm-up fails");
        Run failed = launchWith(List.of(unshare.toString(), "-n"), Map.of(), "proxy", "--version");
        assertEquals(0, failed.exit(), "the proxy starts without an archive: " + failed);
        Path archive = archive("proxy");
        assertEquals(0, Files.size(archive), "tried and failed: an empty archive");
        FileTime tried = Files.getLastModifiedTime(archive);

        Run again = launch("proxy", "--version");
        assertEquals(0, again.exit(), again.toString());
        assertEquals(tried, Files.getLastModifiedTime(archive("proxy")), "a failed warm-up is not retried until the jar changes");
        assertEquals(0, Files.size(archive("proxy")));
    }

    /**
     * scripts/grapevine.service, the unit operations.md shows as it is: its ExecStart, under the unit's
     * environment, is a proxy command line that passes {@code --check}, from jars older than the sources and
     * without a build; a reload is SIGHUP to the proxy, a stop SIGTERM with time for the default drain, and the
     * open-file limit covers both descriptors of every connection {@code max_connections} allows.
     */
    @Test
    void theSystemdUnitRunsAProxyCommandLineFromTheBuiltJars() throws Exception {
        Path repo = ChildProcess.repoRoot();
        String unit = Files.readString(repo.resolve("scripts/grapevine.service"));
        assertTrue(Files.readString(repo.resolve("docs/operations.md")).contains("```ini\n" + unit + "```\n"),
                "operations.md shows scripts/grapevine.service as it is");
        Map<String, List<String>> service = unitSection(unit, "Service");
        assertEquals(List.of("/bin/kill -HUP $MAINPID"), service.get("ExecReload"));
        assertEquals(List.of("SIGTERM"), service.get("KillSignal"));
        assertEquals(List.of("on-failure"), service.get("Restart"));
        assertEquals(List.of("SIGHUP"), service.get("RestartForceExitStatus"), "a SIGHUP before the JVM handles it");
        Timeouts timeouts = Timeouts.defaults();
        long stopMillis = Long.parseLong(service.get("TimeoutStopSec").get(0)) * 1000;
        long bound = timeouts.shutdownDelayMillis() + timeouts.shutdownGraceMillis() + StopBudget.STOP_MARGIN_MILLIS;
        assertTrue(stopMillis >= bound + 1000, "TimeoutStopSec (" + stopMillis + " ms) leaves the stop its bound, "
                + bound + " ms, and a second for the process to end");
        assertTrue(Long.parseLong(service.get("LimitNOFILE").get(0)) >= 2L * Limits.defaults().maxConnections() + 1000,
                "LimitNOFILE: " + service.get("LimitNOFILE"));

        // The unit's install directory and /etc/grapevine, in the scratch tree.
        List<String> execStart = List.of(service.get("ExecStart").get(0).trim().split("\\s+"));
        String home = service.get("WorkingDirectory").get(0);
        assertEquals(List.of(home + "/grapevine", "proxy"), execStart.subList(0, 2), execStart.toString());
        Path etc = Files.createDirectories(root.resolve("etc"));
        Files.writeString(etc.resolve("servers.conf"), "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 8001 } ] }\n");
        Run key = launch("keygen");
        assertOnlyAKey(key);
        Files.writeString(etc.resolve("cluster.key"), key.stdout());
        Files.setPosixFilePermissions(etc.resolve("cluster.key"), PosixFilePermissions.fromString("rw-------"));
        Files.copy(repo.resolve("templates/backends.mustache"), root.resolve("templates/backends.mustache"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        List<String> args = new ArrayList<>();
        for (String arg : execStart.subList(1, execStart.size())) {
            args.add(arg.replace("/etc/grapevine/", etc + "/"));
        }
        args.add("--check");
        Map<String, String> environment = new HashMap<>();
        for (String assignment : service.get("Environment")) {
            String[] nameValue = assignment.split("=", 2);
            environment.put(nameValue[0], nameValue[1]);
        }

        touch("pom.xml", Instant.now()); // sources newer than the jars: without the unit's environment, a build
        Run check = launch(environment, args.toArray(String[]::new));
        assertEquals(0, check.exit(), check.toString());
        assertTrue(check.stdout().startsWith("ok: " + etc + "/servers.conf: 1 server"), check.toString());
        assertEquals(List.of(), builds(), "the unit runs the jars as they are: " + check);
    }

    /** The settings of a section of a systemd unit, by name, in order (a line ending in "\\" goes on). */
    private static Map<String, List<String>> unitSection(String unit, String name) {
        Map<String, List<String>> settings = new HashMap<>();
        boolean inSection = false;
        for (String line : unit.replace("\\\n", " ").split("\n")) {
            if (line.startsWith("[")) {
                inSection = line.equals("[" + name + "]");
            } else if (inSection && !line.isBlank() && !line.startsWith("#") && !line.startsWith(";")) {
                int equals = line.indexOf('=');
                settings.computeIfAbsent(line.substring(0, equals).trim(), k -> new ArrayList<>())
                        .add(line.substring(equals + 1).trim());
            }
        }
        return settings;
    }

    /** The one archive the launcher made for {@code program}'s jar. */
    private Path archive(String program) throws IOException {
        try (var files = Files.list(root.resolve(program + "/target"))) {
            List<Path> archives = files.filter(p -> p.getFileName().toString().endsWith(".jsa")).toList();
            assertEquals(1, archives.size(), program + ": " + archives);
            return archives.get(0);
        }
    }
}
