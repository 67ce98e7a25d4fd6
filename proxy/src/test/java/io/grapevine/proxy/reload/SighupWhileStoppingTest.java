package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import sun.misc.Signal;

/**
 * A SIGHUP during the proxy's last stop steps, once the reloads and the table thread are closed, reloads nothing and
 * says so in one line, instead of a stack trace of the table thread's refusal on the JVM's signal thread.
 */
class SighupWhileStoppingTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final LogCapture logs = new LogCapture(ReloadTriggers.class);

    @Test
    void aSighupAfterTheReloadsClosedIsLoggedAsIgnored() throws Exception {
        Path file = Files.writeString(dir.resolve("servers.conf"), "{ \"backend_servers\": [] }\n");
        ProxyConfig config = ConfigLoader.load(file);
        RunningConfig running = new RunningConfig(new TableHolder(1, config.routes(), config::policyOf), config, file,
                SelfAddressGuard.NONE);
        ReloadTriggers triggers = new ReloadTriggers(running, file, null);
        triggers.start();
        running.start("start");
        // The order of ProxyInstance's stop: the reloads, then (after the drain) the table thread.
        triggers.close();
        running.close();

        List<Throwable> uncaught = new CopyOnWriteArrayList<>();
        Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((thread, e) -> uncaught.add(e));
        try {
            Signal.raise(new Signal("HUP"));
            Await.until(Duration.ofSeconds(5), "the SIGHUP handled",
                    () -> !logs.messages().isEmpty() || !uncaught.isEmpty(), logs::toString);
            Thread.sleep(200); // anything the handler does after its first line
        } finally {
            Thread.setDefaultUncaughtExceptionHandler(before);
        }
        assertEquals(List.of(), uncaught, "thrown on the signal thread");
        assertEquals(List.of("SIGHUP received: ignored (stopping)"), logs.messages());
    }
}
