package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.grapevine.proxy.forward.MemoryPressure;
import io.grapevine.proxy.net.DirectMemoryCap;
import io.grapevine.proxy.net.RelayBuffers;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.Ports;
import io.grapevine.proxy.testing.Resources;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proxy as a process of its own (and its demo backend) under a low direct memory limit, given at its start
 * ({@code -XX:MaxDirectMemorySize=96m} in {@code GRAPEVINE_JVM_EXTRA_OPTS}), with {@code max_connections} 1000: the
 * limit has room for 341 client connections ({@link DirectMemoryCap}), and clients that read nothing of their
 * responses cannot exhaust it.
 */
class DirectMemoryLimitIntegrationTest {

    private static final long MIB = 1 << 20;
    private static final int LIMIT_MIB = 96;
    private static final int MAX_CONNECTIONS = 1000;
    /** (96 MiB - the 64 MiB reserve) / 96 KiB per connection. */
    private static final int SERVED = (int) ((LIMIT_MIB * MIB - DirectMemoryCap.RESERVE) / RelayBuffers.PER_CONNECTION);
    private static final String GET = "GET / HTTP/1.1\r\nHost: memory\r\n\r\n";
    /** The limit of the HTTP/2 scenario: its threshold of pressure is reached with fewer streams. */
    private static final int PRESSURE_LIMIT_MIB = 80;
    private static final int STREAMS = 1000;
    /** Each with {@link #STREAMS} backend connections: within the open-files limits of the proxy and the backend. */
    private static final int MAX_ATTACKERS = 14;

    @RegisterExtension
    final Resources resources = new Resources();

    @TempDir
    Path dir;

    private int port;
    private int adminPort;
    private ChildProcess proxy;

    @Test
    void aDirectMemoryLimitTooLowForMaxConnectionsCapsTheConnectionsServed() throws Exception {
        start();
        Matcher warning = Pattern.compile(" WARN .*limits.max_connections " + MAX_CONNECTIONS + " needs a direct"
                + " memory limit of 158 MiB \\(96 KiB per client connection for its buffers \\+ 64 MiB kept beside"
                + " them\\), but the limit is " + LIMIT_MIB + " MiB: at most (\\d+) client connections are served at once")
                .matcher(proxy.log());
        assertTrue(warning.find(), proxy.log());
        assertEquals(SERVED, Integer.parseInt(warning.group(1)));
        JsonNode stats = proxyStats();
        assertEquals(SERVED, stats.get("connections_limit").asInt());
        assertEquals(LIMIT_MIB * MIB, stats.get("direct_memory_limit").asLong());
        long used = stats.get("direct_memory_used").asLong();
        assertTrue(used > 0 && used < DirectMemoryCap.RESERVE, "direct memory used at start: " + used);
    }

    /**
     * A client with a kept-alive connection, then {@value #MAX_CONNECTIONS} clients that each ask for 16 MiB and read
     * none of it, through the smallest receive window: the proxy serves as many as the limit has room for and
     * refuses the others; those it serves keep their responses (none is cut off for want of memory); the first
     * client's requests are all answered, at once. Before the cap and the relay's bounds (Netty's 64 KiB marks and
     * reads, the JDK's direct buffers) the same clients, 1,000 of them then, took the whole limit: the event loops
     * stopped in the JDK's System.gc() and sleeps, and the first client's next request timed out.
     */
    @Test
    void clientsThatReadNothingTakeNoMoreThanTheLimitHasRoomFor() throws Exception {
        start();
        RawHttpClient steady = resources.keep(RawHttpClient.connect(listen()));
        assertEquals(200, steady.send(GET).read().status());

        List<Socket> readers = new ArrayList<>();
        byte[] request = "GET /bytes?n=16777216 HTTP/1.1\r\nHost: memory\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < MAX_CONNECTIONS; i++) {
            Socket s = new Socket();
            resources.keep(s);
            s.setReceiveBufferSize(64); // the kernel's least: a window of a few hundred bytes, as slowhttptest -X
            s.connect(listen(), 5000);
            try {
                s.getOutputStream().write(request);
            } catch (IOException refused) {
                // closed by the proxy already: over the cap
            }
            readers.add(s);
        }
        int slowReaders = SERVED - 1;
        Await.until(Duration.ofSeconds(20), slowReaders + " slow readers held and the others refused",
                () -> proxyStats().get("connections_current").asInt() == SERVED
                        && proxyStats().get("connections_refused").asInt() == MAX_CONNECTIONS - slowReaders,
                () -> proxyStats().toString());
        // The relays fill their buffers: each response's first megabytes sit in the kernel's socket buffers, the rest
        // waits in the proxy's, up to the bounds, and in the backend.
        Thread.sleep(2000);

        long failures = 0;
        long requests = 0;
        long slowestMicros = 0;
        long end = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            int status = steady.send(GET).read().status();
            slowestMicros = Math.max(slowestMicros, (System.nanoTime() - t0) / 1000);
            requests++;
            if (status != 200) {
                failures++;
            }
        }
        JsonNode stats = proxyStats();
        System.out.println("[direct memory] " + slowReaders + " slow readers held, " + stats.get("connections_refused")
                + " refused; direct memory used " + stats.get("direct_memory_used").asLong() / 1024 + " KiB of "
                + LIMIT_MIB + " MiB; steady client " + requests + " requests, " + failures + " failed, slowest "
                + slowestMicros + " us");
        assertEquals(0, failures, "the steady client's requests failed");
        assertTrue(requests >= 10, "the steady client got " + requests + " answers in 3 s");
        assertEquals(0, stats.get("aborted_responses").asLong(), "responses cut off: " + stats);
        assertEquals(SERVED, stats.get("connections_current").asInt(), "slow readers dropped: " + stats);
        assertTrue(stats.get("bytes_out").asLong() > slowReaders * 64L * 1024, "the responses did not flow: " + stats);
        assertTrue(stats.get("direct_memory_used").asLong() <= LIMIT_MIB * MIB, stats.toString());
        assertFalse(proxy.log().contains("OutOfMemoryError") || proxy.log().contains("OutOfDirectMemoryError"),
                proxy.log());
    }

    /**
     * HTTP/2 clients that open many streams and read nothing hold up to one backend read per stream, more than the
     * start's cap counts for a connection (it counts connections, not streams). As the direct memory in use nears
     * the limit ({@link MemoryPressure#threshold}), the proxy closes the client connections that have taken nothing
     * for over a second; the kept-alive client, which reads its answers, is served throughout, and no allocation
     * fails. The attack grows by a connection of {@value #STREAMS} streams at a time until the proxy sheds. Without the
     * shedding (2026-12-06) the direct memory reached the limit: 509 local 502s, and 5 of the kept-alive client's
     * requests failed.
     */
    @Test
    void http2ClientsThatReadNothingOfManyStreamsAreClosedAsMemoryNearsTheLimit() throws Exception {
        start(PRESSURE_LIMIT_MIB, ", \"h2_max_concurrent_streams\": " + STREAMS);
        RawHttpClient steady = resources.keep(RawHttpClient.connect(listen()));
        assertEquals(200, steady.send(GET).read().status());
        long threshold = MemoryPressure.threshold(PRESSURE_LIMIT_MIB * MIB);

        long requests = 0;
        long failures = 0;
        long mostUsed = 0;
        int attackers = 0;
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (proxyStats().get("connections_shed").asLong() == 0 && System.nanoTime() < end) {
            if (attackers < MAX_ATTACKERS) {
                resources.keep(openStreamsAndReadNothing(STREAMS, "/bytes?n=65536"));
                attackers++;
            }
            // A connection every 1.5 s: the loops look at the memory every half second, and shed what has taken
            // nothing for over a second (an attack that fills the room left faster is what the limit itself stops).
            long until = System.nanoTime() + Duration.ofMillis(1500).toNanos();
            while (System.nanoTime() < until) {
                requests++;
                if (steady.send(GET).read().status() != 200) {
                    failures++;
                }
            }
            mostUsed = Math.max(mostUsed, proxyStats().get("direct_memory_used").asLong());
        }
        int clients = attackers + 1;
        Await.until(Duration.ofSeconds(10), "the shed connections closed and their buffers released",
                () -> proxyStats().get("connections_current").asInt() < clients
                        && proxyStats().get("direct_memory_used").asLong() < threshold, () -> proxyStats().toString());
        JsonNode stats = proxyStats();
        System.out.println("[direct memory] " + attackers + " HTTP/2 clients of " + STREAMS + " streams that read"
                + " nothing; most direct memory used " + mostUsed / 1024 + " KiB, threshold " + threshold / 1024
                + " KiB, limit " + PRESSURE_LIMIT_MIB + " MiB; connections shed " + stats.get("connections_shed")
                + ", then " + stats.get("connections_current") + " open, direct memory used "
                + stats.get("direct_memory_used").asLong() / 1024 + " KiB"
                + "; steady client " + requests + " requests, " + failures + " failed");
        assertTrue(stats.get("connections_shed").asLong() >= 1, "nothing shed: " + stats);
        assertEquals(0, failures, "the steady client's requests failed");
        assertEquals(200, steady.send(GET).read().status(), "the steady client's connection was closed");
        assertTrue(mostUsed <= PRESSURE_LIMIT_MIB * MIB, "over the limit: " + mostUsed);
        assertTrue(proxy.log().contains(" WARN ") && proxy.log().contains("MemoryPressure: direct memory ")
                && proxy.log().contains("MiB of its " + PRESSURE_LIMIT_MIB + " MiB limit: closed "), proxy.tail());
        assertFalse(proxy.log().contains("OutOfMemoryError") || proxy.log().contains("OutOfDirectMemoryError"),
                proxy.log());
    }

    /**
     * An HTTP/2 connection (prior knowledge) whose client asks for {@code target} on {@code streams} streams at once,
     * grants windows of 16 MiB, and reads nothing, through the smallest receive window.
     */
    private Socket openStreamsAndReadNothing(int streams, String target) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(64);
        s.connect(listen(), 5000);
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        frame(out, 0x4, 0, 0, new byte[] {0, 4, 1, 0, 0, 0}); // SETTINGS_INITIAL_WINDOW_SIZE 16 MiB
        frame(out, 0x8, 0, 0, new byte[] {0x40, 0, 0, 0}); // the connection's window: 1 GiB more
        byte[] path = target.getBytes(StandardCharsets.US_ASCII);
        byte[] authority = "memory".getBytes(StandardCharsets.US_ASCII);
        java.io.ByteArrayOutputStream block = new java.io.ByteArrayOutputStream();
        block.write(0x82); // :method GET (static table)
        block.write(0x86); // :scheme http
        block.write(0x04); // :path, a literal not indexed, the name from the static table
        block.write(path.length);
        block.write(path);
        block.write(0x01); // :authority, the same way
        block.write(authority.length);
        block.write(authority);
        for (int i = 0; i < streams; i++) {
            frame(out, 0x1, 0x5, 1 + 2 * i, block.toByteArray()); // HEADERS, END_STREAM | END_HEADERS
        }
        s.getOutputStream().write(out.toByteArray());
        return s;
    }

    private static void frame(java.io.ByteArrayOutputStream out, int type, int flags, int stream, byte[] payload) {
        out.write(payload.length >>> 16);
        out.write(payload.length >>> 8);
        out.write(payload.length);
        out.write(type);
        out.write(flags);
        out.write(stream >>> 24);
        out.write(stream >>> 16);
        out.write(stream >>> 8);
        out.write(stream);
        out.writeBytes(payload);
    }

    private void start() throws IOException, InterruptedException {
        start(LIMIT_MIB, "");
    }

    /** The demo backend and the proxy under a direct memory limit of {@code limitMib}; {@code limits} added. */
    private void start(int limitMib, String limits) throws IOException, InterruptedException {
        int backendPort = Ports.free();
        ChildProcess backend = resources.keep(ChildProcess.launcher(dir, "backend", "backend", "--port",
                Integer.toString(backendPort)));
        Path conf = Files.writeString(dir.resolve("servers.conf"), "{ \"health_check\": {\"enabled\": false}, "
                + "\"limits\": {\"max_connections\": " + MAX_CONNECTIONS + limits + "}, \"backend_servers\": [ { "
                + "\"ip\": \"127.0.0.1\", \"port\": " + backendPort + " } ] }\n");
        port = Ports.free();
        adminPort = Ports.free();
        proxy = resources.keep(ChildProcess.proxy(dir, "proxy",
                Map.of("GRAPEVINE_JVM_EXTRA_OPTS", "-XX:MaxDirectMemorySize=" + limitMib + "m"), "--servers",
                conf.toString(), "--listen", "127.0.0.1:" + port, "--admin", "127.0.0.1:" + adminPort, "--no-gossip"));
        ChildProcess.awaitBackendAndProxy(backend, backendPort, proxy);
    }

    private InetSocketAddress listen() {
        return new InetSocketAddress("127.0.0.1", port);
    }

    private JsonNode proxyStats() {
        return new Admin(new InetSocketAddress("127.0.0.1", adminPort)).json("/stats.json").get("proxy");
    }
}
