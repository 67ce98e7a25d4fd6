package io.grapevine.proxy.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.TestCertificates;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SniCompletionEvent;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslHandshakeTimeoutException;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The step between a TLS handshake and the client codec, on an {@link EmbeddedChannel}: which codec it installs,
 * what it counts, and that a connection it gives up on is counted closed exactly once.
 */
class AlpnCodecSelectorTest {

    private final ProxyStats stats = new ProxyStats();
    private final EmbeddedChannel channel = new EmbeddedChannel();
    private final DataPlane dataPlane;
    private final ClientInitializer initializer;

    AlpnCodecSelectorTest() throws Exception {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": []}", "(test)");
        TableHolder tables = new TableHolder(1, config.routes(), config::policyOf);
        dataPlane = new DataPlane(config, tables, stats, Transport.NIO, channel.eventLoop());
        initializer = new ClientInitializer(dataPlane, stats, config).withTls(accepted -> new ChannelInboundHandlerAdapter());
        // as the initializer's admission counts an accepted connection, until it closes
        stats.connectionsCurrent.incrementAndGet();
        channel.closeFuture().addListener(f -> stats.connectionsCurrent.decrementAndGet());
    }

    private void install() {
        channel.pipeline().addLast(ClientInitializer.ALPN, new AlpnCodecSelector(initializer,
                dataPlane.loopOf(channel.eventLoop())));
    }

    @Test
    void aFailedHandshakeIsCountedOnceAndTheConnectionOnce() {
        install();
        channel.pipeline().fireUserEventTriggered(new SniCompletionEvent(new NotSslRecordException("GET / HTTP/1.1")));
        channel.pipeline().fireUserEventTriggered(new SslHandshakeCompletionEvent(new NotSslRecordException("again")));
        channel.runPendingTasks();

        assertFalse(channel.isOpen());
        assertEquals(1, stats.tlsHandshakeFailures.sum());
        assertEquals(0, stats.tlsHandshakes.sum());
        assertEquals(0, stats.connectionsCurrent.get());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void anErrorBeforeTheHandshakeCompletedIsAFailure() {
        install();
        channel.pipeline().fireExceptionCaught(new IOException("Connection reset by peer"));
        assertFalse(channel.isOpen());
        assertEquals(1, stats.tlsHandshakeFailures.sum());
        assertEquals(0, stats.connectionsCurrent.get());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void aHandshakeThatTimesOutIsAFailure() {
        install();
        channel.pipeline().fireUserEventTriggered(new SslHandshakeCompletionEvent(new SslHandshakeTimeoutException(
                "handshake timed out after 10000ms")));
        assertFalse(channel.isOpen());
        assertEquals(1, stats.tlsHandshakeFailures.sum());
        assertEquals(0, stats.connectionsCurrent.get());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void aSuccessfulSniLookupIsNotYetAHandshake() {
        install();
        channel.pipeline().fireUserEventTriggered(new SniCompletionEvent("a.test"));
        assertTrue(channel.isOpen());
        assertEquals(0, stats.tlsHandshakes.sum() + stats.tlsHandshakeFailures.sum());
        channel.close();
        assertEquals(0, stats.connectionsCurrent.get(), "closed before any codec: counted down once");
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void aDrainClosesAConnectionStillInItsHandshake() {
        install();
        dataPlane.drain();
        channel.runPendingTasks();
        assertFalse(channel.isOpen());
        assertEquals(0, stats.connectionsCurrent.get());
        assertEquals(0, stats.tlsHandshakeFailures.sum(), "closing it ourselves is no handshake failure");
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void dataBeforeTheHandshakeIsDroppedAndTheConnectionClosed() {
        install();
        channel.writeInbound(Unpooled.copiedBuffer(new byte[] {1, 2, 3}));
        assertFalse(channel.isOpen());
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void aCompletedHandshakeWithoutAlpnInstallsTheProtocolDetectorInItsPlace(@TempDir Path dir) throws Exception {
        TestCertificates.Pair pair = TestCertificates.selfSigned(dir, "a", TestCertificates.KeyType.EC,
                TestCertificates.KeyForm.PKCS8, "/CN=a.test", "a.test");
        channel.pipeline().addLast(ClientInitializer.TLS, SslContextBuilder.forServer(pair.cert().toFile(),
                pair.key().toFile()).sslProvider(SslProvider.JDK).build().newHandler(channel.alloc()));
        install();
        channel.pipeline().fireUserEventTriggered(SslHandshakeCompletionEvent.SUCCESS);

        // no ALPN: HTTP/1.1, or HTTP/2 with prior knowledge, told by the first bytes as in cleartext
        assertEquals(List.of(ClientInitializer.TLS, ClientInitializer.DETECT), channel.pipeline().names().subList(0, 2));
        assertNull(channel.pipeline().get(AlpnCodecSelector.class));
        assertEquals(1, stats.tlsHandshakes.sum());
        channel.close();
        channel.runPendingTasks();
        assertEquals(0, stats.connectionsCurrent.get(), "counted down once, codec or not");
        channel.releaseOutbound(); // the TLS handler's close_notify
        assertFalse(channel.finishAndReleaseAll());
    }

    @Test
    void onlyOfferedProtocolsHaveACodec() {
        assertTrue(ClientInitializer.alpnProtocols().contains("http/1.1"), ClientInitializer.alpnProtocols().toString());
        assertFalse(initializer.installAlpnCodec("spdy/3", channel.pipeline()));
        assertFalse(initializer.installAlpnCodec("h2c", channel.pipeline()));
        assertFalse(channel.finishAndReleaseAll());
    }
}
