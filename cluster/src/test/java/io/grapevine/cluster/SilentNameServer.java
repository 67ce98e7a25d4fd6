package io.grapevine.cluster;

import java.net.UnknownHostException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A DNS server that does not answer, in place of the real one for {@link NameLookups} (every bounded lookup of this
 * JVM), until closed: each lookup then ends, finding no address. The real lookup is back once it is closed.
 */
public final class SilentNameServer implements AutoCloseable {

    private final CountDownLatch closed = new CountDownLatch(1);
    private final NameLookups.Resolver real = NameLookups.lookup;

    public SilentNameServer() {
        NameLookups.lookup = name -> {
            closed.await(1, TimeUnit.MINUTES);
            throw new UnknownHostException(name);
        };
    }

    @Override
    public void close() {
        closed.countDown();
        NameLookups.lookup = real;
    }
}
