package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.testing.TestCertificates;
import io.grapevine.proxy.testing.TestCertificates.KeyForm;
import io.grapevine.proxy.testing.TestCertificates.KeyType;
import io.grapevine.proxy.testing.TestCertificates.Pair;
import io.grapevine.proxy.testing.Tools;
import io.grapevine.proxy.testing.Tools.Run;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTP/2 over TLS as a browser gets it: the proxy's own TLS listener offers {@code h2} and {@code http/1.1}
 * by ALPN, {@code h2} is served by the HTTP/2 codec and {@code http/1.1} by the HTTP/1.x one, both with
 * {@code X-Forwarded-Proto: https}; checked with curl, certificate made by openssl.
 */
class Http2OverTlsIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @TempDir
    Path dir;

    @Test
    void curlGetsHttp2ByAlpnAndHttp11WhenItAsksForIt() throws Exception {
        Tools.requireCurlWithHttp2();
        DemoBackend backend = fx.backend(1);
        Pair cert = TestCertificates.selfSigned(dir, "proxy", KeyType.EC, KeyForm.PKCS8, "/CN=localhost",
                "localhost");
        ProxyServer proxy = fx.proxy(1, "\"tls\": {\"cert\": \"" + cert.cert() + "\", \"key\": \"" + cert.key() + "\"}",
                backend.port());
        String url = "https://localhost:" + proxy.listenAddress().getPort() + "/echo";
        String resolve = "localhost:" + proxy.listenAddress().getPort() + ":127.0.0.1";

        Run h2 = Tools.ok(Tools.run(30, "curl", "-sS", "--cacert", cert.cert().toString(), "--resolve", resolve,
                "--http2", "--data-binary", "hi", "-w", "%{http_version}", url));
        assertTrue(h2.out().endsWith("2"), "HTTP/2 chosen by ALPN: " + h2.out());
        assertTrue(h2.out().contains("\nX-Forwarded-Proto: https\n"), h2.out());
        assertTrue(h2.out().contains("body-length: 2\n"), h2.out());

        Run h1 = Tools.ok(Tools.run(30, "curl", "-sS", "--cacert", cert.cert().toString(), "--resolve", resolve,
                "--http1.1", "-w", "%{http_version}", url));
        assertTrue(h1.out().endsWith("1.1"), h1.out());
        assertTrue(h1.out().contains("\nX-Forwarded-Proto: https\n"), h1.out());
        assertEquals(1, proxy.stats().http2Connections.sum(), "one HTTP/2 connection, the other HTTP/1.1");
        assertEquals(2, proxy.stats().tlsHandshakes.sum());
    }
}
