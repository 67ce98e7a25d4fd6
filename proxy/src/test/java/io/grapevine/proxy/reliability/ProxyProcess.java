package io.grapevine.proxy.reliability;

import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Ports;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A proxy and one demo backend as processes of their own, started with the {@code grapevine} launcher as an
 * operator would (so the proxy's memory is its own, measurable as the RSS of one process, and its file
 * descriptors are not the test JVM's), on loopback ports. Without gossip.
 */
final class ProxyProcess implements AutoCloseable {

    private final ChildProcess backend;
    private final ChildProcess proxy;
    private final int port;
    private final int adminPort;
    private final int backendPort;

    private ProxyProcess(ChildProcess backend, ChildProcess proxy, int port, int adminPort, int backendPort) {
        this.backend = backend;
        this.proxy = proxy;
        this.port = port;
        this.adminPort = adminPort;
        this.backendPort = backendPort;
    }

    /**
     * @param extraJson further top-level members of servers.conf (e.g. {@code "limits": {...}}), or empty
     */
    static ProxyProcess start(Path dir, String extraJson) throws IOException {
        return start(dir, "{\"enabled\": false}", extraJson);
    }

    /**
     * @param healthCheck servers.conf's {@code health_check} object
     * @param extraJson   further top-level members of servers.conf, or empty
     */
    static ProxyProcess start(Path dir, String healthCheck, String extraJson) throws IOException {
        return start(dir, healthCheck, extraJson, Map.of());
    }

    /**
     * @param healthCheck servers.conf's {@code health_check} object
     * @param extraJson   further top-level members of servers.conf, or empty
     * @param env         added to the proxy's environment (e.g. {@code GRAPEVINE_JVM_EXTRA_OPTS})
     */
    static ProxyProcess start(Path dir, String healthCheck, String extraJson, Map<String, String> env)
            throws IOException {
        int backendPort = Ports.free();
        ChildProcess backend = ChildProcess.launcher(dir, "backend", "backend", "--port", Integer.toString(backendPort));
        Path conf = dir.resolve("servers.conf");
        Files.writeString(conf, "{ \"health_check\": " + healthCheck + (extraJson.isBlank() ? "" : ", " + extraJson)
                + ", \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": " + backendPort + " } ] }\n");
        int port = Ports.free();
        int adminPort = Ports.free();
        ChildProcess proxy = ChildProcess.proxy(dir, "proxy", env, "--servers", conf.toString(),
                "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort, "--no-gossip");
        ProxyProcess started = new ProxyProcess(backend, proxy, port, adminPort, backendPort);
        try {
            ChildProcess.awaitBackendAndProxy(backend, backendPort, proxy);
        } catch (AssertionError e) {
            started.close();
            throw e;
        }
        return started;
    }

    InetSocketAddress listen() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    String url(String target) {
        return "http://127.0.0.1:" + port + target;
    }

    Admin admin() {
        return new Admin(new InetSocketAddress("127.0.0.1", adminPort));
    }

    /** The demo backend's port: the one server of servers.conf. */
    int backendPort() {
        return backendPort;
    }

    long pid() {
        return proxy.pid();
    }

    /** A counter of the proxy's {@code /stats.json} ({@code proxy} section). */
    long counter(String name) {
        return admin().json("/stats.json").get("proxy").get(name).asLong();
    }

    /** The proxy's resident set size now, in bytes (Linux {@code /proc/PID/status}). */
    long rssBytes() {
        return rssBytes(proxy.pid());
    }

    static long rssBytes(long pid) {
        try {
            List<String> status = Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"));
            for (String line : status) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
            throw new IllegalStateException("no VmRSS for process " + pid);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The proxy's open file descriptors. */
    long openFiles() {
        try (var fds = Files.list(Path.of("/proc", Long.toString(proxy.pid()), "fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The proxy's limit of open files (the soft limit, which the JVM raises to the hard one at start). */
    long openFilesLimit() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(proxy.pid()), "limits"))) {
                if (line.startsWith("Max open files")) {
                    return Long.parseLong(line.substring("Max open files".length()).trim().split("\\s+")[0]);
                }
            }
            throw new IllegalStateException("no open files limit for process " + proxy.pid());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The proxy's log (its standard output and error) so far. */
    String log() {
        return proxy.log();
    }

    String tails() {
        return proxy.tail() + "\n" + backend.tail();
    }

    @Override
    public void close() {
        proxy.close();
        backend.close();
    }

    /** Samples the RSS of a process every 20 ms on a daemon thread; {@link #stop} returns the peak. */
    static final class RssSampler implements AutoCloseable {
        private final long pid;
        private final Thread thread;
        private volatile long peak;
        private volatile boolean running = true;

        RssSampler(long pid) {
            this.pid = pid;
            this.peak = rssBytes(pid);
            this.thread = new Thread(() -> {
                while (running) {
                    try {
                        peak = Math.max(peak, rssBytes(pid));
                        Thread.sleep(20);
                    } catch (InterruptedException | RuntimeException e) {
                        return; // interrupted, or the process is gone
                    }
                }
            }, "rss-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        long peak() {
            return peak;
        }

        /** Starts the peak again from the current RSS (after a warm-up, say). */
        void resetPeak() {
            peak = rssBytes(pid);
        }

        long stop() throws InterruptedException {
            running = false;
            thread.join(1000);
            return peak;
        }

        @Override
        public void close() {
            try {
                stop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
