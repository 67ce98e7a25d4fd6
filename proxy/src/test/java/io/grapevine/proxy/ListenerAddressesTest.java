package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.cli.UsageException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.HostPort;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SilentDns;
import io.grapevine.proxy.net.LoopSlice;
import io.grapevine.proxy.testing.LogCapture;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client, TLS and admin listeners need addresses of their own: {@code --check} finds two that could not both be
 * bound, and a start fails with the same line before it opens any port.
 */
@Timeout(30)
class ListenerAddressesTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final LogCapture log = new LogCapture(ProxyInstance.class);

    private Path servers(String extra) throws Exception {
        Path file = dir.resolve("servers.conf");
        Files.writeString(file, "{" + extra + "\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": 8001}]}");
        return file;
    }

    private static ProxyInstance.Options options(Path servers, String listen, String admin, boolean check) {
        return new ProxyInstance.Options(servers, listen == null ? null : HostPort.parse(listen),
                admin == null ? null : HostPort.parse(admin), null, 0, null, null, null, null, 60_000, 50, null, check,
                null, LoopSlice.DEFAULT_MICROS);
    }

    @Test
    void theAdminListenerOnTheClientListenersAddressFailsCheckAndStartAlike() throws Exception {
        Path file = servers("");
        UsageException check = assertThrows(UsageException.class,
                () -> ProxyInstance.check(options(file, "127.0.0.1:19400", "127.0.0.1:19400", true)));
        assertEquals("cannot listen on 127.0.0.1:19400 (--admin, or \"admin\" in servers.conf): the client listener is on"
                + " 127.0.0.1:19400 (--listen, or \"listen\" in servers.conf); give each listener a port of its own",
                check.getMessage());
        UsageException start = assertThrows(UsageException.class,
                () -> ProxyInstance.start(options(file, "127.0.0.1:19400", "127.0.0.1:19400", false)).close());
        assertEquals(check.getMessage(), start.getMessage());
    }

    @Test
    void aWildcardCoversTheAddressesOfItsFamily() throws Exception {
        Path file = servers("\"listen\": \"0.0.0.0:19401\", \"admin\": \"127.0.0.1:19401\", ");
        UsageException e = assertThrows(UsageException.class, () -> ProxyInstance.check(options(file, null, null, true)));
        assertTrue(e.getMessage().startsWith("cannot listen on 127.0.0.1:19401 (--admin, or \"admin\" in servers.conf):"
                + " the client listener is on 0.0.0.0:19401"), e.getMessage());
        e = assertThrows(UsageException.class, () -> ProxyInstance.check(options(file, "[::]:19401", null, true)));
        assertTrue(e.getMessage().contains("the client listener is on [::]:19401"), e.getMessage());
    }

    @Test
    void theTlsListenerIsCheckedToo() throws Exception {
        Path file = servers("\"listen\": \"127.0.0.1:19402\", \"tls\": {\"listen\": \"127.0.0.1:19402\", "
                + "\"cert\": \"c.pem\", \"key\": \"k.pem\"}, ");
        UsageException e = assertThrows(UsageException.class, () -> ProxyInstance.check(options(file, null, null, true)));
        assertEquals("cannot listen on 127.0.0.1:19402 (\"listen\" of \"tls\" in servers.conf): the client listener is on"
                + " 127.0.0.1:19402 (--listen, or \"listen\" in servers.conf); give each listener a port of its own",
                e.getMessage());
    }

    @Test
    void theGossipPortIsCheckedToo() throws Exception {
        Path file = servers("");
        ProxyInstance.Options clash = ProxyMain.parse(new String[] {"--servers", file.toString(), "--listen",
            "127.0.0.1:19407", "--admin", "127.0.0.1:19408", "--gossip", "19407", "--insecure-gossip", "--check"},
                Map.of()).options();
        UsageException e = assertThrows(UsageException.class, () -> ProxyInstance.check(clash));
        assertEquals("cannot listen on 127.0.0.1:19407 (--gossip): the client listener is on 127.0.0.1:19407 (--listen,"
                + " or \"listen\" in servers.conf); give each listener a port of its own", e.getMessage());
        ProxyInstance.Options apart = ProxyMain.parse(new String[] {"--servers", file.toString(), "--listen",
            "127.0.0.1:19407", "--admin", "127.0.0.1:19408", "--gossip", "19409", "--insecure-gossip", "--check"},
                Map.of()).options();
        assertTrue(ProxyInstance.check(apart).startsWith("ok: "));
    }

    @Test
    void distinctPortsAddressesAndPortZeroPass() throws Exception {
        Path file = servers("");
        assertTrue(ProxyInstance.check(options(file, "127.0.0.1:19403", "127.0.0.1:19404", true)).startsWith("ok: "));
        assertTrue(ProxyInstance.check(options(file, "127.0.0.1:19405", "127.0.0.2:19405", true)).startsWith("ok: "));
        assertTrue(ProxyInstance.check(options(file, "0.0.0.0:19406", "[::1]:19406", true)).startsWith("ok: "));
        assertTrue(ProxyInstance.check(options(file, "127.0.0.1:0", "127.0.0.1:0", true)).startsWith("ok: "));
    }

    @Test
    void listenerNamesAreLookedUpUnderTheChecksLimitAndTheWaitSaysForWhich() throws Exception {
        Path file = servers("");
        try (SilentDns dns = new SilentDns()) {
            dns.answer(InetAddress.getByAddress(new byte[] {127, 0, 0, 1}));
            UsageException e = assertThrows(UsageException.class, () -> ProxyInstance.checkListenersApart(
                    ConfigLoader.load(file).withListen(HostPort.parse("listen-a.example:19410"),
                            HostPort.parse("admin-a.example:19410")), null));
            assertTrue(e.getMessage().startsWith("cannot listen on admin-a.example:19410"), e.getMessage());
        }
        try (SilentDns silent = new SilentDns()) {
            long start = System.nanoTime();
            ProxyInstance.checkListenersApart(ConfigLoader.load(file).withListen(
                    HostPort.parse("listen-c.example:19412"), HostPort.parse("admin-c.example:19413")), null);
            long apart = (System.nanoTime() - start) / 1_000_000;
            assertTrue(apart < 1_000, "names on ports of their own are not waited for: " + apart + " ms");
            assertTrue(log.messages().stream().noneMatch(m -> m.contains("-c.example")), log.toString());
            start = System.nanoTime();
            ProxyInstance.checkListenersApart(ConfigLoader.load(file).withListen(
                    HostPort.parse("listen-b.example:19411"), HostPort.parse("admin-b.example:19411")), null);
            long waited = (System.nanoTime() - start) / 1_000_000;
            assertTrue(waited < SilentDns.LOOKUP_MILLIS + 2_000, "both names in one limit: " + waited + " ms");
            assertTrue(log.messages().stream().anyMatch(m -> m.contains("listen-b.example (the client listener)")),
                    log.toString());
            assertTrue(log.messages().stream().anyMatch(m -> m.contains("admin-b.example (the admin listener)")),
                    log.toString());
        }
    }

    /**
     * A name found before is taken at what was found, at once, however long its new lookup takes: the start does not
     * say it waits for it.
     */
    @Test
    void aListenerNameFoundBeforeIsNotSaidToBeWaitedFor() throws Exception {
        Path file = servers("");
        ProxyConfig shared = ConfigLoader.load(file).withListen(HostPort.parse("listen-d.example:19414"),
                HostPort.parse("admin-d.example:19414"));
        try (SilentDns dns = new SilentDns()) {
            dns.answer(InetAddress.getByAddress(new byte[] {127, 0, 0, 1}));
            assertThrows(UsageException.class, () -> ProxyInstance.checkListenersApart(shared, null));
        }
        try (SilentDns silent = new SilentDns()) {
            long start = System.nanoTime();
            UsageException e = assertThrows(UsageException.class, () -> ProxyInstance.checkListenersApart(shared,
                    null));
            long took = (System.nanoTime() - start) / 1_000_000;
            assertTrue(e.getMessage().startsWith("cannot listen on admin-d.example:19414"), e.getMessage());
            assertTrue(took < 1_000, "found before, taken at once: " + took + " ms");
            assertTrue(log.messages().stream().noneMatch(m -> m.contains("-d.example")), log.toString());
        }
    }
}
