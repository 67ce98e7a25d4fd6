package io.grapevine.proxy.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import io.grapevine.proxy.config.ServerSpec.Source;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Server slots under max_conn and the pool queue that hands freed slots to waiting requests, without sockets. */
class PoolQueueTest {

    private static ServerSpec limited(int port, int maxConn) {
        return new ServerSpec("s" + port, "127.0.0.1", port, 1, false, "default", Source.STATIC, AdminState.UP, maxConn);
    }

    private static TableHolder holder(int queueMax) {
        PoolPolicy policy = new PoolPolicy(io.grapevine.proxy.config.Balance.ROUNDROBIN, null, null, 0,
                new PoolPolicy.Queue(queueMax, 5000));
        return new TableHolder(1, List.of(), pool -> policy);
    }

    /**
     * A waiter that records what it was granted; accepts every available server, or, tied to {@code only}, that one
     * alone while it takes sticky requests (as a request whose sticky cookie names it).
     */
    private static final class Recorder implements PoolQueue.Waiter {
        final String name;
        final List<String> log;
        final Server only;
        Server granted;
        int grants;
        /** Times the queue asked it whether it accepts a server. */
        int asked;

        Recorder(String name, List<String> log, Server only) {
            this.name = name;
            this.log = log;
            this.only = only;
        }

        @Override
        public boolean accepts(Server server, long nowNanos) {
            asked++;
            if (only != null && only.takesStickyRequests(nowNanos)) {
                return server == only;
            }
            return server.isAvailable(nowNanos);
        }

        @Override
        public Server pinnedTo() {
            return only;
        }

        @Override
        public void granted(Server server) {
            granted = server;
            grants++;
            log.add(name + "->" + (server == null ? "none" : server.name()));
        }
    }

    @Test
    void slotsAreStrictAcrossThreads() throws Exception {
        Server s = holder(10).publish(List.of(limited(1, 2)), "test").servers().get(0);
        AtomicInteger current = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        AtomicInteger served = new AtomicInteger();
        int threads = 8;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            Thread t = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int k = 0; k < 20_000; k++) {
                    if (s.tryAcquireSlot()) {
                        int now = current.incrementAndGet();
                        most.accumulateAndGet(now, Math::max);
                        served.incrementAndGet();
                        current.decrementAndGet();
                        s.releaseSlot();
                    }
                }
            });
            t.start();
            workers.add(t);
        }
        start.countDown();
        for (Thread t : workers) {
            t.join();
        }
        assertTrue(most.get() <= 2, "at most max_conn at once, saw " + most.get());
        assertTrue(served.get() > 0);
        assertEquals(0, s.inFlight(), "every slot came back");
        assertFalse(s.isFull());
    }

    @Test
    void aFreedSlotGoesToTheOldestWaiterAndNeverBackToThePool() {
        Server s = holder(10).publish(List.of(limited(1, 1)), "test").servers().get(0);
        PoolQueue queue = s.poolState().queue();
        List<String> log = new ArrayList<>();
        assertTrue(s.tryAcquireSlot());
        assertFalse(s.tryAcquireSlot(), "max_conn 1");
        Recorder a = new Recorder("a", log, null);
        Recorder b = new Recorder("b", log, null);
        Recorder c = new Recorder("c", log, null);
        long now = System.nanoTime();
        assertTrue(queue.offer(a, now));
        assertTrue(queue.offer(b, now));
        assertTrue(queue.offer(c, now));
        assertEquals(3, queue.size());
        assertEquals(List.of(), log, "nobody gets a slot while the server is full");

        s.releaseSlot();
        assertEquals(List.of("a->s1"), log);
        assertEquals(1, s.inFlight(), "the slot passed to a: still counted");
        assertFalse(s.tryAcquireSlot(), "a newcomer cannot take it");
        s.releaseSlot(); // a is done
        s.releaseSlot(); // b is done
        assertEquals(List.of("a->s1", "b->s1", "c->s1"), log);
        s.releaseSlot(); // c is done
        assertEquals(0, s.inFlight());
        assertEquals(0, queue.size());
        PoolStatsView stats = new PoolStatsView(s.poolState());
        assertEquals(3, stats.queued());
        assertEquals(3, stats.maxDepth());
    }

    @Test
    void aRequestThatQueuesJustAsASlotFreesGetsItAtOnce() {
        Server s = holder(10).publish(List.of(limited(1, 1)), "test").servers().get(0);
        List<String> log = new ArrayList<>();
        // It saw the server full, and before it queued the slot came back: nobody else will hand it over.
        assertTrue(s.poolState().queue().offer(new Recorder("late", log, null), System.nanoTime()));
        assertEquals(List.of("late->s1"), log);
        assertEquals(1, s.inFlight());
        assertEquals(0, s.poolState().queue().size());
    }

    @Test
    void aFullQueueRefusesAndARemovedWaiterIsNotServed() {
        Server s = holder(2).publish(List.of(limited(1, 1)), "test").servers().get(0);
        PoolQueue queue = s.poolState().queue();
        List<String> log = new ArrayList<>();
        s.tryAcquireSlot();
        Recorder a = new Recorder("a", log, null);
        Recorder b = new Recorder("b", log, null);
        long now = System.nanoTime();
        assertTrue(queue.offer(a, now));
        assertTrue(queue.offer(b, now));
        assertFalse(queue.offer(new Recorder("c", log, null), now), "queue.max 2");
        assertTrue(queue.remove(a), "a's client went away");
        assertFalse(queue.remove(a));
        s.releaseSlot();
        assertEquals(List.of("b->s1"), log);
        assertFalse(queue.remove(b), "granted already: the slot is on its way to it");
    }

    /** Servers s1 and s2 of one pool, of max_conn 1, each with its slot taken. */
    private static List<Server> twoFull() {
        List<Server> two = holder(10).publish(List.of(limited(1, 1), limited(2, 1)), "test").servers();
        two.forEach(Server::tryAcquireSlot);
        return two;
    }

    @Test
    void aWaiterTiedToOneServerLetsOthersTakeTheSlotsOfTheRest() {
        List<Server> two = twoFull();
        Server s1 = two.get(0);
        Server s2 = two.get(1);
        PoolQueue queue = s1.poolState().queue();
        List<String> log = new ArrayList<>();
        long now = System.nanoTime();
        queue.offer(new Recorder("sticky-to-s2", log, s2), now);
        queue.offer(new Recorder("any", log, null), now);
        s1.releaseSlot();
        assertEquals(List.of("any->s1"), log, "the older waiter cannot use s1: the next one gets it");
        s2.releaseSlot();
        assertEquals(List.of("any->s1", "sticky-to-s2->s2"), log);
    }

    /** Queues {@code n} recorders named {@code prefix} and their number, tied to {@code only} (or not), in order. */
    private static List<Recorder> queueUp(PoolQueue queue, int n, String prefix, List<String> log, Server only) {
        List<Recorder> queued = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Recorder r = new Recorder(prefix + i, log, only);
            queued.add(r);
            assertTrue(queue.offer(r, System.nanoTime()));
        }
        return queued;
    }

    @Test
    void aLongLineTiedToABusyServerCostsTheReleasesOfTheOthersNothing() {
        List<Server> two = holder(10_000).publish(List.of(limited(1, 1), limited(2, 1)), "test").servers();
        Server busy = two.get(0);
        Server other = two.get(1);
        PoolQueue queue = busy.poolState().queue();
        List<String> log = new ArrayList<>();
        busy.tryAcquireSlot();
        List<Recorder> tied = queueUp(queue, 1000, "tied", log, busy);
        int releases = 1000;
        for (int i = 0; i < releases; i++) { // requests without a cookie come and go on the other server
            assertTrue(other.tryAcquireSlot());
            other.releaseSlot();
        }
        int asked = tied.stream().mapToInt(r -> r.asked).sum();
        assertTrue(asked < releases, "the waiters of the busy server were asked " + asked + " times about "
                + releases + " releases of the other");
        assertEquals(0, other.inFlight());

        busy.releaseSlot();
        assertEquals(List.of("tied0->s1"), log, "the busy server's slot goes to the oldest tied to it");
        busy.setActiveUp(false, "test"); // down: its waiters may go anywhere now, in their places
        assertEquals(List.of("tied0->s1", "tied1->s2"), log);
        assertEquals(998, queue.size());
    }

    @Test
    void aLongLineCostsTheHandOversNothingForADrainingServerWithRoom() {
        ServerSpec draining = new ServerSpec("s2", "127.0.0.1", 2, 1, false, "default", Source.STATIC,
                AdminState.DRAINING, 1);
        List<Server> two = holder(10_000).publish(List.of(limited(1, 1), draining), "test").servers();
        Server busy = two.get(0);
        PoolQueue queue = busy.poolState().queue();
        List<String> log = new ArrayList<>();
        busy.tryAcquireSlot();
        List<Recorder> waiting = queueUp(queue, 1000, "w", log, null);
        int releases = 500;
        for (int i = 0; i < releases; i++) {
            busy.releaseSlot(); // the slot goes to the oldest waiter, which takes no new clients to the draining server
        }
        assertEquals(releases, log.size());
        assertEquals("w" + (releases - 1) + "->s1", log.get(releases - 1));
        assertEquals(0, two.get(1).inFlight(), "draining: no new clients");
        int asked = waiting.stream().mapToInt(r -> r.asked).sum();
        assertTrue(asked <= 2 * releases, "the waiters were asked " + asked + " times about " + releases
                + " hand-overs");
    }

    @Test
    void aWaiterTiedToAServerThatGoesDownKeepsItsPlaceAheadOfYoungerOnes() {
        List<Server> two = twoFull();
        Server s1 = two.get(0);
        PoolQueue queue = s1.poolState().queue();
        List<String> log = new ArrayList<>();
        for (Recorder r : List.of(new Recorder("any-first", log, null), new Recorder("tied-to-s2", log, two.get(1)),
                new Recorder("any-last", log, null))) {
            queue.offer(r, System.nanoTime());
        }
        two.get(1).setActiveUp(false, "test");
        s1.releaseSlot();
        s1.releaseSlot();
        assertEquals(List.of("any-first->s1", "tied-to-s2->s1"), log, "the tied one, older, before any-last");
        s1.releaseSlot();
        assertEquals(List.of("any-first->s1", "tied-to-s2->s1", "any-last->s1"), log);
        assertTrue(queue.isEmpty());
    }

    @Test
    void aServerThatIsNotAvailableDoesNotServeTheQueue() {
        TableHolder tables = holder(10);
        List<Server> two = tables.publish(List.of(limited(1, 1), limited(2, 1)), "test").servers();
        Server s1 = two.get(0);
        List<String> log = new ArrayList<>();
        s1.tryAcquireSlot();
        two.get(1).tryAcquireSlot();
        s1.poolState().queue().offer(new Recorder("w", log, null), System.nanoTime());
        s1.setActiveUp(false, "test");
        s1.releaseSlot();
        assertEquals(List.of(), log, "a server that went down gives its slot back to nobody");
        assertEquals(0, s1.inFlight());
        two.get(1).releaseSlot();
        assertEquals(List.of("w->s2"), log);
    }

    @Test
    void aServerBackUpByItsHealthChecksServesTheQueueAtOnce() {
        List<Server> two = holder(10).publish(List.of(limited(1, 1), limited(2, 1)), "test").servers();
        Server busy = two.get(0);
        Server down = two.get(1);
        down.setActiveUp(false, "test");
        busy.tryAcquireSlot();
        List<String> log = new ArrayList<>();
        busy.poolState().queue().offer(new Recorder("w", log, null), System.nanoTime());
        assertEquals(List.of(), log, "the only server up is full");

        down.setActiveUp(true, "test");
        assertEquals(List.of("w->s2"), log, "the server that came back takes the waiter, not the next newcomer");
        assertEquals(1, down.inFlight());
        assertEquals(1, busy.inFlight(), "the busy server's request goes on");
    }

    @Test
    void aServerOtherProxiesNoLongerFindFailingServesTheQueueAtOnce() {
        List<Server> two = holder(10).publish(List.of(limited(1, 1), limited(2, 1)), "test").servers();
        Server busy = two.get(0);
        Server peerDown = two.get(1);
        peerDown.setPeerDownUntil(System.nanoTime() + TimeUnit.MINUTES.toNanos(1));
        busy.tryAcquireSlot();
        List<String> log = new ArrayList<>();
        busy.poolState().queue().offer(new Recorder("w", log, null), System.nanoTime());
        assertEquals(List.of(), log, "the only server up is full");

        peerDown.setPeerDownUntil(0); // no other proxy says it fails any more
        assertEquals(List.of("w->s2"), log, "the server back takes the waiter at once, not when the busy one is done");
        assertEquals(1, busy.inFlight(), "the busy server's request goes on");
    }

    @Test
    void aServerWhoseEjectionEndsServesTheQueueAtOnce() throws Exception {
        List<Server> three = holder(10).publish(List.of(limited(1, 1), limited(2, 1), limited(3, 1)), "test")
                .servers();
        Server busy = three.get(0);
        Server early = three.get(1);
        Server late = three.get(2);
        HealthCheckConfig passive = new HealthCheckConfig(false, null, null, 2000, 1000, 2, 3, 1, 60_000, 100, 60_000);
        HealthCheckConfig brief = new HealthCheckConfig(false, null, null, 2000, 1000, 2, 3, 1, 500, 100, 500);
        assertNotNull(early.recordFailure(System.nanoTime(), passive, "test"));
        busy.tryAcquireSlot();
        late.tryAcquireSlot();
        List<String> log = new ArrayList<>();
        PoolQueue queue = busy.poolState().queue();
        queue.offer(new Recorder("first", log, null), System.nanoTime());
        queue.offer(new Recorder("second", log, null), System.nanoTime());
        Ejection runsOut = late.recordFailure(System.nanoTime(), brief, "test"); // its request failed
        assertNotNull(runsOut);
        late.releaseSlot();
        assertEquals(List.of(), log, "one server full, two ejected");

        early.clearPassiveDown(); // a passing health check ends its ejection early
        assertEquals(List.of("first->s2"), log);

        while (System.nanoTime() - runsOut.untilNanos() < 0) {
            Thread.sleep(10);
        }
        assertTrue(late.isAvailable(System.nanoTime()), "its ejection ran out");
        late.poolState().ejectionOver(runsOut); // the task the failure scheduled for the end of the ejection
        assertEquals(List.of("first->s2", "second->s3"), log);
    }

    @Test
    void aNewGenerationServesTheQueueAndAPoolThatLeftEmptiesIt() {
        TableHolder tables = holder(10);
        Server s1 = tables.publish(List.of(limited(1, 1)), "test").servers().get(0);
        PoolState pool = s1.poolState();
        List<String> log = new ArrayList<>();
        s1.tryAcquireSlot();
        Recorder first = new Recorder("first", log, null);
        Recorder second = new Recorder("second", log, null);
        pool.queue().offer(first, System.nanoTime());
        pool.queue().offer(second, System.nanoTime());
        tables.publish(List.of(limited(1, 1), limited(2, 1)), "a server joins");
        assertEquals(List.of("first->s2"), log, "the server that joined takes the oldest at once");
        assertSame(pool, tables.current().pools().get("default").state(), "the pool's state survives the swap");
        tables.publish(List.of(limited(1, 2), limited(2, 1)), "s1's limit raised");
        assertEquals(List.of("first->s2", "second->s1"), log);

        s1.tryAcquireSlot();
        s1.tryAcquireSlot();
        Recorder stranded = new Recorder("stranded", log, null);
        pool.queue().offer(stranded, System.nanoTime());
        tables.publish(List.of(), "every server left");
        assertEquals(1, stranded.grants);
        assertNull(stranded.granted, "no server will come");
        assertEquals(0, pool.queue().size());
    }

    /**
     * A request that saw its server full under a table that still had its pool, and offers itself to the queue once a
     * swap took the pool out (its queue retired already), is told at once that no server will come: it does not wait
     * its whole timeout in a queue that no server serves any more.
     */
    @Test
    void aRequestThatQueuesAfterItsPoolLeftTheTableIsAnsweredAtOnce() {
        TableHolder tables = holder(10);
        Server s1 = tables.publish(List.of(limited(1, 1)), "test").servers().get(0);
        PoolState pool = s1.poolState();
        s1.tryAcquireSlot();
        tables.publish(List.of(), "every server left");
        List<String> log = new ArrayList<>();
        Recorder late = new Recorder("late", log, null);
        assertTrue(pool.queue().offer(late, System.nanoTime()));
        assertEquals(List.of("late->none"), log, "no server will come");
        assertEquals(0, pool.queue().size());
        assertEquals(1, pool.stats().queued.sum(), "it queued, and its outcome is the pool's leaving");
    }

    @Test
    void manyThreadsQueueingAndReleasingNeverExceedTheLimitAndNobodyIsForgotten() throws Exception {
        Server s = holder(100).publish(List.of(limited(1, 3)), "test").servers().get(0);
        PoolQueue queue = s.poolState().queue();
        AtomicInteger current = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        AtomicInteger done = new AtomicInteger();
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        int threads = 8;
        int perThread = 3000;
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            Thread t = new Thread(() -> {
                LinkedBlockingQueue<Server> inbox = new LinkedBlockingQueue<>();
                PoolQueue.Waiter me = new PoolQueue.Waiter() {
                    @Override
                    public boolean accepts(Server server, long nowNanos) {
                        return true;
                    }

                    @Override
                    public void granted(Server server) {
                        inbox.add(server);
                    }
                };
                try {
                    for (int k = 0; k < perThread; k++) {
                        if (!s.tryAcquireSlot()) {
                            if (!queue.offer(me, System.nanoTime())) {
                                errors.add(new AssertionError("queue full with at most 8 waiters"));
                                return;
                            }
                            if (inbox.poll(10, TimeUnit.SECONDS) == null) {
                                errors.add(new AssertionError("a waiter was never served: a lost wakeup"));
                                return;
                            }
                        }
                        int now = current.incrementAndGet();
                        most.accumulateAndGet(now, Math::max);
                        if (ThreadLocalRandom.current().nextInt(8) == 0) {
                            Thread.yield();
                        }
                        current.decrementAndGet();
                        done.incrementAndGet();
                        s.releaseSlot();
                    }
                } catch (InterruptedException e) {
                    errors.add(e);
                }
            });
            t.start();
            workers.add(t);
        }
        for (Thread t : workers) {
            t.join(60_000);
        }
        assertEquals(List.of(), errors);
        assertEquals(threads * perThread, done.get());
        assertTrue(most.get() <= 3, "at most max_conn at once, saw " + most.get());
        assertEquals(0, s.inFlight());
        assertEquals(0, queue.size());
    }

    /**
     * The waits each event loop counts as its requests use their slots are read together: one count, and the sum of
     * the very waits it counts.
     */
    @Test
    void theWaitsOfEveryLoopAreReadAsOneCountAndTheSumOfItsWaits() {
        io.grapevine.proxy.stats.PoolStats stats = new io.grapevine.proxy.stats.PoolStats();
        stats.recordWait(0, 5_000);
        stats.recordWait(2, 3_000);
        stats.recordWait(0, 1_000);
        assertEquals(new io.grapevine.proxy.stats.PoolStats.Waits(3, 9_000), stats.waits());
    }

    /** The pool's queue counters, read as the admin pages read them. */
    private record PoolStatsView(PoolState pool) {
        long queued() {
            return pool.stats().queued.sum();
        }

        int maxDepth() {
            return pool.stats().queueMax.get();
        }
    }
}
