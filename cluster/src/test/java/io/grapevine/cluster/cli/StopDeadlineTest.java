package io.grapevine.cluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class StopDeadlineTest {

    /**
     * A step's wait ends before the watchdog's deadline, by its margin: a step abandoned at the end of its wait
     * writes its line and the stop goes on to the exit, rather than racing the watchdog's halt.
     */
    @Test
    void aStepsWaitEndsTheWatchdogsMarginBeforeTheDeadline() {
        StopDeadline stop = StopDeadline.after(2000, "two seconds");
        long left = stop.millisLeft();
        long toDeadline = TimeUnit.NANOSECONDS.toMillis(stop.deadlineNanos() - System.nanoTime());
        assertTrue(left <= toDeadline - StopDeadline.WATCHDOG_MARGIN_MILLIS + 1,
                left + " ms left to wait with " + toDeadline + " ms to the deadline");
        assertTrue(left > 2000 - StopDeadline.WATCHDOG_MARGIN_MILLIS - 500, left + " ms left to wait");
        assertEquals(500, stop.millisLeft(500), "a step's own limit when less");
    }

    @Test
    void aBudgetWithinTheMarginLeavesNothingToWait() {
        assertEquals(0, StopDeadline.after(StopDeadline.WATCHDOG_MARGIN_MILLIS, "the margin").millisLeft());
        assertEquals(0, StopDeadline.after(1000, "a second").earlier(1000).millisLeft(5000));
    }

    /** The margin is the stop's last part only: a deadline earlier than that (the end of a drain) is waited to its end. */
    @Test
    void anEarlierDeadlineIsWaitedToItsEndAndNeverIntoTheMargin() {
        StopDeadline stop = StopDeadline.after(3000, "three seconds");
        long drain = stop.earlier(1000).millisLeft();
        assertTrue(drain > 1500 && drain <= 2000, drain + " ms");
        long last = stop.earlier(100).millisLeft();
        assertTrue(last <= 3000 - StopDeadline.WATCHDOG_MARGIN_MILLIS, last + " ms");
    }
}
