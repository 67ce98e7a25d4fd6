package io.grapevine.proxy.stats;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The recent events an operator reads on the stats page's timeline: members joining, leaving, crashing;
 * servers added to or removed from the table, going down or up, draining, in maintenance, reweighted; failed
 * reloads. A bounded ring: the newest {@code capacity} events are kept, older ones are overwritten.
 *
 * <p>Threads: any thread adds (the membership view, the table publisher, the admin thread's collector); adding
 * takes no lock (one atomic increment and one array store) and never blocks. Readers see each event whole:
 * events are immutable and a slot that a writer is replacing is skipped.
 */
public final class EventLog {

    /**
     * One event.
     *
     * @param seq     position in the log, from 1, increasing
     * @param atMillis wall-clock time
     * @param kind    what happened, one word: {@code join}, {@code leave}, {@code crash}, {@code update} (gossip
     *                members); {@code add}, {@code remove}, {@code up}, {@code down}, {@code drain}, {@code maint},
     *                {@code slowstart}, {@code weight} (servers of the table); {@code reload}, {@code error}
     * @param subject the member or server it is about ({@code web-3}, {@code web@10.0.0.5:8080})
     * @param pool    the pool of a server, or {@code null}
     * @param detail  one line for a human: the cause, the state before and after
     */
    public record Event(long seq, long atMillis, String kind, String subject, String pool, String detail) {
    }

    private final AtomicReferenceArray<Event> ring;
    private final AtomicLong last = new AtomicLong();

    public EventLog(int capacity) {
        this.ring = new AtomicReferenceArray<>(capacity);
    }

    /** Any thread: records an event now. */
    public void add(String kind, String subject, String pool, String detail) {
        add(System.currentTimeMillis(), kind, subject, pool, detail);
    }

    /** Any thread: records an event that happened at {@code atMillis} (wall clock), a moment ago. */
    public void add(long atMillis, String kind, String subject, String pool, String detail) {
        long seq = last.incrementAndGet();
        ring.set((int) ((seq - 1) % ring.length()), new Event(seq, atMillis, kind, subject, pool, detail));
    }

    /** The kept events after {@code afterSeq}, oldest first. */
    public List<Event> since(long afterSeq) {
        long newest = last.get();
        long oldest = Math.max(afterSeq + 1, newest - ring.length() + 1);
        List<Event> out = new ArrayList<>((int) Math.max(0, newest - oldest + 1));
        for (long seq = Math.max(1, oldest); seq <= newest; seq++) {
            Event e = ring.get((int) ((seq - 1) % ring.length()));
            if (e != null && e.seq() == seq) {
                out.add(e);
            }
        }
        return out;
    }

    /** Every kept event, oldest first. */
    public List<Event> all() {
        return since(0);
    }

    /** The sequence number of the newest event (0: none yet). */
    public long lastSeq() {
        return last.get();
    }

    public int capacity() {
        return ring.length();
    }
}
