package io.grapevine.cluster;

import java.util.concurrent.atomic.LongAdder;

/** The live counters behind {@link SecurityCounters}; written from transport and gossip threads. */
final class FrameCounters {

    final LongAdder accepted = new LongAdder();
    final LongAdder badMac = new LongAdder();
    final LongAdder unknownKey = new LongAdder();
    final LongAdder malformed = new LongAdder();
    final LongAdder replayed = new LongAdder();
    final LongAdder oversized = new LongAdder();
    final LongAdder metadataRejected = new LongAdder();
    final LongAdder connectionsRefused = new LongAdder();
    final LongAdder membersRefused = new LongAdder();
    final LongAdder sendsDropped = new LongAdder();

    SecurityCounters snapshot() {
        return new SecurityCounters(accepted.sum(), badMac.sum(), unknownKey.sum(), malformed.sum(),
                replayed.sum(), oversized.sum(), metadataRejected.sum(), connectionsRefused.sum(), membersRefused.sum(),
                sendsDropped.sum());
    }
}
