package io.grapevine.agent;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The agent's command line, parsed and validated once.
 *
 * @param join         seed addresses of the cluster
 * @param service      the service the backend provides
 * @param target       where the backend listens (probed, and announced unless {@code advertise} is set)
 * @param weight       load-balancing weight, 0..256
 * @param tags         free-form labels announced with the backend
 * @param healthPath   HTTP path probed on the target
 * @param gossipPort   membership port, 0 for an ephemeral one
 * @param advertise    address announced for both the backend and the gossip member, or null
 * @param clusterKey   key file, or null to run without authentication
 * @param drainSeconds how long the backend is announced as draining before the agent leaves
 * @param demo         also run a demo backend on the target address
 */
record AgentOptions(List<HostAndPort> join, String service, HostAndPort target, int weight,
                    Map<String, String> tags, String healthPath, int gossipPort, String advertise,
                    Path clusterKey, int drainSeconds, boolean demo) {

    static final String USAGE = """
            usage: ./grapevine agent --join HOST:PORT[,...] --service NAME --target HOST:PORT [options]

            Runs beside a backend: joins the Grapevine cluster, announces the backend, probes its
            health every second and publishes up/down changes; on SIGTERM announces it as draining,
            waits, then leaves the cluster and exits 0.

              --join HOST:PORT[,...]   cluster members to join through (usually the proxy's gossip port, 7946)
              --service NAME           service name (letters, digits, '.', '_', '-')
              --target HOST:PORT       where the backend listens
              --weight N               load-balancing weight, 0..256 (default 1)
              --tag K=V                label announced with the backend; repeatable
              --health-path PATH       HTTP path probed on the target (default /health)
              --gossip-port N          membership port (default 0: any free port)
              --advertise HOST         address announced to the cluster for this backend and member
                                       (default: the target host, and the address that routes to the seeds)
              --cluster-key FILE       cluster key file (./grapevine keygen); without it traffic is open
              --drain-seconds N        time announced as draining before leaving (default 5)
              --demo                   also start a demo backend on the target address
              --help                   this text
            """;

    /** Parses {@code --flag value} and {@code --flag=value}; throws with one line naming the problem. */
    static AgentOptions parse(String[] args) throws UsageException {
        List<HostAndPort> join = null;
        String service = null;
        HostAndPort target = null;
        int weight = 1;
        Map<String, String> tags = new LinkedHashMap<>();
        String healthPath = "/health";
        int gossipPort = 0;
        String advertise = null;
        Path clusterKey = null;
        int drainSeconds = 5;
        boolean demo = false;

        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            String flag = arg;
            String inline = null;
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0) {
                flag = arg.substring(0, eq);
                inline = arg.substring(eq + 1);
            }
            switch (flag) {
                case "--demo" -> {
                    if (inline != null) {
                        throw new UsageException("--demo takes no value");
                    }
                    demo = true;
                }
                case "--join", "--service", "--target", "--weight", "--tag", "--health-path", "--gossip-port",
                        "--advertise", "--cluster-key", "--drain-seconds" -> {
                    String value = inline;
                    if (value == null) {
                        if (i + 1 >= args.length) {
                            throw new UsageException(flag + " needs a value");
                        }
                        value = args[++i];
                    }
                    switch (flag) {
                        case "--join" -> join = parseJoin(value);
                        case "--service" -> service = value;
                        case "--target" -> target = hostPort(value, "--target");
                        case "--weight" -> weight = intIn(value, "--weight", 0, MemberMetadata.MAX_WEIGHT);
                        case "--tag" -> addTag(tags, value);
                        case "--health-path" -> healthPath = value;
                        case "--gossip-port" -> gossipPort = intIn(value, "--gossip-port", 0, 65535);
                        case "--advertise" -> advertise = value;
                        case "--cluster-key" -> clusterKey = Path.of(value);
                        case "--drain-seconds" -> drainSeconds = intIn(value, "--drain-seconds", 0, 3600);
                        default -> throw new IllegalStateException(flag);
                    }
                }
                default -> throw new UsageException(arg.startsWith("-") ? "unknown option '" + flag + "'" : "unexpected argument '" + arg + "'");
            }
        }
        if (join == null) {
            throw new UsageException("--join HOST:PORT is required");
        }
        if (service == null) {
            throw new UsageException("--service NAME is required");
        }
        if (target == null) {
            throw new UsageException("--target HOST:PORT is required");
        }
        if (!healthPath.startsWith("/") || healthPath.chars().anyMatch(c -> c <= ' ' || c >= 127)) {
            throw new UsageException("--health-path must start with '/' and contain no spaces, not '" + healthPath + "'");
        }
        if (advertise != null && (!advertise.matches("[A-Za-z0-9._:-]+") || advertise.chars().filter(c -> c == ':').count() == 1)) {
            throw new UsageException("--advertise must be a host name or IP address without a port, not '" + advertise + "'");
        }
        if (advertise == null && isWildcard(target.host())) {
            throw new UsageException("--target " + target + " is a wildcard address; give --advertise HOST so the proxy knows where to connect");
        }
        AgentOptions options = new AgentOptions(List.copyOf(join), service, target, weight,
                Collections.unmodifiableMap(tags), healthPath, gossipPort, advertise, clusterKey, drainSeconds, demo);
        try {
            options.metadata(MemberState.DOWN);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage().startsWith("service") ? "--" + e.getMessage() : e.getMessage());
        }
        return options;
    }

    static boolean wantsHelp(String[] args) {
        for (String arg : args) {
            if (arg.equals("--help") || arg.equals("-h")) {
                return true;
            }
        }
        return false;
    }

    /** The host the proxy should connect to for this backend. */
    String announcedHost() {
        return advertise != null ? advertise : target.host();
    }

    /** What the agent announces in {@code state}, version 1. */
    MemberMetadata metadata(MemberState state) {
        return MemberMetadata.backend(service, announcedHost(), target.port(), weight, tags, state);
    }

    private static List<HostAndPort> parseJoin(String value) throws UsageException {
        List<HostAndPort> seeds = new ArrayList<>();
        for (String part : value.split(",", -1)) {
            seeds.add(hostPort(part.strip(), "--join"));
        }
        return seeds;
    }

    private static HostAndPort hostPort(String value, String flag) throws UsageException {
        try {
            return HostAndPort.parse(value, flag);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static int intIn(String value, String flag, int min, int max) throws UsageException {
        try {
            int n = Integer.parseInt(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException(flag + " must be a whole number in " + min + ".." + max + ", not '" + value + "'");
    }

    private static void addTag(Map<String, String> tags, String value) throws UsageException {
        int eq = value.indexOf('=');
        if (eq <= 0) {
            throw new UsageException("--tag must be KEY=VALUE, not '" + value + "'");
        }
        String key = value.substring(0, eq);
        if (tags.put(key, value.substring(eq + 1)) != null) {
            throw new UsageException("--tag " + key + " is given twice");
        }
    }

    private static boolean isWildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("::0");
    }
}
