package io.grapevine.proxy.table;

/**
 * The operator's runtime settings of one server (admin API), kept by {@link TableHolder} by server key
 * outside the immutable table, so that they survive every new generation (servers.conf reloads, gossip
 * renders) until the operator changes them back. Immutable; a server holds its current one in a volatile
 * field that balancers read on every pick.
 *
 * @param state  {@link RuntimeState#READY} unless drained or in maintenance
 * @param weight the weight to use instead of the configured or announced one, 0..256; {@link #NO_WEIGHT}
 *               for none
 */
public record RuntimeOverride(RuntimeState state, int weight) {

    /** {@link #weight} when the configured or announced weight applies. */
    public static final int NO_WEIGHT = -1;

    /** No override at all. */
    public static final RuntimeOverride NONE = new RuntimeOverride(RuntimeState.READY, NO_WEIGHT);

    public boolean isNone() {
        return state == RuntimeState.READY && weight == NO_WEIGHT;
    }

    public boolean hasWeight() {
        return weight != NO_WEIGHT;
    }

    RuntimeOverride withState(RuntimeState newState) {
        return new RuntimeOverride(newState, weight);
    }

    RuntimeOverride withWeight(int newWeight) {
        return new RuntimeOverride(state, newWeight);
    }

    /** {@code "state drain, weight 3"}, {@code "none"}: for log lines. */
    String describe() {
        if (isNone()) {
            return "none";
        }
        return "state " + state.word() + (hasWeight() ? ", weight " + weight : "");
    }
}
