package io.grapevine.proxy.config;

import com.fasterxml.jackson.annotation.JsonSetter;
import com.fasterxml.jackson.annotation.Nulls;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.InvalidNullException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.grapevine.proxy.config.ConfigDocument.Certificate;
import io.grapevine.proxy.config.ConfigDocument.Check;
import io.grapevine.proxy.config.ConfigDocument.GossipRoot;
import io.grapevine.proxy.config.ConfigDocument.GossipServer;
import io.grapevine.proxy.config.ConfigDocument.HealthCheck;
import io.grapevine.proxy.config.ConfigDocument.Node;
import io.grapevine.proxy.config.ConfigDocument.PassiveHealth;
import io.grapevine.proxy.config.ConfigDocument.Pool;
import io.grapevine.proxy.config.ConfigDocument.Root;
import io.grapevine.proxy.config.ConfigDocument.Route;
import io.grapevine.proxy.config.ConfigDocument.Server;
import io.grapevine.proxy.config.ConfigDocument.Tls;
import io.grapevine.proxy.config.ConfigModule.Invalid;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static io.grapevine.proxy.config.ConfigModule.quote;

/**
 * Reads and validates {@code servers.conf} (see {@code docs/configuration.md}) and the backend table rendered from
 * gossip, which has the same {@code backend_servers} schema. Jackson binds the text to {@link ConfigDocument}; every
 * problem becomes a {@link ConfigException} with one line naming the source, line, column and key. Stateless and
 * thread-safe; a host name in {@code "ip"} is resolved (blocking) while loading.
 */
public final class ConfigLoader {

    private static final JsonMapper MAPPER = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .defaultSetterInfo(JsonSetter.Value.construct(Nulls.FAIL, Nulls.FAIL))
            .addModule(new ConfigModule())
            .build();
    private static final ObjectReader STATIC_READER = MAPPER.readerFor(Root.class);
    private static final ObjectReader GOSSIP_READER = MAPPER.readerFor(GossipRoot.class);

    private static final Pattern DUPLICATE = Pattern.compile("Duplicate (?:field|Object property) ['\"](.*)['\"]");
    private static final Pattern EXPECTING = Pattern.compile("(.*?):? (?:was )?expect(?:ed|ing) (.*)");

    /** The largest file {@link #readText} reads: 16 MiB, some hundred thousand servers. */
    public static final int MAX_FILE_BYTES = 16 << 20;

    private ConfigLoader() {
    }

    /**
     * Reads, parses and validates a static configuration file; the message names {@code file} as given. Relative
     * file names in it (TLS certificates) are relative to the file's directory.
     */
    public static ProxyConfig load(Path file) throws ConfigException {
        return load(file, readText(file));
    }

    /** {@link #load(Path)} of {@code text}, read from {@code file} by {@link #readText}. */
    public static ProxyConfig load(Path file, String text) throws ConfigException {
        return load(file, text, name -> { });
    }

    /**
     * {@link #load(Path, String)}, and {@code foundLate} told (on a lookup's thread, at most once) of a host name of
     * {@code text} that the load refused because its lookup had not answered in time, once that lookup finds it.
     */
    public static ProxyConfig load(Path file, String text, Consumer<String> foundLate) throws ConfigException {
        lookUpServerHosts(text).thenAccept(foundLate);
        return toConfig(bind(STATIC_READER, text, file.toString()), file.toString(), file.toAbsolutePath().getParent());
    }

    /**
     * Parses and validates a static configuration; {@code sourceName} stands for the file in messages. Relative
     * file names in it are relative to the working directory.
     */
    public static ProxyConfig parse(String json, String sourceName) throws ConfigException {
        lookUpServerHosts(json);
        return toConfig(bind(STATIC_READER, json, sourceName), sourceName, Path.of("").toAbsolutePath());
    }

    /**
     * Parses a document that holds only {@code backend_servers}, as rendered from gossip members. Each server may
     * carry {@code "state": "up" | "down" | "draining"} (default up); nothing else differs from a static file.
     */
    public static List<ServerSpec> parseServers(String json, String sourceName, ServerSpec.Source source)
            throws ConfigException {
        lookUpServerHosts(json);
        GossipRoot root = bind(GOSSIP_READER, json, sourceName);
        return servers(root.backendServers, source, sourceName);
    }

    /**
     * Starts the name lookups of the {@code backend_servers[].ip} of {@code json} all at once, without waiting (a text
     * that is not such a document starts none): the checks of the parse that follows wait for them together, one
     * time limit in all, not one per name.
     *
     * @return completes (on a lookup's thread) with the first of those names that the parse refused because its lookup
     *         had not answered within the time limit, once that lookup finds it; never completes if none was
     */
    public static CompletableFuture<String> lookUpServerHosts(String json) {
        List<String> hosts = new ArrayList<>();
        try {
            for (JsonNode server : MAPPER.readTree(json).path("backend_servers")) {
                if (server.path("ip").isTextual()) {
                    hosts.add(server.path("ip").asText());
                }
            }
        } catch (IOException | RuntimeException e) {
            // not a document of servers: the parse says what is wrong with it
        }
        return Hosts.lookUp(hosts);
    }

    /**
     * The text of a file the configuration names (UTF-8, a leading byte-order mark dropped). Only a regular file, of
     * at most {@link #MAX_FILE_BYTES}: a FIFO would hold the start, or a reload, until some process writes it and
     * then could not be read again, and a file without end (a device) would fill the memory.
     *
     * @throws ConfigException naming the file and why it cannot be read
     */
    public static String readText(Path file) throws ConfigException {
        String reason;
        try {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            if (!attributes.isRegularFile() && !attributes.isDirectory()) {
                throw new FileSystemException(file.toString(), null, "not a regular file");
            }
            byte[] bytes;
            try (InputStream in = Files.newInputStream(file)) {
                bytes = in.readNBytes(MAX_FILE_BYTES + 1);
            }
            if (bytes.length > MAX_FILE_BYTES) {
                throw new FileSystemException(file.toString(), null, "larger than " + (MAX_FILE_BYTES >> 20) + " MiB");
            }
            String text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
            return text.startsWith("\uFEFF") ? text.substring(1) : text;
        } catch (CharacterCodingException e) {
            reason = "not UTF-8 text";
        } catch (IOException e) {
            reason = reason(e);
        }
        throw new ConfigException(file.toString(), 0, 0, "cannot read file: " + reason, null);
    }

    /**
     * Why a file operation failed, as the system names the error ("No such file or directory"), without the file:
     * the message of a {@link FileSystemException} whose error has no text of its own is the file name alone.
     */
    public static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "No such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "Permission denied";
        }
        if (e instanceof FileSystemException f) {
            return f.getReason() != null ? f.getReason() : f.getClass().getSimpleName();
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /** {@code e} for a log line: the file it names (and the other, for a move) and {@link #reason}. */
    public static String describe(IOException e) {
        if (e instanceof FileSystemException f && f.getFile() != null) {
            return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + reason(e);
        }
        return reason(e);
    }

    private static <T> T bind(ObjectReader reader, String json, String source) throws ConfigException {
        if (json.isBlank()) {
            throw new ConfigException(source, 0, 0, "no content", "a JSON object such as {\"backend_servers\": []}");
        }
        try (JsonParser p = MAPPER.createParser(json)) {
            try {
                T document = reader.readValue(p);
                if (p.nextToken() != null) {
                    throw error(source, p.currentTokenLocation(), "more content after the top-level object",
                            "end of input");
                }
                return document;
            } catch (JsonProcessingException e) {
                throw translate(e, p, source);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading a String", e);
        }
    }

    // ---- Jackson's exceptions to one-line messages

    private static ConfigException translate(JsonProcessingException e, JsonParser p, String source)
            throws IOException {
        if (e.getCause() instanceof StreamReadException cause) {
            return syntax(cause, p, source); // e.g. a duplicate key, met while binding
        }
        if (!(e instanceof JsonMappingException m)) {
            return syntax(e, p, source);
        }
        List<JsonMappingException.Reference> path = m.getPath();
        int keyAt = path.size() - 1;
        while (keyAt >= 0 && path.get(keyAt).getFieldName() == null) {
            keyAt--;
        }
        String key = keyAt < 0 ? "the document" : quote(render(path.subList(keyAt, path.size())));
        String where = keyAt <= 0 ? "" : " in " + render(path.subList(0, keyAt));
        JsonLocation at = e.getLocation();
        if (e instanceof Invalid v) {
            return error(source, at, v.prefix + key + v.suffix + where, v.expected);
        }
        if (e instanceof UnrecognizedPropertyException u) {
            // Jackson reports the position after the value; the parser still sits on it, so point at its start
            return error(source, p.currentTokenLocation(), "unknown key " + key + where, "one of: "
                    + ConfigDocument.keys(u.getReferringClass()).stream().map(ConfigDocument::key)
                    .collect(Collectors.joining(", ")));
        }
        String value = e instanceof InvalidNullException ? "null" : ConfigModule.describe(p);
        if (e instanceof MismatchedInputException mismatch) {
            return error(source, at, key + " is " + value + where, expected(path, keyAt, mismatch.getTargetType()));
        }
        return error(source, at, key + ": " + m.getOriginalMessage() + where, null);
    }

    /** What the value at {@code path} should have been, from the annotations of its key. */
    private static String expected(List<JsonMappingException.Reference> path, int keyAt, Class<?> targetType) {
        Object from = keyAt < 0 ? Object.class : path.get(keyAt).getFrom();
        Field field = keyAt < 0 ? null : ConfigDocument.field(from instanceof Class<?> c ? c : from.getClass(),
                path.get(keyAt).getFieldName());
        if (field != null && keyAt == path.size() - 1) {
            return ConfigDocument.expected(field);
        }
        if (field != null && field.isAnnotationPresent(Check.class)) {
            return field.getAnnotation(Check.class).value().expected();
        }
        return targetType == null ? "a value" : ConfigDocument.expected(targetType);
    }

    private static ConfigException syntax(JsonProcessingException e, JsonParser p, String source) {
        String message = e.getOriginalMessage().replaceFirst(" \\(start marker at .*", "");
        Matcher duplicate = DUPLICATE.matcher(message);
        if (duplicate.matches()) {
            String where = ConfigModule.path(p.getParsingContext());
            return error(source, e.getLocation(), "duplicate key " + quote(duplicate.group(1))
                    + (where.isEmpty() ? "" : " in " + where), "each key at most once per object");
        }
        if (message.contains("comment") || message.startsWith("Unexpected character ('#'")) {
            return error(source, e.getLocation(), "invalid JSON: comments are not allowed", "plain JSON");
        }
        Matcher expecting = EXPECTING.matcher(message);
        if (!expecting.matches()) {
            return error(source, e.getLocation(), "invalid JSON: " + message, "plain JSON");
        }
        String expected = expecting.group(2);
        return error(source, e.getLocation(), "invalid JSON: " + expecting.group(1),
                expected.startsWith("(") && expected.endsWith(")") ? expected.substring(1, expected.length() - 1)
                        : expected);
    }

    private static String render(List<JsonMappingException.Reference> path) {
        StringBuilder s = new StringBuilder();
        for (JsonMappingException.Reference r : path) {
            s.append(r.getFieldName() == null ? "[" + r.getIndex() + "]"
                    : (s.length() == 0 ? "" : ".") + r.getFieldName());
        }
        return s.toString();
    }

    private static ConfigException error(String source, JsonLocation at, String what, String expected) {
        return ConfigOrigin.of(source, at, null).error(what, expected);
    }

    private static ConfigException error(String source, Node node, String what, String expected) {
        return error(source, node.at, what, expected);
    }

    // ---- documents to records, with the checks that span several values

    private static ProxyConfig toConfig(Root root, String source, Path baseDir) throws ConfigException {
        List<ServerSpec> servers = servers(root.backendServers, ServerSpec.Source.STATIC, source);
        PoolPolicy policy = policy(root.balance, root.sticky, root.slowStartMs, root.queue, root.compression,
                root.rateLimit, PoolPolicy.DEFAULT, source, "rate_limit");
        Map<String, PoolPolicy> poolPolicies = new LinkedHashMap<>();
        Map<String, ProxyProtocolConfig.Version> poolProxyProtocol = new LinkedHashMap<>();
        Set<String> pools = servers.stream().map(ServerSpec::pool).collect(Collectors.toCollection(HashSet::new));
        for (Map.Entry<String, Pool> pool : or(root.pools, Map.<String, Pool>of()).entrySet()) {
            if (ValueRule.POOL.apply(pool.getKey()) == null) {
                throw error(source, pool.getValue(), "bad pool name " + quote(pool.getKey()) + " in pools",
                        ValueRule.POOL.expected());
            }
            pools.add(pool.getKey());
            Pool p = pool.getValue();
            if (p.balance != null || p.sticky != null || p.slowStartMs != null || p.queue != null
                    || p.compression != null || p.rateLimit != null) {
                poolPolicies.put(pool.getKey(), policy(p.balance, p.sticky, p.slowStartMs, p.queue, p.compression,
                        p.rateLimit, policy, source, "rate_limit of pool " + quote(pool.getKey())));
            }
            if (pool.getValue().sendProxyProtocol != null) {
                poolProxyProtocol.put(pool.getKey(),
                        ProxyProtocolConfig.Version.fromConfigName(pool.getValue().sendProxyProtocol));
            }
        }
        List<RouteSpec> routes = new ArrayList<>();
        for (Route route : or(root.routes, List.<Route>of())) {
            if (!pools.contains(route.pool)) {
                throw error(source, route, route.where + " sends to pool " + quote(route.pool)
                        + ", which has no servers", "a pool of some backend_servers entry or a key of \"pools\"");
            }
            routes.add(new RouteSpec(routeHost(route.host), route.pathPrefix, route.pool,
                    rateLimit(route.rateLimit, RateLimit.OFF, source, route.where + ".rate_limit")));
        }
        if (root.acceptProxyProtocolFrom != null && !or(root.acceptProxyProtocol, false)) {
            throw error(source, root, "accept_proxy_protocol_from is set but accept_proxy_protocol is not",
                    "\"accept_proxy_protocol\": true beside it, or neither");
        }
        HostPort listen = root.listen == null ? ProxyConfig.DEFAULT_LISTEN : HostPort.parse(root.listen);
        TlsConfig tls = root.tls == null ? null : tls(root.tls, source, baseDir);
        if (tls != null && tls.redirectPort() != 0 && tls.redirectPort() == listen.port()) {
            throw error(source, root.tls, "tls.redirect_http redirects the plaintext listen port " + listen.port()
                    + " to itself", "\"redirect_port\": the port clients reach the TLS listener on");
        }
        return new ProxyConfig(
                listen,
                root.admin == null ? ProxyConfig.DEFAULT_ADMIN : HostPort.parse(root.admin),
                policy,
                Map.copyOf(poolPolicies),
                healthCheck(or(root.healthCheck, new HealthCheck()), or(root.passiveHealth, new PassiveHealth())),
                timeouts(or(root.timeouts, new ConfigDocument.Timeouts())),
                limits(or(root.limits, new ConfigDocument.Limits())),
                List.copyOf(routes),
                servers,
                root.allowedBackends == null ? BackendAllowlist.allowAll() : new BackendAllowlist(
                        List.copyOf(or(root.allowedBackends.cidrs, List.<String>of())),
                        List.copyOf(or(root.allowedBackends.ports, List.<int[]>of()))),
                new ProxyProtocolConfig(or(root.acceptProxyProtocol, false),
                        root.sendProxyProtocol == null ? null
                                : ProxyProtocolConfig.Version.fromConfigName(root.sendProxyProtocol),
                        Map.copyOf(poolProxyProtocol), List.copyOf(or(root.acceptProxyProtocolFrom, List.<String>of()))),
                tls,
                root.accessLog == null ? null : new AccessLogConfig(java.nio.file.Path.of(root.accessLog.path),
                        root.accessLog.format == null ? AccessLogConfig.Format.COMBINED
                                : AccessLogConfig.Format.fromConfigName(root.accessLog.format),
                        origin(source, root.accessLog, "path")));
    }

    private static TlsConfig.CertificateFiles certificateFiles(String source, Path baseDir, Node node, String cert,
                                                               String key) {
        return new TlsConfig.CertificateFiles(baseDir.resolve(cert), baseDir.resolve(key),
                origin(source, node, "cert"), origin(source, node, "key"));
    }

    /** Where {@code key} of {@code node} is, for errors about the file it names (the object's start if unknown). */
    private static ConfigOrigin origin(String source, Node node, String key) {
        return ConfigOrigin.of(source, node.valueAt.getOrDefault(key, node.at),
                node.where.isEmpty() ? key : node.where + "." + key);
    }

    private static TlsConfig tls(Tls tls, String source, Path baseDir) throws ConfigException {
        List<TlsConfig.CertificateFiles> certificates = new ArrayList<>();
        if (tls.cert != null || tls.key != null) {
            if (tls.cert == null || tls.key == null) {
                throw error(source, tls, "tls has \"" + (tls.cert == null ? "key" : "cert") + "\" without \""
                        + (tls.cert == null ? "cert" : "key") + "\"", "both \"cert\" and \"key\", or neither");
            }
            certificates.add(certificateFiles(source, baseDir, tls, tls.cert, tls.key));
        }
        for (Certificate c : or(tls.certificates, List.<Certificate>of())) {
            certificates.add(certificateFiles(source, baseDir, c, c.cert, c.key));
        }
        if (certificates.isEmpty()) {
            throw error(source, tls, "tls has no certificate",
                    "\"cert\" and \"key\", or \"certificates\": [{\"cert\": ..., \"key\": ...}]");
        }
        HostPort listen = tls.listen == null ? null : HostPort.parse(tls.listen);
        int redirectPort = 0;
        if (or(tls.redirectHttp, false)) {
            if (listen == null) {
                throw error(source, tls, "tls.redirect_http is set but tls has no \"listen\": the plaintext listener"
                        + " is the TLS one", "\"listen\" inside \"tls\", the TLS port beside the plaintext one");
            }
            redirectPort = tls.redirectPort != null ? tls.redirectPort.intValue() : listen.port();
            if (redirectPort == 0) {
                throw error(source, tls, "tls.redirect_http with tls.listen on port 0 redirects to no port",
                        "\"redirect_port\": the port clients reach the TLS listener on");
            }
        } else if (tls.redirectPort != null) {
            throw error(source, tls, "tls.redirect_port is set but tls.redirect_http is not", "\"redirect_http\": true");
        }
        return new TlsConfig(listen, List.copyOf(certificates),
                tls.provider == null ? TlsConfig.Provider.AUTO
                        : TlsConfig.Provider.valueOf(tls.provider.toUpperCase(Locale.ROOT)), redirectPort);
    }

    private static List<ServerSpec> servers(List<? extends Server> list, ServerSpec.Source source, String sourceName)
            throws ConfigException {
        Map<String, Server> byName = new HashMap<>();
        Map<String, Server> byKey = new HashMap<>();
        List<ServerSpec> specs = new ArrayList<>();
        for (Server s : list) {
            int port = s.port.intValue();
            ServerSpec spec = new ServerSpec(or(s.name, new HostPort(s.ip, port).toString()), s.ip, port,
                    or(s.weight, 1L).intValue(), or(s.backup, false), or(s.pool, ServerSpec.DEFAULT_POOL), source,
                    s instanceof GossipServer g && g.state != null
                            ? ServerSpec.AdminState.valueOf(g.state.toUpperCase(Locale.ROOT))
                            : ServerSpec.AdminState.UP,
                    or(s.maxConn, 0L).intValue());
            Server first = byKey.putIfAbsent(spec.key(), s);
            if (first != null) {
                throw error(sourceName, s, s.where + " repeats " + new HostPort(s.ip, port) + " of " + first.where
                        + " in pool " + quote(spec.pool()), "each host:port at most once per pool");
            }
            first = byName.putIfAbsent(spec.name(), s);
            if (first != null) {
                throw error(sourceName, s, s.where + " has the same name " + quote(spec.name()) + " as "
                        + first.where, "unique server names; set \"name\" on one of them");
            }
            specs.add(spec);
        }
        return List.copyOf(specs);
    }

    private static HealthCheckConfig healthCheck(HealthCheck h, PassiveHealth passive) {
        HealthCheckConfig d = HealthCheckConfig.defaults();
        return new HealthCheckConfig(or(h.enabled, d.enabled()), or(h.path, d.path()), or(h.host, d.host()),
                or(h.intervalMs, d.intervalMillis()), or(h.timeoutMs, d.timeoutMillis()),
                or(h.rise, (long) d.rise()).intValue(), or(h.fall, (long) d.fall()).intValue(),
                or(passive.maxFails, (long) d.passiveMaxFails()).intValue(),
                or(passive.failTimeoutMs, d.passiveFailTimeoutMillis()),
                or(passive.maxEjectedPercent, (long) d.passiveMaxEjectedPercent()).intValue(),
                or(passive.maxEjectionMs, d.passiveMaxEjectionMillis()));
    }

    private static Timeouts timeouts(ConfigDocument.Timeouts t) {
        Timeouts d = Timeouts.defaults();
        return new Timeouts(or(t.connectMs, d.connectMillis()), or(t.clientHeaderMs, d.clientHeaderMillis()),
                or(t.clientIdleMs, d.clientIdleMillis()), or(t.serverMs, d.serverMillis()),
                or(t.upstreamIdleMs, d.upstreamIdleMillis()), or(t.shutdownGraceMs, d.shutdownGraceMillis()),
                or(t.tunnelIdleMs, d.tunnelIdleMillis()), or(t.tlsHandshakeMs, d.tlsHandshakeMillis()),
                or(t.shutdownDelayMs, d.shutdownDelayMillis()));
    }

    private static Limits limits(ConfigDocument.Limits l) {
        Limits d = Limits.defaults();
        return new Limits(or(l.maxRequestLine, (long) d.maxRequestLineBytes()).intValue(),
                or(l.maxHeaderBytes, (long) d.maxHeaderBytes()).intValue(),
                or(l.maxHeaderCount, (long) d.maxHeaderCount()).intValue(),
                or(l.maxPipelineDepth, (long) d.maxPipelineDepth()).intValue(),
                or(l.maxIdlePerServer, (long) d.maxIdlePerServer()).intValue(),
                or(l.maxConnections, (long) d.maxConnections()).intValue(),
                or(l.retries, (long) d.retries()).intValue(),
                or(l.h2MaxConcurrentStreams, (long) d.h2MaxConcurrentStreams()).intValue(),
                or(l.h2StreamWindow, (long) d.h2StreamWindowBytes()).intValue(),
                or(l.retryBudgetPercent, (long) d.retryBudgetPercent()).intValue(),
                or(l.retryBudgetMinPerS, (long) d.retryBudgetMinPerSecond()).intValue(),
                or(l.maxCompressing, (long) d.maxCompressing()).intValue());
    }

    /**
     * A pool's policy: what it sets, and {@code inherited}'s settings (the top level's) for what it does not.
     *
     * @param rateLimitWhere the rate limit's place, for a message about it
     */
    private static PoolPolicy policy(String balance, ConfigDocument.Sticky sticky, Long slowStartMs,
                                     ConfigDocument.Queue queue, ConfigDocument.Compression compression,
                                     ConfigDocument.RateLimit rateLimit, PoolPolicy inherited, String source,
                                     String rateLimitWhere) throws ConfigException {
        Balance algorithm = balance == null ? inherited.balance() : Balance.fromConfigName(balance).orElseThrow();
        String field = balance == null ? inherited.hashField() : Balance.fieldOf(balance);
        PoolPolicy.Sticky stickyPolicy = inherited.sticky();
        if (sticky != null) {
            PoolPolicy.Sticky base = or(inherited.sticky(), PoolPolicy.Sticky.DEFAULT);
            stickyPolicy = !or(sticky.enabled, true) ? null
                    : new PoolPolicy.Sticky(or(sticky.cookie, base.cookie()), or(sticky.maxAgeS, base.maxAgeSeconds()));
        }
        PoolPolicy.Queue queuePolicy = queue == null ? inherited.queue()
                : new PoolPolicy.Queue(or(queue.max, (long) inherited.queue().max()).intValue(),
                        or(queue.timeoutMs, inherited.queue().timeoutMillis()));
        Compression base = inherited.compression();
        Compression compressionPolicy = compression == null ? base
                : new Compression(or(compression.enabled, true), or(compression.level, (long) base.level()).intValue(),
                        or(compression.minLength, base.minLength()), or(compression.types, base.types()));
        return new PoolPolicy(algorithm, field, stickyPolicy, or(slowStartMs, inherited.slowStartMillis()),
                queuePolicy, compressionPolicy, rateLimit(rateLimit, inherited.rateLimit(), source, rateLimitWhere));
    }

    /**
     * A {@code rate_limit} object over {@code base} (the top level's, or {@link RateLimit#OFF}): an object turns the
     * limit on unless it says {@code "enabled": false}; {@code burst} defaults to {@code requests} (a period's worth
     * at once) when the object sets {@code requests}, else to the base's (which may be off: defaults at the top
     * level, turned on per pool).
     */
    private static RateLimit rateLimit(ConfigDocument.RateLimit limit, RateLimit base, String source, String where)
            throws ConfigException {
        if (limit == null) {
            return base;
        }
        boolean enabled = or(limit.enabled, true);
        long requests = or(limit.requests, base.requests());
        if (enabled && requests == 0) {
            throw error(source, limit, where + " has no \"requests\"", "how many requests a client may send per"
                    + " period_ms (1000 unless set), such as {\"requests\": 100}");
        }
        long burst = limit.burst != null ? limit.burst
                : limit.requests == null && base.burst() > 0 ? base.burst() : requests;
        String key = limit.key != null ? limit.key : base.keyName();
        return new RateLimit(enabled, requests, or(limit.periodMs, base.periodMillis()), burst,
                RateLimit.headerOf(key), or(limit.maxKeys, (long) base.maxKeys()).intValue(),
                or(limit.exempt, base.exempt()));
    }

    /**
     * A route's host as a request's Host is matched against it (without its port): already in lower case or RFC 5952
     * text ({@link Hosts}); an IPv6 literal in brackets, as Host writes it (RFC 9110 section 7.2); a name without the
     * root's trailing dot, which names the same host (RFC 1034 section 3.1).
     */
    private static String routeHost(String host) {
        if (host == null) {
            return null;
        }
        if (host.indexOf(':') >= 0) {
            return "[" + host + "]";
        }
        return host.length() > 1 && host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
    }

    private static <T> T or(T value, T fallback) {
        return value != null ? value : fallback;
    }
}
