package io.grapevine.proxy.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The scheduling priority (nice value) of every thread of a process, for latency measurements on a machine shared
 * with other work: the processes measured run a little ahead of the rest ({@link #MEASURED}), so that the
 * percentiles say more about them and less about whatever else the machine runs. Nice values are per thread on
 * Linux; threads started later inherit the value of the thread that starts them.
 */
public final class CpuPriority {

    /** Ahead of normal work (0), far from real time: about three times the CPU share of a normal process. */
    public static final int MEASURED = -5;

    private CpuPriority() {
    }

    /** Sets the nice value of every thread of process {@code pid} (needs root for a value below 0). */
    public static void set(long pid, int nice) {
        List<String> command = new ArrayList<>(List.of("renice", "-n", Integer.toString(nice), "-p"));
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            tasks.forEach(t -> command.add(t.getFileName().toString()));
        } catch (IOException e) {
            return; // the process is gone
        }
        try {
            new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start()
                    .waitFor();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Sets the nice value of every thread of this JVM. */
    public static void setSelf(int nice) {
        set(ProcessHandle.current().pid(), nice);
    }
}
