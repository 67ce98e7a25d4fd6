package io.grapevine.proxy.membership;

import io.grapevine.cluster.MemberRecord;
import io.grapevine.proxy.testing.Resources;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.github.mustachejava.DefaultMustacheFactory;
import io.grapevine.cluster.ClusterKeyring;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.testing.Admin;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LocalAgent;
import io.grapevine.proxy.testing.ProxyUnderTest;
import java.io.StringReader;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Member metadata is input from the network. A tag built to break out of a JSON string cannot add a
 * backend, even through a template that asks for raw output; a rendered server that no member announced
 * is refused and logged; {@code allowed_backends} refuses announced addresses outside it and counts them.
 */
class TemplateInjectionIntegrationTest {

    /** The attack of the issue: close the string and the object, open a new server. */
    private static final String INJECTION = "\"}, {\"ip\": \"10.6.6.6\", \"port\": 80";

    /**
     * A template written so that the raw (unescaped) injection yields valid JSON with one more server:
     * {@code "name": "x"}, {"ip": "10.6.6.6", "port": 80, "weight": 1 }}.
     */
    private static final String RAW_TEMPLATE = """
            { "backend_servers": [
            {{#members}}
              {{^first}},{{/first}}{ "ip": "{{host}}", "port": {{port}}, "name": "x{{{tag.label}}}, "weight": 1 }
            {{/members}}
            ] }
            """;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();
    private ListAppender<ILoggingEvent> log;

    @AfterEach
    void tearDown() throws Exception {
        if (log != null) {
            ((Logger) LoggerFactory.getLogger(MembershipView.class)).detachAppender(log);
        }
    }

    private <T extends AutoCloseable> T keep(T resource) {
        return resources.keep(resource);
    }

    private void captureLog() {
        log = new ListAppender<>();
        log.start();
        ((Logger) LoggerFactory.getLogger(MembershipView.class)).addAppender(log);
    }

    private List<String> logged(String containing) {
        return log.list.stream().map(ILoggingEvent::getFormattedMessage).filter(m -> m.contains(containing)).toList();
    }

    private static Set<String> addresses(Admin admin) {
        Set<String> set = new TreeSet<>();
        admin.table().forEach(r -> set.add(r.address()));
        return set;
    }

    private static long viewCounter(Admin admin, String name) {
        return admin.members().path("view").path(name).asLong();
    }

    @Test
    void aTagCannotInjectABackendEvenThroughRawOutput() throws Exception {
        // The template really is exploitable without escaping: rendered raw, the tag adds 10.6.6.6:80.
        MemberMetadata attacker = MemberMetadata.backend("web", "127.0.0.1", 8001, 1, Map.of("label", INJECTION), MemberState.UP);
        StringWriter raw = new StringWriter();
        new DefaultMustacheFactory().compile(new StringReader(RAW_TEMPLATE), "raw").execute(raw,
                TemplateContexts.build(List.of(new MemberRecord("a", null, new InetSocketAddress("127.0.0.1", 1), attacker,
                        io.grapevine.cluster.MemberEvent.Type.ADDED, 1)), List.of())).flush();
        List<ServerSpec> injected = ConfigLoader.parseServers(raw.toString(), "raw", ServerSpec.Source.GOSSIP);
        assertTrue(injected.stream().anyMatch(s -> s.host().equals("10.6.6.6") && s.port() == 80), raw.toString());

        Path template = Files.writeString(dir.resolve("raw.mustache"), RAW_TEMPLATE);
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).template(template).start());
        Admin admin = proxy.admin();
        ClusterKeyring keyring = ProxyUnderTest.keyring(key);
        LocalAgent evil = keep(LocalAgent.start(proxy.seed(), keyring, "web", Map.of("label", INJECTION)));
        Await.until(Duration.ofSeconds(10), "the member with the injection tag known to the proxy",
                () -> admin.members().path("members").size() == 1, () -> admin.members().toString());
        Await.until(Duration.ofSeconds(10), "its render done", () -> admin.json("/table/rendered").path("text").asText()
                .contains(String.valueOf(evil.port())), () -> admin.json("/table/rendered").toString());
        String text = admin.json("/table/rendered").path("text").asText();
        assertTrue(text.contains("\\\"}, {\\\"ip\\\": \\\"10.6.6.6\\\""), "the tag is escaped even in {{{ }}}: " + text);
        assertFalse(addresses(admin).contains("10.6.6.6:80"), admin.toString());
        assertEquals(Set.of(), addresses(admin), "escaped, this template renders no valid table: nothing applies");
    }

    @Test
    void anInjectionTagInAWellFormedTemplateStaysAValueAndOtherMembersGoOn() throws Exception {
        String shipped = Files.readString(io.grapevine.proxy.testing.ChildProcess.repoRoot().resolve("templates/backends.mustache"));
        Path template = Files.writeString(dir.resolve("labelled.mustache"),
                shipped.replace("\"name\": \"{{name}}\"", "\"name\": \"{{{tag.label}}}\""));
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).template(template).start());
        Admin admin = proxy.admin();
        ClusterKeyring keyring = ProxyUnderTest.keyring(key);
        captureLog();
        LocalAgent evil = keep(LocalAgent.start(proxy.seed(), keyring, "web", Map.of("label", INJECTION)));
        Await.until(Duration.ofSeconds(10), "the member with the injection tag known to the proxy",
                () -> admin.members().path("members").size() == 1, () -> admin.members().toString());
        LocalAgent honest = keep(LocalAgent.start(proxy.seed(), keyring, "web", Map.of("label", "honest")));
        Await.until(Duration.ofSeconds(10), "the honest member routable", () -> admin.serverIn(honest.port(), "up"),
                () -> admin + "; " + admin.json("/table/rendered"));
        assertEquals(Set.of("127.0.0.1:" + honest.port()), addresses(admin),
                "the injection's member refused (its name is no server name), nothing injected: " + admin);
        assertEquals("honest", admin.row("127.0.0.1", honest.port()).name());
        assertFalse(logged("127.0.0.1:" + evil.port()).isEmpty(), "the refusal is logged: " + log.list);
    }

    @Test
    void aRenderedServerNoMemberAnnouncedIsRefusedAndLogged() throws Exception {
        String shipped = Files.readString(io.grapevine.proxy.testing.ChildProcess.repoRoot().resolve("templates/backends.mustache"));
        // As if a template (or a tag that got through) produced a server of its own.
        Path template = Files.writeString(dir.resolve("extra.mustache"),
                shipped.replace("{{/members}}\n] }", "{{/members}}\n  {{#member_count}},{{/member_count}}{ \"ip\": \"127.0.0.2\", \"port\": 80 }\n] }"));
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).clusterKey(key).template(template).start());
        Admin admin = proxy.admin();
        captureLog();
        LocalAgent member = keep(LocalAgent.start(proxy.seed(), ProxyUnderTest.keyring(key), "web"));
        Await.until(Duration.ofSeconds(10), "the member routable", () -> admin.serverIn(member.port(), "up"),
                () -> admin + "; " + admin.json("/table/rendered"));
        assertTrue(admin.json("/table/rendered").path("text").asText().contains("127.0.0.2"), "the template did render it");
        assertEquals(Set.of("127.0.0.1:" + member.port()), addresses(admin));
        assertTrue(viewCounter(admin, "refused_backends") >= 1, admin.members().path("view").toString());
        List<String> lines = logged("refused gossip backend");
        assertFalse(lines.isEmpty(), "refusal logged: " + log.list);
        assertTrue(lines.get(0).contains("127.0.0.2:80") && lines.get(0).contains("no backend member announced"), lines.get(0));
    }

    @Test
    void allowedBackendsRefusesAndCounts() throws Exception {
        Path key = ProxyUnderTest.keyFile(dir, "cluster.key");
        ClusterKeyring keyring = ProxyUnderTest.keyring(key);
        io.grapevine.agent.backend.DemoBackend allowedBackend = keep(LocalAgent.demoBackend());
        int allowed = allowedBackend.port();
        String servers = "{ \"allowed_backends\": { \"cidrs\": [\"127.0.0.0/8\"], \"ports\": [\"" + allowed + "-" + allowed
                + "\"] }, \"backend_servers\": [] }";
        ProxyUnderTest proxy = keep(ProxyUnderTest.in(dir).servers(servers).clusterKey(key).start());
        Admin admin = proxy.admin();
        captureLog();
        keep(LocalAgent.announceOnly(proxy.seed(), keyring,
                MemberMetadata.backend("web", "127.0.0.1", allowed, 1, Map.of(), MemberState.UP)));
        LocalAgent wrongPort = keep(LocalAgent.start(proxy.seed(), keyring, "web"));
        // An address outside the allowed networks; nothing ever connects to it, it is refused first.
        keep(LocalAgent.announceOnly(proxy.seed(), keyring,
                MemberMetadata.backend("web", "10.1.2.3", allowed, 1, Map.of(), MemberState.UP)));
        // A render counts its refusals before it publishes its table: the allowed member's server is waited for too.
        Await.until(Duration.ofSeconds(10), "all three members known and rendered",
                () -> admin.members().path("members").size() == 3 && viewCounter(admin, "refused_backends") == 2
                        && admin.serverIn(allowed, "up"),
                () -> admin.members() + "; " + admin);
        assertEquals(Set.of("127.0.0.1:" + allowed), addresses(admin), admin.toString());
        assertEquals(1, logged("port " + wrongPort.port() + " is not in allowed_backends.ports").size(), log.list.toString());
        assertEquals(1, logged("address 10.1.2.3 is not in allowed_backends.cidrs").size(), log.list.toString());
    }
}
