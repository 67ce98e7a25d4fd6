package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.net.Transport;
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
 * The proxy as a process of its own (and its demo backend) under a low open-files limit, given at its start
 * ({@code prlimit --nofile=N:N --}: soft and hard alike, which the JVM cannot raise).
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
     * Starts the backend, then the proxy under {@code limit} open files, with {@code limitsJson} as its limits and
     * {@code extraArgs} on its command line.
     */
    private void start(int limit, String limitsJson, String... extraArgs) throws IOException, InterruptedException {
        int backendPort = Ports.free();
        ChildProcess backend = resources.keep(ChildProcess.launcher(dir, "backend", "backend", "--port",
                Integer.toString(backendPort)));
        Path conf = Files.writeString(dir.resolve("servers.conf"), "{ \"health_check\": {\"enabled\": false}, "
                + "\"limits\": " + limitsJson + ", \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": "
                + backendPort + " } ] }\n");
        port = Ports.free();
        adminPort = Ports.free();
        // The launcher records its class data archive at the first start after a build: not under this limit.
        ChildProcess version = resources.keep(ChildProcess.proxy(dir, "proxy-version", "--version"));
        assertTrue(version.waitFor(180) >= 0, version.tail());
        List<String> command = new ArrayList<>(List.of("prlimit", "--nofile=" + limit + ":" + limit, "--"));
        command.addAll(List.of(ChildProcess.repoRoot().resolve("grapevine").toString(), "proxy", "--servers",
                conf.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort, "--no-gossip"));
        command.addAll(List.of(extraArgs));
        proxy = resources.keep(ChildProcess.start(dir, "proxy", command, Map.of()));
        ChildProcess.awaitBackendAndProxy(backend, backendPort, proxy);
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

    /**
     * Started under a limit of 200, the proxy runs out of descriptors when 200 admin connections are held (the admin
     * listener's own cap is 256; the reserve kept beside client connections, 128): the admin listener's accepts fail,
     * then the client listener's, for clients that connect meanwhile. Each listener says so once, with the limit and
     * what to do, and not by Netty's stack trace at the pipeline's tail; once the admin connections close, the waiting
     * clients are served within two seconds, each listener says accepting works again, and {@code accept_failures}
     * counts the failures in {@code /stats.json} and {@code /metrics}. A limit lowered while the proxy runs
     * ({@code prlimit --pid}) would do on epoll and NIO, but io_uring's accepts do not heed it.
     */
    @Test
    void acceptingOutOfDescriptorsPausesWithOneWarningAndResumesWhenDescriptorsComeFree() throws Exception {
        int limit = 200;
        start(limit, "{}");
        try (RawHttpClient warm = RawHttpClient.connect(listen())) {
            assertEquals(200, warm.send(GET).read().status()); // the first request's classes, loaded before the limit
        }
        // Its descriptor is freed once the proxy reads its close: before the flood, or a waiting client could take it
        // and find none left for its backend connection (a 503, as it should be, but not what this test is about).
        Await.until(Duration.ofSeconds(10), "the warm-up connection closed by the proxy",
                () -> proxyStats().get("connections_current").asInt() == 0, proxy::tail);
        List<Socket> admin = new ArrayList<>();
        List<Socket> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 200; i++) {
                Socket s = new Socket(); // the kernel completes it, accepted or not
                s.connect(new InetSocketAddress("127.0.0.1", adminPort), 5000);
                admin.add(s);
            }
            Await.until(Duration.ofSeconds(10), "the admin listener's accept failure logged",
                    () -> proxy.log().contains("admin listener /127.0.0.1:" + adminPort + ": accept failed, out of file"
                            + " descriptors"), proxy::tail);
            for (int i = 0; i < 5; i++) {
                Socket s = new Socket();
                s.connect(listen(), 5000);
                s.setSoTimeout(10_000);
                s.getOutputStream().write(GET.getBytes(StandardCharsets.US_ASCII));
                clients.add(s);
            }
            Await.until(Duration.ofSeconds(10), "the client listener's accept failure logged",
                    () -> proxy.log().contains("client listener /127.0.0.1:" + port + ": accept failed, out of file"
                            + " descriptors"), proxy::tail);
            Await.holds(Duration.ofMillis(1500), "no second warning within the episode",
                    () -> count(proxy.log(), "accept failed, out of file descriptors") == 2, proxy::tail);
            long start = System.nanoTime();
            for (Socket s : admin) {
                s.close();
            }
            for (Socket s : clients) {
                byte[] head = new byte[12];
                int n = s.getInputStream().readNBytes(head, 0, head.length);
                assertEquals("HTTP/1.1 200", new String(head, 0, n, StandardCharsets.US_ASCII), proxy.tail());
            }
            long servedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(servedMillis < 2000, "served " + servedMillis + " ms after the admin connections closed");
        } finally {
            for (Socket s : admin) {
                s.close();
            }
            for (Socket s : clients) {
                s.close();
            }
        }
        try (RawHttpClient fresh = RawHttpClient.connect(listen())) {
            assertEquals(200, fresh.send(GET).read().status());
        }
        Await.until(Duration.ofSeconds(5), "accepting again logged by both listeners",
                () -> count(proxy.log(), "accepting again after") == 2, proxy::tail);

        String log = proxy.log();
        assertEquals(2, count(log, "accept failed, out of file descriptors"), log);
        assertTrue(log.contains(" of a limit of " + limit + " open"), log);
        assertTrue(log.contains("wait in the kernel's backlog") && log.contains("LimitNOFILE, ulimit -n")
                && log.contains("limits.max_connections"), log);
        assertFalse(log.contains(NETTY_TAIL_WARNING), log);
        assertFalse(log.contains("Too many open files\n\tat "), "a stack trace: " + log);
        Matcher ended = Pattern.compile("accepting again after \\d+ ms out of file descriptors, (\\d+) accept failures")
                .matcher(log);
        long logged = 0;
        while (ended.find()) {
            logged += Long.parseLong(ended.group(1));
        }
        long failures = proxyStats().get("accept_failures").asLong();
        assertTrue(failures >= logged && logged >= 2, "accept_failures " + failures + ", " + logged + " logged");
        String metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + adminPort + "/metrics")).build(), BodyHandlers.ofString()).body();
        Matcher metric = Pattern.compile("\ngrapevine_accept_failures_total (\\d+)\n").matcher(metrics);
        assertTrue(metric.find(), metrics);
        assertTrue(Long.parseLong(metric.group(1)) >= failures, metric.group());
    }

    /**
     * The same on io_uring, whose accepts Netty may submit as one multishot accept: armed again after every failure,
     * whether the listener reads or not, so that a listener out of descriptors failed accepts in a busy loop (about
     * a million in the few seconds the admin connections are held), not one per pause of {@code AcceptFailures}.
     * Counted by the line that ends the episode: at most about one failure per pause.
     */
    @Test
    void onIoUringAListenerOutOfDescriptorsFailsAboutOneAcceptPerPause() throws Exception {
        assumeTrue(Transport.IO_URING.isAvailable(), "io_uring is unavailable here");
        start(200, "{}", "--transport", "io_uring");
        assertTrue(proxy.log().contains("transport io_uring (requested)"), proxy.tail());
        List<Socket> admin = new ArrayList<>();
        try {
            for (int i = 0; i < 200; i++) {
                Socket s = new Socket();
                s.connect(new InetSocketAddress("127.0.0.1", adminPort), 5000);
                admin.add(s);
            }
            Await.until(Duration.ofSeconds(10), "the admin listener's accept failure logged",
                    () -> proxy.log().contains("admin listener /127.0.0.1:" + adminPort + ": accept failed, out of file"
                            + " descriptors"), proxy::tail);
            Thread.sleep(1000); // ten pauses at least
        } finally {
            for (Socket s : admin) {
                s.close();
            }
        }
        Pattern ended = Pattern.compile("admin listener \\S+: accepting again after (\\d+) ms out of file descriptors,"
                + " (\\d+) accept failures");
        Await.until(Duration.ofSeconds(10), "the episode's end logged", () -> ended.matcher(proxy.log()).find(),
                proxy::tail);
        Matcher m = ended.matcher(proxy.log());
        assertTrue(m.find());
        long millis = Long.parseLong(m.group(1));
        long failures = Long.parseLong(m.group(2));
        assertTrue(failures <= millis / 50 + 5, failures + " accept failures in " + millis + " ms: " + m.group());
    }

    /**
     * Started under a limit of 400 with {@code max_connections} 1000: one WARN says that 1000 needs more and how many
     * are served; {@code connections_limit} is that number; that many connections are served, the next one is
     * closed at once, and those established go on working.
     */
    @Test
    void aLimitTooLowForMaxConnectionsAtStartCapsTheConnectionsServed() throws Exception {
        int limit = 400;
        start(limit, "{\"max_connections\": 1000}");
        long openNow = openFiles();
        Matcher warning = Pattern.compile(" WARN .*limits.max_connections 1000 needs an open-files limit of (\\d+) .* but the"
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

    /**
     * Started under the same limit with {@code max_connections} left at its default: the same cap, said in an INFO
     * line, as the default is a ceiling rather than a number servers.conf asked for.
     */
    @Test
    void aLimitTooLowForTheDefaultMaxConnectionsCapsItWithAnInfoLine() throws Exception {
        int limit = 400;
        start(limit, "{}");
        Matcher line = Pattern.compile(" (INFO|WARN) .*limits.max_connections 10000 needs an open-files limit of \\d+ .*"
                + " but the limit is " + limit + ": at most (\\d+) client connections are served at once")
                .matcher(proxy.log());
        assertTrue(line.find(), proxy.log());
        assertEquals("INFO", line.group(1), line.group());
        assertEquals(Integer.parseInt(line.group(2)), proxyStats().get("connections_limit").asInt());
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
