package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.agent.Fifos;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.config.Timeouts;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.ProcessSockets;
import io.grapevine.proxy.testing.Resources;
import io.grapevine.proxy.testing.SchedulerSlices;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BooleanSupplier;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code ./grapevine proxy} as a process: bad command lines and bad files exit non-zero with one line
 * naming what is wrong; without gossip flags no gossip port opens; gossip needs a key or an explicit
 * {@code --insecure-gossip}; a port in use is named; SIGTERM lets a request in flight finish, then the
 * process exits 0, and a second signal stops it at once.
 */
class ProxyCommandLineIntegrationTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private ChildProcess run(String name, String... args) throws InterruptedException {
        ChildProcess p = resources.keep(ChildProcess.proxy(dir, name, args));
        int exit = p.waitFor(60);
        assertTrue(exit >= 0, "did not exit: " + p.tail());
        return p;
    }

    @Test
    void helpExitsZeroWithTheUsage() throws Exception {
        ChildProcess p = run("help", "--help");
        assertEquals(0, p.process().exitValue(), p.tail());
        assertTrue(p.log().contains("usage: ./grapevine proxy --servers FILE"), p.log());
    }

    @Test
    void aBadFlagExitsTwoWithOneLine() throws Exception {
        ChildProcess p = run("bad-flag", "--servers", "servers.conf", "--lisen", "127.0.0.1:1");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(List.of("grapevine proxy: unknown option '--lisen' (did you mean --listen?) (see ./grapevine proxy --help)"),
                p.outputLines());
    }

    @Test
    void aMissingFileExitsTwoNamingIt() throws Exception {
        Path missing = dir.resolve("nowhere.conf");
        ChildProcess p = run("missing", "--servers", missing.toString(), "--no-gossip");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(1, p.outputLines().size(), p.log());
        assertTrue(p.outputLines().get(0).contains(missing.toString()), p.log());
    }

    @Test
    void anUnknownKeyExitsTwoNamingFileLineAndKey() throws Exception {
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"backend_servers\": [\n  { \"ip\": \"127.0.0.1\", \"prot\": 8001 }\n] }\n");
        ChildProcess p = run("unknown-key", "--servers", conf.toString(), "--no-gossip");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(1, p.outputLines().size(), p.log());
        String line = p.outputLines().get(0);
        assertTrue(line.contains(conf + ":2:") && line.contains("\"prot\""), line);
    }

    @Test
    void aBadPortExitsTwo() throws Exception {
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 70000 } ] }\n");
        ChildProcess p = run("bad-port", "--servers", conf.toString(), "--no-gossip");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertTrue(p.outputLines().get(0).contains("\"port\"") && p.outputLines().get(0).contains("70000"), p.log());
    }

    /** SIGTERM: the listener closes at once, the request in flight is answered, then the process exits. */
    @Test
    void sigtermFinishesTheRequestInFlightThenExits() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        int port = Ports.free();
        ChildProcess proxy = proxyInFrontOf(backend, "sigterm", port, "--no-gossip");

        try (Socket client = new Socket()) {
            client.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            client.setSoTimeout(10_000);
            OutputStream out = client.getOutputStream();
            out.write("GET /slow?ms=1500 HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Await.until(Duration.ofSeconds(10), "the request at the backend", () -> backend.requestCount() == 1,
                    proxy::tail);
            proxy.sigterm();
            Await.until(Duration.ofSeconds(5), "the listener closed", () -> !Ports.accepting(port), proxy::tail);
            String answer = readAll(client.getInputStream());
            assertTrue(answer.startsWith("HTTP/1.1 200 "), answer);
            assertTrue(answer.toLowerCase().contains("connection: close"), "the drained answer says close: " + answer);
        }
        int exit = proxy.waitFor(30);
        assertTrue(exit >= 0, "the proxy did not exit after SIGTERM: " + proxy.tail());
        assertEquals(0, exit, "a drained stop is a success: " + proxy.tail());
        assertFalse(proxy.isAlive());
        assertThrows(IOException.class, () -> new Socket("127.0.0.1", port).close());
    }

    /**
     * SIGUSR1, nginx's "reopen the log files" (what an nginx logrotate recipe sends), reopens the access log and
     * nothing else; its default action would have ended the proxy at once, dropping every request in flight.
     */
    @Test
    void sigusr1ReopensTheAccessLogAndTheProxyServesOn() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        Path log = dir.resolve("access.log");
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"access_log\": { \"path\": \"" + log + "\" },\n"
                + "  \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": " + backend.port() + " } ] }\n");
        int port = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "sigusr1", "--servers", conf.toString(), "--listen",
                "127.0.0.1:" + port, "--admin", "127.0.0.1:" + Ports.free()));
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> Ports.accepting(port), proxy::tail);
        get(port, "/echo?n=first");
        Await.until(Duration.ofSeconds(5), "the first line", () -> text(log).contains("n=first"),
                proxy::tail);

        Path rotated = dir.resolve("access.log.1");
        Files.move(log, rotated); // logrotate's create mode, then its postrotate: kill -USR1
        proxy.signal("USR1");
        Await.until(Duration.ofSeconds(5), "the access log reopened", () -> Files.exists(log) || !proxy.isAlive(), proxy::tail);
        assertTrue(proxy.isAlive(), "SIGUSR1 ended the proxy: " + proxy.tail());
        get(port, "/echo?n=second");
        Await.until(Duration.ofSeconds(5), "the second line in the new file", () -> text(log).contains("n=second"),
                proxy::tail);
        assertFalse(text(rotated).contains("n=second"), "nothing more in the rotated file");
        assertTrue(proxy.log().contains("SIGUSR1: reopening the access log"), proxy.tail());
        assertFalse(proxy.log().contains("reloading servers.conf"), "SIGUSR1 reloads nothing: " + proxy.tail());
        proxy.sigterm();
        assertEquals(0, proxy.waitFor(30), proxy.tail());
    }

    /**
     * SIGHUP while the proxy starts ({@code systemctl reload} just after {@code systemctl start}), or SIGUSR1
     * (logrotate's postrotate while it starts), neither ends it nor is lost: the reload, or the reopening of the
     * access log, runs once the proxy does. The start is held where it opens its access log, a FIFO nobody reads yet.
     */
    @ParameterizedTest
    @CsvSource({"HUP, SIGHUP: reloading servers.conf", "USR1, SIGUSR1: reopening the access log"})
    void aSignalDuringTheStartIsCarriedOutOnceTheProxyRuns(String signal, String carriedOut) throws Exception {
        Path fifo = Fifos.make(dir.resolve("access.fifo"));
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"access_log\": { \"path\": \"" + fifo + "\" }, \"backend_servers\": [] }\n");
        int port = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "sig" + signal.toLowerCase() + "-at-start",
                "--servers", conf.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + Ports.free()));
        assertASignalWhileHeldIsCarriedOut(proxy, fifo, port, signal, carriedOut);
    }

    /**
     * SIGTERM while the proxy reads its files ({@code systemctl stop} just after {@code systemctl start}, a slow disk)
     * ends the start there: no port opens, nothing says "listening", and there is no drain of shutdown_delay_ms for a
     * proxy that never served. The start is held where it opens its access log, a FIFO nobody reads yet.
     */
    @Test
    void aSigtermWhileTheFilesAreReadStopsTheStartBeforeAnyPortOpens() throws Exception {
        Path fifo = Fifos.make(dir.resolve("access.fifo"));
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"access_log\": { \"path\": \"" + fifo + "\" },"
                + " \"timeouts\": { \"shutdown_delay_ms\": 60000 }, \"backend_servers\": [] }\n");
        int port = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "sigterm-while-files-are-read",
                "--servers", conf.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + Ports.free()));
        Await.until(Duration.ofSeconds(60), "the proxy held at " + fifo.getFileName(),
                () -> Fifos.waitsForAReader(proxy.pid()) || !proxy.isAlive(), proxy::tail);
        proxy.sigterm();
        Thread.sleep(500);

        Fifos.readInTheBackground(fifo);
        assertEquals(0, proxy.waitFor(30), "not stopped within 30 s: " + proxy.tail());
        assertTrue(proxy.log().contains("SIGTERM received while starting (reading its files): stopping before opening"
                + " any port"), proxy.tail());
        assertFalse(proxy.log().contains("listening on"), proxy.tail());
        assertFalse(Ports.accepting(port), "nothing listens on " + port);
    }

    /**
     * The same for a signal that comes before the proxy reads its command line, while logging is set up: up to
     * seconds after the JVM starts on a loaded host, when a SIGHUP's default action (the JVM's: exit 129) would end
     * the proxy. Logging is held where it opens its log file, a FIFO nobody reads yet; the JVM runs without the
     * launcher, whose class data sharing warm-up would read the same logging set-up.
     */
    @ParameterizedTest
    @CsvSource({"HUP, SIGHUP: reloading servers.conf", "USR1, SIGUSR1: reopening the access log"})
    void aSignalWhileLoggingIsSetUpIsCarriedOutOnceTheProxyRuns(String signal, String carriedOut) throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        int port = Ports.free();
        ChildProcess proxy = proxyWithLoggingHeldAt(fifo, "sig" + signal.toLowerCase() + "-while-logging-starts", port);
        assertASignalWhileHeldIsCarriedOut(proxy, fifo, port, signal, carriedOut);
    }

    /**
     * SIGTERM (or SIGINT) in the same phase, {@code systemctl stop} just after {@code systemctl start}: the JVM's own
     * handling would end the proxy with 143 (130), which systemd and Kubernetes count as a failure. It stops with 0
     * once logging runs, before it opens any port.
     */
    @ParameterizedTest
    @CsvSource({"TERM, 143", "INT, 130"})
    void aStopSignalWhileLoggingIsSetUpStopsTheProxyWithZeroBeforeAnyPortOpens(String signal, int byTheJvm)
            throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        int port = Ports.free();
        ChildProcess proxy = proxyWithLoggingHeldAt(fifo, "sig" + signal.toLowerCase() + "-while-logging-starts", port);
        Await.until(Duration.ofSeconds(60), "the proxy held at " + fifo.getFileName(),
                () -> Fifos.waitsForAReader(proxy.pid()) || !proxy.isAlive(), proxy::tail);
        proxy.signal(signal);
        Thread.sleep(500);
        assertTrue(proxy.isAlive(), () -> "SIG" + signal + " during the start ended the proxy at once (status "
                + proxy.process().exitValue() + ", the JVM's " + byTheJvm + "): " + proxy.tail());

        Fifos.readInTheBackground(fifo);
        assertEquals(0, proxy.waitFor(30), proxy.tail());
        assertTrue(proxy.log().contains("SIG" + signal + " received while starting: stopping before opening any port"),
                proxy.tail());
        assertFalse(proxy.log().contains("listening on"), proxy.tail());
        assertFalse(Ports.accepting(port), "nothing listens on " + port);
    }

    /**
     * A SIGTERM while the proxy's start waits in a log line that cannot be written (its log a FIFO whose reader reads
     * nothing, full before the proxy starts: a log shipper that hangs, a standard error pipe nobody reads) ends the
     * proxy with 0 within its stop's bound, {@code shutdown_delay_ms + shutdown_grace_ms} and the stop's margin,
     * counted from the signal, with one line naming the start. Before, the stop's bound began once the start was over,
     * which here it never was.
     */
    @Test
    void aSigtermWhileTheStartIsHeldInALogLineEndsAtItsBoundWithZero() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        long graceMillis = 500;
        try (FileChannel unread = Fifos.readerThatReadsNothing(fifo)) {
            Fifos.fill(unread);
            ChildProcess proxy = proxyWithLoggingHeldAt(fifo, "sigterm-while-held-in-a-log-line", Ports.free(),
                    "\"timeouts\": { \"shutdown_grace_ms\": " + graceMillis + " }, ");
            long bound = graceMillis + StopBudget.STOP_MARGIN_MILLIS; // servers.conf is read before the first log line
            sigtermWhileHeldEndsItWithinItsBound(proxy, bound, "the proxy's start held in a write to its log",
                    () -> Fifos.waitsToWrite(proxy.pid()));
            assertTrue(proxy.log().contains("stop: not over " + bound + " ms after it began (timeouts.shutdown_delay_ms"
                    + " + shutdown_grace_ms + " + StopBudget.STOP_MARGIN_MILLIS + " ms): grapevine proxy exits now,"
                    + " abandoning the start (the signal came while it ran)"), proxy.tail());
        }
    }

    /**
     * The same for a SIGTERM while the proxy's logging is set up, before it reads its command line, held for good where
     * it opens its log file (a FIFO that never gets a reader): the proxy exits 0 within the bound of the default
     * timeouts (servers.conf is not read yet), counted from the signal; its line cannot be written. The watchdog is
     * armed on the signal's thread without waiting for the classes whose initialisation sets logging up.
     */
    @Test
    void aSigtermWhileLoggingIsHeldForGoodEndsAtItsBoundWithZero() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        ChildProcess proxy = proxyWithLoggingHeldAt(fifo, "sigterm-while-logging-is-held", Ports.free());
        Timeouts defaults = Timeouts.defaults();
        long bound = defaults.shutdownDelayMillis() + defaults.shutdownGraceMillis() + StopBudget.STOP_MARGIN_MILLIS;
        sigtermWhileHeldEndsItWithinItsBound(proxy, bound, "logging held at its FIFO",
                () -> Fifos.waitsForAReader(proxy.pid()));
    }

    /**
     * A check drains nothing, and its 0 says the files passed: a SIGTERM while it runs ends it at once with 143, as the
     * JVM's own handling would, never with the 0 of a stop asked for. Here the check is held for good where logging
     * opens its log file (a FIFO that never gets a reader), which the command line's reading sets up: the stop's
     * watchdog ended it with 0 at the stop's bound, a check that "passed" without checking anything.
     */
    @Test
    void aSigtermDuringACheckEndsItAtOnceWith143() throws Exception {
        Path fifo = Fifos.make(dir.resolve("log.fifo"));
        ChildProcess check = proxyWithLoggingHeldAt(fifo, "sigterm-during-check", Ports.free(), "", "--check");
        Await.until(Duration.ofSeconds(60), "the check held at its log file",
                () -> Fifos.waitsForAReader(check.pid()) || !check.isAlive(), check::tail);
        assertTrue(check.isAlive(), check::tail);

        long signal = System.nanoTime();
        check.sigterm();
        int exit = check.waitFor(10);
        long stopMillis = (System.nanoTime() - signal) / 1_000_000;
        assertEquals(143, exit, check.tail());
        assertTrue(stopMillis < 5000, "ended " + stopMillis + " ms after SIGTERM: " + check.tail());
        assertFalse(check.log().contains("ok: "), check.tail());
    }

    /**
     * Waits until {@code proxy} is {@code held} ({@code isHeld}), sends it SIGTERM and asserts that it exits 0 within
     * {@code bound}, its stop's, counted from the signal.
     */
    private static void sigtermWhileHeldEndsItWithinItsBound(ChildProcess proxy, long bound, String held,
                                                             BooleanSupplier isHeld) throws InterruptedException {
        Await.until(Duration.ofSeconds(60), held, () -> isHeld.getAsBoolean() || !proxy.isAlive(), proxy::tail);
        assertTrue(proxy.isAlive(), proxy::tail);

        long signal = System.nanoTime();
        proxy.sigterm();
        int exit = proxy.waitFor(bound / 1000 + 5);
        long stopMillis = (System.nanoTime() - signal) / 1_000_000;
        assertEquals(0, exit, proxy.tail());
        assertTrue(stopMillis < bound + 1500, "stopped " + stopMillis + " ms after SIGTERM; the bound is " + bound
                + " ms: " + proxy.tail());
    }

    /**
     * A proxy JVM, without the launcher (whose class data sharing warm-up would read the same logging set-up), that
     * serves an empty servers.conf on {@code port} and is held where logging opens its log file, {@code fifo}, until
     * the FIFO has a reader: before the proxy reads its command line.
     */
    private ChildProcess proxyWithLoggingHeldAt(Path fifo, String name, int port) throws IOException {
        return proxyWithLoggingHeldAt(fifo, name, port, "");
    }

    /**
     * The same, with {@code keys} in servers.conf before its (empty) backends (JSON members, each followed by a comma).
     * With a FIFO that has a reader, full, the proxy is held at its first log line instead.
     */
    private ChildProcess proxyWithLoggingHeldAt(Path fifo, String name, int port, String keys, String... flags)
            throws IOException {
        Path logging = dir.resolve("logback.xml");
        Files.writeString(logging, String.join("\n",
                "<configuration>",
                "  <appender name=\"STDERR\" class=\"ch.qos.logback.core.ConsoleAppender\">",
                "    <target>System.err</target><encoder><pattern>%level [%thread] %logger{0}: %msg%n</pattern></encoder>",
                "  </appender>",
                "  <appender name=\"FIFO\" class=\"ch.qos.logback.core.FileAppender\">",
                "    <file>" + fifo + "</file><encoder><pattern>%msg%n</pattern></encoder>",
                "  </appender>",
                "  <root level=\"INFO\"><appender-ref ref=\"STDERR\"/><appender-ref ref=\"FIFO\"/></root>",
                "</configuration>", ""));
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ " + keys + "\"backend_servers\": [] }\n");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dlogback.configurationFile=" + logging, "-jar", ChildProcess.proxyJar().toString(),
                "--servers", conf.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + Ports.free()));
        command.addAll(List.of(flags));
        return resources.keep(ChildProcess.start(dir, name, command, Map.of()));
    }

    /**
     * {@code proxy} is held opening {@code fifo}: SIG{@code signal} then does not end it, and once the FIFO has a
     * reader the proxy listens on {@code port} and logs {@code carriedOut}; SIGTERM then stops it with 0.
     */
    private static void assertASignalWhileHeldIsCarriedOut(ChildProcess proxy, Path fifo, int port, String signal,
                                                          String carriedOut) throws Exception {
        Await.until(Duration.ofSeconds(60), "the proxy held at " + fifo.getFileName(),
                () -> Fifos.waitsForAReader(proxy.pid()) || !proxy.isAlive(), proxy::tail);
        proxy.signal(signal);
        Thread.sleep(500);
        assertTrue(proxy.isAlive(), "SIG" + signal + " during the start ended the proxy: " + proxy.tail());

        Fifos.readInTheBackground(fifo);
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> Ports.accepting(port), proxy::tail);
        Await.until(Duration.ofSeconds(10), "what was asked for during the start",
                () -> proxy.log().contains(carriedOut), proxy::tail);
        proxy.sigterm();
        assertEquals(0, proxy.waitFor(30), proxy.tail());
    }

    private static void get(int port, String path) throws IOException {
        get(port, path, "");
    }

    /** {@code GET path} with {@code fields} (each ending with CRLF) after Host; expects a 200. */
    private static void get(int port, String path, String fields) throws IOException {
        try (Socket client = new Socket("127.0.0.1", port)) {
            client.setSoTimeout(10_000);
            client.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: h\r\n" + fields
                    + "Connection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            assertTrue(readAll(client.getInputStream()).startsWith("HTTP/1.1 200 "), path);
        }
    }

    /** A second SIGTERM while the drain waits for a slow request stops the process at once, with 128 + 15. */
    @Test
    void aSecondSigtermDuringTheDrainStopsAtOnce() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        int port = Ports.free();
        ChildProcess proxy = proxyInFrontOf(backend, "second-signal", port);
        try (Socket client = new Socket()) {
            client.connect(new InetSocketAddress("127.0.0.1", port), 5000);
            client.getOutputStream().write("GET /slow?ms=60000 HTTP/1.1\r\nHost: h\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            client.getOutputStream().flush();
            Await.until(Duration.ofSeconds(10), "the request at the backend", () -> backend.requestCount() == 1, proxy::tail);
            proxy.sigterm();
            Await.until(Duration.ofSeconds(10), "the drain", () -> proxy.log().contains("draining"), proxy::tail);
            long second = System.nanoTime();
            proxy.sigterm();
            int exit = proxy.waitFor(10);
            long stopMs = (System.nanoTime() - second) / 1_000_000;
            assertEquals(143, exit, proxy.tail());
            assertTrue(stopMs < 5000, "stopped " + stopMs + " ms after the second signal");
            assertTrue(proxy.log().contains("grapevine proxy: second SIGTERM while stopping: stopping at once"), proxy.tail());
        }
    }

    /**
     * A second SIGTERM stops the proxy at once, but the lines of the requests it answered are in the access log: the
     * halt alone lost those its writer had not written yet, up to the last 100 ms of them. The drain keeps the
     * listener open (shutdown_delay_ms), and the second signal follows the last answer at once.
     */
    @Test
    void aSecondSigtermWritesTheAccessLogLinesQueuedBeforeItStops() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        Path log = dir.resolve("access.log");
        int port = Ports.free();
        ChildProcess proxy = proxyInFrontOf("\"access_log\": { \"path\": \"" + log + "\" }, "
                + "\"timeouts\": { \"shutdown_delay_ms\": 60000 }, ", backend, "second-signal-access-log", port);
        proxy.sigterm();
        Await.until(Duration.ofSeconds(10), "the drain", () -> proxy.log().contains("draining: /ready answers 503"),
                proxy::tail);
        get(port, "/echo?n=last");
        proxy.sigterm();
        assertEquals(143, proxy.waitFor(10), proxy.tail());
        assertTrue(text(log).contains("n=last"), "the access log: " + text(log) + "\n" + proxy.tail());
    }

    /**
     * A stop takes at most {@code shutdown_delay_ms + shutdown_grace_ms} and the stop's margin (operations.md) from the
     * signal to the exit, and exits 0, however its steps fare: here the access log is a FIFO whose reader reads
     * nothing, as a log shipper that hangs, so that its writer waits in a write for good, and a request is still in
     * flight when the grace ends. The step that overran is named in one line. Before, the access log's close alone
     * waited 5 s past the grace.
     */
    @Test
    void aStopWhoseAccessLogCannotBeWrittenEndsWithinTheDelayAndGracePlusTheMargin() throws Exception {
        DemoBackend backend = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        Path fifo = Fifos.make(dir.resolve("access.fifo"));
        long graceMillis = 500;
        try (FileChannel unread = Fifos.readerThatReadsNothing(fifo)) {
            int port = Ports.free();
            ChildProcess proxy = proxyInFrontOf("\"access_log\": { \"path\": \"" + fifo + "\" }, "
                    + "\"timeouts\": { \"shutdown_grace_ms\": " + graceMillis + " }, ", backend, "stop-held", port);
            String pad = "x".repeat(3000);
            for (int i = 0; i < 20; i++) { // 120 KB of lines (the target and User-Agent): the FIFO takes 64 KiB
                get(port, "/echo?pad=" + pad, "User-Agent: " + pad + "\r\n");
            }
            Await.until(Duration.ofSeconds(10), "the access log's writer held by the full FIFO",
                    () -> Fifos.waitsToWrite(proxy.pid()), proxy::tail);
            try (Socket client = new Socket("127.0.0.1", port)) {
                client.getOutputStream().write("GET /slow?ms=60000 HTTP/1.1\r\nHost: h\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                Await.until(Duration.ofSeconds(10), "the request at the backend", () -> backend.requestCount() == 21,
                        proxy::tail);
                long signal = System.nanoTime();
                proxy.sigterm();
                int exit = proxy.waitFor(30);
                long stopMillis = (System.nanoTime() - signal) / 1_000_000;
                assertEquals(0, exit, proxy.tail());
                long bound = graceMillis + StopBudget.STOP_MARGIN_MILLIS;
                assertTrue(stopMillis < bound + 1500, "stopped " + stopMillis + " ms after SIGTERM; the bound is "
                        + bound + " ms: " + proxy.tail());
                assertTrue(proxy.log().matches("(?s).*stop: the access log " + Pattern.quote(fifo.toString())
                        + " was not written and closed within \\d+ ms \\(its writer waits in a write to the file,"
                        + " \\d+ lines still queued\\); the stop goes on.*"), proxy.tail());
            }
        }
    }

    /**
     * The event loops of a proxy started by the launcher run with the scheduler slice asked for with
     * {@code --loop-slice-us}, as the kernel reports it for each thread, and with the kernel's by default; its other
     * threads keep the kernel's. This is the shipped jar's JNA at work: the call is made from the process itself.
     */
    @Test
    void theEventLoopsRunWithTheSliceAskedForAndTheOtherThreadsWithTheKernels() throws Exception {
        for (String asked : new String[] {null, "0", "100", "2000"}) {
            List<String> args = new ArrayList<>(List.of("--servers", servers().toString(), "--listen",
                    "127.0.0.1:" + Ports.free(), "--admin", "127.0.0.1:" + Ports.free()));
            if (asked != null) {
                args.addAll(List.of("--loop-slice-us", asked));
            }
            ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "slice-" + asked, args.toArray(String[]::new)));
            Await.until(Duration.ofSeconds(60), "the start-up line", () -> proxy.log().contains("grapevine proxy listening on"),
                    proxy::tail);
            String inherited = System.getenv("GRAPEVINE_LOOP_SLICE_US"); // the children get this JVM's environment
            long micros = Long.parseLong(asked != null ? asked : inherited != null ? inherited : "0");
            if (micros != 0 && !SchedulerSlices.kernelHasThem()) {
                assertTrue(proxy.log().contains("WARN") && proxy.log().contains("event loop scheduler slice the kernel's"
                        + " own on ") && proxy.log().contains("this kernel has no per-thread slice"), proxy.tail());
            } else if (micros != 0) {
                assertTrue(proxy.log().contains("event loop scheduler slice " + micros + " µs on "), proxy.tail());
            } else {
                assertFalse(proxy.log().contains("scheduler slice"), "nothing asked, nothing said: " + proxy.tail());
            }
            if (!SchedulerSlices.visible()) {
                proxy.sigterm();
                assertEquals(0, proxy.waitFor(60), proxy.tail());
                continue; // what the kernel gave each thread cannot be read here: the log line is all there is
            }
            Map<String, List<Long>> slices = new TreeMap<>();
            try (var tasks = Files.list(Path.of("/proc/" + proxy.pid() + "/task"))) {
                for (Path task : tasks.toList()) {
                    String name = Files.readString(task.resolve("comm")).strip();
                    slices.computeIfAbsent(name.startsWith("grapevine-io") ? "loop" : "other", k -> new ArrayList<>())
                            .add(SchedulerSlices.in(task.resolve("sched")));
                }
            }
            long kernels = SchedulerSlices.ofThisThread();
            int loops = slices.get("loop").size();
            assertEquals(Runtime.getRuntime().availableProcessors(), loops, "one event loop per CPU: " + slices);
            assertTrue(slices.get("other").stream().allMatch(s -> s == kernels), "the other threads: " + slices);
            if (micros == 0 || !SchedulerSlices.kernelHasThem()) {
                assertEquals(Collections.nCopies(loops, kernels), slices.get("loop"), proxy.tail());
            } else {
                assertEquals(Collections.nCopies(loops, micros * 1000), slices.get("loop"), proxy.tail());
                assertTrue(proxy.log().contains("event loop scheduler slice " + micros + " µs on " + loops + " of "
                        + loops + " event loops"), proxy.tail());
            }
            proxy.sigterm();
            assertEquals(0, proxy.waitFor(60), proxy.tail());
        }
    }

    /** Without --gossip or --join the process listens on its listener and admin port and nothing else. */
    @Test
    void withoutGossipFlagsOnlyTheListenerAndTheAdminPortAreOpen() throws Exception {
        int port = Ports.free();
        int adminPort = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "no-gossip", "--servers", servers().toString(),
                "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort));
        Await.until(Duration.ofSeconds(60), "the start-up line", () -> proxy.log().contains("grapevine proxy listening on"),
                proxy::tail);
        assertEquals(Set.of(new InetSocketAddress("127.0.0.1", port), new InetSocketAddress("127.0.0.1", adminPort)),
                Set.copyOf(ProcessSockets.tcpListening(proxy.pid())), proxy.tail());
        assertEquals(List.of(), ProcessSockets.udp(proxy.pid()), "UDP sockets of the proxy");
        assertTrue(proxy.log().contains("gossip off: serving the servers of " + servers() + " only"), proxy.tail());
        assertFalse(proxy.log().contains("Gossip member"), proxy.tail());
    }

    @Test
    void gossipWithoutAKeyExitsTwoWithOneLineNamingTheFix() throws Exception {
        for (String[] gossip : List.of(new String[] {"--gossip", "0"}, new String[] {"--join", "127.0.0.1:" + Ports.free()})) {
            ChildProcess p = run("no-key-" + gossip[0].substring(2), "--servers", servers().toString(), gossip[0], gossip[1],
                    "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0");
            assertEquals(2, p.process().exitValue(), p.tail());
            assertEquals(1, p.outputLines().size(), p.log());
            String line = p.outputLines().get(0);
            assertTrue(line.startsWith("grapevine proxy: gossip needs a cluster key: give --cluster-key FILE")
                    && line.contains("./grapevine keygen > cluster.key") && line.contains("openssl rand -base64 32 > cluster.key")
                    && line.contains("--insecure-gossip"), line);
        }
    }

    /**
     * {@code --insecure-gossip}: gossip runs, the log and {@code /members} say it is open, and its port
     * listens on the advertised address (loopback here), not on every interface.
     */
    @Test
    void insecureGossipWarnsAndItsPortListensOnTheAdvertisedAddressOnly() throws Exception {
        int port = Ports.free();
        int adminPort = Ports.free();
        int gossipPort = Ports.free();
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, "insecure", "--servers", servers().toString(),
                "--listen", "127.0.0.1:" + port, "--admin=127.0.0.1:" + adminPort, "--gossip=" + gossipPort,
                "--insecure-gossip"));
        Await.until(Duration.ofSeconds(60), "the start-up line", () -> proxy.log().contains("grapevine proxy listening on"),
                proxy::tail);
        assertTrue(proxy.log().contains("WARN") && proxy.log().contains("INSECURE GOSSIP (--insecure-gossip)"), proxy.tail());
        assertTrue(proxy.log().contains("gossip 127.0.0.1:" + gossipPort + " WITHOUT a cluster key (--insecure-gossip)"),
                proxy.tail());
        assertEquals(Set.of(new InetSocketAddress("127.0.0.1", port), new InetSocketAddress("127.0.0.1", adminPort),
                new InetSocketAddress("127.0.0.1", gossipPort)), Set.copyOf(ProcessSockets.tcpListening(proxy.pid())));
        JsonNode gossip = new Admin(new InetSocketAddress("127.0.0.1", adminPort)).members().path("gossip");
        assertTrue(gossip.path("insecure").asBoolean(), gossip.toString());
        assertTrue(gossip.path("warning").asText().startsWith("gossip runs without a cluster key"), gossip.toString());
    }

    /** A port in use is named, with the flag that sets it; nothing claims to listen first. */
    @Test
    void aPortInUseExitsOneNamingTheListener() throws Exception {
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            int busy = taken.getLocalPort();
            Map<String, String[]> cases = Map.of(
                    "cannot listen on 127.0.0.1:" + busy + " (--listen, or \"listen\" in servers.conf): address already in use",
                    new String[] {"--listen", "127.0.0.1:" + busy, "--admin", "127.0.0.1:0"},
                    "cannot listen on 127.0.0.1:" + busy + " (--admin, or \"admin\" in servers.conf): address already in use",
                    new String[] {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:" + busy},
                    "cannot listen for gossip on 127.0.0.1:" + busy + ": address already in use (--gossip)",
                    new String[] {"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--gossip", Integer.toString(busy),
                        "--insecure-gossip"});
            int n = 0;
            for (Map.Entry<String, String[]> c : cases.entrySet()) {
                List<String> args = new ArrayList<>(List.of("--servers", servers().toString()));
                args.addAll(List.of(c.getValue()));
                ChildProcess p = run("busy-" + n++, args.toArray(String[]::new));
                assertEquals(1, p.process().exitValue(), p.tail());
                List<String> lines = p.outputLines();
                assertTrue(lines.get(lines.size() - 1).startsWith("grapevine proxy: " + c.getKey()), p.log());
                assertFalse(p.log().contains("listening on") || p.log().contains("stopped"), p.log());
            }
        }
    }

    @Test
    void aBadKeyFileExitsTwoBeforeAnyPortOpens() throws Exception {
        Path key = Files.writeString(dir.resolve("cluster.key"), "not a key\n");
        ChildProcess p = run("bad-key", "--servers", servers().toString(), "--gossip", "0", "--cluster-key", key.toString(),
                "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0");
        assertEquals(2, p.process().exitValue(), p.tail());
        assertEquals(List.of("grapevine proxy: --cluster-key " + key + ":1: expected a base64 key of 32 bytes, found text"
                + " that is not base64"), p.outputLines());
    }

    /** A proxy process on {@code port} whose servers.conf names {@code backend}, once it accepts connections. */
    private ChildProcess proxyInFrontOf(DemoBackend backend, String name, int port, String... more) throws IOException {
        return proxyInFrontOf("", backend, name, port, more);
    }

    /** The same, with {@code keys} in servers.conf before its backends (JSON members, each followed by a comma). */
    private ChildProcess proxyInFrontOf(String keys, DemoBackend backend, String name, int port, String... more)
            throws IOException {
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ " + keys + "\"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": "
                + backend.port() + " } ] }\n");
        List<String> args = new ArrayList<>(List.of("--servers", conf.toString(), "--listen", "127.0.0.1:" + port,
                "--admin", "127.0.0.1:" + Ports.free()));
        args.addAll(List.of(more));
        ChildProcess proxy = resources.keep(ChildProcess.proxy(dir, name, args.toArray(String[]::new)));
        Await.until(Duration.ofSeconds(60), "the proxy listening", () -> Ports.accepting(port), proxy::tail);
        return proxy;
    }

    private Path servers() throws IOException {
        Path conf = dir.resolve("empty.conf");
        if (!Files.exists(conf)) {
            Files.writeString(conf, "{ \"backend_servers\": [] }\n");
        }
        return conf;
    }

    /** A file's text; empty while it does not exist. */
    private static String text(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static String readAll(InputStream in) throws IOException {
        return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }
}
