package io.grapevine.agent.backend;

import java.util.Arrays;

/**
 * The command line of {@code ./grapevine backend}, parsed and checked once.
 *
 * @param port  first port; 0 means every worker gets an ephemeral port
 * @param count number of workers, ids 1..count, on ports port..port+count-1
 */
record BackendOptions(boolean help, String host, int port, int count, int threads) {
    static final String USAGE = """
            usage: ./grapevine backend --port P [--count N] [--host H] [--threads T]

            Runs N demo web servers on ports P..P+N-1 with worker ids 1..N.
            Each answers GET / with "Hello, I am ID n" and header X-Backend-Id: n;
            also /health, /echo, /slow?ms=N, /bytes?n=N[&chunked=1], /status?code=N,
            /close and /crash (see docs/demo-backend.md). Stops on SIGTERM / SIGINT.

              --port P      first port, 1-65535 (0: ephemeral ports, printed at start)
              --count N     number of servers, 1-1000 (default 1)
              --host H      address to listen on (default 127.0.0.1)
              --threads T   event loop threads shared by all servers, 1-64 (default 1)
              -h, --help    show this help
            """;

    private static final BackendOptions HELP = new BackendOptions(true, "127.0.0.1", 0, 1, 1);

    /** Thrown for a command line that cannot be used; the message is one line naming the option. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message, null, false, false);
        }
    }

    static BackendOptions parse(String... args) throws UsageException {
        String host = "127.0.0.1";
        Integer port = null;
        int count = 1;
        int threads = 1;
        if (Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h")) {
            return HELP;
        }
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            int eq = arg.indexOf('=');
            String name = arg.startsWith("--") && eq > 0 ? arg.substring(0, eq) : arg;
            if (!name.equals("--port") && !name.equals("--count") && !name.equals("--host") && !name.equals("--threads")) {
                throw new UsageException("unknown option '" + arg + "' (see --help)");
            }
            String value;
            if (eq > 0 && arg.startsWith("--")) {
                value = arg.substring(eq + 1);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new UsageException(name + " needs a value (see --help)");
            }
            switch (name) {
                case "--port" -> port = number(name, value, 0, 65_535);
                case "--count" -> count = number(name, value, 1, 1000);
                case "--threads" -> threads = number(name, value, 1, 64);
                default -> {
                    if (value.isBlank()) {
                        throw new UsageException("--host expects an address, got ''");
                    }
                    host = value;
                }
            }
        }
        if (port == null) {
            throw new UsageException("--port is required (see --help)");
        }
        if (port != 0 && port + count - 1 > 65_535) {
            throw new UsageException("--port " + port + " with --count " + count + " goes past port 65535");
        }
        return new BackendOptions(false, host, port, count, threads);
    }

    /** The port of worker {@code id} (1-based); 0 for an ephemeral one. */
    int portOf(int id) {
        return port == 0 ? 0 : port + id - 1;
    }

    private static int number(String name, String value, int min, int max) throws UsageException {
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new UsageException(name + " expects a whole number from " + min + " to " + max + ", got '" + value + "'");
    }
}
