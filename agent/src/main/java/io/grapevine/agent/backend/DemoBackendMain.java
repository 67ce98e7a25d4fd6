package io.grapevine.agent.backend;

import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.cluster.cli.StopSignals;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ./grapevine backend --port P [--count N] [--host H] [--threads T]}: runs N
 * {@link DemoBackend} workers (ids 1..N) until SIGTERM or SIGINT, then closes them, waiting 1 s at most, and exits,
 * all within 5 s (a watchdog ends the process with 0 at that bound should a step not return). SIGHUP and SIGUSR1,
 * whose default action would end it at once, are logged and ignored, as by the agent.
 *
 * <p>Exit status: 0 after {@code --help} and after a stop by SIGTERM / SIGINT, 2 for a bad command line,
 * 1 when a port cannot be bound (the workers already started are closed first), 128 + the signal's
 * number for a second signal while stopping.
 */
public final class DemoBackendMain {
    private static final String PROGRAM = "grapevine backend";
    /**
     * What a stop may take, from the signal to the exit, also for a signal during the start (from the end of the
     * command line's reading, for one that came before).
     */
    private static final long STOP_MILLIS = 5_000;
    /** What a stop waits for the workers' close at most: their listening sockets and connections, on their loop. */
    private static final long CLOSE_WAIT_MILLIS = 1_000;
    /** How many workers a line about those not closed names. */
    private static final int IDS_NAMED = 10;

    private DemoBackendMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        // First, before the command line and logging (no logger in this class's initialisation): their default
        // action would end the backend at once.
        StopSignals.logAndIgnoreHupAndUsr1(DemoBackendMain.class, "SIGTERM stops the backend");
        // Then SIGTERM and SIGINT, before the command line too: the JVM's own handling would exit 143 / 130, a failure
        // to systemd and to ./grapevine demo. A signal while the backend starts stops it once its workers listen.
        StopSignals signals = StopSignals.install(PROGRAM);
        BackendOptions options = CommandLines.parseOrExit(new BackendOptions.Flags(), args, BackendOptions.Flags::validate);
        // The stop is bounded from its signal, also one during the start, before logging is set up: a start held there
        // (a log file that does not open) or in a log line that cannot be written would not reach the stop at all. The
        // watchdog is armed on the signal's thread.
        signals.boundStopsBy(() -> StopDeadline.after(STOP_MILLIS, STOP_MILLIS + " ms"));
        Logger log = LoggerFactory.getLogger(DemoBackendMain.class);
        BackendEventLoop.setThreads(options.threads());
        List<DemoBackend> workers = new ArrayList<>(options.count());
        for (int id = 1; id <= options.count(); id++) {
            try {
                DemoBackend worker = DemoBackend.start(options.host(), options.portOf(id), id);
                workers.add(worker);
                log.info("backend {} listening on {}:{} ({})", id, options.host(), worker.port(), BackendEventLoop.transport());
            } catch (IllegalStateException | IllegalArgumentException e) {
                DemoBackend.close(workers, CLOSE_WAIT_MILLIS);
                throw CommandLines.exit(CommandLines.EXIT_CANNOT_START, PROGRAM + ": worker " + id + " (--port "
                        + options.port() + "): " + e.getMessage());
            }
        }
        String signal = signals.await();
        // The whole stop, to the exit, is bounded: past its time a watchdog ends the process with 0, should a step not
        // return (a log that cannot be written, the JVM's shutdown hooks).
        StopDeadline stop = signals.deadline();
        stop.step("closing the backends");
        long wait = stop.millisLeft(CLOSE_WAIT_MILLIS);
        List<DemoBackend> open = DemoBackend.close(workers, wait);
        if (!open.isEmpty()) {
            stop.abandoned("backend(s) " + ids(open) + " did not close", wait, "their event loop runs a task");
        }
        log.info("{} received: stopped {}{} backend(s)", signal, workers.size() - open.size(),
                open.isEmpty() ? "" : " of " + workers.size());
        stop.step("the exit (the JVM's shutdown hooks)");
        throw CommandLines.exit(0, null);
    }

    /** The ids of {@code workers}, the first {@link #IDS_NAMED} of them: "1, 2, 3" or "1, 2, ... (40 in all)". */
    private static String ids(List<DemoBackend> workers) {
        StringJoiner ids = new StringJoiner(", ");
        workers.stream().limit(IDS_NAMED).forEach(worker -> ids.add(Integer.toString(worker.id())));
        return workers.size() <= IDS_NAMED ? ids.toString() : ids + ", ... (" + workers.size() + " in all)";
    }
}
