package io.grapevine.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grapevine.cluster.cli.UsageException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Render mode's {@code --out} is checked at start, not at the first render, which waits for a seed's answer. */
class RenderOutCheckTest {

    @TempDir
    Path dir;

    private String refused(Path out) throws Exception {
        Path template = Files.writeString(dir.resolve("haproxy.cfg.mustache"), "global\n");
        return assertThrows(UsageException.class, () -> ProxyInstance.check(ProxyMain.parse(new String[] {
            "--render", template.toString(), "--out", out.toString(), "--join", "127.0.0.1:7946", "--insecure-gossip",
            "--check"}, Map.of()).options())).getMessage();
    }

    @Test
    void anOutInADirectoryThatDoesNotExistIsRefusedAtStart() throws Exception {
        Path out = dir.resolve("no-such-dir").resolve("haproxy.cfg");
        assertEquals("--out " + out + ": the directory " + dir.resolve("no-such-dir") + " does not exist", refused(out));
    }

    /** The file a link leads to is the one replaced (ExportRenderer): its directory is the one that must exist. */
    @Test
    void anOutThatLinksIntoADirectoryThatDoesNotExistIsRefusedAtStart() throws Exception {
        Path target = dir.resolve("no-such-dir").resolve("haproxy.cfg");
        Path out = Files.createSymbolicLink(dir.resolve("haproxy.cfg"), target);
        assertEquals("--out " + out + " (a link to " + target + "): the directory " + dir.resolve("no-such-dir")
                + " does not exist", refused(out));
    }
}
