package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PatternBodyTest {

    /**
     * The clients of a benchmark start together: as many {@code /bytes?n=N} requests for a length not cached yet
     * arrive at once. They share one computation of its digest, instead of queueing one each on the digest threads
     * (tens of seconds for a hundred of 100 MiB on two cores).
     */
    @Test
    void concurrentRequestsForOneLengthShareOneDigest() throws Exception {
        long n = (16L << 20) + 12_345; // over the inline limit: computed off the event loop
        long before = PatternBody.digestsComputed();

        List<CompletableFuture<String>> digests = IntStream.range(0, 8).mapToObj(i -> PatternBody.sha256Hex(n)).toList();

        String expected = reference(n);
        for (CompletableFuture<String> digest : digests) {
            assertEquals(expected, digest.get(60, TimeUnit.SECONDS));
        }
        assertEquals(1, PatternBody.digestsComputed() - before, "digests computed for 8 requests of one length");
        assertEquals(expected, PatternBody.sha256Hex(n).get(60, TimeUnit.SECONDS));
        assertEquals(1, PatternBody.digestsComputed() - before, "a digest computed again although cached");
    }

    private static String reference(long n) throws Exception {
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        for (long i = 0; i < n; i++) {
            sha256.update(PatternBody.at(i));
        }
        return HexFormat.of().formatHex(sha256.digest());
    }
}
