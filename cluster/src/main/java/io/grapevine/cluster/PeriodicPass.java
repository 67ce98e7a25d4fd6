package io.grapevine.cluster;

import org.slf4j.Logger;

/**
 * One pass of a periodic task ({@code scheduleAtFixedRate} / {@code scheduleWithFixedDelay}, of an executor or a Netty
 * loop alike), run so that a pass that throws does not end the task: such a task that throws is never run again, and
 * nothing says so. A pass that fails is logged instead, once for a run of failed passes (not once a tick), and the
 * next pass runs as scheduled; one that succeeds ends the run, so the next failure is logged again.
 *
 * <p>Not thread-safe, and need not be: the passes of one periodic task never overlap, and each happens-before the next.
 */
public final class PeriodicPass implements Runnable {

    private final Runnable pass;
    private final Logger log;
    private final String failure;
    /** Whether the last pass failed: its failure was logged. */
    private boolean failing;

    /**
     * @param pass    what each pass does
     * @param log     where a failed pass is logged, as an error with what it threw
     * @param failure what the log says of a failed pass: what it misses, until when
     */
    public PeriodicPass(Runnable pass, Logger log, String failure) {
        this.pass = pass;
        this.log = log;
        this.failure = failure;
    }

    @Override
    public void run() {
        try {
            pass.run();
            failing = false;
        } catch (RuntimeException e) {
            if (!failing) {
                log.error(failure, e);
            }
            failing = true;
        }
    }
}
