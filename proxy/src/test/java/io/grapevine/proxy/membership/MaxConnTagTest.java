package io.grapevine.proxy.membership;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.cluster.MemberEvent;
import io.grapevine.cluster.MemberMetadata;
import io.grapevine.cluster.MemberState;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.config.SelfAddressGuard;
import io.grapevine.proxy.reload.RunningConfig;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.Await;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The shipped template gives a gossip server the {@code max_conn} its member announces in a tag. */
class MaxConnTagTest {

    private TableHolder tables;
    private RunningConfig running;
    private MembershipView view;

    @BeforeEach
    void start() throws Exception {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": []}", "servers.conf");
        tables = new TableHolder(1, config.routes(), config::policyOf);
        running = new RunningConfig(tables, config, null, SelfAddressGuard.NONE);
        view = new MembershipView(running,
                BackendTemplate.load(Path.of("../templates/backends.mustache"), BackendTemplate.Escaping.JSON), 1);
        running.start("start");
    }

    @AfterEach
    void stop() {
        running.close();
    }

    /**
     * Adds a member and waits for the render that lists it (its table published, its refusals counted). Not "any
     * render since": the render of the member before may still be due (renders are debounced) and would answer.
     */
    private void join(String id, int port, Map<String, String> tags) throws InterruptedException {
        MemberMetadata md = MemberMetadata.backend("web", "127.0.0.1", port, 1, tags, MemberState.UP);
        view.onMembershipEvent(new MemberEvent(MemberEvent.Type.ADDED, id, null,
                new InetSocketAddress("127.0.0.1", 40_000), md, port));
        Await.until(Duration.ofSeconds(5), "a render listing " + id,
                () -> view.lastRender().text().contains("\"port\": " + port + ","));
        view.awaitIdle(5_000);
    }

    /** Port → max_conn of the servers in the table. */
    private Map<Integer, Integer> limits() {
        Map<Integer, Integer> m = new TreeMap<>();
        for (Server s : tables.current().servers()) {
            m.put(s.spec().port(), s.maxConn());
        }
        return m;
    }

    @Test
    void aWholeNumberTagIsTheServersLimitAndAnythingElseIsLeftOut() throws Exception {
        join("limited", 8001, Map.of("max_conn", "25"));
        join("plain", 8002, Map.of());
        join("typo", 8003, Map.of("max_conn", "2O"));
        assertEquals(Map.of(8001, 25, 8002, 0, 8003, 0), limits(), view.lastRender().toString());
    }

    @Test
    void aTagOutOfRangeRefusesThatServerAloneLikeAnyBadValue() throws Exception {
        join("ok", 8001, Map.of("max_conn", "3"));
        join("huge", 8002, Map.of("max_conn", "5000000"));
        assertEquals(Map.of(8001, 3), limits(), view.lastRender().toString());
        assertEquals(1L, view.counters().get("refused_backends"));
    }
}
