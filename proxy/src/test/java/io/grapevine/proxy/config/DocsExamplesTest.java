package io.grapevine.proxy.config;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@code ```json} example in {@code docs/configuration.md} is a valid document: a gossip table when it uses
 * {@code "state"}, a static {@code servers.conf} otherwise.
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
}
