package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ReplayGuardTest {

    private static byte[] nonce(int i) {
        return new byte[] {(byte) i, (byte) (i >> 8), (byte) (i >> 16), 0, 0, 0, 0, 0, 0, 0, 0, 0};
    }

    @Test
    void forgetsNoncesOnlyOnceTheyAreTooOld() {
        ReplayGuard guard = new ReplayGuard(1000, 100);
        assertEquals(ReplayGuard.Verdict.FRESH, guard.check(10_000, nonce(1), 10_000));
        assertEquals(ReplayGuard.Verdict.REPLAYED, guard.check(10_000, nonce(1), 10_900));
        assertEquals(ReplayGuard.Verdict.STALE, guard.check(10_000, nonce(1), 11_001));
        assertEquals(0, guard.size());
    }

    @Test
    void overflowRaisesTheFloorSoForgottenNoncesStayRefused() {
        ReplayGuard guard = new ReplayGuard(60_000, 3);
        for (int i = 0; i < 4; i++) {
            assertEquals(ReplayGuard.Verdict.FRESH, guard.check(1000 + i, nonce(i), 2000));
        }
        assertEquals(3, guard.size());
        // nonce 0 (sent at 1000) was forgotten: it must not be accepted again.
        assertEquals(ReplayGuard.Verdict.STALE, guard.check(1000, nonce(0), 2000));
        assertEquals(ReplayGuard.Verdict.REPLAYED, guard.check(1003, nonce(3), 2000));
        assertEquals(ReplayGuard.Verdict.FRESH, guard.check(1500, nonce(9), 2000));
    }

    /**
     * A member whose clock is ahead (within the window) sends frames with later send times than the others: when the
     * memory overflows, what it forgets must be the frames sent earliest, not the first to arrive, or the floor would
     * jump to that member's clock and every other member's frames would be refused until the clocks caught up.
     */
    @Test
    void overflowForgetsTheFramesSentEarliestNotTheFirstToArrive() {
        ReplayGuard guard = new ReplayGuard(60_000, 3);
        assertEquals(ReplayGuard.Verdict.FRESH, guard.check(51_000, nonce(1), 1000)); // a clock 50 s ahead
        for (int i = 2; i <= 4; i++) {
            assertEquals(ReplayGuard.Verdict.FRESH, guard.check(1000 + i, nonce(i), 1000 + i));
        }
        assertEquals(3, guard.size());
        assertEquals(ReplayGuard.Verdict.FRESH, guard.check(1010, nonce(5), 1010), "a frame of a member in time");
        assertEquals(ReplayGuard.Verdict.REPLAYED, guard.check(51_000, nonce(1), 1010));
        assertEquals(ReplayGuard.Verdict.STALE, guard.check(1002, nonce(2), 1010), "forgotten, and still refused");
    }
}
