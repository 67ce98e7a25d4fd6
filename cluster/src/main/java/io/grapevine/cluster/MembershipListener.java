package io.grapevine.cluster;

/** Receives membership changes from a {@link GossipNode}. */
@FunctionalInterface
public interface MembershipListener {

    /**
     * Called for each change, in order, on the node's single gossip thread, which also answers
     * pings: the listener must not block, and should hand the event to its own thread at once.
     * An exception is logged and otherwise ignored.
     */
    void onMembershipEvent(MemberEvent event);
}
