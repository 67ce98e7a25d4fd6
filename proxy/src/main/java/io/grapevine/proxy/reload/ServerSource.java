package io.grapevine.proxy.reload;

/**
 * Servers that come from elsewhere than servers.conf (the membership view: gossip members rendered with the
 * backend template). It renders them against the running configuration and hands them to
 * {@link RunningConfig#publish}, after the static servers. Every method runs on the table thread
 * ({@link RunningConfig#thread()}).
 */
public interface ServerSource {

    /**
     * servers.conf was (re)loaded, or the proxy starts: render again against {@link RunningConfig#config()} and
     * publish.
     *
     * @param reason a few words for the table's log line
     * @return why the render failed (the table in force stays), or {@code null}
     */
    String configChanged(String reason);

    /**
     * Re-reads the source's own file (the backend template), without rendering: {@link #configChanged} follows when
     * it loaded. A file that does not load is logged and counted, and the one in use stays.
     *
     * @return why it did not load, or {@code null}
     */
    String loadFile(String why);
}
