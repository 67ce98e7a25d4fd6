package io.grapevine.proxy.health;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.testing.Await;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * How the active checks of many servers are placed in time: spread over the interval, each server once an interval,
 * and still so after the checks' loop ran late. The times are those at which the servers' listeners, threads of the
 * test's JVM, accepted the checks.
 */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts when checks arrive, to within 150 ms
@Timeout(60)
class HealthCheckSpreadIntegrationTest {

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

    /** From the first to the last of {@code times} ({@link System#nanoTime()}), in milliseconds. */
    private static long spreadMillis(List<Long> times) {
        List<Long> sorted = times.stream().sorted().toList();
        return TimeUnit.NANOSECONDS.toMillis(sorted.get(sorted.size() - 1) - sorted.get(0));
    }
}
