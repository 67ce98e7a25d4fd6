package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.net.InetSocketAddress;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How events change what is known of a member, the same in the cluster module and in the proxy. */
class MemberRecordTest {

    private static final InetSocketAddress GOSSIP = new InetSocketAddress("127.0.0.1", 40_000);
    private static final MemberMetadata UP = MemberMetadata.backend("web", "10.0.0.5", 8080, 1, Map.of(), MemberState.UP);

    private static MemberEvent event(MemberEvent.Type type, MemberMetadata metadata, long millis) {
        return new MemberEvent(type, "m1", "web@10.0.0.5:8080", GOSSIP, metadata, millis);
    }

    @Test
    void anUpdateWithoutValidMetadataKeepsTheLastValidOne() {
        MemberRecord added = MemberRecord.next(null, event(MemberEvent.Type.ADDED, UP, 1));
        MemberRecord refused = MemberRecord.next(added, event(MemberEvent.Type.UPDATED, null, 2));
        assertEquals(UP, refused.metadata());
        assertEquals(MemberEvent.Type.UPDATED, refused.lastEvent());
        assertEquals(2, refused.lastEventMillis());
        assertEquals("up", refused.effectiveState());

        MemberMetadata down = UP.withState(MemberState.DOWN);
        assertEquals(down, MemberRecord.next(refused, event(MemberEvent.Type.UPDATED, down, 3)).metadata());
    }

    @Test
    void aMemberThatNeverAnnouncedAnythingValidHasNoMetadata() {
        MemberRecord r = MemberRecord.next(null, event(MemberEvent.Type.ADDED, null, 1));
        assertNull(r.metadata());
        assertEquals(false, r.isBackend());
        assertEquals(false, r.isProxy());
    }

    @Test
    void aLeavingMemberIsDrainingWhateverItAnnounced() {
        MemberRecord added = MemberRecord.next(null, event(MemberEvent.Type.ADDED, UP, 1));
        MemberRecord leaving = MemberRecord.next(added, event(MemberEvent.Type.LEAVING, null, 2));
        assertEquals(UP, leaving.metadata(), "a leave that carries no metadata keeps what the member announced");
        assertEquals("draining", leaving.effectiveState());
        assertEquals("web@10.0.0.5:8080 (member m1 at 127.0.0.1:40000)", leaving.describe());
    }

    /** The agent's draining update, fetched after its leave had spread: the member stays leaving. */
    @Test
    void anUpdateAfterTheLeaveDoesNotTakeItBack() {
        MemberRecord added = MemberRecord.next(null, event(MemberEvent.Type.ADDED, UP, 1));
        MemberRecord leaving = MemberRecord.next(added, event(MemberEvent.Type.LEAVING, UP, 2));
        MemberMetadata draining = UP.withState(MemberState.DRAINING);
        MemberRecord late = MemberRecord.next(leaving, event(MemberEvent.Type.UPDATED, draining, 3));
        assertEquals(MemberEvent.Type.LEAVING, late.lastEvent());
        assertEquals(draining, late.metadata());
        assertEquals(3, late.lastEventMillis());
        assertEquals("draining", MemberRecord.next(leaving, event(MemberEvent.Type.UPDATED, UP, 3)).effectiveState());
    }
}
