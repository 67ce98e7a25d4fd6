package io.grapevine.cluster;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Lookups of names that are waited for {@link #WAIT_MILLIS} at most from when they started, however long they take:
 * each runs on a thread of its own ({@link BlockingCalls}), so that several started together are waited for
 * {@link #WAIT_MILLIS} in all; one under way is joined by a later wait for the same name, not started again; one given
 * up on goes on, and says so ({@link Lookup#givenUp}) to whoever waits for it next. So a DNS server that does not
 * answer holds its callers {@link #WAIT_MILLIS} once, not the system resolver's timeout per name and per use.
 *
 * <p>What a lookup does with its answer (remember it, log that it was given up on) is its caller's.
 *
 * <p>Thread-safe: {@link #start} from any thread.
 *
 * @param <T> what a lookup answers
 */
public final class BoundedLookups<T> {

    /** How long a lookup is waited for, from when it started (docs/configuration.md, docs/membership.md). */
    public static final long WAIT_MILLIS = 5_000;

    /** Looks a name up, blocking for as long as that takes; on a lookup thread. */
    @FunctionalInterface
    public interface Resolver<T> {
        /** @return the answer; what this throws is the answer too ({@link Lookup#await}'s cause) */
        T lookUp(String name) throws Exception;
    }

    /** One lookup under way, or done. Thread-safe. */
    public static final class Lookup<T> {

        /** Completed once, on the lookup's thread, after the lookup left {@link #underWay}. */
        private final CompletableFuture<T> answer = new CompletableFuture<>();
        private final long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        private final AtomicBoolean givenUp = new AtomicBoolean();

        private Lookup() {
        }

        /**
         * The answer, waited for until {@link #WAIT_MILLIS} after the lookup started; at once if that has passed.
         *
         * @throws TimeoutException     when it has not answered by then (it goes on)
         * @throws ExecutionException   when the lookup threw, with what it threw as the cause
         * @throws InterruptedException when the waiting thread is interrupted (the lookup goes on)
         */
        public T await() throws TimeoutException, ExecutionException, InterruptedException {
            return BlockingCalls.await(answer, deadlineNanos);
        }

        /**
         * The answer, waited for {@code millis} at most from now, whatever the lookup's own deadline.
         *
         * @throws TimeoutException     when it has not answered by then (it goes on)
         * @throws ExecutionException   when the lookup threw, with what it threw as the cause
         * @throws InterruptedException when the waiting thread is interrupted (the lookup goes on)
         */
        public T await(long millis) throws TimeoutException, ExecutionException, InterruptedException {
            return answer.get(millis, TimeUnit.MILLISECONDS);
        }

        /** The answer if the lookup has answered with one, else {@code ifNone} (also when it threw). */
        public T answerNow(T ifNone) {
            // Done is for good: a lookup done and not exceptionally done has an answer to join.
            return answer.isDone() && !answer.isCompletedExceptionally() ? answer.join() : ifNone;
        }

        /**
         * Runs {@code then} with the answer once the lookup answers (not if it threw): on the lookup's thread as it
         * answers, or on this one at once if it has.
         */
        public void whenAnswered(Consumer<? super T> then) {
            answer.thenAccept(then);
        }

        /**
         * Marks the lookup as given up on by a wait that stopped at its deadline.
         *
         * @return whether this is the first time: the one that gave up first says so
         */
        public boolean giveUp() {
            return givenUp.compareAndSet(false, true);
        }

        /** Whether a wait gave up on this lookup at its deadline (any thread). */
        public boolean givenUp() {
            return givenUp.get();
        }
    }

    private final Map<String, Lookup<T>> underWay = new ConcurrentHashMap<>();
    private final BlockingCalls threads;
    private final Resolver<T> resolver;

    /** Lookups made by {@code resolver} on daemon threads named {@code threadName}. */
    public BoundedLookups(String threadName, Resolver<T> resolver) {
        this.threads = new BlockingCalls(threadName);
        this.resolver = resolver;
    }

    /** The lookup of {@code name} under way, started now if there was none. */
    public Lookup<T> start(String name) {
        Lookup<T> started = new Lookup<>();
        Lookup<T> joined = underWay.putIfAbsent(name, started);
        if (joined != null) {
            return joined;
        }
        threads.start(() -> resolver.lookUp(name)).whenComplete((answer, failed) -> {
            // On the lookup's thread: a wait that comes after this starts a new lookup of the name.
            underWay.remove(name, started);
            if (failed != null) {
                started.answer.completeExceptionally(failed);
            } else {
                started.answer.complete(answer);
            }
        });
        return started;
    }

    /** The lookup of {@code name} under way, or {@code null} if there is none. */
    public Lookup<T> underWay(String name) {
        return underWay.get(name);
    }
}
