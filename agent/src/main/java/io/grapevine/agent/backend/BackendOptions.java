package io.grapevine.agent.backend;

import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.ProgramVersion;
import io.grapevine.cluster.cli.UsageException;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The command line of {@code ./grapevine backend}, parsed and checked once.
 *
 * @param port  first port; 0 means every worker gets an ephemeral port
 * @param count number of workers, ids 1..count, on ports port..port+count-1
 */
record BackendOptions(String host, int port, int count, int threads) {

    /** The flags as given; {@link #validate()} checks them. */
    @Command(name = "./grapevine backend", mixinStandardHelpOptions = true, versionProvider = ProgramVersion.class,
            synopsisHeading = "", customSynopsis = "usage: ./grapevine backend --port P [--count N] [--host H] [--threads T]",
            description = {
                "%nRuns N demo web servers on ports P..P+N-1 with worker ids 1..N.",
                "Each answers GET / with \"Hello, I am ID n\" and header X-Backend-Id: n;",
                "also /health, /echo, /slow?ms=N, /bytes?n=N[&chunked=1], /status?code=N,",
                "/close and /crash (see docs/demo-backend.md). Stops on SIGTERM / SIGINT and exits 0."},
            optionListHeading = "%noptions:%n", sortOptions = false, usageHelpWidth = 100,
            exitCodeListHeading = "%nexit status:%n",
            exitCodeList = {
                CommandLines.EXIT_STOPPED,
                "1:a port could not be bound",
                "2:bad command line",
                CommandLines.EXIT_SECOND_SIGNAL})
    static final class Flags {

        @Option(names = "--port", paramLabel = "P", description = "first port, 1-65535 (0: ephemeral ports, printed at start)")
        String port;

        @Option(names = "--count", paramLabel = "N", description = "number of servers, 1-1000 (default 1)")
        String count = "1";

        @Option(names = "--host", paramLabel = "H", description = "address to listen on (default 127.0.0.1)")
        String host = "127.0.0.1";

        @Option(names = "--threads", paramLabel = "T", description = "event loop threads shared by all servers, 1-64 (default 1)")
        String threads = "1";

        BackendOptions validate() throws UsageException {
            if (port == null) {
                throw new UsageException("--port is required");
            }
            int first = number("--port", port, 0, 65_535);
            int workers = number("--count", count, 1, 1000);
            int loops = number("--threads", threads, 1, 64);
            if (host.isBlank()) {
                throw new UsageException("--host expects an address, got '" + host + "'");
            }
            if (first != 0 && first + workers - 1 > 65_535) {
                throw new UsageException("--port " + first + " with --count " + workers + " goes past port 65535");
            }
            return new BackendOptions(host, first, workers, loops);
        }
    }

    /** Parses a command line that asks for neither help nor version. */
    static BackendOptions parse(String... args) throws UsageException {
        return CommandLines.parse(new Flags(), Map.of(), args, Flags::validate).options();
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
