package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * docker-compose.yml and docker/Dockerfile, checked without a Docker engine (none runs here): the
 * Dockerfile builds the jars from source in a Maven + JDK 17 stage and runs them on a JRE 17 as an
 * unprivileged user; the paths it copies exist in the build context and are the ones the build makes;
 * every flag it passes is one the agent or the proxy knows; the proxy image's HEALTHCHECK works against
 * a real admin listener; compose makes the cluster key itself. {@code docker-compose config} validates
 * the compose file where it is installed ({@code scripts/check-compose.sh} and CI install it).
 */
class ComposeFilesIntegrationTest {

    private static final Pattern FLAG = Pattern.compile("--[a-z][a-z-]*");
    private static final String KEY_DIR = "/var/lib/grapevine/keys";

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    /** One stage of a multi-stage Dockerfile: FROM image [AS name], then its instructions (continuations joined). */
    private record Stage(String name, String from, List<String> instructions) {
        List<String> all(String keyword) {
            return instructions.stream().filter(i -> i.startsWith(keyword + " ")).toList();
        }

        String last(String keyword) {
            List<String> found = all(keyword);
            return found.isEmpty() ? null : found.get(found.size() - 1);
        }
    }

    private static String read(String relative) throws IOException {
        return Files.readString(ChildProcess.repoRoot().resolve(relative));
    }

    private static Map<String, Stage> stages(String dockerfile) {
        List<String> lines = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String raw : dockerfile.split("\n")) {
            String line = raw.strip();
            if (current.isEmpty() && (line.isEmpty() || line.startsWith("#"))) {
                continue;
            }
            if (line.endsWith("\\")) {
                current.append(line, 0, line.length() - 1).append(' ');
            } else {
                lines.add(current.append(line).toString().replaceAll("\\s+", " "));
                current.setLength(0);
            }
        }
        Map<String, Stage> stages = new LinkedHashMap<>();
        Stage stage = null;
        for (String line : lines) {
            Matcher from = Pattern.compile("FROM (\\S+)(?: AS (\\S+))?").matcher(line);
            if (from.matches()) {
                String name = from.group(2) == null ? "stage" + stages.size() : from.group(2);
                stage = new Stage(name, from.group(1), new ArrayList<>());
                stages.put(name, stage);
            } else if (stage != null) {
                stage.instructions().add(line);
            }
        }
        return stages;
    }

    /** The instructions in force in a stage: its own, after those of the stages it is built FROM. */
    private static List<String> effective(Map<String, Stage> stages, String name) {
        Stage stage = stages.get(name);
        List<String> all = new ArrayList<>();
        if (stages.containsKey(stage.from())) {
            all.addAll(effective(stages, stage.from()));
        }
        all.addAll(stage.instructions());
        return all;
    }

    private static String baseImage(Map<String, Stage> stages, String name) {
        Stage stage = stages.get(name);
        return stages.containsKey(stage.from()) ? baseImage(stages, stage.from()) : stage.from();
    }

    private static Set<String> flags(String text) {
        Set<String> flags = new TreeSet<>();
        Matcher m = FLAG.matcher(text);
        while (m.find()) {
            flags.add(m.group());
        }
        return flags;
    }

    private static String help(Path jar) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
                jar.toString(), "--help").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, jar + " --help: " + out);
        return out;
    }

    private static Map<String, Stage> dockerfile() throws IOException {
        return stages(read("docker/Dockerfile"));
    }

    @Test
    void theJarsAreBuiltFromSourceInAMavenJdk17Stage() throws Exception {
        Map<String, Stage> stages = dockerfile();
        Stage build = stages.get("build");
        assertNotNull(build, "a stage named build: " + stages.keySet());
        assertTrue(build.from().matches("maven:3\\.[0-9.]+-eclipse-temurin-17"), "Maven on a JDK 17: " + build.from());
        String run = build.last("RUN");
        assertTrue(run.contains("mvn ") && run.contains(" package"), run);
        assertFalse(run.contains("maven.test.skip"), "the proxy module needs the agent's test jar: " + run);
        // The build stage copies the poms and the sources of every module, and the templates the proxy jar embeds.
        List<String> copied = build.all("COPY").stream().map(c -> c.split(" ")[1]).toList();
        for (String needed : List.of("pom.xml", "cluster/", "agent/", "proxy/", "templates/")) {
            assertTrue(copied.contains(needed), "build stage copies " + needed + ": " + copied);
        }
        for (String module : List.of("cluster", "agent", "proxy")) {
            assertTrue(read("pom.xml").contains("<module>" + module + "</module>"), "the build copies exactly the modules: " + module);
        }
    }

    @Test
    void theImagesRunTheBuiltJarsOnAJre17AsAnUnprivilegedUser() throws Exception {
        Map<String, Stage> stages = dockerfile();
        Map<String, Path> jars = Map.of("proxy", ChildProcess.proxyJar(), "web", ChildProcess.agentJar());
        for (Map.Entry<String, Path> image : jars.entrySet()) {
            String name = image.getKey();
            assertTrue(stages.containsKey(name), "a stage named " + name + ": " + stages.keySet());
            assertTrue(baseImage(stages, name).matches("eclipse-temurin:17-jre(-\\w+)?"), name + " runs on a JRE 17: " + baseImage(stages, name));
            List<String> in = effective(stages, name);

            String user = in.stream().filter(i -> i.startsWith("USER ")).reduce((a, b) -> b).orElse(null);
            assertNotNull(user, name + " sets USER");
            String uid = user.substring(5).split(":")[0];
            assertTrue(uid.matches("[1-9][0-9]*"), name + " runs as a numeric non-root uid (Kubernetes runAsNonRoot can check it): " + user);
            assertTrue(in.stream().anyMatch(i -> i.startsWith("RUN ") && i.contains("useradd") && i.contains("--uid " + uid)),
                    "the uid " + uid + " is a user of the image");

            Path jar = image.getValue();
            String relativeJar = ChildProcess.repoRoot().relativize(jar).toString();
            String copy = "COPY --from=build /src/" + relativeJar + " /opt/grapevine/" + jar.getFileName();
            assertTrue(in.contains(copy), name + ": " + copy + " (the path the build stage makes)");

            String entry = stages.get(name).last("ENTRYPOINT");
            assertNotNull(entry, name + " has an ENTRYPOINT");
            assertTrue(entry.contains("-jar /opt/grapevine/" + jar.getFileName()), entry);
            assertTrue(entry.contains("exec java"), "java replaces the shell, so docker stop's SIGTERM reaches it: " + entry);
            assertTrue(entry.contains("--advertise") && entry.contains("hostname -i"), "advertises its container address: " + entry);
            assertTrue(entry.contains("--cluster-key \\\"$GRAPEVINE_CLUSTER_KEY_FILE\\\""), "reads the cluster key: " + entry);
            assertTrue(in.contains("ENV GRAPEVINE_CLUSTER_KEY_FILE=" + KEY_DIR + "/cluster.key"), "the key is in the key volume");

            Set<String> unknown = new TreeSet<>(flags(entry));
            unknown.removeAll(flags(help(jar)));
            assertEquals(Set.of(), unknown, name + " passes flags " + jar.getFileName() + " does not know");
        }
        String proxy = stages.get("proxy").last("ENTRYPOINT");
        assertTrue(proxy.contains("--listen 0.0.0.0:9000") && proxy.contains("--gossip 7946"), proxy);
        assertTrue(proxy.contains("--admin 0.0.0.0:$GRAPEVINE_ADMIN_PORT"), proxy);
        assertTrue(effective(stages, "web").contains("ENV GRAPEVINE_JOIN=proxy:7946 GRAPEVINE_SERVICE=web GRAPEVINE_PORT=8080 GRAPEVINE_DRAIN_SECONDS=5"));
        assertTrue(stages.get("web").last("ENTRYPOINT").contains("--demo"));
        assertTrue(stages.get("runtime").instructions().stream().anyMatch(i -> i.contains("chown grapevine:grapevine " + KEY_DIR)),
                "the key directory belongs to the user, so a new volume there is writable by keygen");
    }

    @Test
    void theImagesRunWithTheLaunchersJvmOptionsAndAClassDataSharingArchive() throws Exception {
        Map<String, Stage> stages = dockerfile();
        String launcher = read("grapevine");
        Map<String, String> defaults = Map.of("proxy", "DEFAULT_JVM_OPTS", "web", "DEFAULT_AGENT_JVM_OPTS");
        Map<String, String> warmups = Map.of("proxy", "io.grapevine.proxy.ProxyWarmup", "web", "io.grapevine.agent.AgentWarmup");
        for (String name : List.of("proxy", "web")) {
            Matcher m = Pattern.compile("(?m)^" + defaults.get(name) + "=\"([^\"]*)\"$")
                    .matcher(launcher);
            assertTrue(m.find(), defaults.get(name) + " in ./grapevine");
            List<String> env = stages.get(name).all("ENV").stream().map(e -> e.substring(4))
                    .filter(e -> e.startsWith("GRAPEVINE_JVM_OPTS=")).toList();
            assertFalse(env.isEmpty(), name + " sets GRAPEVINE_JVM_OPTS");
            assertEquals("GRAPEVINE_JVM_OPTS=\"" + m.group(1) + "\"", env.get(0), name + ": the launcher's options");
            String jar = "/opt/grapevine/grapevine-" + (name.equals("web") ? "agent" : "proxy");
            assertTrue(stages.get(name).all("RUN").stream().anyMatch(r -> r.contains("-XX:ArchiveClassesAtExit=" + jar + ".jsa")
                    && r.contains("-cp " + jar + ".jar " + warmups.get(name))), name + " records its archive with its warm-up");
            assertTrue(env.get(env.size() - 1).contains("-XX:SharedArchiveFile=" + jar + ".jsa"), name + " maps it: " + env);
        }
    }

    @Test
    void everythingTheDockerfileCopiesIsInTheBuildContext() throws Exception {
        List<String> ignore = read(".dockerignore").lines().map(String::strip)
                .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        assertEquals("*", ignore.get(0), "the context is an allow-list: " + ignore);
        assertTrue(ignore.contains("**/target/"), "no local build output (target/) goes into the context: " + ignore);
        for (Stage stage : dockerfile().values()) {
            for (String copy : stage.all("COPY")) {
                if (copy.contains("--from=")) {
                    continue;
                }
                String[] words = copy.replaceAll("--chmod=\\S+ ", "").split(" ");
                String source = words[1];
                assertTrue(Files.exists(ChildProcess.repoRoot().resolve(source)), copy + ": " + source + " is not in the repository");
                String top = source.contains("/") ? source.substring(0, source.indexOf('/') + 1) : source;
                assertTrue(ignore.contains("!" + top) || ignore.contains("!" + source), copy + ": .dockerignore keeps " + top + " out");
            }
        }
        assertTrue(read("docker/Dockerfile").contains("COPY docker/servers.conf /etc/grapevine/servers.conf"));
        ConfigLoader.load(ChildProcess.repoRoot().resolve("docker/servers.conf"));
    }

    @Test
    void theProxyHealthcheckAsksTheAdminListener() throws Exception {
        Stage proxy = dockerfile().get("proxy");
        String healthcheck = proxy.last("HEALTHCHECK");
        assertNotNull(healthcheck, "the proxy image has a HEALTHCHECK");
        assertTrue(healthcheck.contains("CMD [\"/opt/grapevine/healthcheck.sh\"]"), healthcheck);
        assertTrue(proxy.instructions().contains("COPY --chmod=755 docker/healthcheck.sh /opt/grapevine/healthcheck.sh"));
        assertTrue(proxy.instructions().contains("ENV GRAPEVINE_ADMIN_PORT=9001"), "the port the script asks is the admin port");

        Path script = ChildProcess.repoRoot().resolve("docker/healthcheck.sh");
        ProxyUnderTest running = resources.keep(ProxyUnderTest.in(dir).noGossip().start());
        int admin = running.instance().server().adminAddress().getPort();
        // Each listener answers once first: the script waits 2 s for the status line, which a proxy in this JVM
        // answering its first request (code not yet compiled) beside another test JVM could overrun.
        try (HttpConnection warm = new HttpConnection(running.instance().server().adminAddress(), 30_000)) {
            assertEquals(200, warm.get("/health").status());
        }
        try (HttpConnection warm = new HttpConnection(running.listen(), 30_000)) {
            assertEquals(503, warm.get("/health").status());
        }
        assertEquals(0, healthcheck(script, admin), "healthy: the admin listener answers /health with 200");
        // The public listener with no backend answers /health with a 503: the script must see that as unhealthy.
        assertEquals(1, healthcheck(script, running.listen().getPort()), "a 503 is unhealthy");
        int closed;
        try (ServerSocket s = new ServerSocket(0)) {
            closed = s.getLocalPort();
        }
        assertNotEquals(0, healthcheck(script, closed), "nothing listening is unhealthy");
    }

    private static int healthcheck(Path script, int port) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(script.toString()).redirectErrorStream(true);
        pb.environment().put("GRAPEVINE_ADMIN_PORT", Integer.toString(port));
        Process p = pb.start();
        p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "healthcheck.sh did not finish");
        return p.exitValue();
    }

    @Test
    void composeMakesTheKeyAndDeclaresTheProxyAndAScalableDrainableWebService() throws Exception {
        String compose = read("docker-compose.yml");
        assertFalse(compose.contains("./cluster.key"), "no key file is needed on the host");
        String keygen = compose.substring(compose.indexOf("\n  keygen:"), compose.indexOf("\n  proxy:"));
        assertTrue(keygen.contains("head -c 32 /dev/urandom | base64"), "a 32-byte base64 key, made in a container: " + keygen);
        assertTrue(keygen.contains("- cluster-key:" + KEY_DIR + "\n"), keygen);
        assertTrue(keygen.contains("umask 077"), "the key file is readable by its owner only: " + keygen);
        String proxy = compose.substring(compose.indexOf("\n  proxy:"), compose.indexOf("\n  web:"));
        String web = compose.substring(compose.indexOf("\n  web:"), compose.indexOf("\nvolumes:"));
        for (String service : List.of(proxy, web)) {
            assertTrue(service.contains("keygen:\n        condition: service_completed_successfully"), "starts after the key exists: " + service);
            assertTrue(service.contains("- cluster-key:" + KEY_DIR + ":ro"), "reads the key volume: " + service);
            assertTrue(service.contains("dockerfile: docker/Dockerfile"), service);
        }
        assertTrue(proxy.contains("target: proxy") && web.contains("target: web"));
        assertTrue(web.contains("GRAPEVINE_JOIN: \"proxy:7946\""), "agents join the proxy by its service name");
        // The agent's stop is bounded by --drain-seconds + 12 s (operations.md): 17 s for the image's 5 s drain.
        assertTrue(web.contains("stop_grace_period: 20s"),
                "web stops gracefully: drain 5 s, leave and exit (17 s at most) before SIGKILL: " + web);
        assertFalse(web.contains("ports:"), "web publishes no port, so it can scale: " + web);
        assertTrue(proxy.contains("\"127.0.0.1:9001:9001\""), "the admin port is published on the host's loopback only");

        Path docker = List.of("/usr/bin/docker-compose", "/usr/local/bin/docker-compose").stream().map(Path::of)
                .filter(Files::isExecutable).findFirst().orElse(null);
        Assumptions.assumeTrue(docker != null, "docker-compose is not installed here, so 'docker-compose config' did not validate "
                + "docker-compose.yml (scripts/check-compose.sh installs Debian's package and runs it; CI does)");
        Files.copy(ChildProcess.repoRoot().resolve("docker-compose.yml"), dir.resolve("docker-compose.yml"));
        Process config = new ProcessBuilder(docker.toString(), "-f", "docker-compose.yml", "config", "--services")
                .directory(dir.toFile()).redirectErrorStream(true).start();
        String said = new String(config.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(config.waitFor(60, TimeUnit.SECONDS), "docker-compose config did not finish");
        assertEquals(0, config.exitValue(), "docker-compose config refused docker-compose.yml:\n" + said);
        assertEquals(List.of("keygen", "proxy", "web"), said.lines().filter(l -> !l.isBlank()).sorted().toList(), said);
    }
}
