package io.grapevine.proxy.config;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A DNS server that does not answer, in place of the real one for the proxy's host checks, until the test has it
 * answer (every lookup under way and every later one alike); the real lookup is back once it is closed.
 */
public final class SilentDns implements AutoCloseable {

    /** How long a host check waits for a lookup. */
    public static final long LOOKUP_MILLIS = Hosts.LOOKUP_MILLIS;

    private final Predicate<String> real = Hosts.lookup;
    private final CountDownLatch answers = new CountDownLatch(1);
    private volatile boolean found;

    public SilentDns() {
        Hosts.lookup = this::lookUp;
    }

    /** From now on the DNS server answers: every name {@code found}, or none. */
    public void answer(boolean found) {
        this.found = found;
        answers.countDown();
    }

    private boolean lookUp(String name) {
        try {
            return answers.await(1, TimeUnit.MINUTES) && found;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void close() {
        answers.countDown();
        Hosts.lookup = real;
    }
}
