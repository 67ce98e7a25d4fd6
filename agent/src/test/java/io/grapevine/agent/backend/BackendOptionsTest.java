package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BackendOptionsTest {

    @Test
    void defaults() throws Exception {
        BackendOptions options = BackendOptions.parse("--port", "8080");
        assertEquals(new BackendOptions(false, "127.0.0.1", 8080, 1, 1), options);
        assertEquals(8080, options.portOf(1));
    }

    @Test
    void allOptionsInBothSpellings() throws Exception {
        BackendOptions options = BackendOptions.parse("--port=8080", "--count", "6", "--host=0.0.0.0", "--threads", "2");
        assertEquals(new BackendOptions(false, "0.0.0.0", 8080, 6, 2), options);
        assertEquals(8085, options.portOf(6));
    }

    @Test
    void portZeroMeansEphemeralForEveryWorker() throws Exception {
        BackendOptions options = BackendOptions.parse("--port", "0", "--count", "3");
        assertEquals(0, options.portOf(1));
        assertEquals(0, options.portOf(3));
    }

    @Test
    void helpWinsOverEverythingElse() throws Exception {
        assertTrue(BackendOptions.parse("--count", "x", "--help").help());
        assertTrue(BackendOptions.parse("-h").help());
        assertTrue(BackendOptions.parse("--port", "1", "--help").help());
        assertFalse(BackendOptions.parse("--port", "1").help());
    }

    @Test
    void badCommandLinesNameTheOptionAndTheExpectation() {
        assertMessage("--port is required (see --help)");
        assertMessage("unknown option '--bogus' (see --help)", "--port", "1", "--bogus");
        assertMessage("unknown option 'extra' (see --help)", "--port", "1", "extra");
        assertMessage("--port needs a value (see --help)", "--port");
        assertMessage("--port expects a whole number from 0 to 65535, got '70000'", "--port", "70000");
        assertMessage("--count expects a whole number from 1 to 1000, got 'x'", "--port", "1", "--count", "x");
        assertMessage("--count expects a whole number from 1 to 1000, got '0'", "--port", "1", "--count", "0");
        assertMessage("--threads expects a whole number from 1 to 64, got '0'", "--port", "1", "--threads=0");
        assertMessage("--host expects an address, got ''", "--port", "1", "--host=");
        assertMessage("--port 65535 with --count 2 goes past port 65535", "--port", "65535", "--count", "2");
    }

    private static void assertMessage(String expected, String... args) {
        BackendOptions.UsageException e = assertThrows(BackendOptions.UsageException.class, () -> BackendOptions.parse(args));
        assertEquals(expected, e.getMessage());
    }
}
