package io.grapevine.proxy;

import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.membership.BackendTemplate;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
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
              --advertise HOST        address the other members reach this proxy at (default: the one
                                      that routes to the first seed; 127.0.0.1 without seeds, so a
                                      proxy that agents on other hosts join must set it)
              --cluster-key FILE      cluster keyring: one base64 32-byte key per line
              --template FILE         backend table template (default templates/backends.mustache)
              --render TEMPLATE       render mode: no listener; render the membership into --out
              --out FILE              the file --render writes (replaced atomically, only on change)
              --on-change CMD         shell command run after --out changed (e.g. an HAProxy reload)
              --debounce-ms N         membership render window in ms (default 50)
              -h, --help              this text

            SIGHUP or an edit of servers.conf / the template reloads them without a restart.
            """;

    private ProxyMain() {
    }

    /** Thrown for a bad command line; the message is the one line to print. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    public static void main(String[] args) {
        ProxyInstance.Options options;
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
        ProxyInstance instance;
        try {
            instance = ProxyInstance.start(options);
        } catch (ConfigException | BackendTemplate.TemplateException e) {
            System.err.println("grapevine proxy: " + e.getMessage());
            System.exit(2);
            return;
        } catch (Exception e) {
            System.err.println("grapevine proxy: cannot start: " + e.getMessage());
            log.debug("start failed", e);
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            instance.shutdown();
            stopped.countDown();
        }, "grapevine-shutdown"));
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return the options, or {@code null} when help was asked for */
    static ProxyInstance.Options parse(String[] args) throws UsageException {
        Path servers = null;
        HostPort listen = null;
        HostPort admin = null;
        Integer gossipPort = null;
        boolean noGossip = false;
        List<String> join = new ArrayList<>();
        String advertise = null;
        Path clusterKey = null;
        Path template = null;
        Path render = null;
        Path out = null;
        String onChange = null;
        long debounce = ProxyInstance.DEFAULT_DEBOUNCE_MILLIS;
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
                case "--advertise" -> advertise = advertiseHost(value(args, ++i, a));
                case "--cluster-key" -> clusterKey = Path.of(value(args, ++i, a));
                case "--template" -> template = Path.of(value(args, ++i, a));
                case "--render" -> render = Path.of(value(args, ++i, a));
                case "--out" -> out = Path.of(value(args, ++i, a));
                case "--on-change" -> onChange = value(args, ++i, a);
                case "--debounce-ms" -> debounce = number(value(args, ++i, a), a, 1, 60_000);
                default -> throw new UsageException("unknown option \"" + a + "\"");
            }
        }
        if (servers == null && render == null) {
            throw new UsageException("--servers FILE is required");
        }
        if (noGossip && (gossipPort != null || !join.isEmpty() || advertise != null)) {
            throw new UsageException("--no-gossip cannot be combined with --gossip, --join or --advertise");
        }
        if ((render == null) != (out == null)) {
            throw new UsageException("--render TEMPLATE and --out FILE go together");
        }
        if (onChange != null && render == null) {
            throw new UsageException("--on-change needs --render and --out");
        }
        if (render != null && noGossip) {
            throw new UsageException("--render renders the gossip membership: it cannot be combined with --no-gossip");
        }
        return new ProxyInstance.Options(servers, listen, admin, gossipPort, noGossip, List.copyOf(join), advertise,
                clusterKey, template, render, out, onChange, debounce);
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

    private static String advertiseHost(String text) throws UsageException {
        long colons = text.chars().filter(c -> c == ':').count();
        if (!text.matches("[A-Za-z0-9._:-]+") || colons == 1) {
            throw new UsageException("--advertise: \"" + text + "\" is not a host name or IP address (without a port)");
        }
        return text;
    }

    private static long number(String text, String flag, long min, long max) throws UsageException {
        try {
            long n = Long.parseLong(text);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new UsageException(flag + ": \"" + text + "\" is not a number " + min + ".." + max);
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
