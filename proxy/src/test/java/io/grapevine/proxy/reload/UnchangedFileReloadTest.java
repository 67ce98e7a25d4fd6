package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.membership.BackendTemplate;
import io.grapevine.proxy.stats.EventLog;
import io.grapevine.proxy.table.TableHolder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A reload re-reads every file, but parses or compiles only one whose text changed: the same text makes the same
 * configuration, so an unchanged servers.conf keeps its parsed form, and an unchanged template its compiled form.
 * What a reload promises besides stays: the listeners (the access log's reopen) hear of it, and a change is applied.
 */
class UnchangedFileReloadTest {

    @TempDir
    Path dir;

    private static String servers(int weight) {
        return "{ \"backend_servers\": [ { \"name\": \"a\", \"ip\": \"127.0.0.1\", \"port\": 18001, \"weight\": " + weight
                + " } ] }\n";
    }

    @Test
    void anUnchangedServersConfIsNotParsedAgainButItsReloadIsToldAndAChangeApplies() throws Exception {
        Path file = Files.writeString(dir.resolve("servers.conf"), servers(1));
        ProxyConfig first = ConfigLoader.load(file);
        TableHolder tables = new TableHolder(1, first.routes(), first::policyOf);
        try (RunningConfig running = new RunningConfig(tables, first, file, SelfAddressGuard.NONE)) {
            List<ProxyConfig> heard = new ArrayList<>();
            running.onConfigReload(heard::add);
            running.start("start");

            assertEquals(List.of(), running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors());
            ProxyConfig parsed = running.config();
            assertNotSame(first, parsed, "the first reload parses the file");

            assertEquals(List.of(), running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors());
            assertSame(parsed, running.config(), "the same text is not parsed again");
            assertEquals(2, heard.size(), "every reload is told to the listeners, unchanged or not");
            EventLog.Event last = tables.events().all().get(tables.events().all().size() - 1);
            assertTrue(last.detail().endsWith("unchanged"), last.toString());

            Files.writeString(file, servers(7));
            assertEquals(List.of(), running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors());
            assertEquals(7, running.config().servers().get(0).weight(), "a changed text is parsed and applied");
            running.awaitIdle(5_000);
            assertEquals(7, running.current().servers().get(0).spec().weight());

            Files.writeString(file, "{ not json");
            assertEquals(1, running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors().size());
            Files.writeString(file, servers(7));
            assertEquals(List.of(), running.reload("test", true, false).get(5, TimeUnit.SECONDS).errors(),
                    "the text in force again after a bad edit is the running configuration");
            assertEquals(7, running.config().servers().get(0).weight());
        }
    }

    @Test
    void anUnchangedTemplateIsNotCompiledAgainAndAChangedOneIs() throws Exception {
        Path file = Files.writeString(dir.resolve("t.mustache"), "{{#a}}x{{/a}}");
        BackendTemplate template = BackendTemplate.load(file, BackendTemplate.Escaping.JSON);
        assertSame(template, template.reload());

        Files.writeString(file, "{{#a}}y{{/a}}");
        BackendTemplate changed = template.reload();
        assertNotSame(template, changed);
        assertEquals("y", changed.render(Map.of("a", true)));
        assertEquals("x", template.render(Map.of("a", true)), "the running template is untouched by the reload");
    }

    @Test
    void aTemplateWithAPartialIsCompiledAgainForItsPartialMayHaveChanged() throws Exception {
        Path file = Files.writeString(dir.resolve("t.mustache"), "[{{> part}}]");
        Files.writeString(dir.resolve("part.mustache"), "one");
        BackendTemplate template = BackendTemplate.load(file, BackendTemplate.Escaping.JSON);
        assertEquals("[one]", template.render(Map.of()));

        Files.writeString(dir.resolve("part.mustache"), "two");
        BackendTemplate reloaded = template.reload();
        assertEquals("[two]", reloaded.render(Map.of()), "the template's text is the same, its partial is not");
    }

    /**
     * A partial is read from beside its template wherever the template is: a template in /etc/grapevine is no less
     * able to include one than a template under the directory the proxy was started in.
     */
    @Test
    void aPartialIsReadFromBesideItsTemplateOutsideTheWorkingDirectory() throws Exception {
        Path file = Files.writeString(dir.resolve("t.mustache"), "[{{> part}}]");
        Files.writeString(dir.resolve("part.mustache"), "one");
        assertEquals("[one]", BackendTemplate.load(file, BackendTemplate.Escaping.JSON).render(Map.of()));

        Files.writeString(Files.createDirectory(dir.resolve("parts")).resolve("two.mustache"), "two");
        Files.writeString(file, "[{{> parts/two}}]");
        assertEquals("[two]", BackendTemplate.load(file, BackendTemplate.Escaping.JSON).render(Map.of()));

        Path inner = Files.writeString(dir.resolve("parts").resolve("t.mustache"), "[{{> ../part}}]");
        assertThrows(BackendTemplate.TemplateException.class,
                () -> BackendTemplate.load(inner, BackendTemplate.Escaping.JSON), "a partial outside its directory");
    }
}
