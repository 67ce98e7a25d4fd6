package io.grapevine.agent;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.cluster.MetadataJson;
import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.EnvironmentVariable;
import io.grapevine.cluster.cli.GossipFlags;
import io.grapevine.cluster.cli.GossipOptions;
import io.grapevine.cluster.cli.ProgramVersion;
import io.grapevine.cluster.cli.UsageException;
import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The agent's command line, parsed and validated once.
 *
 * @param gossip       seeds, advertised and bound addresses, cluster key (or the insecure choice)
 * @param service      the service the backend provides
 * @param target       where the backend listens (probed, and announced unless {@code gossip.advertise()} is set)
 * @param weight       load-balancing weight, 0..256
 * @param tags         free-form labels announced with the backend
 * @param healthPath   HTTP path probed on the target
 * @param gossipPort   membership port, 0 for an ephemeral one
 * @param drainSeconds how long the backend is announced as draining before the agent leaves
 * @param demo         also run a demo backend on the target address
 */
record AgentOptions(GossipOptions gossip, String service, HostAndPort target, int weight, Map<String, String> tags,
                    String healthPath, int gossipPort, int drainSeconds, boolean demo) {

    private static final String LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
    /** RFC 1123 host names, at most 253 characters, an optional trailing dot. */
    private static final Pattern HOST_NAME = Pattern.compile("(?=.{1,253}$)" + LABEL + "(?:\\." + LABEL + ")*\\.?");

    /** The flags as given; {@link #validate()} checks them. */
    @Command(name = "./grapevine agent", mixinStandardHelpOptions = true, versionProvider = ProgramVersion.class,
            synopsisHeading = "",
            customSynopsis = {
                "usage: ./grapevine agent --join HOST:PORT[,...] --service NAME --target HOST:PORT",
                "                         --cluster-key FILE [options]"},
            description = "%nRuns beside a backend: joins the Grapevine cluster, announces the backend, probes its"
                    + " health every second and publishes up/down changes; on SIGTERM or SIGINT announces it as"
                    + " draining, waits, then leaves the cluster and exits 0. A second signal stops it at once.",
            optionListHeading = "%noptions:%n", sortOptions = false, usageHelpWidth = 100,
            exitCodeListHeading = "%nexit status:%n",
            exitCodeList = {
                CommandLines.EXIT_STOPPED,
                "1:could not start (the gossip port in use, the demo backend's port in use, ...)",
                "2:bad command line or unreadable cluster key file",
                CommandLines.EXIT_SECOND_SIGNAL})
    static final class Flags {

        @Mixin
        GossipFlags gossip = new GossipFlags();

        @Option(names = "--service", paramLabel = "NAME", description = "service name (letters, digits, '.', '_', '-')")
        @EnvironmentVariable("GRAPEVINE_SERVICE")
        String service;

        @Option(names = "--target", paramLabel = "HOST:PORT", description = "where the backend listens")
        @EnvironmentVariable("GRAPEVINE_TARGET")
        String target;

        @Option(names = "--weight", paramLabel = "N", description = "load-balancing weight, 0..256 (default 1)")
        @EnvironmentVariable("GRAPEVINE_WEIGHT")
        String weight = "1";

        @Option(names = "--tag", paramLabel = "K=V", description = "label announced with the backend; repeatable")
        List<String> tags = new ArrayList<>();

        @Option(names = "--health-path", paramLabel = "PATH",
                description = "HTTP path probed on the target (default /health)")
        @EnvironmentVariable("GRAPEVINE_HEALTH_PATH")
        String healthPath = "/health";

        @Option(names = "--gossip-port", paramLabel = "N", description = "membership port (default 0: any free port)")
        @EnvironmentVariable("GRAPEVINE_GOSSIP_PORT")
        String gossipPort = "0";

        @Option(names = "--drain-seconds", paramLabel = "N",
                description = "time announced as draining before leaving, 0..3600 (default 5)")
        @EnvironmentVariable("GRAPEVINE_DRAIN_SECONDS")
        String drainSeconds = "5";

        @Option(names = "--demo", description = "also start a demo backend on the target address")
        boolean demo;

        AgentOptions validate() throws UsageException {
            if (gossip.seeds().isEmpty()) {
                throw new UsageException("--join HOST:PORT is required (or GRAPEVINE_JOIN)");
            }
            if (service == null) {
                throw new UsageException("--service NAME is required (or GRAPEVINE_SERVICE)");
            }
            if (target == null) {
                throw new UsageException("--target HOST:PORT is required (or GRAPEVINE_TARGET)");
            }
            GossipOptions cluster = gossip.validate();
            HostAndPort address = hostPort(target, "--target");
            int weightValue = intIn(weight, "--weight", 0, MemberMetadata.MAX_WEIGHT);
            Map<String, String> tagMap = new LinkedHashMap<>();
            for (String tag : tags) {
                addTag(tagMap, tag);
            }
            if (!healthPath.startsWith("/") || healthPath.chars().anyMatch(c -> c <= ' ' || c >= 127)) {
                throw new UsageException("--health-path must start with '/' and contain no spaces, not '" + healthPath + "'");
            }
            try {
                new URI("http://localhost" + healthPath); // the probe's URI, which the start would fail to make
            } catch (URISyntaxException e) {
                throw new UsageException("--health-path '" + healthPath + "' is not a URL path: " + e.getReason()
                        + " (write such characters as %XX)");
            }
            int port = intIn(gossipPort, "--gossip-port", 0, 65535);
            int drain = intIn(drainSeconds, "--drain-seconds", 0, 3600);
            if (cluster.advertise() == null && isWildcard(address.host())) {
                throw new UsageException("--target " + address + " is a wildcard address; give --advertise HOST so the"
                        + " proxy knows where to connect");
            }
            String announced = cluster.advertise() != null ? cluster.advertise() : address.host();
            if (!isBackendHost(announced)) {
                throw new UsageException((cluster.advertise() != null ? "--advertise" : "--target") + " host '"
                        + announced + "' is not one a proxy connects to: give an IP address or a host name of letters,"
                        + " digits, '-' and '.' (no '_'), each label 1..63 long; a proxy would refuse this backend");
            }
            AgentOptions options = new AgentOptions(cluster, service, address, weightValue,
                    Collections.unmodifiableMap(tagMap), healthPath, port, drain, demo);
            try {
                options.metadata(MemberState.DOWN);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage().startsWith("service") ? "--" + e.getMessage() : e.getMessage());
            }
            int largest = options.largestAnnouncementBytes();
            if (largest > MetadataJson.MAX_BYTES) {
                throw new UsageException("--tag: the announcement would be " + largest + " bytes of JSON, more than the "
                        + MetadataJson.MAX_BYTES + " a proxy accepts (it would ignore this backend); give fewer or"
                        + " shorter tags (each value's UTF-8 bytes count)");
            }
            return options;
        }
    }

    /** Parses {@code --flag value} and {@code --flag=value}, defaults from {@code environment}. */
    static CommandLines.Parsed<AgentOptions> parse(String[] args, Map<String, String> environment) throws UsageException {
        return CommandLines.parse(new Flags(), environment, args, Flags::validate);
    }

    /** Parses a command line that asks for neither help nor version, without environment defaults. */
    static AgentOptions parse(String... args) throws UsageException {
        return parse(args, Map.of()).options();
    }

    /** The host the proxy should connect to for this backend. */
    String announcedHost() {
        return gossip.advertise() != null ? gossip.advertise() : target.host();
    }

    /**
     * Why the announced host is one the proxies on other hosts cannot reach, or null: a loopback address (or
     * {@code localhost}) announced while a seed is not on loopback. Each proxy there would send this backend's
     * requests to whatever listens on its own loopback at that port. A seed given by a host name other than
     * {@code localhost} counts as another host: nothing here asks DNS.
     */
    String loopbackWarning() {
        if (!isLoopback(announcedHost())) {
            return null;
        }
        for (HostAndPort seed : gossip.join()) {
            if (!isLoopback(seed.host())) {
                return "announcing " + HostAndPort.format(announcedHost(), target.port()) + ", a loopback address, to a"
                        + " cluster with seed " + seed + " on another host: a proxy there would connect to itself for"
                        + " this backend. Give --advertise with an address of this host that the proxies reach";
            }
        }
        return null;
    }

    /** 127.0.0.0/8, ::1 however written, localhost. IP literals only are parsed: no DNS. */
    private static boolean isLoopback(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.equals("localhost") || h.endsWith(".localhost") || h.equals("localhost.")) {
            return true;
        }
        if (!NetUtil.isValidIpV4Address(h) && !NetUtil.isValidIpV6Address(h)) {
            return false; // a host name, or a text only like a literal (300.1.1.1): the JDK would ask DNS for it
        }
        try {
            return InetAddress.getByName(h).isLoopbackAddress(); // parsed
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /**
     * The most bytes the agent's announcement can take as JSON: in its longest state, at the largest version. What
     * the agent announces changes only in state and version, so no announcement of this agent is larger. A member's
     * metadata over {@link MetadataJson#MAX_BYTES} is ignored by every proxy, so the agent refuses to start with it.
     */
    int largestAnnouncementBytes() {
        MemberMetadata first = metadata(MemberState.DRAINING);
        return MetadataJson.encode(new MemberMetadata(first.role(), first.service(), first.host(), first.port(),
                first.weight(), first.tags(), first.state(), Long.MAX_VALUE)).length;
    }

    /** What the agent announces in {@code state}, version 1. */
    MemberMetadata metadata(MemberState state) {
        return MemberMetadata.backend(service, announcedHost(), target.port(), weight, tags, state);
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
            int n = Integer.parseInt(value.strip());
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

    /**
     * Whether a proxy takes {@code host} as a backend's address: an IPv4 address, an IPv6 literal (its syntax is
     * checked by {@link HostAndPort}), or an RFC 1123 host name, which the proxy's servers.conf rules require of the
     * servers rendered from gossip too. Announced otherwise, the backend would be refused by every proxy, with a line
     * in their logs only.
     */
    private static boolean isBackendHost(String host) {
        if (host.indexOf(':') >= 0) {
            return true;
        }
        if (host.matches("[0-9.]+")) { // an IPv4 address, or no name at all
            String[] parts = host.split("\\.", -1);
            return parts.length == 4 && Arrays.stream(parts).allMatch(p -> !p.isEmpty() && p.length() <= 3
                    && Integer.parseInt(p) <= 255);
        }
        return HOST_NAME.matcher(host.toLowerCase(Locale.ROOT)).matches();
    }

    private static boolean isWildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("::0");
    }
}
