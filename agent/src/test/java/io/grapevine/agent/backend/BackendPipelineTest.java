package io.grapevine.agent.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The whole per-connection pipeline in memory, bytes in and bytes out, with a fake worker. */
class BackendPipelineTest {
    private final FakeWorker worker = new FakeWorker(5, true);
    private final EmbeddedChannel channel = new EmbeddedChannel(new BackendChannelInitializer(worker));

    @AfterEach
    void nothingLeftOver() {
        assertFalse(channel.finishAndReleaseAll(), "messages left unread in the channel");
    }

    @Test
    void rootAnswersWithTheWorkerIdAndIsCounted() {
        String response = send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");

        assertTrue(response.startsWith("HTTP/1.1 200 OK\r\n"), response);
        assertTrue(response.contains("\r\nX-Backend-Id: 5\r\n"), response);
        assertTrue(response.endsWith("\r\n\r\nHello, I am ID 5\n"), response);
        assertEquals(1, worker.requests);
    }

    @Test
    void aSlowResponseHoldsBackPipelinedRequestsUntilItIsWritten() {
        channel.freezeTime();
        String early = send("GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assertEquals("", early);
        assertFalse(channel.config().isAutoRead(), "reading pauses while requests wait");

        channel.advanceTimeBy(999, TimeUnit.MILLISECONDS);
        channel.runScheduledPendingTasks();
        assertEquals("", outbound());

        channel.advanceTimeBy(1, TimeUnit.MILLISECONDS);
        channel.runScheduledPendingTasks();
        String both = outbound();
        int slow = both.indexOf("waited 1000 ms\n");
        int health = both.indexOf("ok\n");
        assertTrue(slow > 0 && health > slow, both);
        assertTrue(channel.config().isAutoRead(), "reading resumes once the queue is empty");
        assertEquals(2, worker.requests);
    }

    @Test
    void queuedRequestsAreReleasedWhenTheConnectionCloses() {
        channel.freezeTime();
        send("GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
        channel.close();
        channel.advanceTimeBy(2, TimeUnit.SECONDS);
        channel.runScheduledPendingTasks();
        assertEquals("", outbound(), "the cancelled /slow wrote nothing");
        // LeakGuard fails the class if the queued body was not released.
    }

    @Test
    void crashStopsListeningBeforeAnsweringAndDropsConnectionsAfter() {
        String response = send("GET /crash HTTP/1.1\r\nHost: x\r\n\r\n");

        assertTrue(response.endsWith("\r\n\r\ncrashing\n"), response);
        assertTrue(response.contains("\r\nconnection: close\r\n"), response);
        assertEquals(List.of("stopListening", "dropConnections"), worker.events);
    }

    @Test
    void malformedRequestIsAnsweredAndTheConnectionClosed() {
        String response = send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n");

        assertTrue(response.startsWith("HTTP/1.1 400 Bad Request\r\n"), response);
        assertFalse(channel.isOpen());
    }

    @Test
    void chunkedEchoWithTrailers() {
        String response = send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "4\r\nabcd\r\n0\r\nX-Digest: 1\r\n\r\n");

        assertTrue(response.contains("\r\nX-Body-Length: 4\r\n"), response);
        assertTrue(response.endsWith("body-length: 4\ntrailer: X-Digest: 1\n"), response);
    }

    @Test
    void aConnectionAcceptedAfterTheWorkerStoppedIsClosedAtOnce() {
        EmbeddedChannel late = new EmbeddedChannel(new BackendChannelInitializer(new FakeWorker(1, false)));
        assertFalse(late.isOpen());
        assertFalse(late.finishAndReleaseAll());
    }

    private String send(String request) {
        // From the channel's (pooled, leak-tracked) allocator, like a socket read.
        channel.writeInbound(ByteBufUtil.writeAscii(channel.alloc(), request));
        channel.runPendingTasks();
        return outbound();
    }

    private String outbound() {
        StringBuilder text = new StringBuilder();
        for (Object msg; (msg = channel.readOutbound()) != null; ) {
            ByteBuf bytes = (ByteBuf) msg;
            text.append(bytes.toString(StandardCharsets.ISO_8859_1));
            bytes.release();
        }
        return text.toString();
    }

    private static final class FakeWorker implements WorkerControl {
        final List<String> events = new CopyOnWriteArrayList<>();
        private final int id;
        private final boolean accepting;
        volatile int requests;

        FakeWorker(int id, boolean accepting) {
            this.id = id;
            this.accepting = accepting;
        }

        @Override
        public int id() {
            return id;
        }

        @Override
        public boolean adopt(Channel connection) {
            return accepting;
        }

        @Override
        public void requestReceived() {
            requests++;
        }

        @Override
        public void stopListening() {
            events.add("stopListening");
        }

        @Override
        public void dropConnections() {
            events.add("dropConnections");
        }
    }
}
