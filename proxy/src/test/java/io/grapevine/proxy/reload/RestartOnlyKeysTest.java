package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.LogCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reload applies what it can and says what it cannot: a changed key that takes a restart is named in one warning,
 * so that an operator who edited it does not believe it in force.
 */
class RestartOnlyKeysTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final LogCapture log = new LogCapture(RunningConfig.class);

    @Test
    void aChangedProxyProtocolSettingIsNamedAsTakingARestart() throws Exception {
        List<String> warnings = warningsOfAReloadThatAdds(
                "\"accept_proxy_protocol\": true, \"send_proxy_protocol\": \"v2\"");
        String warning = dir.resolve("servers.conf") + " changed [accept_proxy_protocol, send_proxy_protocol]: these"
                + " take effect at the next restart";
        assertTrue(warnings.contains(warning), warnings.toString());
    }

    /**
     * A key that takes a restart stays as the proxy started with it until then, whatever the reloads read: the
     * configuration in force keeps it, a later reload of a file that still differs says so again, and one whose file
     * is back to the value in force says nothing.
     */
    @Test
    void aRestartOnlyKeyStaysAsStartedAndEachReloadComparesTheFileWithThat() throws Exception {
        Path file = Files.writeString(dir.resolve("servers.conf"), servers(1, 5000));
        ProxyConfig first = ConfigLoader.load(file);
        try (RunningConfig running = start(file)) {
            String warning = file + " changed [timeouts]: these take effect at the next restart";

            reload(running, file, servers(1, 7000));
            assertEquals(List.of(warning), log.messages(Level.WARN));
            assertEquals(first.timeouts(), running.config().timeouts(), "the timeouts in force are the start's");

            reload(running, file, servers(2, 7000));
            assertEquals(2, running.config().servers().get(0).weight(), "what a reload changes applies");
            assertEquals(List.of(warning, warning), log.messages(Level.WARN), "still not in force: said again");

            reload(running, file, servers(2, 5000));
            assertEquals(List.of(warning, warning), log.messages(Level.WARN), "the file says what is in force");
        }
    }

    /** Each object of servers.conf is named by its own key: passive_health is not health_check. */
    @Test
    void aChangedPassiveHealthSettingIsNamedByItsKey() throws Exception {
        assertEquals(List.of(dir.resolve("servers.conf") + " changed [passive_health]: these take effect at the next"
                + " restart"), warningsOfAReloadThatAdds("\"passive_health\": { \"max_fails\": 5 }"));
    }

    /** The warnings of a reload of a servers.conf with one server to which {@code keys} were added. */
    private List<String> warningsOfAReloadThatAdds(String keys) throws Exception {
        String servers = "\"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 18001 } ]";
        Path file = Files.writeString(dir.resolve("servers.conf"), "{ " + servers + " }");
        try (RunningConfig running = start(file)) {
            reload(running, file, "{ " + servers + ", " + keys + " }");
        }
        return log.messages(Level.WARN);
    }

    /** The running configuration of {@code file}, started. */
    private static RunningConfig start(Path file) throws Exception {
        ProxyConfig first = ConfigLoader.load(file);
        RunningConfig running = new RunningConfig(new TableHolder(1, first.routes(), first::policyOf), first, file,
                SelfAddressGuard.NONE);
        running.start("start");
        return running;
    }

    /** Writes {@code text} into {@code file} and reloads it, which must load. */
    private static void reload(RunningConfig running, Path file, String text) throws Exception {
        Files.writeString(file, text);
        assertEquals(List.of(), running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors());
    }

    private static String servers(int weight, long connectMs) {
        return "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 18001, \"weight\": " + weight
                + " } ], \"timeouts\": { \"connect_ms\": " + connectMs + " } }";
    }
}
