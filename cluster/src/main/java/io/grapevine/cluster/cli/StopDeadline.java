package io.grapevine.cluster.cli;

import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The time a stop may take as a whole, from its start to the process's exit, as HAProxy's {@code hard-stop-after}:
 * each step of the stop waits at most what is left of it ({@link #millisLeft}), and one that is not done by then is
 * abandoned, with one line naming it and what it was waiting for ({@link #abandoned}), and the stop goes on.
 *
 * <p>A program's own stop {@link #arm arms} it: should a step not return at all (a call that cannot be bounded), a
 * watchdog thread says which step the stop was at when the time ran out and ends the process with status 0, the
 * status of a stop that was asked for. In-process users (tests) leave it unarmed.
 *
 * <p>Threads: any. {@link #step} is what the watchdog names, the latest step begun on any thread.
 */
public final class StopDeadline {

    /**
     * The logger, made at its first line, not in this class's initialisation: {@link StopSignals#boundStopsBy} makes
     * and arms a deadline on a signal's thread, which must not wait for logging to be set up (held for good where it
     * opens a log file that does not open).
     */
    private static final class Log {
        static final Logger LOG = LoggerFactory.getLogger(StopDeadline.class);
    }

    /** How long the watchdog waits for its line before the halt. */
    private static final long LINE_WAIT_MILLIS = 200;
    /**
     * What the steps leave of the budget to the watchdog ({@link #millisLeft} ends this much before the stop's deadline): a
     * step abandoned at the end of its wait has its line written and the process its exit before the watchdog, which
     * is there for a call that does not return at all, would halt it in the middle of that line.
     */
    static final long WATCHDOG_MARGIN_MILLIS = 300;

    private final long deadlineNanos;
    private final long budgetMillis;
    /** What the budget is made of, for the lines ("timeouts.shutdown_delay_ms + shutdown_grace_ms + 2000 ms"). */
    private final String budget;
    /** The deadline this one was made {@link #earlier} than, which holds the step; itself for a root. */
    private final StopDeadline root;
    /**
     * The step the watchdog names; until a step is begun, the stop's first, which is not the program's start (a stop
     * during the start names "the start (the signal came while it ran)", {@link StopSignals#boundStopsBy}).
     */
    private volatile String step = "the stop's first step";

    private StopDeadline(long deadlineNanos, long budgetMillis, String budget, StopDeadline root) {
        this.deadlineNanos = deadlineNanos;
        this.budgetMillis = budgetMillis;
        this.budget = budget;
        this.root = root == null ? this : root;
    }

    /** A stop that begins now and may take {@code budgetMillis}; {@code budget} says what that is made of. */
    public static StopDeadline after(long budgetMillis, String budget) {
        return new StopDeadline(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(budgetMillis), budgetMillis, budget,
                null);
    }

    /**
     * Starts the watchdog: at the deadline, if the process still runs, one line names the step the stop was at and
     * the process halts with status 0 ({@code program}'s stop was asked for, and is over as far as its budget goes).
     * For a program's main only, never in a test's JVM.
     */
    public StopDeadline arm(String program) {
        Thread watchdog = new Thread(() -> {
            long left;
            while ((left = root.deadlineNanos - System.nanoTime()) > 0) {
                try {
                    TimeUnit.NANOSECONDS.sleep(left);
                } catch (InterruptedException e) {
                    return;
                }
            }
            // Logged from a thread of its own, waited for briefly: a log that cannot be written (standard error a pipe
            // nobody reads) may be what holds the stop, and must not hold the halt too.
            Thread line = new Thread(() -> {
                Log.LOG.warn("stop: not over {} ms after it began ({}): {} exits now, abandoning {}", root.budgetMillis,
                        root.budget, program, root.step);
                System.err.flush();
            }, "grapevine-stop-watchdog-line");
            line.setDaemon(true);
            line.start();
            try {
                line.join(LINE_WAIT_MILLIS);
            } catch (InterruptedException e) {
                // halt all the same
            }
            Runtime.getRuntime().halt(0);
        }, "grapevine-stop-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        return this;
    }

    /** The same deadline, {@code millis} earlier: what the steps before the last ones may use, leaving them that. */
    public StopDeadline earlier(long millis) {
        return new StopDeadline(deadlineNanos - TimeUnit.MILLISECONDS.toNanos(millis), budgetMillis, budget, root);
    }

    /** {@link System#nanoTime()} at the deadline. */
    public long deadlineNanos() {
        return deadlineNanos;
    }

    /**
     * What a step may still wait: the time left until this deadline, and never into the stop's last
     * {@link #WATCHDOG_MARGIN_MILLIS} (the watchdog's), in whole milliseconds (at least 0; a part of one counts as one).
     */
    public long millisLeft() {
        long end = Math.min(deadlineNanos, root.deadlineNanos - TimeUnit.MILLISECONDS.toNanos(WATCHDOG_MARGIN_MILLIS));
        long left = end - System.nanoTime();
        return left <= 0 ? 0 : TimeUnit.NANOSECONDS.toMillis(left + 999_999);
    }

    /** What a step whose own limit is {@code ownLimitMillis} may wait: that limit, or what is left if less. */
    public long millisLeft(long ownLimitMillis) {
        return Math.min(ownLimitMillis, millisLeft());
    }

    /** The stop begins {@code what} ("the gossip leave"): the watchdog names it if the time runs out in it. */
    public void step(String what) {
        root.step = what;
    }

    /**
     * A step did not finish within {@code waitedMillis}, the time it had: one line says so ("stop: {@code what} within
     * N ms ({@code waitingFor}); the stop goes on"), and the stop goes on without it. {@code what} says what was not
     * done ("the gossip leave did not finish"), {@code waitingFor} what held it.
     */
    public void abandoned(String what, long waitedMillis, String waitingFor) {
        Log.LOG.warn("stop: {} within {} ms ({}); the stop goes on", what, waitedMillis, waitingFor);
    }

    /** The whole budget, in milliseconds. */
    public long budgetMillis() {
        return budgetMillis;
    }
}
