package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.grapevine.proxy.testing.Await;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.channel.ChannelException;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Errors;
import java.net.SocketException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

class SocketShortageTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(SocketShortageTest.class);

    @BeforeAll
    static void nativeTransportLoaded() {
        Epoll.ensureAvailability(); // NativeIoException's message is the native strerror(3)
    }

    /** Made once the native library is loaded, which NativeIoException needs (its class fails to load before). */
    private static Throwable emfile() {
        return new ChannelException("Unable to create Channel from class class io.netty.channel.epoll.EpollSocketChannel",
                new Errors.NativeIoException("newSocketStream", -24));
    }

    private SocketShortage shortage(long quietMillis) {
        return new SocketShortage(LoggerFactory.getLogger(SocketShortageTest.class), "Things",
                "Meanwhile this.", TimeUnit.MILLISECONDS.toNanos(quietMillis));
    }

    /**
     * At the limit sockets open and fail by turns: one episode, one line when it starts and one when sockets opened
     * for the quiet time without a failure; then the next failure starts another.
     */
    @Test
    void anEpisodeIsLoggedOnceWhenItStartsAndOnceWhenItIsOver() throws Exception {
        SocketShortage s = shortage(300);
        s.opened();
        assertFalse(s.isShort());
        for (int i = 0; i < 5; i++) {
            s.failed(emfile());
            s.opened(); // within the quiet time of the failure: the episode goes on
        }
        assertTrue(s.isShort());
        assertEquals(1, log.messages(Level.WARN).size(), log.toString());
        String warning = log.messages(Level.WARN).get(0);
        assertTrue(warning.startsWith("Things cannot open sockets: the process is out of file descriptors (too many"
                + " open files; open-files limit "), warning);
        assertTrue(warning.contains(" open). Meanwhile this. Raise the limit (LimitNOFILE= in the systemd unit, ulimit"
                + " -n) or lower limits.max_connections"), warning);
        assertEquals(0, log.messages(Level.INFO).size(), log.toString());

        Await.until(Duration.ofSeconds(10), "the episode over after its quiet time", () -> {
            s.opened();
            return !s.isShort();
        });
        assertEquals(1, log.messages(Level.INFO).size(), log.toString());
        assertTrue(log.messages(Level.INFO).get(0).startsWith("Things open sockets again; the shortage lasted "),
                log.toString());

        s.failed(emfile());
        assertEquals(2, log.messages(Level.WARN).size(), log.toString());
    }

    @Test
    void theDetailNamesTheSystemsWordsAndTheLimit() {
        SocketShortage s = shortage(0);
        long limit = Descriptors.limit();
        String suffix = limit > 0 ? " (limit " + limit + ")" : "";
        assertEquals("no socket: too many open files" + suffix, s.detail(emfile()));
        assertEquals("no socket: too many open files" + suffix, s.detail(new SocketException("Too many open files")));
        assertEquals("no socket: no buffer space available" + suffix,
                s.detail(new Errors.NativeIoException("newSocketStream", -105)));
    }
}
