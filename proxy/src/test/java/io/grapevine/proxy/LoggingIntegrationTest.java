package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.LogProbe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The log configuration the proxy and agent jars carry: one file for both; standard error only; ISO 8601
 * timestamps with date and zone; GRAPEVINE_LOG_LEVEL; GRAPEVINE_LOG_FORMAT=json for logback's JSON
 * lines. Each case runs {@link LogProbe} in a fresh JVM on the jar's class path (and nothing of the test
 * class path, whose logback-test.xml would win), so the jar's own logback.xml formats the lines.
 */
class LoggingIntegrationTest {

    private static final Pattern TEXT_LINE = Pattern.compile(
            "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}(Z|[+-]\\d{2}:\\d{2}) (TRACE|DEBUG|INFO |WARN |ERROR) \\[main\\] LogProbe: .*");

    @TempDir
    Path dir;

    private record Run(String stdout, String stderr) {
        List<String> lines() {
            return stderr.lines().filter(l -> !l.isBlank()).toList();
        }

        @Override
        public String toString() {
            return "--- stdout:\n" + stdout + "\n--- stderr:\n" + stderr;
        }
    }

    private Run probe(Path jar, Map<String, String> env) throws Exception {
        Path classes = dir.resolve("probe");
        Path probe = classes.resolve(LogProbe.class.getName().replace('.', '/') + ".class");
        if (!Files.exists(probe)) {
            Files.createDirectories(probe.getParent());
            try (var in = LogProbe.class.getResourceAsStream(LogProbe.class.getSimpleName() + ".class")) {
                Files.copy(in, probe);
            }
        }
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", jar + ":" + classes, LogProbe.class.getName())
                .redirectOutput(dir.resolve("out").toFile()).redirectError(dir.resolve("err").toFile());
        pb.environment().remove("GRAPEVINE_LOG_LEVEL");
        pb.environment().remove("GRAPEVINE_LOG_FORMAT");
        pb.environment().putAll(env);
        Process p = pb.start();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "probe did not finish");
        Run run = new Run(Files.readString(dir.resolve("out")), Files.readString(dir.resolve("err")));
        assertEquals(0, p.exitValue(), run.toString());
        return run;
    }

    private static List<Path> jars() {
        return List.of(ChildProcess.proxyJar(), ChildProcess.agentJar());
    }

    @Test
    void bothJarsCarryTheSameLogConfiguration() throws Exception {
        List<byte[]> configs = new ArrayList<>();
        for (Path jar : jars()) {
            try (JarFile file = new JarFile(jar.toFile())) {
                assertTrue(file.getEntry("logback.xml") != null, jar + " has logback.xml");
                assertTrue(file.getEntry("logback-test.xml") == null, jar + " carries no test configuration");
                configs.add(file.getInputStream(file.getEntry("logback.xml")).readAllBytes());
            }
        }
        assertEquals(new String(configs.get(0)), new String(configs.get(1)));
        assertEquals(Files.readString(ChildProcess.repoRoot().resolve("cluster/src/main/resources/logback.xml")), new String(configs.get(0)));
    }

    @Test
    void textLinesGoToStderrWithDateAndZone() throws Exception {
        for (Path jar : jars()) {
            Run run = probe(jar, Map.of("TZ", "Asia/Kolkata"));
            assertEquals("", run.stdout(), jar + ": nothing on stdout");
            List<String> lines = run.lines();
            assertTrue(lines.get(0).matches(TEXT_LINE.pattern()), jar + ": " + run);
            assertTrue(lines.get(0).contains("+05:30 INFO  [main] LogProbe: probe info with an argument"), jar + ": the zone offset: " + run);
            assertTrue(lines.get(1).contains(" WARN  [main] LogProbe: probe warn \"quoted\""), run.toString());
            assertTrue(lines.get(2).startsWith("java.lang.IllegalStateException: probe failure"), "the stack trace follows: " + run);
            assertFalse(run.stderr().contains("probe debug"), "INFO by default: " + run);
            assertFalse(run.stderr().contains("netty info"), "libraries log from WARN: " + run);
            assertFalse(run.stderr().contains("|-INFO in ch.qos.logback"), "logback's own status stays quiet: " + run);
        }
    }

    @Test
    void grapevineLogLevelWorksForBoth() throws Exception {
        for (Path jar : jars()) {
            Run debug = probe(jar, Map.of("GRAPEVINE_LOG_LEVEL", "DEBUG"));
            assertTrue(debug.lines().get(0).matches(TEXT_LINE.pattern()) && debug.lines().get(0).endsWith("DEBUG [main] LogProbe: probe debug"),
                    jar + ": " + debug);
            Run warn = probe(jar, Map.of("GRAPEVINE_LOG_LEVEL", "WARN"));
            assertFalse(warn.stderr().contains("probe info"), jar + ": " + warn);
            assertTrue(warn.stderr().contains("probe warn"), jar + ": " + warn);
        }
    }

    @Test
    void jsonLinesWithGrapevineLogFormat() throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (Path jar : jars()) {
            Run run = probe(jar, Map.of("GRAPEVINE_LOG_FORMAT", "json"));
            assertEquals("", run.stdout());
            List<JsonNode> lines = new ArrayList<>();
            for (String line : run.lines()) {
                lines.add(json.readTree(line)); // every line is one JSON object
            }
            assertEquals(2, lines.size(), jar + ": one line per event, the stack trace inside: " + run);
            JsonNode info = lines.get(0);
            assertEquals("INFO", info.path("level").asText(), info.toString());
            assertEquals("io.grapevine.probe.LogProbe", info.path("loggerName").asText());
            assertEquals("probe info with an argument", info.path("formattedMessage").asText());
            assertEquals("main", info.path("threadName").asText());
            assertTrue(Math.abs(info.path("timestamp").asLong() - System.currentTimeMillis()) < 60_000, info.toString());
            JsonNode warn = lines.get(1);
            assertEquals("probe warn \"quoted\"", warn.path("formattedMessage").asText());
            assertEquals("java.lang.IllegalStateException", warn.path("throwable").path("className").asText(), warn.toString());
        }
    }
}
