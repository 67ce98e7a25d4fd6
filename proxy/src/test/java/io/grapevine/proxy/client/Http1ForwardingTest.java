package io.grapevine.proxy.client;

import static io.grapevine.proxy.client.ForwardingHarness.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.client.ForwardingHarness.Backend;
import io.grapevine.proxy.client.ForwardingHarness.Dial;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.http.ResponseHeadParser;
import io.grapevine.proxy.net.RelayBuffers;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.RuntimeState;
import io.grapevine.proxy.testing.TestCertificates;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The forwarding core without sockets: an {@link Http1Connection} and the exchanges it starts, with every
 * backend connection an embedded channel. Pipelining order, retry decisions, backpressure and the rules
 * for closing the client connection.
 */
class Http1ForwardingTest {

    private static final String GET = "GET /%s HTTP/1.1\r\nHost: example\r\n\r\n";

    /**
     * Over TLS, the close of an aborted client that reads nothing does not wait for the close_notify the client will
     * not read: the TLS handler's own close would hold the socket, and what is queued on it, for its close-notify flush
     * timeout (3 s) before closing it, and log a WARN line.
     */
    @Test
    void aStalledTlsClientIsAbortedWithoutWaitingForItsCloseNotify(@TempDir Path dir) throws Exception {
        TestCertificates.Pair pair = TestCertificates.selfSigned(dir, "a", TestCertificates.KeyType.EC,
                TestCertificates.KeyForm.PKCS8, "/CN=a.test", "a.test");
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.client.config().setWriteBufferWaterMark(RelayBuffers.WATER_MARK);
            SslHandler tls = SslContextBuilder.forServer(pair.cert().toFile(), pair.key().toFile())
                    .sslProvider(SslProvider.JDK).build().newHandler(h.client.alloc());
            h.client.pipeline().addFirst(tls);
            EmbeddedChannel peer = new EmbeddedChannel(SslContextBuilder.forClient()
                    .trustManager(InsecureTrustManagerFactory.INSTANCE).sslProvider(SslProvider.JDK).build()
                    .newHandler(UnpooledByteBufAllocator.DEFAULT));
            try {
                for (int i = 0; i < 20 && !tls.handshakeFuture().isDone(); i++) {
                    relay(peer, h.client);
                    relay(h.client, peer);
                }
                assertTrue(tls.handshakeFuture().isSuccess(), "handshake: " + tls.handshakeFuture().cause());
                peer.writeOutbound(Unpooled.copiedBuffer(get("big"), StandardCharsets.ISO_8859_1));
                relay(peer, h.client);
                h.runPending();
                Backend b = h.backend(0);
                h.client.pipeline().addFirst(new FullSocket());
                Http1Connection connection = h.client.pipeline().get(Http1Connection.class);
                String part = "x".repeat(RelayBuffers.MAX_READ);
                b.send("HTTP/1.1 200 OK\r\nContent-Length: " + 2 * part.length() + "\r\n\r\n");
                b.channel().pipeline().fireChannelRead(Unpooled.copiedBuffer(part, StandardCharsets.ISO_8859_1));
                assertTrue(connection.stalledSinceNanos() != 0, "the socket kept the part");

                assertTrue(connection.abort());
                h.runPending();
                assertFalse(h.client.isOpen(), "closed at once, its close_notify left unwritten");
            } finally {
                peer.finishAndReleaseAll();
            }
        }
    }

    /** What {@code from} wrote goes to {@code to} as what it read, as a socket pair would carry it. */
    private static void relay(EmbeddedChannel from, EmbeddedChannel to) {
        for (Object written; (written = from.readOutbound()) != null; ) {
            to.writeInbound(written);
        }
        from.runPendingTasks();
        to.runPendingTasks();
    }

    private static String ok(String body) {
        return "HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
    }

    private static String get(String path) {
        return String.format(GET, path);
    }

    /** The bodies of the responses in {@code text}, in order. */
    private static String bodies(String text) {
        StringBuilder sb = new StringBuilder();
        Matcher m = Pattern.compile("HTTP/1.1 (\\d+)[^\\r]*\\r\\n(?:[^\\r]+\\r\\n)*?Content-Length: (\\d+)\\r\\n(?:[^\\r]+\\r\\n)*\\r\\n")
                .matcher(text);
        int at = 0;
        while (m.find(at)) {
            int length = Integer.parseInt(m.group(2));
            sb.append(sb.length() == 0 ? "" : ",").append(m.group(1)).append(':')
                    .append(text, m.end(), m.end() + length);
            at = m.end() + length;
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- pipelining order

    @Test
    void pipelinedResponsesGoBackInRequestOrderWhateverOrderTheServersAnswerIn() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(3, ""))) {
            h.send(get("a") + get("b") + get("c"));
            assertEquals(3, h.backends.size(), "one backend connection per request, dialled at once");
            h.backend(2).send(ok("third"));
            h.backend(1).send(ok("second"));
            assertEquals("", h.received(), "later responses must wait for the first");
            h.backend(0).send(ok("first"));
            assertEquals("200:first,200:second,200:third", bodies(h.received()));
            assertTrue(h.backend(0).received().startsWith("GET /a HTTP/1.1\r\n"));
            assertTrue(h.backend(2).received().startsWith("GET /c HTTP/1.1\r\n"));
        }
    }

    @Test
    void aPipelinedResponseIsFlushedAtTheEndOfTheTurnAndALoneOneAtOnce() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send(get("a") + get("b"));
            h.backend(0).sendWithinTheTurn(ok("first"));
            assertEquals("", ForwardingHarness.drain(h.client),
                    "a response with another request behind it waits for the end of the turn, so that the responses "
                            + "completed in one turn leave in one write");
            h.backend(1).sendWithinTheTurn(ok("second"));
            h.client.runPendingTasks(); // the end of the turn
            assertEquals("200:first,200:second", bodies(h.received()));

            h.send(get("c"));
            h.backend(0).sendWithinTheTurn(ok("alone"));
            assertEquals("200:alone", bodies(ForwardingHarness.drain(h.client)), "alone in line: flushed at once");
        }
    }

    @Test
    void aSmallResponseLeavesInOneBufferWithItsHead() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("a"));
            h.backend(0).send(ok("hello"));
            List<String> writes = h.receivedWrites();
            assertEquals(1, writes.size(), "head and a small body in one buffer, one write: " + writes);
            assertTrue(writes.get(0).startsWith("HTTP/1.1 200 OK\r\n") && writes.get(0).endsWith("\r\n\r\nhello"),
                    writes.get(0));

            h.send(get("b"));
            String body = "x".repeat(ResponseHeadParser.BODY_IN_HEAD_MAX + 1);
            h.backend(0).send(ok(body));
            writes = h.receivedWrites();
            assertEquals(2, writes.size(), "a larger body is not copied: it follows the head in a buffer of its own");
            assertEquals(body, writes.get(1));
        }
    }

    @Test
    void aHeadWhoseSmallBodyIsNotInYetLeavesWhenTheBackendsReadsEnd() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("a"));
            Backend b = h.backend(0);
            b.sendWithinTheTurn("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe");
            List<String> writes = h.receivedWrites();
            assertEquals(1, writes.size(), "the head with the body's first bytes, at the end of the backend's reads");
            assertTrue(writes.get(0).endsWith("\r\n\r\nhe"), writes.get(0));
            b.sendWithinTheTurn("llo");
            assertEquals(List.of("llo"), h.receivedWrites());

            h.send(get("b"));
            b.sendWithinTheTurn("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
            writes = h.receivedWrites();
            assertEquals(1, writes.size(), "the head does not wait for a body that is not there yet: " + writes);
            assertTrue(writes.get(0).startsWith("HTTP/1.1 200 OK\r\n") && writes.get(0).endsWith("\r\n\r\n"));
            b.sendWithinTheTurn("abc");
            assertEquals(List.of("abc"), h.receivedWrites());
            h.send(get("c"));
            b.send(ok("next"));
            assertEquals("200:next", bodies(h.received()), "the connection went on");
        }
    }

    @Test
    void aHeldResponseOverTheLimitPausesItsBackendUntilItIsFirstInLine() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send(get("a") + get("b"));
            int big = ResponseSequencer.MAX_HELD_BYTES + 1;
            Backend second = h.backend(1);
            second.send("HTTP/1.1 200 OK\r\nContent-Length: " + (big + 10) + "\r\n\r\n" + "x".repeat(big));
            assertFalse(second.isReading(), "a backend whose held response passed the limit must be paused");
            assertTrue(h.backend(0).isReading());
            h.backend(0).send(ok("first"));
            assertTrue(second.isReading(), "first in line now: its backend is read again");
            second.send("y".repeat(10));
            String all = h.received();
            assertTrue(all.startsWith("HTTP/1.1 200 OK"), all.substring(0, 40));
            assertTrue(all.endsWith("y".repeat(10)));
            assertEquals(2, all.split("HTTP/1.1 200 OK", -1).length - 1);
        }
    }

    /**
     * The requests every backend connection received since the last call, as "index:METHOD /path", in dial order.
     */
    private static List<String> requestsSent(ForwardingHarness h) {
        List<String> sent = new java.util.ArrayList<>();
        for (int i = 0; i < h.backends.size(); i++) {
            Matcher m = Pattern.compile("([A-Z]+ /\\S*) HTTP/1\\.1\r\n").matcher(h.backend(i).received());
            while (m.find()) {
                sent.add(i + ":" + m.group(1));
            }
        }
        return sent;
    }

    /** The index of the backend connection of {@code entry}, an entry of {@link #requestsSent}. */
    private static int connectionOf(String entry) {
        return Integer.parseInt(entry.substring(0, entry.indexOf(':')));
    }

    @Test
    void aPipelinedRequestWhoseMethodIsNotSafeRunsAloneInTheOrderItWasSent() throws Exception {
        String post = "POST /c HTTP/1.1\r\nHost: example\r\nContent-Length: 2\r\n\r\nhi";
        try (ForwardingHarness h = new ForwardingHarness(config(3, ""))) {
            h.send(get("a") + get("b") + post + get("d") + get("e"));
            assertEquals(List.of("0:GET /a", "1:GET /b"), requestsSent(h),
                    "safe requests go out together (RFC 9112 section 9.3.2); the POST waits for those before it");
            h.backend(1).send(ok("b"));
            assertEquals(List.of(), requestsSent(h), "the POST waits for every request before it, not only the last");
            h.backend(0).send(ok("a"));
            List<String> sent = requestsSent(h);
            assertEquals(1, sent.size(), "then it goes out alone: the requests after it wait for its answer: " + sent);
            assertTrue(sent.get(0).endsWith(":POST /c"), sent.toString());
            h.backend(connectionOf(sent.get(0))).send(ok("c"));
            sent = requestsSent(h);
            assertEquals(2, sent.size(), "safe again: the rest go out together: " + sent);
            String d = sent.get(0).endsWith(":GET /d") ? sent.get(0) : sent.get(1);
            String e = sent.get(0).endsWith(":GET /d") ? sent.get(1) : sent.get(0);
            assertTrue(d.endsWith(":GET /d") && e.endsWith(":GET /e"), sent.toString());
            h.backend(connectionOf(e)).send(ok("e"));
            h.backend(connectionOf(d)).send(ok("d"));
            assertEquals("200:a,200:b,200:c,200:d,200:e", bodies(h.received()));
        }
    }

    @Test
    void aRequestWaitingItsTurnIsForwardedAndAnsweredAfterTheClientHalfCloses() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send(get("a") + "DELETE /b HTTP/1.1\r\nHost: example\r\n\r\n");
            h.client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE); // printf ... | nc
            h.runPending();
            assertEquals(List.of("0:GET /a"), requestsSent(h));
            h.backend(0).send(ok("a"));
            List<String> sent = requestsSent(h);
            assertEquals(1, sent.size(), sent.toString());
            assertTrue(sent.get(0).endsWith(":DELETE /b"), "sent before the FIN, so forwarded in its turn: " + sent);
            h.backend(connectionOf(sent.get(0))).send(ok("b"));
            String answers = h.received();
            assertEquals("200:a,200:b", bodies(answers));
            assertTrue(answers.endsWith("\r\nConnection: close\r\n\r\nb"), answers);
            h.runPending();
            assertFalse(h.client.isActive(), "then the connection closes");
        }
    }

    @Test
    void aBodyTheProxyHeldBackWhileItsRequestWaitedIsNoStalledClient() throws Exception {
        String extra = "\"timeouts\": {\"client_idle_ms\": 50}";
        int sent = 300 * 1024; // more than a waiting exchange keeps (256 KiB): reading pauses
        try (ForwardingHarness h = new ForwardingHarness(config(2, extra))) {
            h.send(get("a") + "POST /b HTTP/1.1\r\nHost: example\r\nContent-Length: " + (sent + 5) + "\r\n\r\n"
                    + "x".repeat(sent));
            assertEquals(List.of("0:GET /a"), requestsSent(h));
            assertFalse(h.client.config().isAutoRead(), "the POST waits for the GET, and its body with it");
            Thread.sleep(120); // longer than client_idle_ms
            Http1Connection connection = h.client.pipeline().get(Http1Connection.class);
            connection.checkDeadlines(System.nanoTime());
            h.backend(0).send(ok("a"));
            assertTrue(h.client.config().isAutoRead(), "the POST went out: its body is read again");
            connection.checkDeadlines(System.nanoTime());
            assertEquals("200:a", bodies(h.received()),
                    "no 408: the client did not stall, the proxy did not read while the request waited its turn");
            h.send("y".repeat(5));
            List<String> sentTo = requestsSent(h);
            assertEquals(1, sentTo.size(), sentTo.toString());
            h.backend(connectionOf(sentTo.get(0))).send(ok("b"));
            assertEquals("200:b", bodies(h.received()));
        }
    }

    @Test
    void aHeadThatWaitedForRoomInLineHasItsWholeTimeAfterwards() throws Exception {
        String extra = "\"limits\": {\"max_pipeline_depth\": 1}, \"timeouts\": {\"client_header_ms\": 50}";
        try (ForwardingHarness h = new ForwardingHarness(config(1, extra))) {
            h.send(get("a") + "GET /b HTTP/1.1\r\nHo");
            assertFalse(h.client.config().isAutoRead(), "the second head waits for room in line");
            Thread.sleep(120); // longer than client_header_ms
            Http1Connection connection = h.client.pipeline().get(Http1Connection.class);
            h.backend(0).send(ok("a"));
            assertEquals("200:a", bodies(h.received()));
            assertTrue(h.client.config().isAutoRead(), "room in line again: the rest of the head is read");
            connection.checkDeadlines(System.nanoTime());
            assertEquals("", h.received(), "no 408 for a head the proxy did not read while it waited");
            h.send("st: example\r\n\r\n");
            assertEquals(List.of("0:GET /a", "0:GET /b"), requestsSent(h));
            h.backend(0).send(ok("b"));
            assertEquals("200:b", bodies(h.received()));
        }
    }

    @Test
    void pipelineDepthLimitStopsReadingUntilAResponseLeaves() throws Exception {
        String extra = "\"limits\": {\"max_pipeline_depth\": 2}";
        try (ForwardingHarness h = new ForwardingHarness(config(1, extra))) {
            h.send(get("a") + get("b") + get("c"));
            assertEquals(2, h.backends.size(), "the third request waits for room in line");
            assertFalse(h.client.config().isAutoRead(), "reading pauses at the pipeline depth");
            Backend first = h.backend(0);
            assertTrue(first.received().startsWith("GET /a "));
            first.send(ok("a"));
            // room in line again: the waiting request is read and sent, on the connection just freed
            assertTrue(first.received().startsWith("GET /c "), "the waiting request went out once there was room");
            assertEquals(2, h.backends.size());
            first.send(ok("c"));
            h.backend(1).send(ok("b"));
            assertEquals("200:a,200:b,200:c", bodies(h.received()));
        }
    }

    // ---------------------------------------------------------------- routes

    private static final String ROUTED = """
            { "backend_servers": [
                { "name": "d", "ip": "127.0.0.1", "port": 8001 },
                { "name": "v6", "ip": "127.0.0.1", "port": 8002, "pool": "v6" },
                { "name": "api", "ip": "127.0.0.1", "port": 8003, "pool": "api" },
                { "name": "www", "ip": "127.0.0.1", "port": 8004, "pool": "www" } ],
              "routes": [ { "host": "[::1]", "pool": "v6" }, { "host": "api.example.com", "pool": "api" },
                          { "host": "www.example.org.", "pool": "www" } ] }""";

    /**
     * A route's host matches the request's Host however the same host is written: an IPv6 literal in brackets and
     * in any of its RFC 4291 forms (the route's is canonical, RFC 5952), a fully qualified name with its root dot
     * (RFC 1034 section 3.1) or without, on either side.
     */
    @ParameterizedTest
    @CsvSource({
            "[::1],                       v6",
            "[::1]:9000,                  v6",
            "[0:0:0:0:0:0:0:1]:9000,      v6",
            "API.Example.com:9000,        api",
            "api.example.com.,            api",
            "api.example.com.:9000,       api",
            "www.example.org,             www",
            "www.example.org.,            www",
            "example.net,                 d"})
    void aRouteMatchesItsHostHoweverTheHostFieldWritesIt(String host, String server) throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(ROUTED)) {
            h.send("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
            assertEquals(server, h.backend(0).server().name());
            h.backend(0).send(ok("x"));
            assertEquals("200:x", bodies(h.received()));
        }
    }

    // ---------------------------------------------------------------- retries

    /**
     * An IPv6 client is named in X-Forwarded-For as HAProxy, nginx and the proxy's own access log name it (RFC 5952:
     * {@code 2001:db8::1}, without a scope id), not in the JDK's long form, which backends that compare addresses as
     * text (trusted-proxy lists, rate limits) would not recognise.
     */
    @ParameterizedTest
    @CsvSource({
            "2001:db8:0:0:0:0:0:1, 0, 2001:db8::1",
            "0:0:0:0:0:0:0:1,      0, ::1",
            "fe80:0:0:0:0:0:0:1,   2, fe80::1",
            "192.0.2.1,            0, 192.0.2.1"})
    void theClientIsNamedInForwardedForInItsShortestForm(String address, int scope, String named) throws Exception {
        java.net.InetAddress ip = java.net.InetAddress.getByName(address);
        java.net.InetAddress client = scope == 0 ? ip : java.net.Inet6Address.getByAddress(null, ip.getAddress(), scope);
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""), (pipeline, loop) -> {
            pipeline.channel().attr(ClientAddress.ANNOUNCED).set(new java.net.InetSocketAddress(client, 40000));
            pipeline.addLast(new Http1Connection(loop));
        })) {
            h.send("GET / HTTP/1.1\r\nHost: example\r\nX-Forwarded-For: 198.51.100.7\r\n\r\n");
            String request = h.backend(0).received();
            assertTrue(request.contains("\r\nX-Forwarded-For: 198.51.100.7, " + named + "\r\n"), request);
        }
    }

    /**
     * The client's address is formatted once per address, not once per connection: a second connection from the
     * address the loop last formatted (a balancer in front, a client's pool) names it with the same bytes.
     */
    @Test
    void aSecondConnectionFromTheSameAddressReusesItsText() throws Exception {
        List<byte[]> named = new java.util.ArrayList<>();
        for (int port : new int[] {40000, 40001}) {
            try (ForwardingHarness h = new ForwardingHarness(config(1, ""), (pipeline, loop) -> {
                pipeline.channel().attr(ClientAddress.ANNOUNCED).set(new java.net.InetSocketAddress("198.51.100.7", port));
                pipeline.addLast(new Http1Connection(loop));
            })) {
                h.loop.addObserver(ex -> named.add(ex.request().clientAddress));
                h.send(get("x"));
                assertTrue(h.backend(0).received().contains("\r\nX-Forwarded-For: 198.51.100.7\r\n"));
                h.backend(0).send(ok("1"));
                assertEquals("200:1", bodies(h.received()));
            }
        }
        assertEquals(2, named.size());
        assertSame(named.get(0), named.get(1), "the text of the first connection's address, reused");
    }

    @Test
    void aRefusedConnectionIsRetriedOnAnotherServer() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, "")).dials(Dial.REFUSE)) {
            h.send(get("x"));
            assertEquals(1, h.backends.size(), "the refused dial leaves no connection; the retry made one");
            assertTrue(h.backend(0).received().startsWith("GET /x "));
            h.backend(0).send(ok("retried"));
            assertEquals("200:retried", bodies(h.received()));
            assertEquals(1, h.stats.retries.sum());
        }
    }

    @Test
    void anIdempotentRequestWhoseServerClosedBeforeAnsweringIsRetriedElsewhere() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send(get("x"));
            Backend first = h.backend(0);
            first.received();
            first.close();
            assertEquals(2, h.backends.size(), "retried on a new connection");
            Backend second = h.backend(1);
            assertTrue(second.server() != first.server(), "retried on another server");
            assertTrue(second.received().startsWith("GET /x "));
            second.send(ok("elsewhere"));
            assertEquals("200:elsewhere", bodies(h.received()));
        }
    }

    /**
     * A retry goes to the servers the table has when it is made, as HAProxy's redispatch picks among the servers of
     * the moment: here the pool had s0 alone when the request went out, s1 joined while it was in flight (a scale-out,
     * often because s0 is in trouble), and s0 closed without answering. The request goes to s1 rather than being
     * answered 502 for want of another server in the generation it was routed under. So too when the reload that
     * added s1 changed how the pool balances, ramps or queues: neither policy ties the request to a server.
     */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "'' | ''",
        "'' | '\"balance\": \"leastconn\"'",
        "'' | '\"slow_start_ms\": 10000'",
        "'' | '\"queue\": {\"max\": 10, \"timeout_ms\": 1000}'",
        "'\"balance\": \"uri\"' | '\"balance\": \"uri\", \"slow_start_ms\": 10000'",
        "'\"sticky\": {}' | ''"})
    void aRetryGoesToAServerThatJoinedWhileTheRequestWasInFlight(String policy, String reloadedPolicy)
            throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, policy))) {
            Backend first = inFlightWhileAReloadAddsS1(h, reloadedPolicy);
            first.close();
            assertEquals(2, h.backends.size(), () -> "not retried: " + h.received());
            Backend second = h.backend(1);
            assertEquals("s1", second.server().name());
            assertTrue(second.received().startsWith("GET /x "));
            second.send(ok("joined"));
            String answer = h.received();
            assertEquals("200:joined", bodies(answer));
            assertFalse(answer.contains("Set-Cookie"), "sticky sessions are off now: " + answer);
            assertEquals(1, h.stats.retries.sum());
        }
    }

    /** Under a hashing the reload turned on, the request has no key: its retry stays with the policy it was read for. */
    @Test
    void aRetryKeepsItsPoolWhenAReloadTurnedHashingOn() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend first = inFlightWhileAReloadAddsS1(h, "\"balance\": \"header:x-user\"");
            first.close();
            assertEquals(1, h.backends.size());
            assertTrue(h.received().startsWith("HTTP/1.1 502 "));
        }
    }

    /** Sends GET /x to s0, the pool's only server, then reloads with s0 and s1 under {@code reloadedPolicy}. */
    private static Backend inFlightWhileAReloadAddsS1(ForwardingHarness h, String reloadedPolicy) throws Exception {
        h.send(get("x"));
        Backend first = h.backend(0);
        assertTrue(first.received().startsWith("GET /x "));
        ProxyConfig reloaded = ConfigLoader.parse(config(2, reloadedPolicy), "(test)");
        h.tables.publish(reloaded.servers(), reloaded.routes(), reloaded::policyOf, "test");
        return first;
    }

    /**
     * The same for the stale keep-alive of a server that left the table while its reused connection carried the
     * request: the request, which reached no server, goes to the server that replaced it.
     */
    @Test
    void aStaleKeepAliveOfAServerThatLeftGoesToTheServerThatReplacedIt() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = secondRequestOnAReusedConnection(h);
            assertTrue(b.received().startsWith("GET /two "));
            replaceS0WithS9(h);

            b.close(); // the server's keep-alive timeout fired just as the request went out
            assertEquals(2, h.backends.size(), () -> "not sent again: " + h.received());
            Backend fresh = h.backend(1);
            assertEquals("s9", fresh.server().name());
            assertTrue(fresh.received().startsWith("GET /two "));
            fresh.send(ok("2"));
            assertEquals("200:2", bodies(h.received()));
            assertEquals(0, b.server().inFlight());
        }
    }

    /**
     * A pipelined request that waits for its turn behind one that is not safe goes, when its turn comes, to the servers
     * its pool has then: here s0 left and s9 took its place while the POST before it was on s0. Read under the table
     * that had s0 only, it would find no server and be answered 503.
     */
    @Test
    void aPipelinedRequestHeldBehindAPostGoesToTheServersOfItsPoolWhenItsTurnComes() throws Exception {
        String post = "POST /p HTTP/1.1\r\nHost: example\r\nContent-Length: 2\r\n\r\nhi";
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(post + get("x"));
            assertEquals(1, h.backends.size(), "x waits for the POST's answer");
            Backend first = h.backend(0);
            assertTrue(first.received().startsWith("POST /p "));
            replaceS0WithS9(h);

            first.send(ok("p"));
            assertEquals(2, h.backends.size(), () -> "x was not sent: " + h.received());
            Backend second = h.backend(1);
            assertEquals("s9", second.server().name());
            assertTrue(second.received().startsWith("GET /x "));
            second.send(ok("x"));
            assertEquals("200:p,200:x", bodies(h.received()));
        }
    }

    /** Publishes a table in which s0 left the default pool and s9 took its place. */
    private static void replaceS0WithS9(ForwardingHarness h) throws Exception {
        h.tables.publish(ConfigLoader.parse("{\"backend_servers\": [{\"name\": \"s9\", \"ip\": \"127.0.0.1\", "
                + "\"port\": 8009}]}", "(test)").servers(), "test");
    }

    @Test
    void theBackendIsSentTheRequestHeadItselfNotABufferDerivedFromIt() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            List<ByteBuf> heads = new java.util.ArrayList<>();
            h.loop.addObserver(ex -> heads.add(ex.request().upstreamHead));
            h.send(get("x"));
            ByteBuf sent = h.backend(0).channel().readOutbound();
            sent.release();
            h.backend(0).send(ok("1"));
            assertEquals("200:1", bodies(h.received()));
            assertEquals(1, heads.size());
            assertSame(heads.get(0), sent, "one object less per request: no duplicate of the head");
        }
    }

    @Test
    void aRetryAfterTheHeadWentOutInPartsSendsTheWholeHeadAgain() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            List<String> observed = new java.util.ArrayList<>();
            h.loop.addObserver(ex -> observed.add(ex.request().upstreamHead.toString(0,
                    ex.request().upstreamHead.writerIndex(), java.nio.charset.StandardCharsets.ISO_8859_1)));
            h.send(get("x"));
            Backend first = h.backend(0);
            ByteBuf sent = first.channel().readOutbound();
            String whole = sent.toString(java.nio.charset.StandardCharsets.ISO_8859_1);
            sent.skipBytes(10); // what a transport does to a buffer it wrote in part (ChannelOutboundBuffer.removeBytes)
            sent.release(); // dropped with the connection
            first.close();
            Backend second = h.backend(1);
            assertEquals(whole, second.received());
            second.send(ok("elsewhere"));
            assertEquals("200:elsewhere", bodies(h.received()));
            assertEquals(List.of(whole), observed);
        }
    }

    @Test
    void aPostThatMayHaveReachedItsServerIsNeverReplayed() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send("POST /pay HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\n\r\nabc");
            Backend first = h.backend(0);
            assertTrue(first.received().endsWith("\r\n\r\nabc"));
            first.close();
            assertEquals(1, h.backends.size(), "no second attempt");
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 502 "), answer);
            assertEquals(0, h.stats.retries.sum());
        }
    }

    /** Has {@code /one} answered on the first connection, which goes idle; returns that connection. */
    private static Backend oneRequestAnswered(ForwardingHarness h) {
        h.send(get("one"));
        Backend b = h.backend(0);
        b.received();
        b.send(ok("1"));
        assertEquals("200:1", bodies(h.received()));
        return b;
    }

    /** Has {@code /one} answered, then sends {@code /two}, which goes on the same, now idle, connection. */
    private static Backend secondRequestOnAReusedConnection(ForwardingHarness h) {
        Backend b = oneRequestAnswered(h);
        h.send(get("two"));
        assertEquals(1, h.backends.size(), "the idle connection was reused");
        return b;
    }

    /**
     * A request goes out from the backend connection's own handler towards the socket: a handler behind it (at the
     * pipeline's tail) sees neither the write nor the flush, which a write from the tail would pass through.
     */
    @Test
    void aRequestIsWrittenFromTheBackendConnectionsHandlerNotFromThePipelinesTail() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = oneRequestAnswered(h);
            List<String> seenBehind = new java.util.ArrayList<>();
            b.channel().pipeline().addLast(new io.netty.channel.ChannelOutboundHandlerAdapter() {
                @Override
                public void write(io.netty.channel.ChannelHandlerContext ctx, Object msg,
                                  io.netty.channel.ChannelPromise promise) {
                    seenBehind.add("write");
                    ctx.write(msg, promise);
                }

                @Override
                public void flush(io.netty.channel.ChannelHandlerContext ctx) {
                    seenBehind.add("flush");
                    ctx.flush();
                }
            });
            h.send(get("two"));
            assertEquals(1, h.backends.size(), "the idle connection was reused");
            assertTrue(b.received().startsWith("GET /two "), "the request reached the socket");
            assertEquals(List.of(), seenBehind);
            b.send(ok("2"));
            assertEquals("200:2", bodies(h.received()));
        }
    }

    @Test
    void aStaleKeepAliveIsRetriedOnTheSameServerWithoutCountingAgainstIt() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = secondRequestOnAReusedConnection(h);
            b.close(); // the server's keep-alive timeout fired just as the request went out
            assertEquals(2, h.backends.size());
            Backend fresh = h.backend(1);
            assertEquals(b.server(), fresh.server());
            assertTrue(fresh.received().startsWith("GET /two "));
            fresh.send(ok("2"));
            assertEquals("200:2", bodies(h.received()));
            assertEquals("up", b.server().stateName(System.nanoTime()));
            // counted as a retry (HAProxy's wretr), not as an error of a server that answered
            assertEquals(0, b.server().stats().responseErrors.sum(), "response_errors");
            assertEquals(1, b.server().stats().retried.sum(), "retried");
            assertEquals(1, h.stats.retries.sum(), "retries");
        }
    }

    /**
     * A server put in maintenance (or down, or out of the table) while its reused connection carried a request takes
     * no fresh one for it: the stale keep-alive's request, which reached no server, goes to another. That is a further
     * server tried, as the proxy's and the server's retry counters say, and as the access log's {@code retries} says.
     */
    @Test
    void aStaleKeepAliveOfAServerPutInMaintenanceMeanwhileGoesToAnotherServer() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            List<String> seen = new java.util.ArrayList<>();
            h.loop.addObserver(ex -> seen.add(ex.status() + " retries=" + ex.retries()));
            Backend first = oneRequestAnswered(h); // s0
            h.send(get("two"));
            Backend second = h.backend(1); // s1, by round robin
            assertTrue(second.received().startsWith("GET /two "));
            second.send(ok("2"));
            assertEquals("200:2", bodies(h.received()));
            h.send(get("three")); // s0 again, on its idle connection
            assertTrue(first.received().startsWith("GET /three "));
            h.tables.setRuntimeState(first.server().name(), RuntimeState.MAINT, "test");

            first.close(); // the server's keep-alive timeout fired just as the request went out
            assertEquals(2, h.backends.size(), "no fresh connection to the server in maintenance");
            assertTrue(second.received().startsWith("GET /three "), "sent to the other server instead");
            second.send(ok("3"));
            assertEquals("200:3", bodies(h.received()));
            assertEquals(0, first.server().inFlight());
            assertEquals(1, h.stats.retries.sum(), "retries");
            assertEquals(1, first.server().stats().redispatched.sum(), "redispatched");
            assertEquals(List.of("200 retries=0", "200 retries=0", "200 retries=1"), seen);
        }
    }

    /**
     * ... and with no other server to go to, it is answered 503 and sent nowhere again: no retry is counted (proxy or
     * server), as none was made.
     */
    @Test
    void aStaleKeepAliveOfTheOnlyServerPutInMaintenanceIsNoRetry() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = secondRequestOnAReusedConnection(h);
            h.tables.setRuntimeState(b.server().name(), RuntimeState.MAINT, "test");
            b.close();
            assertEquals(1, h.backends.size());
            assertTrue(h.received().startsWith("HTTP/1.1 503 "));
            assertEquals(0, h.stats.retries.sum(), "no request was sent again");
            assertEquals(0, b.server().stats().retried.sum());
            assertEquals(0, b.server().stats().redispatched.sum());
            assertEquals(1, b.server().poolState().stats().noServer.sum(), "a 503 of the pool's: no server to take it");
        }
    }

    /**
     * A request no server of its pool can take (its only server is in maintenance) is answered 503 by the proxy, which
     * counts it as the pool's {@code no_server}: no server failed it, so no server's counters say it. One answered
     * 503 because the servers it tried refused the connection is those servers' connect errors instead.
     */
    @Test
    void aRequestNoServerCanTakeCountsForItsPool() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            io.grapevine.proxy.table.Server s0 = h.tables.current().servers().get(0);
            h.tables.setRuntimeState(s0.name(), RuntimeState.MAINT, "test");
            h.send(get("x"));
            assertTrue(h.received().startsWith("HTTP/1.1 503 "));
            assertEquals(0, h.backends.size());
            assertEquals(1, s0.poolState().stats().noServer.sum());
        }
    }

    /**
     * The last server of a routed pool leaves the table (its member crashed, gossip took it out): the route still
     * names the pool, whose requests get a 503 the pool counts in its {@code no_server}, as HAProxy charges the 503s of
     * a backend without servers to that backend; the access log names the pool.
     */
    @Test
    void aRequestForARoutedPoolWhoseServersAreAllGoneCountsForThatPool() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(ROUTED)) {
            io.grapevine.proxy.table.PoolState api = h.tables.current().pools().get("api").state();
            h.tables.publish(h.tables.current().servers().stream().map(s -> s.spec())
                    .filter(s -> !s.pool().equals("api")).toList(), "gossip: api gone");
            h.send("GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 503 "), h.received());
            assertEquals(0, h.backends.size());
            assertEquals(1, api.stats().noServer.sum(), "the pool's 503");
        }
    }

    /**
     * Pool {@code default} before any server of it came (a proxy whose backends all come from gossip, at its start) is
     * where every request goes, as a route names its pool: its 503s are its {@code no_server}; and so for a request
     * no route matches, while no route matches every request.
     */
    @Test
    void aRequestForTheDefaultPoolWithoutServersCountsForIt() throws Exception {
        for (String config : List.of("{ \"backend_servers\": [] }", ROUTED.replace(
                "{ \"name\": \"d\", \"ip\": \"127.0.0.1\", \"port\": 8001 },", ""))) {
            try (ForwardingHarness h = new ForwardingHarness(config)) {
                h.send("GET / HTTP/1.1\r\nHost: other.example.com\r\n\r\n");
                assertTrue(h.received().startsWith("HTTP/1.1 503 "), h.received());
                BackendTable.AbsentPool pool = h.tables.current().absentPool("default", System.nanoTime());
                assertNotNull(pool, "shown while requests go to it: " + config);
                assertEquals(1, pool.state().stats().noServer.sum(), "the pool's 503");
            }
        }
    }

    /**
     * A request that could not be sent again once it went out takes no idle connection older than 2 s (the one a
     * backend's keep-alive timeout closes just as the request arrives, a 502 then): a PUT with a body as much as a
     * POST, though PUT is idempotent, since its body bytes are not kept once sent.
     */
    @Test
    void aRequestWithABodyTakesNoConnectionIdleLongerThanTwoSecondsWhateverItsMethod() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend old = oneRequestAnswered(h);
            pass(2_100);
            h.send("PUT /doc HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\n\r\nabc");
            assertEquals(2, h.backends.size(), "the PUT went on a fresh connection, not on the one idle for 2 s");
            assertEquals("", old.received());
            assertTrue(old.channel().isActive(), "the old connection stays for a request that can be sent again");
            Backend fresh = h.backend(1);
            assertTrue(fresh.received().startsWith("PUT /doc "));
            fresh.send(ok("2"));
            assertEquals("200:2", bodies(h.received()));
        }
    }

    /** max_idle_per_server bounds a server's idle list: a connection whose response ends while it is full closes at once. */
    @Test
    void aConnectionThatFindsItsServersIdleListFullClosesAtOnce() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, "\"limits\": {\"max_idle_per_server\": 1}"))) {
            h.send(get("a") + get("b")); // safe requests side by side: two connections to the one server
            assertEquals(2, h.backends.size());
            h.backend(0).send(ok("a"));
            h.backend(1).send(ok("b"));
            assertEquals("200:a,200:b", bodies(h.received()));
            assertTrue(h.backend(0).channel().isActive(), "kept idle");
            assertFalse(h.backend(1).channel().isActive(), "the list was full: closed, not kept until upstream_idle_ms");
            assertEquals(1, h.loop.idleConnections());
        }
    }

    /**
     * A backend connection that began with a PROXY protocol header speaks for its client alone: once idle, it closes
     * with that client's connection instead of waiting out upstream_idle_ms.
     */
    @Test
    void aClientsOwnIdleBackendConnectionClosesWithTheClient() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, "\"send_proxy_protocol\": \"v1\""),
                (pipeline, loop) -> {
                    pipeline.channel().attr(ClientAddress.ANNOUNCED).set(new java.net.InetSocketAddress("198.51.100.7", 40000));
                    pipeline.channel().attr(ClientAddress.ANNOUNCED_DESTINATION)
                            .set(new java.net.InetSocketAddress("192.0.2.10", 443));
                    pipeline.addLast(new Http1Connection(loop));
                })) {
            h.send(get("x"));
            Backend b = h.backend(0);
            String sent = b.received();
            assertTrue(sent.startsWith("PROXY TCP4 198.51.100.7 192.0.2.10 40000 443\r\nGET /x "), sent);
            b.send(ok("1"));
            assertEquals("200:1", bodies(h.received()));
            assertEquals(1, h.loop.idleConnections(), "kept for this client's next request");
            h.client.close();
            h.runPending();
            assertFalse(b.channel().isActive(), "closed with its client");
            assertEquals(0, h.loop.idleConnections());
        }
    }

    @Test
    void aReusedConnectionClosedAfterPartOfTheResponseIsAFailureNotAStaleKeepAlive() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = secondRequestOnAReusedConnection(h);
            assertTrue(b.received().startsWith("GET /two "));
            b.send("HTTP/1.1 200 O"); // the server began to answer: it had the request
            b.close();
            assertEquals(1, h.backends.size(), "not sent to the same server again as if nothing had happened");
            assertTrue(h.received().startsWith("HTTP/1.1 502 "), "the only server failed");
            assertEquals(1, b.server().stats().responseErrors.sum());
        }
    }

    /**
     * A failure that may be retried, on a server with no other left to try, makes no retry: none is counted (the
     * client's request went to one server), and none is taken from the retry budget, which is kept for retries. Here
     * the budget holds 10 retries (retry_budget_min_per_s 1, nothing deposited): ten failures with nowhere else to go
     * leave it whole, so a retry can be made once a second server takes requests.
     */
    @Test
    void aFailureWithNoOtherServerToTryIsNoRetryAndCostsTheBudgetNothing() throws Exception {
        String conf = """
                { "passive_health": { "max_fails": 0 },
                  "limits": { "retry_budget_percent": 0, "retry_budget_min_per_s": 1 },
                  "backend_servers": [ { "name": "s0", "ip": "127.0.0.1", "port": 8001 },
                                       { "name": "s1", "ip": "127.0.0.1", "port": 8002, "weight": 0 } ] }""";
        try (ForwardingHarness h = new ForwardingHarness(conf)) {
            for (int i = 0; i < 10; i++) {
                h.dials(Dial.REFUSE);
                h.send(get("x"));
                assertTrue(h.received().startsWith("HTTP/1.1 503 "), "s1 takes no requests: nowhere to retry");
            }
            assertEquals(0, h.stats.retries.sum(), "no request was sent again");
            assertEquals(0, h.stats.retriesDenied.sum());
            h.tables.setRuntimeWeight("s1", 1, "test");
            h.dials(Dial.REFUSE, Dial.CONNECT);
            h.send(get("y"));
            assertEquals(1, h.backends.size(), "retried on the other server, not denied by a spent budget ("
                    + h.stats.retriesDenied.sum() + " retries denied)");
            Backend b = h.backend(0);
            assertTrue(b.received().startsWith("GET /y "));
            b.send(ok("retried"));
            assertEquals("200:retried", bodies(h.received()));
            assertEquals(1, h.stats.retries.sum());
        }
    }

    /** RFC 9110 section 6.6.1: the proxy is the origin of its own answers, and dates them (IMF-fixdate, 5.6.7). */
    @Test
    void theProxysOwnAnswersCarryADate() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, "")).dials(Dial.REFUSE, Dial.REFUSE)) {
            h.send(get("x"));
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 503 "), answer);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\r\nDate: ([^\r]+)\r\n").matcher(answer);
            assertTrue(m.find(), answer);
            assertTrue(m.group(1).matches("(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d\\d [A-Z][a-z]{2} \\d{4} \\d\\d:\\d\\d:\\d\\d GMT"),
                    m.group(1));
            java.time.Instant date = java.time.ZonedDateTime.parse(m.group(1),
                    java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
            assertTrue(Math.abs(java.time.Duration.between(date, java.time.Instant.now()).toSeconds()) <= 5,
                    date + " is not now");
        }
    }

    @Test
    void whenEveryAttemptFailsTheClientGetsTheStatusOfTheLastFailure() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(3, "")).dials(Dial.REFUSE, Dial.REFUSE, Dial.REFUSE)) {
            h.send(get("x"));
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 503 "), answer);
            assertEquals(2, h.stats.retries.sum(), "limits.retries is 2 by default");
            assertEquals(1, h.stats.status503.sum());
            assertEquals(0, h.tables.current().servers().get(0).poolState().stats().noServer.sum(),
                    "servers refused it: their connect errors, not a 503 of the pool's");
        }
    }

    @Test
    void aResponseCutOffMidBodyClosesTheClientConnection() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send(get("x"));
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
            h.backend(0).close();
            assertTrue(h.received().endsWith("partial"));
            h.runPending();
            assertFalse(h.client.isActive(), "the client must learn of the cut by the close");
            assertEquals(1, h.stats.abortedResponses.sum());
        }
    }

    @Test
    void aPipelinedResponseThatFailsBeforeItsTurnBecomesA502InItsPlace() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, ""))) {
            h.send(get("a") + get("b"));
            h.backend(1).send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
            h.backend(1).close();
            h.backend(0).send(ok("first"));
            assertEquals("200:first,502:The backend server failed or sent an invalid response.\n", bodies(h.received()));
            assertTrue(h.client.isActive(), "nothing of the failed response reached the client: keep the connection");
        }
    }

    // ---------------------------------------------------------------- backpressure

    @Test
    void aBackendThatCannotTakeMoreBodyPausesReadingFromTheClient() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("PUT /up HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\n12345");
            Backend b = h.backend(0);
            assertTrue(h.client.config().isAutoRead());
            h.writable(b.channel(), false);
            h.send("67");
            assertFalse(h.client.config().isAutoRead(), "the client must wait while the backend is full");
            h.writable(b.channel(), true);
            assertTrue(h.client.config().isAutoRead(), "reading resumes when the backend drains");
            h.send("890");
            assertTrue(b.received().endsWith("\r\n\r\n1234567890"));
            b.send(ok("stored"));
            assertEquals("200:stored", bodies(h.received()));
        }
    }

    /** Spins until {@code millis} have passed (the deadline sweep reads {@link System#nanoTime()}). */
    private static void pass(long millis) {
        long until = System.nanoTime() + millis * 1_000_000L;
        while (System.nanoTime() < until) {
            Thread.onSpinWait();
        }
    }

    /**
     * A backend that waits for the rest of a body the client is slow to send is not the one at fault: server_ms does
     * not run out on it (no 504, no failure counted against it, which would eject it); the client's own stall timeout
     * (client_idle_ms) is what ends a body that does not come. Once the request is all sent, server_ms applies.
     */
    @Test
    void aClientSlowToSendItsBodyIsNotAServerTimeout() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, "\"timeouts\": {\"server_ms\": 30}"))) {
            h.send("PUT /up HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\n12345");
            Backend b = h.backend(0);
            assertTrue(b.received().endsWith("\r\n\r\n12345"));
            pass(60);
            h.loop.sweep();
            h.runPending();
            assertEquals("", h.received(), "no 504 while the backend waits for the body");
            assertEquals(0, b.server().stats().timeouts.sum());
            assertFalse(b.server().isFailing(), "nothing counted against the server");
            h.send("67890");
            assertTrue(b.received().endsWith("67890"));
            pass(60);
            h.loop.sweep();
            h.runPending();
            assertTrue(h.received().startsWith("HTTP/1.1 504 "), "the request is all sent: the server is late now");
            assertEquals(1, b.server().stats().timeouts.sum());
        }
    }

    @Test
    void aClientThatCannotTakeMorePausesReadingFromItsBackend() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("big"));
            Backend b = h.backend(0);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
            h.writable(h.client, false);
            assertFalse(b.isReading(), "the backend must wait while the client is full");
            h.writable(h.client, true);
            assertTrue(b.isReading());
            b.send("67890");
            assertEquals("200:1234567890", bodies(h.received()));
        }
    }

    /**
     * A read of a download takes the client connection over its high-water mark for a moment: the part is flushed at
     * once, and the backend goes on being read when the socket took it, with no pause and resume per read.
     */
    @Test
    void aClientThatKeepsUpIsNotWaitedForAtEachRead() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.client.config().setWriteBufferWaterMark(RelayBuffers.WATER_MARK);
            h.send(get("big"));
            Backend b = h.backend(0);
            String part = "x".repeat(RelayBuffers.MAX_READ);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: " + 3 * part.length() + "\r\n\r\n");
            for (int i = 0; i < 3; i++) {
                b.channel().pipeline().fireChannelRead(Unpooled.copiedBuffer(part, StandardCharsets.ISO_8859_1));
                assertTrue(h.client.isWritable(), "the part over the mark was flushed as it was written");
                assertTrue(b.isReading(), "the client took it: the backend's reads go on");
            }
            b.channel().pipeline().fireChannelReadComplete();
            assertEquals("200:" + part.repeat(3), bodies(h.received()));
        }
    }

    /** A part over the mark that the client's socket does not take holds the backend back until it drains. */
    @Test
    void aPartTheClientsSocketCannotTakePausesTheBackendAfterItsFlush() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.client.config().setWriteBufferWaterMark(RelayBuffers.WATER_MARK);
            h.send(get("big"));
            Backend b = h.backend(0);
            FullSocket socket = new FullSocket();
            h.client.pipeline().addFirst(socket);
            String part = "x".repeat(RelayBuffers.MAX_READ);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: " + 3 * part.length() + "\r\n\r\n");
            assertTrue(b.isReading(), "a head under the mark waits for nothing");
            for (int i = 0; i < 2; i++) {
                b.channel().pipeline().fireChannelRead(Unpooled.copiedBuffer(part, StandardCharsets.ISO_8859_1));
                assertFalse(h.client.isWritable());
                assertFalse(b.isReading(), "the socket kept the part: the backend must wait");
                socket.drain();
                assertTrue(b.isReading(), "the socket took it: the backend is read again");
            }
            b.send(part);
            socket.drain();
            assertEquals("200:" + part.repeat(3), bodies(h.received()));
        }
    }

    /**
     * A client that takes nothing is stalled from the moment its socket keeps what it was sent; aborted (as memory
     * pressure does), it is closed at once with what waits to be written, its response cut off, and only once.
     */
    @Test
    void aStalledClientIsAbortedAtOnceAndOnlyOnce() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.client.config().setWriteBufferWaterMark(RelayBuffers.WATER_MARK);
            h.send(get("big"));
            Backend b = h.backend(0);
            h.client.pipeline().addFirst(new FullSocket());
            Http1Connection connection = h.client.pipeline().get(Http1Connection.class);
            String part = "x".repeat(RelayBuffers.MAX_READ);
            b.send("HTTP/1.1 200 OK\r\nContent-Length: " + 2 * part.length() + "\r\n\r\n");
            assertEquals(0, connection.stalledSinceNanos(), "nothing kept yet");
            b.channel().pipeline().fireChannelRead(Unpooled.copiedBuffer(part, StandardCharsets.ISO_8859_1));
            assertTrue(connection.stalledSinceNanos() != 0, "the socket kept the part");
            assertTrue(connection.abort());
            assertFalse(h.client.isOpen());
            assertFalse(connection.abort(), "closed already");
            h.runPending();
            assertFalse(b.channel().isOpen(), "the backend connection, mid-response, is closed with it");
            assertEquals(0, h.stats.abortedResponses.sum(), "cut off on the client's side: no backend failure");
        }
    }

    /** A client socket whose send buffer is full: flushes stop here until {@link #drain}. */
    private static final class FullSocket extends ChannelOutboundHandlerAdapter {
        private ChannelHandlerContext ctx;

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void flush(ChannelHandlerContext ctx) {
            // held: the bytes stay in the channel's outbound buffer, counted against its marks
        }

        void drain() {
            ctx.flush();
        }
    }

    // ---------------------------------------------------------------- close rules

    @Test
    void connectionCloseFromTheClientIsAnsweredThenTheConnectionCloses() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n");
            h.backend(0).send(ok("bye"));
            String answer = h.received();
            assertTrue(answer.contains("\r\nConnection: close\r\n"), answer);
            h.runPending();
            assertFalse(h.client.isActive());
        }
    }

    /**
     * A client that pipelines more requests than the line holds (max_pipeline_depth) and half-closes, as
     * {@code printf ... | nc} does, gets an answer to every request it sent, in order, then the connection closes:
     * the requests left in the input only for room in the line are no request cut off.
     */
    @Test
    void aClientThatHalfClosesBehindMorePipelinedRequestsThanTheLineHoldsGetsEveryAnswer() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, "\"limits\": {\"max_pipeline_depth\": 2}"))) {
            h.send(get("a") + get("b") + get("c") + get("d") + get("e"));
            h.client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            h.runPending();
            assertTrue(h.client.isActive(), "the requests sent before the FIN are answered");
            for (int answered = 0; answered < 5; answered++) {
                Backend b = h.backends.stream().filter(x -> x.channel().isActive()).filter(x -> {
                    String request = x.received();
                    if (request.isEmpty()) {
                        return false;
                    }
                    x.send(ok(request.substring(5, 6))); // "GET /a HTTP/1.1..."
                    return true;
                }).findFirst().orElse(null);
                assertTrue(b != null, "request " + answered + " reached no backend");
            }
            String answers = h.received();
            assertEquals("200:a,200:b,200:c,200:d,200:e", bodies(answers));
            assertTrue(answers.endsWith("\r\nConnection: close\r\n\r\ne"), "the last answer says so: " + answers);
            h.runPending();
            assertFalse(h.client.isActive(), "then the connection closes");
        }
    }

    /**
     * After the end of keep-alive a connection reads one more request; the requests pipelined behind it are not read,
     * and are no request cut off when the client then half-closes: the one read is answered, with Connection: close.
     */
    @Test
    void aHalfCloseBehindRequestsADrainingConnectionWillNotReadLetsTheOneReadBeAnswered() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            ((Http1Connection) h.client.pipeline().last()).closeAfterNextResponse();
            h.send(get("last") + get("unread"));
            h.client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            h.runPending();
            assertTrue(h.client.isActive(), "the request read is answered");
            assertFalse(h.backend(0).received().contains("/unread"));
            h.backend(0).send(ok("answered"));
            String answer = h.received();
            assertTrue(answer.contains("\r\nConnection: close\r\n") && answer.endsWith("answered"), answer);
            h.runPending();
            assertFalse(h.client.isActive());
        }
    }

    private static final String EARLY_413 = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 10\r\n\r\nhello";

    /**
     * RFC 9112 section 9.5: a client that sees a response telling it the connection closes before it has sent its
     * whole body may cease sending and close its side. The response that has begun goes on to its end; the backend
     * connection, which never got the whole request, is not reused.
     */
    @Test
    void aClientThatHalfClosesInItsBodyAfterAnEarlyResponseGetsAllOfIt() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("PUT /up HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\n12345");
            Backend b = h.backend(0);
            b.send(EARLY_413);
            String head = h.received();
            assertTrue(head.contains("\r\nConnection: close\r\n") && head.endsWith("hello"), head);
            h.client.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            h.runPending();
            assertTrue(h.client.isActive(), "the response that has begun goes on");
            b.send("world");
            assertEquals("world", h.received());
            h.runPending();
            assertFalse(h.client.isActive(), "then the connection closes");
            assertFalse(b.channel().isActive(), "the backend never got the whole request: not reused");
            assertEquals(0, h.stats.abortedResponses.sum());
        }
    }

    /**
     * A client that stops sending its body once its response has begun is not answered 408 after client_idle_ms,
     * which could only cut that response off: the response goes on, and from then on the backend's silence is timed
     * (server_ms) as if the request had been sent.
     */
    @Test
    void aClientThatStopsSendingItsBodyAfterAnEarlyResponseGetsItWhileTheBackendIsTimed() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1,
                "\"timeouts\": {\"client_idle_ms\": 30, \"server_ms\": 200}"))) {
            h.send("PUT /up HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\n12345");
            Backend b = h.backend(0);
            b.send(EARLY_413);
            assertTrue(h.received().endsWith("hello"));
            pass(60);
            h.loop.sweep();
            h.runPending();
            assertTrue(h.client.isActive(), "no 408 cuts the response off");
            assertEquals(0, h.stats.clientTimeouts.sum());
            b.send("world");
            assertEquals("world", h.received());
            h.runPending();
            assertFalse(h.client.isActive(), "closed after the response");
        }
        try (ForwardingHarness h = new ForwardingHarness(config(1,
                "\"timeouts\": {\"client_idle_ms\": 30, \"server_ms\": 30}"))) {
            h.send("PUT /up HTTP/1.1\r\nHost: example\r\nContent-Length: 1000\r\n\r\n12345");
            Backend b = h.backend(0);
            b.send(EARLY_413);
            h.received();
            pass(60);
            h.loop.sweep();
            pass(60);
            h.loop.sweep();
            h.runPending();
            assertEquals(1, b.server().stats().timeouts.sum(), "a backend that stops once the body was given up is late");
            assertFalse(h.client.isActive(), "its response is cut off");
        }
    }

    @Test
    void aMalformedHeadIsAnswered400AfterTheRequestsBeforeItAndNothingOfItIsSent() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("ok") + "GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
            assertEquals(1, h.backends.size(), "only the valid request left the proxy");
            assertFalse(h.backend(0).received().contains("/bad"));
            h.backend(0).send(ok("fine"));
            String answer = h.received();
            assertTrue(bodies(answer).startsWith("200:fine,400:"), answer);
            assertTrue(answer.contains("Connection: close"));
            assertEquals(1, h.stats.badRequests.sum());
        }
    }

    @Test
    void aTlsClientHelloOnThePlainListenerIsAnswered400AtOnceNotAfterTheHeaderTimeout() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("\u0016\u0003\u0001\u0000\u00c8\u0001\u0000\u0000\u00c4\u0003\u0003"); // a ClientHello's start
            h.runPending();
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
            assertFalse(h.client.isActive(), "closed after the answer");
            assertEquals(0, h.backends.size());
        }
    }

    @Test
    void aBrokenChunkedBodyTruncatesTheBackendRequestAndAnswers400() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("POST /c HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
            Backend b = h.backend(0);
            assertTrue(b.received().endsWith("3\r\nabc\r\n"));
            h.send("zz\r\nsmuggled");
            assertFalse(b.channel().isActive(), "the backend connection is dropped before the body's end");
            assertFalse(b.received().contains("smuggled"));
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 400 "), answer);
            assertTrue(answer.contains("Connection: close"));
        }
    }

    @Test
    void aDrainAnswersWhatIsInFlightWithConnectionCloseThenCloses() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("slow"));
            ((Http1Connection) h.client.pipeline().last()).beginDrain();
            assertTrue(h.client.isActive(), "the request in flight is answered first");
            h.backend(0).send(ok("done"));
            String answer = h.received();
            assertTrue(answer.contains("Connection: close"), answer);
            h.runPending();
            assertFalse(h.client.isActive());
        }
    }

    @Test
    void afterTheEndOfKeepAliveAnIdleConnectionServesOneMoreRequestWithConnectionCloseThenCloses() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(get("first"));
            h.backend(0).send(ok("one"));
            assertFalse(h.received().contains("Connection: close"));
            ((Http1Connection) h.client.pipeline().last()).closeAfterNextResponse();
            h.runPending();
            assertTrue(h.client.isActive(), "an idle connection is not closed under a request the client may be sending");
            h.send(get("last"));
            h.backend(0).send(ok("two"));
            String answer = h.received();
            assertTrue(answer.contains("Connection: close") && answer.endsWith("two"), answer);
            h.runPending();
            assertFalse(h.client.isActive());
        }
    }

    @Test
    void anIdleConnectionIsClosedAtOnceOnDrain() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            ((Http1Connection) h.client.pipeline().last()).beginDrain();
            h.runPending();
            assertFalse(h.client.isActive());
        }
    }

    /**
     * A connection whose next request is arriving when the drain begins is not idle: that request is answered, with
     * Connection: close, rather than cut off without an answer its client could tell from a failure.
     */
    @Test
    void aRequestWhoseHeadIsArrivingWhenTheDrainBeginsIsAnsweredThenTheConnectionCloses() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("GET /late HTTP/1.1\r\nHo");
            ((Http1Connection) h.client.pipeline().last()).beginDrain();
            h.runPending();
            assertTrue(h.client.isActive(), "a request is on its way");
            h.send("st: example\r\n\r\n");
            assertTrue(h.backend(0).received().startsWith("GET /late HTTP/1.1\r\n"));
            h.backend(0).send(ok("answered"));
            String answer = h.received();
            assertTrue(answer.contains("\r\nConnection: close\r\n") && answer.endsWith("answered"), answer);
            h.runPending();
            assertFalse(h.client.isActive(), "closed after its answer");
        }
    }

    // ---------------------------------------------------------------- upgrades and tunnels

    private static final String UPGRADE = "GET /ws HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\n"
            + "Upgrade: websocket\r\n\r\n";
    private static final String SWITCHING = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\n\r\n";

    /** Sends an upgrade request, has the backend accept it, and returns the backend end of the tunnel. */
    private static Backend openTunnel(ForwardingHarness h) {
        h.send(UPGRADE);
        Backend b = h.backend(0);
        b.received();
        b.send(SWITCHING);
        h.received();
        return b;
    }

    @Test
    void anAcceptedUpgradeTunnelsBytesBothWaysUntilTheBackendCloses() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(UPGRADE + "EARLY");
            Backend b = h.backend(0);
            String request = b.received();
            assertTrue(request.endsWith("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"), request);
            assertFalse(h.client.config().isAutoRead(), "nothing is read until the upgrade is answered");
            b.send(SWITCHING + "HELLO");
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 101 Switching Protocols\r\n"), answer);
            assertTrue(answer.endsWith("Connection: upgrade\r\nUpgrade: websocket\r\n\r\nHELLO"), answer);
            assertEquals("EARLY", b.received(), "bytes sent before the 101 belong to the tunnel");
            assertTrue(h.client.config().isAutoRead());
            h.send("GET / HTTP/1.1\r\n\r\n"); // no longer HTTP: passed on untouched
            assertEquals("GET / HTTP/1.1\r\n\r\n", b.received());
            b.send("pong");
            assertEquals("pong", h.received());
            assertEquals(1, h.stats.tunnelsCurrent.get());
            b.close();
            h.runPending();
            assertFalse(h.client.isActive(), "the tunnel ends when the backend closes");
            assertEquals(0, h.stats.tunnelsCurrent.get());
            assertEquals(1, h.stats.tunnelsOpened.sum());
        }
    }

    /**
     * A tunnel may stay open for hours while gossip swaps the table many times: once it is open (no retry can follow),
     * its exchange holds neither the table it was routed on nor that generation's pool, whose balancers (a Maglev table
     * of up to 131,071 slots per loop) would otherwise stay in memory for every generation a live tunnel began under.
     * The tunnel goes on, and its end is counted as before.
     */
    @Test
    void anOpenTunnelHoldsNeitherTheTableNorThePoolItWasRoutedOn() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, "\"balance\": \"uri\""))) {
            Backend b = openTunnel(h);
            java.lang.ref.WeakReference<Object> table = new java.lang.ref.WeakReference<>(h.tables.current());
            java.lang.ref.WeakReference<Object> pool =
                    new java.lang.ref.WeakReference<>(h.tables.current().pools().get("default"));
            ProxyConfig reloaded = ConfigLoader.parse(config(2, "\"balance\": \"uri\""), "(test)");
            h.tables.publish(reloaded.servers(), reloaded.routes(), reloaded::policyOf, "test");
            for (int i = 0; i < 50 && (table.get() != null || pool.get() != null); i++) {
                System.gc();
                Thread.sleep(10);
            }
            assertEquals(null, table.get(), "the table the tunnel was routed on is still reachable");
            assertEquals(null, pool.get(), "the pool the tunnel was routed on is still reachable");
            h.send("ping");
            assertEquals("ping", b.received());
            b.send("pong");
            assertEquals("pong", h.received());
            b.close();
            h.runPending();
            assertFalse(h.client.isActive());
            assertEquals(0, h.stats.tunnelsCurrent.get());
            assertEquals(1, h.tables.current().servers().get(0).stats().tunnels.sum());
        }
    }

    @Test
    void aRefusedUpgradeLeavesAnOrdinaryConnectionAndTheNextRequestIsRead() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(UPGRADE + get("next"));
            Backend b = h.backend(0);
            assertFalse(b.received().contains("/next"), "the next request waits for the upgrade's answer");
            b.send(ok("no"));
            assertTrue(b.received().startsWith("GET /next "), "then it is read and sent");
            b.send(ok("yes"));
            assertEquals("200:no,200:yes", bodies(h.received()));
            assertTrue(h.client.isActive());
            assertEquals(0, h.stats.tunnelsOpened.sum());
        }
    }

    @Test
    void anH2cUpgradeIsNotOfferedSoABackendCannotOpenAnHttp2TunnelPastTheProxy() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send("GET / HTTP/1.1\r\nHost: example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                    + "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
            Backend b = h.backend(0);
            String request = b.received();
            assertFalse(request.contains("h2c") || request.contains("Upgrade") || request.contains("HTTP2-Settings"),
                    request);
            assertTrue(h.client.config().isAutoRead(), "an ordinary request: no wait for an upgrade's answer");
            b.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 502 "), "a 101 nobody asked for");
            assertEquals(0, h.stats.tunnelsOpened.sum());
        }
    }

    @Test
    void a101ToAProtocolTheClientDidNotOfferIs502AndOpensNoTunnel() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            h.send(UPGRADE);
            Backend b = h.backend(0);
            b.received();
            b.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
            assertTrue(h.received().startsWith("HTTP/1.1 502 "), "RFC 9110 section 7.8");
            assertEquals(0, h.stats.tunnelsOpened.sum());
        }
    }

    @Test
    void aClientThatClosesItsTunnelClosesTheBackendConnection() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = openTunnel(h);
            h.client.close();
            h.runPending();
            assertFalse(b.channel().isActive(), "the backend side of the tunnel is closed too");
            assertEquals(0, h.stats.tunnelsCurrent.get());
        }
    }

    @Test
    void aTunnelIdleForTunnelIdleMsIsClosed() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, "\"timeouts\": {\"tunnel_idle_ms\": 30}"))) {
            Backend b = openTunnel(h);
            h.loop.sweep();
            assertTrue(h.client.isActive(), "not idle yet");
            long until = System.nanoTime() + 60_000_000L;
            while (System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            h.loop.sweep();
            h.runPending();
            assertFalse(h.client.isActive(), "idle past tunnel_idle_ms");
        }
    }

    @Test
    void aDrainLeavesAnOpenTunnelAlone() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            Backend b = openTunnel(h);
            ((Http1Connection) h.client.pipeline().last()).beginDrain();
            h.runPending();
            assertTrue(h.client.isActive());
            h.send("still");
            assertEquals("still", b.received());
        }
    }

    // ---------------------------------------------------------------- observers

    @Test
    void everyExchangeIsObservedOnceWhenItEndsWithItsRequestStillReadable() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(2, "")).dials(Dial.REFUSE)) {
            java.util.List<String> seen = new java.util.ArrayList<>();
            h.loop.addObserver(ex -> seen.add(ex.status() + " " + ex.retries() + " "
                    + ex.request().upstreamHead.toString(java.nio.charset.StandardCharsets.US_ASCII).split("\r\n")[0]
                    + " " + (ex.responseBodyBytes()) + " " + (ex.endNanos() >= ex.startNanos())));
            h.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + get("b"));
            h.backend(0).send(ok("12345"));
            // GET /b went out once the POST before it had its answer (a request that is not safe runs alone)
            String b = requestsSent(h).stream().filter(r -> r.endsWith(":GET /b")).findFirst().orElseThrow();
            h.backend(connectionOf(b)).send("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            assertEquals(java.util.List.of("200 1 POST /a HTTP/1.1 5 true", "404 0 GET /b HTTP/1.1 0 true"), seen);
            h.received();
            h.send(get("c"));
            h.client.close();
            h.runPending();
            assertEquals(3, seen.size(), "an exchange abandoned by its client is observed too: " + seen);
            assertTrue(seen.get(2).startsWith("0 0 GET /c "), seen.get(2));
        }
    }

    @Test
    void anObserverThatThrowsDoesNotCostTheClientItsAnswer() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(config(1, ""))) {
            java.util.List<Integer> later = new java.util.ArrayList<>();
            h.loop.addObserver(ex -> {
                throw new IllegalStateException("observer bug");
            });
            h.loop.addObserver(ex -> later.add(ex.status()));
            h.send(get("a"));
            h.backend(0).send(ok("hello"));
            assertTrue(h.received().endsWith("hello"), "the response reaches the client");
            h.send(get("b"));
            h.backend(0).send(ok("again"));
            assertTrue(h.received().endsWith("again"), "and the connection keeps serving");
            assertEquals(java.util.List.of(200, 200), later, "observers after the failing one still hear of each");
        }
    }
}
