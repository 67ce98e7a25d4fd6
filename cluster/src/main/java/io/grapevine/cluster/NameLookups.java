package io.grapevine.cluster;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The seeds' names as a start looks them up (to pick the address to advertise, to skip this node's own address among
 * the seeds): on threads of their own ({@link BlockingCalls}), all at once, each waited for {@link #LOOKUP_MILLIS} at
 * most from when it started. So a DNS server that does not answer holds a start 5 s in all, not the system resolver's
 * timeout per name and per use, and the start names each seed it gave up on, once. A lookup given up on goes on; a
 * later one of the same name while it does waits no longer for it.
 *
 * <p>Thread-safe.
 */
public final class NameLookups {

    private static final Logger LOG = LoggerFactory.getLogger(GossipNode.class);

    /** How long a lookup of a name is waited for, as the proxy's host check waits (docs/configuration.md). */
    public static final long LOOKUP_MILLIS = 5_000;

    /** Resolves a name, blocking; tests put a DNS server that does not answer in its place. */
    interface Resolver {
        InetAddress resolve(String name) throws Exception;
    }

    static volatile Resolver lookup = InetAddress::getByName;

    /** One lookup under way; {@code told} once a start said it gave up on it (any thread). */
    private record Lookup(CompletableFuture<InetAddress> answer, long deadline, AtomicBoolean told) {
    }

    private static final Map<String, Lookup> UNDER_WAY = new ConcurrentHashMap<>();
    private static final BlockingCalls LOOKUPS = new BlockingCalls("grapevine-gossip-dns");

    private NameLookups() {
    }

    /**
     * The addresses of those of {@code seeds} that {@code wanted} takes, in their order: an IP literal's parsed, a
     * name's as its lookup found it, {@code null} when it found none or did not answer in time, and for a seed not
     * wanted (not looked up).
     */
    static List<InetAddress> addresses(List<HostAndPort> seeds, Predicate<HostAndPort> wanted) {
        List<Lookup> started = new ArrayList<>(seeds.size());
        for (HostAndPort seed : seeds) {
            boolean name = !isIpLiteral(seed.host());
            started.add(name && wanted.test(seed) ? start(seed.host()) : null);
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
        Lookup lookup = start(host);
        try {
            return BlockingCalls.await(lookup.answer, lookup.deadline);
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

    private static InetAddress await(HostAndPort seed, Lookup lookup) {
        try {
            return BlockingCalls.await(lookup.answer, lookup.deadline);
        } catch (TimeoutException e) {
            if (lookup.told.compareAndSet(false, true)) {
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

    /** The lookup of {@code name} under way, started now if there was none. */
    private static Lookup start(String name) {
        Lookup started = new Lookup(new CompletableFuture<>(),
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LOOKUP_MILLIS), new AtomicBoolean());
        Lookup underWay = UNDER_WAY.putIfAbsent(name, started);
        if (underWay != null) {
            return underWay;
        }
        LOOKUPS.start(() -> lookup.resolve(name)).whenComplete((address, failed) -> {
            // On the lookup's thread: a later start looks the name up again (the JVM's cache answers it if it can).
            UNDER_WAY.remove(name, started);
            if (failed != null) {
                started.answer.completeExceptionally(failed);
            } else {
                started.answer.complete(address);
            }
        });
        return started;
    }
}
