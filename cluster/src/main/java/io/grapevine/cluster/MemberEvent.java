package io.grapevine.cluster;

import java.net.InetSocketAddress;

/**
 * A change in cluster membership, as seen by the local node.
 *
 * @param type            what happened
 * @param memberId        scalecube member id, unique per process start
 * @param alias           the member's alias, or null
 * @param gossipAddress   the member's advertised membership address (unresolved if it is a name)
 * @param metadata        what the member announces; null when it announced nothing or something
 *                        that is not valid {@link MemberMetadata} (counted in
 *                        {@link SecurityCounters#metadataRejected()})
 * @param timestampMillis wall-clock time the local node saw the change
 */
public record MemberEvent(Type type, String memberId, String alias, InetSocketAddress gossipAddress,
                          MemberMetadata metadata, long timestampMillis) {

    public enum Type {
        /** A member joined (or the local node joined a cluster that had it). Its metadata was fetched. */
        ADDED,
        /** A member published new metadata, e.g. a state change. */
        UPDATED,
        /** A member announced a graceful leave, about 0.1-0.3 s after it called leave(): treat as drain. */
        LEAVING,
        /** A member left or crashed and its suspicion timeout ran out. */
        REMOVED
    }
}
