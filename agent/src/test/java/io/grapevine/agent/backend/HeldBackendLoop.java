package io.grapevine.agent.backend;

import io.netty.util.concurrent.EventExecutor;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Every thread of the demo backends' event loop group held by a task that does not end until {@link #close}: what
 * those loops are asked to do meanwhile (close a listening socket, a connection) waits.
 */
public final class HeldBackendLoop implements AutoCloseable {

    private final CountDownLatch released = new CountDownLatch(1);

    private HeldBackendLoop() {
    }

    /** Holds each loop of the group; returns once each runs the task that holds it. */
    public static HeldBackendLoop hold() throws InterruptedException {
        HeldBackendLoop held = new HeldBackendLoop();
        int loops = 0;
        for (EventExecutor ignored : BackendEventLoop.group()) {
            loops++;
        }
        CountDownLatch running = new CountDownLatch(loops);
        for (EventExecutor loop : BackendEventLoop.group()) {
            loop.execute(() -> {
                running.countDown();
                try {
                    held.released.await(1, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
        if (!running.await(10, TimeUnit.SECONDS)) {
            held.close();
            throw new IllegalStateException("the demo backends' event loop did not take the task that holds it");
        }
        return held;
    }

    @Override
    public void close() {
        released.countDown();
    }
}
