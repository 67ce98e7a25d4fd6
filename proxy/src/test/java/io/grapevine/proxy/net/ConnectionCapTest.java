package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ConnectionCapTest {

    @Test
    void aLimitWithRoomForTwoDescriptorsPerConnectionAndTheReserveCapsNothing() {
        ConnectionCap cap = ConnectionCap.of(10_000, 65_536, 150);
        assertFalse(cap.lowered());
        assertEquals(10_000, cap.effective());
        assertEquals(2 * 10_000 + 150 + ConnectionCap.RESERVE, cap.needed());
        // exactly enough is enough
        assertFalse(ConnectionCap.of(100, 200 + 150 + ConnectionCap.RESERVE, 150).lowered());
    }

    @Test
    void aLimitTooLowServesWhatFitsBesideTheOpenDescriptorsAndTheReserve() {
        ConnectionCap cap = ConnectionCap.of(10_000, 4096, 200);
        assertTrue(cap.lowered());
        assertEquals((4096 - 200 - ConnectionCap.RESERVE) / 2, cap.effective());
        assertEquals(20_000 + 200 + ConnectionCap.RESERVE, cap.needed());
        String warning = cap.warning();
        assertTrue(warning.contains("limits.max_connections 10000 needs an open-files limit of 20328"), warning);
        assertTrue(warning.contains("the limit is 4096: at most 1884 client connections"), warning);
        assertTrue(warning.contains("LimitNOFILE, ulimit -n"), warning);
    }

    @Test
    void aLimitBelowTheReserveStillServesOneConnection() {
        assertEquals(1, ConnectionCap.of(10_000, 120, 100).effective());
    }

    @Test
    void anUnknownLimitOrCountCapsNothing() {
        assertEquals(500, ConnectionCap.of(500, -1, 100).effective());
        assertEquals(500, ConnectionCap.of(500, 100, -1).effective());
        assertEquals(500, ConnectionCap.of(500, Long.MAX_VALUE, 100).effective());
    }
}
