package io.grapevine.proxy.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class EventLogTest {

    @Test
    void keepsTheNewestEventsInOrder() {
        EventLog log = new EventLog(3);
        for (int i = 1; i <= 5; i++) {
            log.add("up", "s" + i, null, "detail " + i);
        }
        assertEquals(List.of("s3", "s4", "s5"), log.all().stream().map(EventLog.Event::subject).toList());
        assertEquals(List.of(4L, 5L), log.since(3).stream().map(EventLog.Event::seq).toList());
        assertEquals(5, log.lastSeq());
    }

    @Test
    void writersOnManyThreadsLoseNothingTheRingKeeps() throws Exception {
        EventLog log = new EventLog(10_000);
        int threads = 4;
        int each = 2_000;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> list = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread thread = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < each; i++) {
                    log.add("up", "t" + id, null, Integer.toString(i));
                }
            });
            thread.start();
            list.add(thread);
        }
        start.countDown();
        for (Thread t : list) {
            t.join();
        }
        List<EventLog.Event> all = log.all();
        assertEquals(threads * each, all.size());
        for (int i = 1; i < all.size(); i++) {
            assertTrue(all.get(i).seq() == all.get(i - 1).seq() + 1, "in sequence");
        }
    }
}
