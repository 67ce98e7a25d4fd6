package io.grapevine.cluster;

import java.net.InetSocketAddress;

/**
 * Another member as the local node currently knows it.
 *
 * @param memberId        scalecube member id
 * @param alias           alias, or null
 * @param gossipAddress   advertised membership address
 * @param metadata        last valid metadata, or null
 * @param lastEvent       the last event seen for it (ADDED, UPDATED or LEAVING)
 * @param lastEventMillis when that event was seen
 */
public record MemberView(String memberId, String alias, InetSocketAddress gossipAddress,
                         MemberMetadata metadata, MemberEvent.Type lastEvent, long lastEventMillis) {
}
