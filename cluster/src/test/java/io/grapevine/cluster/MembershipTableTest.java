package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.membership.MembershipEvent;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The membership table fed with scalecube's events directly, as the gossip thread feeds it; no sockets. */
class MembershipTableTest {

    /**
     * {@code metadataRejected} counts announcements: a member whose one announcement is invalid is counted once, not
     * again when its leave and its removal repeat that same metadata.
     */
    @Test
    void invalidMetadataIsCountedOncePerAnnouncementNotPerEvent() {
        FrameCounters counters = new FrameCounters();
        List<MemberEvent> seen = new ArrayList<>();
        MembershipTable table = new MembershipTable(seen::add, counters, 10);
        Member member = new Member("m1", null, "127.0.0.1:4000", "grapevine");
        ByteBuffer bad = ByteBuffer.wrap("{\"role\":\"backend\",\"port\":99999}".getBytes(StandardCharsets.UTF_8));

        table.onEvent(MembershipEvent.createAdded(member, bad, 1));
        assertEquals(1, counters.snapshot().metadataRejected());
        table.onEvent(MembershipEvent.createLeaving(member, bad, 2));
        table.onEvent(MembershipEvent.createRemoved(member, bad, 3));

        assertEquals(List.of(MemberEvent.Type.ADDED, MemberEvent.Type.LEAVING, MemberEvent.Type.REMOVED),
                seen.stream().map(MemberEvent::type).toList());
        seen.forEach(e -> assertNull(e.metadata()));
        assertEquals(1, counters.snapshot().metadataRejected(), counters.snapshot().toString());
    }

    /**
     * A member's gossip address is whatever its announcement says. One that is not host:port is refused and counted;
     * before, parsing it threw out of the handler, which ends scalecube's subscription of membership events: the node
     * heard of no join or leave again.
     */
    @Test
    void aMemberWhoseAddressIsNotHostAndPortIsRefusedAndTheEventsAfterItAreStillHeard() {
        FrameCounters counters = new FrameCounters();
        List<MemberEvent> seen = new ArrayList<>();
        MembershipTable table = new MembershipTable(seen::add, counters, 10);
        ByteBuffer metadata = ByteBuffer.wrap(MetadataJson.encode(
                MemberMetadata.backend("api", "127.0.0.1", 8080, 1, Map.of(), MemberState.UP)));
        for (String address : List.of("no-port", ":4000", "10.0.0.1:", "10.0.0.1:port", "10.0.0.1:70000",
                "10.0.0.1:4000000000")) {
            Member malformed = new Member("bad " + address, null, address, "grapevine");
            assertDoesNotThrow(() -> table.onEvent(MembershipEvent.createAdded(malformed, metadata.duplicate(), 1)),
                    address);
            assertDoesNotThrow(() -> table.onEvent(MembershipEvent.createRemoved(malformed, metadata.duplicate(), 2)),
                    address);
        }
        assertEquals(List.of(), seen, "no event of a refused member reaches the listener");
        assertEquals(6, counters.snapshot().membersRefused(), counters.snapshot().toString());

        Member good = new Member("m1", null, "127.0.0.1:4000", "grapevine");
        table.onEvent(MembershipEvent.createAdded(good, metadata.duplicate(), 3));
        assertEquals(List.of("m1"), seen.stream().map(MemberEvent::memberId).toList());
    }
}
