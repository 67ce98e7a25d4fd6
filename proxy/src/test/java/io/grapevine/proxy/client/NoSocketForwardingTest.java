package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.client.ForwardingHarness.Dial;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.channel.epoll.Epoll;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A backend connect that fails because the proxy is out of file descriptors or local ports: the proxy lacks the
 * resource, not the server. The client gets a 503 at once, no other server is tried (its connect would need a socket
 * too), and no server is charged with it: no connect error, no passive-health failure, no ejection.
 */
class NoSocketForwardingTest {

    private static final String GET = "GET /x HTTP/1.1\r\nHost: example\r\n\r\n";

    @RegisterExtension
    final LogCapture log = new LogCapture(LoopContext.class);

    @BeforeAll
    static void nativeTransportLoaded() {
        Epoll.ensureAvailability(); // NativeIoException's message is the native strerror(3)
    }

    /**
     * No descriptor for the socket ({@code NO_SOCKET}), or no local port free for the connect ({@code NO_PORT},
     * {@code EADDRNOTAVAIL}). Before, the connect counted as refused: the request was retried on the other server,
     * whose connect failed too, and both servers were ejected (passive health's max_fails is 1 by default) for the
     * proxy's own shortage.
     */
    @ParameterizedTest
    @EnumSource(value = Dial.class, names = {"NO_SOCKET", "NO_PORT"})
    void aConnectWithNoSocketIsAnswered503AtOnceAndCountsAgainstNoServer(Dial shortage) throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(2, "")).dials(shortage, shortage)) {
            h.send(GET);
            String answer = h.received();
            assertTrue(answer.startsWith("HTTP/1.1 503 "), answer);
            assertEquals(0, h.stats.retries.sum(), "retried on another server");
            assertEquals(0, h.backends.size(), "another connection was dialled");
            assertEquals(1, h.stats.status503.sum());
            assertEquals(0, h.stats.status502.sum());
            assertEquals(1, h.stats.status503NoSocket.sum());
            assertNoServerCharged(h.tables.current().servers());
        }
    }

    /**
     * A shortage is logged once when it starts, however many connects fail in it, and once when a connect opens a
     * socket again (at once here: the harness's shortage needs no quiet time); the next shortage is another episode.
     */
    @Test
    void aShortageIsLoggedOnceWhenItStartsAndOnceWhenItEnds() throws Exception {
        try (ForwardingHarness h = new ForwardingHarness(ForwardingHarness.config(2, ""))) {
            for (int i = 0; i < 5; i++) {
                h.dials(Dial.NO_SOCKET);
                h.send(GET);
                String answer = h.received();
                assertTrue(answer.startsWith("HTTP/1.1 503 "), answer);
            }
            assertEquals(5, h.stats.status503NoSocket.sum());
            assertNoServerCharged(h.tables.current().servers());
            List<String> warnings = log.messages(Level.WARN);
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).startsWith("Backend connects cannot open sockets: the process is out of file"
                    + " descriptors (too many open files; open-files limit "), warnings.get(0));
            assertTrue(warnings.get(0).contains("answered 503") && warnings.get(0).contains("ulimit -n")
                    && warnings.get(0).contains("limits.max_connections"), warnings.get(0));
            assertEquals(List.of(), log.messages(Level.INFO));

            h.send(GET);
            h.backend(0).send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            assertTrue(h.received().startsWith("HTTP/1.1 200 "));
            List<String> infos = log.messages(Level.INFO);
            assertEquals(1, infos.size(), infos.toString());
            assertTrue(infos.get(0).startsWith("Backend connects open sockets again"), infos.get(0));

            h.dials(Dial.NO_SOCKET, Dial.NO_SOCKET);
            h.send(GET.replace("/x", "/y")); // the idle connection of the first server serves one of these
            h.send(GET.replace("/x", "/z"));
            assertEquals(2, log.messages(Level.WARN).size(), log.toString());
        }
    }

    private static void assertNoServerCharged(List<Server> servers) {
        long now = System.nanoTime();
        for (Server s : servers) {
            assertFalse(s.isFailing(), s + " has a failure streak");
            assertFalse(s.isEjected(now), s + " is ejected");
            assertEquals(0, s.stats().ejections.sum(), s + " was ejected");
            assertEquals(0, s.stats().connectErrors.sum(), s + " has connect errors");
            assertEquals(0, s.stats().connectionsOpened.sum(), s + " has a connection opened");
        }
    }
}
