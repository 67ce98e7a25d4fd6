package io.grapevine.proxy.lb;

/** An endpoint whose availability, load and warm-up a test sets by hand. */
final class FakeEndpoint implements Endpoint {

    final String key;
    final int weight;
    boolean available = true;
    /** At its max_conn: takes no request for now. */
    boolean full;
    int inFlight;
    /** Effective weight in sixteenths; -1: fully warm. */
    int effective = -1;
    /** Where a balancer that keeps endpoints ordered by load listens; null when none does. */
    LoadWatch.Handle watch;

    FakeEndpoint(String key, int weight) {
        this.key = key;
        this.weight = weight;
    }

    @Override
    public boolean isAvailable(long nowNanos) {
        return available;
    }

    @Override
    public boolean isFull() {
        return full;
    }

    @Override
    public int weight() {
        return weight;
    }

    @Override
    public int effectiveWeight(long nowNanos) {
        return effective < 0 ? weight * WEIGHT_SCALE : effective;
    }

    @Override
    public int inFlight() {
        return inFlight;
    }

    @Override
    public void watchLoad(LoadWatch.Handle handle) {
        watch = handle;
    }

    /** Tells the watching balancer, if any, that the fields changed (as a server does when its count changes). */
    void changed() {
        if (watch != null) {
            watch.changed();
        }
    }

    @Override
    public String key() {
        return key;
    }

    @Override
    public String toString() {
        return key;
    }
}
