package io.grapevine.proxy.it;

import static io.grapevine.proxy.it.Fixtures.await;
import static io.grapevine.proxy.it.Fixtures.get;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.ProxyServer;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.table.Server;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The PROXY protocol on real sockets, both ways: a client connection that starts with a v1 or v2 header
 * (an L4 balancer in front) is taken for the client the header names; one without a valid header is
 * closed; servers of a pool with {@code send_proxy_protocol} get a v1 or v2 header naming the client,
 * checked by Netty's decoder in the backend.
 */
class ProxyProtocolIntegrationTest {

    private static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    @RegisterExtension
    final Fixtures fx = new Fixtures();

    /** A v2 header: PROXY (or LOCAL) over TCP4 from {@code src:sport} to {@code dst:dport}. */
    private static byte[] v2(boolean local, String src, int sport, String dst, int dport) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(16 + 12);
        b.put(V2_SIGNATURE).put((byte) (local ? 0x20 : 0x21)).put((byte) 0x11).putShort((short) 12);
        b.put(InetAddress.getByName(src).getAddress()).put(InetAddress.getByName(dst).getAddress());
        b.putShort((short) sport).putShort((short) dport);
        return b.array();
    }

    /** A v2 PROXY header over TCP4 followed by {@code tlvs}, which its length counts. */
    private static byte[] v2(String src, int sport, String dst, int dport, int... tlvs) throws Exception {
        byte[] header = Arrays.copyOf(v2(false, src, sport, dst, dport), 16 + 12 + tlvs.length);
        for (int i = 0; i < tlvs.length; i++) {
            header[16 + 12 + i] = (byte) tlvs[i];
        }
        ByteBuffer.wrap(header).putShort(14, (short) (12 + tlvs.length));
        return header;
    }

    /** A PP2_TYPE_NOOP TLV of {@code bytes} bytes in all, its type and length included. */
    private static int[] noop(int bytes) {
        int[] tlv = new int[bytes];
        tlv[0] = 0x04;
        tlv[1] = (bytes - 3) >> 8;
        tlv[2] = (bytes - 3) & 0xff;
        return tlv;
    }

    /**
     * {@code header}, whose last TLV is a PP2_TYPE_CRC32C one, with that TLV's value set to the header's CRC32c,
     * computed with the value zero (section 2.2.5).
     */
    private static byte[] withCrc32c(byte[] header) {
        ByteBuffer b = ByteBuffer.wrap(header).putInt(header.length - 4, 0);
        CRC32C crc = new CRC32C();
        crc.update(header);
        b.putInt(header.length - 4, (int) crc.getValue());
        return header;
    }

    private static byte[] concat(byte[] a, String b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(a);
        out.writeBytes(b.getBytes(StandardCharsets.ISO_8859_1));
        return out.toByteArray();
    }

    /**
     * Whether the proxy closed the connection without answering a single byte: an end of stream, or a reset (a
     * connection closed with what it sent still unread is reset).
     */
    private static boolean closedWithoutAnswer(Socket s) throws Exception {
        s.setSoTimeout(10_000);
        InputStream in = s.getInputStream();
        try {
            return in.read() == -1;
        } catch (SocketException e) {
            return "Connection reset".equals(e.getMessage());
        }
    }

    // ---------------------------------------------------------------- accepting

    @Test
    void aV1HeaderNamesTheClientForXForwardedFor() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        Response r = fx.client(proxy).send("PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\r\n" + get("/")).read();
        assertEquals(200, r.status(), r.toString());
        assertTrue(backend.requestHeads().get(0).contains("\r\nX-Forwarded-For: 203.0.113.7\r\n"),
                backend.requestHeads().get(0));
    }

    @Test
    void aV2HeaderNamesTheClientAndALocalCommandKeepsTheConnectionsOwnAddress() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        Response r = fx.client(proxy).send(concat(v2(false, "198.51.100.9", 5555, "192.0.2.10", 80), get("/"))).read();
        assertEquals(200, r.status(), r.toString());
        Response local = fx.client(proxy).send(concat(v2(true, "0.0.0.0", 0, "0.0.0.0", 0), get("/"))).read();
        assertEquals(200, local.status(), local.toString());
        List<String> heads = backend.requestHeads();
        assertTrue(heads.get(0).contains("\r\nX-Forwarded-For: 198.51.100.9\r\n"), heads.get(0));
        assertTrue(heads.get(1).contains("\r\nX-Forwarded-For: 127.0.0.1\r\n"), heads.get(1));
    }

    @Test
    void aConnectionWithoutAValidHeaderIsClosedAndNothingReachesABackend() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        try (Socket plain = new Socket(proxy.listenAddress().getAddress(), proxy.listenAddress().getPort());
             Socket garbage = new Socket(proxy.listenAddress().getAddress(), proxy.listenAddress().getPort())) {
            plain.getOutputStream().write(get("/").getBytes(StandardCharsets.US_ASCII));
            assertTrue(closedWithoutAnswer(plain), "a request without a PROXY header must not be answered");
            garbage.getOutputStream().write("PROXY TCP4 not-an-ip 192.0.2.10 1 2\r\n".getBytes(StandardCharsets.US_ASCII));
            assertTrue(closedWithoutAnswer(garbage));
        }
        await(Duration.ofSeconds(5), "both refusals counted", () -> proxy.stats().proxyProtocolRejected.sum() == 2);
        assertEquals(0, backend.connectionCount());
    }

    /**
     * With {@code accept_proxy_protocol_from}, only the balancers listed may name a client: a connection from any other
     * source is closed when accepted, before a byte of it is read, and counted as refused, whatever header it sends.
     * Without the list, whoever reaches the listener could claim any address (for X-Forwarded-For, source balancing,
     * the logs), as HAProxy's {@code accept-proxy} does unless an ACL on {@code src} restricts it.
     */
    @Test
    void onlyTheBalancersListedMayNameAClient() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer elsewhere = fx.proxy("\"accept_proxy_protocol\": true, \"accept_proxy_protocol_from\": "
                + "[\"10.0.0.0/8\", \"fd00::/8\"]", backend.port());
        try (Socket spoofing = new Socket(elsewhere.listenAddress().getAddress(), elsewhere.listenAddress().getPort())) {
            spoofing.getOutputStream().write(("PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\r\n" + get("/"))
                    .getBytes(StandardCharsets.US_ASCII));
            assertTrue(closedWithoutAnswer(spoofing), "a source outside the list must not be served");
        }
        await(Duration.ofSeconds(5), "the refusal counted", () -> elsewhere.stats().proxyProtocolRejected.sum() == 1);
        assertEquals(0, backend.connectionCount());

        ProxyServer loopback = fx.proxy("\"accept_proxy_protocol\": true, \"accept_proxy_protocol_from\": "
                + "[\"10.0.0.0/8\", \"127.0.0.0/8\"]", backend.port());
        Response r = fx.client(loopback).send("PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\r\n" + get("/")).read();
        assertEquals(200, r.status(), r.toString());
        assertTrue(backend.requestHeads().get(0).contains("\r\nX-Forwarded-For: 203.0.113.7\r\n"),
                backend.requestHeads().get(0));
        assertEquals(0, loopback.stats().proxyProtocolRejected.sum());
    }

    /**
     * A v1 line as section 2.1 of the specification writes it: CRLF within 107 bytes, one space between fields,
     * numbers without heading zeroes or sign, no IPv6 zone. Netty's decoder alone takes each of the refused ones.
     */
    @Test
    void aV1LineIsReadStrictlyAsTheSpecificationWritesIt() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        String unknown107 = "PROXY UNKNOWN " + "x".repeat(107 - 16) + "\r\n";
        String longestTcp6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                + "65535 65535\r\n";
        assertEquals(107, unknown107.length());
        assertEquals(104, longestTcp6.length());
        assertEquals(200, fx.client(proxy).send(unknown107 + get("/")).read().status(), "107 bytes is the limit");
        assertEquals(200, fx.client(proxy).send(longestTcp6 + get("/")).read().status());
        List<String> refused = List.of(
                "PROXY UNKNOWN " + "x".repeat(108 - 16) + "\r\n", // 108 bytes
                "PROXY TCP4 203.0.113.7 192.0.2.10 " + "0".repeat(64) + "40000 443\r\n",
                "PROXY TCP4 203.0.113.7 192.0.2.10 +40000 443\r\n",
                "PROXY TCP4 203.0.113.7 192.0.2.10 040000 443\r\n",
                "PROXY TCP4 203.0.113.07 192.0.2.10 40000 443\r\n",
                "PROXY TCP4 203.0.113.7 192.0.2.10 40000 443 \r\n",
                "PROXY TCP6 fe80::1%lo ::1 40000 443\r\n",
                "PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\n");
        for (String line : refused) {
            try (Socket s = new Socket(proxy.listenAddress().getAddress(), proxy.listenAddress().getPort())) {
                s.getOutputStream().write((line + get("/")).getBytes(StandardCharsets.US_ASCII));
                assertTrue(closedWithoutAnswer(s), "answered after " + line.strip());
            }
        }
        await(Duration.ofSeconds(5), "every refusal counted",
                () -> proxy.stats().proxyProtocolRejected.sum() == refused.size());
        assertEquals(2, backend.requestHeads().size(), "only the two valid lines' requests reach the backend");
    }

    /**
     * Section 2.1 gives a port as a number of 0..65535, 0 included, and HAProxy reads a line with one: a balancer that
     * does not know a port, or relays a protocol that has none, writes 0. Netty's decoder alone refuses such a line
     * (it takes 1..65535 in v1 and 0..65535 in v2), so the client the line names was turned away.
     */
    @Test
    void aV1HeaderWithPortZeroNamesTheClient() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        List<String> lines = List.of(
                "PROXY TCP4 203.0.113.7 192.0.2.10 0 443\r\n",
                "PROXY TCP4 203.0.113.8 192.0.2.10 40000 0\r\n",
                "PROXY TCP6 2001:db8::9 2001:db8::1 0 0\r\n");
        for (String line : lines) {
            Response r = fx.client(proxy).send(line + get("/")).read();
            assertEquals(200, r.status(), line.strip() + ": " + r);
        }
        List<String> heads = backend.requestHeads();
        assertTrue(heads.get(0).contains("\r\nX-Forwarded-For: 203.0.113.7\r\n"), heads.get(0));
        assertTrue(heads.get(1).contains("\r\nX-Forwarded-For: 203.0.113.8\r\n"), heads.get(1));
        assertTrue(heads.get(2).contains("\r\nX-Forwarded-For: 2001:db8::9\r\n"), heads.get(2));
        assertEquals(0, proxy.stats().proxyProtocolRejected.sum());
    }

    /**
     * A v2 header's PP2_TYPE_CRC32C TLV is checked, as HAProxy checks it (section 2.2.5: "if they do not match, the
     * connection should be dropped"), and so is that the TLVs fill the header exactly: a header damaged on its way is
     * refused, whatever address it now names. Netty's decoder alone took each of the refused ones.
     */
    @Test
    void aV2HeaderWhoseChecksumOrTlvsDoNotAddUpIsRefused() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        byte[] checked = withCrc32c(v2("198.51.100.9", 5555, "192.0.2.10", 80, 0x03, 0, 4, 0, 0, 0, 0));
        Response r = fx.client(proxy).send(concat(checked, get("/"))).read();
        assertEquals(200, r.status(), r.toString());
        assertTrue(backend.requestHeads().get(0).contains("\r\nX-Forwarded-For: 198.51.100.9\r\n"),
                backend.requestHeads().get(0));

        byte[] damaged = checked.clone();
        damaged[16 + 3] ^= 1; // the source address is 198.51.100.8 now
        List<byte[]> refused = List.of(
                damaged,
                v2("198.51.100.9", 5555, "192.0.2.10", 80, 0x03, 0, 3, 0, 0, 0), // a checksum of 3 bytes
                v2("198.51.100.9", 5555, "192.0.2.10", 80, 0x04, 0, 0, 0x04, 0)); // a TLV cut short after a NOOP
        for (byte[] header : refused) {
            try (Socket s = new Socket(proxy.listenAddress().getAddress(), proxy.listenAddress().getPort())) {
                s.getOutputStream().write(concat(header, get("/")));
                assertTrue(closedWithoutAnswer(s), "answered after " + Arrays.toString(header));
            }
        }
        await(Duration.ofSeconds(5), "every refusal counted",
                () -> proxy.stats().proxyProtocolRejected.sum() == refused.size());
        assertEquals(1, backend.requestHeads().size(), "only the checked header's request reaches the backend");
    }

    /**
     * A v2 header is held to {@code max_header_bytes}, as a request head is (HAProxy's to its buffer,
     * {@code tune.bufsize}): one whose length says more is refused as soon as its length arrives, not buffered up
     * to the 64 KiB the length field can say.
     */
    @Test
    void aV2HeaderLargerThanMaxHeaderBytesIsRefusedAtOnce() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true, \"limits\": {\"max_header_bytes\": 1024}, "
                + "\"timeouts\": {\"client_header_ms\": 30000}", backend.port());
        byte[] largest = v2("198.51.100.9", 5555, "192.0.2.10", 80, noop(1024 - 16 - 12));
        assertEquals(1024, largest.length);
        Response r = fx.client(proxy).send(concat(largest, get("/"))).read();
        assertEquals(200, r.status(), r.toString());

        byte[] larger = v2("198.51.100.9", 5555, "192.0.2.10", 80, noop(1024 - 16 - 12 + 1));
        RawHttpClient client = fx.client(proxy).send(Arrays.copyOf(larger, 16)); // the rest never comes
        assertTrue(client.closedWithin(3_000), "a header over max_header_bytes is refused when its length arrives");
        await(Duration.ofSeconds(5), "the refusal counted", () -> proxy.stats().proxyProtocolRejected.sum() == 1);
        assertEquals(1, backend.requestHeads().size());
    }

    @Test
    void aClientThatSendsNoHeaderInTimeIsClosed() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true, \"timeouts\": {\"client_header_ms\": 300}",
                backend.port());
        try (Socket silent = new Socket(proxy.listenAddress().getAddress(), proxy.listenAddress().getPort())) {
            assertTrue(closedWithoutAnswer(silent));
        }
        await(Duration.ofSeconds(5), "the refusal counted", () -> proxy.stats().proxyProtocolRejected.sum() == 1);
    }

    /**
     * A client that stops sending (a FIN) before its header is complete can never complete it: it is closed then, not
     * left to the header timeout (10 s by default here), whether it sent part of a v1 line, part of a v2 header, or
     * nothing at all.
     */
    @Test
    void aClientThatStopsSendingBeforeItsHeaderEndsIsClosedAtOnce() throws Exception {
        RecordingBackend backend = fx.track(RecordingBackend.start(RecordingBackend.Mode.OK));
        ProxyServer proxy = fx.proxy("\"accept_proxy_protocol\": true", backend.port());
        List<RawHttpClient> cutShort = List.of(
                fx.client(proxy).send("PROXY TCP4 203.0.113.7 ").shutdownOutput(),
                fx.client(proxy).send(Arrays.copyOf(v2(false, "198.51.100.9", 5555, "192.0.2.10", 80), 20))
                        .shutdownOutput(),
                fx.client(proxy).shutdownOutput());
        for (RawHttpClient c : cutShort) {
            assertTrue(c.closedWithin(3_000), "a connection whose header can no longer come is closed at once");
        }
        await(Duration.ofSeconds(5), "every refusal counted",
                () -> proxy.stats().proxyProtocolRejected.sum() == cutShort.size());
        assertEquals(0, backend.connectionCount());
    }

    // ---------------------------------------------------------------- sending

    @Test
    void aPoolWithSendProxyProtocolV1TellsTheServerWhoTheClientIs() throws Exception {
        ProxyProtocolBackend backend = fx.track(new ProxyProtocolBackend());
        ProxyServer proxy = fx.proxy("\"send_proxy_protocol\": \"v1\"", backend.port());
        RawHttpClient client = fx.client(proxy);
        Response r = client.send(get("/")).read();
        assertEquals(200, r.status(), r.toString());
        int clientPort = client.localPort();
        assertEquals("V1 PROXY TCP4 127.0.0.1:" + clientPort + " -> 127.0.0.1:" + proxy.listenAddress().getPort()
                + " xff=127.0.0.1", r.bodyText());
    }

    @Test
    void anAnnouncedClientIsPassedOnInAV2HeaderAndItsConnectionIsNotSharedWithOthers() throws Exception {
        ProxyProtocolBackend backend = fx.track(new ProxyProtocolBackend());
        ProxyServer proxy = fx.proxy(1, "\"accept_proxy_protocol\": true, \"pools\": {\"default\": "
                + "{\"send_proxy_protocol\": \"v2\"}}", backend.port());
        RawHttpClient a = fx.client(proxy).send("PROXY TCP4 203.0.113.7 192.0.2.10 40000 443\r\n");
        assertEquals("V2 PROXY TCP4 203.0.113.7:40000 -> 192.0.2.10:443 xff=203.0.113.7",
                a.send(get("/")).read().bodyText());
        assertEquals("V2 PROXY TCP4 203.0.113.7:40000 -> 192.0.2.10:443 xff=203.0.113.7",
                a.send(get("/again")).read().bodyText());
        assertEquals(1, backend.headers().size(), "the same client reuses its backend connection");
        RawHttpClient b = fx.client(proxy).send("PROXY TCP4 198.51.100.1 192.0.2.10 40001 443\r\n");
        assertEquals("V2 PROXY TCP4 198.51.100.1:40001 -> 192.0.2.10:443 xff=198.51.100.1",
                b.send(get("/")).read().bodyText());
        assertEquals(2, backend.headers().size(), "another client never takes the first one's connection");
        assertEquals(List.of(), backend.rejected());
    }

    @Test
    void healthChecksOfSuchAPoolStartWithAHeaderToo() throws Exception {
        ProxyProtocolBackend backend = fx.track(new ProxyProtocolBackend());
        ProxyServer proxy = fx.proxy("\"send_proxy_protocol\": \"v2\", \"health_check\": {\"path\": \"/health\", "
                + "\"interval_ms\": 50, \"timeout_ms\": 10000, \"rise\": 1, \"fall\": 1}", backend.port());
        Server server = Fixtures.server(proxy, backend.port());
        await(Duration.ofSeconds(10), "a few health checks", () -> backend.headers().size() >= 3);
        assertTrue(backend.headers().get(0).startsWith("V2 LOCAL "), backend.headers().get(0));
        assertEquals(List.of(), backend.rejected());
        assertEquals("up", server.stateName(System.nanoTime()));
    }
}
