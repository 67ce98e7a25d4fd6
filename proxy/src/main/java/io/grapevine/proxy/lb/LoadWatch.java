package io.grapevine.proxy.lb;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The endpoints of one pool whose load or availability changed since each event loop last looked: how the
 * balancers that keep endpoints ordered by load ({@link LeastLoadedTree}) learn of changes made on other threads
 * (a request that ends on another event loop, a health check, the admin API). One per pool and table generation,
 * shared by the pool's event loops; each endpoint reports through its {@link Handle}.
 *
 * <p>One bit per endpoint and event loop, in words of 64, with a summary bit per word, so that a loop finds the few
 * changed endpoints among thousands by reading a handful of words. A writer sets the endpoint's bit, then the
 * word's summary bit; a reader clears a summary bit, then takes (reads and clears) the word. Every access is
 * volatile, so a change made before {@link Handle#changed()} is seen by the read of the endpoint that the taking of
 * its bit leads to, and no change is lost: either the reader takes the bit the writer set, or the writer sets the
 * summary bit again after the reader cleared it. A bit already set is not written again (changes in a burst cost
 * one atomic write per loop).
 *
 * <p>Thread-safe: {@link Handle#changed()} from any thread; {@link #drain} from the loop it names only.
 */
public final class LoadWatch {

    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);

    /** What is told of changes to one endpoint: the endpoint calls {@link #changed()}. */
    public static final class Handle {
        private final LoadWatch watch;
        private final int index;

        Handle(LoadWatch watch, int index) {
            this.watch = watch;
            this.index = index;
        }

        /** The endpoint's in-flight count, availability or weight changed. Any thread; lock-free. */
        public void changed() {
            watch.changed(index);
        }
    }

    /** Receives the indexes of the endpoints that changed. */
    interface Changes {
        void changed(int index);
    }

    /** Per loop: bit {@code i} of word {@code i / 64}: endpoint {@code i} changed. */
    private final long[][] changed;
    /** Per loop: bit {@code w} of word {@code w / 64}: word {@code w} of {@link #changed} may have a bit set. */
    private final long[][] summary;

    LoadWatch(int endpoints, int loops) {
        int words = (endpoints + 63) >>> 6;
        changed = new long[loops][words];
        summary = new long[loops][(words + 63) >>> 6];
    }

    Handle handle(int index) {
        return new Handle(this, index);
    }

    private void changed(int index) {
        int word = index >>> 6;
        long bit = 1L << index;
        int summaryWord = word >>> 6;
        long summaryBit = 1L << word;
        for (int loop = 0; loop < changed.length; loop++) {
            setBit(changed[loop], word, bit);
            setBit(summary[loop], summaryWord, summaryBit);
        }
    }

    private static void setBit(long[] words, int word, long bit) {
        if (((long) WORD.getVolatile(words, word) & bit) == 0) {
            WORD.getAndBitwiseOr(words, word, bit);
        }
    }

    /** Hands every endpoint that changed since loop {@code loop} last drained to {@code to}, and forgets them. */
    void drain(int loop, Changes to) {
        long[] sum = summary[loop];
        long[] words = changed[loop];
        for (int s = 0; s < sum.length; s++) {
            if ((long) WORD.getVolatile(sum, s) == 0) {
                continue;
            }
            long wordBits = (long) WORD.getAndSet(sum, s, 0L);
            while (wordBits != 0) {
                int word = (s << 6) + Long.numberOfTrailingZeros(wordBits);
                wordBits &= wordBits - 1;
                long bits = (long) WORD.getAndSet(words, word, 0L);
                while (bits != 0) {
                    to.changed((word << 6) + Long.numberOfTrailingZeros(bits));
                    bits &= bits - 1;
                }
            }
        }
    }
}
