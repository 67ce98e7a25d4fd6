package io.grapevine.proxy.accesslog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grapevine.agent.backend.DemoBackend;
import io.grapevine.proxy.it.Fixtures;
import io.grapevine.proxy.it.RawHttpClient;
import io.grapevine.proxy.it.RawHttpClient.Response;
import io.grapevine.proxy.testing.AdminRequests;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.ProxyUnderTest;
import io.grapevine.proxy.testing.Resources;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The access log on real sockets: one line per request in either layout, every field parsed back and compared
 * with what the test sent and received; lines counted in {@code /stats.json}; the file reopened by
 * {@code POST /reload} (logrotate's create mode), written at its new end after {@code copytruncate}, and the
 * layout switched by a reload.
 */
class AccessLogIntegrationTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String Q = "\"((?:[^\"\\\\]|\\\\.)*)\"";
    /** The combined layout of docs/operations.md, one group per field. */
    private static final Pattern COMBINED = Pattern.compile("^(\\S+) - - \\[([^\\]]+)\\] " + Q + " (\\d{3}) (\\d+) " + Q
            + " " + Q + " host=" + Q + " pool=(\\S+) server=(\\S+) bytes_in=(\\d+) time_ms=(\\d+\\.\\d{3})"
            + " upstream_ms=(\\d+\\.\\d{3}|-) request_id=" + Q + " retries=(\\d+)$");
    private static final DateTimeFormatter APACHE_TIME = DateTimeFormatter.ofPattern("dd/MMM/yyyy:HH:mm:ss Z", Locale.ENGLISH);
    /** A User-Agent with a quote, a backslash and a byte outside ASCII (obs-text), to check the escaping. */
    private static final byte[] ODD_AGENT = "probe/1.0 \"quoted\" back\\slash caf\u00e9".getBytes(StandardCharsets.ISO_8859_1);

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    /** One parsed line, whatever the layout; absent values are null. */
    record Line(String client, long epochSecond, String method, String target, String protocol, int status,
                long bytesIn, long bytesOut, String host, String referer, String userAgent, String pool, String server,
                double timeMillis, Double upstreamMillis, String requestId, int retries) {
    }

    /** What the test sent and what came back, to compare a line with. */
    record Sent(String method, String target, String protocol, String host, String referer, String userAgent,
                String requestId, long bytesIn, int status, long bytesOut, String pool, String server, int retries,
                boolean upstream, long minMillis) {
    }

    private DemoBackend live;
    private ProxyUnderTest proxy;
    private Path log;

    private void start(String format) throws Exception {
        live = resources.keep(DemoBackend.start("127.0.0.1", 0, 1));
        int dead = Fixtures.closedPort();
        log = dir.resolve("logs").resolve("access.log");
        Files.createDirectories(log.getParent());
        proxy = resources.keep(ProxyUnderTest.in(dir).servers(servers(format, dead)).noGossip().start());
    }

    private String servers(String format, int deadPort) {
        return """
                { "health_check": {"enabled": false},
                  "access_log": { "path": "%s", "format": "%s" },
                  "pools": { "empty": {} },
                  "routes": [ { "path_prefix": "/flaky/", "pool": "flaky" }, { "path_prefix": "/none/", "pool": "empty" } ],
                  "backend_servers": [
                    { "ip": "127.0.0.1", "port": %d, "name": "web-1" },
                    { "ip": "127.0.0.1", "port": %d, "name": "gone", "pool": "flaky" },
                    { "ip": "127.0.0.1", "port": %d, "name": "alive", "pool": "flaky" } ] }
                """.formatted(log.toString().replace("\\", "\\\\"), format, live.port(), deadPort, live.port());
    }

    @ParameterizedTest
    @ValueSource(strings = {"combined", "json"})
    void oneParsableLinePerRequestWithEveryField(String format) throws Exception {
        start(format);
        long startSecond = System.currentTimeMillis() / 1000;
        List<Sent> sent = new ArrayList<>();
        try (RawHttpClient c = RawHttpClient.connect(proxy.listen())) {
            Response r = c.send("GET /echo?n=1&q=%22x HTTP/1.1\r\nHost: shop.example\r\nReferer: http://ref.example/a?b=c\r\n"
                    + "User-Agent: curl/8.5\r\nX-Request-ID: req-0001\r\n\r\n").read();
            sent.add(new Sent("GET", "/echo?n=1&q=%22x", "HTTP/1.1", "shop.example", "http://ref.example/a?b=c",
                    "curl/8.5", "req-0001", 0, 200, r.body().length, "default", "web-1", 0, true, 0));

            ByteArrayOutputStream odd = new ByteArrayOutputStream();
            odd.writeBytes("POST /echo HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 11\r\nUser-Agent: ".getBytes(StandardCharsets.US_ASCII));
            odd.writeBytes(ODD_AGENT);
            odd.writeBytes("\r\n\r\nhello world".getBytes(StandardCharsets.US_ASCII));
            r = c.send(odd.toByteArray()).read();
            assertEquals(200, r.status(), r.toString());
            sent.add(new Sent("POST", "/echo", "HTTP/1.1", "shop.example", null,
                    new String(ODD_AGENT, StandardCharsets.ISO_8859_1), requestIdSeenBy(r), 11, 200, r.body().length,
                    "default", "web-1", 0, true, 0));

            r = c.send(Fixtures.get("/no-such-page")).read();
            sent.add(new Sent("GET", "/no-such-page", "HTTP/1.1", "test", null, null, null, 0, 404, r.body().length,
                    "default", "web-1", 0, true, 0));

            r = c.send(Fixtures.get("/slow?ms=300")).read();
            sent.add(new Sent("GET", "/slow?ms=300", "HTTP/1.1", "test", null, null, null, 0, 200, r.body().length,
                    "default", "web-1", 0, true, 300));

            r = c.send(Fixtures.get("/none/here")).read();
            assertEquals(503, r.status(), "a pool without servers");
            // The pool it was routed to, though no server of it could take the request: its 503 is that pool's.
            sent.add(new Sent("GET", "/none/here", "HTTP/1.1", "test", null, null, null, 0, 503, 0, "empty", null, 0,
                    false, 0));

            // Two requests to [gone, alive]: one meets the closed port first and is retried on alive.
            for (int i = 0; i < 2; i++) {
                r = c.send(Fixtures.get("/flaky/" + i)).read();
                assertEquals(404, r.status(), r.toString());
                sent.add(new Sent("GET", "/flaky/" + i, "HTTP/1.1", "test", null, null, null, 0, 404, r.body().length,
                        "flaky", "alive", -1, true, 0));
            }
        }
        try (RawHttpClient c = RawHttpClient.connect(proxy.listen())) {
            Response r = c.send("GET /echo?v=10 HTTP/1.0\r\n\r\n").read();
            sent.add(new Sent("GET", "/echo?v=10", "HTTP/1.0", null, null, null, requestIdSeenBy(r), 0, 200,
                    r.body().length, "default", "web-1", 0, true, 0));
        }
        // A client that leaves before its answer: nginx's 499.
        long seen = live.requestCount();
        RawHttpClient quitter = RawHttpClient.connect(proxy.listen());
        quitter.send(Fixtures.get("/slow?ms=2000"));
        Await.until(Duration.ofSeconds(5), "the slow request at the backend", () -> live.requestCount() > seen);
        quitter.abort();
        sent.add(new Sent("GET", "/slow?ms=2000", "HTTP/1.1", "test", null, null, null, 0, 499, 0, "default", "web-1",
                0, false, 0));

        List<String> text = awaitLines(sent.size());
        long endSecond = System.currentTimeMillis() / 1000 + 1;
        int retries = 0;
        for (int i = 0; i < sent.size(); i++) {
            Line line = format.equals("json") ? parseJson(text.get(i)) : parseCombined(text.get(i));
            Sent s = sent.get(i);
            String where = "line " + (i + 1) + ": " + text.get(i);
            assertEquals("127.0.0.1", line.client(), where);
            assertTrue(line.epochSecond() >= startSecond && line.epochSecond() <= endSecond, where);
            assertEquals(s.method(), line.method(), where);
            assertEquals(s.target(), line.target(), where);
            assertEquals(s.protocol(), line.protocol(), where);
            assertEquals(s.status(), line.status(), where);
            assertEquals(s.bytesIn(), line.bytesIn(), where);
            assertEquals(s.bytesOut(), line.bytesOut(), where);
            assertEquals(s.host(), line.host(), where);
            assertEquals(s.referer(), line.referer(), where);
            assertEquals(s.userAgent(), line.userAgent(), where);
            assertEquals(s.pool(), line.pool(), where);
            assertEquals(s.server(), line.server(), where);
            assertTrue(line.timeMillis() >= s.minMillis() && line.timeMillis() < 10_000, where);
            if (s.upstream()) {
                assertNotNull(line.upstreamMillis(), where);
                assertTrue(line.upstreamMillis() <= line.timeMillis(), where);
            } else {
                assertNull(line.upstreamMillis(), "no response from a server: " + where);
            }
            if (s.requestId() != null) {
                assertEquals(s.requestId(), line.requestId(), where);
            } else {
                assertTrue(line.requestId() != null && !line.requestId().isEmpty(), "a generated request id: " + where);
            }
            if (s.retries() >= 0) {
                assertEquals(s.retries(), line.retries(), where);
            } else {
                retries += line.retries();
            }
        }
        assertEquals(1, retries, "one of the two requests to [gone, alive] was retried");

        JsonNode stats = AdminRequests.json(new AdminRequests(proxy.instance().server().adminAddress())
                .send("GET", "/stats.json", null), 200).path("proxy");
        assertEquals(sent.size(), stats.path("access_log_lines").asLong(), stats.toString());
        assertEquals(0, stats.path("access_log_dropped").asLong(), stats.toString());
    }

    @Test
    void aReloadReopensTheFileAndCopytruncateIsSafe() throws Exception {
        start("combined");
        request("/echo?n=first");
        awaitLines(1);

        // logrotate's create mode: the file is renamed, then the proxy told (SIGHUP, or POST /reload).
        Path rotated = log.resolveSibling("access.log.1");
        Files.move(log, rotated);
        request("/echo?n=second");
        Await.until(Duration.ofSeconds(5), "the second line in the renamed file", () -> lines(rotated).size() == 2);
        AdminRequests admin = new AdminRequests(proxy.instance().server().adminAddress());
        AdminRequests.json(admin.send("POST", "/reload", null), 200);
        Await.until(Duration.ofSeconds(5), "a new file", () -> Files.exists(log));
        request("/echo?n=third");
        List<String> fresh = awaitLines(1);
        assertTrue(fresh.get(0).contains("/echo?n=third"), fresh.toString());
        assertEquals(2, lines(rotated).size(), "nothing more in the rotated file");

        // copytruncate: the file is copied and truncated in place; the next line goes to its new end.
        Files.write(log, new byte[0]);
        request("/echo?n=fourth");
        List<String> after = awaitLines(1);
        assertTrue(after.get(0).startsWith("127.0.0.1 - - ["), "no hole before the line: " + after);

        // A reload that switches the layout: JSON from the next line on, in the same file.
        Files.writeString(dir.resolve("servers.conf"), servers("json", Fixtures.closedPort()));
        AdminRequests.json(admin.send("POST", "/reload", null), 200);
        request("/echo?n=fifth");
        List<String> both = awaitLines(2);
        assertEquals("/echo?n=fifth", JSON.readTree(both.get(1)).path("target").asText(), both.toString());
    }

    /**
     * A reload whose new access log file cannot be opened is refused as a whole, as a start is: {@code POST /reload}
     * answers 422 with the error at the key that names the file, and nothing of that servers.conf applies (its
     * server name, here), while lines go on into the file open before.
     */
    @Test
    void aReloadWhoseAccessLogCannotBeOpenedIsRefusedAsAWhole() throws Exception {
        start("combined");
        Path open = log;
        log = dir.resolve("no-such-dir").resolve("access.log");
        Path missing = log;
        Files.writeString(dir.resolve("servers.conf"),
                servers("combined", Fixtures.closedPort()).replace("\"web-1\"", "\"web-2\""));
        log = open;
        AdminRequests admin = new AdminRequests(proxy.instance().server().adminAddress());
        JsonNode answer = AdminRequests.json(admin.send("POST", "/reload", null), 422);
        String error = answer.path("errors").path(0).asText();
        assertTrue(error.matches(".*servers\\.conf:2:\\d+: access_log: cannot open " + Pattern.quote(missing.toString())
                + " for appending: No such file or directory"), answer.toString());
        assertEquals(answer.path("previous_generation").asLong(), answer.path("generation").asLong(), answer.toString());

        request("/echo?n=after");
        assertEquals("web-1", parseCombined(awaitLines(1).get(0)).server(), "the running configuration stays");
    }

    private void request(String target) throws IOException {
        try (RawHttpClient c = RawHttpClient.connect(proxy.listen())) {
            assertEquals(200, c.send(Fixtures.get(target)).read().status());
        }
    }

    /** The X-Request-ID the backend received, from {@code /echo}'s answer. */
    private static String requestIdSeenBy(Response echo) {
        Matcher m = Pattern.compile("(?m)^X-Request-ID: (.*)$").matcher(echo.bodyText());
        assertTrue(m.find(), echo.bodyText());
        return m.group(1).strip();
    }

    /**
     * JSON is text: a User-Agent sent in UTF-8 is read back as the characters it encodes (nginx's {@code escape=json}
     * writes them too), not as one Latin-1 character per byte; a byte that is not UTF-8 is the Latin-1 character of
     * that byte. The line stays ASCII.
     */
    @Test
    void jsonHoldsUtf8TextAsItsCharacters() throws Exception {
        start("json");
        String agent = "caf\u00e9 \u2615 \ud834\udd1e";
        ByteArrayOutputStream request = new ByteArrayOutputStream();
        request.writeBytes("GET /echo HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: ".getBytes(StandardCharsets.US_ASCII));
        request.writeBytes(agent.getBytes(StandardCharsets.UTF_8));
        request.writeBytes(new byte[] {' ', (byte) 0xe9, ' ', (byte) 0xe2, (byte) 0x98, ' ', (byte) 0xc0, (byte) 0xaf});
        request.writeBytes("\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        try (RawHttpClient c = RawHttpClient.connect(proxy.listen())) {
            assertEquals(200, c.send(request.toByteArray()).read().status());
        }
        String text = awaitLines(1).get(0);
        assertTrue(text.chars().allMatch(ch -> ch >= 0x20 && ch < 0x7f), text);
        assertEquals(agent + " \u00e9 \u00e2\u0098 \u00c0\u00af", parseJson(text).userAgent(), text);
    }

    private List<String> awaitLines(int n) {
        Await.until(Duration.ofSeconds(5), n + " access log lines", () -> lines(log).size() >= n, () -> lines(log).toString());
        List<String> all = lines(log);
        assertEquals(n, all.size(), "one line per request: " + all);
        return all;
    }

    private static List<String> lines(Path file) {
        try {
            if (!Files.exists(file)) {
                return List.of();
            }
            String text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
            return text.isEmpty() ? List.of() : List.of(text.split("\n"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---------------------------------------------------------------- parsers of the two layouts

    static Line parseCombined(String text) {
        Matcher m = COMBINED.matcher(text);
        assertTrue(m.matches(), "not the combined layout: " + text);
        String[] request = unescape(m.group(3)).split(" ");
        assertEquals(3, request.length, text);
        return new Line(m.group(1), ZonedDateTime.parse(m.group(2), APACHE_TIME).toEpochSecond(), request[0],
                request[1], request[2], Integer.parseInt(m.group(4)), Long.parseLong(m.group(11)),
                Long.parseLong(m.group(5)), absent(unescape(m.group(8))), absent(unescape(m.group(6))),
                absent(unescape(m.group(7))), absent(m.group(9)), absent(m.group(10)), Double.parseDouble(m.group(12)),
                m.group(13).equals("-") ? null : Double.parseDouble(m.group(13)), absent(unescape(m.group(14))),
                Integer.parseInt(m.group(15)));
    }

    static Line parseJson(String text) throws IOException {
        JsonNode j = JSON.readTree(text);
        List<String> keys = new ArrayList<>();
        j.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("time", "client", "method", "target", "protocol", "status", "bytes_in", "bytes_out", "host",
                "referer", "user_agent", "pool", "server", "time_ms", "upstream_ms", "request_id", "retries"), keys, text);
        assertTrue(j.path("time").asText().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}[+-]\\d\\d:\\d\\d"),
                "ISO 8601 with milliseconds and the zone offset: " + text);
        return new Line(j.path("client").asText(), OffsetDateTime.parse(j.path("time").asText()).toEpochSecond(),
                j.path("method").asText(), j.path("target").asText(), j.path("protocol").asText(), j.path("status").asInt(),
                j.path("bytes_in").asLong(), j.path("bytes_out").asLong(), text(j, "host"), text(j, "referer"),
                text(j, "user_agent"), text(j, "pool"), text(j, "server"), j.path("time_ms").asDouble(),
                j.path("upstream_ms").isNull() ? null : j.path("upstream_ms").asDouble(), text(j, "request_id"),
                j.path("retries").asInt());
    }

    private static String text(JsonNode j, String key) {
        JsonNode v = j.get(key);
        assertNotNull(v, key);
        return v.isNull() ? null : v.asText();
    }

    private static String absent(String value) {
        return value.equals("-") ? null : value;
    }

    /** Apache's escaping undone: {@code \"}, {@code \\}, {@code \xhh}. */
    private static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                out.append(c);
            } else if (s.charAt(i + 1) == 'x') {
                out.append((char) Integer.parseInt(s.substring(i + 2, i + 4), 16));
                i += 3;
            } else {
                out.append(s.charAt(++i));
            }
        }
        return out.toString();
    }
}
