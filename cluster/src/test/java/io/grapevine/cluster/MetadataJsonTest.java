package io.grapevine.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class MetadataJsonTest {

    private static final MemberMetadata WEB = MemberMetadata.backend("web", "10.0.0.7", 8080, 10,
            Map.of("zone", "a", "canary", "true"), MemberState.UP);

    @Test
    void roundTripKeepsEveryField() {
        byte[] json = MetadataJson.encode(WEB);
        MemberMetadata back = MetadataJson.parse(json);
        assertEquals(WEB, back);
        String text = new String(json, StandardCharsets.UTF_8);
        assertTrue(text.contains("\"state\":\"up\""), text);
        assertTrue(text.contains("\"role\":\"backend\""), text);
        assertTrue(!text.contains("\"backend\":"), "helper methods must not leak into JSON: " + text);
    }

    @Test
    void documentedJsonShapeDecodes() {
        String json = "{\"role\":\"backend\",\"service\":\"api\",\"host\":\"127.0.0.1\",\"port\":8001,\"weight\":1,"
                + "\"tags\":{\"k\":\"v\"},\"state\":\"draining\",\"version\":4,\"addedLater\":true}";
        MemberMetadata md = MetadataJson.parse(json.getBytes(StandardCharsets.UTF_8));
        assertEquals(MemberState.DRAINING, md.state());
        assertEquals(4, md.version());
        assertEquals(Map.of("k", "v"), md.tags());
    }

    @Test
    void equalMetadataEncodesToEqualBytesWhateverTheTagOrder() {
        Map<String, String> forward = new LinkedHashMap<>();
        forward.put("a", "1");
        forward.put("b", "2");
        Map<String, String> backward = new LinkedHashMap<>();
        backward.put("b", "2");
        backward.put("a", "1");
        assertArrayEquals(
                MetadataJson.encode(MemberMetadata.backend("s", "h", 1, 1, forward, MemberState.UP)),
                MetadataJson.encode(MemberMetadata.backend("s", "h", 1, 1, backward, MemberState.UP)));
    }

    @Test
    void decodeDoesNotConsumeTheBuffer() {
        ByteBuffer buffer = ByteBuffer.wrap(MetadataJson.encode(WEB));
        assertEquals(Optional.of(WEB), MetadataJson.decode(buffer));
        assertEquals(Optional.of(WEB), MetadataJson.decode(buffer));
        assertEquals(Optional.empty(), MetadataJson.decode(ByteBuffer.allocate(0)));
        assertEquals(Optional.empty(), MetadataJson.decode(null));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":0,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":65536,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":257,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":-1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"we b\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\\\"}, {\\\"ip\\\": \\\"10.6.6.6\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"admin\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"sideways\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":-1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":\"80\",\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80.5,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{\"bad key\":\"v\"},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{\"k\":\"a\\u0000b\"},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{\"k\":null},\"state\":\"up\",\"version\":1}",
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1} {}",
        "{\"@class\":\"java.lang.ProcessBuilder\"}",
        "[\"io.grapevine.cluster.MemberMetadata\", {}]",
        "null",
        "",
        "\u00ac\u00ed\u0000\u0005sr"
    })
    void invalidMetadataIsRefused(String json) {
        byte[] bytes = json.getBytes(StandardCharsets.ISO_8859_1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MetadataJson.parse(bytes));
        assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
        assertEquals(Optional.empty(), MetadataJson.decode(ByteBuffer.wrap(bytes)));
    }

    @Test
    void tagLimits() {
        String longValue = "v".repeat(MemberMetadata.MAX_TAG_VALUE_LENGTH + 1);
        assertThrows(IllegalArgumentException.class,
                () -> MemberMetadata.backend("s", "h", 1, 1, Map.of("k", longValue), MemberState.UP));
        String longKey = "k".repeat(MemberMetadata.MAX_NAME_LENGTH + 1);
        assertThrows(IllegalArgumentException.class,
                () -> MemberMetadata.backend("s", "h", 1, 1, Map.of(longKey, "v"), MemberState.UP));
        Map<String, String> many = new LinkedHashMap<>();
        for (int i = 0; i <= MemberMetadata.MAX_TAGS; i++) {
            many.put("k" + i, "v");
        }
        assertThrows(IllegalArgumentException.class,
                () -> MemberMetadata.backend("s", "h", 1, 1, many, MemberState.UP));
        MemberMetadata.backend("s", "h", 1, 1, Map.of("k".repeat(64), "v".repeat(256)), MemberState.UP);
    }

    @Test
    void oversizedMetadataIsRefusedUnparsed() {
        byte[] big = new byte[MetadataJson.MAX_BYTES + 1];
        assertThrows(IllegalArgumentException.class, () -> MetadataJson.parse(big));
    }

    @Test
    void proxyMayOmitServiceAndPort() {
        MemberMetadata proxy = MemberMetadata.proxy("", 0);
        assertEquals(proxy, MetadataJson.parse(MetadataJson.encode(proxy)));
        assertTrue(!proxy.isBackend());
    }

    @Test
    void withStateBumpsTheVersion() {
        MemberMetadata down = WEB.withState(MemberState.DOWN);
        assertEquals(MemberState.DOWN, down.state());
        assertEquals(WEB.version() + 1, down.version());
    }

    @Test
    void aProxyAnnouncesTheServersItFoundDownAndOlderMetadataHasNone() {
        MemberMetadata proxy = MemberMetadata.proxy("10.0.0.2", 9000)
                .withDownServers(List.of(new MemberMetadata.DownServer("10.0.0.5", 8080, 1_795_613_814_426L)));
        String json = new String(MetadataJson.encode(proxy), StandardCharsets.UTF_8);
        assertTrue(json.contains("\"down_servers\":[{\"host\":\"10.0.0.5\",\"port\":8080,\"until\":1795613814426}]"), json);
        assertEquals(proxy, MetadataJson.parse(json.getBytes(StandardCharsets.UTF_8)));

        String agent = new String(MetadataJson.encode(WEB), StandardCharsets.UTF_8);
        assertTrue(!agent.contains("down_servers"), "absent when empty, as older members wrote it: " + agent);
        assertEquals(List.of(), MetadataJson.parse(agent.getBytes(StandardCharsets.UTF_8)).downServers());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"role\":\"backend\",\"service\":\"web\",\"host\":\"h\",\"port\":80,\"weight\":1,\"tags\":{},\"state\":\"up\",\"version\":1,"
                + "\"down_servers\":[{\"host\":\"10.0.0.5\",\"port\":8080,\"until\":1}]}",
        "{\"role\":\"proxy\",\"service\":\"\",\"host\":\"h\",\"port\":80,\"weight\":0,\"tags\":{},\"state\":\"up\",\"version\":1,"
                + "\"down_servers\":[{\"host\":\"10.0.0.5\",\"port\":0,\"until\":1}]}",
        "{\"role\":\"proxy\",\"service\":\"\",\"host\":\"h\",\"port\":80,\"weight\":0,\"tags\":{},\"state\":\"up\",\"version\":1,"
                + "\"down_servers\":[{\"host\":\"a b\",\"port\":80,\"until\":1}]}",
        "{\"role\":\"proxy\",\"service\":\"\",\"host\":\"h\",\"port\":80,\"weight\":0,\"tags\":{},\"state\":\"up\",\"version\":1,"
                + "\"down_servers\":[{\"host\":\"10.0.0.5\",\"port\":80}]}",
        "{\"role\":\"proxy\",\"service\":\"\",\"host\":\"h\",\"port\":80,\"weight\":0,\"tags\":{},\"state\":\"up\",\"version\":1,"
                + "\"down_servers\":{\"host\":\"10.0.0.5\"}}"
    })
    void invalidDownServersAreRefused(String json) {
        assertThrows(IllegalArgumentException.class, () -> MetadataJson.parse(json.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void aProxyAnnouncesAtMostSoManyDownServers() {
        List<MemberMetadata.DownServer> many = new java.util.ArrayList<>();
        for (int i = 0; i <= MemberMetadata.MAX_DOWN_SERVERS; i++) {
            many.add(new MemberMetadata.DownServer("10.0.0." + (i % 250 + 1), 1000 + i, 1));
        }
        assertThrows(IllegalArgumentException.class, () -> MemberMetadata.proxy("h", 80).withDownServers(many));
        MemberMetadata.proxy("h", 80).withDownServers(many.subList(0, MemberMetadata.MAX_DOWN_SERVERS));
    }
}
