package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Which transport runs, and what the start-up line says about it. */
class TransportTest {

    @Test
    void namesAreTheCommandLinesInAnyCaseAndSpelling() {
        assertEquals(Transport.IO_URING, Transport.parse("io_uring"));
        assertEquals(Transport.IO_URING, Transport.parse(" IO-URING "));
        assertEquals(Transport.IO_URING, Transport.parse("iouring"));
        assertEquals(Transport.EPOLL, Transport.parse("Epoll"));
        assertEquals(Transport.NIO, Transport.parse("nio"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Transport.parse("kqueue"));
        assertEquals("\"kqueue\" is not a transport: io_uring, epoll or nio", e.getMessage());
        assertEquals("io_uring", Transport.IO_URING.toString());
    }

    @Test
    void theDefaultIsEpollUntilMeasurementsSayOtherwise() {
        assertEquals(Transport.EPOLL, Transport.DEFAULT);
        Transport.Choice choice = Transport.choose(null);
        assertFalse(choice.fellBack(), "nothing was asked for, so nothing fell back");
        if (Transport.EPOLL.isAvailable()) {
            assertEquals(Transport.EPOLL, choice.transport());
            assertEquals("epoll (the default)", choice.describe());
        } else {
            assertEquals(Transport.NIO, choice.transport());
            assertTrue(choice.describe().startsWith("nio: the default, epoll is unavailable here ("), choice.describe());
        }
    }

    @Test
    void aRequestedTransportRunsWhenAvailableAndFallsBackToTheNextOneOtherwise() {
        for (Transport requested : Transport.values()) {
            Transport.Choice choice = Transport.choose(requested);
            if (requested.isAvailable()) {
                assertEquals(requested, choice.transport());
                assertNull(requested.unavailabilityCause());
                assertEquals(requested + " (requested)", choice.describe());
                assertFalse(choice.fellBack());
            } else {
                assertTrue(choice.transport().ordinal() > requested.ordinal(), "falls back down the list: " + choice);
                assertTrue(choice.transport().isAvailable());
                assertTrue(choice.fellBack());
                assertTrue(choice.describe().startsWith(choice.transport() + ": " + requested
                        + " was requested but is unavailable here (" + requested.unavailabilityCause() + ")"),
                        choice.describe());
            }
        }
    }

    @Test
    void aFallBackNamesEveryTransportThatCouldNotRun() {
        Transport.Choice choice = new Transport.Choice(Transport.NIO, Transport.IO_URING,
                List.of("io_uring was requested but is unavailable here (no kernel support)",
                        "epoll is unavailable here (no library)"));
        assertTrue(choice.fellBack());
        assertEquals("nio: io_uring was requested but is unavailable here (no kernel support); then epoll is unavailable"
                + " here (no library)", choice.describe());
        assertTrue(Transport.NIO.isAvailable());
        assertNull(Transport.NIO.unavailabilityCause());
    }

    /**
     * The listener sets no socket option on the connections it accepts (a system call each): it counts on every
     * transport's socket channel turning TCP_NODELAY on when it is made, and SO_KEEPALIVE stays off until a tunnel
     * opens. A Netty release that changed the first would send small responses late (Nagle's algorithm).
     */
    @Test
    void acceptedConnectionsHaveTcpNoDelayAndNoKeepaliveWithoutBeingAsked() throws Exception {
        for (Transport t : Transport.values()) {
            if (!t.isAvailable()) {
                continue;
            }
            EventLoopGroup group = t.newGroup(1, "transport-test");
            try {
                CompletableFuture<List<Boolean>> options = new CompletableFuture<>();
                Channel listener = new ServerBootstrap().group(group).channel(t.serverChannel())
                        .childHandler(new ChannelInitializer<SocketChannel>() {
                            @Override
                            protected void initChannel(SocketChannel ch) {
                                options.complete(List.of(ch.config().getOption(ChannelOption.TCP_NODELAY),
                                        ch.config().getOption(ChannelOption.SO_KEEPALIVE)));
                            }
                        })
                        .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
                try (Socket client = new Socket()) {
                    client.connect(listener.localAddress(), 5_000);
                    assertEquals(List.of(true, false), options.get(5, TimeUnit.SECONDS),
                            t + ": TCP_NODELAY and SO_KEEPALIVE of an accepted connection");
                } finally {
                    listener.close().sync();
                }
            } finally {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
            }
        }
    }
}
