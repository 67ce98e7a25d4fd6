package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.Test;

class ClientAddressTest {

    @Test
    void aConnectionWithoutAProxyHeaderIsAskedWithoutGainingAttributes() {
        EmbeddedChannel ch = new EmbeddedChannel();
        assertNull(ClientAddress.of(ch), "an embedded channel's peer is no IP address");
        assertNull(ClientAddress.destinationOf(ch));
        assertFalse(ch.hasAttr(ClientAddress.ANNOUNCED), "reading made no attribute");
        assertFalse(ch.hasAttr(ClientAddress.ANNOUNCED_DESTINATION), "reading made no attribute");
        ch.finishAndReleaseAll();
    }

    @Test
    void whatAProxyHeaderAnnouncedIsTheClientAndItsDestination() {
        EmbeddedChannel ch = new EmbeddedChannel();
        InetSocketAddress client = new InetSocketAddress("198.51.100.7", 40000);
        InetSocketAddress destination = new InetSocketAddress("192.0.2.10", 443);
        ch.attr(ClientAddress.ANNOUNCED).set(client);
        ch.attr(ClientAddress.ANNOUNCED_DESTINATION).set(destination);
        assertEquals(client, ClientAddress.of(ch));
        assertEquals(destination, ClientAddress.destinationOf(ch));
        assertEquals("198.51.100.7", ClientAddress.text(ch));
        ch.finishAndReleaseAll();
    }
}
