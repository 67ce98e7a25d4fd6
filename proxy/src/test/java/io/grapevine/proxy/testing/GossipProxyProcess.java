package io.grapevine.proxy.testing;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A proxy process with gossip ({@code ./grapevine proxy} from the packaged jar) on loopback ports it picks itself,
 * found from its start-up line, with its gossip port. {@link #close()} kills it.
 */
public record GossipProxyProcess(ChildProcess process, InetSocketAddress listen, Admin admin, int gossipPort)
        implements AutoCloseable {

    private static final Pattern LISTENING = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+) \\(admin 127\\.0\\.0\\.1:(\\d+)\\)");

    /**
     * Starts {@code ./grapevine proxy --servers SERVERS --listen 127.0.0.1:0 --admin 127.0.0.1:0} with gossip on a
     * free port sealed by {@code key} (joining {@code join} unless null), plus {@code extraArgs}, and waits for its
     * start-up line.
     */
    public static GossipProxyProcess start(Path dir, String name, Path servers, Path key, String join, String... extraArgs) {
        int gossipPort = Ports.free();
        List<String> args = new ArrayList<>(List.of("--servers", servers.toString(), "--listen", "127.0.0.1:0", "--admin",
                "127.0.0.1:0", "--gossip", Integer.toString(gossipPort), "--cluster-key", key.toString()));
        if (join != null) {
            args.addAll(List.of("--join", join));
        }
        args.addAll(List.of(extraArgs));
        ChildProcess p = ChildProcess.proxy(dir, name, args.toArray(String[]::new));
        Matcher m = LISTENING.matcher("");
        Await.until(Duration.ofSeconds(30), name + " listening", () -> m.reset(p.log()).find() || !p.isAlive(), p::tail);
        if (!m.reset(p.log()).find()) {
            p.close();
            throw new IllegalStateException(name + " did not start: " + p.tail());
        }
        return new GossipProxyProcess(p, new InetSocketAddress("127.0.0.1", Integer.parseInt(m.group(1))),
                new Admin(new InetSocketAddress("127.0.0.1", Integer.parseInt(m.group(2)))), gossipPort);
    }

    /** The address agents and other proxies join. */
    public String seed() {
        return "127.0.0.1:" + gossipPort;
    }

    @Override
    public void close() {
        process.close();
    }
}
