package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.config.SilentDns;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A servers.conf refused because the lookup of one of its host names had not answered in time is loaded again, once,
 * when that lookup finds the name, as a gossip backend refused that way is taken in: no operator has to reload again.
 */
class LateLookupReloadTest {

    @TempDir
    Path dir;

    private static String servers(String... hosts) {
        StringBuilder s = new StringBuilder("{ \"backend_servers\": [");
        for (int i = 0; i < hosts.length; i++) {
            s.append(i == 0 ? " " : ", ").append("{ \"ip\": \"").append(hosts[i]).append("\", \"port\": ")
                    .append(18_001 + i).append(" }");
        }
        return s.append(" ] }\n").toString();
    }

    @Test
    void aServersConfRefusedForANameWhoseLookupTimedOutIsLoadedOnceTheLookupFindsIt() throws Exception {
        String host = "late-" + System.nanoTime() + ".example";
        Path file = Files.writeString(dir.resolve("servers.conf"), servers("127.0.0.1"));
        ProxyConfig first = ConfigLoader.load(file);
        TableHolder tables = new TableHolder(1, first.routes(), first::policyOf);
        try (RunningConfig running = new RunningConfig(tables, first, file, SelfAddressGuard.NONE);
             SilentDns dns = new SilentDns()) {
            running.start("start");
            Files.writeString(file, servers("127.0.0.1", host));
            ReloadOutcome refused = running.reload("test", true, false)
                    .get(SilentDns.LOOKUP_MILLIS + 5_000, TimeUnit.MILLISECONDS);
            assertEquals(1, refused.errors().size(), refused.toString());
            assertEquals(1, running.current().servers().size());

            dns.answer(true);
            Await.until(Duration.ofSeconds(5), "the servers.conf loaded again", () -> running.current().servers()
                    .size() == 2, () -> tables.events().all().toString());
            running.awaitIdle(5_000);
            assertEquals(List.of("127.0.0.1", host), running.current().servers().stream().map(s -> s.spec().host())
                    .toList());
            List<String> reloads = tables.events().all().stream().filter(e -> e.kind().equals("reload"))
                    .map(EventLog.Event::detail).toList();
            assertEquals(List.of("reloaded (" + host + " resolves now)"), reloads, "loaded again once, saying why");
            assertEquals(List.of("added to the table (static, " + host + ":18002, weight 1): servers.conf reloaded ("
                    + host + " resolves now)"), tables.events().all().stream().filter(e -> e.kind().equals("add")
                    && e.subject().equals(host + ":18002")).map(EventLog.Event::detail).toList(), "the swap says why");
        }
    }

    /**
     * The table thread builds the table with the address the host check found (under its time limit), not with a
     * lookup of its own, which a DNS server that does not answer would hold without a limit once the JVM's cache of
     * that answer has expired.
     */
    @Test
    void theTableTakesTheAddressTheCheckFoundWithoutALookupOfItsOwn() throws Exception {
        String host = "checked-" + System.nanoTime() + ".example";
        InetAddress found = InetAddress.getByAddress(host, new byte[] {127, 0, 0, 7});
        Path file = Files.writeString(dir.resolve("servers.conf"), servers("127.0.0.1"));
        ProxyConfig first = ConfigLoader.load(file);
        TableHolder tables = new TableHolder(1, first.routes(), first::policyOf);
        try (RunningConfig running = new RunningConfig(tables, first, file, SelfAddressGuard.NONE)) {
            running.start("start");
            try (SilentDns dns = new SilentDns()) {
                dns.answer(found);
                Files.writeString(file, servers("127.0.0.1", host));
                ReloadOutcome loaded = running.reload("test", true, false).get(10, TimeUnit.SECONDS);
                assertEquals(List.of(), loaded.errors());
                assertEquals(new InetSocketAddress(found, 18_002), running.current().servers().get(1).address());
            }
            try (SilentDns silent = new SilentDns()) {
                // The DNS server stops answering: the check waits for the lookup once, the table not at all.
                Files.writeString(file, servers("127.0.0.1", host, host));
                long start = System.nanoTime();
                ReloadOutcome loaded = running.reload("test", true, false)
                        .get(SilentDns.LOOKUP_MILLIS + 5_000, TimeUnit.MILLISECONDS);
                long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(List.of(), loaded.errors());
                assertTrue(waited < SilentDns.LOOKUP_MILLIS + 2_000, waited + " ms");
                assertEquals(new InetSocketAddress(found, 18_003), running.current().servers().get(2).address());
            }
        }
    }
}
