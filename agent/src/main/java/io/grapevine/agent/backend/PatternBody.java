package io.grapevine.agent.backend;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.security.MessageDigest;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

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

    /** Digests being computed off the event loop, by length; an entry leaves when its future is complete. */
    private static final Map<Long, CompletableFuture<String>> COMPUTING = new ConcurrentHashMap<>();
    private static final AtomicLong COMPUTED = new AtomicLong();

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
     * The SHA-256 (lower-case hex) of the first {@code n} pattern bytes: from a small cache,
     * computed inline when short, otherwise on the common pool so the event loop (shared by
     * every worker in the process) keeps serving meanwhile. Callers asking for a length whose
     * digest is being computed get that computation's future (shared: never to be cancelled
     * or completed by them), so a burst of requests for one new length costs one digest.
     */
    static CompletableFuture<String> sha256Hex(long n) {
        String known = DIGESTS.get(n);
        if (known != null) {
            return CompletableFuture.completedFuture(known);
        }
        if (n <= INLINE_DIGEST_LIMIT) {
            return CompletableFuture.completedFuture(digest(n));
        }
        CompletableFuture<String> mine = new CompletableFuture<>();
        CompletableFuture<String> running = COMPUTING.putIfAbsent(n, mine);
        if (running != null) {
            return running;
        }
        CompletableFuture.runAsync(() -> {
            try {
                mine.complete(digest(n)); // cached by digest() before this completes, so none is missed
            } catch (RuntimeException | Error e) {
                mine.completeExceptionally(e);
            } finally {
                COMPUTING.remove(n, mine);
            }
        });
        return mine;
    }

    /** Digests computed so far (not served from the cache), for tests. */
    static long digestsComputed() {
        return COMPUTED.get();
    }

    /** Streams the pattern through SHA-256 one piece at a time. */
    private static String digest(long n) {
        COMPUTED.incrementAndGet();
        MessageDigest sha256 = EchoExchange.newSha256();
        for (long left = n; left > 0; left -= PIECE_SIZE) {
            sha256.update(PATTERN, 0, (int) Math.min(left, PIECE_SIZE));
        }
        String hex = HexFormat.of().formatHex(sha256.digest());
        DIGESTS.put(n, hex);
        return hex;
    }
}
