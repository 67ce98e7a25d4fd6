package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

        List<CompletableFuture<String>> digests = IntStream.range(0, 8).mapToObj(i -> PatternBody.sha256Hex(n).future()).toList();

        String expected = reference(n);
        for (CompletableFuture<String> digest : digests) {
            assertEquals(expected, digest.get(60, TimeUnit.SECONDS));
        }
        assertEquals(1, PatternBody.digestsComputed() - before, "digests computed for 8 requests of one length");
        assertEquals(expected, PatternBody.sha256Hex(n).future().get(60, TimeUnit.SECONDS));
        assertEquals(1, PatternBody.digestsComputed() - before, "a digest computed again although cached");
    }

    /**
     * A client that asks for a large body and goes away before its digest is ready leaves nothing running: a digest
     * of 64 GiB takes minutes of a core, and the next large length would wait behind it.
     */
    @Test
    void aDigestNobodyWaitsForAnyMoreStops() throws Exception {
        long n = 32L << 30;
        PatternBody.Digest first = PatternBody.sha256Hex(n);
        PatternBody.Digest second = PatternBody.sha256Hex(n);
        Thread.sleep(200);

        first.abandon();
        long before = PatternBody.bytesDigested();
        Thread.sleep(300);
        assertTrue(PatternBody.bytesDigested() > before, "stopped while a request still waits for it");

        second.abandon();
        Thread.sleep(100); // the piece being digested
        long stopped = PatternBody.bytesDigested();
        Thread.sleep(300);
        assertEquals(stopped, PatternBody.bytesDigested(), "still digesting for nobody");
        assertTrue(second.future().isDone());
    }

    private static String reference(long n) throws Exception {
        MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
        for (long i = 0; i < n; i++) {
            sha256.update(PatternBody.at(i));
        }
        return HexFormat.of().formatHex(sha256.digest());
    }
}
