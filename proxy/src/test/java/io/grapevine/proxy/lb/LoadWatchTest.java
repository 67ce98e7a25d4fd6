package io.grapevine.proxy.lb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The change bits that tell leastconn's trees which servers changed, under writers on other threads. */
class LoadWatchTest {

    @Test
    void eachLoopDrainsEveryChangeOnceAndOnlyItsOwn() {
        LoadWatch watch = new LoadWatch(10_000, 2);
        watch.handle(0).changed();
        watch.handle(4_097).changed();
        watch.handle(9_999).changed();
        watch.handle(4_097).changed(); // again before a drain: reported once
        List<Integer> first = new ArrayList<>();
        watch.drain(0, first::add);
        assertEquals(List.of(0, 4_097, 9_999), first);
        List<Integer> again = new ArrayList<>();
        watch.drain(0, again::add);
        assertEquals(List.of(), again, "a drained change is forgotten");
        List<Integer> other = new ArrayList<>();
        watch.drain(1, other::add);
        assertEquals(List.of(0, 4_097, 9_999), other, "the other loop still sees them");
    }

    @Test
    void noChangeMadeOnAnotherThreadIsLost() throws InterruptedException {
        int endpoints = 10_000;
        LoadWatch watch = new LoadWatch(endpoints, 1);
        // Each writer bumps a version of an endpoint, then reports it; whenever the reader drains an endpoint it
        // records the version it read. After the writers stop and a last drain, the reader must have seen the last
        // version of every endpoint: a change reported while the reader was clearing bits was not dropped.
        int[] version = new int[endpoints];
        int[] seen = new int[endpoints];
        Object[] locks = new Object[endpoints];
        for (int i = 0; i < endpoints; i++) {
            locks[i] = new Object();
        }
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> writers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            SplittableRandom random = new SplittableRandom(w);
            Thread t = new Thread(() -> {
                for (int k = 0; k < 200_000; k++) {
                    int i = random.nextInt(endpoints);
                    synchronized (locks[i]) {
                        version[i]++;
                    }
                    watch.handle(i).changed();
                }
            });
            writers.add(t);
            t.start();
        }
        BitSet drained = new BitSet();
        LoadWatch.Changes read = i -> {
            synchronized (locks[i]) {
                seen[i] = version[i];
            }
            drained.set(i);
        };
        Thread reader = new Thread(() -> {
            while (!stop.get()) {
                watch.drain(0, read);
            }
        });
        reader.start();
        for (Thread t : writers) {
            t.join();
        }
        stop.set(true);
        reader.join();
        watch.drain(0, read);
        int changed = 0;
        for (int i = 0; i < endpoints; i++) {
            assertEquals(version[i], seen[i], "endpoint " + i + ": its last change was never drained");
            changed += version[i] > 0 ? 1 : 0;
        }
        assertTrue(changed > endpoints / 2 && drained.cardinality() == changed);
    }
}
