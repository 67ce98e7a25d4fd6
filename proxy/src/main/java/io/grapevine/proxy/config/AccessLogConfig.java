package io.grapevine.proxy.config;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * {@code "access_log"} of servers.conf: one line per request, written off the event loops.
 *
 * @param path   the file, appended to (relative to the proxy's working directory)
 * @param format the line layout
 * @param pathAt where servers.conf names the file, or {@code null}; not part of what the log is, so two configs
 *               that differ only there are equal
 */
public record AccessLogConfig(Path path, Format format, ConfigOrigin pathAt) {

    public AccessLogConfig(Path path, Format format) {
        this(path, format, null);
    }

    /** {@code what}, an error about the file, said at the key that names it (the servers.conf file alone without). */
    public ConfigException error(String servers, String what) {
        return pathAt == null ? new ConfigException(servers, 0, 0, what, null) : pathAt.error(what);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AccessLogConfig c && c.path.equals(path) && c.format == format;
    }

    @Override
    public int hashCode() {
        return Objects.hash(path, format);
    }

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
