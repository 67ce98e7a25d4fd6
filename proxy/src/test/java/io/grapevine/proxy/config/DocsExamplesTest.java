package io.grapevine.proxy.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@code ```json} example in {@code docs/configuration.md} is a valid document: a gossip table when it uses
 * {@code "state"}, a static {@code servers.conf} otherwise. Every default the tables of {@code configuration.md} and
 * {@code operations.md} give, for a key of an object whose defaults the code applies, is the code's: a file that sets
 * the key to it loads as the file without it does.
 */
class DocsExamplesTest {

    private static final Path DOC = Path.of("..", "docs", "configuration.md");
    private static final Pattern JSON_BLOCK = Pattern.compile("```json\\n(.*?)\\n```", Pattern.DOTALL);

    @Test
    void everyJsonExampleLoads() throws IOException, ConfigException {
        List<String> blocks = new ArrayList<>();
        Matcher m = JSON_BLOCK.matcher(Files.readString(DOC));
        while (m.find()) {
            blocks.add(m.group(1));
        }
        assertTrue(blocks.size() >= 4, "json examples found: " + blocks.size());
        for (String block : blocks) {
            if (block.contains("\"state\"")) {
                ConfigLoader.parseServers(block, DOC.toString(), ServerSpec.Source.GOSSIP);
            } else {
                ConfigLoader.parse(block, DOC.toString());
            }
        }
    }

    @Test
    void theCompleteExampleShowsTheDefaults() throws IOException, ConfigException {
        Matcher m = JSON_BLOCK.matcher(Files.readString(DOC));
        ProxyConfig complete = null;
        while (m.find() && complete == null) {
            if (m.group(1).contains("\"limits\"")) {
                complete = ConfigLoader.parse(m.group(1), DOC.toString());
            }
        }
        assertTrue(complete != null, "no complete example");
        assertEquals(ProxyConfig.DEFAULT_LISTEN, complete.listen());
        assertEquals(ProxyConfig.DEFAULT_ADMIN, complete.admin());
        assertEquals(PoolPolicy.DEFAULT, complete.policy());
        HealthCheckConfig d = HealthCheckConfig.defaults();
        assertEquals(new HealthCheckConfig(d.enabled(), "/health", d.intervalMillis(), d.timeoutMillis(), d.rise(),
                d.fall(), d.passiveMaxFails(), d.passiveFailTimeoutMillis()), complete.healthCheck());
        assertEquals(Timeouts.defaults(), complete.timeouts());
        assertEquals(Limits.defaults(), complete.limits());
    }

    /** The heading of a table's section, and where its keys go in servers.conf, with what else they need there. */
    private static final Map<String, String> SECTIONS = Map.of(
            "## Top level", "",
            "### max_conn and queue", "queue",
            "### sticky", "sticky",
            "### access_log", "access_log:{\"path\": \"access.log\"}",
            "### health_check", "health_check",
            "### passive_health", "passive_health",
            "### timeouts", "timeouts",
            "### limits", "limits",
            "### allowed_backends", "allowed_backends",
            "## Timeouts (defaults)", "timeouts");
    private static final Pattern BACKTICKED = Pattern.compile("`([^`]*)`");
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void everyDefaultInTheTablesIsTheCodes() throws IOException, ConfigException {
        int checked = 0;
        for (Path doc : List.of(DOC, Path.of("..", "docs", "operations.md"))) {
            String section = null;
            int defaultColumn = -1;
            Set<String> keys = new HashSet<>();
            for (String line : Files.readAllLines(doc)) {
                if (line.startsWith("#")) {
                    section = SECTIONS.containsKey(line.strip()) ? line.strip() : null;
                    defaultColumn = -1;
                    keys.clear();
                    continue;
                }
                if (section == null || !line.startsWith("|")) {
                    continue;
                }
                List<String> cells = Stream.of(line.substring(1).split("(?<!\\\\)\\|", -1)).map(String::strip).toList();
                if (cells.get(0).equals("key")) {
                    defaultColumn = cells.indexOf("default");
                    continue;
                }
                if (defaultColumn < 0 || cells.get(0).startsWith("---")) {
                    continue;
                }
                String key = cells.get(0).replace("`", "");
                assertTrue(keys.add(key), doc + ": " + section + " lists " + key + " twice");
                JsonNode value = documentedValue(cells.get(defaultColumn));
                if (value == null) {
                    continue;
                }
                String where = SECTIONS.get(section);
                ObjectNode with = (ObjectNode) JSON.readTree("{\"backend_servers\": []}");
                ObjectNode without = with.deepCopy();
                if (where.isEmpty()) {
                    with.set(key, value);
                } else {
                    String[] path = where.split(":", 2);
                    ObjectNode base = (ObjectNode) JSON.readTree(path.length > 1 ? path[1] : "{}");
                    without.set(path[0], base.deepCopy());
                    with.set(path[0], base.set(key, value));
                }
                assertEquals(comparable(ConfigLoader.parse(without.toString(), doc.toString())),
                        comparable(ConfigLoader.parse(with.toString(), doc.toString())),
                        doc + ": " + section + ": the default of " + key + " is not " + value);
                checked++;
            }
        }
        assertTrue(checked >= 50, "defaults checked: " + checked);
    }

    /** The first value of a table cell, {@code `5000`} or a bare {@code 5000}; null when it is prose ("none", "off"). */
    private static JsonNode documentedValue(String cell) {
        Matcher m = BACKTICKED.matcher(cell);
        try {
            return JSON.readTree(m.find() ? m.group(1) : cell);
        } catch (IOException notJson) {
            return null;
        }
    }

    /** The configuration without where in the file its keys were, which differs between the two files compared. */
    private static ProxyConfig comparable(ProxyConfig c) {
        AccessLogConfig log = c.accessLog();
        return new ProxyConfig(c.listen(), c.admin(), c.policy(), c.poolPolicies(), c.healthCheck(), c.timeouts(),
                c.limits(), c.routes(), c.servers(), c.allowlist(), c.proxyProtocol(), c.tls(),
                log == null ? null : new AccessLogConfig(log.path(), log.format()));
    }
}
