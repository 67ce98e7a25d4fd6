package io.grapevine.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.testing.AdminRequests;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.channel.EventLoopGroup;
import ch.qos.logback.classic.Level;
import io.netty.handler.codec.http.HttpMethod;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The admin listener's own HTTP handling, with endpoints of the test's making. */
class AdminServerTest {

    private final EventLoopGroup group = Transport.NIO.newGroup(1, "admin-test");

    @RegisterExtension
    final LogCapture logs = new LogCapture(AdminServer.class);

    @AfterEach
    void stop() {
        group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
    }

    /** A listener on loopback whose {@code /servers/*} answers what its wildcard matched and the path it was given. */
    private AdminServer echo(int maxConnections, long idleMillis) throws InterruptedException {
        AdminServer admin = AdminServer.start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO, null,
                maxConnections, idleMillis);
        admin.route(HttpMethod.GET, "/servers/*", r -> CompletableFuture.completedFuture(
                AdminResponse.text(200, r.params().get(0) + " at " + r.path())));
        return admin;
    }

    /**
     * RFC 3986 section 2.2: in a path, {@code +} is itself (only form-encoded queries read it as a space), so a
     * server named {@code web+api} is reached at {@code /servers/web+api}, as curl sends it.
     */
    @Test
    void aPlusInThePathIsAPlusNotASpace() throws Exception {
        try (AdminServer admin = echo(AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS)) {
            AdminRequests requests = new AdminRequests(admin.address());
            assertEquals("web+api at /servers/web+api", requests.send("GET", "/servers/web+api", null).body());
            assertEquals("web+api at /servers/web+api", requests.send("GET", "/servers/web%2Bapi", null).body());
            assertEquals("web api at /servers/web api", requests.send("GET", "/servers/web%20api", null).body());
        }
    }

    /**
     * Admin connections are bounded, so that clients that open connections and hold them (reads are open to whoever
     * reaches the listener) cannot take the process's memory and file descriptors from the traffic it serves: one
     * beyond the limit is closed at once, and one that waits for nothing and sends nothing is closed when idle. An
     * answer that takes longer than the idle time still reaches its client.
     */
    @Test
    void connectionsBeyondTheLimitAndIdleOnesAreClosed() throws Exception {
        try (AdminServer admin = echo(2, 500)) {
            admin.route(HttpMethod.GET, "/slow", r -> {
                CompletableFuture<AdminResponse> later = new CompletableFuture<>();
                group.schedule(() -> later.complete(AdminResponse.text(200, "late\n")), 1500, TimeUnit.MILLISECONDS);
                return later;
            });
            try (RawHttpClient slow = RawHttpClient.connect(admin.address());
                 RawHttpClient idle = RawHttpClient.connect(admin.address());
                 RawHttpClient third = RawHttpClient.connect(admin.address())) {
                assertTrue(third.closedWithin(1000), "the third connection is beyond the limit of 2");
                slow.timeout(5000).send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
                long start = System.nanoTime();
                assertTrue(idle.closedWithin(5000), "a connection idle for 500 ms is closed");
                assertTrue(System.nanoTime() - start > 300_000_000L, "not before it was idle");
                assertEquals("late\n", slow.read().bodyText(), "the answer pending for 1.5 s arrives");
            }
            try (RawHttpClient again = RawHttpClient.connect(admin.address())) {
                assertEquals(200, again.timeout(5000).send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").read().status(),
                        "closed connections make room for new ones");
            }
        }
    }

    /**
     * RFC 9112 section 9.3.2: the answers of pipelined requests go out in the order of the requests. A body larger than
     * the listener reads is answered 413 in its turn, after the answer of a request ahead of it that takes a while (a
     * reload), and the connection goes on; a client that waits for a 100 (Continue) gets its 413 in turn as well, and
     * the connection is closed, since it may send the body yet.
     */
    @Test
    void anOversizedBodyIsAnswered413InItsTurn() throws Exception {
        try (AdminServer admin = echo(AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS)) {
            admin.route(HttpMethod.GET, "/slow", r -> {
                CompletableFuture<AdminResponse> later = new CompletableFuture<>();
                group.schedule(() -> later.complete(AdminResponse.text(200, "late\n")), 500, TimeUnit.MILLISECONDS);
                return later;
            });
            admin.route(HttpMethod.PUT, "/servers/*/state",
                    r -> CompletableFuture.completedFuture(AdminResponse.text(200, "changed\n")));
            String tooLarge = "PUT /servers/web-1/state HTTP/1.1\r\nHost: x\r\nContent-Length: "
                    + (AdminServer.MAX_BODY + 1) + "\r\n";
            try (RawHttpClient client = RawHttpClient.connect(admin.address())) {
                client.timeout(5000).send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + tooLarge + "\r\n"
                        + "a".repeat(AdminServer.MAX_BODY + 1) + "GET /servers/web-2 HTTP/1.1\r\nHost: x\r\n\r\n");
                assertEquals("200 late\n", statusAndBody(client.read()), "the answer of the first request comes first");
                assertEquals(413, client.read().status());
                assertEquals("200 web-2 at /servers/web-2", statusAndBody(client.read()), "the connection goes on");
            }
            try (RawHttpClient client = RawHttpClient.connect(admin.address())) {
                client.timeout(5000).send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + tooLarge
                        + "Expect: 100-continue\r\n\r\n");
                assertEquals("200 late\n", statusAndBody(client.read()), "no 100 (Continue) and no 413 ahead of it");
                RawHttpClient.Response refused = client.read();
                assertEquals(413, refused.status());
                assertTrue(refused.connectionHas("close"), refused.toString());
                assertTrue(client.closedWithin(5000));
            }
        }
    }

    /**
     * RFC 9112 section 9.3.2, when an answer is made on another thread (a reload, on the membership thread): it is
     * written in its turn even when it is ready while the listener's loop is reading the next request, whose answer
     * is at hand at once.
     */
    @Test
    void anAnswerMadeOnAnotherThreadIsWrittenBeforeTheAnswersAfterIt() throws Exception {
        try (AdminServer admin = echo(AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS)) {
            CompletableFuture<AdminResponse> reload = new CompletableFuture<>();
            admin.route(HttpMethod.POST, "/reload", r -> reload);
            CountDownLatch reading = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            admin.route(HttpMethod.GET, "/hold", r -> {
                reading.countDown();
                try {
                    release.await(5, TimeUnit.SECONDS); // holds the loop within the read of this request
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return CompletableFuture.completedFuture(AdminResponse.text(200, "held\n"));
            });
            try (RawHttpClient client = RawHttpClient.connect(admin.address())) {
                client.timeout(5000).send("POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                        + "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
                assertTrue(reading.await(5, TimeUnit.SECONDS));
                reload.complete(AdminResponse.text(200, "reloaded\n")); // on this thread, while the loop reads
                release.countDown();
                assertEquals("200 reloaded\n", statusAndBody(client.read()));
                assertEquals("200 held\n", statusAndBody(client.read()));
            }
        }
    }

    /**
     * RFC 9112 section 9.6: a server that receives {@code Connection: close} closes the connection after its answer and
     * must not process any further request received on it. A write pipelined behind it is not made: its client never
     * learns of it, and would make it again on another connection.
     */
    @Test
    void nothingPipelinedAfterConnectionCloseIsActedOn() throws Exception {
        try (AdminServer admin = echo(AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS)) {
            AtomicInteger writes = new AtomicInteger();
            admin.route(HttpMethod.PUT, "/servers/*/state", r -> {
                writes.incrementAndGet();
                return CompletableFuture.completedFuture(AdminResponse.text(200, "changed\n"));
            });
            try (RawHttpClient client = RawHttpClient.connect(admin.address())) {
                client.timeout(5000).send("GET /servers/web-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        + "PUT /servers/web-2/state HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nmaint");
                RawHttpClient.Response answer = client.read();
                assertEquals("200 web-1 at /servers/web-1", statusAndBody(answer));
                assertTrue(answer.connectionHas("close"), answer.toString());
                assertTrue(client.closedWithin(5000));
            }
            assertEquals(0, writes.get(), "the PUT after Connection: close was acted on");
        }
    }

    /**
     * Reads are open to whoever reaches the listener: a client that pipelines requests and reads none of the answers
     * must not make the proxy hold them all (each a copy of /stats.json or /metrics, large for a large table, while
     * the request that asks for it takes 30 bytes). Requests are answered only a few ahead of what the client takes;
     * the rest wait, unread, and all are answered in order once it reads.
     */
    @Test
    void answersAreMadeNoFasterThanTheClientReadsThem() throws Exception {
        try (AdminServer admin = echo(AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS)) {
            AtomicInteger made = new AtomicInteger();
            byte[] big = new byte[4 << 20]; // beyond what socket buffers take, however tuned
            admin.route(HttpMethod.GET, "/big", r -> {
                made.incrementAndGet();
                return CompletableFuture.completedFuture(new AdminResponse(200, "text/plain", big));
            });
            int requests = 24;
            try (RawHttpClient client = RawHttpClient.connect(admin.address(), 16 * 1024)) {
                client.timeout(10_000).send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(requests));
                Thread.sleep(1000); // time to make every answer, were they made regardless of the reader
                assertTrue(made.get() <= 12, made.get() + " answers made for a client that read none");
                for (int i = 0; i < requests; i++) {
                    RawHttpClient.Response answer = client.read();
                    assertEquals(200, answer.status());
                    assertEquals(big.length, answer.body().length);
                }
                assertEquals(requests, made.get());
            }
        }
    }

    private static String statusAndBody(RawHttpClient.Response response) {
        return response.status() + " " + response.bodyText();
    }

    /**
     * RFC 9112 section 3.2: a request target is a path (origin-form) or an absolute URI (absolute-form, which a server
     * must accept too, section 3.2.2); any other is a bad request, answered 400 on a connection that goes on.
     */
    @Test
    void anAbsoluteTargetIsServedAndOneWithoutAPathIsABadRequest() throws Exception {
        try (AdminServer admin = echo(AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS);
             RawHttpClient client = RawHttpClient.connect(admin.address())) {
            client.timeout(5000);
            String authority = "127.0.0.1:" + admin.address().getPort();
            assertEquals("web-1 at /servers/web-1", client.send("GET http://" + authority + "/servers/web-1?x=1 HTTP/1.1"
                    + "\r\nHost: " + authority + "\r\n\r\n").read().bodyText());
            for (String target : new String[] {"?x=1", "servers/web-1", "*"}) {
                assertEquals(400, client.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n").read().status(), target);
            }
            assertEquals("web-1 at /servers/web-1", client.send("GET /servers/web-1 HTTP/1.1\r\nHost: x\r\n\r\n").read()
                    .bodyText(), "the connection goes on");
        }
    }

    /**
     * A refused write is logged with its target as the client sent it, percent-encoded: decoded, a {@code %0A} would
     * let whoever reaches the listener, token or not, write lines of its own making into the proxy's log.
     */
    @Test
    void aRefusedWriteIsLoggedWithItsPathAsSentNotDecoded() throws Exception {
        try (AdminServer admin = AdminServer.start(new InetSocketAddress("127.0.0.1", 0), group, Transport.NIO,
                AdminToken.of("the-token-0123456789"), AdminServer.MAX_CONNECTIONS, AdminServer.IDLE_MILLIS)) {
            admin.route(HttpMethod.PUT, "/servers/*/state",
                    r -> CompletableFuture.completedFuture(AdminResponse.text(200, "changed\n")));
            HttpResponse<String> refused = new AdminRequests(admin.address()).withToken("another-token-0123456789")
                    .put("/servers/web-1%0D%0A2026-12-04T21:00:00.000%2B00:00%20ERROR%20%5Bmain%5D%20forged/state", "maint");
            assertEquals(401, refused.statusCode(), refused.body());
            List<String> warned = logs.messages(Level.WARN);
            assertEquals(1, warned.size(), warned.toString());
            assertTrue(warned.get(0).startsWith("PUT /servers/web-1%0D%0A2026-12-04T21:00:00.000%2B00:00%20ERROR"),
                    warned.get(0));
        }
    }
}
