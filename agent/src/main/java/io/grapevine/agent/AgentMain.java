package io.grapevine.agent;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.MetadataJson;
import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.StartupHeap;
import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.cluster.cli.StopSignals;
import io.grapevine.cluster.cli.UsageException;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ./grapevine agent}: see {@link AgentOptions.Flags}. Exit codes: 0 after a graceful SIGTERM /
 * SIGINT (drain, leave), 1 when it cannot start, 2 for a bad command line or key file, 128 + the signal's
 * number for a second signal during the drain (which ends the drain, leaves at once and stops).
 */
public final class AgentMain {

    static {
        // The metadata's JSON mapper (Jackson: tens of milliseconds of cold code) is built on a thread of its own
        // while the start goes on beside it (logging, the command line, the key, the first probe); the join, which
        // needs it, waits only for what is left. First in this class, so that it starts before logging.
        Thread prepare = new Thread(() -> initialize(MetadataJson.class.getName()), "metadata-json-init");
        prepare.setDaemon(true);
        prepare.start();
    }

    private static final String PROGRAM = "grapevine agent";

    /**
     * The logger, made at its first use, not in this class's initialisation: setting logging up takes up to seconds
     * on a loaded host, and {@link #main} takes SIGHUP and SIGUSR1 over before it.
     */
    private static final class Log {
        static final Logger LOG = LoggerFactory.getLogger(AgentMain.class);
    }

    private AgentMain() {
    }

    /**
     * Runs a class's static initialisation on the calling thread (a no-op if it already ran). Only a head start:
     * whatever fails here fails again, and is reported, where the class is used.
     */
    private static void initialize(String className) {
        try {
            Class.forName(className, true, AgentMain.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            // left to the code that needs it
        }
    }

    public static void main(String[] args) throws InterruptedException {
        // First: their default action would end the agent without a drain, taking its backend away unannounced.
        StopSignals.logAndIgnoreHupAndUsr1(AgentMain.class,
                "the agent reads its flags at start only; SIGTERM drains and stops it");
        // Then SIGTERM and SIGINT, before the command line and the key file (a slow disk, a network file system) are
        // read: the JVM's own handling would exit 143 / 130, a failure to systemd. A signal before the join (the first
        // probe's retries take up to 2 s) stops the agent without joining; one during the join, once the start returns.
        StopSignals signals = StopSignals.install(PROGRAM);
        AgentOptions options = CommandLines.parseOrExit(new AgentOptions.Flags(), args, AgentOptions.Flags::validate);
        Duration drain = Duration.ofSeconds(options.drainSeconds());
        // The stop is bounded from its signal, also one during the start (from here, for one that came before), before
        // the first log line: a start held in one that cannot be written (standard error a pipe nobody reads) would
        // not reach the stop at all. The watchdog is armed on the signal's thread.
        signals.boundStopsBy(() -> Agent.StopBudget.deadline(drain));
        ClusterKeyring keyring;
        try {
            keyring = options.gossip().loadKeyring();
        } catch (UsageException e) {
            throw CommandLines.exit(CommandLines.EXIT_USAGE, PROGRAM + ": " + e.getMessage());
        }
        Optional<Agent> started;
        try {
            started = Agent.start(options, keyring, signals::requested);
        } catch (RuntimeException e) {
            String message = String.valueOf(e.getMessage());
            String flag = message.contains("for gossip") ? " (--gossip-port, --gossip-bind)"
                    : message.startsWith("cannot listen on") ? " (--target, for --demo)" : "";
            throw CommandLines.exit(CommandLines.EXIT_CANNOT_START, PROGRAM + ": cannot start: " + message + flag);
        }
        if (started.isEmpty()) {
            String signal = signals.await();
            StopDeadline stop = signals.deadline();
            Log.LOG.info("{} received while starting: stopping before joining the cluster", signal);
            throw exit(stop);
        }
        Agent agent = started.get();
        signals.beforeForcedStop(agent::leaveNow);
        StartupHeap.settle();
        String signal = signals.await();
        // The whole stop, to the exit, is bounded: past its time a watchdog ends the process with 0, should a step
        // not return (a log that cannot be written, the JVM's shutdown hooks).
        StopDeadline stop = signals.deadline();
        Log.LOG.info("{} received: {}", signal, agent.joined()
                ? "draining for " + drain.toSeconds() + " s, then leaving, all within " + stop.budgetMillis()
                        + " ms (a second signal leaves and stops at once)"
                : "stopping within " + stop.budgetMillis() + " ms");
        agent.drainAndLeave(drain, stop);
        Log.LOG.info("Agent stopped");
        throw exit(stop);
    }

    /** The last step of a stop: exit 0. */
    private static IllegalStateException exit(StopDeadline stop) {
        stop.step("the exit (the JVM's shutdown hooks)");
        return CommandLines.exit(0, null);
    }
}
