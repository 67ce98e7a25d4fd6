package io.grapevine.proxy;

import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.ProxyConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code ./grapevine proxy}: parses the command line, loads servers.conf, runs until SIGTERM / SIGINT. */
public final class ProxyMain {

    private static final Logger log = LoggerFactory.getLogger(ProxyMain.class);

    static final String USAGE = """
            usage: ./grapevine proxy --servers FILE [options]

              --servers FILE          static configuration (servers.conf); required
              --listen HOST:PORT      client listener (default: the file's "listen", else 127.0.0.1:9000)
              --admin HOST:PORT       admin listener (default: the file's "admin", else 127.0.0.1:9001)
              --gossip PORT           join the gossip cluster on this port (default 7946)
              --no-gossip             serve from servers.conf alone
              --join HOST:PORT[,...]  gossip seeds
              --cluster-key FILE      cluster keyring: one base64 32-byte key per line
              --template FILE         backend table template (default templates/backends.mustache)
              -h, --help              this text
            """;

    private ProxyMain() {
    }

    /** The parsed command line. */
    record Options(Path servers, HostPort listen, HostPort admin, Integer gossipPort, boolean noGossip,
                   List<String> join, Path clusterKey, Path template) {
    }

    /** Thrown for a bad command line; the message is the one line to print. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        Options options;
        try {
            options = parse(args);
        } catch (UsageException e) {
            System.err.println("grapevine proxy: " + e.getMessage());
            System.err.println("try ./grapevine proxy --help");
            System.exit(2);
            return;
        }
        if (options == null) {
            System.out.print(USAGE);
            return;
        }
        ProxyConfig config;
        try {
            config = ConfigLoader.load(options.servers());
        } catch (ConfigException e) {
            System.err.println("grapevine proxy: " + e.getMessage());
            System.exit(2);
            return;
        }
        config = config.withListen(options.listen() != null ? options.listen() : config.listen(),
                options.admin() != null ? options.admin() : config.admin());
        ProxyServer server;
        try {
            server = ProxyServer.start(config);
        } catch (Exception e) {
            System.err.println("grapevine proxy: cannot start: " + e.getMessage());
            System.exit(1);
            return;
        }
        long grace = config.timeouts().shutdownGraceMillis();
        Thread shutdown = new Thread(() -> server.drainAndStop(grace), "grapevine-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdown);
        log.debug("started with {}", options);
        try {
            server.awaitTermination();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return the options, or {@code null} when help was asked for */
    static Options parse(String[] args) throws UsageException {
        Path servers = null;
        HostPort listen = null;
        HostPort admin = null;
        Integer gossipPort = null;
        boolean noGossip = false;
        List<String> join = new ArrayList<>();
        Path clusterKey = null;
        Path template = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "-h", "--help" -> {
                    return null;
                }
                case "--servers" -> servers = Path.of(value(args, ++i, a));
                case "--listen" -> listen = hostPort(value(args, ++i, a), a);
                case "--admin" -> admin = hostPort(value(args, ++i, a), a);
                case "--gossip" -> gossipPort = port(value(args, ++i, a), a);
                case "--no-gossip" -> noGossip = true;
                case "--join" -> {
                    for (String seed : value(args, ++i, a).split(",")) {
                        hostPort(seed.trim(), a);
                        join.add(seed.trim());
                    }
                }
                case "--cluster-key" -> clusterKey = Path.of(value(args, ++i, a));
                case "--template" -> template = Path.of(value(args, ++i, a));
                default -> throw new UsageException("unknown option \"" + a + "\"");
            }
        }
        if (servers == null) {
            throw new UsageException("--servers FILE is required");
        }
        if (noGossip && (gossipPort != null || !join.isEmpty())) {
            throw new UsageException("--no-gossip cannot be combined with --gossip or --join");
        }
        return new Options(servers, listen, admin, gossipPort, noGossip, List.copyOf(join), clusterKey, template);
    }

    private static String value(String[] args, int i, String flag) throws UsageException {
        if (i >= args.length || args[i].startsWith("--")) {
            throw new UsageException(flag + " needs a value");
        }
        return args[i];
    }

    private static HostPort hostPort(String text, String flag) throws UsageException {
        try {
            return HostPort.parse(text);
        } catch (IllegalArgumentException e) {
            throw new UsageException(flag + ": " + e.getMessage());
        }
    }

    private static int port(String text, String flag) throws UsageException {
        try {
            int p = Integer.parseInt(text);
            if (p >= 0 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException(flag + ": \"" + text + "\" is not a port 0..65535");
    }
}
