package io.grapevine.cluster;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * What a member announces to the cluster, gossiped as JSON (see {@link MetadataJson}).
 *
 * <p>A backend agent announces {@code role = "backend"}, the service it fronts and the address the
 * proxy should send requests to; a proxy announces {@code role = "proxy"} and is never a backend.
 * {@code version} grows by one with every change the member publishes.
 *
 * <p>A proxy also announces the servers it found failing by itself ({@code down_servers}: passive health,
 * a connection refused or reset), each until when, so that the other proxies of the cluster stop sending
 * there before their own requests fail; a backend announces none. Absent from the JSON when empty, so
 * members that do not know the field read the rest as before.
 *
 * <p>The canonical constructor validates every field, so an instance is always valid: metadata
 * that arrives from the network and fails these checks is treated as absent. Tags are kept sorted,
 * so equal metadata always encodes to equal bytes.
 */
public record MemberMetadata(String role, String service, String host, int port, int weight,
                             Map<String, String> tags, MemberState state, long version,
                             @JsonProperty("down_servers") @JsonInclude(JsonInclude.Include.NON_EMPTY)
                             List<DownServer> downServers) {

    /**
     * A server a proxy found failing: no request should go there until {@code until}.
     *
     * @param until wall-clock milliseconds ({@link System#currentTimeMillis()}); members' clocks agree within
     *              the replay window anyway
     */
    public record DownServer(String host, int port, long until) {

        public DownServer {
            require(host != null && HOST.matcher(host).matches(), "down server host must be a host name or IP address, not "
                    + quote(host));
            require(port >= 1 && port <= 65535, "down server port must be in 1..65535, not " + port);
            require(until >= 0, "down server until must not be negative");
        }
    }

    public static final String ROLE_BACKEND = "backend";
    public static final String ROLE_PROXY = "proxy";
    public static final int MAX_WEIGHT = 256;
    public static final int MAX_TAGS = 32;
    public static final int MAX_NAME_LENGTH = 64;
    public static final int MAX_TAG_VALUE_LENGTH = 256;
    public static final int MAX_HOST_LENGTH = 253;
    /** The most down servers a proxy announces at once. */
    public static final int MAX_DOWN_SERVERS = 64;

    /** Service names and tag keys: a letter or digit, then letters, digits, '.', '_' or '-'. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0," + (MAX_NAME_LENGTH - 1) + "}");
    /** Host names, IPv4 and IPv6 literals (without brackets). */
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9._:-]{1," + MAX_HOST_LENGTH + "}");

    public MemberMetadata {
        if (!ROLE_BACKEND.equals(role) && !ROLE_PROXY.equals(role)) {
            throw new IllegalArgumentException("role must be 'backend' or 'proxy', not " + quote(role));
        }
        boolean backend = ROLE_BACKEND.equals(role);
        service = service == null ? "" : service;
        host = host == null ? "" : host;
        if (backend || !service.isEmpty()) {
            require(NAME.matcher(service).matches(), "service must be 1-" + MAX_NAME_LENGTH
                    + " letters, digits, '.', '_' or '-', not " + quote(service));
        }
        if (backend || !host.isEmpty()) {
            require(HOST.matcher(host).matches(), "host must be a host name or IP address, not " + quote(host));
        }
        require(port >= (backend ? 1 : 0) && port <= 65535, "port must be in " + (backend ? 1 : 0) + "..65535, not " + port);
        require(weight >= 0 && weight <= MAX_WEIGHT, "weight must be in 0.." + MAX_WEIGHT + ", not " + weight);
        Objects.requireNonNull(state, "state");
        require(version >= 0, "version must not be negative");
        tags = checkedTags(tags);
        downServers = downServers == null ? List.of() : List.copyOf(downServers);
        require(downServers.isEmpty() || !backend, "only a proxy announces down servers");
        require(downServers.size() <= MAX_DOWN_SERVERS, "at most " + MAX_DOWN_SERVERS + " down servers, not "
                + downServers.size());
    }

    /** Without down servers (every backend, and a proxy that found none). */
    public MemberMetadata(String role, String service, String host, int port, int weight, Map<String, String> tags,
                          MemberState state, long version) {
        this(role, service, host, port, weight, tags, state, version, List.of());
    }

    /** A backend announcement in state {@code state}, version 1. */
    public static MemberMetadata backend(String service, String host, int port, int weight,
                                         Map<String, String> tags, MemberState state) {
        return new MemberMetadata(ROLE_BACKEND, service, host, port, weight, tags, state, 1);
    }

    /** A proxy announcement (never a backend), version 1. */
    public static MemberMetadata proxy(String host, int port) {
        return new MemberMetadata(ROLE_PROXY, "", host, port, 0, Map.of(), MemberState.UP, 1);
    }

    @JsonIgnore
    public boolean isBackend() {
        return ROLE_BACKEND.equals(role);
    }

    /** A copy with {@code newState} and the version incremented. */
    public MemberMetadata withState(MemberState newState) {
        return new MemberMetadata(role, service, host, port, weight, tags, newState, version + 1, downServers);
    }

    /** A proxy's copy announcing {@code servers} as down, the version incremented. */
    public MemberMetadata withDownServers(List<DownServer> servers) {
        return new MemberMetadata(role, service, host, port, weight, tags, state, version + 1, servers);
    }

    private static Map<String, String> checkedTags(Map<String, String> tags) {
        if (tags == null || tags.isEmpty()) {
            return Map.of();
        }
        require(tags.size() <= MAX_TAGS, "at most " + MAX_TAGS + " tags, not " + tags.size());
        TreeMap<String, String> sorted = new TreeMap<>();
        for (Map.Entry<String, String> tag : tags.entrySet()) {
            String key = tag.getKey();
            String value = tag.getValue();
            require(key != null && NAME.matcher(key).matches(), "tag key must be 1-" + MAX_NAME_LENGTH
                    + " letters, digits, '.', '_' or '-', not " + quote(key));
            require(value != null && value.length() <= MAX_TAG_VALUE_LENGTH,
                    "tag '" + key + "' must have a value of at most " + MAX_TAG_VALUE_LENGTH + " characters");
            require(value.chars().noneMatch(Character::isISOControl), "tag '" + key + "' has a control character");
            sorted.put(key, value);
        }
        return Collections.unmodifiableMap(sorted);
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    private static String quote(String value) {
        if (value == null) {
            return "null";
        }
        String shown = value.length() > 40 ? value.substring(0, 40) + "..." : value;
        return "'" + shown.replaceAll("\\p{Cntrl}", "?") + "'";
    }
}
