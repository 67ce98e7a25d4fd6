package io.grapevine.proxy.lb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import io.grapevine.proxy.config.ServerSpec.Source;
import io.grapevine.proxy.table.BackendTable;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BalancersTest {

    private static final long NOW = System.nanoTime();

    private static List<Server> servers(int... weights) {
        List<ServerSpec> specs = new ArrayList<>();
        for (int i = 0; i < weights.length; i++) {
            specs.add(new ServerSpec(String.valueOf((char) ('a' + i)), "127.0.0.1", 1000 + i, weights[i], false,
                    "default", Source.STATIC, AdminState.UP));
        }
        BackendTable t = new TableHolder(1, List.of(), p -> PoolPolicy.DEFAULT).publish(specs, "test");
        return t.servers();
    }

    private static String sequence(Balancer<Server> b, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(b.pick(NOW, null).name());
        }
        return sb.toString();
    }

    private static Balancer<Server> roundRobin(List<Server> primaries, List<Server> backups) {
        return Balancers.create(Balance.ROUNDROBIN, primaries, backups);
    }

    @Test
    void equalWeightsRotateStrictly() {
        assertEquals("abcabcabcabc", sequence(roundRobin(servers(1, 1, 1), List.of()), 12));
    }

    @Test
    void weightsAreInterleavedSmoothlyAsNginxDoes() {
        // nginx's smooth weighted round robin for 5, 1, 1: a a b a c a a
        assertEquals("aabacaa" + "aabacaa", sequence(roundRobin(servers(5, 1, 1), List.of()), 14));
    }

    @Test
    void thirtyRequestsOverThreeServersLandTenEach() {
        Balancer<Server> b = roundRobin(servers(1, 1, 1), List.of());
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 30; i++) {
            counts.merge(b.pick(NOW, null).name(), 1, Integer::sum);
        }
        assertEquals(Map.of("a", 10, "b", 10, "c", 10), counts);
    }

    @Test
    void excludedServersAreSkippedAndTheRestKeepTheirProportions() {
        List<Server> s = servers(2, 1, 1);
        Balancer<Server> b = roundRobin(s, List.of());
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 300; i++) {
            counts.merge(b.pick(NOW, List.of(s.get(2))).name(), 1, Integer::sum);
        }
        assertEquals(Map.of("a", 200, "b", 100), counts);
    }

    @Test
    void backupsServeOnlyWhenNoPrimaryIsAvailable() {
        List<Server> s = servers(1, 1, 1);
        Balancer<Server> b = roundRobin(s.subList(0, 2), s.subList(2, 3));
        assertTrue(sequence(b, 6).matches("[ab]+"));
        assertEquals("c", b.pick(NOW, s.subList(0, 2)).name());
        assertNull(b.pick(NOW, s), "nothing left");
    }

    @Test
    void leastConnectionsPicksTheLeastLoadedRelativeToWeight() {
        List<Server> s = servers(1, 2, 1);
        Balancer<Server> b = Balancers.create(Balance.LEASTCONN, s, List.of());
        s.get(0).stats().inFlight.set(3);
        s.get(1).stats().inFlight.set(4); // 4 / 2 = 2 per unit of weight
        s.get(2).stats().inFlight.set(5);
        assertEquals("b", b.pick(NOW, null).name());
        s.get(1).stats().inFlight.set(8);
        assertEquals("a", b.pick(NOW, null).name());
    }

    @Test
    void powerOfTwoChoicesNeverPicksAnUnavailableServer() {
        List<Server> s = servers(1, 1, 1);
        Balancer<Server> b = Balancers.create(Balance.P2C, s, List.of());
        for (int i = 0; i < 200; i++) {
            assertTrue(!b.pick(NOW, List.of(s.get(1))).name().equals("b"));
        }
    }
}
