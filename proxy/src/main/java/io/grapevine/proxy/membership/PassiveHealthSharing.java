package io.grapevine.proxy.membership;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberRecord;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.table.PoolState;
import io.grapevine.proxy.table.Server;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passive health shared by the proxies of a cluster. A server that refuses or resets this proxy's connections is
 * marked down here by its own failed request ({@code passive_health}); every other proxy would learn the same
 * only by failing a request of its own. So each proxy announces, in its own member metadata, the servers it
 * marked down and until when ({@link MemberMetadata#downServers()}), and treats what the other proxies announce
 * like a passive mark-down of its own: that server gets no requests until the finding expires or its proxy
 * withdraws it. Only within {@code passive_health.max_ejected_percent} of its pool, this proxy's own ejections
 * counted ({@link PoolState#markDownByPeers}): two proxies that eject different servers at the same moment, or one
 * that says every server fails, leave part of each pool serving; a finding the limit keeps out is logged once, and
 * applied on a later pass if room is made (an ejection or another finding ends, the table or the limit changes).
 *
 * <p>Trust: only members whose metadata says {@code role: proxy} are heard, only with a cluster key (every frame
 * authenticated; never under {@code --insecure-gossip}), only about servers in this proxy's table (by address),
 * and never for longer than this proxy's own {@code passive_health.fail_timeout_ms} from when it first heard the
 * finding, whatever expiry the other proxy gave. A proxy's own findings are never re-announced as another's, so
 * a finding cannot echo round the cluster. With {@code max_fails} 0 (passive health off) nothing is shared or
 * heard.
 *
 * <p>Thread: the table thread ({@link RunningConfig#thread()}). A pass reads the table and the membership view's
 * snapshot, publishes through the gossip member (thread-safe) when its own findings changed, and sets every
 * server's peer mark (a volatile field read on every pick; set under the pool's monitor, which ejections on the event
 * loops take too). A pass runs when something it reads changed: an
 * ejection made or cleared here (from the event loop that made it), a new table generation, a change of the
 * member records, a reload of servers.conf; and when the earliest finding, own or heard, runs out. An idle
 * proxy makes none: nothing here wakes on a clock.
 */
public final class PassiveHealthSharing implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PassiveHealthSharing.class);

    /** A finding whose expiry moved by less than this is not published again. */
    private static final long REPUBLISH_SLACK_MILLIS = 1_000;

    private final RunningConfig running;
    private final MembershipView view;
    /** Publishes this proxy's own findings in its member metadata (thread-safe). */
    private final Consumer<List<MemberMetadata.DownServer>> announce;
    private List<MemberMetadata.DownServer> published = List.of();
    /** When each peer finding (peer id, address, expiry) was first heard, in wall-clock milliseconds. */
    private final Map<String, Long> firstHeard = new HashMap<>();
    /** Servers marked down on a peer's word now: server key to who said so. */
    private Map<String, String> marked = Map.of();
    /** Servers a peer found failing but max_ejected_percent keeps in (logged once): server key to who said so. */
    private Map<String, String> heldBack = Map.of();
    private boolean truncationLogged;
    /** A pass is queued on the table thread and has not started: more requests for one are covered by it. */
    private final AtomicBoolean passQueued = new AtomicBoolean();
    /** Table thread: the pass queued for when the earliest finding runs out. */
    private ScheduledFuture<?> expiryPass;
    private volatile boolean closed;

    private PassiveHealthSharing(RunningConfig running, MembershipView view,
                                 Consumer<List<MemberMetadata.DownServer>> announce) {
        this.running = running;
        this.view = view;
        this.announce = announce;
    }

    /** Starts sharing on the table thread; without a cluster key it does nothing and says so once. */
    public static PassiveHealthSharing start(RunningConfig running, MembershipView view, GossipMembership gossip) {
        return start(running, view, gossip.insecure(), gossip::announceDownServers);
    }

    /** As {@link #start(RunningConfig, MembershipView, GossipMembership)}, publishing own findings to {@code announce}. */
    static PassiveHealthSharing start(RunningConfig running, MembershipView view, boolean insecure,
                                      Consumer<List<MemberMetadata.DownServer>> announce) {
        PassiveHealthSharing sharing = new PassiveHealthSharing(running, view, announce);
        if (insecure) {
            log.warn("passive health findings are not shared with other proxies under --insecure-gossip: anyone could "
                    + "take servers out of rotation");
            return sharing;
        }
        running.onConfigReload(c -> sharing.requestPass());
        view.onMembersChanged(sharing::requestPass);
        running.onHealthFindingsChanged(sharing::requestPass);
        sharing.requestPass();
        return sharing;
    }

    /** Any thread, quick: queues a pass on the table thread unless one is queued already. */
    void requestPass() {
        if (!closed && passQueued.compareAndSet(false, true)) {
            try {
                running.thread().execute(this::pass);
            } catch (RejectedExecutionException e) {
                // the proxy is stopping: nothing is shared any more, and the caller (an event loop) must not fail
            }
        }
    }

    private void pass() {
        passQueued.set(false);
        if (closed) {
            return;
        }
        long nextExpiry = Long.MAX_VALUE;
        try {
            HealthCheckConfig health = running.config().healthCheck();
            boolean on = health.passiveMaxFails() > 0;
            long nowNanos = System.nanoTime();
            long nowMillis = System.currentTimeMillis();
            List<Server> servers = running.current().servers();
            List<MemberMetadata.DownServer> own = on ? ownFindings(servers, nowNanos, nowMillis) : List.of();
            publishOwn(own);
            Map<String, PeerFinding> peers = on ? peerFindings(health.passiveFailTimeoutMillis(), nowMillis) : Map.of();
            applyPeers(servers, peers, health.passiveMaxEjectedPercent(), nowNanos, nowMillis);
            for (Server s : servers) {
                long until = s.ownPassiveDownUntil(nowNanos);
                if (until != 0 && on) {
                    nextExpiry = Math.min(nextExpiry, Math.max(until - nowNanos, 0));
                }
            }
            for (PeerFinding f : peers.values()) {
                nextExpiry = Math.min(nextExpiry, TimeUnit.MILLISECONDS.toNanos(Math.max(f.untilMillis() - nowMillis, 0)));
            }
        } catch (RuntimeException e) {
            log.error("sharing passive health findings failed; trying again in a second", e);
            nextExpiry = TimeUnit.SECONDS.toNanos(1);
        }
        scheduleExpiryPass(nextExpiry);
    }

    /**
     * Table thread: makes sure a pass runs {@code inNanos} from now (1 ms late, so that the finding has run out by
     * then), keeping an earlier one already queued; none when {@code inNanos} is {@link Long#MAX_VALUE}.
     */
    private void scheduleExpiryPass(long inNanos) {
        if (inNanos == Long.MAX_VALUE) {
            return;
        }
        long delay = inNanos + TimeUnit.MILLISECONDS.toNanos(1);
        if (expiryPass != null) {
            long queued = expiryPass.getDelay(TimeUnit.NANOSECONDS);
            if (queued > 0 && queued <= delay) {
                return; // one at or before that moment is queued: its pass schedules the next
            }
            expiryPass.cancel(false); // later than needed, or due already (this pass does its work)
        }
        expiryPass = running.thread().schedule(this::requestPass, delay, TimeUnit.NANOSECONDS);
    }

    /** The servers this proxy marked down by its own failed requests, each until when (wall clock). */
    private List<MemberMetadata.DownServer> ownFindings(List<Server> servers, long nowNanos, long nowMillis) {
        TreeMap<String, MemberMetadata.DownServer> own = new TreeMap<>();
        for (Server s : servers) {
            long until = s.ownPassiveDownUntil(nowNanos);
            if (until != 0) {
                own.putIfAbsent(MembershipView.addressKey(s.spec().host(), s.spec().port()), new MemberMetadata.DownServer(
                        s.spec().host(), s.spec().port(), nowMillis + TimeUnit.NANOSECONDS.toMillis(until - nowNanos)));
            }
        }
        List<MemberMetadata.DownServer> list = new ArrayList<>(own.values());
        if (list.size() > MemberMetadata.MAX_DOWN_SERVERS) {
            if (!truncationLogged) {
                truncationLogged = true;
                log.warn("{} servers are marked down here; the other proxies are told of the first {} only", list.size(),
                        MemberMetadata.MAX_DOWN_SERVERS);
            }
            list = list.subList(0, MemberMetadata.MAX_DOWN_SERVERS);
        }
        return list;
    }

    private void publishOwn(List<MemberMetadata.DownServer> own) {
        if (!sameFindings(own, published)) {
            published = List.copyOf(own);
            announce.accept(published);
        }
    }

    /** Whether two lists name the same servers with expiries less than a second apart. */
    private static boolean sameFindings(List<MemberMetadata.DownServer> a, List<MemberMetadata.DownServer> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            MemberMetadata.DownServer x = a.get(i);
            MemberMetadata.DownServer y = b.get(i);
            if (!x.host().equals(y.host()) || x.port() != y.port() || Math.abs(x.until() - y.until()) > REPUBLISH_SLACK_MILLIS) {
                return false;
            }
        }
        return true;
    }

    /** What the other proxies say now: address key to (until when, who), bounded by {@code failTimeoutMillis}. */
    private Map<String, PeerFinding> peerFindings(long failTimeoutMillis, long nowMillis) {
        Map<String, PeerFinding> findings = new HashMap<>();
        Set<String> heard = new HashSet<>();
        for (MemberRecord r : view.members()) {
            if (!r.isProxy() || r.lastEvent() == MemberEvent.Type.LEAVING || r.lastEvent() == MemberEvent.Type.REMOVED) {
                continue;
            }
            for (MemberMetadata.DownServer d : r.metadata().downServers()) {
                String address = MembershipView.addressKey(d.host(), d.port());
                String key = r.id() + " " + address + " " + d.until();
                heard.add(key);
                long first = firstHeard.computeIfAbsent(key, k -> nowMillis);
                long until = Math.min(d.until(), first + failTimeoutMillis);
                if (until > nowMillis) {
                    PeerFinding f = new PeerFinding(until, "proxy " + HostAndPort.format(r.metadata().host(), r.metadata().port())
                            + " (member " + r.id().substring(0, Math.min(8, r.id().length())) + ")", first);
                    findings.merge(address, f, PeerFinding::and);
                }
            }
        }
        firstHeard.keySet().retainAll(heard);
        return findings;
    }

    /**
     * What the other proxies say of one server: until when (the latest of them), who says so (the one whose word runs
     * longest), and when this proxy first heard the earliest of the findings still in force.
     */
    private record PeerFinding(long untilMillis, String who, long heardMillis) {

        PeerFinding and(PeerFinding o) {
            PeerFinding longer = untilMillis >= o.untilMillis ? this : o;
            return new PeerFinding(longer.untilMillis, longer.who, Math.min(heardMillis, o.heardMillis));
        }
    }

    /**
     * Marks down the servers the other proxies found failing, pool by pool, as far as {@code max_ejected_percent}
     * allows with this proxy's own ejections ({@link PoolState#markDownByPeers}): the finding heard first is
     * preferred, then the one that runs longest; those marked already stay so. Logs each server marked down, kept in,
     * or back, once per change.
     */
    private void applyPeers(List<Server> servers, Map<String, PeerFinding> findings, int maxPercent, long nowNanos,
                            long nowMillis) {
        Map<PoolState, List<Server>> byPool = new LinkedHashMap<>();
        Map<Server, PeerFinding> found = new HashMap<>();
        for (Server s : servers) {
            List<Server> foundInPool = byPool.computeIfAbsent(s.poolState(), p -> new ArrayList<>());
            PeerFinding f = findings.get(MembershipView.addressKey(s.spec().host(), s.spec().port()));
            if (f != null) {
                foundInPool.add(s);
                found.put(s, f);
            }
        }
        Map<String, String> now = new HashMap<>();
        Map<String, String> held = new HashMap<>();
        for (Map.Entry<PoolState, List<Server>> pool : byPool.entrySet()) {
            List<Server> foundInPool = pool.getValue();
            foundInPool.sort(Comparator.comparingLong((Server s) -> found.get(s).heardMillis())
                    .thenComparingLong(s -> -found.get(s).untilMillis()).thenComparing(Server::key));
            Map<Server, Long> marks = new LinkedHashMap<>();
            for (Server s : foundInPool) {
                long until = nowNanos + TimeUnit.MILLISECONDS.toNanos(found.get(s).untilMillis() - nowMillis);
                marks.put(s, until == 0 ? 1 : until);
            }
            Set<Server> keptIn = new HashSet<>(pool.getKey().markDownByPeers(marks, maxPercent, nowNanos));
            for (Server s : foundInPool) {
                PeerFinding f = found.get(s);
                if (keptIn.contains(s)) {
                    held.put(s.key(), f.who());
                    if (!heldBack.containsKey(s.key())) {
                        log.warn("server {} ({}) {} on the word of {}: max_ejected_percent {} of pool {} reached", s.name(),
                                HostAndPort.format(s.address()), marked.containsKey(s.key()) ? "no longer down"
                                        : "not marked down", f.who(), maxPercent, pool.getKey().name());
                    }
                    continue;
                }
                now.put(s.key(), f.who());
                if (!marked.containsKey(s.key())) {
                    log.warn("server {} ({}) marked DOWN for {} ms on the word of {}, where it failed a request", s.name(),
                            HostAndPort.format(s.address()), f.untilMillis() - nowMillis, f.who());
                }
            }
        }
        for (Server s : servers) {
            String before = marked.get(s.key());
            if (before != null && !now.containsKey(s.key()) && !held.containsKey(s.key())) {
                log.info("server {} ({}) no longer down on the word of {}", s.name(), HostAndPort.format(s.address()), before);
            }
        }
        marked = now;
        heldBack = held;
    }

    @Override
    public void close() {
        closed = true;
    }
}
