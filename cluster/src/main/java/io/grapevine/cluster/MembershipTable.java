package io.grapevine.cluster;

import io.netty.util.NetUtil;
import io.scalecube.cluster.Member;
import io.scalecube.cluster.membership.MembershipEvent;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns scalecube membership events into {@link MemberEvent}s, keeps the current {@link MemberRecord}s and
 * calls the listener. {@link #onEvent} runs on the cluster's single thread; {@link #members()} may be
 * read from any thread.
 *
 * <p>At most {@code maxMembers} members are kept: a member first heard of while that many are known is
 * refused (counted, and never reported to the listener), so that a key holder announcing thousands of
 * members cannot make this node, or the proxy's table built from it, grow without bound. A refused member is
 * taken in at its next event (an update, say) once others have left.
 */
final class MembershipTable {

    private static final Logger LOG = LoggerFactory.getLogger(GossipNode.class);

    private final MembershipListener listener;
    private final FrameCounters counters;
    private final int maxMembers;
    private final RateLimitedWarning refusedWarning = new RateLimitedWarning(LOG, "Refused member(s) (maxMembers reached)");
    private final RateLimitedWarning malformedWarning = new RateLimitedWarning(LOG,
            "Refused member(s) whose gossip address is not host:port");
    private final Map<String, MemberRecord> members = new ConcurrentHashMap<>();
    /** Members whose bad metadata was already reported, so each one is logged once. */
    private final Set<String> reportedBadMetadata = ConcurrentHashMap.newKeySet();
    private volatile boolean joined;

    MembershipTable(MembershipListener listener, FrameCounters counters, int maxMembers) {
        this.listener = listener;
        this.counters = counters;
        this.maxMembers = maxMembers;
    }

    List<MemberRecord> members() {
        return members.values().stream().sorted(Comparator.comparing(MemberRecord::id)).toList();
    }

    /**
     * Scalecube's handler of membership events, on its gossip thread. Nothing may escape it: an exception ends the
     * subscription that delivers the events, and the node would never hear of a join or a leave again.
     */
    void onEvent(MembershipEvent event) {
        try {
            apply(event);
        } catch (RuntimeException e) {
            LOG.error("Membership event {} of {} not applied", event.type(), event.member(), e);
        }
    }

    private void apply(MembershipEvent event) {
        Member member = event.member();
        if (!wellFormed(member.address())) {
            // A member's address is what it (or a key holder speaking for it) announced: "host:port" or nothing.
            if (event.isAdded()) {
                counters.membersRefused.increment();
                malformedWarning.warn(member.id() + " at \"" + member.address() + "\"");
            }
            return;
        }
        MemberRecord previous = members.get(member.id());
        MemberEvent.Type type = switch (event.type()) {
            case ADDED -> MemberEvent.Type.ADDED;
            case UPDATED -> MemberEvent.Type.UPDATED;
            case LEAVING -> MemberEvent.Type.LEAVING;
            case REMOVED -> MemberEvent.Type.REMOVED;
        };
        if (previous == null && type != MemberEvent.Type.REMOVED && members.size() >= maxMembers) {
            counters.membersRefused.increment();
            refusedWarning.warn(member.id() + " at " + member.address() + ": " + members.size() + " members known");
            return;
        }
        if (previous == null && type == MemberEvent.Type.REMOVED) {
            return; // one that was refused, or never seen alive: nobody was told of it
        }
        if (previous == null && type == MemberEvent.Type.UPDATED) {
            type = MemberEvent.Type.ADDED; // refused before, taken in now: the listener hears of it first
        }
        ByteBuffer buffer = type == MemberEvent.Type.REMOVED ? event.oldMetadata() : event.newMetadata();
        InetSocketAddress address = toSocketAddress(member.address());
        // ADDED and UPDATED bring what the member announced; LEAVING and REMOVED repeat its last metadata, whose
        // refusal was counted when it came (unless the leave is the first this node hears of the member).
        boolean announcement = type == MemberEvent.Type.ADDED || type == MemberEvent.Type.UPDATED || previous == null;
        MemberEvent announced = new MemberEvent(type, member.id(), member.alias(), address,
                decode(member, buffer, announcement), event.timestamp());
        MemberRecord record = MemberRecord.next(previous, announced);
        // LEAVING and REMOVED tell the member's last valid metadata, also when scalecube sends none (a leave that
        // overtook the join) or none that is valid.
        boolean departing = type == MemberEvent.Type.LEAVING || type == MemberEvent.Type.REMOVED;
        MemberEvent memberEvent = departing && announced.metadata() == null
                ? new MemberEvent(type, member.id(), member.alias(), address, record.metadata(), event.timestamp())
                : announced;

        if (type == MemberEvent.Type.REMOVED) {
            members.remove(member.id());
            reportedBadMetadata.remove(member.id());
        } else {
            members.put(member.id(), record);
        }
        if (type == MemberEvent.Type.ADDED && !joined) {
            joined = true;
            LOG.info("Joined the cluster: first member seen is {}", describe(memberEvent));
        }
        LOG.debug("Membership {}: {}", type, describe(memberEvent));
        try {
            listener.onMembershipEvent(memberEvent);
        } catch (RuntimeException e) {
            LOG.error("Membership listener failed on {} of {}", type, describe(memberEvent), e);
        }
    }

    boolean joined() {
        return joined;
    }

    /** @param announcement whether the metadata is news from the member, to count and report when invalid */
    private MemberMetadata decode(Member member, ByteBuffer buffer, boolean announcement) {
        if (buffer == null || !buffer.hasRemaining()) {
            return null;
        }
        try {
            return MetadataJson.parse(MetadataJson.toBytes(buffer));
        } catch (IllegalArgumentException e) {
            if (!announcement) {
                return null;
            }
            counters.metadataRejected.increment();
            if (reportedBadMetadata.add(member.id())) {
                LOG.warn("Ignoring invalid metadata of member {} at {}: {}", member.id(), member.address(), e.getMessage());
            }
            return null;
        }
    }

    /** Whether {@code address} is a non-empty host, a colon and a port in 0-65535, as {@link #toSocketAddress} takes. */
    static boolean wellFormed(String address) {
        int colon = address == null ? -1 : address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1 || address.length() - colon > 6) {
            return false;
        }
        for (int i = colon + 1; i < address.length(); i++) {
            if (address.charAt(i) < '0' || address.charAt(i) > '9') {
                return false;
            }
        }
        return Integer.parseInt(address.substring(colon + 1)) <= 65535;
    }

    /**
     * Scalecube addresses are "host:port"; IP literals become resolved addresses, anything else (a name, a text that
     * only looks like a literal, as 300.1.1.1) stays unresolved. Never a DNS lookup: this runs on scalecube's thread,
     * which also answers the failure detector's pings, and the JDK looks up what its parser does not take.
     */
    static InetSocketAddress toSocketAddress(String address) {
        int colon = address.lastIndexOf(':');
        String host = address.substring(0, colon);
        int port = Integer.parseInt(address.substring(colon + 1));
        if (NetUtil.isValidIpV4Address(host) || NetUtil.isValidIpV6Address(host)) {
            try { // parsed; an IPv6 scope naming no interface of this host is an error, not a lookup
                return new InetSocketAddress(InetAddress.getByName(host), port);
            } catch (UnknownHostException e) {
                return InetSocketAddress.createUnresolved(host, port);
            }
        }
        return InetSocketAddress.createUnresolved(host, port);
    }

    private static String describe(MemberEvent event) {
        String name = event.alias() == null ? event.memberId() : event.alias() + "/" + event.memberId();
        MemberMetadata md = event.metadata();
        String what = md == null ? "no metadata"
                : md.role() + (md.service().isEmpty() ? "" : " " + md.service()) + " " + HostAndPort.format(md.host(), md.port())
                + " " + md.state().wireName();
        return name + " @" + HostAndPort.format(event.gossipAddress()) + " (" + what + ")";
    }
}
