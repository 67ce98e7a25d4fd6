package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SilentDns;
import io.grapevine.proxy.testing.TestCertificates;
import io.grapevine.proxy.testing.TestTransport;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A listener whose port is taken: the line names the address and where it was configured, as the user wrote it. */
@Timeout(60)
class ListenerBindMessageTest {

    @TempDir
    Path dir;

    @Test
    void aTakenTlsPortIsNamedAsTheKeyOfServersConf() throws Exception {
        TestCertificates.Pair pair = TestCertificates.selfSigned(dir, "a", TestCertificates.KeyType.EC,
                TestCertificates.KeyForm.PKCS8, "/CN=a.test", "a.test");
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            String config = "{\"listen\": \"127.0.0.1:0\", \"admin\": \"127.0.0.1:0\", \"tls\": {\"listen\": \"127.0.0.1:"
                    + taken.getLocalPort() + "\", \"provider\": \"jdk\", \"cert\": \"" + pair.cert() + "\", \"key\": \""
                    + pair.key() + "\"}, \"backend_servers\": []}";
            ListenerBindException e = assertThrows(ListenerBindException.class, () -> ProxyServer.start(
                    ConfigLoader.parse(config, "servers.conf"), 1, TestTransport.requested()).close());
            assertEquals("cannot listen on 127.0.0.1:" + taken.getLocalPort() + " (\"listen\" of \"tls\" in servers.conf):"
                    + " address already in use (see which process has it: ss -ltnp 'sport = :" + taken.getLocalPort()
                    + "')", e.getMessage());
        }
    }

    @Test
    void aListenerNameIsBoundAtWhatItsLookupFoundAndOneWhoseDnsDoesNotAnswerIsNamedWithinTheLimit() throws Exception {
        try (SilentDns dns = new SilentDns()) {
            dns.answer(InetAddress.getByAddress(new byte[] {127, 0, 0, 2}));
            try (ProxyServer server = ProxyServer.start(named("listen-d.example", "admin-d.example"), 1,
                    TestTransport.requested())) {
                assertEquals("127.0.0.2", server.listenAddress().getAddress().getHostAddress());
                assertEquals("127.0.0.2", server.adminAddress().getAddress().getHostAddress());
            }
        }
        try (SilentDns silent = new SilentDns()) {
            long start = System.nanoTime();
            ListenerBindException e = assertThrows(ListenerBindException.class, () -> ProxyServer.start(
                    named("listen-e.example", "admin-e.example"), 1, TestTransport.requested()).close());
            long waited = (System.nanoTime() - start) / 1_000_000;
            assertTrue(waited < SilentDns.LOOKUP_MILLIS + 2_000, "both names in one limit: " + waited + " ms");
            assertEquals("cannot listen on listen-e.example:0 (--listen, or \"listen\" in servers.conf): the DNS server"
                    + " did not answer for listen-e.example within 5000 ms", e.getMessage());
        }
    }

    private static ProxyConfig named(String listen, String admin) throws Exception {
        return ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf")
                .withListen(HostPort.parse(listen + ":0"), HostPort.parse(admin + ":0"));
    }
}
