package io.grapevine.proxy.table;

/**
 * One passive ejection of a server (failed requests took it out of balancing for a while), and the rules that
 * make it, in the manner of Envoy's outlier detection:
 *
 * <ul>
 *   <li>the n-th ejection in a row lasts n times the base time ({@code passive_health.fail_timeout_ms}), up to
 *       {@code max_ejection_ms} (Envoy: {@code base_ejection_time} times the ejection count, capped by
 *       {@code max_ejection_time}), where the count stops growing ({@link #maxCount});</li>
 *   <li>the count decays while the server behaves: each base time it serves after coming back takes one off
 *       (Envoy takes one off per {@code interval} the host is not ejected);</li>
 *   <li>an ejection is allowed only while it keeps the ejected servers of the pool within
 *       {@code max_ejected_percent} of them, the ejection about to be made counted, except that one server of a
 *       pool of two or more may always be ejected (Envoy's rule plus its {@code always_eject_one_host}, without
 *       which a pool of two could eject nobody at a percentage below 50).</li>
 * </ul>
 *
 * <p>The static methods are pure arithmetic: any thread.
 *
 * @param server        the ejected server
 * @param count         its ejection count, this one included (1 for a first ejection)
 * @param durationNanos how long this one lasts
 * @param untilNanos    {@link System#nanoTime()} when it ends
 */
public record Ejection(Server server, int count, long durationNanos, long untilNanos) {

    /** How long the {@code count}-th ejection in a row lasts: base times count, at most {@code max(base, cap)}. */
    public static long durationNanos(int count, long baseNanos, long capNanos) {
        long cap = Math.max(baseNanos, capNanos);
        if (count <= 0) {
            return baseNanos;
        }
        return baseNanos > cap / count ? cap : Math.min(cap, baseNanos * count);
    }

    /**
     * The highest ejection count: the first whose ejection lasts the cap ({@code max(base, cap)}). The count grows no
     * further, as Envoy's ejection time multiplier stops where it reaches {@code max_ejection_time}, so that what a
     * server must serve to be forgiven ({@link #decayedCount}) is bounded as its ejections are, however long it failed.
     */
    public static int maxCount(long baseNanos, long capNanos) {
        long base = Math.max(1, baseNanos);
        long cap = Math.max(base, capNanos);
        return (int) Math.min(Integer.MAX_VALUE, cap / base + (cap % base == 0 ? 0 : 1));
    }

    /**
     * The ejection count left of {@code count} after the server served {@code servedNanos} since it came back: one
     * less per whole {@code baseNanos}, never below 0.
     */
    public static int decayedCount(int count, long servedNanos, long baseNanos) {
        if (count <= 0 || servedNanos <= 0) {
            return Math.max(0, count);
        }
        long steps = servedNanos / Math.max(1, baseNanos);
        return (int) Math.max(0, count - steps);
    }

    /**
     * Whether one more server of a pool of {@code poolSize} may be ejected while {@code ejectedNow} are: when the
     * ejected would then be at most {@code maxPercent} of the pool, or when none is ejected and the pool has two
     * servers or more. {@code maxPercent} 0 allows none.
     */
    public static boolean allowed(int ejectedNow, int poolSize, int maxPercent) {
        if (maxPercent <= 0 || ejectedNow >= poolSize) {
            return false;
        }
        return 100L * (ejectedNow + 1) <= (long) maxPercent * poolSize || (ejectedNow == 0 && poolSize >= 2);
    }
}
