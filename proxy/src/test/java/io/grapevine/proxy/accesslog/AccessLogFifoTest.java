package io.grapevine.proxy.accesslog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.proxy.config.AccessLogConfig;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An access log that is a FIFO (a named pipe a log shipper reads, {@code /dev/stdout} on a pipe): opening one for
 * writing waits for a reader (open(2)), so one that nobody reads fails the open after a bounded wait instead of
 * holding the start, or a reload's table thread, for ever; one that is read is written to.
 */
class AccessLogFifoTest {

    @TempDir
    Path dir;

    private Path fifo;

    @BeforeEach
    void makeFifo() throws Exception {
        fifo = dir.resolve("access.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
    }

    @Test
    void aFifoThatNoProcessReadsFailsTheOpenInsteadOfBlocking() throws Exception {
        try {
            IllegalArgumentException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                    () -> assertThrows(IllegalArgumentException.class,
                            () -> AccessLog.open(new AccessLogConfig(fifo, AccessLogConfig.Format.COMBINED))));
            assertEquals("access_log: cannot open " + fifo + " for appending: a FIFO that no process reads (waited "
                    + AccessLogWriter.OPEN_WAIT_MILLIS + " ms)", e.getMessage());
        } finally {
            // The open still waiting for a reader: this one lets it through.
            try (FileChannel reader = FileChannel.open(fifo, StandardOpenOption.READ)) {
                reader.size();
            }
        }
    }

    @Test
    void aFifoThatAProcessReadsIsWrittenTo() throws Exception {
        CompletableFuture<byte[]> read = CompletableFuture.supplyAsync(() -> {
            try (InputStream in = Files.newInputStream(fifo)) {
                return in.readAllBytes();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        try (AccessLogWriter writer = new AccessLogWriter(fifo)) {
            writer.offer("a line\n".getBytes());
        }
        assertEquals("a line\n", new String(read.get(10, TimeUnit.SECONDS)));
    }
    /**
     * A second signal while the stop writes the access log's last lines ({@link AccessLog#close(StopDeadline)}, the
     * writer held by a reader that is slow to read) waits for those lines, as it does before that step, rather than
     * finding the log already off and letting the halt cut them.
     */
    @Test
    void aSecondSignalWhileTheStopWritesTheLastLinesWaitsForThem() throws Exception {
        CompletableFuture<FileChannel> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return FileChannel.open(fifo, StandardOpenOption.READ); // opened, nothing read yet: the pipe fills
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        AccessLog log = AccessLog.open(new AccessLogConfig(fifo, AccessLogConfig.Format.COMBINED));
        AccessLogWriter writer = log.writerForTest();
        byte[] line = ("x".repeat(1023) + "\n").getBytes();
        for (int i = 0; i < 256; i++) { // 256 KiB: more than the pipe holds
            assertTrue(writer.offer(line));
        }
        Thread stop = new Thread(() -> log.close(StopDeadline.after(10_000, "a test's")));
        stop.start();
        while (log.writerForTest() != null) {
            Thread.sleep(5); // the stop has taken the log off and waits for its writer
        }
        CompletableFuture<Long> read = reader.thenApplyAsync(channel -> {
            try (InputStream in = java.nio.channels.Channels.newInputStream(channel)) {
                Thread.sleep(200);
                return in.transferTo(java.io.OutputStream.nullOutputStream());
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        log.closeWithin(5_000); // the second signal, before the halt
        assertEquals(256L * 1024, read.get(100, TimeUnit.MILLISECONDS), "every queued line written before the halt");
        stop.join(10_000);
    }
}
