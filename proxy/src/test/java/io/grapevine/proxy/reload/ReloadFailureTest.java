package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.TableHolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reload that fails in a way no file explains (a bug, an error of the JVM) is still answered: {@code POST /reload}
 * and SIGHUP's line wait for it, and the admin server has no time limit of its own.
 */
class ReloadFailureTest {

    @TempDir
    Path dir;

    @Test
    void aReloadThatThrowsIsAnsweredWithWhyAndTheRunningConfigurationStays() throws Exception {
        Path file = Files.writeString(dir.resolve("servers.conf"),
                "{ \"backend_servers\": [ { \"ip\": \"127.0.0.1\", \"port\": 18001 } ] }\n");
        ProxyConfig first = ConfigLoader.load(file);
        TableHolder tables = new TableHolder(1, first.routes(), first::policyOf);
        try (RunningConfig running = new RunningConfig(tables, first, file, SelfAddressGuard.NONE)) {
            running.setSource(new ServerSource() {
                @Override
                public String configChanged(String reason) {
                    running.publish(reason, List.of());
                    return null;
                }

                @Override
                public String loadFile(String why) {
                    throw new IllegalStateException("the template's store is gone");
                }
            });
            running.start("start");
            running.awaitIdle(5_000);
            BackendTable before = running.current();

            ExecutionException failed = assertThrows(ExecutionException.class,
                    () -> running.reload("test", true, true).get(5, TimeUnit.SECONDS), "answered, not left waiting");
            assertTrue(String.valueOf(failed.getCause()).contains("the template's store is gone"),
                    String.valueOf(failed.getCause()));
            assertSame(before, running.current(), "the table in force stays");
            List<String> errors = tables.events().all().stream().filter(e -> e.kind().equals("error"))
                    .map(EventLog.Event::detail).toList();
            assertEquals(1, errors.size(), errors.toString());
            assertTrue(errors.get(0).contains("the template's store is gone"), errors.toString());

            assertEquals(List.of(), running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors(),
                    "the table thread goes on reloading");
        }
    }
}
