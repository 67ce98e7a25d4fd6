package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The listener's handler on an {@link EmbeddedChannel} standing for the listening channel. */
class AcceptFailuresTest {

    @RegisterExtension
    final LogCapture logs = new LogCapture(AcceptFailures.class);

    private final LongAdder failures = new LongAdder();
    /** What would reach the bootstrap's acceptor behind it. */
    private final List<Object> passedOn = new ArrayList<>();
    private final List<Throwable> errorsPassedOn = new ArrayList<>();

    /**
     * Its clock stands still but for {@link #after}: an embedded channel's clock otherwise runs on with real time, and
     * a thread held up a millisecond (a loaded machine) would make a pause look over before the test moved the clock.
     */
    private EmbeddedChannel listener() {
        EmbeddedChannel ch = new EmbeddedChannel(new AcceptFailures("client listener", failures),
                new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        passedOn.add(msg);
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        errorsPassedOn.add(cause);
                    }
                });
        ch.freezeTime();
        return ch;
    }

    private static void after(EmbeddedChannel ch, long millis) {
        ch.advanceTimeBy(millis, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
    }

    @Test
    void outOfDescriptorsPausesTheListenerAndWarnsOncePerEpisode() {
        EmbeddedChannel ch = listener();
        ch.pipeline().fireExceptionCaught(new IOException("accept(..) failed: Too many open files"));
        assertFalse(ch.config().isAutoRead(), "still reading");
        assertEquals(1, failures.sum());
        assertTrue(errorsPassedOn.isEmpty(), "the failure went on to the bootstrap's acceptor");

        after(ch, AcceptFailures.EXHAUSTED_PAUSE_MILLIS - 1);
        assertFalse(ch.config().isAutoRead(), "read again before the pause ended");
        after(ch, 1);
        assertTrue(ch.config().isAutoRead(), "not reading again after the pause");

        // a connection accepted, then the limit reached again: the same episode
        Object accepted = new Object();
        ch.pipeline().fireChannelRead(accepted);
        assertEquals(List.of(accepted), passedOn);
        after(ch, AcceptFailures.QUIET_MILLIS / 2);
        ch.pipeline().fireExceptionCaught(new IOException("accept(..) failed: Too many open files"));
        assertFalse(ch.config().isAutoRead());
        assertEquals(2, failures.sum());
        after(ch, AcceptFailures.EXHAUSTED_PAUSE_MILLIS);
        assertTrue(ch.config().isAutoRead());
        assertEquals(1, logs.messages(Level.WARN).size(), logs.toString());
        String warning = logs.messages(Level.WARN).get(0);
        assertTrue(warning.contains("client listener") && warning.contains("Too many open files")
                && warning.contains("of a limit of") && warning.contains("kernel's backlog")
                && warning.contains("LimitNOFILE") && warning.contains("limits.max_connections"), warning);
        assertTrue(logs.messages(Level.INFO).isEmpty(), "over before a quiet period: " + logs);

        after(ch, AcceptFailures.QUIET_MILLIS);
        assertEquals(1, logs.messages(Level.INFO).size(), logs.toString());
        assertTrue(logs.messages(Level.INFO).get(0).matches(".*accepting again after \\d+ ms out of file descriptors,"
                + " 2 accept failures"), logs.toString());
        assertFalse(ch.finishAndReleaseAll());
    }

    @Test
    void aNewEpisodeAfterAQuietPeriodWarnsAgain() {
        EmbeddedChannel ch = listener();
        ch.pipeline().fireExceptionCaught(new IOException("Too many open files"));
        after(ch, AcceptFailures.EXHAUSTED_PAUSE_MILLIS);
        after(ch, AcceptFailures.QUIET_MILLIS);
        assertEquals(1, logs.messages(Level.INFO).size(), logs.toString());
        ch.pipeline().fireExceptionCaught(new IOException("Too many open files"));
        assertEquals(2, logs.messages(Level.WARN).size(), logs.toString());
        assertFalse(ch.finishAndReleaseAll());
    }

    @Test
    void anyOtherFailurePausesASecondWithOneLineAndNoStackTrace() {
        EmbeddedChannel ch = listener();
        ch.pipeline().fireExceptionCaught(new IOException("Connection aborted"));
        assertFalse(ch.config().isAutoRead());
        assertEquals(1, failures.sum());
        assertTrue(errorsPassedOn.isEmpty());
        after(ch, AcceptFailures.OTHER_PAUSE_MILLIS - 1);
        assertFalse(ch.config().isAutoRead());
        after(ch, 1);
        assertTrue(ch.config().isAutoRead());
        assertEquals(1, logs.messages(Level.WARN).size(), logs.toString());
        assertTrue(logs.messages(Level.WARN).get(0).contains("Connection aborted"), logs.toString());
        assertFalse(ch.finishAndReleaseAll());
    }
}
