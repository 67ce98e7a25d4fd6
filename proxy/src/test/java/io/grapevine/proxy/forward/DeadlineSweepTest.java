package io.grapevine.proxy.forward;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The deadline sweep of an event loop is what enforces every connection's timeouts: one connection whose check fails
 * must not stop it, for that connection or for the others.
 */
class DeadlineSweepTest {

    @RegisterExtension
    final LogCapture log = new LogCapture(LoopContext.class);

    /** A client connection on its own channel, whose deadline check counts its calls, or throws. */
    private static final class Connection implements ClientConnection {
        final EmbeddedChannel channel = new EmbeddedChannel();
        final boolean faulty;
        int checks;

        Connection(boolean faulty) {
            this.faulty = faulty;
        }

        @Override
        public void checkDeadlines(long nowNanos) {
            checks++;
            if (faulty) {
                throw new IllegalStateException("a state the check did not foresee");
            }
        }

        @Override
        public void beginDrain() {
        }

        @Override
        public void closeAfterNextResponse() {
        }

        @Override
        public Channel channel() {
            return channel;
        }
    }

    @Test
    void aConnectionWhoseDeadlineCheckFailsIsClosedAndTheOthersAreStillChecked() throws Exception {
        ProxyConfig config = ConfigLoader.parse("{\"backend_servers\": [{\"ip\": \"127.0.0.1\", \"port\": 8001}]}",
                "(test)");
        TableHolder tables = new TableHolder(1, config.routes(), config::policyOf);
        tables.publish(config.servers(), "test");
        EmbeddedChannel loopChannel = new EmbeddedChannel();
        LoopContext loop = new LoopContext(0, loopChannel.eventLoop(), config, tables, new ProxyStats(),
                (server, handler) -> {
                    throw new AssertionError("nothing is dialled");
                });
        Connection faulty = new Connection(true);
        List<Connection> healthy = new ArrayList<>();
        loop.register(faulty);
        for (int i = 0; i < 8; i++) {
            Connection c = new Connection(false);
            healthy.add(c);
            loop.register(c);
        }

        // The sweep runs as a periodic task of the loop: one that throws is never run again, and from then on no
        // connection of the loop would time out.
        assertDoesNotThrow(loop::sweep);
        assertDoesNotThrow(loop::sweep);

        for (Connection c : healthy) {
            assertEquals(2, c.checks, "every other connection is checked at each sweep");
            assertTrue(c.channel.isOpen());
        }
        assertEquals(1, faulty.checks, "checked once: its state is unknown from then on");
        assertFalse(faulty.channel.isOpen(), "and it is closed");
        assertTrue(log.messages().stream().anyMatch(m -> m.contains("deadlines could not be checked")),
                log.messages().toString());
    }
}
