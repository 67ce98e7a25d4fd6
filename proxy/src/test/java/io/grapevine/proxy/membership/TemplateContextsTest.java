package io.grapevine.proxy.membership;

import io.grapevine.cluster.MemberRecord;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a template sees of a member's address: {@code address} and {@code name} bracket an IPv6 host. */
class TemplateContextsTest {

    private static MemberRecord backend(String id, String host, int port) {
        return backend(id, host, port, MemberState.UP);
    }

    private static MemberRecord backend(String id, String host, int port, MemberState state) {
        return new MemberRecord(id, null, new InetSocketAddress("127.0.0.1", 40_000),
                MemberMetadata.backend("web", host, port, 1, Map.of(), state), MemberEvent.Type.ADDED, 1);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> members(MemberRecord... records) {
        return (List<Map<String, Object>>) TemplateContexts.build(List.of(records), List.of()).get("members");
    }

    @Test
    void ipv6HostsAreBracketedInAddressAndName() {
        List<Map<String, Object>> members = members(backend("a", "::1", 8001), backend("b", "10.0.0.5", 8080));
        Map<String, Object> v4 = members.get(0);
        Map<String, Object> v6 = members.get(1);
        assertEquals("::1", v6.get("host"));
        assertEquals("[::1]:8001", v6.get("address"));
        assertEquals("web@[::1]:8001", v6.get("name"));
        assertEquals("10.0.0.5:8080", v4.get("address"));
        assertEquals("web@10.0.0.5:8080", v4.get("name"));
    }

    @Test
    void oneBackendAnnouncedTwiceAppearsOnce() {
        assertEquals(1, members(backend("old", "::1", 8001), backend("new", "::1", 8001)).size());
    }

    /**
     * One backend written two ways (an IPv6 address in full and compressed, a host name in two cases) is one backend,
     * as it is one server in the table: it appears once, as its live member announces it, and a draining
     * predecessor that spelled it otherwise neither drains it nor shows it twice (an export would list it twice).
     */
    @Test
    void oneBackendSpelledTwoWaysAppearsOnceAsItsLiveMemberSaysIt() {
        List<Map<String, Object>> v6 = members(backend("old", "0:0:0:0:0:0:0:1", 8001, MemberState.DRAINING),
                backend("new", "::1", 8001));
        assertEquals(List.of("new up"), v6.stream().map(m -> m.get("id") + " " + m.get("state")).toList());
        List<Map<String, Object>> names = members(backend("old", "WEB1.example.com", 8001, MemberState.DRAINING),
                backend("new", "web1.example.com", 8001));
        assertEquals(List.of("new up"), names.stream().map(m -> m.get("id") + " " + m.get("state")).toList());
    }
}
