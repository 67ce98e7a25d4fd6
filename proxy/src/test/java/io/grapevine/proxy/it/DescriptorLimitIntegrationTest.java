package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy as a process of its own (and its demo backend) run out of file descriptors: its open-files limit lowered
 * while it runs ({@code prlimit --pid}), or given low at its start ({@code prlimit --nofile=N:N --}, which the JVM
 * cannot raise).
 */
class DescriptorLimitIntegrationTest {

    private static final String GET = "GET / HTTP/1.1\r\nHost: fd\r\n\r\n";
    private static final String NETTY_TAIL_WARNING = "reached at the tail of the pipeline";

    @RegisterExtension
    final Resources resources = new Resources();

    @TempDir
    Path dir;

    private int port;
    private int adminPort;
    private ChildProcess proxy;

    /**
     * Starts the backend, then the proxy, {@code prefix} before its command (a {@code prlimit}), with
     * {@code limitsJson} as servers.conf's {@code limits}.
     */
    private void start(List<String> prefix, String limitsJson) throws IOException, InterruptedException {
        int backendPort = Ports.free();
        ChildProcess backend = resources.keep(ChildProcess.launcher(dir, "backend", "backend", "--port",
                Integer.toString(backendPort)));
        Path conf = Files.writeString(dir.resolve("servers.conf"), "{ \"health_check\": {\"enabled\": false}, "
                + "\"limits\": " + limitsJson + ", \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": "
                + backendPort + " } ] }\n");
        port = Ports.free();
        adminPort = Ports.free();
        if (prefix.isEmpty()) {
            proxy = resources.keep(ChildProcess.proxy(dir, "proxy", "--servers", conf.toString(),
                    "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort, "--no-gossip"));
        } else {
            // The launcher records its class data archive at the first start after a build: not under this limit.
            ChildProcess version = resources.keep(ChildProcess.proxy(dir, "proxy-version", "--version"));
            assertTrue(version.waitFor(180) >= 0, version.tail());
            List<String> command = new ArrayList<>(prefix);
            command.addAll(List.of(ChildProcess.repoRoot().resolve("grapevine").toString(), "proxy", "--servers",
                    conf.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort,
                    "--no-gossip"));
            proxy = resources.keep(ChildProcess.start(dir, "proxy", command, Map.of()));
        }
        Await.until(Duration.ofSeconds(60), "the backend and the proxy listening",
                () -> backend.log().contains("listening on 127.0.0.1:" + backendPort + " ")
                        && proxy.log().contains("grapevine proxy listening on"),
                () -> backend.tail() + "\n" + proxy.tail());
    }

    private InetSocketAddress listen() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    private JsonNode proxyStats() {
        return new Admin(new InetSocketAddress("127.0.0.1", adminPort)).json("/stats.json").get("proxy");
    }

    private long openFiles() {
        try (var fds = Files.list(Path.of("/proc", Long.toString(proxy.pid()), "fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void prlimit(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("prlimit"));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "prlimit did not end");
        assertEquals(0, p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    /**
     * The limit lowered to a few descriptors above those open, then 80 connections held: accepting fails with
     * EMFILE. The log says so once, with the limit and what to do, and not by Netty's stack trace at the pipeline's
     * tail; once the held connections close, a new connection is served within two seconds, the log says accepting
     * works again, and {@code accept_failures} counts the failures in {@code /stats.json} and {@code /metrics}.
     */
    @Test
    void acceptingOutOfDescriptorsPausesWithOneWarningAndResumesWhenDescriptorsComeFree() throws Exception {
        start(List.of(), "{}");
        try (RawHttpClient warm = RawHttpClient.connect(listen())) {
            assertEquals(200, warm.send(GET).read().status()); // the first request's classes, loaded before the limit
        }
        long limit = openFiles() + 20;
        prlimit("--pid", Long.toString(proxy.pid()), "--nofile=" + limit + ":" + limit);
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 80; i++) {
                Socket s = new Socket();
                // The kernel completes it, accepted or not. No request: the backend's connects are not tested here.
                s.connect(listen(), 5000);
                held.add(s);
            }
            Await.until(Duration.ofSeconds(10), "the accept failure logged",
                    () -> proxy.log().contains("out of file descriptors"), proxy::tail);
            Await.holds(Duration.ofMillis(1500), "no second warning within the episode",
                    () -> count(proxy.log(), "accept failed, out of file descriptors") == 1, proxy::tail);
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
        long start = System.nanoTime();
        try (Socket s = new Socket()) {
            s.setSoTimeout(2000);
            s.connect(listen(), 2000);
            s.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
            byte[] head = new byte[12];
            int n = s.getInputStream().readNBytes(head, 0, head.length);
            assertEquals("HTTP/1.1 200", new String(head, 0, n, StandardCharsets.US_ASCII), proxy.tail());
        }
        long servedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        Await.until(Duration.ofSeconds(5), "accepting again logged",
                () -> proxy.log().contains("accepting again after"), proxy::tail);

        String log = proxy.log();
        assertTrue(servedMillis < 2000, "served " + servedMillis + " ms after the held connections closed");
        assertEquals(1, count(log, "accept failed, out of file descriptors"), log);
        assertTrue(log.contains(" of a limit of " + limit + " open"), log);
        assertTrue(log.contains("wait in the kernel's backlog") && log.contains("LimitNOFILE, ulimit -n")
                && log.contains("limits.max_connections"), log);
        assertFalse(log.contains(NETTY_TAIL_WARNING), log);
        assertFalse(log.contains("Too many open files\n\tat "), "a stack trace: " + log);
        Matcher ended = Pattern.compile("accepting again after \\d+ ms out of file descriptors, (\\d+) accept failures")
                .matcher(log);
        assertTrue(ended.find(), log);
        long failures = proxyStats().get("accept_failures").asLong();
        assertTrue(failures >= Long.parseLong(ended.group(1)) && failures > 0, "accept_failures " + failures);
        String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + adminPort + "/metrics")).build(), BodyHandlers.ofString()).body();
        Matcher metric = Pattern.compile("\ngrapevine_accept_failures_total (\\d+)\n").matcher(metrics);
        assertTrue(metric.find(), metrics);
        assertTrue(Long.parseLong(metric.group(1)) >= failures, metric.group());
    }

    /**
     * Started under a limit of 400 with {@code max_connections} 1000: one WARN says that 1000 needs more and how many
     * are served; {@code connections_limit} is that number; that many connections are served, the next one is
     * closed at once, and those established go on working.
     */
    @Test
    void aLimitTooLowForMaxConnectionsAtStartCapsTheConnectionsServed() throws Exception {
        int limit = 400;
        start(List.of("prlimit", "--nofile=" + limit + ":" + limit, "--"), "{\"max_connections\": 1000}");
        long openNow = openFiles();
        Matcher warning = Pattern.compile("limits.max_connections 1000 needs an open-files limit of (\\d+) .* but the"
                + " limit is " + limit + ": at most (\\d+) client connections are served at once").matcher(proxy.log());
        assertTrue(warning.find(), proxy.log());
        int effective = Integer.parseInt(warning.group(2));
        assertTrue(Long.parseLong(warning.group(1)) > limit, warning.group());
        assertEquals(effective, proxyStats().get("connections_limit").asInt());
        assertTrue(effective >= 1 && effective < 1000, warning.group());
        assertTrue(Math.abs(effective - (limit - openNow - 128) / 2) <= 8,
                effective + " served, with " + openNow + " open under " + limit);

        List<RawHttpClient> open = new ArrayList<>();
        for (int i = 0; i < effective; i++) {
            RawHttpClient c = resources.keep(RawHttpClient.connect(listen()));
            assertEquals(200, c.send(GET).read().status(), "connection " + i + " of " + effective);
            open.add(c);
        }
        Await.until(Duration.ofSeconds(5), "all of them counted",
                () -> proxyStats().get("connections_current").asInt() == effective);
        long refusedBefore = proxyStats().get("connections_refused").asLong();
        for (int i = 0; i < 5; i++) {
            long micros = refusal();
            assertTrue(micros >= 0, "connection " + i + " over the cap was answered");
            assertTrue(micros < 1_000_000, "a refusal took " + micros + " us");
        }
        assertEquals(refusedBefore + 5, proxyStats().get("connections_refused").asLong());
        for (RawHttpClient c : open) {
            assertEquals(200, c.send(GET).read().status());
        }
        assertFalse(proxy.log().contains(NETTY_TAIL_WARNING), proxy.log());
    }

    /** Microseconds from the connect to the proxy's close, or -1 if the request got an answer or was held open. */
    private long refusal() throws IOException {
        long start = System.nanoTime();
        try (Socket s = new Socket()) {
            s.setSoTimeout(5000);
            s.connect(listen(), 5000);
            try {
                s.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
                if (s.getInputStream().read() >= 0) {
                    return -1;
                }
            } catch (SocketTimeoutException e) {
                return -1;
            } catch (SocketException e) {
                // reset: refused too
            }
        }
        return (System.nanoTime() - start) / 1000;
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + 1)) {
            n++;
        }
        return n;
    }
}
