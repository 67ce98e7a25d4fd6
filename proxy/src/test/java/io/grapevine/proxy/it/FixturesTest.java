package io.grapevine.proxy.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.ListenPorts;
import io.grapevine.proxy.testing.Ports;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The ports {@link Fixtures} hands out for servers that must refuse connections. */
class FixturesTest {

    /**
     * A closed port must stay closed for the whole test: one of the ephemeral range, released, may be the port the
     * next listener bound to port 0 gets (a demo backend, the proxy's own listener), which then answers in its stead.
     */
    @Test
    void closedPortsAreBelowTheEphemeralRangeDifferentAndClosed() throws Exception {
        int[] ports = IntStream.concat(IntStream.of(Fixtures.closedPort()), IntStream.of(Fixtures.closedPorts(20))).toArray();
        assertEquals(ports.length, IntStream.of(ports).distinct().count(), Arrays.toString(ports));
        for (int port : ports) {
            assertTrue(port < ListenPorts.ephemeralLow(), port + " is in the ephemeral range, from "
                    + ListenPorts.ephemeralLow());
            assertFalse(Ports.accepting(port), port + " accepts connections");
        }
    }
}
