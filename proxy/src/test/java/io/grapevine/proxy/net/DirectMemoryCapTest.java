package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DirectMemoryCapTest {

    private static final long MIB = 1 << 20;

    @Test
    void aConnectionHoldsAtMostTwoDirectionsOfAHighWaterMarkAndOneRead() {
        assertEquals(96 * 1024, RelayBuffers.PER_CONNECTION);
        // reads of twice the mark or more: the pause and resume a full read costs comes once per 32 KiB (MAX_READ)
        assertTrue(RelayBuffers.MAX_READ >= 2 * RelayBuffers.HIGH_WATER);
        assertTrue(RelayBuffers.LOW_WATER < RelayBuffers.HIGH_WATER);
    }

    @Test
    void theLaunchersLimitHasRoomForTheDefaultMaxConnections() {
        DirectMemoryCap cap = DirectMemoryCap.of(10_000, 1024 * MIB);
        assertFalse(cap.lowered());
        assertEquals(10_000, cap.effective());
        assertEquals(10_000 * RelayBuffers.PER_CONNECTION + DirectMemoryCap.RESERVE, cap.needed());
        // exactly enough is enough
        assertFalse(DirectMemoryCap.of(100, 100 * RelayBuffers.PER_CONNECTION + DirectMemoryCap.RESERVE).lowered());
    }

    @Test
    void aLimitTooLowServesWhatFitsBesideTheReserve() {
        DirectMemoryCap cap = DirectMemoryCap.of(10_000, 512 * MIB);
        assertTrue(cap.lowered());
        assertEquals((512 - 64) * MIB / (96 * 1024), cap.effective());
        String warning = cap.warning();
        assertTrue(warning.contains("limits.max_connections 10000 needs a direct memory limit of 1002 MiB"
                + " (96 KiB per client connection for its buffers + 64 MiB kept beside them), but the limit is 512 MiB:"
                + " at most 4778 client connections"), warning);
        assertTrue(warning.contains("-XX:MaxDirectMemorySize"), warning);
    }

    @Test
    void aLimitBelowTheReserveStillServesOneConnection() {
        assertEquals(1, DirectMemoryCap.of(10_000, 32 * MIB).effective());
    }

    @Test
    void anUnknownLimitCapsNothing() {
        assertEquals(500, DirectMemoryCap.of(500, -1).effective());
    }

    @Test
    void thisProcesssLimitAndUseAreKnown() {
        assertTrue(DirectMemoryCap.limitNow() > 0, "limit " + DirectMemoryCap.limitNow());
        assertTrue(DirectMemoryCap.usedNow() >= 0, "used " + DirectMemoryCap.usedNow());
    }
}
