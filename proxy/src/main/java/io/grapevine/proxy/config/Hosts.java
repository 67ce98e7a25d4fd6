package io.grapevine.proxy.config;

import io.grapevine.cluster.BoundedLookups;
import io.netty.util.NetUtil;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Host syntax shared by {@code servers.conf} and the command line. IP literals are kept in canonical form (IPv6 as
 * RFC 5952 text) and names in lower case, so that one server written two ways has one identity.
 */
final class Hosts {

    private static final String LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
    /** RFC 1123 host name; an all-numeric dotted string is not a name (it would parse as an odd IPv4 form). */
    private static final Pattern NAME =
            Pattern.compile("(?![0-9.]+$)(?=.{1,253}$)" + LABEL + "(?:\\." + LABEL + ")*\\.?");

    private Hosts() {
    }

    /**
     * An IP literal ({@code [brackets]} around IPv6 allowed) in canonical form, or a syntactically valid host name in
     * lower case; {@code null} for anything else. Never touches DNS.
     */
    static String normalize(String host) {
        boolean bracketed = host.startsWith("[") && host.endsWith("]");
        String h = bracketed ? host.substring(1, host.length() - 1) : host;
        if (NetUtil.isValidIpV6Address(h)) {
            return h.indexOf('%') >= 0 ? h.toLowerCase(Locale.ROOT)
                    : NetUtil.toAddressString(NetUtil.createInetAddressFromIpAddressString(h));
        }
        if (bracketed) {
            return null;
        }
        if (NetUtil.isValidIpV4Address(h)) {
            return h;
        }
        String name = h.toLowerCase(Locale.ROOT);
        return NAME.matcher(name).matches() ? name : null;
    }

    /**
     * Like {@link #normalize}, but a host name must also resolve now; {@code null} if it does not. A lookup that
     * takes more than {@link #LOOKUP_MILLIS} is not waited for any longer, here or by a later call while it goes on
     * (in the background): the name counts as resolving if its last lookup that answered found it, else not. So a
     * DNS server that does not answer holds a render, a reload or a start {@link #LOOKUP_MILLIS} per name once, and
     * {@link #LOOKUP_MILLIS} in all for the names whose lookups {@link #lookUp} started together.
     */
    static String normalizeResolvable(String host) {
        String h = normalize(host);
        if (h == null || isIpLiteral(h)) {
            return h;
        }
        return resolves(h) ? h : null;
    }

    /** How long a check waits for the lookup of a host name. */
    static final long LOOKUP_MILLIS = BoundedLookups.WAIT_MILLIS;

    /**
     * Resolves a name, blocking: its addresses, or {@code null} if it has none; tests put a DNS server that does not
     * answer in its place.
     */
    static volatile Function<String, List<InetAddress>> lookup = Hosts::lookUpNow;

    /** The names whose last lookup that answered found them, with the addresses it found (never empty). */
    private static final Map<String, List<InetAddress>> RESOLVED = new ConcurrentHashMap<>();
    /**
     * The lookups, each answering whether its name counts as resolving once it is done. A lookup is given up on by a
     * check that stopped waiting for it at its deadline and counted the name as not resolving.
     */
    private static final BoundedLookups<Boolean> LOOKUPS = new BoundedLookups<>("grapevine-dns", Hosts::lookUpAndKeep);

    /**
     * Starts, all at once, the lookups of those of {@code hosts} that are host names and have none under way, and
     * returns without waiting: the checks that follow ({@link #normalizeResolvable}) each wait for the lookup started
     * here, until its time limit, so a document with many names on a DNS server that does not answer is held
     * {@link #LOOKUP_MILLIS} in all, not that per name one after another.
     *
     * @return completes with the first of these names that a check counted as not resolving because it gave up waiting
     *         for its lookup, once that lookup found it (any thread); never completes if there is none
     */
    static CompletableFuture<String> lookUp(Collection<String> hosts) {
        CompletableFuture<String> foundLate = new CompletableFuture<>();
        for (String host : hosts) {
            String name = host == null ? null : normalize(host);
            if (name == null || isIpLiteral(name)) {
                continue;
            }
            boolean resolving = RESOLVED.containsKey(name);
            BoundedLookups.Lookup<Boolean> lookup = LOOKUPS.start(name);
            if (resolving) {
                continue; // counts as resolving however long its lookup takes
            }
            lookup.whenAnswered(found -> {
                // On the lookup's thread as it answers (or here, if it has). The answer is set before givenUp is read
                // here, and givenUp before a check reads the answer (resolves): a check that refused the name is seen.
                if (found && lookup.givenUp()) {
                    foundLate.complete(name);
                }
            });
        }
        return foundLate;
    }

    /**
     * Looks {@code name} up and keeps what it found as the last answer; on the lookup's thread.
     *
     * @return whether the name counts as resolving now
     */
    private static boolean lookUpAndKeep(String name) {
        List<InetAddress> found;
        try {
            found = lookup.apply(name);
        } catch (RuntimeException | Error e) {
            return RESOLVED.containsKey(name); // a lookup that failed (not "no such name") leaves the last answer
        }
        if (found != null && !found.isEmpty()) {
            if (RESOLVED.size() >= 100_000) {
                RESOLVED.clear(); // names of members long gone, as the gossip churns
            }
            RESOLVED.put(name, List.copyOf(found));
        } else {
            RESOLVED.remove(name);
        }
        return RESOLVED.containsKey(name);
    }

    private static boolean resolves(String name) {
        BoundedLookups.Lookup<Boolean> underWay = LOOKUPS.start(name);
        try {
            return underWay.await();
        } catch (TimeoutException e) {
            underWay.giveUp();
            // An answer that came since the time limit is taken; one that comes after this is told by lookUp.
            Boolean found = underWay.answerNow(null);
            return found != null ? found : RESOLVED.containsKey(name);
        } catch (ExecutionException e) {
            return RESOLVED.containsKey(name);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return RESOLVED.containsKey(name);
        }
    }

    /**
     * The socket address of a host as {@link #normalize} gives it: an IP literal's without DNS, a name's at the
     * address its last lookup that answered found; a name that has none is looked up as {@link #normalizeResolvable}
     * does, held {@link #LOOKUP_MILLIS} at most, and is unresolved if that finds nothing. Never a lookup without a
     * time limit: the table thread builds tables with it, which a DNS server that does not answer must not hold
     * longer than the check that came before (that check found the address this returns). Any thread.
     */
    static InetSocketAddress socketAddress(String host, int port) {
        if (isIpLiteral(host)) {
            return new InetSocketAddress(host, port); // parsed, no DNS (a scope name too: a local interface)
        }
        List<InetAddress> known = addresses(host);
        return known.isEmpty() ? InetSocketAddress.createUnresolved(host, port)
                : new InetSocketAddress(known.get(0), port);
    }

    /**
     * The addresses of a host name as {@link #socketAddress} finds them (the last lookup's that answered, else one
     * held {@link #LOOKUP_MILLIS} at most); empty if it has none. Any thread.
     */
    static List<InetAddress> addresses(String name) {
        List<InetAddress> known = RESOLVED.get(name);
        if (known == null && resolves(name)) {
            known = RESOLVED.get(name);
        }
        return known == null ? List.of() : known;
    }

    /**
     * Whether the lookup of {@code host}'s name started by {@link #lookUp} is still under way after waiting for it
     * {@code millis} at most: the DNS server is slow to answer for it. Any thread.
     */
    static boolean stillLookingUp(String host, long millis) {
        String name = normalize(host);
        BoundedLookups.Lookup<Boolean> underWay = name == null ? null : LOOKUPS.underWay(name);
        if (underWay == null || RESOLVED.containsKey(name)) {
            return false; // a name found before is taken at once, at what was found, however long its new lookup takes
        }
        try {
            underWay.await(millis);
            return false;
        } catch (TimeoutException e) {
            return true;
        } catch (ExecutionException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Whether a check gave up waiting for the lookup of {@code host} that is still under way: the name was refused
     * because the DNS did not answer in time, not because it has no address. Any thread.
     */
    static boolean lookupGivenUp(String host) {
        String name = normalize(host);
        BoundedLookups.Lookup<Boolean> underWay = name == null ? null : LOOKUPS.underWay(name);
        return underWay != null && underWay.givenUp();
    }

    private static List<InetAddress> lookUpNow(String name) {
        try {
            return List.of(InetAddress.getAllByName(name));
        } catch (UnknownHostException e) {
            return null;
        }
    }

    static boolean isIpLiteral(String host) {
        return NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host);
    }

    /** {@code address/prefix} with an IP literal and a prefix length that fits it, e.g. {@code 10.0.0.0/8}. */
    static String normalizeCidr(String cidr) {
        int slash = cidr.indexOf('/');
        if (slash < 0 || !cidr.substring(slash + 1).matches("[0-9]{1,3}")) {
            return null;
        }
        String address = cidr.substring(0, slash);
        int bits = Integer.parseInt(cidr.substring(slash + 1));
        int maxBits = NetUtil.isValidIpV4Address(address) ? 32 : NetUtil.isValidIpV6Address(address) ? 128 : -1;
        if (bits > maxBits || address.indexOf('%') >= 0) {
            return null;
        }
        return normalize(address) + "/" + bits;
    }
}
