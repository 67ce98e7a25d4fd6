package io.grapevine.bench.latency;

import java.net.URI;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The open-loop client's command line:
 * {@code java -cp bench/target/grapevine-bench.jar io.grapevine.bench.latency.OpenLoopClient ...}.
 */
@Command(name = "open-loop", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
        description = {"Sends GET requests at a constant rate over keep-alive connections and reports the latency"
                + " percentiles, each latency measured from the time the request was due (coordinated omission"
                + " corrected). Text by default; --json prints one JSON object on standard output."})
final class OpenLoopCommand implements Callable<Integer> {

    @Option(names = "--url", required = true, paramLabel = "http://HOST:PORT/PATH", description = "what to GET")
    URI url;

    @Option(names = "--rate", required = true, paramLabel = "N", description = "requests per second, in all")
    double rate;

    @Option(names = "--connections", defaultValue = "50", paramLabel = "N",
            description = "keep-alive connections (default ${DEFAULT-VALUE})")
    int connections;

    @Option(names = "--duration", defaultValue = "10", paramLabel = "SECONDS",
            description = "measured time (default ${DEFAULT-VALUE})")
    double duration;

    @Option(names = "--warmup", defaultValue = "2", paramLabel = "SECONDS",
            description = "time at the start at the same rate, not recorded (default ${DEFAULT-VALUE})")
    double warmup;

    @Option(names = "--drain", defaultValue = "5", paramLabel = "SECONDS",
            description = "how long to wait for the last responses; later ones are timeouts (default ${DEFAULT-VALUE})")
    double drain;

    @Option(names = "--threads", defaultValue = "1", paramLabel = "N",
            description = "event loop threads (default ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--json", description = "print one JSON object instead of text")
    boolean json;

    @Override
    public Integer call() throws Exception {
        OpenLoopClient.Options options = new OpenLoopClient.Options(url, rate, connections, nanos(warmup),
                nanos(duration), nanos(drain), threads);
        OpenLoopClient.Result result = new OpenLoopClient(options).run();
        System.out.println(json ? result.toJson(options) : result.toText(options));
        return 0;
    }

    private static long nanos(double seconds) {
        return (long) (seconds * TimeUnit.SECONDS.toNanos(1));
    }

    static void main(String[] args) {
        System.exit(new CommandLine(new OpenLoopCommand()).execute(args));
    }
}
