package io.grapevine.agent;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.cluster.cli.StopDeadline;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running agent: the gossip member announcing one backend, and the probe loop that keeps its
 * state current. Probes and state changes run on one "agent-probe" thread; {@link #drainAndLeave}
 * may be called from any thread, once.
 */
final class Agent {

    static final Duration PROBE_INTERVAL = Duration.ofSeconds(1);
    static final Duration PROBE_TIMEOUT = Duration.ofMillis(800);
    static final int RISE = 2;
    static final int FALL = 2;
    /** How long the first probe is retried before a backend is announced down: the time rise would take. */
    static final Duration FIRST_PROBE_WINDOW = PROBE_INTERVAL.multipliedBy(RISE);
    private static final Duration FIRST_PROBE_RETRY = Duration.ofMillis(100);

    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);
    /** What a stop waits for the demo backend's close at most: its listening socket and connections, on its loop. */
    private static final Duration BACKEND_CLOSE_TIMEOUT = Duration.ofSeconds(1);
    /** How long a forced stop (a second signal) waits for the leave: it takes 0.1-0.2 s on a LAN. */
    static final Duration FORCED_LEAVE_TIMEOUT = Duration.ofSeconds(1);
    private static final int JOIN_PENDING = 0;
    private static final int JOIN_REPORTED_MISSING = 1;
    private static final int JOINED = 2;
    /** Not joined when the stop began: a join that lands now finds the backend draining, and is no news. */
    private static final int JOIN_STOPPING = 3;

    private final AgentOptions options;
    private final GossipNode node;
    private final HealthProbe probe;
    private final HealthTracker tracker;
    private final ScheduledExecutorService prober;
    private final DemoBackend demo;
    /** JOIN_*: set by the start, the gossip thread (a late join) and {@link #drainAndLeave}. */
    private final AtomicInteger join;
    private MemberMetadata announced;
    private boolean draining;
    /** Runs in {@link #drainAndLeave} once the stop's state is announced, before the leave. For tests: they hold a join there. */
    volatile Runnable beforeLeave = () -> { };

    private Agent(AgentOptions options, GossipNode node, HealthProbe probe, HealthTracker tracker,
                  ScheduledExecutorService prober, DemoBackend demo, AtomicInteger join, MemberMetadata announced) {
        this.options = options;
        this.node = node;
        this.probe = probe;
        this.tracker = tracker;
        this.prober = prober;
        this.demo = demo;
        this.join = join;
        this.announced = announced;
    }

    /**
     * Starts the demo backend if asked, probes the target once to know its initial state, joins the
     * cluster announcing it, and starts probing every second. Says whether a seed answered: a backend
     * is only announced once the agent has joined.
     *
     * @param keyring the cluster keys, or null when {@code options.gossip().insecure()}
     */
    static Agent start(AgentOptions options, ClusterKeyring keyring) throws InterruptedException {
        return start(options, keyring, () -> false).orElseThrow();
    }

    /**
     * As {@link #start(AgentOptions, ClusterKeyring)}, unless a stop is asked for before the join: then the first
     * probe's retries end, nothing is announced (the cluster is not joined), the demo backend is closed, and the
     * result is empty. A stop asked for once the join has begun is left to {@link #drainAndLeave}.
     *
     * @param stopRequested polled from the calling thread between probes and before the join
     */
    static Optional<Agent> start(AgentOptions options, ClusterKeyring keyring, BooleanSupplier stopRequested)
            throws InterruptedException {
        DemoBackend demo = null;
        if (options.demo()) {
            demo = DemoBackend.start(options.target().host(), options.target().port(), options.target().port());
            LOG.info("Demo backend listening on {}", options.target());
        }
        HealthProbe probe = new HealthProbe(options.target(), options.healthPath(), PROBE_TIMEOUT);
        HealthProbe.Result first = firstProbe(probe, stopRequested);
        if (stopRequested.getAsBoolean()) {
            closeDemo(demo, options, startStop());
            return Optional.empty();
        }
        MemberState initial = first.healthy() ? MemberState.UP : MemberState.DOWN;
        HealthTracker tracker = new HealthTracker(initial, RISE, FALL);
        MemberMetadata metadata = options.metadata(initial);
        String loopback = options.loopbackWarning();
        if (loopback != null) {
            LOG.warn("{}", loopback);
        }

        ClusterSettings settings = options.gossip().settings(keyring)
                .gossipPort(options.gossipPort())
                .alias(options.service() + "@" + HostAndPort.format(options.announcedHost(), options.target().port()))
                .build();
        // The first member seen means the join worked. If it had not when start returned, the agent said
        // so, and says it again once a seed answers.
        AtomicInteger join = new AtomicInteger(JOIN_PENDING);
        GossipNode node;
        try {
            node = GossipNode.start(settings, metadata, event -> {
                if (event.type() == MemberEvent.Type.ADDED) {
                    if (join.compareAndSet(JOIN_REPORTED_MISSING, JOINED)) {
                        reportLateJoin(options);
                    } else if (join.compareAndSet(JOIN_STOPPING, JOINED)) {
                        LOG.info("Joined the cluster while stopping: {} at {}:{} is announced draining, and leaves",
                                options.service(), options.announcedHost(), options.target().port());
                    }
                }
                logMembership(event);
            });
        } catch (RuntimeException e) {
            closeDemo(demo, options, startStop());
            throw e;
        }
        ScheduledExecutorService prober = Executors.newSingleThreadScheduledExecutor(runnable -> {
            Thread thread = new Thread(runnable, "agent-probe");
            thread.setDaemon(false); // keeps the agent running until it is told to stop
            return thread;
        });
        Agent agent = new Agent(options, node, probe, tracker, prober, demo, join, metadata);
        if (node.joined()) {
            join.set(JOINED);
            LOG.info("Announcing {} at {}:{} weight {}{}: {} ({} {})", options.service(), metadata.host(), metadata.port(),
                    metadata.weight(), metadata.tags().isEmpty() ? "" : " tags " + metadata.tags(),
                    initial.wireName(), probe.uri(), first.detail());
        } else {
            LOG.warn("Not joined: no seed of {} answered yet; {} at {}:{} ({}) is announced once one does. Retrying"
                    + " every {} ms", options.gossip().join(), options.service(), metadata.host(), metadata.port(),
                    initial.wireName(), settings.syncInterval().toMillis());
            join.set(JOIN_REPORTED_MISSING);
            if (node.joined() && join.compareAndSet(JOIN_REPORTED_MISSING, JOINED)) {
                reportLateJoin(options); // the first member arrived while the warning was being written
            }
        }
        prober.scheduleWithFixedDelay(agent::probeOnce, PROBE_INTERVAL.toMillis(), PROBE_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
        return Optional.of(agent);
    }

    /**
     * The probe that decides the state announced at start. A backend never probed before has no history
     * for rise to smooth over, so a failed first probe is retried every 100 ms until one passes or the
     * time rise would take is up: a backend whose first answer is slow (a JVM still warming up, its own
     * or the agent's) is announced up at once, instead of down and then up {@link #RISE} probes later. The retries
     * end early once a stop is asked for.
     */
    private static HealthProbe.Result firstProbe(HealthProbe probe, BooleanSupplier stopRequested)
            throws InterruptedException {
        long deadline = System.nanoTime() + FIRST_PROBE_WINDOW.toNanos();
        HealthProbe.Result result = probe.check();
        while (!result.healthy() && System.nanoTime() < deadline && !stopRequested.getAsBoolean()) {
            Thread.sleep(FIRST_PROBE_RETRY.toMillis());
            result = probe.check();
        }
        return result;
    }

    GossipNode node() {
        return node;
    }

    synchronized MemberMetadata announced() {
        return announced;
    }

    /** Whether a member of the cluster has answered since start. */
    boolean joined() {
        return node.joined();
    }

    /**
     * A stop's bound, in a class of its own, which sets nothing up: AgentMain bounds the stop from its signal, on the
     * signal's thread, which must not wait for Agent's initialisation, where logging is set up (held for good should
     * the log file not open).
     */
    static final class StopBudget {
        /** What a stop waits for the gossip leave at most: it takes 0.1-0.2 s on a LAN. */
        static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(10);
        /**
         * What a stop may take beyond {@code --drain-seconds} and {@link #LEAVE_TIMEOUT} (operations.md, "Signals and
         * the drain order"): the demo backend's close and the exit.
         */
        static final Duration STOP_MARGIN = Duration.ofSeconds(2);
        /** What a stop keeps after the drain, for the leave and {@link #STOP_MARGIN}. */
        static final long AFTER_DRAIN_MILLIS = LEAVE_TIMEOUT.plus(STOP_MARGIN).toMillis();

        private StopBudget() {
        }

        /**
         * A stop that begins now, bounded as operations.md says: {@code drain} + {@link #LEAVE_TIMEOUT} +
         * {@link #STOP_MARGIN}.
         */
        static StopDeadline deadline(Duration drain) {
            return StopDeadline.after(drain.toMillis() + AFTER_DRAIN_MILLIS, "--drain-seconds + " + AFTER_DRAIN_MILLIS
                    + " ms");
        }
    }

    /** {@link #drainAndLeave(Duration, StopDeadline)} within a stop of its own, beginning now. */
    void drainAndLeave(Duration drain) {
        drainAndLeave(drain, StopBudget.deadline(drain));
    }

    /**
     * Announces the backend as draining, waits {@code drain}, leaves the cluster and stops probing
     * and the demo backend. Blocks for about {@code drain} plus the leave (well under a second). An agent
     * that never joined has announced nothing to anyone: it stops at once, without the drain, but draining
     * all the same, for a join that lands while it stops.
     *
     * <p>Within {@code stop}: the drain ends {@link StopBudget#LEAVE_TIMEOUT} + {@link StopBudget#STOP_MARGIN} before
     * its deadline at the latest, the leave waits at most {@link StopBudget#LEAVE_TIMEOUT} and ends
     * {@link StopBudget#STOP_MARGIN} before it, the demo
     * backend's close at most {@link #BACKEND_CLOSE_TIMEOUT}; a step not done by then is left with one line, and the
     * stop goes on.
     */
    void drainAndLeave(Duration drain, StopDeadline stop) {
        boolean joined;
        synchronized (this) {
            if (draining) {
                return;
            }
            draining = true;
            // From here a join that lands (the gossip thread) is reported as one during the stop, not as an announcement.
            joined = !join.compareAndSet(JOIN_REPORTED_MISSING, JOIN_STOPPING) || node.joined();
            // Announced even before any seed answered: the join is still retried on the gossip thread and may land
            // during the stop, when the leave may reach no one; whoever it reaches must find the backend draining.
            if (!joined) {
                LOG.info("Never joined the cluster: stopping without a drain");
            }
            publish(MemberState.DRAINING, joined ? "shutting down; leaving in " + drain.toSeconds() + " s"
                    : "shutting down; leaving now");
        }
        prober.shutdownNow();
        beforeLeave.run();
        try {
            if (joined) {
                stop.step("the drain (--drain-seconds)");
                // the drain period itself
                Thread.sleep(stop.earlier(StopBudget.AFTER_DRAIN_MILLIS).millisLeft(drain.toMillis()));
            }
            leave(stop);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            node.leave();
        } finally {
            closeDemo(demo, options, stop);
        }
    }

    /**
     * The gossip leave, waited for at most {@link StopBudget#LEAVE_TIMEOUT}, and until {@link StopBudget#STOP_MARGIN}
     * before the deadline.
     */
    private void leave(StopDeadline stop) throws InterruptedException {
        stop.step("the gossip leave");
        long wait = stop.earlier(StopBudget.STOP_MARGIN.toMillis()).millisLeft(StopBudget.LEAVE_TIMEOUT.toMillis());
        try {
            node.leave().get(wait, TimeUnit.MILLISECONDS);
            LOG.info("Left the cluster");
        } catch (TimeoutException e) {
            stop.abandoned("the gossip leave did not finish", wait,
                    "the leave spreading to the peers and the gossip port closing");
        } catch (ExecutionException e) {
            LOG.warn("Leaving the cluster did not finish cleanly: {}", e.getCause().toString());
        }
    }

    /** A stop during the start: the demo backend's close, the one step it has. */
    private static StopDeadline startStop() {
        return StopDeadline.after(BACKEND_CLOSE_TIMEOUT.toMillis(), "the demo backend's close, "
                + BACKEND_CLOSE_TIMEOUT.toMillis() + " ms");
    }

    /** Closes {@code demo} (if there is one), waiting at most {@link #BACKEND_CLOSE_TIMEOUT} of {@code stop}. */
    private static void closeDemo(DemoBackend demo, AgentOptions options, StopDeadline stop) {
        if (demo == null) {
            return;
        }
        stop.step("closing the demo backend");
        long wait = stop.millisLeft(BACKEND_CLOSE_TIMEOUT.toMillis());
        if (!demo.close(wait)) {
            stop.abandoned("the demo backend on " + options.target() + " did not close", wait,
                    "its event loop runs a task");
        }
    }

    /**
     * The last step of a forced stop (a second signal, on its handler's thread): the gossip leave, waited for at
     * most {@link #FORCED_LEAVE_TIMEOUT}, so that peers see the backend go now rather than after their suspicion
     * timeout. The process halts right after; a leave that {@link #drainAndLeave} began already is the same one.
     */
    void leaveNow() {
        try {
            node.leave().get(FORCED_LEAVE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            LOG.info("Left the cluster");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("Leaving the cluster did not finish within {} ms: {}", FORCED_LEAVE_TIMEOUT.toMillis(), e.toString());
        }
    }

    private void probeOnce() {
        try {
            HealthProbe.Result result = probe.check();
            tracker.record(result.healthy()).ifPresent(state -> {
                synchronized (this) {
                    if (!draining) {
                        publish(state, result.detail() + ", " + (state == MemberState.UP ? RISE + " probes passed" : FALL + " probes failed"));
                    }
                }
            });
        } catch (RuntimeException e) {
            LOG.warn("Health probe failed unexpectedly: {}", e.toString());
        }
    }

    /** Caller holds the lock. One log line per state change. */
    private void publish(MemberState state, String reason) {
        MemberState before = announced.state();
        announced = announced.withState(state);
        node.updateMetadata(announced);
        LOG.info("{} at {}:{}: {} -> {} ({}), version {}", options.service(), announced.host(), announced.port(),
                before.wireName(), state.wireName(), reason, announced.version());
    }

    private static void reportLateJoin(AgentOptions options) {
        LOG.info("Joined the cluster: {} at {}:{} is announced now", options.service(), options.announcedHost(),
                options.target().port());
    }

    private static void logMembership(MemberEvent event) {
        if (LOG.isDebugEnabled()) {
            LOG.debug("Member {} {} {}", event.type(), event.alias() == null ? event.memberId() : event.alias(), event.metadata());
        }
    }
}
