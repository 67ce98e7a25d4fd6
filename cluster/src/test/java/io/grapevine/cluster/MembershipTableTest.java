package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.membership.MembershipEvent;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
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
}
