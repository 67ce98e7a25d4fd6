package io.grapevine.cluster;

import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Calls that block for as long as something outside the process takes and have no time limit of their own (the JDK's
 * name lookup, which waits out the resolver's timeouts; the open(2) of a FIFO, which waits for a reader), run on
 * daemon threads of their own, so that whoever needs the answer waits for it at most until a deadline
 * ({@link #await}) and then gives up with a reason of its own. A call given up on goes on until it returns; its thread
 * never holds the JVM's exit.
 *
 * <p>Thread-safe: {@link #start} from any thread; threads are made as needed and end after a minute unused.
 */
public final class BlockingCalls {

    private final ExecutorService threads;

    /** Calls run on daemon threads named {@code threadName}. */
    public BlockingCalls(String threadName) {
        this.threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts {@code call} on a thread of these and returns at once.
     *
     * @return completes, on the call's thread, with what the call returns or throws
     */
    public <T> CompletableFuture<T> start(Callable<T> call) {
        CompletableFuture<T> result = new CompletableFuture<>();
        threads.execute(() -> {
            try {
                result.complete(call.call());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /**
     * What {@code call} returned, waited for until {@code deadlineNanos} ({@link System#nanoTime}); at once if that has
     * passed.
     *
     * @throws TimeoutException     when it has not returned by then (it goes on)
     * @throws ExecutionException   when it threw, with what it threw as the cause
     * @throws InterruptedException when the waiting thread is interrupted (the call goes on)
     */
    public static <T> T await(Future<T> call, long deadlineNanos)
            throws TimeoutException, ExecutionException, InterruptedException {
        return call.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
    }
}
