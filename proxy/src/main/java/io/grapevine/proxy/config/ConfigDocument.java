package io.grapevine.proxy.config;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;

import java.lang.annotation.Retention;
import java.lang.annotation.Target;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.grapevine.proxy.config.ValueRule.ACCESS_LOG_FORMAT;
import static io.grapevine.proxy.config.ValueRule.AUTHORITY;
import static io.grapevine.proxy.config.ValueRule.BALANCE;
import static io.grapevine.proxy.config.ValueRule.CIDR;
import static io.grapevine.proxy.config.ValueRule.FILE;
import static io.grapevine.proxy.config.ValueRule.COOKIE_NAME;
import static io.grapevine.proxy.config.ValueRule.FILE_PATH;
import static io.grapevine.proxy.config.ValueRule.HOST;
import static io.grapevine.proxy.config.ValueRule.HOST_NAME;
import static io.grapevine.proxy.config.ValueRule.HOST_PORT;
import static io.grapevine.proxy.config.ValueRule.MEDIA_TYPE;
import static io.grapevine.proxy.config.ValueRule.PATH;
import static io.grapevine.proxy.config.ValueRule.PATH_PREFIX;
import static io.grapevine.proxy.config.ValueRule.POOL;
import static io.grapevine.proxy.config.ValueRule.PROXY_PROTOCOL;
import static io.grapevine.proxy.config.ValueRule.RATE_LIMIT_KEY;
import static io.grapevine.proxy.config.ValueRule.SERVER_NAME;
import static io.grapevine.proxy.config.ValueRule.STATE;
import static io.grapevine.proxy.config.ValueRule.TLS_PROVIDER;
import static java.lang.annotation.ElementType.FIELD;
import static java.lang.annotation.RetentionPolicy.RUNTIME;

/**
 * The JSON shape of {@code servers.conf} and of the rendered gossip table: one class per JSON object, one public field
 * per key (Java camelCase, JSON snake_case). Jackson binds into these with unknown keys failing; absent keys stay
 * {@code null} and {@link ConfigLoader} fills in defaults. The annotations are the value constraints, checked by
 * {@link ConfigModule} while each value is read so an error knows its line and column.
 */
final class ConfigDocument {

    static final long MAX_MILLIS = 86_400_000L;
    /** The longest cookie lifetime browsers honour (RFC 6265bis section 5.6.2: 400 days), in seconds. */
    static final long MAX_COOKIE_AGE_S = 400L * 86_400;
    static final long MIB = 1L << 20;
    /** The most requests one server may be given at once ({@code max_conn}); 0 is no limit. */
    static final long MAX_CONN = 1_000_000;
    /** The longest queue of a pool ({@code queue.max}). */
    static final long MAX_QUEUE = 1_000_000;

    private ConfigDocument() {
    }

    /** An integer key and its inclusive range. */
    @Retention(RUNTIME)
    @Target(FIELD)
    @interface Range {
        long min();

        long max();
    }

    /** A string key, or each string of an array key, and the rule it follows. */
    @Retention(RUNTIME)
    @Target(FIELD)
    @interface Check {
        ValueRule value();
    }

    /** A key that must be present. */
    @Retention(RUNTIME)
    @Target(FIELD)
    @interface Required {
    }

    /**
     * A JSON object, which remembers where it started and its key path, for messages about it as a whole, and where
     * each of its string values is, for messages about a file one of them names.
     */
    abstract static class Node {
        JsonLocation at;
        String where;
        final Map<String, JsonLocation> valueAt = new HashMap<>();
    }

    /** A static {@code servers.conf}. */
    static final class Root extends Node {
        @Required public List<Server> backendServers;
        @Check(HOST_PORT) public String listen;
        @Check(HOST_PORT) public String admin;
        @Check(BALANCE) public String balance;
        public Sticky sticky;
        @Range(min = 0, max = MAX_MILLIS) public Long slowStartMs;
        public Queue queue;
        public Compression compression;
        public RateLimit rateLimit;
        public Map<String, Pool> pools;
        public HealthCheck healthCheck;
        public PassiveHealth passiveHealth;
        public Timeouts timeouts;
        public Limits limits;
        public List<Route> routes;
        public AllowedBackends allowedBackends;
        public Boolean acceptProxyProtocol;
        @Check(CIDR) public List<String> acceptProxyProtocolFrom;
        @Check(PROXY_PROTOCOL) public String sendProxyProtocol;
        public Tls tls;
        public AccessLog accessLog;
    }

    /** The backend table rendered from gossip members: servers only. */
    static final class GossipRoot extends Node {
        @Required public List<GossipServer> backendServers;
    }

    static class Server extends Node {
        @Required @Check(HOST) public String ip;
        @Required @Range(min = 1, max = 65535) public Long port;
        @Check(SERVER_NAME) public String name;
        @Range(min = 0, max = 256) public Long weight;
        public Boolean backup;
        @Check(POOL) public String pool;
        @Range(min = 0, max = MAX_CONN) public Long maxConn;
    }

    static final class GossipServer extends Server {
        @Check(STATE) public String state;
    }

    static final class Pool extends Node {
        @Check(BALANCE) public String balance;
        public Sticky sticky;
        @Range(min = 0, max = MAX_MILLIS) public Long slowStartMs;
        public Queue queue;
        public Compression compression;
        public RateLimit rateLimit;
        @Check(PROXY_PROTOCOL) public String sendProxyProtocol;
    }

    static final class RateLimit extends Node {
        public Boolean enabled;
        @Range(min = 1, max = 1_000_000_000) public Long requests;
        @Range(min = 1, max = MAX_MILLIS) public Long periodMs;
        @Range(min = 1, max = 1_000_000_000) public Long burst;
        @Check(RATE_LIMIT_KEY) public String key;
        @Range(min = 1, max = 16_777_216) public Long maxKeys;
        @Check(CIDR) public List<String> exempt;
    }

    static final class Compression extends Node {
        public Boolean enabled;
        @Range(min = 1, max = 9) public Long level;
        @Range(min = 0, max = 1L << 40) public Long minLength;
        @Check(MEDIA_TYPE) public List<String> types;
    }

    static final class Queue extends Node {
        @Range(min = 0, max = MAX_QUEUE) public Long max;
        @Range(min = 1, max = MAX_MILLIS) public Long timeoutMs;
    }

    static final class Sticky extends Node {
        public Boolean enabled;
        @Check(COOKIE_NAME) public String cookie;
        @Range(min = 0, max = MAX_COOKIE_AGE_S) public Long maxAgeS;
    }

    static final class HealthCheck extends Node {
        public Boolean enabled;
        @Check(PATH) public String path;
        @Check(AUTHORITY) public String host;
        @Range(min = 1, max = MAX_MILLIS) public Long intervalMs;
        @Range(min = 1, max = MAX_MILLIS) public Long timeoutMs;
        @Range(min = 1, max = 100) public Long rise;
        @Range(min = 1, max = 100) public Long fall;
    }

    static final class PassiveHealth extends Node {
        @Range(min = 0, max = 100) public Long maxFails;
        @Range(min = 1, max = MAX_MILLIS) public Long failTimeoutMs;
        @Range(min = 0, max = 100) public Long maxEjectedPercent;
        @Range(min = 1, max = MAX_MILLIS) public Long maxEjectionMs;
    }

    static final class Timeouts extends Node {
        @Range(min = 1, max = MAX_MILLIS) public Long connectMs;
        @Range(min = 1, max = MAX_MILLIS) public Long clientHeaderMs;
        @Range(min = 1, max = MAX_MILLIS) public Long clientIdleMs;
        @Range(min = 1, max = MAX_MILLIS) public Long serverMs;
        @Range(min = 1, max = MAX_MILLIS) public Long upstreamIdleMs;
        @Range(min = 1, max = MAX_MILLIS) public Long shutdownGraceMs;
        @Range(min = 1, max = MAX_MILLIS) public Long tunnelIdleMs;
        @Range(min = 1, max = MAX_MILLIS) public Long tlsHandshakeMs;
        @Range(min = 0, max = MAX_MILLIS) public Long shutdownDelayMs;
    }

    static final class AccessLog extends Node {
        @Required @Check(FILE_PATH) public String path;
        @Check(ACCESS_LOG_FORMAT) public String format;
    }

    static final class Limits extends Node {
        @Range(min = 256, max = MIB) public Long maxRequestLine;
        @Range(min = 256, max = MIB) public Long maxHeaderBytes;
        @Range(min = 1, max = 10_000) public Long maxHeaderCount;
        @Range(min = 1, max = 1024) public Long maxPipelineDepth;
        @Range(min = 0, max = 10_000) public Long maxIdlePerServer;
        @Range(min = 1, max = 1_000_000) public Long maxConnections;
        @Range(min = 0, max = 10) public Long retries;
        @Range(min = 1, max = 10_000) public Long h2MaxConcurrentStreams;
        @Range(min = 16_384, max = 16 * MIB) public Long h2StreamWindow;
        @Range(min = 0, max = 1000) public Long retryBudgetPercent;
        @Range(min = 0, max = 100_000) public Long retryBudgetMinPerS;
        @Range(min = 0, max = 100_000) public Long maxCompressing;
    }

    static final class Route extends Node {
        @Check(HOST_NAME) public String host;
        @Check(PATH_PREFIX) public String pathPrefix;
        @Required @Check(POOL) public String pool;
        public RateLimit rateLimit;
    }

    static final class AllowedBackends extends Node {
        @Check(CIDR) public List<String> cidrs;
        @JsonDeserialize(contentUsing = ConfigModule.PortRangeValue.class) public List<int[]> ports;
    }

    /** TLS on the client listener: one certificate ({@code cert}, {@code key}), several, or both. */
    static final class Tls extends Node {
        @Check(FILE) public String cert;
        @Check(FILE) public String key;
        public List<Certificate> certificates;
        @Check(HOST_PORT) public String listen;
        @Check(TLS_PROVIDER) public String provider;
        public Boolean redirectHttp;
        @Range(min = 1, max = 65535) public Long redirectPort;
    }

    static final class Certificate extends Node {
        @Required @Check(FILE) public String cert;
        @Required @Check(FILE) public String key;
    }

    private static final PropertyNamingStrategies.NamingBase NAMING =
            (PropertyNamingStrategies.NamingBase) PropertyNamingStrategies.SNAKE_CASE;

    /** The JSON keys of a node class, in declaration order, inherited keys first. */
    static List<Field> keys(Class<?> type) {
        List<Field> keys = type.getSuperclass() == null ? new ArrayList<>() : keys(type.getSuperclass());
        for (Field f : type.getDeclaredFields()) {
            if (Modifier.isPublic(f.getModifiers()) && !Modifier.isStatic(f.getModifiers())) {
                keys.add(f);
            }
        }
        return keys;
    }

    static String key(Field f) {
        return NAMING.translate(f.getName());
    }

    static Field field(Class<?> type, String key) {
        return keys(type).stream().filter(f -> key(f).equals(key)).findFirst().orElse(null);
    }

    /** What a key's value must be, as error messages say it. */
    static String expected(Field f) {
        Range range = f.getAnnotation(Range.class);
        Check check = f.getAnnotation(Check.class);
        if (range != null) {
            return "an integer " + range.min() + ".." + range.max();
        }
        if (check != null && f.getType() == String.class) {
            return check.value().expected();
        }
        return expected(f.getType());
    }

    static String expected(Class<?> type) {
        if (type == Boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (List.class.isAssignableFrom(type)) {
            return "an array";
        }
        if (type == int[].class) {
            return ConfigModule.PortRangeValue.EXPECTED;
        }
        return "an object";
    }
}
