package io.grapevine.proxy.table;

import java.util.Locale;

/**
 * What the operator said about a server at run time ({@code PUT /servers/NAME/state}), on top of what
 * servers.conf and gossip say. HAProxy's {@code set server ... state}.
 */
public enum RuntimeState {
    /** No override: the server takes requests whenever its configuration and health allow. */
    READY,
    /**
     * No new requests; requests in flight finish. Clients pinned to the server (sticky sessions) may still
     * come ({@link Server#takesStickyRequests}).
     */
    DRAIN,
    /** No requests at all, shown as {@code maint}. */
    MAINT;

    /** The word of the admin API: {@code ready}, {@code drain}, {@code maint}. */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The state a word of the admin API names, or {@code null}. */
    public static RuntimeState fromWord(String word) {
        for (RuntimeState s : values()) {
            if (s.word().equals(word)) {
                return s;
            }
        }
        return null;
    }
}
