package io.grapevine.cluster;

import java.nio.ByteBuffer;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Accepts each authentic frame at most once: its send time must lie within the replay window of
 * this node's clock, and its nonce must not have been seen inside that window.
 *
 * <p>Nonces are remembered until their frame would be too old anyway. When more than
 * {@code capacity} are remembered the oldest are forgotten, and from then on frames sent no later
 * than the last forgotten one are refused as too old, so a forgotten nonce can never be replayed.
 * Thread-safe; called on the transport's I/O thread.
 */
final class ReplayGuard {

    enum Verdict { FRESH, STALE, REPLAYED }

    private final long windowMillis;
    private final int capacity;
    /** Nonce to send time, in arrival order. */
    private final LinkedHashMap<ByteBuffer, Long> seen = new LinkedHashMap<>();
    private long floorMillis = Long.MIN_VALUE;

    ReplayGuard(long windowMillis, int capacity) {
        this.windowMillis = windowMillis;
        this.capacity = capacity;
    }

    synchronized Verdict check(long sentMillis, byte[] nonce, long nowMillis) {
        long oldest = nowMillis - windowMillis;
        forgetOlderThan(oldest);
        if (sentMillis < oldest || sentMillis > nowMillis + windowMillis || sentMillis <= floorMillis) {
            return Verdict.STALE;
        }
        ByteBuffer key = ByteBuffer.wrap(nonce.clone());
        if (seen.putIfAbsent(key, sentMillis) != null) {
            return Verdict.REPLAYED;
        }
        if (seen.size() > capacity) {
            Iterator<Map.Entry<ByteBuffer, Long>> eldest = seen.entrySet().iterator();
            floorMillis = Math.max(floorMillis, eldest.next().getValue());
            eldest.remove();
        }
        return Verdict.FRESH;
    }

    synchronized int size() {
        return seen.size();
    }

    private void forgetOlderThan(long oldest) {
        Iterator<Map.Entry<ByteBuffer, Long>> it = seen.entrySet().iterator();
        // Arrival order is only roughly send order: stop at the first entry still in the window.
        while (it.hasNext()) {
            if (it.next().getValue() >= oldest) {
                return;
            }
            it.remove();
        }
    }
}
