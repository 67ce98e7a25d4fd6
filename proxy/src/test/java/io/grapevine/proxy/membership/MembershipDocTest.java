package io.grapevine.proxy.membership;

import io.grapevine.cluster.MemberRecord;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ServerSpec;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The template example of {@code docs/membership.md} renders what the page says it renders. */
class MembershipDocTest {

    private static final Path DOC = Path.of("..", "docs", "membership.md");
    private static final Pattern EXAMPLE = Pattern.compile("```mustache\\n(.*?)```.*?```json\\n(.*?)```", Pattern.DOTALL);

    @Test
    void templateExampleRendersAsShown() throws Exception {
        Matcher m = EXAMPLE.matcher(Files.readString(DOC));
        assertTrue(m.find(), "no mustache example followed by its output in " + DOC);
        BackendTemplate template = BackendTemplate.compile(Path.of("docs example"), m.group(1), BackendTemplate.Escaping.JSON);
        // The two members the page describes.
        List<MemberRecord> members = List.of(
                new MemberRecord("m2", null, new InetSocketAddress("10.0.0.6", 7946), MemberMetadata.backend("web", "10.0.0.6",
                        8080, 1, Map.of("pool", "web"), MemberState.DRAINING), MemberEvent.Type.UPDATED, 2),
                new MemberRecord("m1", null, new InetSocketAddress("10.0.0.5", 7946), MemberMetadata.backend("web", "10.0.0.5",
                        8080, 1, Map.of("pool", "web", "zone", "a"), MemberState.UP), MemberEvent.Type.ADDED, 1));
        String rendered = template.render(TemplateContexts.build(members, List.of()));
        assertEquals(m.group(2).strip(), rendered.strip());
        List<ServerSpec> servers = ConfigLoader.parseServers(rendered, "docs example", ServerSpec.Source.GOSSIP);
        assertEquals(ServerSpec.AdminState.DRAINING, servers.get(1).state());
    }
}
