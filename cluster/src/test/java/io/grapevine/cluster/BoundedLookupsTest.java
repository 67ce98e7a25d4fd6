package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.UnknownHostException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A lookup under way is joined, not started again; one that answered is started anew; what it threw is its answer. */
@Timeout(30)
class BoundedLookupsTest {

    @Test
    void aLookupUnderWayIsJoinedAndOneThatAnsweredIsStartedAgain() throws Exception {
        CountDownLatch answer = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        BoundedLookups<String> lookups = new BoundedLookups<>("test-lookups", name -> {
            calls.incrementAndGet();
            answer.await(1, TimeUnit.MINUTES);
            return name + " found";
        });
        BoundedLookups.Lookup<String> first = lookups.start("a.example");
        assertSame(first, lookups.start("a.example"));
        assertSame(first, lookups.underWay("a.example"));
        assertThrows(TimeoutException.class, () -> first.await(50));
        assertEquals("none yet", first.answerNow("none yet"));

        answer.countDown();
        assertEquals("a.example found", first.await());
        assertEquals("a.example found", first.answerNow(null));
        Await.until(Duration.ofSeconds(5), "the lookup no longer under way", () -> lookups.underWay("a.example") == null);
        assertEquals(1, calls.get());

        BoundedLookups.Lookup<String> again = lookups.start("a.example");
        assertNotSame(first, again);
        assertEquals("a.example found", again.await());
        assertEquals(2, calls.get());
    }

    @Test
    void whatALookupThrowsIsWhatItsWaitSees() throws Exception {
        BoundedLookups<String> lookups = new BoundedLookups<>("test-lookups", name -> {
            throw new UnknownHostException(name);
        });
        BoundedLookups.Lookup<String> lookup = lookups.start("typo.example");
        ExecutionException e = assertThrows(ExecutionException.class, lookup::await);
        assertInstanceOf(UnknownHostException.class, e.getCause());
        assertNull(lookup.answerNow(null));
        boolean[] told = {false};
        lookup.whenAnswered(answer -> told[0] = true);
        assertFalse(told[0], "a lookup that threw has no answer to tell");
    }

    @Test
    void theFirstToGiveUpOnALookupIsTold() {
        BoundedLookups<String> lookups = new BoundedLookups<>("test-lookups", name -> {
            new CountDownLatch(1).await(1, TimeUnit.MINUTES);
            return name;
        });
        BoundedLookups.Lookup<String> lookup = lookups.start("slow.example");
        assertFalse(lookup.givenUp());
        assertTrue(lookup.giveUp());
        assertFalse(lookup.giveUp());
        assertTrue(lookup.givenUp());
        assertSame(lookup, lookups.underWay("slow.example"));
    }
}
