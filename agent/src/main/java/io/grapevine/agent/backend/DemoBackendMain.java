package io.grapevine.agent.backend;

import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ./grapevine backend --port P [--count N] [--host H] [--threads T]}: runs N
 * {@link DemoBackend} workers (ids 1..N) until SIGTERM or SIGINT, then closes them.
 *
 * <p>Exit status: 0 after {@code --help}, 2 for a bad command line, 1 when a port cannot be
 * bound (the workers already started are closed first); on a signal, the JVM's usual status.
 */
public final class DemoBackendMain {
    private static final Logger log = LoggerFactory.getLogger(DemoBackendMain.class);

    private DemoBackendMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        BackendOptions options;
        try {
            options = BackendOptions.parse(args);
        } catch (BackendOptions.UsageException e) {
            System.err.println("grapevine backend: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (options.help()) {
            System.out.print(BackendOptions.USAGE);
            return;
        }
        BackendEventLoop.setThreads(options.threads());
        List<DemoBackend> workers = new ArrayList<>(options.count());
        for (int id = 1; id <= options.count(); id++) {
            try {
                DemoBackend worker = DemoBackend.start(options.host(), options.portOf(id), id);
                workers.add(worker);
                log.info("backend {} listening on {}:{} ({})", id, options.host(), worker.port(), BackendEventLoop.transport());
            } catch (IllegalStateException | IllegalArgumentException e) {
                workers.forEach(DemoBackend::close);
                System.err.println("grapevine backend: worker " + id + ": " + e.getMessage());
                System.exit(1);
                return;
            }
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            workers.forEach(DemoBackend::close);
            log.info("stopped {} backend(s)", workers.size());
        }, "grapevine-backend-shutdown"));
        // The workers run on daemon threads: this thread keeps the JVM up until a signal ends it.
        Thread.currentThread().join();
    }
}
