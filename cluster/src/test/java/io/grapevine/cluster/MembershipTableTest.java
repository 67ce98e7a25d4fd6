package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.scalecube.cluster.Member;
import io.scalecube.cluster.membership.MembershipEvent;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    /**
     * A member's address is parsed, never looked up: the table runs on scalecube's thread, which also answers the
     * failure detector's pings, and a lookup there waits for the system resolver's timeout when the DNS server is
     * silent. A JVM of its own takes its names from a hosts file that knows the two texts that look like IP literals
     * and are none: whether they went to the resolver shows in the address.
     */
    @Test
    void aMemberAddressThatIsNoIpLiteralIsNeverLookedUp(@TempDir Path dir) throws Exception {
        String out = HostsFileJvm.run(dir, List.of("10.9.9.9 300.1.1.1", "10.9.9.8 g::1"), MemberAddresses.class,
                "300.1.1.1:7946", "g::1:7946", "127.0.0.1:7946", "::1:7946");
        assertEquals("300.1.1.1 unresolved\ng::1 unresolved\n127.0.0.1 /127.0.0.1\n0:0:0:0:0:0:0:1 /0:0:0:0:0:0:0:1\n", out);
    }

    /** Prints what {@link MembershipTable#toSocketAddress} makes of each argument, a line each. */
    static final class MemberAddresses {
        public static void main(String[] args) {
            for (String address : args) {
                InetSocketAddress a = MembershipTable.toSocketAddress(address);
                System.out.println(a.getHostString() + " " + (a.isUnresolved() ? "unresolved" : a.getAddress()));
            }
        }
    }
}
