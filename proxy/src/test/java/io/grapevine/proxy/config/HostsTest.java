package io.grapevine.proxy.config;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostsTest {

    private final Function<String, List<InetAddress>> realLookup = Hosts.lookup;
    private final CountDownLatch dnsAnswers = new CountDownLatch(1);

    @AfterEach
    void answerAndRestore() {
        dnsAnswers.countDown();
        Hosts.lookup = realLookup;
    }

    /** A lookup that finds the name once the test ends: a DNS server that does not answer. */
    private List<InetAddress> hangs(String name) {
        try {
            return dnsAnswers.await(1, TimeUnit.MINUTES) ? List.of(InetAddress.getLoopbackAddress()) : null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    @Test
    void aLookupThatDoesNotAnswerIsGivenUpAtTheTimeLimitAndNotWaitedForTwice() {
        Hosts.lookup = this::hangs;
        long start = System.nanoTime();
        assertNull(Hosts.normalizeResolvable("never-answers.example"));
        long first = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(first >= Hosts.LOOKUP_MILLIS - 50 && first < Hosts.LOOKUP_MILLIS + 2_000, first + " ms");
        // The lookup still under way is not waited for again: the next check answers at once.
        start = System.nanoTime();
        assertNull(Hosts.normalizeResolvable("never-answers.example"));
        long second = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(second < 500, second + " ms");
    }

    @Test
    void aNameThatResolvedKeepsItsAnswerWhileTheDnsDoesNotAnswer() {
        Hosts.lookup = name -> List.of(InetAddress.getLoopbackAddress());
        assertEquals("kept.example", Hosts.normalizeResolvable("kept.example"));
        Hosts.lookup = this::hangs;
        long start = System.nanoTime();
        assertEquals("kept.example", Hosts.normalizeResolvable("kept.example"));
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(waited < Hosts.LOOKUP_MILLIS + 2_000, waited + " ms");
    }

    /**
     * Names that resolved, then a DNS server that does not answer: each still counts as resolving, and the file is
     * held one time limit in all, not one per name one after another (4 names: 20 s).
     */
    @Test
    void theNamesOfAFileAreWaitedForTogetherUnderOneTimeLimit() throws ConfigException {
        StringBuilder json = new StringBuilder("{\"backend_servers\": [");
        for (int i = 1; i <= 4; i++) {
            json.append(i > 1 ? ", " : "").append("{\"ip\": \"web-").append(i).append(".together.example\", \"port\": 80}");
        }
        json.append("]}");
        Hosts.lookup = name -> List.of(InetAddress.getLoopbackAddress());
        ConfigLoader.parse(json.toString(), "servers.conf");
        try (SilentDns dns = new SilentDns()) {
            long start = System.nanoTime();
            ProxyConfig config = ConfigLoader.parse(json.toString(), "servers.conf");
            long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertEquals(4, config.servers().size());
            assertTrue(waited < Hosts.LOOKUP_MILLIS + 2_000, waited + " ms");
        }
    }
}
