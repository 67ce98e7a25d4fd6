package io.grapevine.proxy.lb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.Balance;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every algorithm that uses weights balances with the effective ones, which slow start lowers for a while. */
class SlowStartTest {

    private static final int PICKS = 40_000;

    private static double shareOf(FakeEndpoint target, Balancer<FakeEndpoint> b) {
        int n = 0;
        for (int i = 0; i < PICKS; i++) {
            if (b.pick(0, null) == target) {
                n++;
            }
        }
        return n / (double) PICKS;
    }

    @Test
    void roundRobinGivesAWarmingServerItsEffectiveShare() {
        FakeEndpoint a = new FakeEndpoint("a", 1);
        FakeEndpoint b = new FakeEndpoint("b", 1);
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, List.of(a, b), List.of());
        b.effective = 4; // a quarter of its weight: 4 / (16 + 4) of the requests
        assertEquals(0.2, shareOf(b, rr), 0.015);
        b.effective = 12;
        assertEquals(12 / 28.0, shareOf(b, rr), 0.015);
        b.effective = -1;
        assertEquals(0.5, shareOf(b, rr), 0.001, "warm again: strict rotation");
    }

    @Test
    void roundRobinWithUnequalWeightsStaysProportional() {
        FakeEndpoint a = new FakeEndpoint("a", 3);
        FakeEndpoint b = new FakeEndpoint("b", 1);
        FakeEndpoint c = new FakeEndpoint("c", 2);
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, List.of(a, b, c), List.of());
        c.effective = 8; // a quarter of its weight of 2
        double total = 48 + 16 + 8;
        assertEquals(8 / total, shareOf(c, rr), 0.015);
        assertEquals(48 / total, shareOf(a, rr), 0.015);
    }

    @Test
    void leastConnectionsSendsToAWarmingServerOnlyAsOthersFillUp() {
        FakeEndpoint a = new FakeEndpoint("a", 1);
        FakeEndpoint b = new FakeEndpoint("b", 1);
        Balancer<FakeEndpoint> lc = Balancers.create(Balance.LEASTCONN, List.of(a, b), List.of());
        b.effective = 2; // an eighth of its weight: (0 + 1) / 2 = 0.5 per sixteenth
        a.inFlight = 6; // (6 + 1) / 16 = 0.44
        assertSame(a, lc.pick(0, null));
        a.inFlight = 8; // 0.56
        assertSame(b, lc.pick(0, null));
        b.effective = -1;
        a.inFlight = 1;
        assertSame(b, lc.pick(0, null), "warm and idle: it wins");
    }

    @Test
    void powerOfTwoChoicesWeighsTheDrawsByEffectiveWeight() {
        FakeEndpoint a = new FakeEndpoint("a", 1);
        FakeEndpoint b = new FakeEndpoint("b", 1);
        Balancer<FakeEndpoint> p2c = Balancers.create(Balance.P2C, List.of(a, b), List.of());
        a.inFlight = 6;
        b.effective = 2;
        // Two distinct draws: a wins. The same one twice (half the time): that one.
        assertEquals(0.25, shareOf(b, p2c), 0.02);
        b.effective = -1;
        assertEquals(0.75, shareOf(b, p2c), 0.02);
    }

    @Test
    void nothingChangesWithoutAWarmingServer() {
        FakeEndpoint a = new FakeEndpoint("a", 2);
        FakeEndpoint b = new FakeEndpoint("b", 1);
        Balancer<FakeEndpoint> rr = Balancers.create(Balance.ROUNDROBIN, List.of(a, b), List.of());
        StringBuilder seq = new StringBuilder();
        for (int i = 0; i < 6; i++) {
            seq.append(rr.pick(0, null).key);
        }
        assertEquals("abaaba", seq.toString());
        assertTrue(shareOf(a, rr) > 0.66);
    }
}
