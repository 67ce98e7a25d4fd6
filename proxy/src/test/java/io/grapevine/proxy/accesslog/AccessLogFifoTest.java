package io.grapevine.proxy.accesslog;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

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
}
