package io.grapevine.proxy.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition until it holds or a deadline passes; never a fixed sleep. */
public final class Await {

    private Await() {
    }

    /** Returns the milliseconds it took; fails with {@code what} and {@code state} at the deadline. */
    public static long until(Duration timeout, String what, BooleanSupplier condition, Supplier<String> state) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out after " + timeout.toMillis() + " ms waiting for " + what + "; state: " + state.get());
            }
            pause(10, what);
        }
        return (System.nanoTime() - start) / 1_000_000;
    }

    public static long until(Duration timeout, String what, BooleanSupplier condition) {
        return until(timeout, what, condition, () -> "-");
    }

    /** Checks that {@code condition} stays true for the whole {@code period}. */
    public static void holds(Duration period, String what, BooleanSupplier condition, Supplier<String> state) {
        long deadline = System.nanoTime() + period.toNanos();
        while (System.nanoTime() < deadline) {
            if (!condition.getAsBoolean()) {
                fail("expected " + what + " for " + period.toMillis() + " ms, but it changed; state: " + state.get());
            }
            pause(20, what);
        }
    }

    private static void pause(long millis, String what) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail("interrupted waiting for " + what);
        }
    }
}
