package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.client.ClientInitializer;
import io.grapevine.proxy.forward.LoopContext;
import io.grapevine.proxy.net.Transport;
import io.grapevine.proxy.testing.Tools;
import io.grapevine.proxy.testing.Tools.Run;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ClientInitializer#installHttp2} behind TLS, as an ALPN handler calls it: the same HTTP/2 server on
 * a pipeline that starts with an {@code SslHandler}, its requests forwarded with
 * {@code X-Forwarded-Proto: https}; {@code http/1.1} chosen by ALPN gets the HTTP/1.x codec. The listener
 * here is the test's own (TLS configuration is not part of this code); the codecs and the event loop are
 * the proxy's.
 */
class Http2OverTlsIntegrationTest {

    private static final char[] PASSWORD = "changeit".toCharArray();

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @TempDir
    Path dir;

    @Test
    void alpnH2OverTlsIsServedByTheHttp2Codec() throws Exception {
        Tools.requireCurlWithHttp2();
        DemoBackend backend = fx.backend(1);
        ProxyServer proxy = fx.proxy(1, "", backend.port());
        InetSocketAddress address = tlsListener(proxy, serverContext());

        String url = "https://127.0.0.1:" + address.getPort() + "/echo";
        Run h2 = Tools.ok(Tools.run(30, "curl", "-sS", "-k", "--http2", "--data-binary", "hi", "-w",
                "%{http_version}", url));
        assertTrue(h2.out().endsWith("2"), "HTTP/2 chosen by ALPN: " + h2.out());
        assertTrue(h2.out().contains("\nX-Forwarded-Proto: https\n"), h2.out());
        assertTrue(h2.out().contains("body-length: 2\n"), h2.out());

        Run h1 = Tools.ok(Tools.run(30, "curl", "-sS", "-k", "--http1.1", "-w", "%{http_version}", url));
        assertTrue(h1.out().endsWith("1.1"), h1.out());
        assertTrue(h1.out().contains("\nX-Forwarded-Proto: https\n"), h1.out());
        assertTrue(proxy.stats().http2Connections.sum() == 1, "one HTTP/2 connection, the other HTTP/1.1");
    }

    /** A TLS listener on the proxy's event loop whose ALPN handler installs the proxy's codecs. */
    private InetSocketAddress tlsListener(ProxyServer proxy, SslContext tls) throws InterruptedException {
        LoopContext loop = proxy.dataPlane().loops().get(0);
        ClientInitializer initializer = new ClientInitializer(proxy.dataPlane(), proxy.stats(), 100);
        Channel listener = new ServerBootstrap()
                .group(loop.eventLoop(), loop.eventLoop())
                .channel(Transport.best().serverChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        proxy.stats().connectionsCurrent.incrementAndGet(); // as the proxy's own listener counts
                        ch.pipeline().addLast(tls.newHandler(ch.alloc()));
                        ch.pipeline().addLast(new ApplicationProtocolNegotiationHandler(ApplicationProtocolNames.HTTP_1_1) {
                            @Override
                            protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
                                if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
                                    initializer.installHttp2(ctx.pipeline());
                                } else {
                                    initializer.installHttp1(ctx.pipeline());
                                }
                            }
                        });
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)).sync().channel();
        fx.track(() -> listener.close().sync());
        return (InetSocketAddress) listener.localAddress();
    }

    /** A self-signed ECDSA certificate for 127.0.0.1, made with keytool; ALPN offers h2 and http/1.1. */
    private SslContext serverContext() throws Exception {
        Path store = dir.resolve("proxy.p12");
        String keytool = Path.of(System.getProperty("java.home"), "bin", "keytool").toString();
        Tools.ok(Tools.run(60, keytool, "-genkeypair", "-keyalg", "EC", "-groupname", "secp256r1", "-alias", "proxy",
                "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", store.toString(), "-storepass", new String(PASSWORD), "-keypass", new String(PASSWORD)));
        KeyStore keys = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            keys.load(in, PASSWORD);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, PASSWORD);
        return SslContextBuilder.forServer(kmf).sslProvider(SslProvider.JDK)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                        ApplicationProtocolNames.HTTP_2, ApplicationProtocolNames.HTTP_1_1))
                .build();
    }
}
