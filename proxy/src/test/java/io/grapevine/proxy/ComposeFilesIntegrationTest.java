package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.testing.ChildProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * docker-compose.yml and the Dockerfiles, checked without a Docker engine: the jars they copy are the
 * ones the build makes, every flag they pass is one the agent or the proxy knows, and the settings that
 * make a multi-host cluster work are there. {@code docker-compose config} validates the file where it is
 * installed ({@code scripts/check-compose.sh} installs it, for CI).
 */
class ComposeFilesIntegrationTest {

    private static final Pattern FLAG = Pattern.compile("--[a-z][a-z-]*");

    @TempDir
    Path dir;

    private static String read(String relative) throws IOException {
        return Files.readString(ChildProcess.repoRoot().resolve(relative));
    }

    private static String entrypoint(String dockerfile) {
        return dockerfile.lines().filter(l -> l.startsWith("ENTRYPOINT")).findFirst().orElseThrow();
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

    private static void checkImage(String dockerfileName, Path jar) throws Exception {
        String dockerfile = read(dockerfileName);
        String relativeJar = ChildProcess.repoRoot().relativize(jar).toString();
        assertTrue(dockerfile.contains("\nCOPY " + relativeJar + " /opt/grapevine/" + jar.getFileName()), dockerfileName
                + " copies " + relativeJar);
        String entry = entrypoint(dockerfile);
        assertTrue(entry.contains("-jar /opt/grapevine/" + jar.getFileName()), entry);
        Set<String> used = flags(entry);
        String help = help(jar);
        List<String> unknown = new ArrayList<>();
        for (String flag : used) {
            if (!flags(help).contains(flag)) {
                unknown.add(flag);
            }
        }
        assertEquals(List.of(), unknown, dockerfileName + " passes flags " + jar.getFileName() + " does not know; its --help:\n" + help);
        assertTrue(used.contains("--cluster-key") && entry.contains("/run/secrets/cluster_key"), "the key comes from the secret: " + entry);
        assertTrue(used.contains("--advertise") && entry.contains("hostname -i"), "advertises its container address: " + entry);
        assertTrue(entry.contains("exec java"), "java replaces the shell, so docker stop's SIGTERM reaches it: " + entry);
    }

    @Test
    void dockerfilesCopyTheBuiltJarsAndPassOnlyKnownFlags() throws Exception {
        checkImage("docker/proxy.Dockerfile", ChildProcess.proxyJar());
        checkImage("docker/web.Dockerfile", ChildProcess.agentJar());

        String proxy = entrypoint(read("docker/proxy.Dockerfile"));
        assertTrue(proxy.contains("--listen 0.0.0.0:9000") && proxy.contains("--gossip 7946"), proxy);
        String web = read("docker/web.Dockerfile");
        assertTrue(entrypoint(web).contains("--demo") && web.contains("GRAPEVINE_JOIN=proxy:7946"), web);
        assertTrue(read("docker/proxy.Dockerfile").contains("COPY docker/servers.conf /etc/grapevine/servers.conf"));
        ConfigLoader.load(ChildProcess.repoRoot().resolve("docker/servers.conf"));
        String ignore = read(".dockerignore");
        for (String kept : List.of("!proxy/target/grapevine-proxy.jar", "!agent/target/grapevine-agent.jar", "!templates/", "!docker/")) {
            assertTrue(ignore.contains(kept), ".dockerignore keeps " + kept);
        }
    }

    @Test
    void composeFileDeclaresTheProxyAndAScalableDrainableWebService() throws Exception {
        String compose = read("docker-compose.yml");
        assertTrue(compose.contains("dockerfile: docker/proxy.Dockerfile") && compose.contains("dockerfile: docker/web.Dockerfile"), compose);
        assertTrue(compose.contains("GRAPEVINE_JOIN: \"proxy:7946\""), "agents join the proxy by its service name");
        assertTrue(compose.contains("file: ./cluster.key"), "the key is a compose secret");
        String web = compose.substring(compose.indexOf("\n  web:"), compose.indexOf("\nsecrets:"));
        assertTrue(web.contains("stop_grace_period: 15s"), "web stops gracefully: drain 5 s + leave before SIGKILL: " + web);
        assertFalse(web.contains("ports:"), "web publishes no port, so it can scale: " + web);

        Path docker = List.of("/usr/bin/docker-compose", "/usr/local/bin/docker-compose").stream().map(Path::of)
                .filter(Files::isExecutable).findFirst().orElse(null);
        Assumptions.assumeTrue(docker != null, "docker-compose is not installed here, so 'docker-compose config' did not validate "
                + "docker-compose.yml (scripts/check-compose.sh installs Debian's package and runs it; CI does)");
        Files.copy(ChildProcess.repoRoot().resolve("docker-compose.yml"), dir.resolve("docker-compose.yml"));
        Files.writeString(dir.resolve("cluster.key"), "not used by 'config'\n");
        Process config = new ProcessBuilder(docker.toString(), "-f", "docker-compose.yml", "config", "--services")
                .directory(dir.toFile()).redirectErrorStream(true).start();
        String said = new String(config.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(config.waitFor(60, TimeUnit.SECONDS), "docker-compose config did not finish");
        assertEquals(0, config.exitValue(), "docker-compose config refused docker-compose.yml:\n" + said);
        assertEquals(List.of("proxy", "web"), said.lines().filter(l -> !l.isBlank()).sorted().toList(), said);
    }
}
