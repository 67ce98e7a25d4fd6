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
 * @param metadataRejected    member announcements whose metadata was not valid {@link MemberMetadata}
 *                            JSON; such members are reported with no metadata
 */
public record SecurityCounters(long framesAccepted, long rejectedBadMac, long rejectedUnknownKey,
                               long rejectedMalformed, long rejectedReplayed, long metadataRejected) {

    /** All frames dropped, for whatever reason. */
    public long framesRejected() {
        return rejectedBadMac + rejectedUnknownKey + rejectedMalformed + rejectedReplayed;
    }
}
