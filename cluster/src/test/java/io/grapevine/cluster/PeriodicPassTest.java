package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/** A periodic task whose passes throw goes on, and says so once for each run of failed passes. */
@Timeout(30)
class PeriodicPassTest {

    /** The passes that throw: a run of three, one that succeeds, a run of two, and all the others succeed. */
    private static final Set<Integer> FAILING = Set.of(1, 2, 3, 5, 6);

    @Test
    void aRunOfFailedPassesIsLoggedOnceAndTheTaskGoesOn() throws Exception {
        AtomicInteger passes = new AtomicInteger();
        List<ILoggingEvent> logged;
        ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor();
        try (LoggedEvents log = new LoggedEvents(PeriodicPassTest.class)) {
            PeriodicPass guarded = new PeriodicPass(() -> {
                int pass = passes.incrementAndGet();
                if (FAILING.contains(pass)) {
                    throw new IllegalStateException("pass " + pass);
                }
            }, LoggerFactory.getLogger(PeriodicPassTest.class), "a pass failed; the next goes on");
            thread.scheduleWithFixedDelay(guarded, 1, 1, TimeUnit.MILLISECONDS);
            Await.until(Duration.ofSeconds(10), "ten passes", () -> passes.get() >= 10);
            thread.shutdownNow();
            assertTrue(thread.awaitTermination(5, TimeUnit.SECONDS));
            logged = log.events();
        } finally {
            thread.shutdownNow();
        }
        assertEquals(2, logged.size(), logged.toString());
        for (ILoggingEvent event : logged) {
            assertEquals(Level.ERROR, event.getLevel());
            assertEquals("a pass failed; the next goes on", event.getFormattedMessage());
        }
        // The first failure of each run, with what it threw.
        assertEquals("pass 1", logged.get(0).getThrowableProxy().getMessage());
        assertEquals("pass 5", logged.get(1).getThrowableProxy().getMessage());
        assertTrue(passes.get() >= 10, passes + " passes");
    }
}
