package io.grapevine.proxy.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.ProxyConfig;
import io.grapevine.proxy.stats.ProxyStats;
import io.grapevine.proxy.table.TableHolder;
import io.grapevine.proxy.testing.LogCapture;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Direct memory near its limit: each loop's sweep closes the client connections that have taken too little for over
 * {@link MemoryPressure#STALLED_NANOS}, and only those, and only then.
 */
class MemoryPressureTest {

    private static final long LIMIT = 100 << 20;

    @RegisterExtension
    final LogCapture log = new LogCapture(MemoryPressure.class);

    /**
     * A client connection on its own channel, stalled since a given time (0: taking what it is sent), with HTTP/2
     * streams of its own stalled since given times.
     */
    private static final class Connection implements ClientConnection {
        final EmbeddedChannel channel = new EmbeddedChannel();
        final long stalledSince;
        final List<Long> streamsStalledSince = new ArrayList<>();

        Connection(long stalledSince, long... streamsStalledSince) {
            this.stalledSince = stalledSince;
            for (long s : streamsStalledSince) {
                this.streamsStalledSince.add(s);
            }
        }

        @Override
        public int shedStalledStreams(long nowNanos) {
            int before = streamsStalledSince.size();
            streamsStalledSince.removeIf(s -> MemoryPressure.isShed(s, nowNanos));
            return before - streamsStalledSince.size();
        }

        @Override
        public void checkDeadlines(long nowNanos) {
        }

        @Override
        public void beginDrain() {
        }

        @Override
        public void closeAfterNextResponse() {
        }

        @Override
        public long stalledSinceNanos() {
            return stalledSince;
        }

        @Override
        public Channel channel() {
            return channel;
        }
    }

    private final AtomicLong used = new AtomicLong();
    private final ProxyStats stats = new ProxyStats();

    private LoopContext loop(MemoryPressure pressure) throws Exception {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": 8001}]}",
                "(test)");
        TableHolder tables = new TableHolder(1, config.routes(), config::policyOf);
        tables.publish(config.servers(), "test");
        return new LoopContext(0, new EmbeddedChannel().eventLoop(), config, tables, stats,
                (server, handler) -> {
                    throw new AssertionError("nothing is dialled");
                }, LoopContext.backendShortage(0), pressure);
    }

    @Test
    void underPressureOnlyTheConnectionsStalledForOverASecondAreClosed() throws Exception {
        LoopContext loop = loop(new MemoryPressure(LIMIT, used::get));
        long now = System.nanoTime();
        Connection stalledLong = new Connection(now - TimeUnit.SECONDS.toNanos(3));
        Connection stalledBriefly = new Connection(now - TimeUnit.MILLISECONDS.toNanos(300));
        Connection reading = new Connection(0);
        for (Connection c : new Connection[] {stalledLong, stalledBriefly, reading}) {
            loop.register(c);
        }

        used.set(LIMIT - (32 << 20)); // at the threshold (the limit less 32 MiB, more than a tenth), not over it
        loop.sweep();
        assertTrue(stalledLong.channel.isOpen(), "no pressure: a client that reads nothing is the idle timeout's");
        assertEquals(0, stats.connectionsShed.sum());
        assertTrue(log.messages().isEmpty(), log.messages().toString());

        used.set(LIMIT - (1 << 20));
        loop.sweep();
        assertFalse(stalledLong.channel.isOpen(), "stalled for 3 s under pressure: closed");
        assertTrue(stalledBriefly.channel.isOpen(), "stalled for less than a second: a client that reads, slowly");
        assertTrue(reading.channel.isOpen());
        assertEquals(1, stats.connectionsShed.sum());
        assertEquals(1, log.messages().size(), log.messages().toString());
        assertTrue(log.messages().get(0).startsWith("direct memory 99 MiB, within 32 MiB of its 100 MiB limit: closed 1"
                + " client connections and reset 0 HTTP/2 streams that had taken too little of their responses for over"
                + " 1000 ms"), log.messages().get(0));
    }

    /**
     * Of a connection that takes what it is sent, the HTTP/2 streams whose responses waited for a window for over a
     * second are reset, and only under pressure; a stalled connection is closed whole.
     */
    @Test
    void underPressureTheStreamsStalledForOverASecondOfAConnectionThatReadsAreReset() throws Exception {
        LoopContext loop = loop(new MemoryPressure(LIMIT, used::get));
        long now = System.nanoTime();
        long longAgo = now - TimeUnit.SECONDS.toNanos(3);
        Connection reading = new Connection(0, longAgo, longAgo, now - TimeUnit.MILLISECONDS.toNanos(300), 0);
        Connection stalled = new Connection(longAgo, longAgo);
        loop.register(reading);
        loop.register(stalled);

        used.set(LIMIT / 2);
        loop.sweep();
        assertEquals(4, reading.streamsStalledSince.size(), "no pressure: the streams are client_idle_ms's");

        used.set(LIMIT - (1 << 20));
        loop.sweep();
        assertEquals(List.of(now - TimeUnit.MILLISECONDS.toNanos(300), 0L), reading.streamsStalledSince,
                "the two stalled for 3 s are reset; the one stalled briefly and the one taking its response stay");
        assertTrue(reading.channel.isOpen(), "the connection itself takes what it is sent");
        assertFalse(stalled.channel.isOpen(), "a stalled connection is closed whole");
        assertEquals(1, stalled.streamsStalledSince.size(), "not reset stream by stream first");
        assertEquals(2, stats.http2StreamsShed.sum());
        assertEquals(1, stats.connectionsShed.sum());
        assertTrue(log.messages().get(0).contains(": closed 1 client connections and reset 2 HTTP/2 streams"),
                log.messages().toString());
    }

    @Test
    void theRoomLeftIsATenthOfTheLimitOr32MiBAndTheThresholdAtLeastHalf() {
        assertEquals((1L << 30) - (1L << 30) / 10, MemoryPressure.threshold(1L << 30), "1 GiB: a tenth");
        assertEquals(80L - 32, MemoryPressure.threshold(80L << 20) >> 20, "80 MiB: 32 MiB");
        assertEquals(24L, MemoryPressure.threshold(48L << 20) >> 20, "48 MiB: half");
    }

    @Test
    void withoutAKnownLimitNothingIsEverShed() throws Exception {
        LoopContext loop = loop(new MemoryPressure(-1, () -> Long.MAX_VALUE));
        Connection stalled = new Connection(System.nanoTime() - TimeUnit.SECONDS.toNanos(3));
        loop.register(stalled);
        loop.sweep();
        assertTrue(stalled.channel.isOpen());
        assertEquals(0, stats.connectionsShed.sum());
    }

    @Test
    void theLineIsWrittenOnceASecondWithWhatWasShedMeanwhile() {
        MemoryPressure pressure = new MemoryPressure(LIMIT, () -> LIMIT);
        long now = System.nanoTime();
        pressure.shed(2, 0, stats, now);
        pressure.shed(3, 5, stats, now + TimeUnit.MILLISECONDS.toNanos(10));
        pressure.shed(4, 1, stats, now + TimeUnit.MILLISECONDS.toNanos(1100));
        assertEquals(9, stats.connectionsShed.sum());
        assertEquals(6, stats.http2StreamsShed.sum());
        assertEquals(2, log.messages().size(), log.messages().toString());
        assertTrue(log.messages().get(0).contains(": closed 2 client connections and reset 0 HTTP/2 streams"),
                log.messages().get(0));
        assertTrue(log.messages().get(1).contains(": closed 7 client connections and reset 6 HTTP/2 streams")
                && log.messages().get(1).endsWith(", 9 and 6 since the start (connections_shed, http2_streams_shed)"),
                log.messages().get(1));
    }
}
