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

    @Test
    void anOutInADirectoryThatDoesNotExistIsRefusedAtStart() throws Exception {
        Path template = Files.writeString(dir.resolve("haproxy.cfg.mustache"), "global\n");
        Path out = dir.resolve("no-such-dir").resolve("haproxy.cfg");
        UsageException e = assertThrows(UsageException.class, () -> ProxyInstance.check(ProxyMain.parse(new String[] {
            "--render", template.toString(), "--out", out.toString(), "--join", "127.0.0.1:7946", "--insecure-gossip",
            "--check"}, Map.of()).options()));
        assertEquals("--out " + out + ": the directory " + dir.resolve("no-such-dir") + " does not exist", e.getMessage());
    }
}
