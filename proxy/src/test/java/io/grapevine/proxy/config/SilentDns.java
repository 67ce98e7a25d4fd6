package io.grapevine.proxy.config;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A DNS server that does not answer, in place of the real one for the proxy's host checks, until the test has it
 * answer (every lookup under way and every later one alike); the real lookup is back once it is closed.
 */
public final class SilentDns implements AutoCloseable {

    /** How long a host check waits for a lookup. */
    public static final long LOOKUP_MILLIS = Hosts.LOOKUP_MILLIS;

    private final Function<String, List<InetAddress>> real = Hosts.lookup;
    private final CountDownLatch answers = new CountDownLatch(1);
    private volatile InetAddress found;

    public SilentDns() {
        Hosts.lookup = this::lookUp;
    }

    /** From now on the DNS server answers: every name found (at 127.0.0.1), or none. */
    public void answer(boolean found) {
        answer(found ? InetAddress.getLoopbackAddress() : null);
    }

    /** From now on the DNS server answers: every name at {@code address}, or none if it is {@code null}. */
    public void answer(InetAddress address) {
        this.found = address;
        answers.countDown();
    }

    private List<InetAddress> lookUp(String name) {
        try {
            InetAddress address = answers.await(1, TimeUnit.MINUTES) ? found : null;
            return address == null ? null : List.of(address);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    @Override
    public void close() {
        answers.countDown();
        Hosts.lookup = real;
    }
}
