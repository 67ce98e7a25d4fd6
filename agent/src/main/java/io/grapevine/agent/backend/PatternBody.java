package io.grapevine.agent.backend;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.security.MessageDigest;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * The body of {@code /bytes}: byte {@code i} is {@code (i * 31 + 7) & 0xff}.
 *
 * <p>The pattern repeats every 256 bytes, so every 64 KiB piece that starts at a multiple
 * of 64 KiB is the same: one shared direct buffer, written once here and only ever read
 * through slices afterwards, serves every response on every event loop.
 */
final class PatternBody {
    static final int PIECE_SIZE = 64 * 1024;

    private static final byte[] PATTERN = new byte[PIECE_SIZE];
    private static final ByteBuf PIECE;
    /** Up to this many bytes the digest is computed on the event loop (a millisecond or so). */
    private static final long INLINE_DIGEST_LIMIT = 1 << 20;
    private static final int CACHED_DIGESTS = 64;
    private static final Map<Long, String> DIGESTS = Collections.synchronizedMap(
            new LinkedHashMap<>(16, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<Long, String> eldest) {
                    return size() > CACHED_DIGESTS;
                }
            });

    /** Digests being computed off the event loop, by length; guarded by itself. */
    private static final Map<Long, Computation> COMPUTING = new HashMap<>();
    private static final AtomicLong COMPUTED = new AtomicLong();
    private static final AtomicLong DIGESTED = new AtomicLong();

    static {
        for (int i = 0; i < PIECE_SIZE; i++) {
            PATTERN[i] = at(i);
        }
        // Outside leak detection and reference counting: it lives as long as the class.
        ByteBuf piece = new UnpooledByteBufAllocator(true, true).directBuffer(PIECE_SIZE, PIECE_SIZE);
        PIECE = Unpooled.unreleasableBuffer(piece.writeBytes(PATTERN));
    }

    private PatternBody() {
    }

    /** Byte {@code i} of any {@code /bytes} body. */
    static byte at(long i) {
        return (byte) (i * 31 + 7);
    }

    /**
     * The next {@code n <= PIECE_SIZE} bytes of a body whose bytes so far are a multiple of
     * {@code PIECE_SIZE}. Writing it needs no release (releasing it is a no-op).
     */
    static ByteBuf piece(int n) {
        return PIECE.slice(0, n);
    }

    /**
     * One caller's wait for the digest of a length: {@link #future} completes with it; {@link #abandon} says the
     * caller no longer needs it. Used from the caller's thread only (a connection's event loop).
     */
    static final class Digest {
        private final CompletableFuture<String> future;
        /** The shared computation waited for; null when the digest was known or computed inline. */
        private final Computation computation;
        private boolean abandoned;

        private Digest(CompletableFuture<String> future, Computation computation) {
            this.future = future;
            this.computation = computation;
        }

        /** Completes with the lower-case hex digest; shared with other callers: never to be completed or cancelled. */
        CompletableFuture<String> future() {
            return future;
        }

        /** No longer waited for: once no caller waits, the computation stops at its next piece. Idempotent. */
        void abandon() {
            if (computation != null && !abandoned) {
                abandoned = true;
                computation.leave();
            }
        }
    }

    /** A digest computed off the event loop for every caller waiting for its length; in COMPUTING while it runs. */
    private static final class Computation implements Runnable {
        private final long length;
        private final CompletableFuture<String> result = new CompletableFuture<>();
        /** Callers that have not abandoned it; guarded by COMPUTING. */
        private int waiters;
        /** Set once the last waiter left; read by the computing thread between pieces. */
        private volatile boolean abandoned;

        Computation(long length) {
            this.length = length;
        }

        @Override
        public void run() {
            try {
                String hex = digest(length, () -> abandoned);
                if (hex == null) {
                    result.cancel(false);
                } else {
                    result.complete(hex); // cached by digest() before this completes, so none is missed
                }
            } catch (RuntimeException | Error e) {
                result.completeExceptionally(e);
            } finally {
                synchronized (COMPUTING) {
                    COMPUTING.remove(length, this);
                }
            }
        }

        private void leave() {
            synchronized (COMPUTING) {
                if (--waiters == 0 && !result.isDone()) {
                    abandoned = true;
                    COMPUTING.remove(length, this); // a later request for the length starts afresh
                }
            }
        }
    }

    /**
     * The SHA-256 (lower-case hex) of the first {@code n} pattern bytes: from a small cache,
     * computed inline when short, otherwise on the common pool so the event loop (shared by
     * every worker in the process) keeps serving meanwhile. Callers asking for a length whose
     * digest is being computed wait for that computation, so a burst of requests for one new
     * length costs one digest; it stops when every one of them has abandoned it.
     */
    static Digest sha256Hex(long n) {
        String known = DIGESTS.get(n);
        if (known != null) {
            return new Digest(CompletableFuture.completedFuture(known), null);
        }
        if (n <= INLINE_DIGEST_LIMIT) {
            return new Digest(CompletableFuture.completedFuture(digest(n, () -> false)), null);
        }
        Computation computation;
        boolean first = false;
        synchronized (COMPUTING) {
            computation = COMPUTING.get(n);
            if (computation == null) {
                computation = new Computation(n);
                COMPUTING.put(n, computation);
                first = true;
            }
            computation.waiters++;
        }
        if (first) {
            CompletableFuture.runAsync(computation);
        }
        return new Digest(computation.result, computation);
    }

    /** Digests computed so far (not served from the cache), for tests. */
    static long digestsComputed() {
        return COMPUTED.get();
    }

    /** Body bytes run through SHA-256 so far, for tests. */
    static long bytesDigested() {
        return DIGESTED.get();
    }

    /** Streams the pattern through SHA-256 one piece at a time; null if {@code stop} said so between pieces. */
    private static String digest(long n, BooleanSupplier stop) {
        COMPUTED.incrementAndGet();
        MessageDigest sha256 = EchoExchange.newSha256();
        for (long left = n; left > 0; left -= PIECE_SIZE) {
            if (stop.getAsBoolean()) {
                return null;
            }
            int piece = (int) Math.min(left, PIECE_SIZE);
            sha256.update(PATTERN, 0, piece);
            DIGESTED.addAndGet(piece);
        }
        String hex = HexFormat.of().formatHex(sha256.digest());
        DIGESTS.put(n, hex);
        return hex;
    }
}
