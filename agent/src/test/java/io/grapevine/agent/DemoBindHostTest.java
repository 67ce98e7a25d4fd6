package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.cluster.ListenPorts;
import io.grapevine.cluster.NameLookups;
import io.grapevine.cluster.SilentNameServer;
import java.net.InetAddress;
import java.net.Socket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The demo backend's bind host (the target's, with --demo) is looked up under a time limit. */
@Timeout(30)
class DemoBindHostTest {

    /**
     * A DNS server that does not answer for the target's host fails the agent's start once the lookup's limit is up,
     * naming the host and the DNS server, instead of holding it for the resolver's timeout on every attempt.
     */
    @Test
    void aTargetHostWhoseDnsDoesNotAnswerFailsTheStartWithinTheLookupLimitNamingIt() throws Exception {
        int port = ListenPorts.free();
        AgentOptions options = AgentOptions.parse(new String[] {"--join", "127.0.0.1:" + ListenPorts.free(),
            "--service", "web", "--target", "web-1.silent.example:" + port, "--demo", "--insecure-gossip"});
        try (SilentNameServer silent = new SilentNameServer()) {
            long start = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Agent.start(options, null));
            long waited = (System.nanoTime() - start) / 1_000_000;
            assertTrue(waited < NameLookups.LOOKUP_MILLIS + 2_000, "the lookup's limit: " + waited + " ms");
            assertEquals("cannot listen on web-1.silent.example:" + port + ": the DNS server did not answer for"
                    + " web-1.silent.example within " + NameLookups.LOOKUP_MILLIS + " ms", e.getMessage());
        }
    }

    /** A name the DNS server does answer for is bound at the address it found. */
    @Test
    void aBindHostNameIsBoundAtTheAddressItsLookupFound() throws Exception {
        try (DemoBackend backend = DemoBackend.start("localhost", 0, 1);
             Socket client = new Socket(InetAddress.getByName("localhost"), backend.port())) {
            assertTrue(client.isConnected());
        }
    }
}
