package io.grapevine.proxy.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.RouteSpec;
import io.grapevine.proxy.config.ServerSpec;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import io.grapevine.proxy.config.ServerSpec.Source;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class TableHolderTest {

    private final TableHolder tables = new TableHolder(2, List.of(), pool -> PoolPolicy.DEFAULT);

    static ServerSpec spec(int port) {
        return spec(port, 1, AdminState.UP, "default");
    }

    static ServerSpec spec(int port, int weight, AdminState state, String pool) {
        return new ServerSpec("s" + port, "127.0.0.1", port, weight, false, pool, Source.GOSSIP, state);
    }

    @Test
    void aServerThatSurvivesASwapKeepsItsIdentityAndCounters() {
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2)), "test");
        Server first = g1.servers().get(0);
        first.stats().requests.add(7);
        BackendTable g2 = tables.publish(List.of(spec(1), spec(3)), "test");
        assertEquals(g1.generation() + 1, g2.generation());
        assertSame(first, g2.servers().get(0));
        assertEquals(7, g2.servers().get(0).stats().requests.sum());
        assertTrue(g1.servers().get(1).isRemoved(), "the server that left is marked removed");
        assertFalse(first.isRemoved());
    }

    @Test
    void publishingTheSameServersMakesNoGeneration() {
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2)), "test");
        assertSame(g1, tables.publish(List.of(spec(1), spec(2)), "again"));
        assertSame(g1, tables.current());
    }

    @Test
    void aChangedWeightOrStateIsANewGenerationOfTheSameServer() {
        BackendTable g1 = tables.publish(List.of(spec(1)), "test");
        Server s = g1.servers().get(0);
        BackendTable g2 = tables.publish(List.of(spec(1, 5, AdminState.DRAINING, "default")), "test");
        assertNotSame(g1, g2);
        assertSame(s, g2.servers().get(0));
        assertEquals(5, s.weight());
        assertFalse(s.isAvailable(System.nanoTime()), "a draining server takes no new request");
        assertEquals("draining", s.stateName(System.nanoTime()));
    }

    @Test
    void removalListenersHearOfEveryServerThatLeft() {
        List<Server> heard = new ArrayList<>();
        tables.onServersRemoved(heard::addAll);
        BackendTable g1 = tables.publish(List.of(spec(1), spec(2), spec(3)), "test");
        tables.publish(List.of(spec(2)), "test");
        assertEquals(List.of(g1.servers().get(0), g1.servers().get(2)), heard);
    }

    @Test
    void routesPickPoolsAndUnmatchedRequestsGoToTheDefaultPool() {
        TableHolder routed = new TableHolder(1, List.of(new RouteSpec("api.example.com", null, "api"),
                new RouteSpec(null, "/static/", "static")), pool -> PoolPolicy.DEFAULT);
        BackendTable t = routed.publish(List.of(spec(1, 1, AdminState.UP, "api"), spec(2, 1, AdminState.UP, "static"),
                spec(3)), "test");
        assertEquals("api", t.route("api.example.com", "/x").name());
        assertEquals("static", t.route("www.example.com", "/static/a.css").name());
        assertEquals("default", t.route("www.example.com", "/").name());
        BackendTable noApi = routed.publish(List.of(spec(3)), "test");
        assertNull(noApi.route("api.example.com", "/x"), "a routed pool without servers gives no pool (503)");
    }

    @Test
    void aRouteChangeAloneMakesAGeneration() {
        BackendTable g1 = tables.publish(List.of(spec(1)), "test");
        BackendTable g2 = tables.publish(List.of(spec(1)), List.of(new RouteSpec(null, "/a", "default")),
                pool -> PoolPolicy.DEFAULT, "routes");
        assertEquals(g1.generation() + 1, g2.generation());
        assertTrue(g2.hasRoutes());
        assertSame(g1.servers().get(0), g2.servers().get(0));
    }
}
