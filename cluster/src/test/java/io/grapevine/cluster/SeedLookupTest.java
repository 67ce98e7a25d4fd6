package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A start looks its seeds' names and its gossip bind host's up under one time limit, and says which did not answer. */
@Timeout(30)
class SeedLookupTest {

    @Test
    void seedsWhoseDnsDoesNotAnswerHoldTheChoiceOfAddressOnceAndAreNamed() throws Exception {
        try (LoggedEvents logged = new LoggedEvents(GossipNode.class);
                SilentNameServer silent = new SilentNameServer()) {
            ClusterSettings settings = ClusterSettings.builder().insecure(true).gossipPort(17946)
                    .seeds(List.of("seed-1.silent.example:17946", "seed-2.silent.example:17946")).build();
            long start = System.nanoTime();
            assertEquals("127.0.0.1", GossipNode.bindHost(settings));
            assertEquals("127.0.0.1", GossipNode.bindHost(settings)); // a proxy's start asks again, and again
            long waited = (System.nanoTime() - start) / 1_000_000;
            assertTrue(waited < NameLookups.LOOKUP_MILLIS + 2_000, "both seeds, twice, in one limit: " + waited + " ms");
            List<String> lines = logged.messages().stream().filter(m -> m.contains("did not answer")).toList();
            assertEquals(2, lines.size(), lines.toString());
            assertTrue(lines.get(0).contains("seed seed-1.silent.example within 5000 ms"), lines.toString());
            assertTrue(lines.get(1).contains("seed seed-2.silent.example within 5000 ms"), lines.toString());
        }
    }

    @Test
    void aSeedThatNamesThisNodeInAnotherCaseIsThisNode() {
        HostAndPort seed = HostAndPort.parse("Node-A.Example:17946", "seed");
        assertTrue(GossipNode.isSelf(seed, null, 17946, "node-a.example"));
        assertTrue(GossipNode.isSelf(HostAndPort.parse("LocalHost:17946", "seed"), null, 17946, "10.0.0.1"));
        assertFalse(GossipNode.isSelf(HostAndPort.parse("node-b.example:17946", "seed"), null, 17946, "node-a.example"));
        assertFalse(GossipNode.isSelf(seed, null, 17947, "node-a.example"), "another port: another node");
    }

    @Test
    void aBindHostNameIsProbedAtWhatItsLookupFoundAndOneWhoseDnsDoesNotAnswerIsNamedWithinTheLimit() {
        NameLookups.Resolver real = NameLookups.lookup;
        NameLookups.lookup = name -> InetAddress.getByAddress(name, new byte[] {127, 0, 0, 1});
        try {
            GossipNode.checkCanListen(bindingTo("gossip-a.silent.example"));
        } finally {
            NameLookups.lookup = real;
        }
        try (SilentNameServer silent = new SilentNameServer()) {
            long start = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> GossipNode.checkCanListen(bindingTo("gossip-b.silent.example")));
            long waited = (System.nanoTime() - start) / 1_000_000;
            assertTrue(waited < NameLookups.LOOKUP_MILLIS + 2_000, "one limit: " + waited + " ms");
            assertEquals("cannot listen for gossip on gossip-b.silent.example:0: the DNS server did not answer for"
                    + " gossip-b.silent.example within 5000 ms", e.getMessage());
        }
    }

    @Test
    void aBindHostNameWithNoAddressIsNamedAsSuchNotAsAnAddressOfAnotherHost() {
        NameLookups.Resolver real = NameLookups.lookup;
        NameLookups.lookup = name -> {
            throw new UnknownHostException(name); // the DNS server answered: no such name
        };
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> GossipNode.checkCanListen(bindingTo("gossip-c.typo.example")));
            assertEquals("cannot listen for gossip on gossip-c.typo.example:0: gossip-c.typo.example has no address"
                    + " (the DNS server found none)", e.getMessage());
        } finally {
            NameLookups.lookup = real;
        }
    }

    private static ClusterSettings bindingTo(String bindHost) {
        return ClusterSettings.builder().insecure(true).gossipPort(0).bindHost(bindHost).build();
    }
}
