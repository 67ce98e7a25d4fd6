package io.grapevine.proxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class SelfAddressGuardTest {

    private static final SelfAddressGuard ON_LOOPBACK = SelfAddressGuard.of(new InetSocketAddress("127.0.0.1", 9000),
            new InetSocketAddress("127.0.0.1", 9001));
    private static final SelfAddressGuard ON_EVERY_ADDRESS = SelfAddressGuard.of(new InetSocketAddress("0.0.0.0", 9000),
            new InetSocketAddress("::", 9001));

    @Test
    void aListenerOnOneAddressIsReachedByThatAddressOnly() {
        assertTrue(ON_LOOPBACK.check("127.0.0.1", 9000).startsWith("it is this proxy's own client listener (--listen)"
                + " 127.0.0.1:9000"), ON_LOOPBACK.check("127.0.0.1", 9000));
        assertTrue(ON_LOOPBACK.check("127.0.0.1", 9001).contains("admin listener (--admin)"));
        assertNotNull(ON_LOOPBACK.check("localhost", 9001), "a name that resolves to the listener");
        assertNotNull(ON_LOOPBACK.check("0.0.0.0", 9000), "0.0.0.0 connects to the loopback address");
        assertNull(ON_LOOPBACK.check("127.0.0.2", 9000), "another loopback address finds nothing there");
        assertNull(ON_LOOPBACK.check("127.0.0.1", 8001));
        assertNull(ON_LOOPBACK.check("no-such-host.invalid", 9000));
    }

    /**
     * A server's host name is checked at the addresses its host check found, not through a lookup of its own: the
     * table thread runs this at every publish, and a DNS server that does not answer would hold it without a limit.
     */
    @Test
    void aNameIsCheckedAtTheAddressesItsHostCheckFound() throws Exception {
        String name = "self-" + System.nanoTime() + ".example";
        try (SilentDns dns = new SilentDns()) {
            dns.answer(InetAddress.getByAddress(new byte[] {127, 0, 0, 1}));
            assertEquals(name, Hosts.normalizeResolvable(name));
        }
        try (SilentDns silent = new SilentDns()) {
            long start = System.nanoTime();
            String why = ON_LOOPBACK.check(name, 9000);
            long waited = (System.nanoTime() - start) / 1_000_000;
            assertNotNull(why, "the name's address is the client listener's");
            assertTrue(waited < 1_000, waited + " ms");
        }
    }

    @Test
    void aWildcardListenerIsReachedByEveryLocalAddress() throws Exception {
        assertTrue(ON_EVERY_ADDRESS.check("127.0.0.2", 9000).contains("which answers on every local address"));
        assertNotNull(ON_EVERY_ADDRESS.check("127.0.0.1", 9001));
        assertNotNull(ON_EVERY_ADDRESS.check("[::1]", 9001));
        assertNotNull(ON_EVERY_ADDRESS.check("::", 9000));
        assertNull(ON_EVERY_ADDRESS.check("192.0.2.10", 9000), "an address of no local interface");
        List<InetAddress> local = new ArrayList<>();
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a instanceof Inet4Address && !a.isLoopbackAddress()) {
                    local.add(a);
                }
            }
        }
        Assumptions.assumeFalse(local.isEmpty(), "no non-loopback IPv4 address on this host");
        assertNotNull(ON_EVERY_ADDRESS.check(local.get(0).getHostAddress(), 9000), local.get(0) + " is local");
        assertNull(ON_LOOPBACK.check(local.get(0).getHostAddress(), 9000), "a loopback listener is not on " + local.get(0));
    }

    @Test
    void filterKeepsOrderAndReportsEachRefusal() {
        ServerSpec own = server("127.0.0.1", 9001);
        ServerSpec other = server("127.0.0.1", 8001);
        List<String> refused = new ArrayList<>();
        List<ServerSpec> kept = ON_LOOPBACK.filter(List.of(other, own, other), (s, why) -> refused.add(s.name() + ": " + why));
        assertEquals(List.of(other, other), kept);
        assertEquals(1, refused.size());
        assertTrue(refused.get(0).startsWith("127.0.0.1:9001: it is this proxy's own admin listener"), refused.get(0));
        assertEquals(List.of(own), SelfAddressGuard.NONE.filter(List.of(own), (s, why) -> refused.add(why)));
    }

    private static ServerSpec server(String host, int port) {
        return new ServerSpec(host + ":" + port, host, port, 1, false, ServerSpec.DEFAULT_POOL, ServerSpec.Source.STATIC,
                ServerSpec.AdminState.UP);
    }
}
