package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.cluster.MemberState;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class HealthTrackerTest {

    @Test
    void twoFailuresTakeItDownTwoSuccessesBringItUp() {
        HealthTracker t = new HealthTracker(MemberState.UP, 2, 2);
        assertEquals(Optional.empty(), t.record(true));
        assertEquals(Optional.empty(), t.record(false));
        assertEquals(Optional.of(MemberState.DOWN), t.record(false));
        assertEquals(Optional.empty(), t.record(false));
        assertEquals(Optional.empty(), t.record(true));
        assertEquals(Optional.of(MemberState.UP), t.record(true));
        assertEquals(MemberState.UP, t.state());
    }

    @Test
    void aSingleBlipChangesNothing() {
        HealthTracker t = new HealthTracker(MemberState.UP, 2, 2);
        for (int i = 0; i < 5; i++) {
            assertEquals(Optional.empty(), t.record(false));
            assertEquals(Optional.empty(), t.record(true));
        }
        assertEquals(MemberState.UP, t.state());
        HealthTracker down = new HealthTracker(MemberState.DOWN, 2, 2);
        assertEquals(Optional.empty(), down.record(true));
        assertEquals(Optional.empty(), down.record(false));
        assertEquals(Optional.empty(), down.record(true));
        assertEquals(Optional.of(MemberState.UP), down.record(true));
    }
}
