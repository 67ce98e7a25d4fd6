package io.grapevine.cluster;

/**
 * A snapshot of what a {@link GossipNode} refused since it started. Every count only grows.
 *
 * @param framesAccepted      frames that passed every check and were handed to the protocol
 * @param rejectedBadMac      frames whose authentication tag did not verify (altered in transit, or
 *                            sealed with a different key that happens to share the key id)
 * @param rejectedUnknownKey  frames sealed with a key this node does not hold, or unsealed frames
 *                            arriving at a node that has a keyring (and sealed ones at a node without)
 * @param rejectedMalformed   frames too short, of an unknown format version, or whose content is not
 *                            one of the message shapes the membership protocol uses
 * @param rejectedReplayed    authentic frames seen before, or sent outside the replay window
 * @param rejectedOversized   frames announcing more than {@code maxFrameBytes}: refused when their length is
 *                            read, before any of their content is buffered, and their connection closed
 * @param metadataRejected    member announcements whose metadata was not valid {@link MemberMetadata}
 *                            JSON; such members are reported with no metadata
 * @param connectionsRefused  connections to the membership port closed as they arrived, because
 *                            {@code maxInboundConnections} were open already
 * @param membersRefused      members not kept (nor reported to the listener) because {@code maxMembers}
 *                            others were known already
 * @param sendsDropped        messages not sent to a member whose connection held more unsent bytes than its
 *                            high-water mark (a member that does not read what it is sent)
 */
public record SecurityCounters(long framesAccepted, long rejectedBadMac, long rejectedUnknownKey,
                               long rejectedMalformed, long rejectedReplayed, long rejectedOversized,
                               long metadataRejected, long connectionsRefused, long membersRefused,
                               long sendsDropped) {

    /** All frames dropped, for whatever reason. */
    public long framesRejected() {
        return rejectedBadMac + rejectedUnknownKey + rejectedMalformed + rejectedReplayed + rejectedOversized;
    }
}
