package io.grapevine.proxy.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdminTokenTest {

    @Test
    void aTokenFileHoldsOneLineOfAtLeastSixteenVisibleCharacters(@TempDir Path dir) throws Exception {
        AdminToken token = AdminToken.read(Files.writeString(dir.resolve("ok"), "  0123456789abcdef\n"));
        assertTrue(token.matches("0123456789abcdef"));
        assertFalse(token.matches("0123456789abcdeF"));
        assertFalse(token.matches("0123456789abcdef "));
        assertFalse(token.matches(""));

        Path tooShort = Files.writeString(dir.resolve("short"), "0123456789abcde\n");
        assertEquals(tooShort + ": the token has 15 characters; it needs at least 16 (make one with: openssl rand -hex 32)",
                assertThrows(IllegalArgumentException.class, () -> AdminToken.read(tooShort)).getMessage());
        Path spaced = Files.writeString(dir.resolve("spaced"), "0123456789 abcdef");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> AdminToken.read(spaced)).getMessage()
                .endsWith("visible ASCII characters, without spaces"));
        Path twoLines = Files.writeString(dir.resolve("two"), "0123456789abcdef\n0123456789abcdef\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> AdminToken.read(twoLines)).getMessage()
                .endsWith("one line"));
        Path missing = dir.resolve("missing");
        assertEquals(missing + ": cannot read file: No such file or directory",
                assertThrows(IllegalArgumentException.class, () -> AdminToken.read(missing)).getMessage());
        assertEquals("AdminToken[hidden]", token.toString(), "never printed");
    }
}
