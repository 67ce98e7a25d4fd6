package io.grapevine.proxy.table;

import static io.grapevine.proxy.table.TableHolderTest.spec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import io.grapevine.proxy.config.HealthCheckConfig;
import io.grapevine.proxy.config.PoolPolicy;
import io.grapevine.proxy.config.ServerSpec.AdminState;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** When a server warms up (slow start), and how its effective weight ramps. */
class ServerWarmUpTest {

    private static final long RAMP_MS = 10_000;
    private static final long RAMP = TimeUnit.MILLISECONDS.toNanos(RAMP_MS);

    private final TableHolder tables = new TableHolder(1, List.of(),
            pool -> new PoolPolicy(Balance.ROUNDROBIN, null, null, RAMP_MS));

    private static Server server(BackendTable t, int port) {
        return t.servers().stream().filter(s -> s.address().getPort() == port).findFirst().orElseThrow();
    }

    @Test
    void theServersOfAPoolsFirstGenerationAreWarmAtOnce() {
        BackendTable t = tables.publish(List.of(spec(1), spec(2)), "start");
        long now = System.nanoTime();
        for (Server s : t.servers()) {
            assertEquals(16, s.effectiveWeight(now));
            assertFalse(s.isWarmingUp(now));
        }
    }

    @Test
    void aServerJoiningAPoolRampsLinearlyFromASixteenthToItsWeight() {
        tables.publish(List.of(spec(1)), "start");
        long before = System.nanoTime();
        BackendTable t = tables.publish(List.of(spec(1), spec(2, 4, AdminState.UP, "default")), "join");
        long after = System.nanoTime();
        Server joined = server(t, 2);
        assertEquals(16, server(t, 1).effectiveWeight(after), "the server already there stays warm");
        assertTrue(joined.isWarmingUp(after));
        // Started between before and after: bounds of the ramp at each point.
        for (int tenth = 0; tenth <= 12; tenth++) {
            long at = before + RAMP * tenth / 10;
            int lowest = (int) Math.max(4, Math.ceil(64.0 * (at - after) / RAMP));
            int highest = (int) Math.min(64, Math.max(4, Math.ceil(64.0 * (at - before) / RAMP)));
            int w = joined.effectiveWeight(at);
            assertTrue(w >= Math.min(lowest, 64) && w <= highest, "at " + tenth + "/10: " + w);
        }
        assertEquals(64, joined.effectiveWeight(after + RAMP));
    }

    @Test
    void aServerComingBackFromAHealthCheckDownWarmsUp() {
        BackendTable t = tables.publish(List.of(spec(1), spec(2)), "start");
        Server s = server(t, 2);
        s.setActiveUp(false, "test");
        s.setActiveUp(true, "test");
        long now = System.nanoTime();
        assertTrue(s.effectiveWeight(now) < 4, "just back: about a sixteenth, got " + s.effectiveWeight(now));
        assertEquals(16, s.effectiveWeight(now + RAMP));
    }

    @Test
    void aServerComingBackFromAPassiveMarkDownWarmsUpFromTheEndOfIt() {
        BackendTable t = tables.publish(List.of(spec(1), spec(2)), "start");
        Server s = server(t, 2);
        long now = System.nanoTime();
        long ejected = TimeUnit.SECONDS.toNanos(5);
        s.recordFailure(now, new HealthCheckConfig(true, null, 2000, 1000, 2, 3, 1, 5000), "test");
        assertFalse(s.isAvailable(now + ejected / 2));
        assertEquals(1, s.effectiveWeight(now + ejected), "the mark-down just ended");
        assertEquals(8, s.effectiveWeight(now + ejected + RAMP / 2));
        assertEquals(16, s.effectiveWeight(now + ejected + RAMP));
    }

    @Test
    void aServerOtherProxiesMarkedDownWarmsUpFromTheEndOfTheirWord() {
        BackendTable t = tables.publish(List.of(spec(1), spec(2)), "start");
        Server s = server(t, 2);
        long now = System.nanoTime();
        s.setPeerDownUntil(now + TimeUnit.SECONDS.toNanos(5));
        s.setPeerDownUntil(now + TimeUnit.SECONDS.toNanos(6)); // a later word: still down
        assertFalse(s.isAvailable(now));
        s.setPeerDownUntil(0); // withdrawn before it ran out
        long back = System.nanoTime();
        assertTrue(s.isAvailable(back));
        assertTrue(s.effectiveWeight(back) < 4, "just back: about a sixteenth, got " + s.effectiveWeight(back));
        assertEquals(16, s.effectiveWeight(back + RAMP));

        Server other = server(t, 1);
        long past = System.nanoTime() - RAMP / 2;
        other.setPeerDownUntil(past);
        other.setPeerDownUntil(0); // its word ran out half a ramp ago: warming since then
        assertEquals(8, other.effectiveWeight(past + RAMP / 2));
    }

    @Test
    void aServerBackFromDrainingOrWeightZeroWarmsUpButAWeightChangeAloneDoesNot() {
        tables.publish(List.of(spec(1), spec(2)), "start");
        BackendTable t = tables.publish(List.of(spec(1), spec(2, 1, AdminState.DRAINING, "default")), "drain");
        Server s = server(t, 2);
        tables.publish(List.of(spec(1), spec(2)), "ready");
        assertTrue(s.isWarmingUp(System.nanoTime()));

        Server other = server(t, 1);
        tables.publish(List.of(spec(1, 3, AdminState.UP, "default"), spec(2)), "weight");
        assertFalse(other.isWarmingUp(System.nanoTime()));
        tables.publish(List.of(spec(1, 0, AdminState.UP, "default"), spec(2)), "maint");
        tables.publish(List.of(spec(1, 3, AdminState.UP, "default"), spec(2)), "ready again");
        assertTrue(other.isWarmingUp(System.nanoTime()));
    }

    @Test
    void withoutSlowStartNothingWarmsUp() {
        TableHolder plain = new TableHolder(1, List.of(), pool -> PoolPolicy.DEFAULT);
        plain.publish(List.of(spec(1)), "start");
        BackendTable t = plain.publish(List.of(spec(1), spec(2)), "join");
        Server joined = server(t, 2);
        joined.setActiveUp(false, "test");
        joined.setActiveUp(true, "test");
        assertEquals(16, joined.effectiveWeight(System.nanoTime()));
    }
}
