package io.grapevine.proxy.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.RateLimit;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The token buckets of a rate limit, on a clock the tests move by hand. */
class RateLimiterTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);
    /** Any starting point: nanoTime may be negative. */
    private static final long T0 = -123_456_789_000L;

    private static RateLimiter limiter(long requests, long periodMillis, long burst, int maxKeys) {
        return new RateLimiter(new RateLimit(true, requests, periodMillis, burst, null, maxKeys));
    }

    private static long acquire(RateLimiter limiter, String client, long now) {
        byte[] key = client.getBytes(StandardCharsets.US_ASCII);
        return limiter.acquire(key, 0, key.length, false, now);
    }

    @Test
    void aClientMaySendItsBurstAtOnceThenOneRequestPerInterval() {
        RateLimiter limiter = limiter(10, 1000, 10, 1024);
        for (int i = 0; i < 10; i++) {
            assertEquals(0, acquire(limiter, "10.0.0.1", T0), "request " + i + " of the burst");
        }
        long wait = acquire(limiter, "10.0.0.1", T0);
        assertEquals(100 * MS, wait, "the 11th waits one interval (100 ms at 10 per second)");
        assertEquals(1, acquire(limiter, "10.0.0.1", T0 + 100 * MS - 1), "a nanosecond early is early");
        assertEquals(0, acquire(limiter, "10.0.0.1", T0 + 100 * MS));
        assertTrue(acquire(limiter, "10.0.0.1", T0 + 100 * MS) > 0, "and then again one interval");
        // A quiet second refills the whole bucket, and no more than it.
        long later = T0 + 5000 * MS;
        for (int i = 0; i < 10; i++) {
            assertEquals(0, acquire(limiter, "10.0.0.1", later), "request " + i + " after a quiet while");
        }
        assertTrue(acquire(limiter, "10.0.0.1", later) > 0, "the bucket holds burst requests, however long it rested");
    }

    @Test
    void aSteadyClientFasterThanTheLimitGetsTheLimitsRateAndItsBurst() {
        RateLimiter limiter = limiter(100, 1000, 20, 1024);
        int admitted = 0;
        // 1,000 requests a second for 10 s, against 100 a second.
        for (long t = 0; t < 10_000; t++) {
            if (acquire(limiter, "client", T0 + t * MS) == 0) {
                admitted++;
            }
        }
        assertEquals(20 + 100 * 10, admitted, 1, "the burst, then 100 a second");
    }

    @Test
    void aClientSlowerThanTheLimitIsNeverRefused() {
        RateLimiter limiter = limiter(100, 1000, 1, 1024);
        for (long t = 0; t < 10_000; t += 10) { // exactly the rate, burst 1: each request one interval after the last
            assertEquals(0, acquire(limiter, "client", T0 + t * MS), "at " + t + " ms");
        }
    }

    @Test
    void aPeriodLongerThanASecondLimitsPerMinute() {
        RateLimiter limiter = limiter(30, 60_000, 1, 1024);
        assertEquals(0, acquire(limiter, "client", T0));
        assertEquals(2000 * MS, acquire(limiter, "client", T0), "30 a minute is one every 2 s");
    }

    @Test
    void clientsAreCountedApart() {
        RateLimiter limiter = limiter(1, 1000, 1, 1024);
        assertEquals(0, acquire(limiter, "10.0.0.1", T0));
        assertTrue(acquire(limiter, "10.0.0.1", T0) > 0);
        assertEquals(0, acquire(limiter, "10.0.0.2", T0), "another client has its own bucket");
        assertEquals(0, acquire(limiter, "10.0.0.10", T0));
        byte[] both = "x10.0.0.1y".getBytes(StandardCharsets.US_ASCII);
        assertTrue(limiter.acquire(both, 1, 9, false, T0) > 0, "a key is the bytes of its range");
        byte[] address = "10.0.0.1".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0, limiter.acquire(address, 0, address.length, true, T0), "an address is no header value,"
                + " whatever its bytes: a header cannot use up an address's bucket");
        assertTrue(limiter.acquire(address, 0, address.length, true, T0) > 0);
    }

    @Test
    void theTableIsBoundedAndAFloodOfNewClientsDoesNotFreeALimitedOne() {
        RateLimiter limiter = limiter(1000, 1000, 1000, 1000);
        int capacity = limiter.capacity();
        assertTrue(capacity >= 1000 && capacity <= 4 * 1024, "capacity " + capacity);
        for (int i = 0; i < 1000; i++) {
            assertEquals(0, acquire(limiter, "heavy", T0));
        }
        assertTrue(acquire(limiter, "heavy", T0) > 0);
        // Twenty times the table's size in clients that send one request each: each new one takes the slot of a
        // client whose bucket is full again, or else of the one whose bucket fills soonest, never the heavy one's.
        for (int i = 0; i < 20 * capacity; i++) {
            assertEquals(0, acquire(limiter, "client-" + i, T0), "client " + i);
        }
        assertTrue(acquire(limiter, "heavy", T0) > 0, "the heavy client was forgotten");
        // Its bucket fills at the limit's rate, flood or not.
        assertEquals(0, acquire(limiter, "heavy", T0 + 10 * MS));
    }

    @Test
    void twoThreadsAtOnceAdmitNoMoreThanTheBurst() throws Exception {
        RateLimiter limiter = limiter(1, 3_600_000, 5000, 1024);
        AtomicInteger admitted = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        Thread[] threads = new Thread[2];
        for (int t = 0; t < threads.length; t++) {
            threads[t] = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < 10_000; i++) {
                    if (acquire(limiter, "shared", T0) == 0) {
                        admitted.incrementAndGet();
                    }
                }
            });
            threads[t].start();
        }
        start.countDown();
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(5000, admitted.get(), "20,000 requests at one instant against a burst of 5,000");
    }

    @Test
    void extremeLimitsNeitherOverflowNorRefuseTooSoon() {
        RateLimiter slow = limiter(1, 86_400_000, 1_000_000_000, 16);
        for (int i = 0; i < 1000; i++) {
            assertEquals(0, acquire(slow, "client", T0));
        }
        RateLimiter fast = limiter(1_000_000_000, 1, 1, 16); // more than one request a nanosecond
        assertEquals(0, acquire(fast, "client", T0));
        assertEquals(1, acquire(fast, "client", T0), "the interval is at least a nanosecond");
    }

    @Test
    void anExemptNetworksClientsAreExemptAndNoOneElse() throws Exception {
        RateLimiter limiter = new RateLimiter(new RateLimit(true, 1, 1000, 1, null, 16,
                java.util.List.of("10.1.0.0/16", "fd00::/8")));
        assertTrue(limiter.hasExemptions());
        assertTrue(limiter.exempts(java.net.InetAddress.getByName("10.1.2.3")));
        assertTrue(limiter.exempts(java.net.InetAddress.getByName("::ffff:10.1.2.3")), "IPv4-mapped");
        assertTrue(limiter.exempts(java.net.InetAddress.getByName("fd12::1")));
        assertTrue(!limiter.exempts(java.net.InetAddress.getByName("10.2.0.1")));
        assertTrue(!limiter.exempts(null));
        assertTrue(!limiter(1, 1000, 1, 16).hasExemptions());
    }

    @Test
    void aLimitThatIsOffIsNoLimiter() {
        assertThrows(IllegalArgumentException.class, () -> new RateLimiter(RateLimit.OFF));
    }
}
