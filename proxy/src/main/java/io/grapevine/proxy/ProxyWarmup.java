package io.grapevine.proxy;

import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.ClusterSettings;
import io.grapevine.cluster.GossipNode;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A short run through a proxy's start and its first requests, so that the {@code grapevine} launcher can record
 * the classes they load in a class data sharing archive ({@code -XX:ArchiveClassesAtExit}). A proxy started with
 * that archive maps those classes instead of reading and verifying them from the jar: its start costs about a
 * third less CPU, and it answers its first request sooner (after a crash, a deploy, a scale-out).
 *
 * <p>On loopback only, with ephemeral ports, a temporary servers.conf and a fresh cluster key: two backends of
 * its own (threads that answer every request 200), one in servers.conf and one announced by a gossip member that
 * joins as an agent would, and a proxy with gossip on, started as {@code ./grapevine proxy} starts one (the same
 * command line parsing). It serves HTTP/1.1 keep-alive GETs, a POST with a body, a chunked POST, an HTTP/2 GET
 * with prior knowledge and the admin endpoints, and stops. A proxy without gossip loads a subset of these
 * classes. Exits 0 when every answer was a 200. The archive is only a cache: classes it lacks load from the jar
 * as usual.
 */
final class ProxyWarmup {

    private static final byte[] BACKEND_RESPONSE =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n".getBytes(StandardCharsets.US_ASCII);

    private ProxyWarmup() {
    }

    public static void main(String[] args) {
        boolean ok;
        try {
            ok = run();
        } catch (Throwable e) { // exit all the same: the launcher waits for this JVM, under a lock
            e.printStackTrace();
            ok = false;
        }
        System.exit(ok ? 0 : 1);
    }

    /** The whole warm-up; whether every answer was a 200. */
    static boolean run() throws Exception {
        Path dir = Files.createTempDirectory("grapevine-warmup");
        Path servers = dir.resolve("servers.conf");
        Path key = dir.resolve("cluster.key");
        InetAddress loopback = InetAddress.getLoopbackAddress();
        try (ServerSocket staticBackend = new ServerSocket(0, 50, loopback);
             ServerSocket gossipBackend = new ServerSocket(0, 50, loopback)) {
            for (ServerSocket backend : new ServerSocket[] {staticBackend, gossipBackend}) {
                Thread acceptor = new Thread(() -> serve(backend), "warmup-backend");
                acceptor.setDaemon(true);
                acceptor.start();
            }
            Files.writeString(servers, "{\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": "
                    + staticBackend.getLocalPort() + "}]}\n");
            Files.writeString(key, ClusterKeyring.generateKey() + "\n");
            Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
            return warmUp(servers, key, gossipBackend.getLocalPort());
        } finally {
            Files.deleteIfExists(servers);
            Files.deleteIfExists(key);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * A proxy with gossip on (the mode most proxies run in), which a member announcing a second backend joins, as
     * an agent would; then the requests, spread by the balancer over the static backend and the announced one.
     */
    private static boolean warmUp(Path servers, Path key, int gossipBackendPort) throws Exception {
        ProxyInstance.Options options = ProxyMain.parse(new String[] {"--servers", servers.toString(),
            "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--gossip", "0", "--cluster-key", key.toString()},
            Map.of()).options();
        ProxyInstance proxy = ProxyInstance.start(options);
        GossipNode agent = null;
        try {
            agent = GossipNode.start(ClusterSettings.builder().keyring(ClusterKeyring.load(key))
                    .seeds(List.of("127.0.0.1:" + proxy.gossip().gossipAddress().getPort())).build(),
                    MemberMetadata.backend("warmup", "127.0.0.1", gossipBackendPort, 1, Map.of("pool", "warmup"),
                            MemberState.UP), event -> { });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (proxy.view().members().stream().noneMatch(m -> m.metadata() != null && m.metadata().isBackend())) {
                if (System.nanoTime() > deadline) {
                    return false;
                }
                Thread.sleep(20);
            }
            proxy.view().awaitIdle(5_000); // the table with the announced backend is in place
            InetSocketAddress listen = proxy.server().listenAddress();
            InetSocketAddress admin = proxy.server().adminAddress();
            boolean ok = true;
            try (Socket s = connect(listen)) {
                for (int i = 0; i < 20; i++) {
                    ok &= http1(s, "GET /warmup?i=" + i + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: warmup\r\n\r\n");
                }
                ok &= http1(s, "POST /warmup HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                        + "Content-Length: 5\r\n\r\nhello");
                ok &= http1(s, "POST /warmup HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n0\r\n\r\n");
            }
            try (Socket s = connect(listen)) {
                ok &= http2(s);
            }
            for (String path : new String[] {"/health", "/ready", "/table", "/stats", "/metrics", "/members"}) {
                try (Socket s = connect(admin)) {
                    ok &= http1(s, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
                }
            }
            return ok;
        } finally {
            if (agent != null) {
                agent.close();
            }
            proxy.close();
        }
    }

    private static Socket connect(InetSocketAddress address) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), address.getPort()), 5_000);
        s.setSoTimeout(5_000);
        s.setTcpNoDelay(true);
        return s;
    }

    /** Sends one request, reads its response (Content-Length or chunked); whether it was a 200. */
    private static boolean http1(Socket s, String request) throws IOException {
        s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        String head = readHead(in);
        if (head == null) {
            return false;
        }
        skipBody(in, head);
        return head.startsWith("HTTP/1.1 200");
    }

    /** Reads the body that {@code head} announces (Content-Length, or chunked with its trailers), if any. */
    private static void skipBody(InputStream in, String head) throws IOException {
        String lower = head.toLowerCase(Locale.ROOT);
        int length = lower.indexOf("\r\ncontent-length:");
        if (length >= 0) {
            int end = lower.indexOf("\r\n", length + 2);
            in.readNBytes(Integer.parseInt(lower.substring(length + 17, end).trim()));
        } else if (lower.contains("\r\ntransfer-encoding: chunked")) {
            int size;
            while ((size = Integer.parseInt(readLine(in).split(";")[0].trim(), 16)) != 0) {
                in.readNBytes(size + 2);
            }
            readHead(in); // the trailers, up to the empty line
        }
    }

    /** The head up to and with its empty line, without that line; null at the end of input. */
    private static String readHead(InputStream in) throws IOException {
        StringBuilder head = new StringBuilder();
        String line;
        while ((line = readLine(in)) != null && !line.isEmpty()) {
            head.append(line).append("\r\n");
        }
        return line == null ? null : head.toString();
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != -1) {
            if (b == '\n') {
                byte[] bytes = line.toByteArray();
                int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, n, StandardCharsets.US_ASCII);
            }
            line.write(b);
        }
        return null;
    }

    /**
     * One GET over HTTP/2 with prior knowledge (RFC 9113 section 3.3): the preface, an empty SETTINGS, then HEADERS
     * for stream 1 with END_STREAM; frames are read until stream 1 ends. Whether its status was 200 (":status: 200"
     * is HPACK static table entry 8, sent as the single byte 0x88).
     */
    private static boolean http2(Socket s) throws IOException {
        OutputStream out = s.getOutputStream();
        out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.write(new byte[] {0, 0, 0, 4, 0, 0, 0, 0, 0}); // SETTINGS, empty
        byte[] authority = "localhost".getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream block = new ByteArrayOutputStream();
        block.write(0x82); // :method GET
        block.write(0x86); // :scheme http
        block.write(0x84); // :path /
        block.write(0x41); // :authority, literal with incremental indexing, name from the static table
        block.write(authority.length);
        block.write(authority);
        int n = block.size();
        out.write(new byte[] {0, 0, (byte) n, 1, 0x05, 0, 0, 0, 1}); // HEADERS, END_STREAM | END_HEADERS, stream 1
        block.writeTo(out);
        DataInputStream in = new DataInputStream(s.getInputStream());
        boolean ok = false;
        boolean headed = false;
        while (true) {
            int length = (in.readUnsignedByte() << 16) | in.readUnsignedShort();
            int type = in.readUnsignedByte();
            int flags = in.readUnsignedByte();
            int stream = in.readInt() & 0x7fffffff;
            byte[] payload = in.readNBytes(length);
            if (type == 4 && (flags & 1) == 0) {
                out.write(new byte[] {0, 0, 0, 4, 1, 0, 0, 0, 0}); // SETTINGS ACK
            } else if (type == 1 && stream == 1 && !headed) { // the response's head; trailers may follow
                headed = true;
                ok = length > 0 && (payload[0] & 0xff) == 0x88;
            }
            if (stream == 1 && (type == 0 || type == 1) && (flags & 1) != 0) {
                out.write(new byte[] {0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}); // GOAWAY, NO_ERROR
                return ok;
            }
        }
    }

    /** The backend: every request on every connection gets a 200 with a 3-byte body. */
    private static void serve(ServerSocket backend) {
        while (!backend.isClosed()) {
            Socket c;
            try {
                c = backend.accept();
            } catch (IOException e) {
                return;
            }
            Thread t = new Thread(() -> answer(c), "warmup-backend-connection");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void answer(Socket c) {
        try (c) {
            InputStream in = c.getInputStream();
            String head;
            while ((head = readHead(in)) != null) {
                skipBody(in, head);
                c.getOutputStream().write(BACKEND_RESPONSE);
            }
        } catch (IOException | RuntimeException e) {
            // the proxy closed the connection, or stopped
        }
    }
}
