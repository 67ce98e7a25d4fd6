package io.grapevine.proxy.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@link OpenLoopClient} running as a JVM of its own (on loopback, or in a lab host's network namespace): its
 * progress is read from the lines it prints, {@link #setPhase} is a line written to its standard input, and
 * closing that input stops it and makes it print its report.
 *
 * <p>Out of the test's JVM, what the test does meanwhile (starting and signalling processes, sending admin
 * requests, its own garbage collections) does not delay the requests' clock: the latencies are the proxy's.
 */
public final class OpenLoopProcess {

    private static final Pattern PROGRESS = Pattern.compile(
            "progress sent=(\\d+) ok=(\\d+) failed=(\\d+) dropped=(\\d+) failovers=(\\d+) answers=(\\S*)");

    /** The last progress line; {@code answers} by demo backend id. */
    public record Progress(long sent, long ok, long failed, long dropped, long failovers, Map<Integer, Long> answers) {

        public long answersFrom(int id) {
            return answers.getOrDefault(id, 0L);
        }
    }

    private final ChildProcess process;

    public OpenLoopProcess(ChildProcess process) {
        this.process = process;
    }

    /** The command line of a client JVM sending {@code rate} requests/s on {@code connections} to {@code targets}. */
    public static List<String> command(double rate, int connections, List<InetSocketAddress> targets) {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()),
                "-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
                System.getProperty("java.class.path"), OpenLoopClient.class.getName(),
                "--rate", Double.toString(rate), "--connections", Integer.toString(connections)));
        for (InetSocketAddress t : targets) {
            command.add("--target");
            command.add(t.getHostString() + ":" + t.getPort());
        }
        return command;
    }

    /** A client process on this host sending to {@code target}; its output goes to {@code dir/name.log}. */
    public static OpenLoopProcess start(Path dir, String name, InetSocketAddress target, double rate, int connections) {
        return new OpenLoopProcess(ChildProcess.start(dir, name, command(rate, connections, List.of(target)), java.util.Map.of()));
    }

    /**
     * From the next request due on, latencies count in {@code phase} (see {@link OpenLoopClient#setPhase}); the line
     * reaches the client within microseconds.
     */
    public void setPhase(int phase) {
        try {
            OutputStream in = process.process().getOutputStream();
            in.write(("phase " + phase + "\n").getBytes(StandardCharsets.US_ASCII));
            in.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("the client process is gone: " + process.tail(), e);
        }
    }

    public ChildProcess process() {
        return process;
    }

    public Progress progress() {
        Matcher m = PROGRESS.matcher(process.log());
        Progress last = new Progress(0, 0, 0, 0, 0, Map.of());
        while (m.find()) {
            Map<Integer, Long> answers = new TreeMap<>();
            for (String pair : m.group(6).split(",")) {
                if (!pair.isEmpty()) {
                    answers.put(Integer.parseInt(pair.substring(0, pair.indexOf(':'))),
                            Long.parseLong(pair.substring(pair.indexOf(':') + 1)));
                }
            }
            last = new Progress(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)),
                    Long.parseLong(m.group(4)), Long.parseLong(m.group(5)), answers);
        }
        return last;
    }

    /** Waits until the client has sent {@code more} further requests. */
    public void awaitMore(long more, Duration timeout) {
        long target = progress().sent() + more;
        Await.until(timeout, more + " more requests from the client", () -> progress().sent() >= target || !process.isAlive(),
                process::tail);
        if (!process.isAlive()) {
            throw new IllegalStateException("the client exited: " + process.tail());
        }
    }

    /** Stops sending, waits for the answers in flight, and returns the client's report. */
    public OpenLoopClient.Report stop() throws IOException, InterruptedException {
        process.process().getOutputStream().close();
        if (process.waitFor(60) != 0) {
            throw new IllegalStateException("the client did not stop cleanly: " + process.tail());
        }
        String log = process.log();
        int at = log.lastIndexOf("report ");
        if (at < 0) {
            throw new IllegalStateException("no report from the client: " + process.tail());
        }
        return OpenLoopClient.Report.fromJson(log.substring(at + "report ".length()).strip());
    }
}
