package io.grapevine.cluster;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The seeds' names as a start looks them up (to pick the address to advertise, to skip this node's own address among
 * the seeds): on threads of their own ({@link BoundedLookups}), all at once, each waited for {@link #LOOKUP_MILLIS} at
 * most from when it started. So a DNS server that does not answer holds a start 5 s in all, not the system resolver's
 * timeout per name and per use, and the start names each seed it gave up on, once. A lookup given up on goes on; a
 * later one of the same name while it does waits no longer for it.
 *
 * <p>Thread-safe.
 */
public final class NameLookups {

    private static final Logger LOG = LoggerFactory.getLogger(GossipNode.class);

    /** How long a lookup of a name is waited for, as the proxy's host check waits (docs/configuration.md). */
    public static final long LOOKUP_MILLIS = BoundedLookups.WAIT_MILLIS;

    /** Resolves a name, blocking; tests put a DNS server that does not answer in its place. */
    interface Resolver {
        InetAddress resolve(String name) throws Exception;
    }

    static volatile Resolver lookup = InetAddress::getByName;

    /**
     * The lookups; one is given up on once a start said it gave up on it. A start after a lookup answered looks the
     * name up again (the JVM's cache answers it if it can).
     */
    private static final BoundedLookups<InetAddress> LOOKUPS =
            new BoundedLookups<>("grapevine-gossip-dns", name -> lookup.resolve(name));

    private NameLookups() {
    }

    /**
     * The addresses of those of {@code seeds} that {@code wanted} takes, in their order: an IP literal's parsed, a
     * name's as its lookup found it, {@code null} when it found none or did not answer in time, and for a seed not
     * wanted (not looked up).
     */
    static List<InetAddress> addresses(List<HostAndPort> seeds, Predicate<HostAndPort> wanted) {
        List<BoundedLookups.Lookup<InetAddress>> started = new ArrayList<>(seeds.size());
        for (HostAndPort seed : seeds) {
            boolean name = !isIpLiteral(seed.host());
            started.add(name && wanted.test(seed) ? LOOKUPS.start(seed.host()) : null);
        }
        List<InetAddress> found = new ArrayList<>(seeds.size());
        for (int i = 0; i < seeds.size(); i++) {
            HostAndPort seed = seeds.get(i);
            found.add(!wanted.test(seed) ? null
                    : started.get(i) == null ? literal(seed.host()) : await(seed, started.get(i)));
        }
        return found;
    }

    /**
     * The address of {@code host}: an IP literal's parsed, a name's as its lookup found it, waited for until
     * {@link #LOOKUP_MILLIS} after that lookup started (one under way is joined, not started again). Any thread.
     *
     * @throws TimeoutException     when the lookup has not answered by then (it goes on)
     * @throws UnknownHostException when the name has no address, or the wait was interrupted
     */
    public static InetAddress address(String host) throws TimeoutException, UnknownHostException {
        if (isIpLiteral(host)) {
            return InetAddress.getByName(host); // parsed, no lookup
        }
        BoundedLookups.Lookup<InetAddress> lookup = LOOKUPS.start(host);
        try {
            return lookup.await();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof UnknownHostException unknown ? unknown : new UnknownHostException(host);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UnknownHostException(host);
        }
    }

    /** Whether {@code host} is an IPv4 or IPv6 literal, parsed without DNS; anything else is a name. */
    static boolean isIpLiteral(String host) {
        return NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host);
    }

    private static InetAddress literal(String host) {
        try {
            return InetAddress.getByName(host); // parsed, no lookup
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static InetAddress await(HostAndPort seed, BoundedLookups.Lookup<InetAddress> lookup) {
        try {
            return lookup.await();
        } catch (TimeoutException e) {
            if (lookup.giveUp()) {
                LOG.warn("The DNS server did not answer for seed {} within {} ms; going on without its address",
                        seed.host(), LOOKUP_MILLIS);
            }
            return null;
        } catch (ExecutionException e) {
            return null; // no such name: scalecube says so when it tries to join it
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
