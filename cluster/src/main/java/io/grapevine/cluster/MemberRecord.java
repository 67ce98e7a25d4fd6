package io.grapevine.cluster;

import java.net.InetSocketAddress;

/**
 * What the local node knows of another member: its last valid metadata and the last event about it. The
 * one record of a member, kept by {@link GossipNode#members()} and by whoever listens to its events (the
 * proxy's membership view), both through {@link #next}.
 *
 * @param id              scalecube member id, unique per process start
 * @param alias           alias, or null
 * @param gossipAddress   advertised membership address
 * @param metadata        last valid metadata; null while the member has announced nothing valid (it is then
 *                        shown, but never routed to)
 * @param lastEvent       the last event seen for it: ADDED, UPDATED or LEAVING; REMOVED ends the record (the proxy
 *                        keeps such a record for a while when it still reaches the member's backend)
 * @param lastEventMillis when that event was seen
 */
public record MemberRecord(String id, String alias, InetSocketAddress gossipAddress, MemberMetadata metadata,
                           MemberEvent.Type lastEvent, long lastEventMillis) {

    /**
     * The record after {@code event}, given the one before it ({@code null} for a member not seen yet). An
     * event without valid metadata (refused by {@link MetadataJson}, or a LEAVING that overtook the join)
     * keeps the last valid metadata: a member's refused update never makes it forget what it announced.
     *
     * <p>A leave is for good: a member leaves when its process stops, and its id is never heard alive again. An
     * UPDATED after its LEAVING (the metadata of an update made just before the leave, such as the agent's
     * {@code draining}, fetched after the leave had spread: scalecube fetches metadata and gossips leaves
     * independently) takes its metadata but keeps it leaving.
     */
    public static MemberRecord next(MemberRecord previous, MemberEvent event) {
        MemberMetadata metadata = event.metadata() != null ? event.metadata()
                : previous != null ? previous.metadata() : null;
        MemberEvent.Type last = event.type() == MemberEvent.Type.UPDATED && previous != null
                && previous.lastEvent() == MemberEvent.Type.LEAVING ? MemberEvent.Type.LEAVING : event.type();
        return new MemberRecord(event.memberId(), event.alias(), event.gossipAddress(), metadata, last,
                event.timestampMillis());
    }

    public boolean isBackend() {
        return metadata != null && metadata.isBackend();
    }

    public boolean isProxy() {
        return metadata != null && !metadata.isBackend();
    }

    /** up, down or draining: a member that announced its leave is draining whatever it said before. */
    public String effectiveState() {
        if (lastEvent == MemberEvent.Type.LEAVING || (metadata != null && metadata.state() == MemberState.DRAINING)) {
            return "draining";
        }
        return metadata != null && metadata.state() == MemberState.DOWN ? "down" : "up";
    }

    /** The short description used in log lines: {@code web@10.0.0.5:8080 (alias member 1a2b3c4d at 10.0.0.5:40191)}. */
    public String describe() {
        String who = metadata == null ? "member" : metadata.isBackend()
                ? metadata.service() + "@" + HostAndPort.format(metadata.host(), metadata.port()) : "proxy";
        String name = alias != null && !alias.equals(who) ? alias + " " : "";
        String at = gossipAddress == null ? "unknown address" : HostAndPort.format(gossipAddress);
        return who + " (" + name + "member " + id.substring(0, Math.min(8, id.length())) + " at " + at + ")";
    }
}
