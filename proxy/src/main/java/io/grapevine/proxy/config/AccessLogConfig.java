package io.grapevine.proxy.config;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * {@code "access_log"} of servers.conf: one line per request, written off the event loops.
 *
 * @param path   the file, appended to (relative to the proxy's working directory)
 * @param format the line layout
 */
public record AccessLogConfig(Path path, Format format) {

    /** The line layouts; see docs/operations.md for every field. */
    public enum Format {
        /** Apache / nginx "combined", then Grapevine's fields as {@code key=value}. */
        COMBINED,
        /** One JSON object per line. */
        JSON;

        public String configName() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Format fromConfigName(String name) {
            return Optional.ofNullable(name).map(n -> valueOf(n.toUpperCase(Locale.ROOT))).orElse(COMBINED);
        }
    }
}
