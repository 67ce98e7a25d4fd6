package io.grapevine.cluster;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import java.util.Locale;

/** What a member says about the service it fronts. Written in JSON as {@code "up"}, {@code "down"} or {@code "draining"}. */
public enum MemberState {
    /** Health probes pass: the backend takes new requests. */
    UP,
    /** Health probes fail: the backend gets no new requests. */
    DOWN,
    /** The agent is shutting down: no new requests, in-flight ones complete. */
    DRAINING;

    @JsonValue
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a wire name; throws {@link IllegalArgumentException} on anything else. */
    @JsonCreator
    public static MemberState fromWireName(String value) {
        for (MemberState state : values()) {
            if (state.wireName().equals(value)) {
                return state;
            }
        }
        throw new IllegalArgumentException("state must be up, down or draining, not '" + value + "'");
    }
}
