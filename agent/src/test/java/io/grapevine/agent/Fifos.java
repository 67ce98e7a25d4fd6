package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * FIFOs that hold a program where it opens a file (its log, its access log) until the test reads them: opening a
 * FIFO for writing blocks until it has a reader. The proxy's tests use them too.
 */
public final class Fifos {

    private Fifos() {
    }

    /** Makes the FIFO {@code fifo}. */
    public static Path make(Path fifo) throws IOException, InterruptedException {
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        return fifo;
    }

    /**
     * Writes {@code file}, a logback configuration that logs each message on a line of its own to standard error and to
     * {@code fifo}: a program given it ({@code -Dlogback.configurationFile}) is held where logging is set up until the
     * FIFO has a reader.
     */
    public static Path loggingHeldAt(Path fifo, Path file) throws IOException {
        return Files.writeString(file, "<configuration>"
                + "<appender name=\"STDERR\" class=\"ch.qos.logback.core.ConsoleAppender\"><target>System.err</target>"
                + "<encoder><pattern>%msg%n</pattern></encoder></appender>"
                + "<appender name=\"FIFO\" class=\"ch.qos.logback.core.FileAppender\"><file>" + fifo + "</file>"
                + "<encoder><pattern>%msg%n</pattern></encoder></appender>"
                + "<root level=\"INFO\"><appender-ref ref=\"STDERR\"/><appender-ref ref=\"FIFO\"/></root></configuration>\n");
    }

    /** Whether a thread of process {@code pid} waits in the open of a FIFO that has no reader yet. */
    public static boolean waitsForAReader(long pid) {
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            return tasks.anyMatch(task -> wchan(task).contains("wait_for_partner"));
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether a thread of process {@code pid} waits in a write to a pipe or FIFO that is full (its reader reads none). */
    public static boolean waitsToWrite(long pid) {
        try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            return tasks.anyMatch(task -> wchan(task).contains("pipe_write"));
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Opens {@code fifo} as its reader, which then reads nothing until closed: a writer fills it (64 KiB) and then waits
     * in its write. Read and write, so that the open itself does not wait for a writer (Linux).
     */
    public static FileChannel readerThatReadsNothing(Path fifo) throws IOException {
        return FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    /**
     * Fills {@code fifo}, whose reader reads nothing ({@link #readerThatReadsNothing}), from a thread of this JVM: a
     * write there, by this process or another, waits from then on.
     */
    public static void fill(FileChannel fifo) {
        Thread filler = new Thread(() -> {
            try {
                fifo.write(ByteBuffer.allocate(256 * 1024)); // more than the FIFO takes: it waits once full
            } catch (IOException e) {
                // closed by the test
            }
        }, "log-fifo-filler");
        filler.setDaemon(true);
        filler.start();
        long self = ProcessHandle.current().pid();
        Await.until(Duration.ofSeconds(10), "the FIFO full", () -> waitsToWrite(self), () -> "");
    }

    /** Reads {@code fifo} to its end on a daemon thread: what is written there is dropped. */
    public static void readInTheBackground(Path fifo) {
        Thread reader = new Thread(() -> {
            try (InputStream in = Files.newInputStream(fifo)) {
                in.transferTo(OutputStream.nullOutputStream());
            } catch (IOException e) {
                // the writer is gone
            }
        });
        reader.setDaemon(true);
        reader.start();
    }

    private static String wchan(Path task) {
        try {
            return Files.readString(task.resolve("wchan"));
        } catch (IOException e) {
            return "";
        }
    }
}
