package io.grapevine.proxy.reload;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grapevine.proxy.testing.Await;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The file watch in a process out of file descriptors: a change in the watched file's directory (the proxy's own log
 * file there, say) while servers.conf cannot be opened reloads nothing, neither as a removal nor, once it can be read
 * again, as a change back; and a change made meanwhile is picked up once the file can be read, with no further event.
 */
class DescriptorShortageWatchTest {

    @TempDir
    Path dir;

    @Test
    void aFileThatCannotBeOpenedForWantOfADescriptorIsNeitherRemovedNorChangedAndIsReadAgainLater() throws Exception {
        Path conf = Files.writeString(dir.resolve("servers.conf"), "one");
        AtomicBoolean shortage = new AtomicBoolean();
        List<String> reloads = new CopyOnWriteArrayList<>();
        ReloadTriggers.FileContent content = file -> {
            if (shortage.get()) {
                throw new FileSystemException(file.toString(), null, "Too many open files");
            }
            return Files.readAllBytes(file);
        };
        try (ReloadTriggers triggers = new ReloadTriggers(conf, reloads::add, null, why -> { }, content)) {
            triggers.start();
            shortage.set(true);
            Files.writeString(dir.resolve("proxy.log"), "a line"); // an event in the directory; the file as it was
            Thread.sleep(800);
            assertEquals(List.of(), reloads, "a file that could not be opened was taken for removed");

            shortage.set(false);
            Thread.sleep(ReloadTriggers.RETRY_MILLIS + 500); // the retry reads it: unchanged
            assertEquals(List.of(), reloads, "the same content, read again, was taken for a change");

            shortage.set(true);
            Files.writeString(conf, "two"); // changed while it cannot be read: the event finds nothing readable
            Thread.sleep(800);
            assertEquals(List.of(), reloads);
            shortage.set(false); // and no further event: the retry finds the change
            Await.until(Duration.ofSeconds(5), "the change read once the file could be", () -> !reloads.isEmpty());
            Thread.sleep(300);
            assertEquals(List.of("file changed"), reloads);
        }
    }

    @Test
    void aFileThatCannotBeReadForAnyOtherReasonIsStillARemoval() throws Exception {
        Path conf = Files.writeString(dir.resolve("servers.conf"), "one");
        List<String> reloads = new CopyOnWriteArrayList<>();
        ReloadTriggers.FileContent content = file -> {
            if (Files.readString(file).equals("unreadable")) {
                throw new IOException(file + ": Permission denied");
            }
            return Files.readAllBytes(file);
        };
        try (ReloadTriggers triggers = new ReloadTriggers(conf, reloads::add, null, why -> { }, content)) {
            triggers.start();
            Files.writeString(conf, "unreadable");
            Await.until(Duration.ofSeconds(5), "the reload", () -> !reloads.isEmpty());
            assertEquals(List.of("file removed or unreadable"), reloads);
        }
    }
}
