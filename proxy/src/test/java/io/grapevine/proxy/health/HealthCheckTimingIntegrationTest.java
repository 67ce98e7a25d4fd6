package io.grapevine.proxy.health;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.Closeable;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * When the active checks happen and what concludes them: the checks of many servers spread over the interval, each
 * server once an interval, and still so after the checks' loop ran late; a check's timeout concluding that check
 * only. The times are those at which the servers' listeners, threads of the test's JVM, accepted the checks.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts when checks arrive, to within 150 ms
@Timeout(60)
class HealthCheckTimingIntegrationTest {

    /**
     * The checks of many servers are spread over the interval, as HAProxy spreads them, rather than made all at once:
     * a proxy with hundreds of servers opened hundreds of connections in one burst every interval, from one loop and
     * onto hosts that often run several of those servers. Each server is still checked once an interval.
     */
    @Test
    void theChecksOfManyServersAreSpreadOverTheInterval() throws Exception {
        long intervalMillis = 600;
        HealthCheckIntegrationTest.checkingManyServers(10, intervalMillis, (loop, tables, accepted) -> {
            // The second and third rounds: each server keeps the place in the interval its first check was given, and
            // the first checks of a JVM that has made none yet (classes to load, code to compile) may run late.
            Await.until(Duration.ofSeconds(20), "every server checked three times",
                    () -> accepted.stream().allMatch(t -> t.size() >= 3));
            long spreadMillis = spreadMillis(accepted.stream().map(t -> t.get(1)).toList());
            assertTrue(spreadMillis >= intervalMillis / 2,
                    "the checks of " + accepted.size() + " servers came within " + spreadMillis + " ms of each other");
            for (List<Long> times : accepted) {
                long apartMillis = TimeUnit.NANOSECONDS.toMillis(times.get(2) - times.get(1));
                assertTrue(apartMillis >= intervalMillis * 3 / 4, "one server's checks " + apartMillis + " ms apart");
            }
        });
    }

    /**
     * The spread outlives a loop that ran late by more than an interval (a long GC pause, a throttled container, a
     * suspended VM): each server keeps its own place in the interval. When every overdue server's cadence restarted
     * from the moment the loop came back, they were all due at that one moment, and from then on checked in one burst
     * every interval, for as long as the proxy ran. Here the loop is held for two and a half intervals; the checks
     * after the first round that follows are as spread as before.
     */
    @Test
    void theChecksStaySpreadAfterTheLoopRanLateByMoreThanAnInterval() throws Exception {
        long intervalMillis = 600;
        HealthCheckIntegrationTest.checkingManyServers(10, intervalMillis, (loop, tables, accepted) -> {
            long[] heldUntil = new long[1];
            loop.submit(() -> {
                try {
                    Thread.sleep(intervalMillis * 5 / 2); // every server's next check is overdue by an interval or more
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                heldUntil[0] = System.nanoTime();
            }).syncUninterruptibly();
            Await.until(Duration.ofSeconds(20), "every server checked twice after the loop came back",
                    () -> accepted.stream().allMatch(t -> t.stream().filter(at -> at - heldUntil[0] > 0).count() >= 2));
            // The first check after the hold is due at once for every server; the second shows the cadence.
            long spreadMillis = spreadMillis(accepted.stream()
                    .map(t -> t.stream().filter(at -> at - heldUntil[0] > 0).skip(1).findFirst().orElseThrow()).toList());
            assertTrue(spreadMillis >= intervalMillis / 2, "after the loop ran late, the checks of " + accepted.size()
                    + " servers came within " + spreadMillis + " ms of each other");
        });
    }

    /**
     * A check cut short by its timeout closes its connection; the close is heard on the loop a task after the check
     * concluded. When the loop ran late, the server's next check may have started by then, and the close must not
     * conclude that one: with {@code fall} 2, one check that timed out takes no server down.
     *
     * <p>The order is made, not hoped for: with a timeout shorter than the checker's tick (an interval of 5 s ticks
     * every 500 ms), the held check's deadline comes due before the tick that follows the check's start; the loop is
     * then held past the next check's due time. When it runs again, the deadline closes the held check, the tick
     * starts the next check, and only then is the close heard.
     */
    @Test
    void aCheckCutShortByItsTimeoutSaysNothingOfTheNext() throws Exception {
        AtomicInteger connections = new AtomicInteger();
        List<Closeable> held = new CopyOnWriteArrayList<>();
        long intervalMillis = 5000;
        long timeoutMillis = 300; // under the tick's 500 ms
        EventLoopGroup group = Transport.NIO.newGroup(1, "health-check-test");
        EventLoop loop = group.next();
        Runnable holdTheLoop = () -> {
            try {
                Thread.sleep(intervalMillis + 500); // past the first check's deadline and the next check's due time
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        HealthCheckIntegrationTest.accepting(listener, s -> {
            if (connections.incrementAndGet() == 1) {
                held.add(s); // the first check gets no answer: its timeout closes the connection
                loop.execute(holdTheLoop); // from here, at once: well before that timeout
                return;
            }
            try (s) {
                ScriptedBackend.readHead(s.getInputStream());
                s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
            }
        });
        HealthChecker checker = null;
        try {
            TableHolder tables = HealthCheckIntegrationTest.tableOf(listener.getLocalPort());
            Server server = tables.current().servers().get(0);
            checker = HealthCheckIntegrationTest.checking(
                    new HealthCheckConfig(true, "/health", intervalMillis, timeoutMillis, 1, 2, 1, 10_000), tables, loop);
            Await.until(Duration.ofSeconds(10), "the first check connects", () -> connections.get() >= 1);
            long heldAt = System.nanoTime();
            Await.until(Duration.ofSeconds(20), "a check concluded after the held one",
                    () -> server.stats().lastCheck() != null && server.stats().lastCheck().ok() || !server.isActiveUp(),
                    () -> String.valueOf(server.stats().lastCheck()));
            long heldFor = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - heldAt);
            assertTrue(server.isActiveUp(), "one failed check of fall 2 took the server down: "
                    + server.stats().lastCheck());
            assertEquals(1, server.stats().checksFailed.sum(), "only the held check failed: " + server.stats().lastCheck());
            assertEquals(2, connections.get(), "the held check and the next, after " + heldFor + " ms");
        } finally {
            held.add(listener);
            HealthCheckIntegrationTest.stopChecker(checker, group, held);
        }
    }

    /** From the first to the last of {@code times} ({@link System#nanoTime()}), in milliseconds. */
    private static long spreadMillis(List<Long> times) {
        List<Long> sorted = times.stream().sorted().toList();
        return TimeUnit.NANOSECONDS.toMillis(sorted.get(sorted.size() - 1) - sorted.get(0));
    }
}
