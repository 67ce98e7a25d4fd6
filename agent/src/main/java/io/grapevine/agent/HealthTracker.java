package io.grapevine.agent;

import io.grapevine.cluster.MemberState;
import java.util.Optional;

/**
 * Turns probe results into up/down with hysteresis: {@code fall} consecutive failures take an up
 * backend down, {@code rise} consecutive successes bring a down backend up. Not thread-safe: used
 * from the probe thread only.
 */
final class HealthTracker {

    private final int rise;
    private final int fall;
    private MemberState state;
    private int streak;

    HealthTracker(MemberState initial, int rise, int fall) {
        if (initial != MemberState.UP && initial != MemberState.DOWN) {
            throw new IllegalArgumentException("initial health must be up or down");
        }
        this.state = initial;
        this.rise = rise;
        this.fall = fall;
    }

    /** Records one probe; returns the new state if this probe changed it. */
    Optional<MemberState> record(boolean success) {
        boolean agrees = (state == MemberState.UP) == success;
        if (agrees) {
            streak = 0;
            return Optional.empty();
        }
        streak++;
        if (streak < (success ? rise : fall)) {
            return Optional.empty();
        }
        streak = 0;
        state = success ? MemberState.UP : MemberState.DOWN;
        return Optional.of(state);
    }

    MemberState state() {
        return state;
    }
}
