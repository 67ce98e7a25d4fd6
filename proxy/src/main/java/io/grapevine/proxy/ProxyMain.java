package io.grapevine.proxy;

import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.EnvironmentVariable;
import io.grapevine.cluster.cli.GossipFlags;
import io.grapevine.cluster.cli.GossipOptions;
import io.grapevine.cluster.cli.ProgramVersion;
import io.grapevine.cluster.cli.StartupHeap;
import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.cluster.cli.StopSignals;
import io.grapevine.cluster.cli.UsageException;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.membership.BackendTemplate;
import io.grapevine.proxy.membership.ExportRenderer;
import io.grapevine.proxy.membership.GossipMembership;
import io.grapevine.proxy.net.LoopSlice;
import io.grapevine.proxy.net.Transport;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ./grapevine proxy}: parses the command line, checks every file, opens the ports, then runs until
 * SIGTERM / SIGINT, drains and exits 0. Exit codes are listed in {@link Flags}' help.
 */
public final class ProxyMain {

    private static final String PROGRAM = "grapevine proxy";
    private static final String GOSSIP_OFF = "add --gossip PORT (this proxy's gossip port, 7946 by convention) or"
            + " --join HOST:PORT to join a cluster";

    private ProxyMain() {
    }

    /** The flags as given; {@link #validate()} checks them. */
    @Command(name = "./grapevine proxy", mixinStandardHelpOptions = true, versionProvider = ProgramVersion.class,
            synopsisHeading = "",
            customSynopsis = {
                "usage: ./grapevine proxy --servers FILE [options]",
                "       ./grapevine proxy --servers FILE --check [options]",
                "       ./grapevine proxy --render TEMPLATE --out FILE [--on-change CMD] --join HOST:PORT ..."},
            description = {
                "%nAn HTTP reverse proxy serving the servers of servers.conf, and with --gossip or --join also the"
                        + " backends its agents announce. Gossip needs --cluster-key FILE (or --insecure-gossip).",
                "SIGHUP or an edit of servers.conf / the template reloads them without a restart; SIGUSR1 reopens the"
                        + " access log only. SIGTERM or SIGINT drains (in-flight requests finish) and exits 0; a second"
                        + " signal stops at once."},
            optionListHeading = "%noptions:%n", sortOptions = false, usageHelpWidth = 100,
            exitCodeListHeading = "%nexit status:%n",
            exitCodeList = {
                CommandLines.EXIT_STOPPED,
                "1:could not start: a port in use (--listen, --admin, --gossip), an address not of this host",
                "2:bad command line; unreadable or invalid servers.conf, template, cluster key, admin token or"
                        + " access log file (with --check: a file that does not pass)",
                "130, 143:a second SIGINT / SIGTERM while stopping, or one during --check: stopped at once"})
    static final class Flags {

        @Option(names = "--servers", paramLabel = "FILE", description = "static configuration (servers.conf); required")
        @EnvironmentVariable("GRAPEVINE_SERVERS")
        String servers;

        @Option(names = "--listen", paramLabel = "HOST:PORT",
                description = "client listener (default: the file's \"listen\", else 127.0.0.1:9000)")
        @EnvironmentVariable("GRAPEVINE_LISTEN")
        String listen;

        @Option(names = "--admin", paramLabel = "HOST:PORT",
                description = "admin listener (default: the file's \"admin\", else 127.0.0.1:9001)")
        @EnvironmentVariable("GRAPEVINE_ADMIN")
        String admin;

        @Option(names = "--gossip", paramLabel = "PORT",
                description = "join the gossip cluster with this gossip port (7946 by convention; 0: any free"
                        + " port). Without --gossip or --join the proxy opens no gossip port")
        @EnvironmentVariable("GRAPEVINE_GOSSIP_PORT")
        String gossipPort;

        @Option(names = "--no-gossip", description = "serve from servers.conf alone (the default without --gossip"
                + " and --join); ignores gossip settings from the environment")
        boolean noGossip;

        @Mixin
        GossipFlags gossip = new GossipFlags();

        @Option(names = "--template", paramLabel = "FILE",
                description = "backend table template (default templates/backends.mustache)")
        @EnvironmentVariable("GRAPEVINE_TEMPLATE")
        String template;

        @Option(names = "--render", paramLabel = "TEMPLATE",
                description = "render mode: no listener; render the membership into --out")
        String render;

        @Option(names = "--out", paramLabel = "FILE",
                description = "the file --render writes (replaced atomically, only on change)")
        String out;

        @Option(names = "--on-change", paramLabel = "CMD",
                description = "shell command run after --out changed (e.g. an HAProxy reload)")
        String onChange;

        @Option(names = "--on-change-timeout-ms", paramLabel = "N",
                description = "how long --on-change may run before it is killed (default 60000)")
        String onChangeTimeout = Long.toString(ExportRenderer.DEFAULT_COMMAND_TIMEOUT.toMillis());

        @Option(names = "--debounce-ms", paramLabel = "N", description = "membership render window in ms (default 50)")
        String debounce = Long.toString(ProxyInstance.DEFAULT_DEBOUNCE_MILLIS);

        @Option(names = "--admin-token-file", paramLabel = "FILE",
                description = "file holding the bearer token (16 or more visible characters) that admin writes"
                        + " (PUT /servers/..., POST /reload) need; without it writes are allowed on a loopback admin"
                        + " listener only")
        @EnvironmentVariable("GRAPEVINE_ADMIN_TOKEN_FILE")
        String adminTokenFile;

        @Option(names = "--transport", paramLabel = "io_uring|epoll|nio",
                description = "the event loops' I/O: io_uring, epoll (the default) or nio. One this host cannot run"
                        + " falls back to the next of io_uring, epoll, nio; the start-up log says which runs and why")
        @EnvironmentVariable("GRAPEVINE_TRANSPORT")
        String transport;

        @Option(names = "--loop-slice-us", paramLabel = "N",
                description = "the event loops' scheduler slice in microseconds, 100..100000, or 0 for the kernel's"
                        + " (the default): a loop woken by a request then preempts the proxy's other threads (JIT"
                        + " compilers, a reload) instead of waiting for their slice to end (Linux 6.12 and later)")
        @EnvironmentVariable("GRAPEVINE_LOOP_SLICE_US")
        String loopSlice;

        @Option(names = "--check", description = "check servers.conf and every other file the proxy would read"
                + " (template, keys, token, TLS certificates, access log), print \"ok: ...\" and exit 0, or the error and"
                + " exit 2; opens no port")
        boolean check;

        @Spec
        CommandSpec spec;

        private boolean given(String flag) {
            return spec.commandLine().getParseResult().hasMatchedOption(flag);
        }

        ProxyInstance.Options validate() throws UsageException {
            if (servers == null && render == null) {
                throw new UsageException("--servers FILE is required");
            }
            HostPort listenAt = listen == null ? null : hostPort(listen, "--listen");
            HostPort adminAt = admin == null ? null : hostPort(admin, "--admin");
            if (noGossip) {
                for (String flag : new String[] {"--gossip", "--join", "--advertise", "--gossip-bind", "--cluster-key",
                    "--insecure-gossip", "--template"}) {
                    if (given(flag)) {
                        throw new UsageException("--no-gossip cannot be combined with --gossip, --join, --advertise,"
                                + " --gossip-bind, --cluster-key, --insecure-gossip or --template");
                    }
                }
                if (render != null) {
                    throw new UsageException("--render renders the gossip membership: it cannot be combined with --no-gossip");
                }
            }
            boolean gossipOn = !noGossip && (gossipPort != null || !gossip.seeds().isEmpty());
            GossipOptions cluster = null;
            int port = GossipMembership.DEFAULT_PORT;
            if (gossipOn) {
                if (gossipPort != null) {
                    port = (int) number(gossipPort, "--gossip", 0, 65535, "a port");
                }
                cluster = gossip.validate();
            } else {
                if (render != null) {
                    throw new UsageException("--render renders the gossip membership: give --join HOST:PORT"
                            + " (or --gossip PORT)");
                }
                gossip.requireNoneGiven(GOSSIP_OFF);
                if (given("--template")) {
                    throw new UsageException("--template is a gossip setting, but gossip is off: " + GOSSIP_OFF);
                }
            }
            if ((render == null) != (out == null)) {
                throw new UsageException("--render TEMPLATE and --out FILE go together");
            }
            if (onChange != null && render == null) {
                throw new UsageException("--on-change needs --render and --out");
            }
            if (given("--on-change-timeout-ms") && onChange == null) {
                throw new UsageException("--on-change-timeout-ms needs --on-change");
            }
            long timeout = number(onChangeTimeout, "--on-change-timeout-ms", 1, 86_400_000, "a number");
            long window = number(debounce, "--debounce-ms", 1, 60_000, "a number");
            if (adminTokenFile != null && render != null) {
                throw new UsageException("--admin-token-file protects the admin listener, which --render does not open");
            }
            Transport io = null;
            if (transport != null) {
                if (render != null && given("--transport")) {
                    throw new UsageException("--transport chooses the I/O of the listeners, which --render does not open");
                }
                try {
                    io = render == null ? Transport.parse(transport) : null;
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--transport: " + e.getMessage());
                }
            }
            long slice = LoopSlice.DEFAULT_MICROS;
            if (render != null && given("--loop-slice-us")) {
                throw new UsageException("--loop-slice-us sets the slice of the event loops, which --render does not run");
            }
            if (loopSlice != null && render == null) {
                slice = number(loopSlice, "--loop-slice-us", 0, LoopSlice.MAX_MICROS, "a number of microseconds");
                if (slice != 0 && slice < LoopSlice.MIN_MICROS) {
                    throw new UsageException("--loop-slice-us: \"" + loopSlice + "\" is under the " + LoopSlice.MIN_MICROS
                            + " µs the kernel allows (0 leaves the kernel's slice)");
                }
            }
            return new ProxyInstance.Options(path(servers), listenAt, adminAt, cluster, port,
                    gossipOn ? path(template) : null, path(render), path(out), onChange, timeout, window,
                    path(adminTokenFile), check, io, slice);
        }
    }

    /** Parses a command line, with defaults from {@code environment}. */
    static CommandLines.Parsed<ProxyInstance.Options> parse(String[] args, Map<String, String> environment)
            throws UsageException {
        return CommandLines.parse(new Flags(), environment, args, Flags::validate);
    }

    /**
     * The logger, made at its first use, not in this class's initialisation: setting logging up takes up to seconds
     * on a loaded host, and {@link #main} takes SIGHUP and SIGUSR1 over before it.
     */
    private static final class Log {
        static final Logger LOG = LoggerFactory.getLogger(ProxyMain.class);
    }

    public static void main(String[] args) throws InterruptedException {
        // SIGHUP's and SIGUSR1's default action ends the process (the JVM's for SIGHUP: exit 129): taken over first,
        // before logging is set up and the command line read, which take up to seconds on a loaded host. Until the
        // start has set up the reloads and the access log, one is noted (systemctl reload just after systemctl
        // start; logrotate's postrotate while the proxy starts, after the start opened the file it renamed) and
        // carried out once the proxy runs. Only the JVM's own start, before main, is left uncovered.
        AtomicBoolean hupDuringStart = new AtomicBoolean();
        AtomicBoolean usr1DuringStart = new AtomicBoolean();
        StopSignals.takeOver(name -> (name.equals("SIGHUP") ? hupDuringStart : usr1DuringStart).set(true),
                "HUP", "USR1");
        // Then SIGTERM and SIGINT, before logging and the command line too: the JVM's own handling would exit 143 /
        // 130, which systemd and Kubernetes count as a failure of a stop they asked for. A signal that comes before the
        // start (files read, then ports opened) stops the proxy without opening a port; one during it, at the start's
        // next phase boundary (files read; in render mode the gossip join), before it opens a port or runs
        // --on-change; one once the listeners are open, by the drain when the start returns.
        StopSignals signals = StopSignals.install(PROGRAM);
        // A check drains nothing, and its 0 says the files passed: a signal ends it at once with 143 / 130, never with
        // the 0 of a stop asked for. Told from the arguments as given, before their reading, which sets logging up and
        // may be held there for good: a "--check" argument is always the flag (another flag's value that reads so is
        // given as --flag=--check); one read from an @-file is known once the command line is read.
        if (Arrays.asList(args).contains("--check")) {
            signals.stopAtOnce();
        }
        // The stop is bounded from its signal, also one during the start, before logging is set up and the first log
        // line: a start held in one that cannot be written (standard error a pipe nobody reads) or at a log file that
        // does not open would not reach the stop at all. The watchdog is armed on the signal's thread, with
        // servers.conf's timeouts once the start has read its files, the defaults' before.
        StopBudget budget = new StopBudget();
        signals.boundStopsBy(budget::deadline);
        ProxyInstance.Options options = CommandLines.parseOrExit(new Flags(), args, Flags::validate);
        if (options.check()) {
            signals.stopAtOnce(); // again, for a --check read from an @-file
            check(options);
        }
        if (signals.requested()) {
            Log.LOG.info("{} received while starting: stopping before opening any port", signals.await());
            throw CommandLines.exit(0, null);
        }
        ProxyInstance instance;
        try {
            instance = ProxyInstance.start(options, signals::requested, budget);
        } catch (ProxyInstance.StoppedWhileStarting e) {
            Log.LOG.info("{} received while starting ({}): stopping before {}", signals.await(), e.step(), e.before());
            throw CommandLines.exit(0, null);
        } catch (ConfigException | BackendTemplate.TemplateException | UsageException e) {
            throw CommandLines.exit(CommandLines.EXIT_USAGE, PROGRAM + ": " + e.getMessage());
        } catch (ListenerBindException | GossipStartException e) {
            throw CommandLines.exit(CommandLines.EXIT_CANNOT_START, PROGRAM + ": " + e.getMessage());
        } catch (Exception e) {
            Log.LOG.debug("start failed", e);
            throw CommandLines.exit(CommandLines.EXIT_CANNOT_START, PROGRAM + ": cannot start: " + e);
        }
        // A second signal stops the proxy at once, but not before the access log has what it answered (within 0.5 s).
        signals.beforeForcedStop(() -> instance.writeAccessLogBeforeHalt(500));
        // nginx's "reopen the log files", which its logrotate recipes send; its default action ends the process at once.
        Consumer<String> reopen = name -> {
            Log.LOG.info("{}: reopening the access log", name);
            instance.reopenAccessLog();
        };
        StopSignals.takeOver(reopen, "USR1");
        if (hupDuringStart.get()) {
            instance.reloadNow("SIGHUP"); // which reopens the access log too
        } else if (usr1DuringStart.get()) {
            reopen.accept("SIGUSR1");
        }
        StartupHeap.settle();
        String signal = signals.await();
        // The whole stop, from the signal to the exit, is bounded (HAProxy's hard-stop-after): past its time a watchdog
        // ends the process with 0, should a step not return.
        StopDeadline stop = signals.deadline();
        Log.LOG.info("{} received: stopping within {} ms (a second signal stops at once)", signal, stop.budgetMillis());
        instance.shutdown(stop);
        throw CommandLines.exit(0, null);
    }

    /** {@code --check}: one line on standard output and exit 0, or the error on standard error and exit 2. */
    private static void check(ProxyInstance.Options options) {
        String summary;
        try {
            summary = ProxyInstance.check(options);
        } catch (ConfigException | BackendTemplate.TemplateException | UsageException e) {
            throw CommandLines.exit(CommandLines.EXIT_USAGE, PROGRAM + ": " + e.getMessage());
        } catch (Exception e) {
            throw CommandLines.exit(CommandLines.EXIT_USAGE, PROGRAM + ": " + e);
        }
        System.out.println(summary);
        System.out.flush();
        throw CommandLines.exit(0, null);
    }

    private static Path path(String value) {
        return value == null ? null : Path.of(value);
    }

    private static HostPort hostPort(String text, String flag) throws UsageException {
        try {
            return HostPort.parse(text);
        } catch (IllegalArgumentException e) {
            throw new UsageException(flag + ": " + e.getMessage());
        }
    }

    private static long number(String text, String flag, long min, long max, String what) throws UsageException {
        try {
            long n = Long.parseLong(text.strip());
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException(flag + ": \"" + text + "\" is not " + what + " " + min + ".." + max);
    }
}
