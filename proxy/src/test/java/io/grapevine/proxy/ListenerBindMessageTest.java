package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grapevine.proxy.config.ConfigLoader;
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
}
