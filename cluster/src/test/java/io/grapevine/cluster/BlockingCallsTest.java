package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

class BlockingCallsTest {

    private final BlockingCalls calls = new BlockingCalls("blocking-calls-test");

    @Test
    void aCallThatDoesNotReturnIsGivenUpAtTheDeadlineAndGoesOnOnADaemonThread() throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        CompletableFuture<Thread> call = calls.start(() -> {
            released.await();
            return Thread.currentThread();
        });
        long start = System.nanoTime();
        assertThrows(TimeoutException.class, () -> BlockingCalls.await(call, start + TimeUnit.MILLISECONDS.toNanos(200)));
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(waited >= 190 && waited < 2_000, waited + " ms");

        released.countDown();
        Thread thread = BlockingCalls.await(call, System.nanoTime() + TimeUnit.SECONDS.toNanos(5));
        assertEquals("blocking-calls-test", thread.getName());
        assertTrue(thread.isDaemon(), "a call given up on must not hold the JVM's exit");
    }

    @Test
    void aDeadlinePassedGivesUpAtOnce() {
        CompletableFuture<Object> call = new CompletableFuture<>();
        long start = System.nanoTime();
        assertThrows(TimeoutException.class, () -> BlockingCalls.await(call, start - 1));
        assertTrue(System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(500));
    }

    @Test
    void whatTheCallThrowsIsTheCause() {
        IOException thrown = new IOException("no reader");
        ExecutionException e = assertThrows(ExecutionException.class, () -> BlockingCalls.await(calls.start(() -> {
            throw thrown;
        }), System.nanoTime() + TimeUnit.SECONDS.toNanos(5)));
        assertSame(thrown, e.getCause());
    }
}
