package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.ChannelException;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Errors;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.ConnectException;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DescriptorsTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void nativeTransportLoaded() {
        Epoll.ensureAvailability(); // NativeIoException's message is the native strerror(3)
    }

    @Test
    void aSocketTheProcessCouldNotMakeIsExhaustionHoweverDeepItsCause() {
        // As a failed connect's channel creation reports it: ReflectiveChannelFactory's ChannelException around the
        // constructor's InvocationTargetException around the native socket(2)'s errno.
        Throwable emfile = new ChannelException("Unable to create Channel from class EpollSocketChannel",
                new InvocationTargetException(new ChannelException(
                        new Errors.NativeIoException("newSocketStream", -24))));
        assertTrue(Descriptors.exhausted(emfile));
        assertTrue(Descriptors.exhausted(new Errors.NativeIoException("accept", -23))); // ENFILE: the host's table
        assertTrue(Descriptors.exhausted(new Errors.NativeIoException("newSocketStream", -105))); // ENOBUFS
        assertTrue(Descriptors.exhausted(new SocketException("Too many open files"))); // the NIO transport's accept
        assertTrue(Descriptors.exhausted(new IOException("Too many open files in system")));
    }

    @Test
    void whatAPeerDidIsNotExhaustion() {
        assertFalse(Descriptors.exhausted(new ConnectException("Connection refused")));
        assertFalse(Descriptors.exhausted(new Errors.NativeIoException("connect", -111))); // ECONNREFUSED
        assertFalse(Descriptors.exhausted(new Errors.NativeIoException("read", -104))); // ECONNRESET
        assertFalse(Descriptors.exhausted(new ChannelException("Unable to create Channel", new IllegalStateException())));
        assertFalse(Descriptors.exhausted(null));
    }

    @Test
    void aConnectWithNoLocalPortFreeIsALocalShortageButNoExhaustionOfDescriptors() {
        // epoll's and NIO's connect report EADDRNOTAVAIL as a plain ConnectException with the system's text.
        Throwable epoll = new ConnectException("connect(..) failed: Cannot assign requested address: /10.0.0.7:8080");
        assertTrue(Descriptors.noLocalPort(epoll));
        assertTrue(Descriptors.localShortage(epoll));
        assertFalse(Descriptors.exhausted(epoll));
        assertTrue(Descriptors.noLocalPort(new Errors.NativeIoException("connect", -99)));
        assertTrue(Descriptors.localShortage(new Errors.NativeIoException("newSocketStream", -24)));
        assertFalse(Descriptors.noLocalPort(new ConnectException("Connection refused")));
        assertFalse(Descriptors.localShortage(new ConnectException("connect(..) failed: Connection refused")));
        assertFalse(Descriptors.localShortage(null));
    }

    @Test
    void aCycleInTheCausesEnds() {
        IOException a = new IOException("a");
        IOException b = new IOException("b", a);
        a.initCause(b);
        assertFalse(Descriptors.exhausted(a));
    }

    @Test
    void theSoftLimitIsReadFromTheLimitsFile() throws IOException {
        Path limits = dir.resolve("limits");
        Files.writeString(limits, """
                Limit                     Soft Limit           Hard Limit           Units
                Max processes             95432                95432                processes
                Max open files            4096                 524288               files
                """);
        assertEquals(4096, Descriptors.limit(limits));
        Files.writeString(limits, "Max open files            unlimited            unlimited            files\n");
        assertEquals(Long.MAX_VALUE, Descriptors.limit(limits));
        assertEquals(-1, Descriptors.limit(dir.resolve("absent")));
    }

    @Test
    void thisProcessHasALimitAndOpenFilesBelowIt() {
        long limit = Descriptors.limit();
        long open = Descriptors.open();
        assertTrue(limit > 0, "limit " + limit);
        assertTrue(open > 0 && open <= limit, open + " open of " + limit);
    }
}
