package io.grapevine.cluster.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * SIGTERM and SIGINT the way a service manager expects them: the first asks for a graceful stop, which
 * the program's main thread carries out ({@link #await()}, drain, then exit 0), and a second one while
 * that runs stops the process at once with status 128 + the signal's number (143, 130).
 *
 * <p>The JVM's own handling would run shutdown hooks and exit with 143 / 130 even after a clean drain,
 * which systemd and Kubernetes report as a failure, and would ignore a second signal. A signal the
 * process inherited as ignored (a background job of a script, {@code nohup}) stays ignored.
 *
 * <p>A program may give a last step to that forced stop ({@link #beforeForcedStop}): the agent's gossip leave, so
 * that peers see it go at once instead of after their failure detector's suspicion timeout (Serf and Consul
 * attempt their leave the same way). A third signal while that step runs stops the process without it.
 *
 * <p>Handlers run on a thread the JVM starts for each signal; {@link #await()} on the caller's.
 */
public final class StopSignals {

    private static final String[] SIGNALS = {"TERM", "INT"};

    private final String program;
    private final CountDownLatch requested = new CountDownLatch(1);
    private final AtomicReference<String> first = new AtomicReference<>();
    /** Signals received after the first. */
    private final AtomicInteger forced = new AtomicInteger();
    /** Runs on a second signal, before the halt; it bounds its own time. */
    private volatile Runnable beforeForcedStop = () -> { };
    /** What makes the stop's deadline ({@link #boundStopsBy}); null until then. Guarded by this. */
    private Supplier<StopDeadline> bound;
    /** The stop's deadline, armed; null until the first signal and {@link #bound}. Guarded by this. */
    private StopDeadline stop;
    /** Whether the program waits for the signal ({@link #await()}): one that came before came during its start. */
    private volatile boolean awaited;
    /** Whether a SIGTERM / SIGINT ends the process at once ({@link #stopAtOnce}). Guarded by this. */
    private boolean atOnce;

    private StopSignals(String program) {
        this.program = program;
    }

    /** Takes over SIGTERM and SIGINT for {@code program} (its name for the message of a forced stop). */
    public static StopSignals install(String program) {
        StopSignals signals = new StopSignals(program);
        for (String name : SIGNALS) {
            handle(name, signals::received);
        }
        return signals;
    }

    /**
     * Takes over {@code names} (HUP, USR1), whose default action ends the process at once, without a drain:
     * {@code onSignal} is told ("SIGHUP") instead, on the JVM's signal thread. A signal the process inherited as
     * ignored stays ignored.
     */
    public static void takeOver(Consumer<String> onSignal, String... names) {
        for (String name : names) {
            handle(name, s -> onSignal.accept("SIG" + s.getName()));
        }
    }

    /**
     * Takes SIGHUP and SIGUSR1 over for a program that reads its command line at start only (the agent, the demo
     * backend): each is logged at INFO by {@code program}'s logger ("SIGHUP received: ignored ({@code why})") and the
     * program runs on. Their default action would end it at once (the JVM's for SIGHUP: exit 129), so main calls this
     * first, before it reads its command line or sets logging up, which take up to seconds on a loaded host: the
     * logger is made at the first signal, not here, and only the JVM's own start, before main, is left uncovered.
     * A signal that comes while logging is set up waits on the JVM's signal thread until it is.
     */
    public static void logAndIgnoreHupAndUsr1(Class<?> program, String why) {
        takeOver(name -> LoggerFactory.getLogger(program).info("{} received: ignored ({})", name, why), "HUP", "USR1");
    }

    /** Handles {@code name} with {@code handler}, unless the process inherited it as ignored. */
    private static void handle(String name, SignalHandler handler) {
        Signal signal = new Signal(name);
        if (Signal.handle(signal, handler) == SignalHandler.SIG_IGN) {
            Signal.handle(signal, SignalHandler.SIG_IGN);
        }
    }

    /**
     * What a second signal does before the process halts (the gossip leave of an agent). It must return within
     * a second or so, whatever happens: the stop was asked to come at once. A third signal does not wait for it.
     */
    public void beforeForcedStop(Runnable step) {
        beforeForcedStop = step;
    }

    /**
     * Bounds the stop from its signal: at the first SIGTERM / SIGINT {@code deadline} is made and
     * {@link StopDeadline#arm armed} on the signal's own thread (now, if one came already), whatever the program's main
     * thread does then. A start held where it would see the signal only later, or never (a log line that cannot be
     * written: standard error a pipe nobody reads), ends at the bound all the same; the watchdog names it "the start
     * (the signal came while it ran)" unless a later step was begun. Once, from main, before its first log line.
     */
    public void boundStopsBy(Supplier<StopDeadline> deadline) {
        synchronized (this) {
            bound = deadline;
        }
        armIfRequested();
    }

    /** The stop's deadline, armed when its signal came: once {@link #await()} returned, after {@link #boundStopsBy}. */
    public synchronized StopDeadline deadline() {
        return stop;
    }

    /**
     * From now on a SIGTERM or SIGINT ends the process at once with 128 + its number (143, 130), as the JVM's own
     * handling would, and one that came already ends it now. For a run that has nothing to drain and whose status says
     * how it went (a check, whose 0 says the files passed), where a stop would end it with the 0 of a stop asked for.
     */
    public void stopAtOnce() {
        String signal;
        synchronized (this) {
            atOnce = true;
            signal = first.get();
        }
        if (signal != null) {
            haltAsSignalled(signal);
        }
    }

    /** Ends the process with 128 + the number of {@code signal} ("SIGTERM"). */
    private static void haltAsSignalled(String signal) {
        Runtime.getRuntime().halt(128 + new Signal(signal.substring("SIG".length())).getNumber());
    }

    private synchronized void armIfRequested() {
        if (stop == null && bound != null && requested()) {
            stop = bound.get();
            if (!awaited) {
                stop.step("the start (the signal came while it ran)");
            }
            stop.arm(program);
        }
    }

    private void received(Signal signal) {
        if (first.compareAndSet(null, "SIG" + signal.getName())) {
            synchronized (this) {
                if (atOnce) { // set before the signal was seen: stopAtOnce read no signal
                    Runtime.getRuntime().halt(128 + signal.getNumber());
                }
            }
            try {
                armIfRequested();
            } finally {
                requested.countDown();
            }
            return;
        }
        try {
            if (forced.incrementAndGet() == 1) {
                System.err.println(program + ": second SIG" + signal.getName() + " while stopping: stopping at once");
                System.err.flush();
                beforeForcedStop.run();
            }
        } finally {
            Runtime.getRuntime().halt(128 + signal.getNumber());
        }
    }

    /** Blocks until the first SIGTERM or SIGINT (returns at once if one came already); returns its name. */
    public String await() throws InterruptedException {
        awaited = true;
        requested.await();
        return first.get();
    }

    /** Whether a stop has been asked for. */
    public boolean requested() {
        return first.get() != null;
    }
}
