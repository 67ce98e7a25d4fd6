package io.grapevine.cluster;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Accepts each authentic frame at most once: its send time must lie within the replay window of
 * this node's clock, and its nonce must not have been seen inside that window.
 *
 * <p>Nonces are remembered until their frame would be too old anyway. When more than
 * {@code capacity} are remembered those sent earliest are forgotten, and from then on frames sent no
 * later than the last forgotten one are refused as too old, so a forgotten nonce can never be replayed.
 * Forgetting by send time, not by arrival, keeps that floor at the earliest clock among the senders: a
 * member whose clock runs ahead (within the window) cannot lift it above the others' send times.
 * Thread-safe; called on the transport's I/O thread.
 */
final class ReplayGuard {

    enum Verdict { FRESH, STALE, REPLAYED }

    private final long windowMillis;
    private final int capacity;
    /** Nonce to send time. */
    private final Map<ByteBuffer, Long> seen = new HashMap<>();
    /** The same nonces by send time, earliest first. */
    private final TreeMap<Long, List<ByteBuffer>> bySendTime = new TreeMap<>();
    private long floorMillis = Long.MIN_VALUE;

    ReplayGuard(long windowMillis, int capacity) {
        this.windowMillis = windowMillis;
        this.capacity = capacity;
    }

    synchronized Verdict check(long sentMillis, byte[] nonce, long nowMillis) {
        long oldest = nowMillis - windowMillis;
        while (!bySendTime.isEmpty() && bySendTime.firstKey() < oldest) {
            forgetEarliest();
        }
        if (sentMillis < oldest || sentMillis > nowMillis + windowMillis || sentMillis <= floorMillis) {
            return Verdict.STALE;
        }
        ByteBuffer key = ByteBuffer.wrap(nonce.clone());
        if (seen.putIfAbsent(key, sentMillis) != null) {
            return Verdict.REPLAYED;
        }
        bySendTime.computeIfAbsent(sentMillis, t -> new ArrayList<>(1)).add(key);
        if (seen.size() > capacity) {
            floorMillis = Math.max(floorMillis, bySendTime.firstKey());
            forgetEarliest();
        }
        return Verdict.FRESH;
    }

    synchronized int size() {
        return seen.size();
    }

    /** Forgets the nonces of the earliest send time remembered. */
    private void forgetEarliest() {
        for (ByteBuffer nonce : bySendTime.pollFirstEntry().getValue()) {
            seen.remove(nonce);
        }
    }
}
