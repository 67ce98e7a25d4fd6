package io.grapevine.proxy.testing.netns;

import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.OpenLoopClient;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@link OpenLoopClient} running as a process in a lab host: its progress is read from the lines it prints,
 * and closing its standard input stops it and makes it print its report.
 */
public final class LabClient {

    private static final Pattern PROGRESS = Pattern.compile(
            "progress sent=(\\d+) ok=(\\d+) failed=(\\d+) dropped=(\\d+) failovers=(\\d+) answers=(\\S*)");

    /** The last progress line; {@code answers} by demo backend id. */
    public record Progress(long sent, long ok, long failed, long dropped, long failovers, Map<Integer, Long> answers) {

        public long answersFrom(int id) {
            return answers.getOrDefault(id, 0L);
        }
    }

    private final ChildProcess process;

    LabClient(ChildProcess process) {
        this.process = process;
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
