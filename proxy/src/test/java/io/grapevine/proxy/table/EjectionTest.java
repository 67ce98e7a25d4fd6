package io.grapevine.proxy.table;

import static io.grapevine.proxy.table.TableHolderTest.spec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import io.grapevine.proxy.testing.ChildProcess;
import io.grapevine.proxy.testing.LogCapture;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Passive ejection: how long, how often, how many servers of a pool; the rules, then servers of a table. */
class EjectionTest {

    private static final long BASE = TimeUnit.SECONDS.toNanos(10);
    private static final long CAP = TimeUnit.SECONDS.toNanos(300);
    /** One failure ejects for 10 s; at most 50 % of a pool. */
    private static final HealthCheckConfig HALF = passive(10_000, 300_000, 50);

    @RegisterExtension
    final LogCapture log = new LogCapture(Server.class);

    /** Passive settings: one failure ejects for {@code baseMs}, at most {@code capMs}, {@code percent} of a pool. */
    private static HealthCheckConfig passive(long baseMs, long capMs, int percent) {
        return new HealthCheckConfig(false, null, null, 2000, 1000, 2, 3, 1, baseMs, percent, capMs);
    }

    // ---------------------------------------------------------------- the arithmetic

    @Test
    void eachEjectionInARowLastsTheBaseTimeMore() {
        assertEquals(BASE, Ejection.durationNanos(1, BASE, CAP));
        assertEquals(2 * BASE, Ejection.durationNanos(2, BASE, CAP));
        assertEquals(7 * BASE, Ejection.durationNanos(7, BASE, CAP));
    }

    @Test
    void theDurationIsCappedButNeverBelowTheBase() {
        assertEquals(CAP, Ejection.durationNanos(30, BASE, CAP));
        assertEquals(CAP, Ejection.durationNanos(Integer.MAX_VALUE, BASE, CAP), "no overflow");
        assertEquals(BASE, Ejection.durationNanos(3, BASE, BASE / 2), "a cap below the base is the base");
    }

    @Test
    void theCountDecaysByOnePerBaseTimeServed() {
        assertEquals(3, Ejection.decayedCount(3, BASE - 1, BASE));
        assertEquals(2, Ejection.decayedCount(3, BASE, BASE));
        assertEquals(1, Ejection.decayedCount(3, 2 * BASE + BASE / 2, BASE));
        assertEquals(0, Ejection.decayedCount(3, 100 * BASE, BASE), "never below 0");
        assertEquals(3, Ejection.decayedCount(3, -5, BASE), "not back yet: no decay");
    }

    @Test
    void maxEjectedPercentCountsTheEjectionAboutToBeMade() {
        assertTrue(Ejection.allowed(0, 4, 50));
        assertTrue(Ejection.allowed(1, 4, 50));
        assertFalse(Ejection.allowed(2, 4, 50), "a third of four would be 75 %");
        assertTrue(Ejection.allowed(2, 10, 30));
        assertFalse(Ejection.allowed(3, 10, 30));
        assertTrue(Ejection.allowed(3, 4, 100));
        assertFalse(Ejection.allowed(4, 4, 100), "nothing left to eject");
    }

    @Test
    void oneServerOfAPoolOfTwoOrMoreMayAlwaysBeEjectedButNotTheOnlyOne() {
        assertTrue(Ejection.allowed(0, 2, 10), "10 % of two rounds to nobody; one may go all the same");
        assertTrue(Ejection.allowed(0, 20, 1));
        assertFalse(Ejection.allowed(1, 20, 1), "but only one");
        assertFalse(Ejection.allowed(0, 1, 50), "a pool's only server stays: there is nowhere else to go");
        assertTrue(Ejection.allowed(0, 1, 100), "unless 100 % are allowed");
        assertFalse(Ejection.allowed(0, 4, 0), "0 turns ejection off");
    }

    // ---------------------------------------------------------------- servers of a table

    /**
     * The passive health line of docs/operations.md ("Logs worth knowing") is the one an ejection logs: in it,
     * {@code NAME} and {@code N} stand for a word and a number, {@code (addr)} and {@code ...} for any text.
     */
    @Test
    void anEjectionLogsTheLineOperationsMdDescribes() throws Exception {
        String doc = Files.readString(ChildProcess.repoRoot().resolve("docs/operations.md"));
        Matcher bullet = Pattern.compile("(?m)^- `(server NAME [^`]*)`: passive health\\.$").matcher(doc);
        assertTrue(bullet.find(), "no passive health line in docs/operations.md");
        String regex = Pattern.quote(bullet.group(1)).replace("NAME", "\\E\\S+\\Q")
                .replace("(addr)", "\\E\\(.+?\\)\\Q").replace("...", "\\E.*\\Q")
                .replaceAll("\\b(N|[0-9]+)\\b", "\\\\E[0-9]+\\\\Q");
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        Server s = tables.publish(List.of(spec(1), spec(2)), "test").servers().get(0);
        assertNotNull(s.recordFailure(System.nanoTime(), passive(10_000, 300_000, 50), "CONNECT_REFUSED: refused"));
        List<String> lines = log.messages();
        assertTrue(lines.stream().anyMatch(l -> l.matches(regex)), "docs/operations.md says \"" + bullet.group(1)
                + "\", the proxy logs " + lines);
    }

    @Test
    void repeatedEjectionsOfAServerGrowAndAreLoggedWithTheirCountAndDuration() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        BackendTable t = tables.publish(List.of(spec(1), spec(2)), "test");
        Server s = t.servers().get(0);
        HealthCheckConfig p = passive(10_000, 300_000, 50);
        long now = System.nanoTime();
        Ejection first = s.recordFailure(now, p, "connect refused");
        assertNotNull(first);
        assertEquals(1, first.count());
        assertEquals(BASE, first.durationNanos());
        assertTrue(s.isEjected(now + BASE - 1));
        assertFalse(s.isAvailable(now + BASE - 1));
        assertNull(s.recordFailure(now + 1, p, "late"), "a failure of a request sent before the ejection adds nothing");

        long back = now + BASE;
        s.poolState().ejectionOver(first);
        assertTrue(s.isAvailable(back));
        Ejection second = s.recordFailure(back + 1, p, "connect refused");
        assertEquals(2, second.count(), "failing again at once: the second in a row");
        assertEquals(2 * BASE, second.durationNanos());
        s.poolState().ejectionOver(second);
        Ejection third = s.recordFailure(second.untilNanos() + 1, p, "connect refused");
        assertEquals(3 * BASE, third.durationNanos());
        assertEquals(3, s.ejectionCount());
        assertEquals(3, s.stats().ejections.sum());

        List<String> lines = log.messages();
        assertTrue(lines.stream().anyMatch(l -> l.contains("ejected for 10000 ms, ejection 1 in a row")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("ejected for 20000 ms, ejection 2 in a row")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("ejected for 30000 ms, ejection 3 in a row")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("back in service after ejection 1 in a row (10000 ms)")),
                lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.contains("back in service after ejection 2 in a row (20000 ms)")),
                lines.toString());
    }

    @Test
    void aServerThatBehavesAfterItsReturnIsEjectedForLessNextTime() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        Server s = tables.publish(List.of(spec(1), spec(2)), "test").servers().get(0);
        HealthCheckConfig p = passive(10_000, 300_000, 50);
        long now = System.nanoTime();
        Ejection e = null;
        for (int i = 0; i < 4; i++) {
            e = s.recordFailure(e == null ? now : e.untilNanos(), p, "reset");
        }
        assertEquals(4 * BASE, e.durationNanos());
        Ejection later = s.recordFailure(e.untilNanos() + 2 * BASE + 1, p, "reset");
        assertEquals(3, later.count(), "two base times served take two off, then one more ejection");
        Ejection muchLater = s.recordFailure(later.untilNanos() + 50 * BASE, p, "reset");
        assertEquals(1, muchLater.count(), "forgotten: a first ejection again");
    }

    /**
     * The count stops growing once an ejection lasts max_ejection_ms, as Envoy's ejection time multiplier does: what
     * the server must serve to be forgiven is then bounded too. When it grew with every ejection, a server that had
     * been failing for hours (one more ejection every max_ejection_ms) needed as many base times of good service as
     * it had ejections, and any failure meanwhile took it out for max_ejection_ms again. Here the cap is three base
     * times: after ten ejections in a row and three base times served, the next is a first one again.
     */
    @Test
    void theCountStopsGrowingOnceTheEjectionsLastTheirMaximum() {
        Server s = poolOfTwo().get(0);
        HealthCheckConfig p = passive(10_000, 30_000, 50);
        Ejection e = null;
        for (int i = 0; i < 10; i++) {
            e = s.recordFailure(e == null ? System.nanoTime() : e.untilNanos(), p, "reset");
            assertNotNull(e);
        }
        assertEquals(3 * BASE, e.durationNanos());
        assertEquals(3, s.ejectionCount(), "no higher than the count whose ejection lasts max_ejection_ms");
        Ejection next = s.recordFailure(e.untilNanos() + 3 * BASE, p, "reset");
        assertEquals(1, next.count(), "three base times served forgive three ejections: a first one again");
        assertEquals(BASE, next.durationNanos());
    }

    @Test
    void noMoreThanMaxEjectedPercentOfAPoolAreEjectedAndThePreventionIsLoggedOnce() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        List<Server> four = tables.publish(List.of(spec(1), spec(2), spec(3), spec(4)), "test").servers();
        HealthCheckConfig p = passive(10_000, 300_000, 50);
        long now = System.nanoTime();
        int ejected = 0;
        for (int round = 0; round < 3; round++) {
            for (Server s : four) {
                if (s.recordFailure(now, p, "refused") != null) {
                    ejected++;
                }
            }
        }
        assertEquals(2, ejected);
        assertEquals(2, four.stream().filter(s -> s.isAvailable(now)).count(), "the other two still take requests");
        assertEquals(6, four.get(0).poolState().stats().ejectionsPrevented.sum(), "two servers kept in, three rounds");
        assertEquals(2, log.messages().stream().filter(l -> l.contains("not ejected")).count(),
                "one line per server kept in, not one per failure: " + log.messages());

        Server kept = four.get(2);
        assertFalse(kept.isEjected(now));
        assertNotNull(kept.recordFailure(now + BASE, p, "refused"), "the first two are back: another may go");
    }

    /** The two servers of a pool whose max_ejected_percent is 50: one may be ejected, not both. */
    private static List<Server> poolOfTwo() {
        return new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT).publish(List.of(spec(1), spec(2)), "test")
                .servers();
    }

    @Test
    void aServerKeptInIsLoggedAgainWhenItFailsAfterAnsweringAgain() {
        List<Server> two = poolOfTwo();
        long now = System.nanoTime();
        assertNotNull(two.get(0).recordFailure(now, HALF, "refused"));
        Server kept = two.get(1);
        assertNull(kept.recordFailure(now, HALF, "refused"));
        assertNull(kept.recordFailure(now, HALF, "refused"));
        assertEquals(1, log.messages().stream().filter(l -> l.contains("not ejected")).count(), "once per streak");
        kept.recordSuccess(); // it answers again
        assertNull(kept.recordFailure(now, HALF, "refused"));
        assertEquals(2, log.messages().stream().filter(l -> l.contains("not ejected")).count(),
                "a new streak of failures is logged again: " + log.messages());
    }

    @Test
    void aServerOtherProxiesFoundFailingCountsAsEjectedForMaxEjectedPercent() {
        List<Server> two = poolOfTwo();
        long now = System.nanoTime();
        two.get(0).setPeerDownUntil(now + BASE); // another proxy ejected it, and said so
        assertNull(two.get(1).recordFailure(now, HALF, "refused"), "half of the pool is out already");
        assertTrue(two.get(1).isAvailable(now), "the last server of the pool still takes requests");
        assertTrue(log.messages().stream().anyMatch(l -> l.contains("1 of 2 servers of pool default are ejected")),
                log.messages().toString());
    }

    @Test
    void thePoolsAreCountedApart() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        List<Server> all = tables.publish(List.of(spec(1, 1, AdminState.UP, "a"),
                spec(2, 1, AdminState.UP, "a"),
                spec(3, 1, AdminState.UP, "b"),
                spec(4, 1, AdminState.UP, "b")), "test").servers();
        HealthCheckConfig p = passive(10_000, 300_000, 50);
        long now = System.nanoTime();
        assertNotNull(all.get(0).recordFailure(now, p, "x"));
        assertNull(all.get(1).recordFailure(now, p, "x"), "half of pool a is out");
        assertNotNull(all.get(2).recordFailure(now, p, "x"), "pool b has its own half");
    }

    @Test
    void aHealthCheckThatPassesEndsAnEjectionEarly() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        Server s = tables.publish(List.of(spec(1), spec(2)), "test").servers().get(0);
        long now = System.nanoTime();
        s.recordFailure(now, passive(60_000, 300_000, 50), "refused");
        assertTrue(s.isEjected(System.nanoTime()));
        s.clearPassiveDown();
        assertFalse(s.isEjected(System.nanoTime()));
        assertTrue(log.messages().stream().anyMatch(l -> l.contains("back in service before the end of ejection 1")),
                log.messages().toString());
    }

    /**
     * A crash, as the log tells it: the first failed request ejects the server for 10 s, its checks take it down a few
     * seconds later, and the ejection ends while the checks still fail. The server is not back in service then, and
     * the line of its ejection's end must not say it is: it says the server stays down, and why.
     */
    @Test
    void anEjectionThatEndsWhileTheChecksHoldTheServerDownDoesNotSayItIsBackInService() {
        List<Server> two = poolOfTwo();
        Server s = two.get(0);
        Ejection e = s.recordFailure(System.nanoTime(), HALF, "CONNECT_REFUSED: Connection refused");
        assertNotNull(e);
        s.setActiveUp(false, "L4CON, connect: Connection refused");
        s.poolState().ejectionOver(e);
        List<String> lines = log.messages();
        assertFalse(lines.stream().anyMatch(l -> l.contains("back in service")), lines.toString());
        assertTrue(lines.contains("server " + s.name() + " (" + s.address() + ") ejection 1 in a row (10000 ms) over, "
                + "but it stays DOWN by health check"), lines.toString());
    }

    /** A server that left the table while ejected is not logged back in service when its ejection's time is up. */
    @Test
    void anEjectionThatEndsAfterItsServerLeftTheTableIsNotLoggedAsAReturn() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        Server s = tables.publish(List.of(spec(1), spec(2)), "test").servers().get(0);
        Ejection e = s.recordFailure(System.nanoTime(), HALF, "CONNECT_REFUSED: Connection refused");
        assertNotNull(e);
        tables.publish(List.of(spec(2)), "test: 1 left");
        s.poolState().ejectionOver(e);
        List<String> lines = log.messages();
        assertFalse(lines.stream().anyMatch(l -> l.contains("back in service")), lines.toString());
    }

    /**
     * A request still under way on a server that left the table (a member that left while a long request ran, a
     * backend killed at the end of its deploy's drain) may fail after the server left: that ejects nothing, logs no
     * "ejected" line and counts no ejection of a server the table no longer has.
     */
    @Test
    void aFailureOnAServerThatLeftTheTableEjectsNothing() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        Server s = tables.publish(List.of(spec(1), spec(2), spec(3)), "test").servers().get(0);
        tables.publish(List.of(spec(2), spec(3)), "test: 1 left");
        assertNull(s.recordFailure(System.nanoTime(), HALF, "CLOSED_EARLY: connection reset"));
        assertEquals(0, s.stats().ejections.sum());
        assertFalse(log.messages().stream().anyMatch(l -> l.contains("ejected")), log.messages().toString());
    }

    /**
     * Every return is logged, also when a request reaches the server as its ejection ends and fails it again before
     * the task that logs the return has run (the event loop's timer fires after the deadline, requests come any time):
     * the next ejection logs the return of the one before it first.
     */
    @Test
    void aReturnIsLoggedWhenTheServerIsEjectedAgainBeforeItsReturnWasLogged() {
        TableHolder tables = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        Server s = tables.publish(List.of(spec(1), spec(2)), "test").servers().get(0);
        // 200 ms: the second failure must come within a base time of the return, or the count decays to 0 (a
        // machine that stalls this thread longer than that fails the test; 1 ms did, under load)
        HealthCheckConfig p = passive(200, 300_000, 50);
        Ejection first = s.recordFailure(System.nanoTime(), p, "refused");
        assertNotNull(first);
        long after = first.untilNanos() + 1;
        while (System.nanoTime() - after < 0) {
            Thread.onSpinWait();
        }
        assertNotNull(s.recordFailure(System.nanoTime(), p, "refused"), "ejected again, its return not logged yet");
        s.poolState().ejectionOver(first); // the first ejection's task runs late: nothing of it is left to log
        List<String> lines = log.messages();
        assertEquals(1, lines.stream().filter(l -> l.contains("back in service after ejection 1 in a row (200 ms)")).count(),
                lines.toString());
        assertTrue(lines.indexOf(lines.stream().filter(l -> l.contains("back in service")).findFirst().orElseThrow())
                < lines.indexOf(lines.stream().filter(l -> l.contains("ejection 2 in a row")).findFirst().orElseThrow()),
                "the return before the next ejection: " + lines);
    }
}
