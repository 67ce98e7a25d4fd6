package io.grapevine.proxy.lb;

/** An endpoint whose availability, load and warm-up a test sets by hand. */
final class FakeEndpoint implements Endpoint {

    final String key;
    final int weight;
    boolean available = true;
    int inFlight;
    /** Effective weight in sixteenths; -1: fully warm. */
    int effective = -1;

    FakeEndpoint(String key, int weight) {
        this.key = key;
        this.weight = weight;
    }

    @Override
    public boolean isAvailable(long nowNanos) {
        return available;
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
    public String key() {
        return key;
    }

    @Override
    public String toString() {
        return key;
    }
}
