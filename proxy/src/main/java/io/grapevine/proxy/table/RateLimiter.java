package io.grapevine.proxy.table;

import io.grapevine.proxy.config.Networks;
import io.grapevine.proxy.config.RateLimit;
import io.grapevine.proxy.lb.XxHash64;
import java.net.InetAddress;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The clients of one pool and how much of their rate limit each has used: a token bucket per client, kept as the
 * generic cell rate algorithm keeps it, in one number, the time its bucket will be full again (the "theoretical
 * arrival time"). A request at {@code now} is admitted when, after adding its own {@code interval}
 * ({@code period / requests}) to that time, the bucket would not be over {@code burst} requests' worth:
 * {@code max(full, now) + interval - now <= burst * interval}. A client whose time is past holds nothing: its
 * bucket is full, which is what a client never seen has.
 *
 * <p>Bounded: {@link RateLimit#maxKeys} clients are tracked at once, in a table of fixed size allocated once (16
 * bytes a client); a client finds its slot among {@value #PROBES} after its key's hash. A new client takes the first
 * of them that is empty or whose bucket is full again; when all are in use, it takes the one whose bucket will be
 * full soonest, whose client is the least limited of them (forgetting it gives that client a full bucket early: the
 * table errs on the side of admitting, as a stick table that is full does). Keys are the 64-bit hash of their bytes
 * under a seed chosen at random per limiter, so that no client can choose a key that shares another's bucket; an
 * address and a header value of the same bytes are hashed under different seeds.
 *
 * <p>Threading: every event loop asks at once. The table is split in {@value #STRIPES} stripes, each under its own
 * monitor held for a few probes, so that two loops meet only when their clients' hashes fall in the same stripe. No
 * allocation per request.
 */
public final class RateLimiter {

    static final int PROBES = 8;
    static final int STRIPES = 64;

    private final RateLimit limit;
    /** Nanoseconds between two requests at the limit's rate. */
    private final long interval;
    /** How far ahead of now a client's full-again time may be after its request is admitted: burst intervals. */
    private final long tolerance;
    private final long seed = ThreadLocalRandom.current().nextLong();
    private final Stripe[] stripes;
    private final int slotMask;
    /** The clients never limited, by address; {@code null} when none are. */
    private final Networks exempt;

    /** One stripe's slots: a key (0: empty) and its full-again time, side by side. Guarded by its own monitor. */
    private static final class Stripe {
        final long[] slots;

        Stripe(int slotCount) {
            slots = new long[2 * slotCount];
        }
    }

    public RateLimiter(RateLimit limit) {
        if (!limit.enabled()) {
            throw new IllegalArgumentException("a rate limit that is off limits nothing");
        }
        this.limit = limit;
        this.interval = Math.max(1, limit.periodMillis() * 1_000_000L / limit.requests());
        // At most a quarter of the range of nanoTime, so that the sums below cannot overflow (a day's period at one
        // request per day, with a burst of a billion, is some 2,700 millennia: the same as no bound).
        this.tolerance = (double) interval * limit.burst() >= Long.MAX_VALUE / 4 ? Long.MAX_VALUE / 4
                : interval * limit.burst();
        int perStripe = Integer.highestOneBit(Math.max(PROBES, (limit.maxKeys() + STRIPES - 1) / STRIPES) * 2 - 1);
        this.stripes = new Stripe[STRIPES];
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new Stripe(perStripe);
        }
        this.slotMask = perStripe - 1;
        this.exempt = limit.exempt().isEmpty() ? null : Networks.of(limit.exempt());
    }

    /**
     * Whether the client at {@code address} (the connection's peer, or what a PROXY protocol header announced) is
     * never limited; {@code null}: not an IP connection, limited.
     */
    public boolean exempts(InetAddress address) {
        return exempt != null && address != null && exempt.contains(address);
    }

    /** Whether some networks are exempt (else {@link #exempts} is false for every client). */
    public boolean hasExemptions() {
        return exempt != null;
    }

    /** The limit this limiter keeps. */
    public RateLimit limit() {
        return limit;
    }

    /** Clients this limiter can track at once (its table's size: {@link RateLimit#maxKeys} rounded up). */
    int capacity() {
        return STRIPES * (slotMask + 1);
    }

    /**
     * Counts a request of the client {@code key[from, to)} at {@code nowNanos} ({@link System#nanoTime}).
     *
     * @param address whether the key is the client's address rather than a header's value: the two are apart, so that
     *                no header value can name an address's bucket (a client sending another's address as its key
     *                would use up the bucket of that address's requests without the header)
     * @return 0 when it is admitted; otherwise how many nanoseconds until it would be (its {@code Retry-After}), at
     * least 1
     */
    public long acquire(byte[] key, int from, int to, boolean address, long nowNanos) {
        long hash = XxHash64.hash(key, from, to - from, address ? ~seed : seed);
        long k = hash == 0 ? 1 : hash;
        Stripe stripe = stripes[(int) (hash >>> 58) & (STRIPES - 1)];
        long[] slots = stripe.slots;
        int start = (int) hash & slotMask;
        synchronized (stripe) {
            int free = -1;
            int soonest = -1;
            for (int p = 0; p < PROBES; p++) {
                int i = 2 * ((start + p) & slotMask);
                long slotKey = slots[i];
                if (slotKey == k) {
                    return admit(slots, i, nowNanos);
                }
                if (free < 0) {
                    if (slotKey == 0 || slots[i + 1] - nowNanos <= 0) {
                        free = i; // empty, or its client's bucket is full again: nothing is lost by taking it
                    } else if (soonest < 0 || slots[i + 1] - slots[soonest + 1] < 0) {
                        soonest = i;
                    }
                }
            }
            int i = free >= 0 ? free : soonest;
            slots[i] = k;
            slots[i + 1] = nowNanos; // a new client: its bucket is full
            return admit(slots, i, nowNanos);
        }
    }

    /** The request of the client in {@code slots[i]}: admitted (its time moves on an interval) or not (no change). */
    private long admit(long[] slots, int i, long nowNanos) {
        long full = slots[i + 1];
        long base = full - nowNanos > 0 ? full : nowNanos;
        long next = base + interval;
        long over = next - nowNanos - tolerance;
        if (over > 0) {
            return over;
        }
        slots[i + 1] = next;
        return 0;
    }
}
