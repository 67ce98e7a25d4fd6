package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.fail;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.TestTransport;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts what a test needs on loopback, on ephemeral ports, and closes all of it after the test, last
 * started first, whether the test passed or not. Register with
 * {@code @RegisterExtension final Fixtures fx = new Fixtures();}.
 */
public final class Fixtures implements AfterEachCallback {

    private final Deque<AutoCloseable> resources = new ArrayDeque<>();

    /** A demo backend with worker id {@code id}. */
    public DemoBackend backend(int id) throws InterruptedException {
        return track(DemoBackend.start("127.0.0.1", 0, id));
    }

    public RecordingBackend recording(RecordingBackend.Mode mode) throws IOException {
        return track(RecordingBackend.start(mode));
    }

    /**
     * A proxy in front of {@code ports}, with active health checks off unless {@code extraJson} says
     * otherwise.
     *
     * @param extraJson further top-level members of servers.conf, e.g. {@code "timeouts": {...}}; may be empty
     */
    public ProxyServer proxy(String extraJson, int... ports) throws ConfigException, InterruptedException {
        return proxy(Runtime.getRuntime().availableProcessors(), extraJson, ports);
    }

    /** As {@link #proxy(String, int...)}, with {@code ioThreads} event loops (one: a single upstream pool). */
    public ProxyServer proxy(int ioThreads, String extraJson, int... ports) throws ConfigException, InterruptedException {
        return proxy(TestTransport.requested(), ioThreads, extraJson, ports);
    }

    /** As {@link #proxy(int, String, int...)}, on {@code transport} (null: the proxy's default). */
    public ProxyServer proxy(Transport transport, int ioThreads, String extraJson, int... ports)
            throws ConfigException, InterruptedException {
        String servers = IntStream.of(ports).mapToObj(p -> "{\"ip\": \"127.0.0.1\", \"port\": " + p + "}")
                .collect(Collectors.joining(", "));
        StringBuilder json = new StringBuilder("{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", ")
                .append("\"backend_servers\": [").append(servers).append("]");
        if (!extraJson.contains("\"health_check\"")) {
            json.append(", \"health_check\": {\"enabled\": false}");
        }
        if (!extraJson.isBlank()) {
            json.append(", ").append(extraJson);
        }
        json.append("}");
        return track(ProxyServer.start(ConfigLoader.parse(json.toString(), "test config"), ioThreads, transport));
    }

    public RawHttpClient client(ProxyServer proxy) throws IOException {
        return track(RawHttpClient.connect(proxy.listenAddress()));
    }

    public <T extends AutoCloseable> T track(T resource) {
        resources.push(resource);
        return resource;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        Exception first = null;
        AutoCloseable r;
        while ((r = resources.poll()) != null) {
            try {
                r.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    // ---------------------------------------------------------------- helpers

    /**
     * A loopback port nobody listens on, from below the kernel's ephemeral range ({@link Ports#free}): a port of that
     * range, found closed and released, may be the next one a listener bound to port 0 gets (a backend, the proxy's
     * own listener or admin port), and then a server meant to refuse connections answers.
     */
    public static int closedPort() throws IOException {
        return Ports.free();
    }

    /** {@code n} different loopback ports nobody listens on, as {@link #closedPort} (successive ones differ). */
    public static int[] closedPorts(int n) throws IOException {
        int[] ports = new int[n];
        for (int i = 0; i < n; i++) {
            ports[i] = closedPort();
        }
        return ports;
    }

    /** Polls {@code condition} every 10 ms until it holds; fails with {@code what} after {@code timeout}. */
    public static void await(Duration timeout, String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                fail("timed out after " + timeout.toMillis() + " ms waiting for: " + what);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted waiting for: " + what);
            }
        }
    }

    /** The proxy's table entry for a backend port. */
    public static Server server(ProxyServer proxy, int port) {
        return proxy.tables().current().servers().stream().filter(s -> s.address().getPort() == port).findFirst()
                .orElseThrow(() -> new AssertionError("no server with port " + port + " in the table"));
    }

    /** A request head ending with the empty line: {@code METHOD target HTTP/1.1}, Host, then {@code fields}. */
    public static String get(String target, String... fields) {
        return request("GET", target, fields);
    }

    public static String request(String method, String target, String... fields) {
        StringBuilder sb = new StringBuilder(method).append(' ').append(target).append(" HTTP/1.1\r\nHost: test\r\n");
        for (String f : fields) {
            sb.append(f).append("\r\n");
        }
        return sb.append("\r\n").toString();
    }
}
