package io.grapevine.proxy.membership;

import io.grapevine.cluster.HostAndPort;
import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import java.net.InetSocketAddress;

/**
 * What the membership view knows of one member: its last valid metadata and the last event about it.
 *
 * @param metadata null when the member announced nothing valid (it is then shown but never routed to)
 */
public record MemberRecord(String id, String alias, InetSocketAddress gossipAddress, MemberMetadata metadata,
                           MemberEvent.Type lastEvent, long lastEventMillis) {

    public boolean isBackend() {
        return metadata != null && metadata.isBackend();
    }

    /** up, down or draining: a member that announced its leave is draining whatever it said before. */
    public String effectiveState() {
        if (lastEvent == MemberEvent.Type.LEAVING || (metadata != null && metadata.state() == MemberState.DRAINING)) {
            return "draining";
        }
        return metadata != null && metadata.state() == MemberState.DOWN ? "down" : "up";
    }

    /** The short description used in log lines: {@code web@10.0.0.5:8080 (alias)}. */
    public String describe() {
        String who = metadata == null ? "member" : metadata.isBackend()
                ? metadata.service() + "@" + HostAndPort.format(metadata.host(), metadata.port()) : "proxy";
        String name = alias != null && !alias.equals(who) ? alias + " " : "";
        String at = gossipAddress == null ? "unknown address" : HostAndPort.format(gossipAddress);
        return who + " (" + name + "member " + id.substring(0, Math.min(8, id.length())) + " at " + at + ")";
    }
}
