package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Which transport runs, and what the start-up line says about it. */
class TransportTest {

    @Test
    void namesAreTheCommandLinesInAnyCaseAndSpelling() {
        assertEquals(Transport.IO_URING, Transport.parse("io_uring"));
        assertEquals(Transport.IO_URING, Transport.parse(" IO-URING "));
        assertEquals(Transport.IO_URING, Transport.parse("iouring"));
        assertEquals(Transport.EPOLL, Transport.parse("Epoll"));
        assertEquals(Transport.NIO, Transport.parse("nio"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Transport.parse("kqueue"));
        assertEquals("\"kqueue\" is not a transport: io_uring, epoll or nio", e.getMessage());
        assertEquals("io_uring", Transport.IO_URING.toString());
    }

    @Test
    void theDefaultIsEpollUntilMeasurementsSayOtherwise() {
        assertEquals(Transport.EPOLL, Transport.DEFAULT);
        Transport.Choice choice = Transport.choose(null);
        assertFalse(choice.fellBack(), "nothing was asked for, so nothing fell back");
        if (Transport.EPOLL.isAvailable()) {
            assertEquals(Transport.EPOLL, choice.transport());
            assertEquals("epoll (the default)", choice.describe());
        } else {
            assertEquals(Transport.NIO, choice.transport());
            assertTrue(choice.describe().startsWith("nio: the default, epoll is unavailable here ("), choice.describe());
        }
    }

    @Test
    void aRequestedTransportRunsWhenAvailableAndFallsBackToTheNextOneOtherwise() {
        for (Transport requested : Transport.values()) {
            Transport.Choice choice = Transport.choose(requested);
            if (requested.isAvailable()) {
                assertEquals(requested, choice.transport());
                assertNull(requested.unavailabilityCause());
                assertEquals(requested + " (requested)", choice.describe());
                assertFalse(choice.fellBack());
            } else {
                assertTrue(choice.transport().ordinal() > requested.ordinal(), "falls back down the list: " + choice);
                assertTrue(choice.transport().isAvailable());
                assertTrue(choice.fellBack());
                assertTrue(choice.describe().startsWith(choice.transport() + ": " + requested
                        + " was requested but is unavailable here (" + requested.unavailabilityCause() + ")"),
                        choice.describe());
            }
        }
    }

    @Test
    void aFallBackNamesEveryTransportThatCouldNotRun() {
        Transport.Choice choice = new Transport.Choice(Transport.NIO, Transport.IO_URING,
                List.of("io_uring was requested but is unavailable here (no kernel support)",
                        "epoll is unavailable here (no library)"));
        assertTrue(choice.fellBack());
        assertEquals("nio: io_uring was requested but is unavailable here (no kernel support); then epoll is unavailable"
                + " here (no library)", choice.describe());
        assertTrue(Transport.NIO.isAvailable());
        assertNull(Transport.NIO.unavailabilityCause());
    }
}
