package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.UsageException;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BackendOptionsTest {

    /** A value for every flag, each different from the default; a new flag without one fails the test. */
    private static final Map<String, String> SAMPLE = Map.of("--port", "8090", "--count", "6", "--host", "0.0.0.0",
            "--threads", "2");

    @Test
    void defaults() throws Exception {
        BackendOptions options = BackendOptions.parse("--port", "8080");
        assertEquals(new BackendOptions("127.0.0.1", 8080, 1, 1), options);
        assertEquals(8080, options.portOf(1));
    }

    @Test
    void allOptionsInBothSpellings() throws Exception {
        BackendOptions options = BackendOptions.parse("--port=8080", "--count", "6", "--host=0.0.0.0", "--threads", "2");
        assertEquals(new BackendOptions("0.0.0.0", 8080, 6, 2), options);
        assertEquals(8085, options.portOf(6));
    }

    /** Every flag: {@code --flag=value} and {@code --flag value} mean the same, and change the options. */
    @Test
    void everyFlagInBothSpellings() throws Exception {
        var flags = CommandLines.flags(new BackendOptions.Flags());
        assertEquals(SAMPLE.keySet(), flags.stream().map(CommandLines.Flag::name).collect(java.util.stream.Collectors.toSet()));
        BackendOptions reference = BackendOptions.parse("--port", "8080");
        for (CommandLines.Flag flag : flags) {
            String port = flag.name().equals("--port") ? "--port=7000" : "--port=8080";
            BackendOptions attached = BackendOptions.parse(port, flag.name() + "=" + SAMPLE.get(flag.name()));
            assertEquals(attached, BackendOptions.parse(port, flag.name(), SAMPLE.get(flag.name())), flag.name());
            assertNotEquals(reference, attached, flag.name() + " changed nothing");
        }
    }

    @Test
    void portZeroMeansEphemeralForEveryWorker() throws Exception {
        BackendOptions options = BackendOptions.parse("--port", "0", "--count", "3");
        assertEquals(0, options.portOf(1));
        assertEquals(0, options.portOf(3));
    }

    @Test
    void helpWinsOverEverythingElse() throws Exception {
        assertTrue(help("--count", "x", "--help").startsWith("usage: ./grapevine backend --port P"));
        assertTrue(help("-h").contains("--threads"));
        assertTrue(help("--port", "1", "--help").contains("exit status"));
        assertTrue(help("--version").startsWith("grapevine backend "));
    }

    @Test
    void badCommandLinesNameTheOptionAndTheExpectation() {
        assertMessage("--port is required");
        assertMessage("unknown option '--bogus'", "--port", "1", "--bogus");
        assertMessage("unexpected argument 'extra'", "--port", "1", "extra");
        assertMessage("--port needs a value (P)", "--port");
        assertMessage("--port expects a whole number from 0 to 65535, got '70000'", "--port", "70000");
        assertMessage("--count expects a whole number from 1 to 1000, got 'x'", "--port", "1", "--count", "x");
        assertMessage("--count expects a whole number from 1 to 1000, got '0'", "--port", "1", "--count", "0");
        assertMessage("--threads expects a whole number from 1 to 64, got '0'", "--port", "1", "--threads=0");
        assertMessage("--host expects an address, got ''", "--port", "1", "--host=");
        assertMessage("--port 65535 with --count 2 goes past port 65535", "--port", "65535", "--count", "2");
    }

    private static String help(String... args) throws UsageException {
        CommandLines.Parsed<BackendOptions> parsed = CommandLines.parse(new BackendOptions.Flags(), Map.of(), args,
                BackendOptions.Flags::validate);
        assertNull(parsed.options());
        return parsed.text();
    }

    private static void assertMessage(String expected, String... args) {
        UsageException e = assertThrows(UsageException.class, () -> BackendOptions.parse(args));
        assertEquals(expected, e.getMessage());
    }
}
