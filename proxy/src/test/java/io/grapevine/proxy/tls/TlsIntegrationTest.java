package io.grapevine.proxy.tls;

import static io.grapevine.proxy.testing.TestCertificates.KeyForm.PKCS8;
import static io.grapevine.proxy.testing.TestCertificates.KeyForm.TRADITIONAL;
import static io.grapevine.proxy.testing.TestCertificates.KeyType.EC;
import static io.grapevine.proxy.testing.TestCertificates.KeyType.RSA;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.Fixtures;
import io.grapevine.proxy.it.WebSocketEchoBackend;
import io.grapevine.proxy.testing.AdminRequests;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.HttpConnection;
import io.grapevine.proxy.testing.LogCapture;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.TestCertificates;
import io.grapevine.proxy.testing.TestCertificates.KeyForm;
import io.grapevine.proxy.testing.TestCertificates.KeyType;
import io.grapevine.proxy.testing.TestCertificates.Pair;
import io.grapevine.proxy.testing.TlsClient;
import io.netty.handler.ssl.OpenSsl;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * TLS termination on real sockets, with certificates the test makes with {@code openssl}: HTTPS to a plain
 * backend, TLS beside plaintext, SNI, RSA and ECDSA keys in every PEM form, certificates replaced on disk under a
 * running proxy (in place and the way Kubernetes swaps a secret), protocol versions, ALPN, failures and the
 * handshake deadline, and curl as an outside client. Each case runs on OpenSSL and on the JDK provider where the
 * provider matters.
 */
class TlsIntegrationTest {

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    @TempDir
    Path dir;

    @RegisterExtension
    final LogCapture log = new LogCapture(ServerTls.class);

    private DemoBackend backend;

    @BeforeEach
    void startBackend() throws Exception {
        backend = fx.backend(1);
    }

    private ProxyServer proxy(String provider, String tlsExtra, Pair... certificates) throws Exception {
        return proxy(provider, tlsExtra, "", certificates);
    }

    /** A proxy in front of the backend whose servers.conf has {@code "tls"} with {@code certificates}. */
    private ProxyServer proxy(String provider, String tlsExtra, String topExtra, Pair... certificates)
            throws Exception {
        String list = Stream.of(certificates).map(p -> "{\"cert\": \"" + p.cert() + "\", \"key\": \"" + p.key() + "\"}")
                .collect(Collectors.joining(", "));
        String tls = "\"tls\": {\"provider\": \"" + provider + "\", \"certificates\": [" + list + "]"
                + (tlsExtra.isEmpty() ? "" : ", " + tlsExtra) + "}";
        return fx.proxy(1, tls + (topExtra.isEmpty() ? "" : ", " + topExtra), backend.port());
    }

    private static String echoed(HttpConnection.Response r, String field) {
        for (String line : r.body().split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).equalsIgnoreCase(field)) {
                return line.substring(colon + 1).trim();
            }
        }
        return null;
    }

    @Test
    void openSslLoadsOnThisMachine() {
        assertTrue(OpenSsl.isAvailable(), "netty-tcnative-boringssl-static did not load: " + OpenSsl.unavailabilityCause());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void anHttpsRequestReachesAPlainBackendWithForwardedProtoHttps(String provider) throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy(provider, "", a);

        try (SSLSocket socket = TlsClient.connect(proxy.listenAddress(), "a.test", "http/1.1")) {
            assertEquals("http/1.1", socket.getApplicationProtocol(), "ALPN selected http/1.1");
            assertEquals("TLSv1.3", socket.getSession().getProtocol());
            HttpConnection http = new HttpConnection(socket, "a.test");
            HttpConnection.Response first = http.get("/echo");
            assertEquals(200, first.status(), first.body());
            assertEquals("https", echoed(first, "X-Forwarded-Proto"), first.body());
            assertEquals("127.0.0.1", echoed(first, "X-Forwarded-For"), first.body());
            HttpConnection.Response second = http.get("/echo");
            assertEquals(200, second.status(), "keep-alive over TLS: " + second.body());
        }
        assertEquals(1, proxy.stats().tlsHandshakes.sum());
        assertEquals(0, proxy.stats().tlsHandshakeFailures.sum());
        Await.until(Duration.ofSeconds(5), "the connection counted closed", () -> proxy.stats().connectionsCurrent.get() == 0);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aClientWithoutAlpnOrWithoutACommonProtocolGetsHttp11(String provider) throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", EC, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy(provider, "", a);
        for (String[] offered : new String[][] {{}, {"spdy/3.1"}}) {
            try (SSLSocket socket = TlsClient.connect(proxy.listenAddress(), "a.test", offered)) {
                assertEquals("", socket.getApplicationProtocol(), "no ALPN answer to " + List.of(offered));
                HttpConnection.Response r = new HttpConnection(socket, "a.test").get("/echo");
                assertEquals("https", echoed(r, "X-Forwarded-Proto"), r.body());
            }
        }
    }

    static Stream<Arguments> keys() {
        List<Arguments> all = new ArrayList<>();
        for (String provider : List.of("openssl", "jdk")) {
            for (KeyType type : KeyType.values()) {
                for (KeyForm form : KeyForm.values()) {
                    all.add(Arguments.of(provider, type, form));
                }
            }
        }
        return all.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("keys")
    void rsaAndEcdsaKeysInEveryPemForm(String provider, KeyType type, KeyForm form) throws Exception {
        Pair pair = TestCertificates.selfSigned(dir, "k", type, form, "/CN=k.test", "k.test");
        String header = Files.readString(pair.key()).lines().filter(l -> l.startsWith("-----BEGIN")).findFirst()
                .orElseThrow();
        assertEquals(form == PKCS8 ? "-----BEGIN PRIVATE KEY-----"
                : type == RSA ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN EC PRIVATE KEY-----", header);
        ProxyServer proxy = proxy(provider, "", pair);
        try (SSLSocket socket = TlsClient.connect(proxy.listenAddress(), "k.test", "http/1.1")) {
            assertEquals(type == RSA ? "RSA" : "EC", TlsClient.served(socket).getPublicKey().getAlgorithm());
            assertEquals(200, new HttpConnection(socket, "k.test").get("/").status());
        }
    }

    @Test
    void aPemChainIsServedWhole() throws Exception {
        Pair chained = TestCertificates.chain(dir, "c", "c.test");
        ProxyServer proxy = proxy("auto", "", chained);
        try (SSLSocket socket = TlsClient.connect(proxy.listenAddress(), "c.test")) {
            assertEquals(2, socket.getSession().getPeerCertificates().length, "the leaf and its issuer");
            assertEquals("CN=c.test", TlsClient.subject(socket));
        }
    }

    @Test
    void tlsOnASecondPortBesidePlaintext() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy("auto", "\"listen\": \"127.0.0.1:0\"", a);
        InetSocketAddress tlsPort = proxy.tlsListenAddress();
        assertNotEquals(proxy.listenAddress(), tlsPort);

        try (HttpConnection plain = new HttpConnection(proxy.listenAddress(), 10_000)) {
            HttpConnection.Response r = plain.get("/echo");
            assertEquals("http", echoed(r, "X-Forwarded-Proto"), r.body());
        }
        try (HttpConnection secure = TlsClient.http(tlsPort, "a.test")) {
            HttpConnection.Response r = secure.get("/echo");
            assertEquals("https", echoed(r, "X-Forwarded-Proto"), r.body());
        }
        assertEquals(2, backend.requestCount(), "both requests reached the backend");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void sniPicksTheCertificateByName(String provider) throws Exception {
        Pair fallback = TestCertificates.selfSigned(dir, "d", RSA, PKCS8, "/CN=default.test", "default.test");
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, TRADITIONAL, "/CN=a.test", "a.test");
        Pair b = TestCertificates.selfSigned(dir, "b", EC, TRADITIONAL, "/CN=b.test", "b.test", "*.w.test");
        ProxyServer proxy = proxy(provider, "", fallback, a, b);

        String[][] expected = {
                {"a.test", "CN=a.test"}, {"A.Test", "CN=a.test"}, {"b.test", "CN=b.test"},
                {"x.w.test", "CN=b.test"}, {"w.test", "CN=default.test"}, {"y.x.w.test", "CN=default.test"},
                {"other.test", "CN=default.test"}, {null, "CN=default.test"}};
        for (String[] e : expected) {
            try (SSLSocket socket = TlsClient.connect(proxy.listenAddress(), e[0], "http/1.1")) {
                assertEquals(e[1], TlsClient.subject(socket), "served for SNI " + e[0]);
                assertEquals(200, new HttpConnection(socket, "h").get("/").status());
            }
        }
    }

    /**
     * SNI with a trailing dot, which RFC 6066 section 3 forbids: OpenSSL takes it and the name picks its certificate
     * as without the dot; the JDK's TLS refuses the ClientHello (configuration.md says both).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aTrailingDotInSniIsTakenByOpenSslAndRefusedByTheJdk(String provider) throws Exception {
        Pair fallback = TestCertificates.selfSigned(dir, "d", RSA, PKCS8, "/CN=default.test", "default.test");
        Pair b = TestCertificates.selfSigned(dir, "b", RSA, PKCS8, "/CN=b.test", "b.test", "*.w.test");
        ProxyServer proxy = proxy(provider, "", fallback, b);
        for (String name : List.of("B.Test.", "x.w.test.")) {
            TestCertificates.Result r = TestCertificates.exec(List.of("openssl", "s_client", "-connect",
                    "127.0.0.1:" + proxy.listenAddress().getPort(), "-servername", name));
            if (provider.equals("openssl")) {
                assertTrue(r.output().contains("subject=CN = b.test") || r.output().contains("subject=CN=b.test"),
                        name + ": " + r.output());
            } else {
                assertTrue(r.output().contains("illegal parameter"), name + ": " + r.output());
            }
        }
    }

    /** Certificate rotation by replacing the files (each in one rename), as certbot and most tools do. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aCertificateReplacedOnDiskIsServedToNewHandshakesWhileOpenConnectionsGoOn(String provider) throws Exception {
        Pair v1 = TestCertificates.selfSigned(dir, "v1", RSA, PKCS8, "/CN=a.test/O=v1", "a.test");
        Pair live = TestCertificates.copy(v1, dir, "live");
        ProxyServer proxy = proxy(provider, "", live);

        try (SSLSocket open = TlsClient.connect(proxy.listenAddress(), "a.test", "http/1.1")) {
            HttpConnection openHttp = new HttpConnection(open, "a.test");
            assertEquals(200, openHttp.get("/").status());
            assertTrue(TlsClient.subject(open).contains("O=v1"), TlsClient.subject(open));

            Pair v2 = TestCertificates.selfSigned(dir, "v2", EC, TRADITIONAL, "/CN=a.test/O=v2", "a.test");
            TestCertificates.replace(v2.key(), live.key());
            TestCertificates.replace(v2.cert(), live.cert());
            long ms = Await.until(Duration.ofSeconds(15), "new handshakes get v2", () -> servedSubject(proxy,
                    "a.test").contains("O=v2"));
            System.out.printf("[tls] %s: a replaced certificate was served %d ms after the rename%n", provider, ms);

            assertEquals(200, openHttp.get("/").status(), "the connection opened before keeps working");
            assertTrue(TlsClient.subject(open).contains("O=v1"), "and keeps its certificate");
        }
        assertTrue(proxy.tls().reloads() >= 1);
    }

    /** {@code POST /reload} re-reads the certificate files too, and their log lines say who asked, as a reload's do. */
    @Test
    void aReloadThroughTheAdminApiIsNotCalledASighup() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", EC, PKCS8, "/CN=a.test", "a.test");
        ProxyUnderTest proxy = fx.track(ProxyUnderTest.in(dir).noGossip().servers("""
                { "backend_servers": [],
                  "tls": { "cert": "%s", "key": "%s" } }
                """.formatted(a.cert(), a.key())).start());
        AdminRequests admin = new AdminRequests(proxy.instance().server().adminAddress());
        AdminRequests.json(admin.send("POST", "/reload", null), 200);
        List<String> lines = log.messages();
        assertTrue(lines.stream().anyMatch(l -> l.matches("admin API POST /reload from 127\\.0\\.0\\.1:\\d+: no TLS"
                + " certificate file changed")), lines.toString());
        assertTrue(lines.stream().noneMatch(l -> l.contains("SIGHUP")), lines.toString());
    }

    /** A certificate reload that fails names the line of servers.conf that names the file, as the start does. */
    @Test
    void aFailedReloadNamesTheServersConfLineOfTheFile() throws Exception {
        Pair a = TestCertificates.copy(TestCertificates.selfSigned(dir, "a", EC, PKCS8, "/CN=a.test", "a.test"), dir,
                "live");
        ProxyUnderTest proxy = fx.track(ProxyUnderTest.in(dir).noGossip().servers("""
                { "backend_servers": [],
                  "tls": { "cert": "%s",
                           "key": "%s" } }
                """.formatted(a.cert(), a.key())).start());
        TestCertificates.replace(Files.writeString(dir.resolve("garbage"), "-----BEGIN PRIVATE KEY-----\nnot base64\n"),
                a.key());
        AdminRequests.json(new AdminRequests(proxy.instance().server().adminAddress()).send("POST", "/reload", null),
                200);
        Await.until(Duration.ofSeconds(15), "the failed reload logged", () -> log.messages().stream()
                .anyMatch(l -> l.contains("not reloaded")));
        String line = log.messages().stream().filter(l -> l.contains("not reloaded")).findFirst().orElseThrow();
        assertTrue(line.matches(".*the one in use stays: \\S*servers\\.conf:3:\\d+: tls\\.key: "
                + Pattern.quote(a.key().toString()) + ": .*"), line);
    }

    /**
     * A Kubernetes secret volume: {@code tls.crt} links to {@code ..data/tls.crt}, {@code ..data} to a directory
     * of the current version; an update writes a new directory and swaps {@code ..data} in one rename.
     */
    @Test
    void aKubernetesSecretUpdateIsSeen() throws Exception {
        Path volume = Files.createDirectories(dir.resolve("secret"));
        Pair v1 = TestCertificates.selfSigned(dir, "v1", RSA, PKCS8, "/CN=a.test/O=v1", "a.test");
        Path version1 = Files.createDirectories(volume.resolve("..2026_01_01_v1"));
        Files.copy(v1.cert(), version1.resolve("tls.crt"));
        Files.copy(v1.key(), version1.resolve("tls.key"));
        Files.createSymbolicLink(volume.resolve("..data"), volume.relativize(version1));
        Files.createSymbolicLink(volume.resolve("tls.crt"), Path.of("..data/tls.crt"));
        Files.createSymbolicLink(volume.resolve("tls.key"), Path.of("..data/tls.key"));
        ProxyServer proxy = proxy("auto", "", new Pair(volume.resolve("tls.crt"), volume.resolve("tls.key")));
        assertTrue(servedSubject(proxy, "a.test").contains("O=v1"));

        Pair v2 = TestCertificates.selfSigned(dir, "v2", RSA, PKCS8, "/CN=a.test/O=v2", "a.test");
        Path version2 = Files.createDirectories(volume.resolve("..2026_01_02_v2"));
        Files.copy(v2.cert(), version2.resolve("tls.crt"));
        Files.copy(v2.key(), version2.resolve("tls.key"));
        Files.createSymbolicLink(volume.resolve("..data_tmp"), volume.relativize(version2));
        Files.move(volume.resolve("..data_tmp"), volume.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
        Files.delete(version1.resolve("tls.crt"));
        Files.delete(version1.resolve("tls.key"));
        Files.delete(version1);

        long ms = Await.until(Duration.ofSeconds(15), "new handshakes get v2",
                () -> servedSubject(proxy, "a.test").contains("O=v2"));
        System.out.printf("[tls] a swapped secret volume was served %d ms after the swap%n", ms);
        assertEquals(0, proxy.tls().reloadFailures(), "the swap is atomic: no half-written state was read");
    }

    @Test
    void aBadReplacementKeepsTheCertificateInUseUntilAGoodOneComes() throws Exception {
        Pair v1 = TestCertificates.selfSigned(dir, "v1", RSA, PKCS8, "/CN=a.test/O=v1", "a.test");
        Pair live = TestCertificates.copy(v1, dir, "live");
        ProxyServer proxy = proxy("auto", "", live);

        Path garbage = Files.writeString(dir.resolve("garbage"), "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n");
        TestCertificates.replace(garbage, live.key());
        Await.until(Duration.ofSeconds(15), "the failed reload counted", () -> proxy.tls().reloadFailures() == 1);
        assertTrue(servedSubject(proxy, "a.test").contains("O=v1"), "the certificate in use stays");

        Pair v2 = TestCertificates.selfSigned(dir, "v2", RSA, PKCS8, "/CN=a.test/O=v2", "a.test");
        TestCertificates.replace(v2.cert(), live.cert());
        TestCertificates.replace(v2.key(), live.key());
        Await.until(Duration.ofSeconds(15), "the good replacement served",
                () -> servedSubject(proxy, "a.test").contains("O=v2"));
    }

    /**
     * A replacement that fails its checks and is then undone leaves the context in use in place, and with it its
     * session ticket keys and session cache: a client resumes a session it got before the failure (openssl
     * s_client, TLS 1.3), where a context made again from the same files had it start a new one.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aSessionStillResumesAfterAFailedReplacementIsUndone(String provider) throws Exception {
        Pair v1 = TestCertificates.selfSigned(dir, "v1", RSA, PKCS8, "/CN=a.test/O=v1", "a.test");
        Pair live = TestCertificates.copy(v1, dir, "live");
        ProxyServer proxy = proxy(provider, "", live);
        Path first = dir.resolve("first.session");
        Path second = dir.resolve("second.session");
        assertEquals("New", opensslSession(proxy, null, first));
        assertEquals("Reused", opensslSession(proxy, first, second), "a session resumes at all");

        Path garbage = Files.writeString(dir.resolve("garbage"), "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n");
        TestCertificates.replace(garbage, live.key());
        proxy.tls().reloadChanged("test"); // what the watch does on its next look, without waiting for it
        assertEquals(1, proxy.tls().reloadFailures());
        TestCertificates.replace(v1.key(), live.key());
        proxy.tls().reloadChanged("test");
        assertEquals("Reused", opensslSession(proxy, second, dir.resolve("third.session")),
                "a session of the context in use before the failure resumes after it");
        assertEquals(0, proxy.tls().reloads(), "nothing was loaded again");
    }

    /**
     * "New" or "Reused": how a TLS session of openssl s_client with the proxy began, offering the session in
     * {@code resume} if not null. It sends one request, so that a server that sends its TLS 1.3 session tickets with
     * its first data sends them, and reads to the close; the session it has then is written to {@code out}.
     */
    private static String opensslSession(ProxyServer proxy, Path resume, Path out) throws IOException {
        String output = TestCertificates.run(List.of("sh", "-c",
                "printf 'GET /echo HTTP/1.1\\r\\nHost: a.test\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client"
                        + " -connect 127.0.0.1:" + proxy.listenAddress().getPort() + " -servername a.test -ign_eof"
                        + " -sess_out '" + out + "'" + (resume == null ? "" : " -sess_in '" + resume + "'")));
        assertTrue(output.contains("HTTP/1.1 200 "), output);
        assertTrue(Files.isRegularFile(out), "no session to resume: " + output);
        return output.lines().filter(l -> l.startsWith("New, ") || l.startsWith("Reused, ")).findFirst()
                .map(l -> l.substring(0, l.indexOf(','))).orElseThrow(() -> new AssertionError(output));
    }

    /**
     * A chain file read while it is being written (its server certificate whole, its intermediate not yet, its key
     * already replaced) is not served: loaded, the new certificate would go out without its intermediate, which
     * clients that do not hold it refuse. The chain in use stays, the failure is logged once naming the file, and
     * the whole file, once written, is served.
     */
    @Test
    void aChainFileReadWhileBeingWrittenIsNotServed() throws Exception {
        Pair v1 = TestCertificates.chain(dir, "v1", "c.test");
        Pair live = TestCertificates.copy(v1, dir, "live");
        ProxyServer proxy = proxy("auto", "", live);
        Pair v2 = TestCertificates.chain(dir, "v2", "c.test");
        String pem = Files.readString(v2.cert());
        int intermediate = pem.indexOf("-----BEGIN CERTIFICATE-----", 1);
        TestCertificates.replace(Files.writeString(dir.resolve("half"), pem.substring(0, (pem.length() + intermediate) / 2)),
                live.cert());
        TestCertificates.replace(v2.key(), live.key());
        proxy.tls().reloadChanged("test"); // what the watch does on its next look, without waiting for it
        proxy.tls().reloadChanged("test");
        assertEquals(List.of("CN=c.test", "CN=Grapevine Test CA v1"), servedChain(proxy), "the chain in use stays");
        List<String> failures = log.messages().stream().filter(l -> l.contains("not reloaded")).toList();
        assertEquals(1, failures.size(), failures.toString());
        assertTrue(failures.get(0).contains(live.cert() + ": the block \"-----BEGIN CERTIFICATE-----\""),
                failures.get(0));

        TestCertificates.replace(v2.cert(), live.cert());
        proxy.tls().reloadChanged("test");
        assertEquals(List.of("CN=c.test", "CN=Grapevine Test CA v2"), servedChain(proxy), "the whole file is served");
    }

    /** The subjects of the chain a new handshake for {@code c.test} gets, the server's certificate first. */
    private static List<String> servedChain(ProxyServer proxy) throws IOException {
        try (SSLSocket socket = TlsClient.connect(proxy.listenAddress(), "c.test")) {
            return Stream.of(socket.getSession().getPeerCertificates())
                    .map(c -> ((X509Certificate) c).getSubjectX500Principal().getName()).toList();
        }
    }

    /** The subject of the certificate a new handshake gets; "" when the handshake fails. */
    /**
     * {@code /metrics} says when the certificate served for each configured file ends (what an alert on a renewal
     * that did not happen needs), follows a renewal, and counts a changed file that failed its checks, whose
     * certificate in use stays and keeps its end in the metric.
     */
    @Test
    void theMetricsSayWhenTheServedCertificateEndsAndCountItsReloads() throws Exception {
        Pair v1 = TestCertificates.selfSigned(dir, "v1", 2, RSA, PKCS8, "/CN=a.test/O=v1", "a.test");
        Pair live = TestCertificates.copy(v1, dir, "live");
        ProxyServer proxy = proxy("auto", "", live);
        String expiry = "grapevine_tls_certificate_expiry_timestamp_seconds{file=\"" + live.cert() + "\",names=\"a.test\"} ";
        String metrics = metrics(proxy);
        assertTrue(metrics.contains("\n" + expiry + notAfterSeconds(v1.cert()) + "\n"), metrics);
        assertTrue(metrics.contains("\ngrapevine_tls_certificate_reloads_total 0\n"), metrics);
        assertTrue(metrics.contains("\ngrapevine_tls_certificate_reload_failures_total 0\n"), metrics);

        Path garbage = Files.writeString(dir.resolve("garbage"), "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n");
        TestCertificates.replace(garbage, live.key());
        Await.until(Duration.ofSeconds(15), "the failed reload in the metrics",
                () -> metrics(proxy).contains("\ngrapevine_tls_certificate_reload_failures_total 1\n"));
        assertTrue(metrics(proxy).contains("\n" + expiry + notAfterSeconds(v1.cert()) + "\n"),
                "the certificate in use stays, and so does its end");

        Pair v2 = TestCertificates.selfSigned(dir, "v2", 90, RSA, PKCS8, "/CN=a.test/O=v2", "a.test");
        TestCertificates.replace(v2.cert(), live.cert());
        TestCertificates.replace(v2.key(), live.key());
        long renewed = notAfterSeconds(v2.cert());
        assertTrue(renewed > notAfterSeconds(v1.cert()) + 80 * 86_400L);
        Await.until(Duration.ofSeconds(15), "the renewal's end in the metrics",
                () -> metrics(proxy).contains("\n" + expiry + renewed + "\n"));
        metrics = metrics(proxy);
        assertTrue(metrics.matches("(?s).*\ngrapevine_tls_certificate_reloads_total [1-9][0-9]*\n.*"), metrics);
        try (HttpConnection admin = new HttpConnection(proxy.adminAddress(), 10_000)) {
            String json = admin.get("/stats.json").body();
            assertTrue(json.matches("(?s).*\"not_after_s\" ?: ?" + renewed + "\\b.*"), json);
        }
    }

    private static String metrics(ProxyServer proxy) {
        try (HttpConnection admin = new HttpConnection(proxy.adminAddress(), 10_000)) {
            return admin.get("/metrics").body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The end of validity of the first certificate of a PEM file, read by the JDK, not by the proxy's code. */
    private static long notAfterSeconds(Path pem) throws Exception {
        try (InputStream in = Files.newInputStream(pem)) {
            X509Certificate cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            return cert.getNotAfter().toInstant().getEpochSecond();
        }
    }

    private static String servedSubject(ProxyServer proxy, String sni) {
        InetSocketAddress address = proxy.tlsListenAddress() != null ? proxy.tlsListenAddress() : proxy.listenAddress();
        try (SSLSocket socket = TlsClient.connect(address, sni)) {
            return TlsClient.subject(socket);
        } catch (IOException e) {
            return "";
        }
    }

    /** TLS 1.0 and 1.1 are refused by the proxy (its failure count shows the hello arrived); 1.2 and 1.3 work. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void onlyTls12And13AreSpoken(String provider) throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy(provider, "", a);
        int port = proxy.listenAddress().getPort();
        long failures = 0;
        for (String old : List.of("-tls1", "-tls1_1")) {
            TestCertificates.Result result = sClient(port, old, "-cipher", "DEFAULT:@SECLEVEL=0");
            assertNotEquals(0, result.exit(), old + " was accepted: " + result.output());
            failures++;
            long expected = failures;
            Await.until(Duration.ofSeconds(5), "the refused " + old + " handshake counted",
                    () -> proxy.stats().tlsHandshakeFailures.sum() == expected, result::output);
        }
        for (String[] good : new String[][] {{"-tls1_2", "TLSv1.2"}, {"-tls1_3", "TLSv1.3"}}) {
            TestCertificates.Result result = sClient(port, good[0]);
            assertEquals(0, result.exit(), result.output());
            assertTrue(result.output().contains("Protocol version: " + good[1]), result.output());
        }
    }

    /**
     * A TLS 1.2 client that asks for a new handshake on an established connection is refused and the connection
     * closed (RFC 9113 section 9.2.1 forbids renegotiation under HTTP/2; nginx and HAProxy refuse it too: each one
     * costs the server a handshake's private-key operation for a record of the client's).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aClientInitiatedRenegotiationIsRefused(String provider) throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy(provider, "", a);
        Socket plain = new Socket();
        plain.connect(proxy.listenAddress(), 5000);
        plain.setSoTimeout(10_000);
        try (SSLSocket socket = (SSLSocket) TlsClient.context().getSocketFactory().createSocket(plain, "a.test",
                proxy.listenAddress().getPort(), true)) {
            socket.setEnabledProtocols(new String[] {"TLSv1.2"});
            socket.startHandshake();
            HttpConnection http = new HttpConnection(socket, "a.test");
            assertEquals(200, http.get("/echo").status());
            socket.startHandshake(); // TLS 1.2: a new ClientHello on the established connection
            boolean refused;
            try {
                HttpConnection.Response after = http.get("/echo");
                refused = after.status() != 200;
            } catch (IOException e) {
                refused = true; // the server's alert, or the close that follows it
            }
            assertTrue(refused, "the renegotiation was accepted and the connection went on");
        }
        try (HttpConnection fresh = TlsClient.http(proxy.listenAddress(), "a.test")) {
            assertEquals(200, fresh.get("/echo").status(), "a new connection is served");
        }
    }

    private static TestCertificates.Result sClient(int port, String... options) throws IOException {
        List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-brief", "-connect", "127.0.0.1:" + port,
                "-servername", "a.test"));
        command.addAll(List.of(options));
        return TestCertificates.exec(command); // no input: s_client ends after the handshake
    }

    @Test
    void failedHandshakesAreCountedInStatsAndMetrics() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy("auto", "", a);
        try (Socket plain = new Socket()) {
            plain.connect(proxy.listenAddress(), 5000);
            plain.setSoTimeout(10_000);
            plain.getOutputStream().write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertEquals(-1, readToEnd(plain.getInputStream()), "plaintext HTTP on a TLS port is closed");
        }
        Await.until(Duration.ofSeconds(5), "the failure counted and the connection gone",
                () -> proxy.stats().tlsHandshakeFailures.sum() == 1 && proxy.stats().connectionsCurrent.get() == 0);
        assertEquals(0, backend.requestCount(), "nothing reached the backend");
        try (HttpConnection admin = new HttpConnection(proxy.adminAddress(), 10_000)) {
            String json = admin.get("/stats.json").body();
            assertTrue(json.matches("(?s).*\"tls_handshake_failures\" ?: ?1\\b.*"), json);
            assertTrue(json.matches("(?s).*\"tls_handshakes\" ?: ?0\\b.*"), json);
            String metrics = admin.get("/metrics").body();
            assertTrue(metrics.contains("\ngrapevine_tls_handshake_failures_total 1\n"), metrics);
        }
    }

    @Test
    void aClientThatSendsNoHandshakeIsClosedAtTheDeadline() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy("auto", "", "\"timeouts\": {\"tls_handshake_ms\": 300}", a);
        for (byte[] sent : List.of(new byte[0], new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01})) {
            try (Socket idle = new Socket()) {
                long start = System.nanoTime(); // before the accept, from which the deadline counts
                idle.connect(proxy.listenAddress(), 5000);
                idle.setSoTimeout(10_000);
                idle.getOutputStream().write(sent); // nothing, or the start of a ClientHello that never ends
                assertEquals(-1, readToEnd(idle.getInputStream()));
                long ms = (System.nanoTime() - start) / 1_000_000;
                assertTrue(ms >= 300 && ms < 5000, "closed " + ms + " ms after the connect");
            }
        }
        Await.until(Duration.ofSeconds(5), "both counted as failures",
                () -> proxy.stats().tlsHandshakeFailures.sum() == 2 && proxy.stats().connectionsCurrent.get() == 0);
    }

    /**
     * A client that sends a whole ClientHello, gets the server's flight and answers nothing is closed at the deadline
     * from the accept, like one that sent half a ClientHello: the TLS handler that took over after the ClientHello
     * has what was left of {@code tls_handshake_ms} (without it, Netty's own 10 s). Once for a client that reads
     * the server's flight (it sees the EOF), once for one that reads nothing until the proxy has closed the
     * connection: the close does not wait for the client to read. The deadline is longer than the other test's
     * so that a busy machine's first handshake still sends its flight before it.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"openssl", "jdk"})
    void aClientThatStallsAfterAWholeClientHelloIsClosedAtTheDeadline(String provider) throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy(provider, "", "\"timeouts\": {\"tls_handshake_ms\": 1000}", a);
        byte[] hello = TlsClient.clientHello("a.test", "http/1.1");
        try (Socket reading = new Socket()) {
            long start = System.nanoTime(); // before the accept, from which the deadline counts
            reading.connect(proxy.listenAddress(), 5000);
            reading.setSoTimeout(10_000);
            reading.getOutputStream().write(hello);
            InputStream in = reading.getInputStream();
            assertEquals(0x16, in.read(), "the server's flight begins with a handshake record");
            assertEquals(-1, readToEnd(in));
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms >= 1000 && ms < 5000, "closed " + ms + " ms after the connect");
        }
        Await.until(Duration.ofSeconds(5), "the first connection counted closed",
                () -> proxy.stats().connectionsCurrent.get() == 0);
        try (Socket silent = new Socket()) {
            long start = System.nanoTime();
            silent.connect(proxy.listenAddress(), 5000);
            silent.setSoTimeout(10_000);
            silent.getOutputStream().write(hello);
            Await.until(Duration.ofSeconds(5), "the proxy's close, the client having read nothing",
                    () -> proxy.stats().tlsHandshakeFailures.sum() == 2 && proxy.stats().connectionsCurrent.get() == 0);
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms >= 1000, "closed " + ms + " ms after the connect");
            InputStream in = silent.getInputStream();
            assertEquals(0x16, in.read(), "the server's flight begins with a handshake record");
            assertEquals(-1, readToEnd(in));
        }
        assertEquals(0, proxy.stats().tlsHandshakes.sum());
    }

    /**
     * With {@code accept_proxy_protocol}, the handshake deadline still runs from the accept, as HAProxy's handshake
     * timeout covers the PROXY header and the TLS handshake alike: a client that took longer than
     * {@code tls_handshake_ms} to send its header (within {@code client_header_ms}) has no handshake time left, where
     * a deadline counted from the header's end gave it {@code tls_handshake_ms} more.
     */
    @Test
    void aPrecedingProxyHeaderCountsAgainstTheHandshakeDeadline() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy("auto", "", "\"accept_proxy_protocol\": true, "
                + "\"timeouts\": {\"tls_handshake_ms\": 1000, \"client_header_ms\": 10000}", a);
        try (Socket slow = new Socket()) {
            slow.connect(proxy.listenAddress(), 5000);
            slow.setSoTimeout(10_000);
            Thread.sleep(1200); // past the handshake deadline, within the header's
            slow.getOutputStream().write("PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            long start = System.nanoTime();
            assertEquals(-1, readToEnd(slow.getInputStream()));
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms < 700, "closed " + ms + " ms after the header, " + (1200 + ms) + " ms after the accept");
        }
    }

    @Test
    void aDrainClosesAConnectionStillInItsHandshakeAtOnce() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = proxy("auto", "", a);
        try (Socket idle = new Socket()) {
            idle.connect(proxy.listenAddress(), 5000);
            Await.until(Duration.ofSeconds(5), "the connection accepted", () -> proxy.stats().connectionsCurrent.get() == 1);
            long start = System.nanoTime();
            proxy.drainAndStop(20_000);
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertTrue(ms < 5000, "the drain waited " + ms + " ms for a connection without a request");
        }
    }

    /** A WebSocket over TLS (wss): the upgrade is forwarded and the tunnel carries a 1 MiB message both ways. */
    @Test
    void aWebSocketOverTlsIsTunnelled() throws Exception {
        WebSocketEchoBackend echo = fx.track(new WebSocketEchoBackend());
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        ProxyServer proxy = fx.proxy(1, "\"tls\": {\"cert\": \"" + a.cert() + "\", \"key\": \"" + a.key() + "\"}",
                echo.port());
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        CompletableFuture<byte[]> message = new CompletableFuture<>();
        WebSocket.Listener listener = new WebSocket.Listener() {
            @Override
            public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
                byte[] part = new byte[data.remaining()];
                data.get(part);
                received.writeBytes(part);
                if (last) {
                    message.complete(received.toByteArray());
                }
                ws.request(1);
                return null;
            }
        };
        WebSocket ws = HttpClient.newBuilder().sslContext(TlsClient.context()).build().newWebSocketBuilder()
                .buildAsync(URI.create("wss://127.0.0.1:" + proxy.listenAddress().getPort() + "/ws"), listener)
                .get(10, TimeUnit.SECONDS);
        byte[] big = new byte[1 << 20];
        new Random(11).nextBytes(big);
        ws.sendBinary(ByteBuffer.wrap(big), true).get(10, TimeUnit.SECONDS);
        assertArrayEquals(big, message.get(10, TimeUnit.SECONDS));
        assertEquals(1, proxy.stats().tunnelsCurrent.get());
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(10, TimeUnit.SECONDS);
        Await.until(Duration.ofSeconds(10), "the tunnel closed", () -> proxy.stats().tunnelsCurrent.get() == 0);
        assertEquals(1, proxy.stats().tlsHandshakes.sum());
    }

    /** curl as an outside client: it checks the certificate chain against the test's authority and the name. */
    @Test
    void curlOverHttps() throws Exception {
        Pair chained = TestCertificates.chain(dir, "c", "c.test");
        ProxyServer proxy = proxy("auto", "", chained);
        int port = proxy.listenAddress().getPort();
        String output = TestCertificates.run(List.of("curl", "-sS", "-v", "--http1.1", "--cacert",
                dir.resolve("c-ca.crt").toString(),
                "--resolve", "c.test:" + port + ":127.0.0.1", "-w", "\nhttp_version=%{http_version}\n",
                "https://c.test:" + port + "/echo"));
        assertTrue(output.contains("\nhttp_version=1.1\n"), output);
        assertTrue(output.matches("(?s).*ALPN[:,] server accepted (to use )?http/1.1.*"), output);
        assertTrue(output.matches("(?is).*\nX-Forwarded-Proto: https\r?\n.*"), output);
        assertTrue(output.contains("SSL certificate verify ok"), output);
    }

    /**
     * {@code redirect_http}: curl asks the plaintext port, is sent to the TLS one by a 301, follows it (as a browser
     * does) and gets the backend's answer over HTTPS; an ACME challenge on the plaintext port reaches the backend.
     */
    @Test
    void thePlaintextListenerRedirectsToHttpsAndCurlFollowsIt() throws Exception {
        Pair chained = TestCertificates.chain(dir, "r", "r.test");
        int tlsPort = Fixtures.closedPort();
        ProxyServer proxy = proxy("auto", "\"listen\": \"127.0.0.1:" + tlsPort + "\", \"redirect_http\": true", chained);
        int port = proxy.listenAddress().getPort();
        String output = TestCertificates.run(List.of("curl", "-sS", "-v", "-L", "--http1.1", "--cacert",
                dir.resolve("r-ca.crt").toString(), "--resolve", "r.test:" + port + ":127.0.0.1",
                "--resolve", "r.test:" + tlsPort + ":127.0.0.1", "http://r.test:" + port + "/echo?x=1"));
        assertTrue(output.matches("(?is).*< HTTP/1.1 301 Moved Permanently\r?\n.*"), output);
        assertTrue(output.matches("(?is).*\n< Location: https://r\\.test:" + tlsPort + "/echo\\?x=1\r?\n.*"), output);
        assertTrue(output.matches("(?is).*\nX-Forwarded-Proto: https\r?\n.*"), "the backend's answer over HTTPS: "
                + output);
        assertEquals(1, backend.requestCount(), "only the request over HTTPS reached the backend");
        assertEquals(1, proxy.stats().redirectedToHttps.sum());

        try (HttpConnection plain = new HttpConnection(proxy.listenAddress(), 10_000)) {
            HttpConnection.Response r = plain.get("/.well-known/acme-challenge/t0k3n");
            assertEquals(404, r.status(), "the challenge is forwarded, and the backend has no such token: " + r.body());
        }
        assertEquals(2, backend.requestCount(), "the challenge reached the backend");
    }

    private static int readToEnd(InputStream in) throws IOException {
        byte[] buffer = new byte[4096];
        int n;
        while ((n = in.read(buffer)) > 0) {
            // an alert, maybe
        }
        return n;
    }
}
