package io.grapevine.proxy.config;

import com.fasterxml.jackson.core.JsonLocation;

/**
 * Where servers.conf names a file that is read later (a TLS certificate, the access log): an error about the file
 * points at the key that named it, as every other error about servers.conf does.
 *
 * @param source servers.conf as the user named it
 * @param line   1-based line of the key's value, or 0 when unknown
 * @param column 1-based column of the key's value, or 0 when unknown
 * @param key    the key's path, as messages name it: {@code tls.certificates[0].key}
 */
public record ConfigOrigin(String source, int line, int column, String key) {

    /** {@code what}, said at the key: {@code servers.conf:5:13: what}. */
    ConfigException error(String what) {
        return error(what, null);
    }

    /** {@code what}, said at the key: {@code servers.conf:5:13: what (expected ...)}. */
    ConfigException error(String what, String expected) {
        return new ConfigException(source, line, column, what, expected);
    }

    /** Where {@code at} is in {@code source} ({@code 0:0} when unknown). */
    static ConfigOrigin of(String source, JsonLocation at, String key) {
        return new ConfigOrigin(source, at == null ? 0 : Math.max(at.getLineNr(), 0),
                at == null ? 0 : Math.max(at.getColumnNr(), 0), key);
    }

    /**
     * {@code e}, an error about the file the key names, said at the key: {@code servers.conf:5:13: tls.cert:
     * /etc/tls/a.pem: cannot read file: No such file or directory}. {@code e} itself when {@code origin} is
     * {@code null} (a file not named by servers.conf).
     */
    static ConfigException about(ConfigOrigin origin, ConfigException e) {
        return origin == null ? e : origin.error(origin.key + ": " + e.getMessage());
    }
}
