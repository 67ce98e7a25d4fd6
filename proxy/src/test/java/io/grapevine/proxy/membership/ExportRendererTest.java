package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.testing.LogCapture;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** How render mode replaces its {@code --out} file. */
class ExportRendererTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final LogCapture log = new LogCapture(ExportRenderer.class);

    private ExportRenderer renderer(Path out) throws Exception {
        Path template = Files.writeString(dir.resolve("out.mustache"), "members {{#services}}{{name}} {{/services}}\n");
        return new ExportRenderer(template, out, null);
    }

    private static Map<String, Object> services(String... names) {
        return Map.of("services", List.of(names).stream().map(n -> Map.of("name", n)).toList());
    }

    @Test
    void aReplacedFileKeepsItsPermissions() throws Exception {
        Path out = dir.resolve("haproxy.cfg");
        Files.writeString(out, "userlist admins\n  user admin password secret\n");
        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rw-------"));
        try (ExportRenderer renderer = renderer(out)) {
            renderer.render(services("a"));
            assertEquals("members a \n", Files.readString(out));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));

            Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rw-rw-r--")); // beyond a 022 umask
            renderer.render(services("a", "b"));
            assertEquals("members a b \n", Files.readString(out));
            assertEquals("rw-rw-r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
            assertEquals(List.of(out), Files.list(dir).filter(p -> p.getFileName().toString().endsWith(".cfg")
                    || p.getFileName().toString().endsWith(".tmp")).toList());
        }
    }

    /**
     * An edit of the template that does not compile leaves the running template rendering: membership changes still
     * reach the file, as a broken backend template leaves the running one in use. Whatever mustache.java makes of it:
     * a section never closed, a partial whose name is no file name (an IllegalArgumentException of its own), sections
     * nested deeper than the stack goes (a StackOverflowError).
     */
    @ParameterizedTest
    @MethodSource("templatesThatDoNotCompile")
    void anEditOfTheTemplateThatDoesNotCompileLeavesTheRunningOneRendering(String edit) throws Exception {
        Path out = dir.resolve("haproxy.cfg");
        try (ExportRenderer renderer = renderer(out)) {
            renderer.render(services("a"));
            Path template = dir.resolve("out.mustache");
            FileTime before = Files.getLastModifiedTime(template);
            Files.writeString(template, edit);
            Files.setLastModifiedTime(template, FileTime.fromMillis(before.toMillis() + 1000));

            renderer.render(services("a", "b"));
            assertEquals("members a b \n", Files.readString(out));
            renderer.render(services("b"));
            assertEquals("members b \n", Files.readString(out));
            assertEquals(1, log.messages(Level.WARN).stream().filter(m -> m.startsWith("export template not reloaded, "
                    + "the running one stays until the next edit: " + template)).count(), log.toString());

            Files.writeString(template, "servers {{#services}}{{name}} {{/services}}\n");
            Files.setLastModifiedTime(template, FileTime.fromMillis(before.toMillis() + 2000));
            renderer.render(services("a", "b"));
            assertEquals("servers a b \n", Files.readString(out), "the edit that fixes it applies");
        }
    }

    /**
     * An edit of a partial the template includes ({@code {{> name}}}, a file of its own) is picked up as an edit of the
     * template is, at the next render, and not only at a restart.
     */
    @Test
    void anEditOfAPartialIsPickedUpAtTheNextRender() throws Exception {
        Path out = dir.resolve("haproxy.cfg");
        Path partial = Files.writeString(dir.resolve("entry.mustache"), "{{name}} ");
        Path template = Files.writeString(dir.resolve("out.mustache"), "members {{#services}}{{> entry}}{{/services}}\n");
        try (ExportRenderer renderer = new ExportRenderer(template, out, null)) {
            renderer.render(services("a"));
            assertEquals("members a \n", Files.readString(out));

            FileTime before = Files.getLastModifiedTime(partial);
            Files.writeString(partial, "[{{name}}] ");
            Files.setLastModifiedTime(partial, FileTime.fromMillis(before.toMillis() + 1000));
            renderer.render(services("a", "b"));
            assertEquals("members [a] [b] \n", Files.readString(out));
            assertEquals(1, log.messages(Level.INFO).stream().filter(m -> m.equals("export template " + template
                    + " reloaded")).count(), log.toString());
        }
    }

    static List<String> templatesThatDoNotCompile() {
        return List.of("members {{#services}}{{name}} \n", "members {{> my services}}\n",
                "{{#a}}".repeat(100_000) + "{{/a}}".repeat(100_000));
    }

    /**
     * The new text is on the disk before it is renamed over the file, and the directory after: a power loss right
     * after a render leaves the old file or the new one, never an empty or partial one for the next reload to load.
     * A power loss cannot be had here; what the renderer asks of the disk, and in what order, can.
     */
    @Test
    void theNewTextIsForcedToTheDiskBeforeItReplacesTheFile() throws Exception {
        Path out = dir.resolve("haproxy.cfg");
        Files.writeString(out, "old\n");
        Path template = Files.writeString(dir.resolve("out.mustache"), "members {{#services}}{{name}} {{/services}}\n");
        List<String> steps = new ArrayList<>();
        ExportRenderer.Disk recording = new ExportRenderer.Disk() {
            @Override
            public void force(FileChannel channel, Path path) throws IOException {
                steps.add(path.equals(dir) ? "force the directory" : "force " + dir.relativize(path) + " " + channel.size() + " bytes");
                ExportRenderer.Disk.SYSTEM.force(channel, path);
            }

            @Override
            public void move(Path from, Path to) throws IOException {
                steps.add("move " + dir.relativize(from) + " " + dir.relativize(to));
                ExportRenderer.Disk.SYSTEM.move(from, to);
            }
        };
        try (ExportRenderer renderer = new ExportRenderer(template, out, null, ExportRenderer.DEFAULT_COMMAND_TIMEOUT,
                recording)) {
            renderer.render(services("a"));
        }
        assertEquals("members a \n", Files.readString(out));
        assertEquals(List.of("force .haproxy.cfg.tmp 11 bytes", "move .haproxy.cfg.tmp haproxy.cfg", "force the directory"),
                steps);
    }

    /**
     * An {@code --out} that is a symbolic link (nginx's sites-enabled, a configuration kept in a repository) stays one:
     * the file it points to gets the new text, as consul-template writes through the link, instead of the link being
     * replaced by a file of its own while the file it pointed to keeps the old text.
     */
    @Test
    void aLinkIsWrittenThroughAndStaysALink() throws Exception {
        Path real = Files.writeString(Files.createDirectory(dir.resolve("available")).resolve("upstreams.conf"), "old\n");
        Path out = Files.createSymbolicLink(dir.resolve("upstreams.conf"), dir.relativize(real));
        try (ExportRenderer renderer = renderer(out)) {
            renderer.render(services("a"));
            assertTrue(Files.isSymbolicLink(out), "the link was replaced by a file");
            assertEquals("members a \n", Files.readString(real));
            renderer.render(services("a", "b"));
            assertEquals("members a b \n", Files.readString(real));
        }
        assertEquals(List.of("upstreams.conf"), Files.list(real.getParent()).map(p -> p.getFileName().toString()).toList());
    }

    /** A link to a file not made yet (sites-enabled set up before the first render) is written through too. */
    @Test
    void aLinkToAFileNotMadeYetIsWrittenThrough() throws Exception {
        Path real = Files.createDirectory(dir.resolve("available")).resolve("upstreams.conf");
        Path out = Files.createSymbolicLink(dir.resolve("upstreams.conf"), dir.relativize(real));
        try (ExportRenderer renderer = renderer(out)) {
            renderer.render(services("a"));
        }
        assertTrue(Files.isSymbolicLink(out), "the link was replaced by a file");
        assertEquals("members a \n", Files.readString(real));
    }

    @Test
    void aReplacedFileKeepsItsGroupWhenTheRendererMaySetIt() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "only root may give a file to another group");
        Path out = dir.resolve("haproxy.cfg");
        Files.writeString(out, "old\n");
        GroupPrincipal daemon = out.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByGroupName("daemon");
        Files.getFileAttributeView(out, java.nio.file.attribute.PosixFileAttributeView.class).setGroup(daemon);
        try (ExportRenderer renderer = renderer(out)) {
            renderer.render(services("a"));
            PosixFileAttributes now = Files.readAttributes(out, PosixFileAttributes.class);
            assertEquals("members a \n", Files.readString(out));
            assertEquals(daemon, now.group());
        }
    }

    /**
     * A write that fails says why: the directory of {@code --out} gone after the start checked it (removed, or not
     * mounted) is "No such file or directory", not the name of the file written beside {@code --out} alone.
     */
    @Test
    void aWriteThatFailsNamesTheFileAndWhy() throws Exception {
        Path gone = dir.resolve("sites-enabled");
        Path out = gone.resolve("upstreams.conf");
        try (ExportRenderer renderer = renderer(out)) {
            renderer.render(services("a"));
            assertEquals(List.of("export " + dir.resolve("out.mustache") + " -> " + out + " not rendered: "
                    + gone.resolve(".upstreams.conf.tmp") + ": No such file or directory"), log.messages(Level.WARN));
        }
    }

    /** A template that cannot be read says why, not only which. */
    @Test
    void aTemplateThatCannotBeReadSaysWhy() {
        Path missing = dir.resolve("missing.mustache");
        BackendTemplate.TemplateException e = assertThrows(BackendTemplate.TemplateException.class,
                () -> BackendTemplate.load(missing, BackendTemplate.Escaping.CONFIG));
        assertEquals(missing + ": cannot read template: No such file or directory", e.getMessage());
    }
}
