package io.grapevine.proxy.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The retry budget's arithmetic, on a clock the test moves. */
class RetryBudgetTest {

    private static final long T0 = TimeUnit.HOURS.toNanos(1);
    private static final long SECOND = TimeUnit.SECONDS.toNanos(1);

    /** Retries granted out of {@code attempts} tries at {@code now}. */
    private static int withdraw(RetryBudget b, int attempts, long now) {
        int granted = 0;
        for (int i = 0; i < attempts; i++) {
            if (b.tryWithdraw(now)) {
                granted++;
            }
        }
        return granted;
    }

    @Test
    void eachRequestDepositsItsPercentOfARetry() {
        RetryBudget b = new RetryBudget(20, 0, T0);
        assertFalse(b.tryWithdraw(T0), "nothing deposited, no reserve: no retry");
        for (int i = 0; i < 4; i++) {
            b.deposit(T0);
        }
        assertFalse(b.tryWithdraw(T0), "four requests at 20 % make 0.8 of a retry");
        b.deposit(T0);
        assertTrue(b.tryWithdraw(T0), "the fifth makes one");
        assertFalse(b.tryWithdraw(T0));
    }

    @Test
    void aStormOfFailuresGetsThePercentOfItsRequestsAsRetries() {
        RetryBudget b = new RetryBudget(20, 0, T0);
        int granted = 0;
        for (int i = 0; i < 1000; i++) {
            long now = T0 + i * 1_000_000L; // 1000 requests in one second, every one failing twice
            b.deposit(now);
            granted += withdraw(b, 2, now);
        }
        assertEquals(200, granted);
    }

    @Test
    void theReserveLetsAQuietProxyRetryAFewTimesPerSecond() {
        RetryBudget b = new RetryBudget(20, 1, T0); // one retry per second: 10 over the 10 s window
        assertEquals(10, withdraw(b, 50, T0), "the whole reserve at once, as Finagle's");
        assertEquals(0, withdraw(b, 5, T0 + 5 * SECOND), "spent: withdrawals count for 10 s");
        assertEquals(10, withdraw(b, 50, T0 + 11 * SECOND), "the withdrawals expired: the reserve is whole again");
    }

    @Test
    void depositsExpireAfterTheWindow() {
        RetryBudget b = new RetryBudget(100, 0, T0);
        for (int i = 0; i < 5; i++) {
            b.deposit(T0);
        }
        assertEquals(5, b.available(T0));
        assertEquals(5, b.available(T0 + 9 * SECOND), "still in the window");
        assertEquals(0, b.available(T0 + 10 * SECOND + SECOND / 2), "older than 10 s: gone");
        assertFalse(b.tryWithdraw(T0 + 11 * SECOND));
    }

    @Test
    void theWindowSlidesSliceBySlice() {
        RetryBudget b = new RetryBudget(100, 0, T0);
        for (int s = 0; s < 10; s++) {
            b.deposit(T0 + s * SECOND); // one retry's worth per second
        }
        assertEquals(10, b.available(T0 + 9 * SECOND));
        assertEquals(9, b.available(T0 + 10 * SECOND), "the first second's deposit left the window");
        assertEquals(5, b.available(T0 + 14 * SECOND));
        assertEquals(0, b.available(T0 + 30 * SECOND), "a long silence empties everything at once");
    }

    @Test
    void aRetryBorrowedFromTheReserveIsPaidBackByLaterDeposits() {
        RetryBudget b = new RetryBudget(50, 0.1, T0); // reserve: one retry per 10 s
        assertTrue(b.tryWithdraw(T0));
        assertFalse(b.tryWithdraw(T0));
        b.deposit(T0);
        assertFalse(b.tryWithdraw(T0), "half a retry deposited pays back half of the borrowed one");
        b.deposit(T0);
        assertTrue(b.tryWithdraw(T0), "paid back: the reserve lends again");
    }

    @Test
    void aZeroPercentBudgetWithoutReserveNeverRetries() {
        RetryBudget b = new RetryBudget(0, 0, T0);
        for (int i = 0; i < 100; i++) {
            b.deposit(T0);
        }
        assertFalse(b.tryWithdraw(T0));
    }

    @Test
    void theClockMayStartAnywhere() {
        RetryBudget b = new RetryBudget(100, 0, -T0); // System.nanoTime() may be negative
        b.deposit(-T0);
        assertTrue(b.tryWithdraw(-T0 + SECOND));
        assertFalse(b.tryWithdraw(-T0 + SECOND));
    }
}
