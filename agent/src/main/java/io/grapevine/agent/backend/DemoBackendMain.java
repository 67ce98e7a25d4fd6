package io.grapevine.agent.backend;

import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.StopSignals;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ./grapevine backend --port P [--count N] [--host H] [--threads T]}: runs N
 * {@link DemoBackend} workers (ids 1..N) until SIGTERM or SIGINT, then closes them. SIGHUP and SIGUSR1,
 * whose default action would end it at once, are logged and ignored, as by the agent.
 *
 * <p>Exit status: 0 after {@code --help} and after a stop by SIGTERM / SIGINT, 2 for a bad command line,
 * 1 when a port cannot be bound (the workers already started are closed first), 128 + the signal's
 * number for a second signal while stopping.
 */
public final class DemoBackendMain {
    private static final String PROGRAM = "grapevine backend";

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
        Logger log = LoggerFactory.getLogger(DemoBackendMain.class);
        BackendEventLoop.setThreads(options.threads());
        List<DemoBackend> workers = new ArrayList<>(options.count());
        for (int id = 1; id <= options.count(); id++) {
            try {
                DemoBackend worker = DemoBackend.start(options.host(), options.portOf(id), id);
                workers.add(worker);
                log.info("backend {} listening on {}:{} ({})", id, options.host(), worker.port(), BackendEventLoop.transport());
            } catch (IllegalStateException | IllegalArgumentException e) {
                workers.forEach(DemoBackend::close);
                throw CommandLines.exit(CommandLines.EXIT_CANNOT_START, PROGRAM + ": worker " + id + " (--port "
                        + options.port() + "): " + e.getMessage());
            }
        }
        String signal = signals.await();
        workers.forEach(DemoBackend::close);
        log.info("{} received: stopped {} backend(s)", signal, workers.size());
        throw CommandLines.exit(0, null);
    }
}
