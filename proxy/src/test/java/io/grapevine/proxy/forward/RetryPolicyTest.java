package io.grapevine.proxy.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.forward.RetryPolicy.Action;
import io.grapevine.proxy.forward.RetryPolicy.Decision;
import io.grapevine.proxy.forward.RetryPolicy.Facts;
import org.junit.jupiter.api.Test;

/** Every branch of "failure -> retry or status" (RFC 9110 section 9.2.2 and 15.6). */
class RetryPolicyTest {

    private final RetryPolicy policy = new RetryPolicy(2);

    private Decision decide(Failure f, boolean reused, boolean started, boolean idempotent, boolean committed,
                            int retries) {
        return policy.decide(new Facts(f, reused, started, idempotent, committed, retries));
    }

    @Test
    void aRequestThatNeverLeftTheProxyGoesElsewhereWhateverItsMethod() {
        for (Failure f : new Failure[] {Failure.CONNECT_REFUSED, Failure.CONNECT_TIMEOUT}) {
            assertEquals(Action.RETRY_OTHER_SERVER, decide(f, false, false, false, false, 0).action());
            assertEquals(Action.RETRY_OTHER_SERVER, decide(f, false, false, false, true, 1).action());
        }
    }

    /**
     * A connect the proxy had no file descriptor for: the proxy lacks the resource, not the server. 503 at once, no
     * retry (a connect elsewhere needs a descriptor too, and would spend the retry budget in vain), and no failure of
     * the server's for passive health.
     */
    @Test
    void aConnectWithNoDescriptorIsAnswered503AtOnceAndIsNotTheServersFailure() {
        assertEquals(new Decision(Action.ANSWER, 503), decide(Failure.NO_SOCKET, false, false, true, false, 0));
        assertEquals(new Decision(Action.ANSWER, 503), policy.decide(new Facts(Failure.NO_SOCKET, false, false,
                true, false, 0), new RetryBudget(0, 0, 1), System.nanoTime()), "no retry budget withdrawn or denied");
        assertFalse(RetryPolicy.countsAgainstServer(Failure.NO_SOCKET, false));
        assertEquals(503, RetryPolicy.statusFor(Failure.NO_SOCKET));
    }

    @Test
    void retriesStopAtTheLimitWithTheStatusOfTheFailure() {
        assertEquals(new Decision(Action.ANSWER, 503), decide(Failure.CONNECT_REFUSED, false, false, true, false, 2));
        assertEquals(new Decision(Action.ANSWER, 504), decide(Failure.CONNECT_TIMEOUT, false, false, true, false, 2));
        assertEquals(new Decision(Action.ANSWER, 502), decide(Failure.CLOSED_EARLY, false, false, true, false, 2));
    }

    @Test
    void aRequestThatMayHaveBeenProcessedIsReplayedOnlyWhenIdempotentAndUncommitted() {
        assertEquals(Action.RETRY_OTHER_SERVER, decide(Failure.CLOSED_EARLY, false, false, true, false, 0).action());
        assertEquals(new Decision(Action.ANSWER, 502), decide(Failure.CLOSED_EARLY, false, false, false, false, 0));
        assertEquals(new Decision(Action.ANSWER, 502), decide(Failure.CLOSED_EARLY, false, false, true, true, 0));
    }

    @Test
    void garbageAndTimeoutsAreNeverReplayed() {
        assertEquals(new Decision(Action.ANSWER, 502), decide(Failure.BAD_RESPONSE, false, false, true, false, 0));
        assertEquals(new Decision(Action.ANSWER, 504), decide(Failure.TIMEOUT, false, false, true, false, 0));
    }

    @Test
    void aStaleKeepAliveGoesToTheSameServerAgainEvenAtTheRetryLimit() {
        assertEquals(Action.RETRY_SAME_SERVER, decide(Failure.CLOSED_EARLY, true, false, true, false, 2).action());
        assertEquals(new Decision(Action.ANSWER, 502), decide(Failure.CLOSED_EARLY, true, false, false, false, 0),
                "but never for a request that must not be replayed");
        assertFalse(RetryPolicy.countsAgainstServer(Failure.CLOSED_EARLY, true));
        assertTrue(RetryPolicy.countsAgainstServer(Failure.CLOSED_EARLY, false));
        assertTrue(RetryPolicy.countsAgainstServer(Failure.CONNECT_REFUSED, true));
    }

    @Test
    void aHostThatStoppedAcknowledgingIsLeftForAnotherServerWhenTheRequestMayBeReplayed() {
        // On a reused keep-alive connection too: silence from a host is no keep-alive race.
        assertEquals(Action.RETRY_OTHER_SERVER, decide(Failure.UNREACHABLE, true, false, true, false, 0).action());
        assertEquals(Action.RETRY_OTHER_SERVER, decide(Failure.UNREACHABLE, false, false, true, false, 1).action());
        assertEquals(new Decision(Action.ANSWER, 504), decide(Failure.UNREACHABLE, true, false, false, false, 0),
                "a request that must not be replayed gets the answer a timeout gets");
        assertEquals(new Decision(Action.ANSWER, 504), decide(Failure.UNREACHABLE, false, false, true, true, 0));
        assertEquals(new Decision(Action.ANSWER, 504), decide(Failure.UNREACHABLE, false, false, true, false, 2));
        assertTrue(RetryPolicy.countsAgainstServer(Failure.UNREACHABLE, true));
    }

    @Test
    void aResponseThatStartedCanOnlyBeCutOff() {
        for (Failure f : Failure.values()) {
            assertEquals(Action.ABORT_RESPONSE, decide(f, false, true, true, false, 0).action());
        }
    }

    @Test
    void noServerAtAllIs503() {
        assertEquals(503, RetryPolicy.statusFor(null));
    }

    @Test
    void aRetryTheBudgetCannotPayIsAnsweredAsIfRetriesWereExhausted() {
        long now = 1_000_000_000L;
        RetryBudget budget = new RetryBudget(50, 0, now);
        Facts refused = new Facts(Failure.CONNECT_REFUSED, false, false, true, false, 0);
        assertEquals(new Decision(Action.ANSWER, 503, true), policy.decide(refused, budget, now), "nothing deposited");
        budget.deposit(now);
        budget.deposit(now);
        assertEquals(Action.RETRY_OTHER_SERVER, policy.decide(refused, budget, now).action(), "two requests at 50 %");
        assertEquals(new Decision(Action.ANSWER, 504, true),
                policy.decide(new Facts(Failure.CONNECT_TIMEOUT, false, false, true, false, 1), budget, now));
    }

    @Test
    void theStaleKeepAliveRetryAndTheLastAnswerNeedNoBudget() {
        long now = 1_000_000_000L;
        RetryBudget empty = new RetryBudget(0, 0, now);
        assertEquals(Action.RETRY_SAME_SERVER,
                policy.decide(new Facts(Failure.CLOSED_EARLY, true, false, true, false, 0), empty, now).action());
        assertEquals(new Decision(Action.ANSWER, 503), policy.decide(
                new Facts(Failure.CONNECT_REFUSED, false, false, true, false, 2), empty, now),
                "out of retries anyway: not a denial");
        assertEquals(new Decision(Action.ANSWER, 502), policy.decide(
                new Facts(Failure.BAD_RESPONSE, false, false, true, false, 0), empty, now), "never retried: not a denial");
    }
}
