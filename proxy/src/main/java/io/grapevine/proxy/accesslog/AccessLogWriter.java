package io.grapevine.proxy.accesslog;

import io.grapevine.cluster.BlockingCalls;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends access log lines to one file on its own thread, so that no event loop ever waits for a disk.
 *
 * <p>Event loops {@link #offer} finished lines into a bounded lock-free queue; when it is full the line is
 * dropped and the caller counts it (a disk that cannot keep up costs log lines, never latency). The writer
 * thread wakes every {@link #FLUSH_INTERVAL_NANOS} (sooner when {@link #WAKE_LINES} lines wait), batches what
 * is queued into one buffer and writes it with one system call per batch, so the file is at most about
 * 100 ms behind. An offer does not wake the writer for each line: under load that cost a futex call and a
 * context switch per request on the event loop's core (measured: 0.66x the req/s of the proxy without a
 * log); now it costs the line's formatting and one queue insertion. The file is opened with {@code O_APPEND}: every write lands at its end, also after
 * logrotate's {@code copytruncate}. {@link #reopen} (SIGHUP, reload) closes and reopens it by name between
 * two batches, which is logrotate's {@code create} mode.
 *
 * <p>Threads: {@link #offer} from any event loop; {@link #reopen} and {@link #close} from any thread; the
 * file is touched by the writer thread only.
 */
final class AccessLogWriter implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AccessLogWriter.class);

    /** How long opening a file that is not a regular one (a FIFO) may take before it counts as failed. */
    static final long OPEN_WAIT_MILLIS = 5000;
    /** Opens the files that are not regular ones, which may block ({@link #open}). */
    private static final BlockingCalls OPENS = new BlockingCalls("grapevine-access-log-open");
    /** Lines queued at most; beyond, lines are dropped. About 20 MB of typical lines. */
    static final int MAX_QUEUED_LINES = 65_536;
    private static final int BATCH_BYTES = 64 * 1024;
    /** How long written lines may wait in the queue: the writer's sleep between batches. */
    static final long FLUSH_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Queued lines that wake the writer before its interval is over (a burst must not reach the cap). */
    static final int WAKE_LINES = 8_192;

    private final Path path;
    private final ConcurrentLinkedQueue<byte[]> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final Thread thread;
    /** The writer thread is about to park (or parked): an offer past {@link #WAKE_LINES} wakes it. */
    private volatile boolean idle;
    private volatile boolean reopenRequested;
    private volatile boolean closed;
    /** Writer thread only (and the constructor, before the thread starts). */
    private FileChannel file;
    private final ByteBuffer batch = ByteBuffer.allocateDirect(BATCH_BYTES);
    /** The last write failure logged, so a full disk logs once and not once per batch. Writer thread only. */
    private String failing;

    /**
     * Opens (creates if need be) {@code path} for appending and starts the writer thread.
     *
     * @throws IOException when the file cannot be opened
     */
    AccessLogWriter(Path path) throws IOException {
        this.path = path;
        this.file = open(path);
        this.thread = new Thread(this::run, "grapevine-access-log");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    Path path() {
        return path;
    }

    /**
     * Opens {@code path} for appending. A file that is not a regular one (a FIFO, {@code /dev/stdout} on a pipe) is
     * opened on a thread of its own, waited for at most {@link #OPEN_WAIT_MILLIS}: opening a FIFO for writing
     * blocks until a process opens it for reading (open(2)), which would hold the start, or the table thread of a
     * reload, for ever. A thread that is still waiting then stays blocked until a reader comes, and closes what it
     * opened.
     */
    static FileChannel open(Path path) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            attributes = null; // created by the open
        }
        if (attributes == null || !attributes.isOther()) {
            return openNow(path);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(OPEN_WAIT_MILLIS);
        CompletableFuture<FileChannel> opening = OPENS.start(() -> openNow(path));
        try {
            return BlockingCalls.await(opening, deadline);
        } catch (TimeoutException e) {
            opening.thenAccept(AccessLogWriter::closeQuietly);
            throw new FileSystemException(path.toString(), null, "a FIFO that no process reads (waited "
                    + OPEN_WAIT_MILLIS + " ms)");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IOException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            opening.thenAccept(AccessLogWriter::closeQuietly);
            throw new InterruptedIOException("interrupted while opening " + path);
        }
    }

    private static FileChannel openNow(Path path) throws IOException {
        return FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("closing an access log opened too late", e);
        }
    }

    /**
     * Queues one complete line (ending with a newline). Never blocks.
     *
     * @return false when the line was dropped: the queue is full, or the writer is closed
     */
    boolean offer(byte[] line) {
        if (closed) {
            return false;
        }
        int n = queued.incrementAndGet();
        if (n > MAX_QUEUED_LINES) {
            queued.decrementAndGet();
            return false;
        }
        queue.offer(line);
        if (n >= WAKE_LINES && idle) {
            LockSupport.unpark(thread);
        }
        return true;
    }

    /** Closes the file and opens {@link #path} again once what is queued now has been written. */
    void reopen() {
        reopenRequested = true;
        LockSupport.unpark(thread);
    }

    /** How long {@link #close()} waits for the writer. */
    static final long CLOSE_WAIT_MILLIS = 5000;

    /** Writes what is queued, closes the file and ends the thread; waits up to 5 s for that. */
    @Override
    public void close() {
        close(CLOSE_WAIT_MILLIS);
    }

    /**
     * {@link #close()}, waiting up to {@code waitMillis}; lines offered from now on are dropped. Any thread.
     *
     * @return whether the writer is done: false when it still writes (a write blocked on a FIFO nobody reads, a hung
     *         network file system), and then it is left to the process's exit
     */
    boolean close(long waitMillis) {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join(Math.max(1, waitMillis)); // 0 would wait for good
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !thread.isAlive();
    }

    /** Lines queued and not yet taken by the writer. */
    int queued() {
        return queued.get();
    }

    private void run() {
        for (;;) {
            byte[] line = queue.poll();
            if (line != null) {
                queued.decrementAndGet();
                append(line);
                continue;
            }
            writeBatch();
            if (reopenRequested) {
                reopenRequested = false;
                reopenNow();
            }
            if (closed) {
                if (queue.isEmpty()) {
                    closeFile();
                    return;
                }
                continue;
            }
            idle = true;
            // Checked after announcing idleness: an offer past WAKE_LINES either sees idle and unparks, or its
            // lines are seen here; fewer lines wait at most one interval.
            if (queued.get() < WAKE_LINES && !reopenRequested && !closed) {
                LockSupport.parkNanos(this, FLUSH_INTERVAL_NANOS);
            }
            idle = false;
        }
    }

    private void append(byte[] line) {
        if (line.length > batch.remaining()) {
            writeBatch();
            if (line.length > batch.capacity()) {
                write(ByteBuffer.wrap(line));
                return;
            }
        }
        batch.put(line);
    }

    private void writeBatch() {
        if (batch.position() == 0) {
            return;
        }
        batch.flip();
        write(batch);
        batch.clear();
    }

    /** Writes all of {@code buffer}; on failure the lines are lost and the error is logged (once per kind). */
    private void write(ByteBuffer buffer) {
        try {
            while (buffer.hasRemaining()) {
                file.write(buffer);
            }
            failing = null;
        } catch (IOException e) {
            String kind = e.getClass().getSimpleName() + ": " + e.getMessage();
            if (!kind.equals(failing)) {
                failing = kind;
                log.error("access log {}: cannot write, lines are lost until this passes: {}", path, kind);
            }
            buffer.position(buffer.limit());
        }
    }

    private void reopenNow() {
        FileChannel next;
        try {
            next = open(path);
        } catch (IOException e) {
            log.error("access log {}: cannot reopen, still writing to the file open before: {}", path, e.toString());
            return;
        }
        closeFile();
        file = next;
        log.info("access log {} reopened", path);
    }

    private void closeFile() {
        try {
            file.close();
        } catch (IOException e) {
            log.warn("access log {}: closing failed: {}", path, e.toString());
        }
    }
}
