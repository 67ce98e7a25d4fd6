package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

/** The one host:port formatter: IPv6 literals in brackets, everything else as given. */
class HostAndPortFormatTest {

    @Test
    void ipv6LiteralsAreBracketed() {
        assertEquals("[::1]:8001", HostAndPort.format("::1", 8001));
        assertEquals("[fe80::1%eth0]:80", HostAndPort.format("fe80::1%eth0", 80));
        assertEquals("[2001:db8::7]:443", new HostAndPort("2001:db8::7", 443).toString());
    }

    @Test
    void namesAndIpv4AreAsGiven() {
        assertEquals("127.0.0.1:8001", HostAndPort.format("127.0.0.1", 8001));
        assertEquals("web-1.internal:8080", HostAndPort.format("web-1.internal", 8080));
        assertEquals("localhost:0", new HostAndPort("localhost", 0).toString());
    }

    @Test
    void socketAddressesUseTheirHostStringUnresolved() throws Exception {
        assertEquals("[0:0:0:0:0:0:0:1]:7946",
                HostAndPort.format(new InetSocketAddress(InetAddress.getByName("::1"), 7946)));
        assertEquals("proxy:7946", HostAndPort.format(InetSocketAddress.createUnresolved("proxy", 7946)));
    }

    @Test
    void parseReadsWhatFormatWrites() {
        for (HostAndPort hp : new HostAndPort[] {new HostAndPort("::1", 1), new HostAndPort("10.0.0.1", 65535)}) {
            assertEquals(hp, HostAndPort.parse(hp.toString(), "address"));
        }
    }
}
