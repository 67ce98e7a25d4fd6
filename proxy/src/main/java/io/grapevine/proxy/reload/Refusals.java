package io.grapevine.proxy.reload;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * Servers refused from a table (the proxy's own address, an address no member announced, one outside
 * {@code allowed_backends}), each logged and counted once for as long as consecutive rounds keep refusing it.
 * A round is one render or publication: {@link #startRound}, {@link #refuse} for each, {@link #endRound}.
 *
 * <p>Thread: the table thread only; {@link #count()} may be read from any thread.
 */
public final class Refusals {

    private final Logger log;
    /** Refusals logged and counted; those of the last round are kept, the others forgotten. */
    private final Set<String> logged = new HashSet<>();
    private final Set<String> thisRound = new HashSet<>();
    private final AtomicLong count = new AtomicLong();

    /** @param log the logger of the owner, whose name the refusal lines carry */
    public Refusals(Logger log) {
        this.log = log;
    }

    public void startRound() {
        thisRound.clear();
    }

    /**
     * Refuses {@code server} ("web-1 (10.0.0.5:8080)") from {@code source} ("gossip", "static") for {@code why};
     * {@code key} names the refusal, so that the same one is logged once while it lasts.
     */
    public void refuse(String key, String source, String server, String why) {
        thisRound.add(key);
        if (logged.add(key)) {
            count.incrementAndGet();
            log.warn("refused {} backend {}: {}", source, server, why);
        }
    }

    /** A refusal absent from this round is over: should it come back, it is logged and counted again. */
    public void endRound() {
        logged.retainAll(thisRound);
    }

    /** After a configuration change every refusal is logged again, with the reason the new rules give. */
    public void forgetAll() {
        logged.clear();
    }

    /** Refusals counted since start. */
    public long count() {
        return count.get();
    }
}
