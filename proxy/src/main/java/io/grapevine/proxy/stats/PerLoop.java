package io.grapevine.proxy.stats;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One {@code T} per event loop, each written by its loop alone, so that what it counts takes no lock on the data path.
 * A loop's {@code T} is created the first time that loop asks for it (a copy-on-write array under a lock taken only
 * then); afterwards {@link #of} reads one volatile array. Any thread may read them all ({@link #forEach}).
 */
final class PerLoop<T> {

    private static final Object[] NONE = new Object[0];

    private final Supplier<T> factory;
    private volatile Object[] perLoop = NONE;

    PerLoop(Supplier<T> factory) {
        this.factory = factory;
    }

    /** Event loop {@code loop}'s own {@code T}. */
    @SuppressWarnings("unchecked")
    T of(int loop) {
        Object[] r = perLoop;
        Object mine;
        if (loop < r.length && (mine = r[loop]) != null) {
            return (T) mine;
        }
        return create(loop);
    }

    @SuppressWarnings("unchecked")
    private synchronized T create(int loop) {
        Object[] r = perLoop;
        if (loop < r.length && r[loop] != null) {
            return (T) r[loop];
        }
        Object[] grown = Arrays.copyOf(r, Math.max(r.length, loop + 1));
        T mine = factory.get();
        grown[loop] = mine;
        perLoop = grown;
        return mine;
    }

    /** Any thread: each loop's {@code T} created so far. */
    @SuppressWarnings("unchecked")
    void forEach(Consumer<T> action) {
        for (Object o : perLoop) {
            if (o != null) {
                action.accept((T) o);
            }
        }
    }
}
