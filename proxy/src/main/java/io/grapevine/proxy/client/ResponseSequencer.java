package io.grapevine.proxy.client;

import io.grapevine.proxy.forward.Exchange;
import io.netty.buffer.ByteBuf;
import java.util.ArrayDeque;

/**
 * The order of responses on one HTTP/1.1 connection (pipelining, RFC 9112 section 9.3.2): responses go to
 * the client in the order their requests arrived, however the exchanges were spread over servers and
 * whichever answered first. This is the only place that knows that order.
 *
 * <p>The first response in line is written as it is produced; the others are held by their streams, up to
 * {@link #MAX_HELD_BYTES} each (beyond, their backend stops being read until they are first). When the
 * first response is complete, the next one's held parts are written and it streams on. The first
 * response's backend is paused while the client cannot take more (channel not writable).
 *
 * <p>Thread: the client channel's event loop.
 */
final class ResponseSequencer {

    /** Response bytes held for a pipelined response that is not first in line; beyond, its backend waits. */
    static final int MAX_HELD_BYTES = 256 * 1024;

    private final Http1Connection connection;
    /**
     * Room for one request to begin with (the default is sixteen): most connections never pipeline, and each one
     * that closes after a request made this array for nothing; the deque grows when a client pipelines.
     */
    private final ArrayDeque<Http1Stream> line = new ArrayDeque<>(1);

    ResponseSequencer(Http1Connection connection) {
        this.connection = connection;
    }

    /** A request was read: its response takes the last place in line. */
    void add(Http1Stream stream) {
        line.add(stream);
    }

    int size() {
        return line.size();
    }

    boolean isEmpty() {
        return line.isEmpty();
    }

    /** No request of this connection was read after {@code stream}'s. */
    boolean isLast(Http1Stream stream) {
        return line.peekLast() == stream;
    }

    /** Whether {@code stream} is still in line (its response not completely written). */
    boolean contains(Http1Stream stream) {
        return line.contains(stream);
    }

    /**
     * The first request in line that was read but not forwarded yet and may be forwarded now, or {@code null}. Only
     * safe requests run side by side (RFC 9112 section 9.3.2: a client that pipelines a POST and then a GET expects
     * the GET to see what the POST did): a request that is not safe is forwarded once it is first in line, and the
     * requests behind it wait until its response is complete. A request answered by the proxy itself (no exchange)
     * holds nobody up.
     */
    Http1Stream nextToForward() {
        if (line.size() == 1) { // the usual case, without pipelining: no iterator
            Http1Stream only = line.peekFirst();
            Exchange ex = only.exchange();
            return ex != null && ex.state() == Exchange.State.NEW ? only : null;
        }
        boolean first = true;
        for (Http1Stream s : line) {
            Exchange ex = s.exchange();
            if (ex != null) {
                boolean safe = s.request().safe();
                if (ex.state() == Exchange.State.NEW) {
                    return first || safe ? s : null;
                }
                if (!safe) {
                    return null;
                }
            }
            first = false;
        }
        return null;
    }

    /** A part of {@code stream}'s response: written now if it is first in line, held otherwise. */
    void write(Http1Stream stream, ByteBuf part) {
        if (!connection.isWritingAllowed()) {
            part.release();
            return;
        }
        if (line.peekFirst() == stream) {
            connection.write(part);
            stream.markWritten();
        } else if (stream.hold(part) > MAX_HELD_BYTES && stream.exchange() != null) {
            stream.exchange().pauseResponse(true);
        }
    }

    /** {@code stream} has produced its whole response (written or held). */
    void completed(Http1Stream stream) {
        if (!connection.isWritingAllowed()) {
            retire(stream);
            return;
        }
        Http1Stream first;
        while ((first = line.peekFirst()) != null && first.progress() == Http1Stream.Progress.COMPLETE) {
            line.poll();
            retire(first);
            if (first.closeAfter()) {
                connection.closeAfterFlush();
                return;
            }
            Http1Stream next = line.peekFirst();
            if (next != null) {
                promote(next);
            }
        }
        if (line.isEmpty()) {
            connection.flushIfNeeded();
        } else {
            connection.flushAtEndOfTurn(); // the responses behind may complete in this same turn
        }
        connection.lineAdvanced();
    }

    /** {@code next} became first in line: write what it held, and let its backend go on. */
    private void promote(Http1Stream next) {
        java.util.ArrayDeque<ByteBuf> parts = next.takeHeld();
        if (parts != null) {
            ByteBuf part;
            while ((part = parts.poll()) != null) {
                connection.write(part);
            }
            next.markWritten();
        }
        Exchange ex = next.exchange();
        if (ex != null) {
            ex.pauseResponse(!connection.isChannelWritable());
        }
    }

    /** The client channel's writability changed: only the first response is being written. */
    void clientWritabilityChanged(boolean writable) {
        Http1Stream first = line.peekFirst();
        if (first != null && first.exchange() != null) {
            first.exchange().pauseResponse(!writable);
        }
    }

    /** The client sends nothing more: each exchange in line hears it (in order; some may answer at once). */
    void inputEnded() {
        for (Http1Stream s : new java.util.ArrayList<>(line)) {
            Exchange ex = s.exchange();
            if (ex != null) {
                ex.clientInputEnded();
            }
        }
    }

    /** The connection is gone: every exchange in line is abandoned and everything held released. */
    void abortAll() {
        Http1Stream s;
        while ((s = line.poll()) != null) {
            Exchange ex = s.exchange();
            if (ex != null) {
                ex.abort();
            }
            s.releaseHeld();
        }
    }

    private static void retire(Http1Stream stream) {
        stream.releaseHeld();
        Exchange ex = stream.exchange();
        if (ex != null) {
            ex.release();
        }
    }
}
