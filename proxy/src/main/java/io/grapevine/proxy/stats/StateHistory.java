package io.grapevine.proxy.stats;

/**
 * When a server's (or pool's) state last changed, and how long it has been down in all: what HAProxy shows as
 * {@code lastchg}, {@code chkdown} and {@code downtime}. The state is sampled by one writer, the admin
 * thread's collector (every second, and whenever a page is asked for), which catches every change however it
 * came about: health checks, failed requests, gossip, the runtime API, a passive mark-down that expired.
 *
 * <p>Durations are measured on the monotonic clock ({@link System#nanoTime}), so a step of the wall clock (NTP
 * setting it at boot, a resumed VM) neither adds downtime nor takes any away: {@code downtime} is a counter and
 * never goes down. The wall clock only says when the last change was, for people.
 *
 * <p>Thread: written by the collector only; fields are volatile so that tests and other readers see them.
 */
public final class StateHistory {

    private final long createdMillis = System.currentTimeMillis();
    private volatile String state;
    private volatile long sinceMillis;
    /** {@link #sinceMillis} on the monotonic clock. */
    private volatile long sinceNanos;
    private volatile long downTransitions;
    private volatile long downtimeNanos;

    /**
     * The collector saw {@code newState} at {@code nowNanos} ({@link System#nanoTime}), which the wall clock read as
     * {@code nowMillis}; {@code "down"} is the state whose time is counted.
     *
     * @return the previous state when this is a change, or null (no change, or a first sighting that is none)
     */
    public String observe(String newState, long nowNanos, long nowMillis) {
        String previous = state;
        if (previous == null) {
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

    /** The state last seen, or null before the first sighting. */
    public String state() {
        return state;
    }

    /** When the state last changed (wall clock); the first sighting counts as a change. */
    public long sinceMillis() {
        return sinceMillis;
    }

    /** Changes to down since the first sighting. */
    public long downTransitions() {
        return downTransitions;
    }

    /** Time spent down, in milliseconds, up to {@code nowNanos} ({@link System#nanoTime}). */
    public long downtimeMillis(long nowNanos) {
        String s = state;
        long nanos = downtimeNanos + (s != null && isDown(s) ? Math.max(0, nowNanos - sinceNanos) : 0);
        return nanos / 1_000_000;
    }
}
