package io.grapevine.proxy.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the kernel says of threads' scheduler slices, for tests of the event loops' slice. */
public final class SchedulerSlices {

    private SchedulerSlices() {
    }

    /** Whether this kernel has per-thread slices (Linux 6.12 and later), from its version alone. */
    public static boolean kernelHasThem() {
        String[] v = System.getProperty("os.version").split("[.-]");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        return System.getProperty("os.name").equals("Linux") && (major > 6 || major == 6 && minor >= 12);
    }

    /**
     * Whether /proc shows threads' slices ({@code se.slice} in /proc/.../sched: Linux 6.12 and later, with the
     * scheduler's debug output of 2025; some kernels with per-thread slices do not print it).
     */
    public static boolean visible() {
        try {
            return Files.readAllLines(Path.of("/proc/thread-self/sched")).stream().anyMatch(l -> l.startsWith("se.slice"));
        } catch (IOException e) {
            return false;
        }
    }

    /** The {@code se.slice} of {@code sched} (a thread's /proc/.../sched file, written by the scheduler), in ns. */
    public static long in(Path sched) throws IOException {
        for (String line : Files.readAllLines(sched)) {
            if (line.startsWith("se.slice")) {
                return Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
            }
        }
        throw new AssertionError(sched + " has no se.slice");
    }

    /** The calling thread's slice, in ns. */
    public static long ofThisThread() throws IOException {
        return in(Path.of("/proc/thread-self/sched"));
    }
}
