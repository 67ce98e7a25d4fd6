package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterKeyringTest {

    @TempDir
    Path dir;

    @Test
    void generatedKeysAre32RandomBytes() {
        String a = ClusterKeyring.generateKey();
        assertEquals(32, Base64.getDecoder().decode(a).length);
        assertNotEquals(a, ClusterKeyring.generateKey());
    }

    @Test
    void loadsKeysInOrderSkippingCommentsAndBlankLines() throws IOException {
        String k1 = ClusterKeyring.generateKey();
        String k2 = ClusterKeyring.generateKey();
        Path file = Files.writeString(dir.resolve("cluster.key"), "# primary\n" + k1 + "\n\n  " + k2 + "  \n");
        ClusterKeyring keyring = ClusterKeyring.load(file);
        assertEquals(2, keyring.size());
        assertEquals(ClusterKeyring.of(List.of(k1)).keyIds().get(0), keyring.keyIds().get(0));
        assertEquals(keyring.primary().id(), ClusterKeyring.of(List.of(k1, k2)).primary().id());
        assertEquals(keyring.byId(ClusterKeyring.of(List.of(k2)).primary().id()).id(), ClusterKeyring.of(List.of(k2)).primary().id());
    }

    /**
     * A comment is ignored whatever it says: an operator's name, an accent, a dash an editor typed for "--". And a
     * key file saved by a Windows editor starts with a byte order mark and ends its lines with CRLF.
     */
    @Test
    void commentsMayHoldAnyCharacterAndAByteOrderMarkIsNotPartOfTheKey() throws IOException {
        String k1 = ClusterKeyring.generateKey();
        String k2 = ClusterKeyring.generateKey();
        List<String> ids = ClusterKeyring.of(List.of(k1, k2)).keyIds();
        Path accented = Files.writeString(dir.resolve("accented.key"),
                "# cl\u00e9 de production \u2014 ajout\u00e9e par Zo\u00eb, 2026-12-04\n" + k1 + "\n# nouvelle cl\u00e9\n" + k2 + "\n",
                StandardCharsets.UTF_8);
        assertEquals(ids, ClusterKeyring.load(accented).keyIds());

        Path latin1 = Files.write(dir.resolve("latin1.key"),
                ("# cl\u00e9\n" + k1 + "\n" + k2 + "\n").getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(ids, ClusterKeyring.load(latin1).keyIds());

        Path bom = Files.writeString(dir.resolve("bom.key"), "\uFEFF" + k1 + "\r\n" + k2 + "\r\n", StandardCharsets.UTF_8);
        assertEquals(ids, ClusterKeyring.load(bom).keyIds());

        Path accentInKey = Files.writeString(dir.resolve("bad.key"), "# ok\n" + k1.substring(0, 10) + "\u00e9" + k1.substring(11)
                + "\n", StandardCharsets.UTF_8);
        IOException e = assertThrows(IOException.class, () -> ClusterKeyring.load(accentInKey));
        assertTrue(e.getMessage().startsWith(accentInKey + ":2: expected a base64 key of 32 bytes"), e.getMessage());
    }

    @Test
    void errorsNameTheFileAndLine() throws IOException {
        Path notBase64 = Files.writeString(dir.resolve("a.key"), "# c\nnot base64!\n");
        IOException e = assertThrows(IOException.class, () -> ClusterKeyring.load(notBase64));
        assertTrue(e.getMessage().startsWith(notBase64 + ":2: expected a base64 key of 32 bytes"), e.getMessage());

        Path shortKey = Files.writeString(dir.resolve("b.key"), Base64.getEncoder().encodeToString(new byte[16]) + "\n");
        e = assertThrows(IOException.class, () -> ClusterKeyring.load(shortKey));
        assertTrue(e.getMessage().contains(":1: ") && e.getMessage().contains("found 16 bytes"), e.getMessage());

        Path empty = Files.writeString(dir.resolve("c.key"), "# nothing\n");
        e = assertThrows(IOException.class, () -> ClusterKeyring.load(empty));
        assertTrue(e.getMessage().contains("no cluster key"), e.getMessage());

        e = assertThrows(IOException.class, () -> ClusterKeyring.load(dir.resolve("missing.key")));
        assertTrue(e.getMessage().contains("missing.key"), e.getMessage());

        String k = ClusterKeyring.generateKey();
        Path twice = Files.writeString(dir.resolve("d.key"), k + "\n" + k + "\n");
        e = assertThrows(IOException.class, () -> ClusterKeyring.load(twice));
        assertTrue(e.getMessage().contains("repeats"), e.getMessage());
    }

    @Test
    void keyIdDoesNotRevealTheKey() {
        String key = ClusterKeyring.generateKey();
        String id = ClusterKeyring.of(List.of(key)).keyIds().get(0);
        String hexKey = java.util.HexFormat.of().formatHex(Base64.getDecoder().decode(key));
        assertTrue(!hexKey.contains(id));
    }

    @Test
    void derivedSecretsFollowThePrimaryKeyAndTheLabelAndRevealNeitherKey() {
        String k1 = ClusterKeyring.generateKey();
        String k2 = ClusterKeyring.generateKey();
        byte[] secret = ClusterKeyring.of(List.of(k1)).derivedSecret("label");
        assertEquals(32, secret.length);
        assertArrayEquals(secret, ClusterKeyring.of(List.of(k1, k2)).derivedSecret("label"), "secondary keys do not count");
        assertFalse(Arrays.equals(secret, ClusterKeyring.of(List.of(k2, k1)).derivedSecret("label")));
        assertFalse(Arrays.equals(secret, ClusterKeyring.of(List.of(k1)).derivedSecret("other label")));
        assertFalse(Arrays.equals(secret, Base64.getDecoder().decode(k1)));
    }
}
