package io.grapevine.cluster.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.KeygenMain;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CommandLinesTest {

    private static CommandLines.Parsed<Object> keygen(String... args) throws UsageException {
        return CommandLines.parse(new KeygenMain(), Map.of(), args, flags -> flags);
    }

    @Test
    void keygenTakesNoArgumentsAndAnswersHelpAndVersion() throws UsageException {
        assertTrue(keygen().options() instanceof KeygenMain);
        assertNull(keygen().text());
        assertTrue(keygen("--help").text().startsWith("usage: ./grapevine keygen > cluster.key"), keygen("--help").text());
        assertTrue(keygen("-h").text().contains("openssl rand -base64 32"));
        String version = keygen("--version").text();
        assertEquals("grapevine keygen " + ProgramVersion.version(), version.lines().findFirst().orElseThrow());
        assertFalse(ProgramVersion.version().contains("${") || ProgramVersion.version().equals("unknown"),
                ProgramVersion.version());
        assertEquals("unexpected argument 'now'", assertThrows(UsageException.class, () -> keygen("now")).getMessage());
        assertEquals("unknown option '--length'", assertThrows(UsageException.class, () -> keygen("--length=64")).getMessage());
        assertEquals("grapevine keygen", CommandLines.programName(new KeygenMain()));
        assertTrue(CommandLines.flags(new KeygenMain()).isEmpty());
    }
}
