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
}
