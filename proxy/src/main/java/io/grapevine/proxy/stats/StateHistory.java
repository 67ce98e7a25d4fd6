package io.grapevine.proxy.stats;

import java.util.Objects;

/**
 * When a server's (or pool's) state last changed, and how long it has been down in all: what HAProxy shows as
 * {@code lastchg}, {@code chkdown} and {@code downtime}.
 *
 * <p>A server's changes are recorded where they are made, as HAProxy counts them at their source: whoever changes
 * what its state is made of records it at once ({@code Server.noteState}: the health checker's thread as its checks
 * take it down or up, the event loop of the failed request that ejects it, the table thread for gossip's word, other
 * proxies' findings and the runtime API), and the admin thread's collector records it every second and before a page
 * is read. A server down for less than a second (a check flap, a short ejection, a crash gossip took back) is thus
 * counted, timed and dated as any other. A change known in advance, the end of a mark-down that runs out at a given
 * moment, is recorded with the state that brings it ({@link Source#changesAt}) and takes effect at that moment,
 * whoever records or reads next. A pool's state (up while one of its servers is) is recorded as one of its servers'
 * changes, and by the collector.
 *
 * <p>Durations are measured on the monotonic clock ({@link System#nanoTime}), so a step of the wall clock (NTP
 * setting it at boot, a resumed VM) neither adds downtime nor takes any away: {@code downtime} is a counter and
 * never goes down. The wall clock only says when the last change was, for people.
 *
 * <p>Threads: any; every field is guarded by this object's monitor, taken only when a state may have changed and when
 * the collector samples or a page reads, never on a request's path. The state is read from its {@link Source} under
 * the monitor, after the recorder changed it: of two threads that change a server at once, the later to record sees
 * both changes, so the state recorded last is the state the server is in.
 */
public final class StateHistory {

    /** What a state is read from. */
    public interface Source {
        /** The state at {@code nowNanos}, as of now: {@code "down"} is the state whose time is counted. */
        String stateAt(long nowNanos);

        /**
         * When the state at {@code nowNanos} ends by itself, nothing else changing (a mark-down that runs out), as a
         * {@link System#nanoTime} later than {@code nowNanos}; 0 when it does not.
         */
        long changesAt(long nowNanos);
    }

    /** Told of each change recorded, under the history's monitor: it must be quick and take no lock. */
    public interface Changes {
        void changed(String before, String after, long atMillis);
    }

    private final long createdMillis = System.currentTimeMillis();
    private String state;
    private long sinceMillis;
    /** {@link #sinceMillis} on the monotonic clock. */
    private long sinceNanos;
    private long downTransitions;
    private long downtimeNanos;
    /** The state the current one becomes at {@link #laterNanos}, unless a change is recorded first; null: none. */
    private String later;
    private long laterNanos;
    /** Changes recorded, the first sighting included. */
    private long changesMade;

    /**
     * Records the state {@code source} is in at {@code nowNanos}, read under this monitor, and the change it is known
     * to make later; each change, the one made by the end of a mark-down since included, is told to {@code changes}.
     * A time earlier than the last change (another thread took its clock reading first) counts as that change's.
     *
     * @return whether the state, or the change it is known to make later, is another than before: what is made of it
     *         (a pool's state, of its servers') is to be recorded again
     */
    public synchronized boolean record(Source source, long nowNanos, long nowMillis, Changes changes) {
        long changesBefore = changesMade;
        String laterBefore = later;
        long laterNanosBefore = laterNanos;
        long now = Math.max(nowNanos, sinceNanos);
        applyLater(now, nowNanos, nowMillis, changes);
        now = Math.max(now, sinceNanos);
        String before = change(source.stateAt(now), now, nowMillis);
        if (before != null) {
            changes.changed(before, state, sinceMillis);
        }
        long at = source.changesAt(now);
        later = at != 0 && at - now > 0 ? source.stateAt(at) : null;
        if (later != null && later.equals(state)) {
            later = null;
        }
        laterNanos = later != null ? at : 0;
        return changesMade != changesBefore || laterNanos != laterNanosBefore
                || !Objects.equals(later, laterBefore);
    }

    /** The change known in advance, if it is due by {@code now}: made at its own time. */
    private void applyLater(long now, long clockNanos, long clockMillis, Changes changes) {
        String next = later;
        if (next == null || now - laterNanos < 0) {
            return;
        }
        later = null;
        long atMillis = clockMillis - (clockNanos - laterNanos) / 1_000_000;
        String before = change(next, laterNanos, atMillis);
        if (before != null) {
            changes.changed(before, next, atMillis);
        }
    }

    private String change(String newState, long nowNanos, long nowMillis) {
        String previous = state;
        if (previous == null) {
            changesMade++;
            // The first sighting. A server enters the table up and takes requests at once, so one seen down has
            // gone down since (a failed request, a check) and that is a change; an up one has been up since it
            // was created; an administrative state (draining, maint) was its state from the start.
            state = newState;
            sinceMillis = newState.equals("up") ? Math.min(createdMillis, nowMillis) : nowMillis;
            sinceNanos = nowNanos;
            if (isDown(newState)) {
                downTransitions++;
                return "up";
            }
            return null;
        }
        if (newState.equals(previous)) {
            return null;
        }
        changesMade++;
        if (isDown(previous)) {
            downtimeNanos += Math.max(0, nowNanos - sinceNanos);
        }
        if (isDown(newState)) {
            downTransitions++;
        }
        state = newState;
        sinceMillis = nowMillis;
        sinceNanos = nowNanos;
        return previous;
    }

    private static boolean isDown(String state) {
        return "down".equals(state);
    }

    /** The state last recorded, or null before the first. */
    public synchronized String state() {
        return state;
    }

    /** When the state last changed (wall clock); the first sighting counts as a change. */
    public synchronized long sinceMillis() {
        return sinceMillis;
    }

    /** Changes to down since the first sighting. */
    public synchronized long downTransitions() {
        return downTransitions;
    }

    /**
     * Time spent down, in milliseconds, up to {@code nowNanos} ({@link System#nanoTime}); a down known to end by then
     * counts up to its end.
     */
    public synchronized long downtimeMillis(long nowNanos) {
        long nanos = downtimeNanos;
        if (state != null && isDown(state)) {
            long end = later != null && nowNanos - laterNanos > 0 ? laterNanos : nowNanos;
            nanos += Math.max(0, end - sinceNanos);
        }
        return nanos / 1_000_000;
    }
}
