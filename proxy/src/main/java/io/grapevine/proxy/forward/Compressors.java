package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.Compression;
import io.grapevine.proxy.http.CompressionRule;
import io.grapevine.proxy.stats.ProxyStats;
import java.util.ArrayDeque;
import java.util.zip.Deflater;

/**
 * One event loop's gzip compressors: at most {@link #max} responses compressed at once (the loop's share of
 * {@code limits.max_compressing}), and a few idle zlib streams kept for the next responses, so that a response does
 * not allocate and free one (each is about 270 KiB of native memory). Thread: the loop, only.
 */
final class Compressors {

    /** Idle zlib streams a loop keeps; the others are freed at once ({@link Deflater#end}). */
    static final int IDLE_KEPT = 8;

    private final int max;
    private final ProxyStats stats;
    private final ArrayDeque<Deflater> idle = new ArrayDeque<>();
    private final Offer offer = new Offer();
    private int inUse;

    /**
     * @param max   responses this loop may compress at once; 0: none
     * @param stats where a response left uncompressed for want of a compressor is counted
     */
    Compressors(int max, ProxyStats stats) {
        this.max = max;
        this.stats = stats;
    }

    /**
     * {@code compression} offered to the response head parsed next, with this loop's compressors behind its
     * {@link CompressionRule#admit}. One object, reused: the loop parses one head at a time, and the parser is done
     * with it when it returns.
     */
    CompressionRule offer(Compression compression, boolean accepted) {
        offer.compression = compression;
        offer.accepted = accepted;
        return offer;
    }

    private final class Offer implements CompressionRule {
        Compression compression;
        boolean accepted;

        @Override
        public boolean accepted() {
            return accepted;
        }

        @Override
        public long minLength() {
            return compression.minLength();
        }

        @Override
        public boolean compresses(byte[] b, int from, int to) {
            return compression.compresses(b, from, to);
        }

        @Override
        public boolean admit() {
            if (available()) {
                return true;
            }
            stats.compressionsSkipped.increment();
            return false;
        }
    }

    /** This loop's share of {@code total} compressors over {@code loops} loops: rounded up, so 1 or more gets 1 or more. */
    static int shareOf(int total, int loops) {
        return total <= 0 ? 0 : (total + loops - 1) / loops;
    }

    /** Whether another response may be compressed now. */
    boolean available() {
        return inUse < max;
    }

    /** Responses being compressed now. */
    int inUse() {
        return inUse;
    }

    /** A zlib stream at {@code level} (raw deflate: the gzip wrapper is the encoder's); {@link #available} first. */
    Deflater take(int level) {
        Deflater d = idle.pollFirst();
        if (d == null) {
            d = new Deflater(level, true);
        } else {
            d.setLevel(level);
        }
        inUse++;
        return d;
    }

    /** Gives back a stream {@link #take} gave: reset and kept, or freed. */
    void give(Deflater d) {
        inUse--;
        if (idle.size() < IDLE_KEPT) {
            d.reset();
            idle.addFirst(d);
        } else {
            d.end();
        }
    }

    /**
     * Frees the idle streams (the loop stops). A stream given back later is kept idle and left to the JDK, which frees
     * an unreachable zlib stream's memory itself.
     */
    void close() {
        Deflater d;
        while ((d = idle.pollFirst()) != null) {
            d.end();
        }
    }
}
