package io.grapevine.proxy.forward;

import java.util.concurrent.TimeUnit;

/**
 * How many retries a pool may make now, so that retries stay a fraction of the traffic when everything fails
 * instead of multiplying it (a retry storm). Finagle's {@code RetryBudget}: every request deposits
 * {@code retry_budget_percent} hundredths of a retry, every retry withdraws a whole one, and what was deposited or
 * withdrawn more than {@link #WINDOW_NANOS} ago no longer counts; a reserve of {@code retry_budget_min_per_s} times the
 * window's seconds lets a quiet proxy retry all the same. Over any 10 s, a pool makes at most
 * {@code percent / 100} retries per request plus the reserve.
 *
 * <p>One budget per pool per event loop (each loop's requests feed its own), so it needs no lock: the pool's reserve
 * is shared out among the loops. Confined to its event loop. Time is passed in, so the arithmetic is testable
 * without a clock.
 */
final class RetryBudget {

    /** How long a deposit or a withdrawal counts. */
    static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);
    /** The window is kept as this many slices, each dropped whole when it gets too old. */
    private static final int SLICES = 10;
    private static final long SLICE_NANOS = WINDOW_NANOS / SLICES;
    /** One retry, in the units of the balance (hundredths of a retry). */
    private static final long RETRY = 100;

    private final long deposit;
    private final long reserve;
    /** Deposits minus withdrawals of each slice, in hundredths of a retry; index: slice number modulo SLICES. */
    private final long[] slices = new long[SLICES];
    /** The slice number ({@code nanoTime / SLICE_NANOS}) of the newest slice. */
    private long newest;
    private long balance;

    /**
     * @param percent       retries allowed per 100 requests (retry_budget_percent)
     * @param minPerSecond  retries per second allowed whatever the request rate, for this budget's share of the pool
     *                      (the pool's retry_budget_min_per_s divided among the event loops)
     * @param nowNanos      {@link System#nanoTime()} now
     */
    RetryBudget(int percent, double minPerSecond, long nowNanos) {
        this.deposit = percent;
        this.reserve = (long) Math.ceil(minPerSecond * TimeUnit.NANOSECONDS.toSeconds(WINDOW_NANOS)) * RETRY;
        this.newest = Math.floorDiv(nowNanos, SLICE_NANOS);
    }

    /** A request was sent to the pool: it adds its share of a retry. */
    void deposit(long nowNanos) {
        advance(nowNanos);
        add(deposit);
    }

    /**
     * Takes one retry out of the budget if it holds one.
     *
     * @return false: the budget is spent; the request must not be retried
     */
    boolean tryWithdraw(long nowNanos) {
        advance(nowNanos);
        if (balance + reserve < RETRY) {
            return false;
        }
        add(-RETRY);
        return true;
    }

    /**
     * Gives back a retry withdrawn at {@code nowNanos} ({@link #tryWithdraw}, the same instant) that was not made: no
     * server was left to make it on.
     */
    void refund(long nowNanos) {
        advance(nowNanos);
        add(RETRY);
    }

    /** Whole retries the budget allows now (reserve included). */
    long available(long nowNanos) {
        advance(nowNanos);
        return Math.max(0, (balance + reserve) / RETRY);
    }

    private void add(long amount) {
        slices[(int) Math.floorMod(newest, (long) SLICES)] += amount;
        balance += amount;
    }

    /** Drops the slices that fell out of the window since the last call. */
    private void advance(long nowNanos) {
        long current = Math.floorDiv(nowNanos, SLICE_NANOS);
        long steps = current - newest;
        if (steps <= 0) {
            return;
        }
        if (steps >= SLICES) {
            java.util.Arrays.fill(slices, 0);
            balance = 0;
        } else {
            for (long k = 1; k <= steps; k++) {
                int i = (int) Math.floorMod(newest + k, (long) SLICES);
                balance -= slices[i];
                slices[i] = 0;
            }
        }
        newest = current;
    }
}
