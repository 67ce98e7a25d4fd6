package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grapevine.agent.Fifos;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code DemoBackendMain} as a separate JVM, the way {@code ./grapevine backend} runs it. */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class DemoBackendMainIntegrationTest {
    private static final Pattern STARTED = Pattern.compile("backend (\\d+) listening on 127\\.0\\.0\\.1:(\\d+) \\((epoll|nio)\\)");
    private static final HttpClient CLIENT = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private final List<Process> launched = new ArrayList<>();
    @TempDir
    Path temp;

    @AfterEach
    void killLeftovers() {
        launched.forEach(Process::destroyForcibly);
    }

    @Test
    void startsNumberedWorkersAndStopsCleanlyOnSigterm() throws Exception {
        Launched backend = launch("--port", "0", "--count", "3");
        List<Integer> ports = backend.ports(3);
        for (int id = 1; id <= 3; id++) {
            HttpResponse<String> response = get(ports.get(id - 1), "/");
            assertEquals("Hello, I am ID " + id + "\n", response.body());
        }

        backend.process.destroy(); // SIGTERM
        assertTrue(backend.process.waitFor(20, TimeUnit.SECONDS), "still running 20 s after SIGTERM");
        assertEquals(0, backend.process.exitValue(), "a stop by SIGTERM is a success");
        assertTrue(backend.output().contains("stopped 3 backend(s)"), backend.output());
        for (int port : ports) {
            assertRefused(port);
        }
    }

    /**
     * A stop whose close does not end (the workers' event loop runs a task that does not end, as a handler that blocks)
     * is bounded: the close is left after 1 s with one line naming the workers not closed, and the backend exits 0
     * within its stop's 5 s, counted from the signal. Before, it waited for the loop (here a minute, the hold's).
     */
    @Test
    void aStopWhoseCloseIsHeldByItsEventLoopEndsWithinItsBoundWithZero() throws Exception {
        Launched backend = launch(HeldLoopBackendMain.class, "--port", "0", "--count", "2");
        backend.ports(2);
        backend.process.getOutputStream().write('\n');
        backend.process.getOutputStream().flush();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!backend.output().contains(HeldLoopBackendMain.HELD)) {
            assertTrue(backend.process.isAlive() && System.nanoTime() < deadline, "event loop not held: "
                    + backend.output());
            Thread.sleep(20);
        }

        sigtermEndsItWithinItsBound(backend);
        assertTrue(backend.output().contains("stop: backend(s) 1, 2 did not close within 1000 ms (their event loop runs"
                + " a task); the stop goes on"), backend.output());
        assertTrue(backend.output().contains("SIGTERM received: stopped 0 of 2 backend(s)"), backend.output());
    }

    /**
     * SIGHUP (a closed terminal, a reload out of habit) and SIGUSR1 (nginx's log reopening) are logged and
     * ignored, as by the agent: the workers serve on, and SIGTERM still stops them cleanly.
     */
    @Test
    void sighupAndSigusr1AreLoggedAndTheWorkersServeOn() throws Exception {
        Launched backend = launch("--port", "0");
        int port = backend.ports(1).get(0);
        for (String signal : List.of("HUP", "USR1")) {
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(backend.process.pid())).start().waitFor());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!backend.output().contains("SIG" + signal + " received: ignored") && backend.process.isAlive()
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(backend.process.isAlive(), "SIG" + signal + " ended the backend: " + backend.output());
            assertTrue(backend.output().contains("SIG" + signal + " received: ignored"), backend.output());
        }
        assertEquals("Hello, I am ID 1\n", get(port, "/").body());

        backend.process.destroy(); // SIGTERM
        assertTrue(backend.process.waitFor(20, TimeUnit.SECONDS), "still running 20 s after SIGTERM");
        assertEquals(0, backend.process.exitValue(), backend.output());
    }

    /**
     * The same for SIGHUP and SIGUSR1 while logging is set up, before the backend reads its command line: up to seconds
     * after the JVM starts on a loaded host, when their default action (for SIGHUP the JVM's, exit 129) would end it.
     * Logging is held where it opens its log file, a FIFO nobody reads yet; once it runs, the backend logs both and
     * serves.
     */
    @Test
    void sighupAndSigusr1WhileLoggingIsSetUpAreLoggedAndTheWorkersServe() throws Exception {
        Path fifo = Fifos.make(temp.resolve("log.fifo"));
        Path logging = Fifos.loggingHeldAt(fifo, temp.resolve("logback.xml"));
        Launched backend = launch("-Dlogback.configurationFile=" + logging, "--port", "0");
        awaitHeldAtItsFifo(backend, "logging");
        for (String signal : List.of("HUP", "USR1")) {
            assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(backend.process.pid())).start().waitFor());
            Thread.sleep(500);
            assertTrue(backend.process.isAlive(), () -> "SIG" + signal + " ended the backend (status "
                    + backend.process.exitValue() + "): " + backend.outputNow());
        }
        Fifos.readInTheBackground(fifo);
        int port = backend.ports(1).get(0);
        assertEquals("Hello, I am ID 1\n", get(port, "/").body());
        for (String signal : List.of("HUP", "USR1")) {
            assertTrue(backend.output().contains("SIG" + signal + " received: ignored (SIGTERM stops the backend)"),
                    backend.output());
        }

        backend.process.destroy(); // SIGTERM
        assertTrue(backend.process.waitFor(20, TimeUnit.SECONDS), "still running 20 s after SIGTERM");
        assertEquals(0, backend.process.exitValue(), backend.output());
    }

    /**
     * A SIGTERM while the backend reads its command line (here from an argument file, {@code @FILE}, that is a FIFO
     * nobody writes yet) does not end it with the JVM's 143, a failure to systemd: once it has read it, the backend
     * stops with 0.
     */
    @Test
    void aSigtermWhileTheCommandLineIsReadStopsItWithZero() throws Exception {
        Path arguments = Fifos.make(temp.resolve("arguments.fifo"));
        Launched backend = launch("@" + arguments);
        awaitHeldAtItsFifo(backend, "the command line");
        backend.process.destroy(); // SIGTERM
        Thread.sleep(500);
        assertTrue(backend.process.isAlive(), () -> "SIGTERM ended the backend at once (status "
                + backend.process.exitValue() + "): " + backend.outputNow());

        Files.writeString(arguments, "--port\n0\n");
        assertTrue(backend.process.waitFor(20, TimeUnit.SECONDS), () -> "still running 20 s after SIGTERM: "
                + backend.outputNow());
        assertEquals(0, backend.process.exitValue(), backend.output());
        assertTrue(backend.output().contains("SIGTERM received: stopped 1 backend(s)"), backend.output());
    }

    /**
     * The stop's bound counts from the signal also when it comes while the backend starts: one whose logging is held
     * for good where it opens its log file (a FIFO that never gets a reader) exits 0 within 5 s of a SIGTERM. A bound
     * counted from the start's end never began here, and the backend ran on until a second signal.
     */
    @Test
    void aSigtermWhileLoggingIsHeldForGoodEndsAtItsBoundWithZero() throws Exception {
        Path fifo = Fifos.make(temp.resolve("log.fifo"));
        Path logging = Fifos.loggingHeldAt(fifo, temp.resolve("logback.xml"));
        Launched backend = launch("-Dlogback.configurationFile=" + logging, "--port", "0");
        awaitHeldAtItsFifo(backend, "logging");
        assertTrue(backend.process.isAlive(), () -> "the backend exited (status " + backend.process.exitValue() + "): "
                + backend.outputNow());
        sigtermEndsItWithinItsBound(backend);
    }

    /**
     * Sends {@code backend} SIGTERM and asserts that it exits 0 within its stop's bound, 5 s as demo-backend.md says,
     * counted from the signal.
     */
    private static void sigtermEndsItWithinItsBound(Launched backend) throws IOException, InterruptedException {
        long signal = System.nanoTime();
        backend.process.destroy(); // SIGTERM
        long bound = 5_000; // as demo-backend.md says
        assertTrue(backend.process.waitFor(bound + 5_000, TimeUnit.MILLISECONDS), () -> "still running "
                + (bound + 5_000) + " ms after SIGTERM: " + backend.outputNow());
        long stopMs = (System.nanoTime() - signal) / 1_000_000;
        assertEquals(0, backend.process.exitValue(), backend.output());
        assertTrue(stopMs < bound + 1_500, "stopped " + stopMs + " ms after SIGTERM; the bound is " + bound + " ms");
    }

    /** Waits (30 s at most) until {@code backend} is held opening a FIFO, reading {@code what} from it. */
    private static void awaitHeldAtItsFifo(Launched backend, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Fifos.waitsForAReader(backend.process.pid()) && backend.process.isAlive()) {
            assertTrue(System.nanoTime() < deadline, () -> what + " not held at its FIFO: " + backend.outputNow());
            Thread.sleep(20);
        }
    }

    @Test
    void bodiesStreamThroughASmallHeap() throws Exception {
        Launched backend = launch("-Xmx48m", "-XX:MaxDirectMemorySize=32m", "--port", "0");
        int port = backend.ports(1).get(0);
        long size = 200L << 20;

        // Upload 200 MiB: a server that gathered the body would run out of memory.
        byte[] block = new byte[1 << 20];
        new java.util.Random(7).nextBytes(block);
        MessageDigest sent = MessageDigest.getInstance("SHA-256");
        for (int i = 0; i < 200; i++) {
            sent.update(block);
        }
        HttpResponse<String> echo = CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/echo"))
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new RepeatedBlock(block, 200))).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(HexFormat.of().formatHex(sent.digest()), echo.headers().firstValue("X-Body-Sha256").orElse(null));
        assertEquals(Long.toString(size), echo.headers().firstValue("X-Body-Length").orElse(null));

        // Download 200 MiB.
        HttpResponse<InputStream> bytes = CLIENT.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/bytes?n=" + size)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        MessageDigest received = MessageDigest.getInstance("SHA-256");
        long length = 0;
        try (InputStream in = bytes.body()) {
            byte[] buffer = new byte[64 * 1024];
            for (int n; (n = in.read(buffer)) != -1; ) {
                received.update(buffer, 0, n);
                length += n;
            }
        }
        assertEquals(size, length);
        assertEquals(bytes.headers().firstValue("X-Body-Sha256").orElse(null), HexFormat.of().formatHex(received.digest()));
        assertTrue(backend.process.isAlive(), backend.output());
    }

    @Test
    void helpPrintsUsageAndExitsZero() throws Exception {
        Launched help = launch("--help");
        assertTrue(help.process.waitFor(20, TimeUnit.SECONDS));
        assertEquals(0, help.process.exitValue());
        assertTrue(help.output().startsWith("usage: ./grapevine backend --port P"), help.output());
    }

    @Test
    void badFlagExitsTwoWithOneLine() throws Exception {
        Launched bad = launch("--port", "8080", "--count", "lots");
        assertTrue(bad.process.waitFor(20, TimeUnit.SECONDS));
        assertEquals(2, bad.process.exitValue());
        assertEquals("grapevine backend: --count expects a whole number from 1 to 1000, got 'lots'"
                + " (see ./grapevine backend --help)\n", bad.output());
    }

    @Test
    void busyPortExitsOneNamingTheAddress() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            Launched busy = launch("--port", Integer.toString(taken.getLocalPort()));
            assertTrue(busy.process.waitFor(20, TimeUnit.SECONDS));
            assertEquals(1, busy.process.exitValue());
            assertTrue(busy.output().contains("grapevine backend: worker 1 (--port " + taken.getLocalPort()
                    + "): cannot listen on 127.0.0.1:" + taken.getLocalPort()), busy.output());
        }
    }

    // ---- helpers

    /**
     * Runs DemoBackendMain with this test's class path; arguments starting with -X or -D go to the JVM. It logs as
     * shipped unless one of them sets {@code logback.configurationFile}.
     */
    private Launched launch(String... args) throws IOException {
        return launch(DemoBackendMain.class, args);
    }

    /** {@link #launch(String...)} with {@code main} for DemoBackendMain (a class of this test's class path). */
    private Launched launch(Class<?> main, String... args) throws IOException {
        Path output = Files.createTempFile(temp, "backend", ".log");
        // With the default handling of the signals, as from a terminal, whatever the build was started under
        // (nohup ignores SIGHUP, and a child inherits that); env execs the JVM, whose pid is the process's.
        List<String> command = new ArrayList<>(List.of("env", "--default-signal=HUP,INT,TERM,USR1"));
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> programArgs = new ArrayList<>();
        for (String arg : args) {
            (arg.startsWith("-X") || arg.startsWith("-D") ? command : programArgs).add(arg);
        }
        // The test class path also holds logback-test.xml (quiet); the child logs as shipped.
        if (command.stream().noneMatch(arg -> arg.startsWith("-Dlogback.configurationFile="))) {
            command.add("-Dlogback.configurationFile=logback.xml");
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(programArgs);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        launched.add(process);
        return new Launched(process, output);
    }

    private static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
        return CLIENT.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void assertRefused(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 2_000);
            fail("port " + port + " still accepts connections");
        } catch (ConnectException expected) {
            // refused
        } catch (IOException e) {
            fail("expected connection refused on " + port + ", got " + e);
        }
    }

    /**
     * A child JVM whose stdout and stderr go to one file. (A file, not a pipe: reading a
     * pipe while the child exits can lose its last lines to "Stream closed".)
     */
    private static final class Launched {
        final Process process;
        private final Path output;

        Launched(Process process, Path output) {
            this.process = process;
            this.output = output;
        }

        /** The ports of workers 1..count, from the start lines, in id order. */
        List<Integer> ports(int count) throws IOException, InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                TreeMap<Integer, Integer> ports = new TreeMap<>();
                Matcher started = STARTED.matcher(output());
                while (started.find()) {
                    ports.put(Integer.parseInt(started.group(1)), Integer.parseInt(started.group(2)));
                }
                if (ports.size() == count) {
                    assertEquals(count, ports.lastKey(), "worker ids: " + ports.keySet());
                    return List.copyOf(ports.values());
                }
                if (!process.isAlive() || System.nanoTime() > deadline) {
                    fail("expected " + count + " workers to start; output so far:\n" + output());
                }
                Thread.sleep(20);
            }
        }

        String output() throws IOException {
            return Files.readString(output, StandardCharsets.UTF_8);
        }

        /** {@link #output()} for a failure message, which cannot throw. */
        String outputNow() {
            try {
                return output();
            } catch (IOException e) {
                return "(output unreadable: " + e + ")";
            }
        }
    }

    /** The same block {@code times} times over. */
    private static final class RepeatedBlock extends InputStream {
        private final byte[] block;
        private long left;
        private int offset;

        RepeatedBlock(byte[] block, int times) {
            this.block = block;
            this.left = (long) block.length * times;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (left == 0) {
                return -1;
            }
            int n = (int) Math.min(Math.min(len, left), block.length - offset);
            System.arraycopy(block, offset, b, off, n);
            offset = (offset + n) % block.length;
            left -= n;
            return n;
        }
    }
}
