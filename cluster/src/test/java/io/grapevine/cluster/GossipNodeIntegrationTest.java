package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.scalecube.cluster.Cluster;
import io.scalecube.cluster.ClusterImpl;
import io.scalecube.cluster.metadata.MetadataCodec;
import io.scalecube.cluster.transport.api.Message;
import io.scalecube.transport.netty.tcp.TcpTransportFactory;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Several gossip members in one JVM on loopback, ephemeral ports, real scalecube. */
@Tag("serial") // with no other test JVM beside it (pom.xml): it asserts joins within 3 s
class GossipNodeIntegrationTest {

    private static final Duration JOIN = Duration.ofSeconds(10);
    private final List<AutoCloseable> started = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = started.size() - 1; i >= 0; i--) {
            started.get(i).close();
        }
    }

    private GossipNode node(String alias, ClusterKeyring keyring, List<String> seeds, RecordingListener listener) {
        return node(ClusterSettings.builder().alias(alias).keyring(keyring).insecure(keyring == null).seeds(seeds).build(),
                backend(alias), listener);
    }

    private GossipNode node(ClusterSettings settings, MemberMetadata self, RecordingListener listener) {
        GossipNode node = GossipNode.start(settings, self, listener);
        started.add(node);
        return node;
    }

    private static MemberMetadata backend(String service) {
        return MemberMetadata.backend(service, "127.0.0.1", 8000 + service.length(), 5, Map.of("name", service), MemberState.UP);
    }

    private static String seed(GossipNode node) {
        return "127.0.0.1:" + node.gossipAddress().getPort();
    }

    private static ClusterKeyring keys(String... base64) {
        return ClusterKeyring.of(List.of(base64));
    }

    private static boolean sees(GossipNode node, GossipNode other) {
        return node.members().stream().anyMatch(m -> m.id().equals(other.memberId()) && m.metadata() != null);
    }

    @Test
    void joinUpdateLeaveAndRemoveFlowWithMetadata() {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        RecordingListener seedEvents = new RecordingListener();
        GossipNode seed = node("seed", keyring, List.of(), seedEvents);
        RecordingListener aEvents = new RecordingListener();
        long joinStart = System.nanoTime();
        GossipNode a = node("alpha", keyring, List.of(seed(seed)), aEvents);
        GossipNode b = node("bravo", keyring, List.of(seed(seed)), new RecordingListener());

        Await.until(JOIN, "all three to see each other", () -> sees(seed, a) && sees(seed, b) && sees(a, seed)
                && sees(a, b) && sees(b, seed) && sees(b, a), () -> seed.members() + " / " + a.members());
        System.out.printf("[timing] 3 members fully joined in %d ms%n", (System.nanoTime() - joinStart) / 1_000_000);

        MemberEvent added = seedEvents.last(MemberEvent.Type.ADDED, a.memberId());
        assertNotNull(added);
        assertEquals(backend("alpha"), added.metadata());
        assertEquals("alpha", added.alias());
        assertEquals(a.gossipAddress(), added.gossipAddress());
        assertEquals("127.0.0.1", added.gossipAddress().getAddress().getHostAddress());
        assertTrue(seedEvents.threads.stream().allMatch(t -> t.startsWith("sc-cluster-")), seedEvents.threads.toString());

        // A state change is gossiped as UPDATED with the new metadata.
        MemberMetadata down = backend("alpha").withState(MemberState.DOWN);
        long updateStart = System.nanoTime();
        a.updateMetadata(down);
        Await.until(JOIN, "UPDATED to down at seed and bravo", () -> down.equals(metadataOf(seedEvents, MemberEvent.Type.UPDATED, a))
                && b.members().stream().anyMatch(m -> m.id().equals(a.memberId()) && down.equals(m.metadata())));
        System.out.printf("[timing] UPDATED seen %d ms after updateMetadata%n", (System.nanoTime() - updateStart) / 1_000_000);

        // A graceful leave shows up quickly as LEAVING (with the last metadata), REMOVED only later.
        long leaveStart = System.nanoTime();
        a.leave();
        long leavingMs = Await.until(Duration.ofSeconds(3), "LEAVING of alpha at seed",
                () -> seedEvents.saw(MemberEvent.Type.LEAVING, a.memberId()), seedEvents::toString);
        System.out.printf("[timing] LEAVING seen %d ms after leave()%n", leavingMs);
        assertEquals(down, seedEvents.last(MemberEvent.Type.LEAVING, a.memberId()).metadata());
        assertTrue(!seedEvents.saw(MemberEvent.Type.REMOVED, a.memberId()), "REMOVED must wait for the suspicion timeout");
        assertEquals(MemberEvent.Type.LEAVING, seed.members().stream()
                .filter(m -> m.id().equals(a.memberId())).findFirst().orElseThrow().lastEvent());

        Await.until(Duration.ofSeconds(20), "REMOVED of alpha at seed",
                () -> seedEvents.saw(MemberEvent.Type.REMOVED, a.memberId()), seedEvents::toString);
        long removedMs = (System.nanoTime() - leaveStart) / 1_000_000;
        System.out.printf("[timing] REMOVED seen %d ms after leave() (suspicion timeout for 3 members %d ms)%n",
                removedMs, ClusterSettings.builder().build().suspicionTimeout(3).toMillis());
        assertTrue(removedMs >= 3_000, "REMOVED came after " + removedMs + " ms, before any plausible suspicion timeout");
        assertEquals(down, seedEvents.last(MemberEvent.Type.REMOVED, a.memberId()).metadata());
        assertTrue(seed.members().stream().noneMatch(m -> m.id().equals(a.memberId())));

        SecurityCounters counters = seed.counters();
        assertTrue(counters.framesAccepted() > 0);
        assertEquals(0, counters.framesRejected(), counters.toString());
        assertEquals(0, counters.metadataRejected(), counters.toString());
    }

    @Test
    void crashedMemberIsRemovedAfterTheSuspicionTimeout() {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        RecordingListener seedEvents = new RecordingListener();
        GossipNode seed = node("seed", keyring, List.of(), seedEvents);
        GossipNode victim = node("victim", keyring, List.of(seed(seed)), new RecordingListener());
        Await.until(JOIN, "victim joined", () -> sees(seed, victim));

        long crash = System.nanoTime();
        victim.stopTransportWithoutLeaving();
        Await.until(Duration.ofSeconds(30), "REMOVED of the crashed member",
                () -> seedEvents.saw(MemberEvent.Type.REMOVED, victim.memberId()), seedEvents::toString);
        System.out.printf("[timing] crashed member REMOVED after %d ms%n", (System.nanoTime() - crash) / 1_000_000);
        assertTrue(!seedEvents.saw(MemberEvent.Type.LEAVING, victim.memberId()), "a crash is not a graceful leave");
    }

    private static MemberMetadata metadataOf(RecordingListener events, MemberEvent.Type type, GossipNode node) {
        MemberEvent event = events.last(type, node.memberId());
        return event == null ? null : event.metadata();
    }

    @Test
    void nodesWithTheWrongKeyOrNoKeyNeverAppear() {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        RecordingListener seedEvents = new RecordingListener();
        GossipNode seed = node("seed", keyring, List.of(), seedEvents);
        GossipNode member = node("member", keyring, List.of(seed(seed)), new RecordingListener());
        RecordingListener wrongEvents = new RecordingListener();
        GossipNode wrongKey = node("wrong", keys(ClusterKeyring.generateKey()), List.of(seed(seed), seed(member)), wrongEvents);
        RecordingListener openEvents = new RecordingListener();
        GossipNode noKey = node("open", null, List.of(seed(seed), seed(member)), openEvents);

        Await.until(JOIN, "the keyed member joined", () -> sees(seed, member) && sees(member, seed));
        // Each intruder keeps trying (one sync a second); wait until both were refused several times.
        Await.until(JOIN, "intruder frames refused", () -> seed.counters().rejectedUnknownKey() >= 4
                && member.counters().rejectedUnknownKey() >= 2, () -> seed.counters() + " " + member.counters());
        Await.holds(Duration.ofSeconds(2), "no intruder in any keyed view", () ->
                !seedEvents.sawAnyOf(wrongKey.memberId()) && !seedEvents.sawAnyOf(noKey.memberId())
                        && seed.members().size() == 1 && member.members().size() == 1);
        assertTrue(wrongEvents.events.isEmpty(), "wrong-key node learned " + wrongEvents);
        assertTrue(openEvents.events.isEmpty(), "open node learned " + openEvents);
        assertEquals(0, seed.counters().rejectedBadMac() + seed.counters().rejectedMalformed(), seed.counters().toString());
    }

    @Test
    void keyRotationWithTwoKeyKeyrings() {
        String k1 = ClusterKeyring.generateKey();
        String k2 = ClusterKeyring.generateKey();
        // Step 1: old key only, and a node that already has the new key as secondary.
        GossipNode old = node("old", keys(k1), List.of(), new RecordingListener());
        GossipNode installed = node("installed", keys(k1, k2), List.of(seed(old)), new RecordingListener());
        Await.until(JOIN, "step 1 members see each other", () -> sees(old, installed) && sees(installed, old));
        old.close();
        // Step 2: new key first; still accepts the old one, so it talks with step-1 nodes.
        GossipNode switched = node("switched", keys(k2, k1), List.of(seed(installed)), new RecordingListener());
        Await.until(JOIN, "step 2 members see each other", () -> sees(installed, switched) && sees(switched, installed));
        installed.close();
        // Step 3: old key removed.
        GossipNode rotated = node("rotated", keys(k2), List.of(seed(switched)), new RecordingListener());
        Await.until(JOIN, "step 3 members see each other", () -> sees(switched, rotated) && sees(rotated, switched));
        // A node still on the old key alone is now locked out.
        RecordingListener staleEvents = new RecordingListener();
        GossipNode stale = node("stale", keys(k1), List.of(seed(rotated)), staleEvents);
        Await.until(JOIN, "stale-key frames refused", () -> rotated.counters().rejectedUnknownKey() >= 2);
        assertTrue(rotated.members().stream().noneMatch(m -> m.id().equals(stale.memberId())));
        assertTrue(staleEvents.events.isEmpty(), staleEvents.toString());
        assertEquals(0, rotated.counters().rejectedBadMac());
    }

    /**
     * A rotation splits the cluster if a node was given another new key than the rest: before the second step an
     * operator reads every node's start-up line to see that all accept the same keys, which takes their ids.
     */
    @Test
    void theStartUpLineNamesTheKeySealingAndEveryKeyAccepted() {
        String k1 = ClusterKeyring.generateKey();
        String k2 = ClusterKeyring.generateKey();
        List<String> ids = keys(k1, k2).keyIds();
        Logger logger = (Logger) LoggerFactory.getLogger(GossipNode.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        try {
            node("rotating", keys(k1, k2), List.of(), new RecordingListener());
        } finally {
            logger.detachAppender(appender);
        }
        List<String> lines = appender.list.stream().map(ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains("frames sealed with key")).toList();
        assertEquals(1, lines.size(), appender.list.toString());
        assertTrue(lines.get(0).contains("frames sealed with key " + ids.get(0)) && lines.get(0).contains(ids.get(1)),
                lines.get(0) + " names " + ids);
    }

    @Test
    void nodeStartedBeforeItsSeedJoinsOnceTheSeedIsUp() throws IOException {
        int seedPort = ListenPorts.free();
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        RecordingListener earlyEvents = new RecordingListener();
        GossipNode early = node("early", keyring, List.of("127.0.0.1:" + seedPort), earlyEvents);
        assertTrue(early.members().isEmpty());

        RecordingListener seedEvents = new RecordingListener();
        long seedStart = System.nanoTime();
        GossipNode seed = node(ClusterSettings.builder().alias("late-seed").keyring(keyring).gossipPort(seedPort).build(),
                MemberMetadata.proxy("127.0.0.1", 9000), seedEvents);
        Await.until(JOIN, "early node and late seed see each other", () -> sees(early, seed) && sees(seed, early)
                        && earlyEvents.last(MemberEvent.Type.ADDED, seed.memberId()) != null,
                () -> earlyEvents + " / " + seedEvents);
        long joinedMs = (System.nanoTime() - seedStart) / 1_000_000;
        System.out.printf("[timing] member waiting for its seed joined %d ms after the seed started%n", joinedMs);
        assertTrue(joinedMs < 3_000, "took " + joinedMs + " ms; the sync interval is 1 s");
        assertEquals(MemberMetadata.proxy("127.0.0.1", 9000), earlyEvents.last(MemberEvent.Type.ADDED, seed.memberId()).metadata());
    }

    @Test
    void alteredFrameOnTheWireIsDroppedAndCounted() throws Exception {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        GossipNode node = node("target", keyring, List.of(), new RecordingListener());
        FrameCodec attackerCodec = new FrameCodec(keyring, new FrameCounters(), 60_000, 100, System::currentTimeMillis);
        // A message the node accepts and ignores (a metadata request for some other member).
        ByteArrayOutputStream sealed = new ByteArrayOutputStream();
        attackerCodec.serialize(ScalecubeMessages.metadataRequest(ScalecubeMessages.member("x", "127.0.0.1:1")), sealed);
        byte[] frame = sealed.toByteArray();
        byte[] flipped = frame.clone();
        flipped[frame.length - 20] ^= 0x01;

        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", node.gossipAddress().getPort()), 2000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            sendFrame(out, flipped);
            Await.until(Duration.ofSeconds(5), "flipped frame counted", () -> node.counters().rejectedBadMac() == 1, () -> node.counters().toString());
            assertEquals(0, node.counters().framesAccepted());
            sendFrame(out, frame);
            Await.until(Duration.ofSeconds(5), "intact frame accepted", () -> node.counters().framesAccepted() == 1, () -> node.counters().toString());
            sendFrame(out, frame);
            Await.until(Duration.ofSeconds(5), "replayed frame counted", () -> node.counters().rejectedReplayed() == 1, () -> node.counters().toString());
            sendFrame(out, "garbage that is no frame".getBytes(StandardCharsets.US_ASCII));
            Await.until(Duration.ofSeconds(5), "garbage counted", () -> node.counters().rejectedMalformed() == 1, () -> node.counters().toString());
        }
        // The node still works after all that.
        GossipNode other = node("other", keyring, List.of(seed(node)), new RecordingListener());
        Await.until(JOIN, "a good member still joins", () -> sees(node, other) && sees(other, node));
        assertEquals(1, node.counters().rejectedBadMac());
    }

    @Test
    void forgedFramesCannotRemoveAMemberButAKeyHolderCould() throws Exception {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        RecordingListener seedEvents = new RecordingListener();
        GossipNode seed = node("seed", keyring, List.of(), seedEvents);
        GossipNode victim = node("victim", keyring, List.of(seed(seed)), new RecordingListener());
        Await.until(JOIN, "victim joined", () -> sees(seed, victim));

        // "victim is dead": the record scalecube itself spreads when a member's suspicion times out.
        io.scalecube.cluster.Member victimMember = new io.scalecube.cluster.Member(victim.memberId(), "victim",
                "127.0.0.1:" + victim.gossipAddress().getPort(), "grapevine");
        Message deadVictim = Message.with(ScalecubeMessages.sync(ScalecubeMessages.record(victimMember,
                io.scalecube.cluster.membership.MemberStatus.DEAD, 5))).sender("127.0.0.1:1").build();
        byte[] open = frame(null, deadVictim);
        byte[] wrongKey = frame(keys(ClusterKeyring.generateKey()), deadVictim);
        byte[] tampered = frame(keyring, deadVictim);
        tampered[tampered.length - 1] ^= 0x40;

        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", seed.gossipAddress().getPort()), 2000);
            DataOutputStream out = new DataOutputStream(socket.getOutputStream());
            for (byte[] forged : List.of(open, wrongKey, tampered)) {
                sendFrame(out, forged);
            }
            Await.until(Duration.ofSeconds(5), "forged frames refused", () -> seed.counters().rejectedUnknownKey() == 2
                    && seed.counters().rejectedBadMac() == 1, () -> seed.counters().toString());
            Await.holds(Duration.ofSeconds(2), "victim still a member", () -> sees(seed, victim)
                    && !seedEvents.saw(MemberEvent.Type.REMOVED, victim.memberId()));

            // Control: the same message sealed with the cluster key is obeyed, so the refusals above
            // are what protected the victim.
            sendFrame(out, frame(keyring, deadVictim));
            Await.until(Duration.ofSeconds(5), "key holder's message obeyed",
                    () -> seedEvents.saw(MemberEvent.Type.REMOVED, victim.memberId()), seedEvents::toString);
        }
    }

    private static byte[] frame(ClusterKeyring keyring, Message message) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new FrameCodec(keyring, new FrameCounters(), 60_000, 100, System::currentTimeMillis).serialize(message, out);
        return out.toByteArray();
    }

    private static void sendFrame(DataOutputStream out, byte[] frame) throws IOException {
        out.writeInt(frame.length);   // scalecube's 4-byte length prefix
        out.write(frame);
        out.flush();
    }

    @Test
    void memberWithInvalidMetadataIsReportedWithoutIt() {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        RecordingListener seedEvents = new RecordingListener();
        GossipNode seed = node("seed", keyring, List.of(), seedEvents);
        // A raw scalecube member holding the key but announcing metadata that fails validation.
        byte[] bad = "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":99999,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}"
                .getBytes(StandardCharsets.UTF_8);
        MetadataCodec rawCodec = new MetadataCodec() {
            @Override
            public Object deserialize(ByteBuffer buffer) {
                return null;
            }

            @Override
            public ByteBuffer serialize(Object metadata) {
                return ByteBuffer.wrap(bad);
            }
        };
        Cluster raw = new ClusterImpl()
                .config(c -> c.externalHost("127.0.0.1").metadata("anything").metadataCodec(rawCodec))
                .membership(m -> m.seedMembers(List.of(seed(seed))).namespace("grapevine").syncInterval(1000))
                .transport(t -> t.messageCodec(new FrameCodec(keyring, new FrameCounters(), 60_000, 1000, System::currentTimeMillis)))
                .transportFactory(TcpTransportFactory::new)
                .startAwait();
        started.add(() -> {
            raw.shutdown();
            raw.onShutdown().block(Duration.ofSeconds(10));
        });
        Await.until(JOIN, "raw member ADDED", () -> seedEvents.saw(MemberEvent.Type.ADDED, raw.member().id()), seedEvents::toString);
        assertNull(seedEvents.last(MemberEvent.Type.ADDED, raw.member().id()).metadata());
        assertTrue(seed.counters().metadataRejected() >= 1, seed.counters().toString());
        assertNull(seed.members().get(0).metadata());
    }

    @Test
    void withoutAKeyANodeStartsOnlyWhenInsecureIsExplicit() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GossipNode.start(ClusterSettings.builder().build(), backend("open"), new RecordingListener()));
        assertEquals(GossipNode.MISSING_KEY, e.getMessage());
        GossipNode open = node(ClusterSettings.builder().insecure(true).build(), backend("open"), new RecordingListener());
        assertTrue(open.gossipAddress().getPort() > 0);
    }

    /**
     * The port listens on the advertised address by default, so another address of this host (127.0.0.2
     * is loopback too on Linux) finds nothing there; with a wildcard bind it does.
     */
    @Test
    void thePortListensOnTheAdvertisedAddressUnlessToldOtherwise() throws IOException {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        GossipNode advertised = node("advertised", keyring, List.of(), new RecordingListener());
        assertEquals("127.0.0.1:" + advertised.gossipAddress().getPort(), advertised.listenDescription());
        assertTrue(accepts("127.0.0.1", advertised.gossipAddress().getPort()));
        assertFalse(accepts("127.0.0.2", advertised.gossipAddress().getPort()), "reachable on another address");

        GossipNode everywhere = node(ClusterSettings.builder().alias("everywhere").keyring(keyring).bindHost("0.0.0.0")
                .seeds(List.of(seed(advertised))).build(), backend("everywhere"), new RecordingListener());
        assertTrue(everywhere.listenDescription().startsWith("every interface"), everywhere.listenDescription());
        assertTrue(accepts("127.0.0.2", everywhere.gossipAddress().getPort()));
        // Both framings are the same: they join each other.
        Await.until(JOIN, "the two members joined", () -> sees(advertised, everywhere) && sees(everywhere, advertised));
        assertTrue(everywhere.joined() && advertised.joined());
    }

    @Test
    void aPortThatCannotBeOpenedIsNamed() throws IOException {
        ClusterKeyring keyring = keys(ClusterKeyring.generateKey());
        try (ServerSocket taken = new ServerSocket()) {
            taken.bind(new InetSocketAddress("127.0.0.1", 0));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> node(ClusterSettings.builder()
                    .keyring(keyring).gossipPort(taken.getLocalPort()).build(), backend("late"), new RecordingListener()));
            assertEquals("cannot listen for gossip on 127.0.0.1:" + taken.getLocalPort() + ": address already in use",
                    e.getMessage());
        }
        // 192.0.2.1 (TEST-NET-1) is no address of this host: nothing is sent, the bind fails.
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> node(ClusterSettings.builder()
                .keyring(keyring).advertiseHost("192.0.2.1").build(), backend("nat"), new RecordingListener()));
        assertTrue(e.getMessage().startsWith("cannot listen for gossip on 192.0.2.1:0: 192.0.2.1 is not an address of"
                + " this host (it is the advertised address"), e.getMessage());
    }

    @Test
    void aNodeWhoseSeedNeverAnswersHasNotJoined() throws IOException {
        int nobody = ListenPorts.free();
        GossipNode alone = node("alone", keys(ClusterKeyring.generateKey()), List.of("127.0.0.1:" + nobody),
                new RecordingListener());
        assertFalse(alone.joined());
    }

    private static boolean accepts(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
