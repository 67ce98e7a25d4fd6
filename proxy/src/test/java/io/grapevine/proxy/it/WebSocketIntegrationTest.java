package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * WebSocket through the proxy on real sockets, against Netty's WebSocket server and the JDK's client:
 * handshake, text and binary messages of 1 byte and 1 MiB, the close handshake; a backend that refuses
 * the upgrade; a tunnel that outlives the start of a drain.
 */
class WebSocketIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    /** Collects whole messages (text as String, binary as byte[]) and the close. */
    private static final class Collector implements WebSocket.Listener {
        final BlockingQueue<Object> messages = new LinkedBlockingQueue<>();
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        private final StringBuilder text = new StringBuilder();
        private final ByteArrayOutputStream binary = new ByteArrayOutputStream();

        @Override
        public void onOpen(WebSocket ws) {
            ws.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                messages.add(text.toString());
                text.setLength(0);
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            binary.writeBytes(b);
            if (last) {
                messages.add(binary.toByteArray());
                binary.reset();
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
            closed.complete(statusCode);
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            closed.completeExceptionally(error);
        }

        Object next() throws InterruptedException {
            Object m = messages.poll(10, TimeUnit.SECONDS);
            assertNotNull(m, "no echo within 10 s");
            return m;
        }
    }

    private static WebSocket open(ProxyServer proxy, Collector c) throws Exception {
        return HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5))
                .buildAsync(URI.create("ws://127.0.0.1:" + proxy.listenAddress().getPort() + "/ws"), c)
                .get(10, TimeUnit.SECONDS);
    }

    @Test
    void textAndBinaryMessagesOfOneByteAndOneMebibyteAreEchoedThroughTheProxy() throws Exception {
        WebSocketEchoBackend backend = fx.track(new WebSocketEchoBackend());
        ProxyServer proxy = fx.proxy("", backend.port());
        Collector c = new Collector();
        WebSocket ws = open(proxy, c);
        // The backend counts its handshake once its 101 is written, which may be after the client has read it.
        await(Duration.ofSeconds(5), "the backend's handshake counted", () -> backend.handshakes() == 1);

        ws.sendText("x", true).get(5, TimeUnit.SECONDS);
        assertEquals("x", c.next());
        ws.sendBinary(ByteBuffer.wrap(new byte[] {42}), true).get(5, TimeUnit.SECONDS);
        assertArrayEquals(new byte[] {42}, (byte[]) c.next());

        byte[] big = new byte[1 << 20];
        new Random(7).nextBytes(big);
        ws.sendBinary(ByteBuffer.wrap(big), true).get(10, TimeUnit.SECONDS);
        assertArrayEquals(big, (byte[]) c.next());
        String bigText = "grapevine ".repeat((1 << 20) / 10) + ".".repeat((1 << 20) % 10);
        assertEquals(1 << 20, bigText.getBytes(StandardCharsets.UTF_8).length);
        ws.sendText(bigText, true).get(10, TimeUnit.SECONDS);
        assertEquals(bigText, c.next());

        assertEquals(1, proxy.stats().tunnelsOpened.sum());
        assertEquals(1, proxy.stats().tunnelsCurrent.get());
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
        assertEquals(WebSocket.NORMAL_CLOSURE, c.closed.get(10, TimeUnit.SECONDS));
        await(Duration.ofSeconds(10), "the tunnel to close on both sides",
                () -> proxy.stats().tunnelsCurrent.get() == 0 && backend.openConnections() == 0
                        && proxy.stats().connectionsCurrent.get() == 0);
        assertEquals(1, Fixtures.server(proxy, backend.port()).stats().tunnels.sum());
    }

    /**
     * TCP keepalive (a probe after the kernel's idle time, two hours by default) on a tunnel's client connection only:
     * a tunnel may stay quiet for up to {@code tunnel_idle_ms}, an ordinary connection is ended by the proxy's own
     * timers first. Read from {@code ss}: a socket with SO_KEEPALIVE and nothing unacknowledged shows
     * {@code timer:(keepalive,...)}.
     */
    @Test
    void aTunnelsClientConnectionIsKeptAliveByTcpAndAnOrdinaryOneIsNot() throws Exception {
        WebSocketEchoBackend backend = fx.track(new WebSocketEchoBackend());
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient plain = fx.client(proxy);
        assertEquals(200, plain.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n").read().status());
        int port = proxy.listenAddress().getPort();
        List<String> before = acceptedConnections(port);
        assertEquals(1, before.size(), before::toString);
        assertFalse(before.get(0).contains("keepalive"), "an ordinary connection: " + before);

        Collector c = new Collector();
        WebSocket ws = open(proxy, c);
        ws.sendText("x", true).get(5, TimeUnit.SECONDS);
        assertEquals("x", c.next());
        // While the echo's bytes wait for their acknowledgement ss shows the retransmission timer instead.
        await(Duration.ofSeconds(5), "both connections idle",
                () -> acceptedConnections(port).stream().noneMatch(l -> l.contains("timer:(on")));
        List<String> after = acceptedConnections(port);
        assertEquals(2, after.size(), after::toString);
        List<String> keptAlive = after.stream().filter(l -> l.contains("timer:(keepalive")).toList();
        assertEquals(1, keptAlive.size(), "one connection, the tunnel's, with a keepalive timer: " + after);
        assertFalse(keptAlive.get(0).contains(":" + plain.localPort() + " "), "the ordinary one is not it: " + after);
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get(5, TimeUnit.SECONDS);
    }

    /** The proxy's side of each established client connection to {@code port}, one {@code ss} line each. */
    private static List<String> acceptedConnections(int port) {
        try {
            Process ss = new ProcessBuilder("ss", "-tnoH", "state", "established", "( sport = :" + port + " )")
                    .redirectErrorStream(true).start();
            String out = new String(ss.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, ss.waitFor(), out);
            return out.lines().filter(l -> !l.isBlank()).toList();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aBackendThatRefusesTheUpgradeGivesAnOrdinaryResponseAndTheConnectionGoesOn() throws Exception {
        WebSocketEchoBackend backend = fx.track(new WebSocketEchoBackend());
        ProxyServer proxy = fx.proxy("", backend.port());
        RawHttpClient client = fx.client(proxy);
        Response refused = client.send("GET /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").read();
        assertEquals(200, refused.status(), refused.toString());
        assertEquals("no websocket here\n", refused.bodyText());
        Response next = client.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n").read();
        assertEquals(200, next.status(), "the connection serves requests again: " + next);
        assertEquals(0, proxy.stats().tunnelsOpened.sum());
        assertEquals(0, backend.handshakes());
    }

    /** Reads, as the backend, the head of the upgrade request. */
    private static void readRequestHead(InputStream in) throws java.io.IOException {
        StringBuilder head = new StringBuilder();
        while (head.indexOf("\r\n\r\n") < 0) {
            int c = in.read();
            assertTrue(c >= 0, "the upgrade request arrives: " + head);
            head.append((char) c);
        }
    }

    /**
     * A client that half-closes right after its upgrade request ({@code printf ... | nc}), before the backend's
     * {@code 101}: once the tunnel opens the FIN is the end of the tunnel's input and reaches the backend, as a FIN
     * inside an open tunnel does; the backend's last bytes and its close still reach the client.
     */
    @Test
    void aHalfCloseBeforeThe101ReachesTheBackendOnceTheTunnelOpens() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            ProxyServer proxy = fx.proxy("", listener.getLocalPort());
            RawHttpClient client = fx.client(proxy);
            client.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\nearly")
                    .shutdownOutput();
            try (Socket backend = listener.accept()) {
                backend.setSoTimeout(10_000);
                InputStream in = backend.getInputStream();
                readRequestHead(in);
                Thread.sleep(300); // the client's FIN reaches the proxy before the 101 leaves
                backend.getOutputStream().write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                        + "Upgrade: chat\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                backend.setSoTimeout(5_000);
                assertEquals("early", new String(in.readNBytes(5), StandardCharsets.US_ASCII));
                try {
                    assertEquals(-1, in.read(), "nothing after the client's FIN");
                } catch (SocketTimeoutException e) {
                    fail("the client's half-close never reached the backend: the tunnel would stay open for good");
                }
                backend.getOutputStream().write("bye".getBytes(StandardCharsets.US_ASCII));
            }
            Response r = client.readHead();
            assertEquals(101, r.status(), r.toString());
            assertEquals("bye", new String(client.readUntilClose(), StandardCharsets.US_ASCII),
                    "the backend's last bytes, then the close");
        }
    }

    /**
     * A backend that half-closes its tunnel (its FIN, as {@code shutdown(SHUT_WR)} sends) has the FIN passed on to
     * the client, after its last bytes, and the tunnel goes on the other way, as through HAProxy: what the client
     * sends next still reaches the backend, and the client's own FIN then ends the tunnel.
     */
    @Test
    void aBackendsHalfCloseReachesTheClientAndTheClientsBytesStillReachTheBackend() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            ProxyServer proxy = fx.proxy("", listener.getLocalPort());
            RawHttpClient client = fx.client(proxy).timeout(5_000);
            client.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\n");
            try (Socket backend = listener.accept()) {
                backend.setSoTimeout(5_000);
                InputStream in = backend.getInputStream();
                readRequestHead(in);
                backend.getOutputStream().write(("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                        + "Upgrade: chat\r\n\r\nbye").getBytes(StandardCharsets.US_ASCII));
                backend.shutdownOutput();
                Response r = client.readHead();
                assertEquals(101, r.status(), r.toString());
                assertEquals("bye", new String(client.readUntilClose(), StandardCharsets.US_ASCII),
                        "the backend's last bytes, then its FIN");
                assertEquals(1, proxy.stats().tunnelsCurrent.get(), "the tunnel is open the other way");
                client.send("still here");
                try {
                    assertEquals("still here", new String(in.readNBytes(10), StandardCharsets.US_ASCII),
                            "the client's bytes after the backend's half-close reach the backend");
                } catch (SocketTimeoutException e) {
                    fail("the tunnel ended at the backend's half-close");
                }
                client.shutdownOutput();
                assertEquals(-1, in.read(), "the client's FIN reaches the backend");
                await(Duration.ofSeconds(5), "the tunnel to end once both sides half-closed",
                        () -> proxy.stats().tunnelsCurrent.get() == 0);
            }
        }
    }

    @Test
    void anOpenTunnelKeepsWorkingAfterADrainStartsAndTheDrainEndsWhenItCloses() throws Exception {
        WebSocketEchoBackend backend = fx.track(new WebSocketEchoBackend());
        ProxyServer proxy = fx.proxy("\"timeouts\": {\"shutdown_grace_ms\": 20000}", backend.port());
        Collector c = new Collector();
        WebSocket ws = open(proxy, c);
        ws.sendText("before", true).get(5, TimeUnit.SECONDS);
        assertEquals("before", c.next());

        long start = System.nanoTime();
        Thread drain = new Thread(() -> proxy.drainAndStop(20_000), "drain");
        drain.start();
        await(Duration.ofSeconds(5), "the listener to close", () -> {
            try (java.net.Socket s = new java.net.Socket()) {
                s.connect(proxy.listenAddress(), 200);
                return false;
            } catch (java.io.IOException refusedNow) {
                return true;
            }
        });
        for (int i = 0; i < 3; i++) {
            ws.sendText("during " + i, true).get(5, TimeUnit.SECONDS);
            assertEquals("during " + i, c.next(), "the tunnel must keep working during the drain");
        }
        assertTrue(drain.isAlive(), "the drain waits for the open tunnel");
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(5, TimeUnit.SECONDS);
        c.closed.get(10, TimeUnit.SECONDS);
        drain.join(15_000);
        long tookMs = (System.nanoTime() - start) / 1_000_000;
        assertTrue(!drain.isAlive() && tookMs < 15_000, "the drain should end when the tunnel closed, took " + tookMs);
    }
}
