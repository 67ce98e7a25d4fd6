package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polls a condition until it holds or a deadline passes. */
final class Await {

    private Await() {
    }

    /** Returns the milliseconds it took; fails with {@code what} and {@code state} at the deadline. */
    static long until(Duration timeout, String what, BooleanSupplier condition, Supplier<String> state) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out after " + timeout.toMillis() + " ms waiting for " + what + "; state: " + state.get());
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted waiting for " + what);
            }
        }
        return (System.nanoTime() - start) / 1_000_000;
    }

    static long until(Duration timeout, String what, BooleanSupplier condition) {
        return until(timeout, what, condition, () -> "-");
    }

    /** Checks that {@code condition} stays true for the whole {@code period}. */
    static void holds(Duration period, String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + period.toNanos();
        while (System.nanoTime() < deadline) {
            if (!condition.getAsBoolean()) {
                fail("expected " + what + " for " + period.toMillis() + " ms, but it changed");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted checking " + what);
            }
        }
    }
}
