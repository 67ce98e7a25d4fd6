package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.config.SilentDns;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The membership view fed with events directly, as the gossip thread feeds it; no sockets. */
class MembershipViewTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(MembershipView.class);

    private TableHolder tables;
    private RunningConfig running;
    private MembershipView view;
    private long clock = 1_000;

    @BeforeEach
    void start() throws Exception {
        start(BackendTemplate.load(Path.of("../templates/backends.mustache"), BackendTemplate.Escaping.JSON));
    }

    /** A view with {@code template}, in place of the one {@link #start()} made. */
    private void start(BackendTemplate template) throws Exception {
        start(template, "{\"backend_servers\": []}");
    }

    /** A view with {@code template} and the servers.conf {@code configText}, in place of the one {@link #start()} made. */
    private void start(BackendTemplate template, String configText) throws Exception {
        if (running != null) {
            running.close();
        }
        ProxyConfig config = ConfigLoader.parse(configText, "servers.conf");
        tables = new TableHolder(1, config.routes(), config::policyOf);
        running = new RunningConfig(tables, config, null, SelfAddressGuard.NONE);
        view = new MembershipView(running, template, 1);
        running.start("start");
    }

    @AfterEach
    void stop() {
        running.close();
    }

    /** Hands one event to the view and waits for the render it causes. */
    private void event(MemberEvent.Type type, String id, int port, MemberState state) throws InterruptedException {
        event(type, id, port, state, Map.of());
    }

    private void event(MemberEvent.Type type, String id, int port, MemberState state, Map<String, String> tags)
            throws InterruptedException {
        MemberMetadata md = MemberMetadata.backend("web", "127.0.0.1", port, 1, tags, state);
        long renders = renders();
        view.onMembershipEvent(new MemberEvent(type, id, null, new InetSocketAddress("127.0.0.1", 40_000), md, clock++));
        Await.until(Duration.ofSeconds(5), "render after " + type + " " + id, () -> renders() > renders);
        settle(); // the render counted may be one scheduled before the event: the event's own has run now too
    }

    private long renders() {
        return (Long) view.counters().get("renders");
    }

    private List<String> servers() {
        return tables.current().servers().stream().map(s -> s.spec().host() + ":" + s.spec().port() + " " + s.spec().state()
                .name().toLowerCase()).toList();
    }

    @Test
    void twoMembersAnnouncingOneAddressDoNotStopOtherChanges() throws Exception {
        event(MemberEvent.Type.ADDED, "old", 8001, MemberState.UP);
        // The agent was killed and restarted: the dead member lingers until its suspicion timeout.
        event(MemberEvent.Type.ADDED, "new", 8001, MemberState.UP);
        event(MemberEvent.Type.ADDED, "other", 8002, MemberState.UP);

        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8002 up"), servers(), view.lastRender().toString());
        assertEquals(null, view.lastRender().error());
    }

    @Test
    void theLiveMemberOfAnAddressDecidesItsState() throws Exception {
        event(MemberEvent.Type.ADDED, "old", 8001, MemberState.UP);
        event(MemberEvent.Type.UPDATED, "old", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.ADDED, "new", 8001, MemberState.UP);
        assertEquals(List.of("127.0.0.1:8001 up"), servers(), "a restarted agent's backend is up again");

        event(MemberEvent.Type.LEAVING, "old", 8001, MemberState.DRAINING);
        assertEquals(List.of("127.0.0.1:8001 up"), servers(), "the old member's leave is not the new one's");

        event(MemberEvent.Type.UPDATED, "new", 8001, MemberState.DOWN);
        assertEquals(List.of("127.0.0.1:8001 down"), servers());
        event(MemberEvent.Type.REMOVED, "old", 8001, MemberState.DRAINING);
        assertEquals(List.of("127.0.0.1:8001 down"), servers());
        Server before = tables.current().servers().get(0);
        event(MemberEvent.Type.UPDATED, "new", 8001, MemberState.UP);
        assertEquals(List.of("127.0.0.1:8001 up"), servers());
        assertEquals(before, tables.current().servers().get(0), "the server kept its identity throughout");
    }

    @Test
    void aMemberWhoseServerBreaksARuleIsRefusedAloneAndTheOthersGoOn() throws Exception {
        event(MemberEvent.Type.ADDED, "good", 8001, MemberState.UP);
        // The shipped template makes the pool tag the server's pool; pool names cannot hold a space.
        event(MemberEvent.Type.ADDED, "bad", 8002, MemberState.UP, Map.of("pool", "web api"));
        event(MemberEvent.Type.ADDED, "later", 8003, MemberState.UP);

        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8003 up"), servers(), view.lastRender().toString());
        assertEquals(null, view.lastRender().error());
        assertEquals(1L, view.counters().get("refused_backends"), "refused once, however often it is rendered");
        assertEquals(0L, view.counters().get("render_failures"));

        event(MemberEvent.Type.UPDATED, "bad", 8002, MemberState.UP, Map.of("pool", "web-api"));
        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8002 up", "127.0.0.1:8003 up"), servers());
    }

    /**
     * A template that names servers by something members share (the service and a zone tag, as in the example of
     * docs/membership.md) renders two servers under one name once two members of a zone announce one port: the
     * later one is refused, alone, and every other member's change still applies.
     */
    @Test
    void aServerRenderedUnderTheNameOfAnEarlierOneIsRefusedAloneAndTheOthersGoOn() throws Exception {
        start(BackendTemplate.compile(Path.of("zones.mustache"), """
                { "backend_servers": [
                {{#members}}
                  {{^first}},{{/first}}{ "name": "{{service}}-{{tag.zone}}", "ip": "{{host}}", "port": {{port}} }
                {{/members}}
                ] }
                """, BackendTemplate.Escaping.JSON));
        event(MemberEvent.Type.ADDED, "a1", 8001, MemberState.UP, Map.of("zone", "a"));
        event(MemberEvent.Type.ADDED, "a2", 8002, MemberState.UP, Map.of("zone", "a"));
        event(MemberEvent.Type.ADDED, "b1", 8003, MemberState.UP, Map.of("zone", "b"));

        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8003 up"), servers(), view.lastRender().toString());
        assertEquals(null, view.lastRender().error());
        assertEquals(0L, view.counters().get("render_failures"));
        assertEquals(1L, view.counters().get("refused_backends"));

        // The first of the name leaves: the name is free, and the other member's server takes it.
        event(MemberEvent.Type.LEAVING, "a1", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.REMOVED, "a1", 8001, MemberState.DRAINING);
        assertEquals(List.of("127.0.0.1:8002 up", "127.0.0.1:8003 up"), servers(), view.lastRender().toString());
    }

    /**
     * Render mode writes the members into a file for another proxy: a member outside {@code allowed_backends} is left
     * out of it as it is refused from the table, or a key holder could attract that proxy's traffic anywhere.
     */
    @Test
    void aMemberOutsideAllowedBackendsIsLeftOutOfTheExportToo(@TempDir Path dir) throws Exception {
        start(BackendTemplate.load(Path.of("../templates/backends.mustache"), BackendTemplate.Escaping.JSON),
                "{\"allowed_backends\": {\"ports\": [\"8000-8099\"]}, \"backend_servers\": []}");
        Path out = dir.resolve("servers.txt");
        try (ExportRenderer export = new ExportRenderer(Files.writeString(dir.resolve("servers.mustache"),
                "{{#members}}{{address}} {{/members}}\n"), out, null)) {
            view.addExport(export, false);
            event(MemberEvent.Type.ADDED, "allowed", 8001, MemberState.UP);
            event(MemberEvent.Type.ADDED, "refused", 9001, MemberState.UP);

            assertEquals(List.of("127.0.0.1:8001 up"), servers());
            assertEquals("127.0.0.1:8001 \n", Files.readString(out));
        }
    }

    /**
     * A renderer whose seeds answer only after its start (render mode with --join) hears of the members that join
     * brings one by one, as each one's metadata comes: the file is written first once they have stopped coming, not
     * from the first of them, which would leave the external proxy without the others' backends until the next write.
     */
    @Test
    void aLateJoinWritesTheExportFirstWithTheMembersItBrought(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("servers.txt");
        try (ExportRenderer export = new ExportRenderer(Files.writeString(dir.resolve("servers.mustache"),
                "{{#members}}{{address}} {{/members}}\n"), out, null)) {
            view.addExport(export, true);
            settle();
            assertFalse(Files.exists(out), "nothing is known before a seed answers");
            view.onMembershipEvent(new MemberEvent(MemberEvent.Type.ADDED, "seed", null,
                    new InetSocketAddress("127.0.0.1", 40_001), MemberMetadata.proxy("127.0.0.1", 8080), clock++));
            Thread.sleep(300); // the metadata of another member the join brought comes later
            event(MemberEvent.Type.ADDED, "web", 8001, MemberState.UP);

            Await.until(Duration.ofSeconds(10), "the first write", () -> Files.exists(out));
            settle();
            assertEquals("127.0.0.1:8001 \n", Files.readString(out));
            assertEquals(1, export.writes(), "written once, with both members");
        }
    }

    /**
     * A gossip server whose name a static server has is renamed {@code name/pool}: it keeps everything its member
     * announced (its max_conn too), and when a static server has that name as well it is refused, alone, rather than
     * put in the table under a name two servers share (the admin API names a server to change it).
     */
    @Test
    void aGossipServerRenamedForAStaticOneKeepsItsLimitAndNeverSharesAName() throws Exception {
        start(BackendTemplate.load(Path.of("../templates/backends.mustache"), BackendTemplate.Escaping.JSON), """
                {"backend_servers": [
                  {"name": "web@127.0.0.1:8001", "ip": "127.0.0.1", "port": 9001},
                  {"name": "web@127.0.0.1:8002", "ip": "127.0.0.1", "port": 9002},
                  {"name": "web@127.0.0.1:8002/default", "ip": "127.0.0.1", "port": 9003}]}
                """);
        event(MemberEvent.Type.ADDED, "limited", 8001, MemberState.UP, Map.of("max_conn", "25"));
        event(MemberEvent.Type.ADDED, "taken", 8002, MemberState.UP);

        assertEquals(List.of("web@127.0.0.1:8001 9001 0", "web@127.0.0.1:8002 9002 0", "web@127.0.0.1:8002/default 9003 0",
                        "web@127.0.0.1:8001/default 8001 25"),
                tables.current().servers().stream().map(s -> s.name() + " " + s.spec().port() + " " + s.maxConn()).toList(),
                view.lastRender().toString());
        assertEquals(1L, view.counters().get("refused_backends"), view.counters().toString());
    }

    /**
     * A template edit that does not compile is a file that did not load (reload_failures), not a render that failed
     * (render_failures): nothing was rendered, and the running template still renders every change. So too when
     * mustache.java fails with an exception of its own (a partial whose name is no file name), which must not leave
     * the reload unanswered.
     */
    @ParameterizedTest
    @ValueSource(strings = {"{ \"backend_servers\": [ {{#members}} ] }", "{ \"backend_servers\": [ {{> my servers}} ] }"})
    void aTemplateThatDoesNotCompileIsAReloadFailureNotARenderFailure(String edit, @TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("backends.mustache"),
                Files.readString(Path.of("../templates/backends.mustache")));
        start(BackendTemplate.load(file, BackendTemplate.Escaping.JSON));
        event(MemberEvent.Type.ADDED, "m", 8001, MemberState.UP);

        Files.writeString(file, edit);
        List<String> errors = running.reload("test", false, true).get(5, TimeUnit.SECONDS).errors();
        assertEquals(1, errors.size(), errors.toString());
        assertTrue(errors.get(0).startsWith(file + ": "), errors.toString());
        event(MemberEvent.Type.ADDED, "n", 8002, MemberState.UP);

        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8002 up"), servers());
        assertEquals(1L, view.counters().get("reload_failures"), view.counters().toString());
        assertEquals(0L, view.counters().get("render_failures"), view.counters().toString());
    }

    @Test
    void aMemberGossipRemovedWhileItsBackendAnswersIsHeldThenReleased() throws Exception {
        view.holdRemovedMembersFor(400);
        event(MemberEvent.Type.ADDED, "held", 8001, MemberState.UP);
        event(MemberEvent.Type.ADDED, "gone", 8002, MemberState.UP);
        long generation = tables.current().generation();

        // Removed by the failure detector without a leave: the server stays, the table does not change.
        view.onMembershipEvent(new MemberEvent(MemberEvent.Type.REMOVED, "held", null, new InetSocketAddress("127.0.0.1",
                40_000), null, clock++));
        view.awaitIdle(5_000);
        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8002 up"), servers());
        assertEquals(generation, tables.current().generation());
        assertEquals(MemberEvent.Type.REMOVED, view.members().stream().filter(r -> r.id().equals("held")).findFirst()
                .orElseThrow().lastEvent());

        // Back before the hold ends: nothing changes.
        event(MemberEvent.Type.ADDED, "held", 8001, MemberState.UP);
        assertEquals(generation, tables.current().generation());
        Thread.sleep(600);
        view.awaitIdle(5_000);
        assertEquals(List.of("127.0.0.1:8001 up", "127.0.0.1:8002 up"), servers(), "back in time: not released");

        // A backend the health checks find down is released at once; one that answers, when the hold ends.
        tables.current().servers().get(1).setActiveUp(false, "test");
        view.onMembershipEvent(new MemberEvent(MemberEvent.Type.REMOVED, "gone", null, new InetSocketAddress("127.0.0.1",
                40_000), null, clock++));
        Await.until(Duration.ofSeconds(5), "the server found down gone", () -> servers().size() == 1);
        view.onMembershipEvent(new MemberEvent(MemberEvent.Type.REMOVED, "held", null, new InetSocketAddress("127.0.0.1",
                40_000), null, clock++));
        long removed = System.nanoTime();
        Await.until(Duration.ofSeconds(5), "the held server released", () -> servers().isEmpty());
        assertTrue((System.nanoTime() - removed) / 1_000_000 >= 350, "released before its hold ended");
        assertTrue(view.members().isEmpty(), view.members().toString());
    }

    /**
     * Gossip's failure detector removes {@code id}, as it does a member that crashed; returns once the view is done
     * with it, the render it may have caused included.
     */
    private void removedByFailureDetector(String id) throws InterruptedException {
        view.onMembershipEvent(new MemberEvent(MemberEvent.Type.REMOVED, id, null, new InetSocketAddress("127.0.0.1",
                40_000), null, clock++));
        settle();
    }

    /** Waits for the table thread, and for a render it scheduled (the test's window is 1 ms). */
    private void settle() throws InterruptedException {
        view.awaitIdle(5_000);
        Thread.sleep(20);
        view.awaitIdle(5_000);
    }

    private List<String> memberIds() {
        return view.members().stream().map(r -> r.id()).sorted().toList();
    }

    /**
     * An agent killed and restarted on the same address: gossip removes the dead member some seconds later, while
     * the new one serves the backend. The dead one is not held (the backend answers for its successor), so when
     * the new agent drains and leaves, its server goes, instead of coming back up on the dead member's last word.
     */
    @Test
    void aMemberRemovedWhileAnAgentRestartedOnItsAddressServesIsNotHeld() throws Exception {
        event(MemberEvent.Type.ADDED, "dead", 8001, MemberState.UP);
        event(MemberEvent.Type.ADDED, "restarted", 8001, MemberState.UP);
        settle();
        assertEquals(List.of("127.0.0.1:8001 up"), servers());
        removedByFailureDetector("dead");
        assertTrue(log.messages().contains("member web@127.0.0.1:8001 (member dead at 127.0.0.1:40000) removed: removed by "
                + "failure detection without leaving: crashed or unreachable; its backend is announced by "
                + "web@127.0.0.1:8001 (member restarte at 127.0.0.1:40000) now"), log.toString());

        event(MemberEvent.Type.UPDATED, "restarted", 8001, MemberState.DRAINING);
        assertEquals(List.of("127.0.0.1:8001 draining"), servers());
        event(MemberEvent.Type.LEAVING, "restarted", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.REMOVED, "restarted", 8001, MemberState.DRAINING);
        assertEquals(List.of(), servers(), "the server of an agent that drained and left: " + view.lastRender());
        assertEquals(List.of(), memberIds());
        assertTrue(log.messages().contains("member web@127.0.0.1:8001 (member restarte at 127.0.0.1:40000) removed: left "
                + "the cluster (removed after its leave)"), log.toString());
    }

    /** The same when the restarted agent joins while the dead member is held: the hold ends then. */
    @Test
    void aHeldMemberIsReleasedWhenAnAgentRestartedOnItsAddressJoins() throws Exception {
        event(MemberEvent.Type.ADDED, "dead", 8001, MemberState.UP);
        settle();
        assertEquals(List.of("127.0.0.1:8001 up"), servers());
        removedByFailureDetector("dead");
        assertEquals(List.of("dead"), memberIds(), "held: its backend answers");
        assertEquals(List.of("127.0.0.1:8001 up"), servers());

        event(MemberEvent.Type.ADDED, "restarted", 8001, MemberState.UP);
        Await.until(Duration.ofSeconds(2), "the dead member released", () -> memberIds().equals(List.of("restarted")),
                () -> memberIds().toString());
        settle();
        event(MemberEvent.Type.UPDATED, "restarted", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.LEAVING, "restarted", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.REMOVED, "restarted", 8001, MemberState.DRAINING);
        Await.until(Duration.ofSeconds(2), "the server gone", () -> servers().isEmpty(), () -> servers().toString());
    }

    @Test
    void aLeavingMemberIsNeverHeld() throws Exception {
        event(MemberEvent.Type.ADDED, "m", 8001, MemberState.UP);
        event(MemberEvent.Type.LEAVING, "m", 8001, MemberState.UP);
        event(MemberEvent.Type.REMOVED, "m", 8001, MemberState.UP);
        assertEquals(List.of(), servers());
    }

    /**
     * An agent stopped with --drain-seconds 0 publishes draining and leaves at once: the proxy may fetch the
     * draining metadata after the leave has reached it. The member left all the same, and is not held.
     */
    @Test
    void anUpdateThatArrivesAfterTheLeaveDoesNotStopTheMemberFromGoing() throws Exception {
        event(MemberEvent.Type.ADDED, "m", 8001, MemberState.UP);
        event(MemberEvent.Type.LEAVING, "m", 8001, MemberState.UP);
        event(MemberEvent.Type.UPDATED, "m", 8001, MemberState.DRAINING);
        assertEquals(List.of("127.0.0.1:8001 draining"), servers());
        view.onMembershipEvent(new MemberEvent(MemberEvent.Type.REMOVED, "m", null, new InetSocketAddress("127.0.0.1",
                40_000), null, clock++));
        Await.until(Duration.ofSeconds(2), "the server of the member that left gone", () -> servers().isEmpty(),
                () -> servers() + " " + view.members());
    }

    @Test
    void theTimelineTellsAJoinALeaveAndACrashApart() throws Exception {
        view.holdRemovedMembersFor(0); // the crash takes its server out at once
        event(MemberEvent.Type.ADDED, "leaver", 8001, MemberState.UP);
        event(MemberEvent.Type.ADDED, "crasher", 8002, MemberState.UP);
        event(MemberEvent.Type.UPDATED, "leaver", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.LEAVING, "leaver", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.REMOVED, "leaver", 8001, MemberState.DRAINING);
        event(MemberEvent.Type.REMOVED, "crasher", 8002, MemberState.UP);

        List<String> timeline = tables.events().all().stream()
                .filter(e -> e.subject().contains(" (member "))
                .map(e -> e.kind() + " " + e.subject().substring(0, e.subject().indexOf(' '))).toList();
        assertEquals(List.of("join web@127.0.0.1:8001", "join web@127.0.0.1:8002", "drain web@127.0.0.1:8001",
                "leave web@127.0.0.1:8001", "leave web@127.0.0.1:8001", "crash web@127.0.0.1:8002"), timeline);
        List<String> table = tables.events().all().stream().filter(e -> e.kind().equals("add") || e.kind().equals("remove"))
                .map(e -> e.kind() + " " + e.subject()).toList();
        assertEquals(List.of("add web@127.0.0.1:8001", "add web@127.0.0.1:8002", "remove web@127.0.0.1:8001",
                "remove web@127.0.0.1:8002"), table, tables.events().all().toString());
    }

    /**
     * A member announcing a host name while the DNS server does not answer is refused when the lookup's time is up;
     * once the lookup finds the name, its server is in the table, though no member changed since.
     */
    @Test
    void aNameFoundAfterItsLookupWasGivenUpIsTakenInWithoutAnotherChange() throws Exception {
        String host = "late-" + System.nanoTime() + ".example";
        try (SilentDns dns = new SilentDns()) {
            view.onMembershipEvent(new MemberEvent(MemberEvent.Type.ADDED, "late", null, new InetSocketAddress(
                    "127.0.0.1", 40_000), MemberMetadata.backend("web", host, 8001, 1, Map.of(), MemberState.UP), clock++));
            Await.until(Duration.ofMillis(SilentDns.LOOKUP_MILLIS + 5_000), "the refusal",
                    () -> (Long) view.counters().get("refused_backends") == 1L);
            settle();
            assertEquals(List.of(), servers());

            dns.answer(true);
            Await.until(Duration.ofSeconds(5), "the server of the name found", () -> !servers().isEmpty(),
                    () -> servers() + " " + view.lastRender());
            assertEquals(List.of(host + ":8001 up"), servers());
        }
    }
}
