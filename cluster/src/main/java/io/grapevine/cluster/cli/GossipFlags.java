package io.grapevine.cluster.cli;

import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.HostAndPort;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The gossip flags the proxy and the agent share (a picocli mixin): where to join, which address to
 * advertise and to listen on, and the cluster key, or the explicit choice to run without one.
 */
public final class GossipFlags {

    @Option(names = "--join", paramLabel = "HOST:PORT[,...]",
            description = "members to join the cluster through, comma-separated or repeated (an agent joins the"
                    + " proxy's gossip port)")
    @EnvironmentVariable("GRAPEVINE_JOIN")
    List<String> join = new ArrayList<>();

    @Option(names = "--advertise", paramLabel = "HOST",
            description = "the address other members reach this one at; an agent also announces it as its"
                    + " backend's host (default: the local address that routes to the first seed, 127.0.0.1"
                    + " without seeds; an agent's backend: the --target host)")
    @EnvironmentVariable("GRAPEVINE_ADVERTISE")
    String advertise;

    @Option(names = "--gossip-bind", paramLabel = "HOST",
            description = "the local address the gossip port listens on; 0.0.0.0 or :: for every interface"
                    + " (default: the advertised address)")
    @EnvironmentVariable("GRAPEVINE_GOSSIP_BIND")
    String bind;

    @Option(names = "--cluster-key", paramLabel = "FILE",
            description = "cluster key file: one base64 32-byte key per line; the first seals what this"
                    + " member sends, all are accepted (make one: ./grapevine keygen > cluster.key)")
    @EnvironmentVariable("GRAPEVINE_CLUSTER_KEY_FILE")
    String clusterKey;

    @Option(names = "--insecure-gossip",
            description = "gossip without a cluster key: anyone who can reach the gossip port can join and"
                    + " announce backends that then receive traffic. For a demo on one host only")
    boolean insecure;

    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    /** The seeds given, empty if none. */
    public List<String> seeds() {
        return join;
    }

    /** Validates the flags of a program that gossips. */
    public GossipOptions validate() throws UsageException {
        List<HostAndPort> seeds = new ArrayList<>();
        for (String value : join) {
            for (String part : value.split(",", -1)) {
                seeds.add(hostPort(part.strip()));
            }
        }
        host(advertise, "--advertise");
        host(bind, "--gossip-bind");
        if (clusterKey != null && insecure) {
            throw new UsageException("--cluster-key and --insecure-gossip contradict each other: drop --insecure-gossip");
        }
        if (clusterKey == null && !insecure) {
            throw new UsageException(GossipNode.MISSING_KEY);
        }
        if (clusterKey != null && clusterKey.isBlank()) {
            throw new UsageException("--cluster-key needs a file name");
        }
        return new GossipOptions(List.copyOf(seeds), advertise, bind, clusterKey == null ? null : Path.of(clusterKey),
                insecure);
    }

    /**
     * For a program whose gossip is off: a gossip flag on the command line is a mistake (it would have no
     * effect), named with {@code howToTurnOn}; values from the environment are ignored.
     */
    public void requireNoneGiven(String howToTurnOn) throws UsageException {
        for (String flag : List.of("--advertise", "--gossip-bind", "--cluster-key", "--insecure-gossip")) {
            if (command.commandLine().getParseResult().hasMatchedOption(flag)) {
                throw new UsageException(flag + " is a gossip setting, but gossip is off: " + howToTurnOn);
            }
        }
    }

    private static HostAndPort hostPort(String text) throws UsageException {
        try {
            return HostAndPort.parse(text, "--join");
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static void host(String value, String flag) throws UsageException {
        if (value != null && !ClusterSettings.isHost(value)) {
            throw new UsageException(flag + " must be a host name or IP address without a port, not '" + value + "'");
        }
    }
}
