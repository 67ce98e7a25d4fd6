package io.grapevine.proxy.membership;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberRecord;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.table.Server;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passive health shared by the proxies of a cluster. A server that refuses or resets this proxy's connections is
 * marked down here by its own failed request ({@code passive_health}); every other proxy would learn the same
 * only by failing a request of its own. So each proxy announces, in its own member metadata, the servers it
 * marked down and until when ({@link MemberMetadata#downServers()}), and treats what the other proxies announce
 * like a passive mark-down of its own: that server gets no requests until the finding expires or its proxy
 * withdraws it.
 *
 * <p>Trust: only members whose metadata says {@code role: proxy} are heard, only with a cluster key (every frame
 * authenticated; never under {@code --insecure-gossip}), only about servers in this proxy's table (by address),
 * and never for longer than this proxy's own {@code passive_health.fail_timeout_ms} from when it first heard the
 * finding, whatever expiry the other proxy gave. A proxy's own findings are never re-announced as another's, so
 * a finding cannot echo round the cluster. With {@code max_fails} 0 (passive health off) nothing is shared or
 * heard.
 *
 * <p>Thread: the table thread ({@link RunningConfig#thread()}), every {@link #PERIOD_MILLIS}: it reads the table
 * and the membership view's snapshot, publishes through the gossip member (thread-safe) when its own findings
 * changed, and sets every server's peer mark (a volatile field read on every pick).
 */
public final class PassiveHealthSharing implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(PassiveHealthSharing.class);

    /** How often own findings are compared with what was published, and peers' findings applied. */
    static final long PERIOD_MILLIS = 100;
    /** A finding whose expiry moved by less than this is not published again. */
    private static final long REPUBLISH_SLACK_MILLIS = 1_000;

    private final RunningConfig running;
    private final MembershipView view;
    private final GossipMembership gossip;
    private List<MemberMetadata.DownServer> published = List.of();
    /** When each peer finding (peer id, address, expiry) was first heard, in wall-clock milliseconds. */
    private final Map<String, Long> firstHeard = new HashMap<>();
    /** Servers marked down on a peer's word now: server key to who said so. */
    private Map<String, String> marked = Map.of();
    private boolean truncationLogged;
    private ScheduledFuture<?> task;

    private PassiveHealthSharing(RunningConfig running, MembershipView view, GossipMembership gossip) {
        this.running = running;
        this.view = view;
        this.gossip = gossip;
    }

    /** Starts sharing on the table thread; without a cluster key it does nothing and says so once. */
    public static PassiveHealthSharing start(RunningConfig running, MembershipView view, GossipMembership gossip) {
        PassiveHealthSharing sharing = new PassiveHealthSharing(running, view, gossip);
        if (gossip.insecure()) {
            log.warn("passive health findings are not shared with other proxies under --insecure-gossip: anyone could "
                    + "take servers out of rotation");
            return sharing;
        }
        sharing.task = running.thread().scheduleWithFixedDelay(sharing::tick, PERIOD_MILLIS, PERIOD_MILLIS,
                TimeUnit.MILLISECONDS);
        return sharing;
    }

    private void tick() {
        try {
            HealthCheckConfig health = running.config().healthCheck();
            boolean on = health.passiveMaxFails() > 0;
            long nowNanos = System.nanoTime();
            long nowMillis = System.currentTimeMillis();
            List<Server> servers = running.current().servers();
            publishOwn(on ? ownFindings(servers, nowNanos, nowMillis) : List.of());
            applyPeers(servers, on ? peerFindings(health.passiveFailTimeoutMillis(), nowMillis) : Map.of(), nowNanos,
                    nowMillis);
        } catch (RuntimeException e) {
            log.error("sharing passive health findings failed; trying again", e);
        }
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
            gossip.announceDownServers(published);
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
                            + " (member " + r.id().substring(0, Math.min(8, r.id().length())) + ")");
                    findings.merge(address, f, (x, y) -> x.untilMillis() >= y.untilMillis() ? x : y);
                }
            }
        }
        firstHeard.keySet().retainAll(heard);
        return findings;
    }

    private record PeerFinding(long untilMillis, String who) {
    }

    private void applyPeers(List<Server> servers, Map<String, PeerFinding> findings, long nowNanos, long nowMillis) {
        Map<String, String> now = new HashMap<>();
        for (Server s : servers) {
            PeerFinding f = findings.get(MembershipView.addressKey(s.spec().host(), s.spec().port()));
            if (f == null) {
                s.setPeerDownUntil(0);
                String before = marked.get(s.key());
                if (before != null) {
                    log.info("server {} ({}) no longer down on the word of {}", s.name(), HostAndPort.format(s.address()), before);
                }
                continue;
            }
            long until = nowNanos + TimeUnit.MILLISECONDS.toNanos(f.untilMillis() - nowMillis);
            s.setPeerDownUntil(until == 0 ? 1 : until);
            now.put(s.key(), f.who());
            if (!marked.containsKey(s.key())) {
                log.warn("server {} ({}) marked DOWN for {} ms on the word of {}, where it failed a request", s.name(),
                        HostAndPort.format(s.address()), f.untilMillis() - nowMillis, f.who());
            }
        }
        marked = now;
    }

    @Override
    public void close() {
        if (task != null) {
            task.cancel(false);
        }
    }
}
