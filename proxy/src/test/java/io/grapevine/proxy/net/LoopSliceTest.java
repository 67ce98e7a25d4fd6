package io.grapevine.proxy.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grapevine.proxy.testing.SchedulerSlices;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link LoopSlice} against the kernel: what a thread asked for is what the scheduler reports for it in
 * {@code /proc/thread-self/sched} ({@code se.slice}, written by the kernel, not by this code), its nice value and a
 * policy set from outside are kept, and on a kernel without per-thread slices (before Linux 6.12) it says so.
 */
class LoopSliceTest {

    /** Field 19 of /proc/thread-self/stat: the calling thread's nice value. */
    private static int myNice() throws IOException {
        String stat = Files.readString(Path.of("/proc/thread-self/stat"));
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(fields[16]); // fields from the state (3rd) on: nice is the 19th
    }

    private static long myTid() throws IOException {
        return Long.parseLong(Path.of("/proc/thread-self").toRealPath().getFileName().toString());
    }

    /** Runs {@code body} on a new thread of its own (the attributes stay with that thread) and returns its result. */
    private static <T> T onFreshThread(Callable<T> body) throws Exception {
        FutureTask<T> task = new FutureTask<>(body);
        Thread t = new Thread(task, "loop-slice-test");
        t.start();
        return task.get(30, TimeUnit.SECONDS);
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", command) + ": " + out);
    }

    @Test
    void aThreadGetsTheSliceItAsksForAndTheKernelsBackForZero() throws Exception {
        assumeTrue(SchedulerSlices.kernelHasThem() && SchedulerSlices.visible(),
                "Linux 6.12 or later, showing slices in /proc: see theKernelWithoutSlicesIsNamed");
        long[] seen = onFreshThread(() -> {
            long before = SchedulerSlices.ofThisThread();
            LoopSlice.Outcome asked = LoopSlice.requestForThisThread(250_000);
            long during = SchedulerSlices.ofThisThread();
            LoopSlice.Outcome reset = LoopSlice.requestForThisThread(0);
            return new long[] {before, asked.applied() ? asked.sliceNanos() : -1, during,
                reset.applied() ? 1 : 0, SchedulerSlices.ofThisThread()};
        });
        assertNotEquals(250_000, seen[0], "a new thread starts with the kernel's slice");
        assertEquals(250_000, seen[1], "the outcome reports the slice read back");
        assertEquals(250_000, seen[2], "the scheduler's own figure for the thread");
        assertEquals(1, seen[3], "0 is applied: the kernel's slice again");
        assertEquals(seen[0], seen[4], "back to the kernel's slice");
        assertEquals(seen[0], SchedulerSlices.ofThisThread(), "other threads are untouched");
    }

    @Test
    void theNiceValueIsKept() throws Exception {
        assumeTrue(SchedulerSlices.kernelHasThem() && SchedulerSlices.visible(), "Linux 6.12 or later, showing slices");
        int[] seen = onFreshThread(() -> {
            run("renice", "-n", "7", "-p", Long.toString(myTid()));
            int before = myNice();
            LoopSlice.Outcome o = LoopSlice.requestForThisThread(100_000);
            return new int[] {before, o.applied() ? 1 : 0, myNice(), (int) SchedulerSlices.ofThisThread()};
        });
        assertEquals(7, seen[0], "renice took");
        assertEquals(1, seen[1]);
        assertEquals(7, seen[2], "sched_setattr was given the nice value it read: a niced proxy stays niced");
        assertEquals(100_000, seen[3]);
    }

    @Test
    void aPolicySetFromOutsideIsLeftAlone() throws Exception {
        boolean visible = SchedulerSlices.visible();
        Object[] seen = onFreshThread(() -> {
            run("chrt", "--batch", "-p", "0", Long.toString(myTid()));
            long before = visible ? SchedulerSlices.ofThisThread() : 0;
            LoopSlice.Outcome o = LoopSlice.requestForThisThread(100_000);
            return new Object[] {o, before, visible ? SchedulerSlices.ofThisThread() : 0};
        });
        LoopSlice.Outcome o = (LoopSlice.Outcome) seen[0];
        assertFalse(o.applied());
        assertEquals("the thread's scheduling policy is SCHED_BATCH, set from outside: left as it is", o.problem());
        assertEquals(seen[1], seen[2], "the slice is unchanged");
    }

    @Test
    void theKernelWithoutSlicesIsNamed() throws Exception {
        assumeTrue(!SchedulerSlices.kernelHasThem(), "a kernel before Linux 6.12");
        LoopSlice.Outcome o = onFreshThread(() -> LoopSlice.requestForThisThread(100_000));
        assertFalse(o.applied());
        assertEquals("this kernel has no per-thread slice (Linux 6.12 and later have)", o.problem());
    }

    /** A thread started by a thread with a short slice gets the kernel's, not its parent's (reset on fork). */
    @Test
    void threadsStartedByASlicedThreadGetTheKernelsSlice() throws Exception {
        assumeTrue(SchedulerSlices.kernelHasThem() && SchedulerSlices.visible(), "Linux 6.12 or later, showing slices");
        long[] seen = onFreshThread(() -> {
            LoopSlice.Outcome o = LoopSlice.requestForThisThread(100_000);
            long child = onFreshThread(SchedulerSlices::ofThisThread);
            return new long[] {o.applied() ? SchedulerSlices.ofThisThread() : -1, child};
        });
        assertEquals(100_000, seen[0]);
        assertEquals(SchedulerSlices.ofThisThread(), seen[1], "the child thread has the kernel's slice");
    }

    /** Each loop of a group makes the call for itself; the report counts the loops left with the kernel's, and why. */
    @Test
    void everyLoopOfAGroupGetsTheSliceAndTheReportNamesThoseThatDoNot() throws Exception {
        assumeTrue(SchedulerSlices.kernelHasThem() && SchedulerSlices.visible(), "Linux 6.12 or later, showing slices");
        EventLoopGroup asked = Transport.choose(null).transport().newGroup(3, "slice-test-asked");
        EventLoopGroup left = Transport.choose(null).transport().newGroup(2, "slice-test-left");
        try {
            LoopSlice.Report report = LoopSlice.applyTo(asked, 300);
            assertTrue(report.complete(), report.line());
            assertEquals("300 µs on 3 of 3 event loops", report.line());
            assertEquals(List.of(300_000L, 300_000L, 300_000L), slices(asked));

            EventExecutor batch = left.iterator().next();
            batch.submit(() -> {
                run("chrt", "--batch", "-p", "0", Long.toString(myTid()));
                return null;
            }).get(10, TimeUnit.SECONDS);
            LoopSlice.Report partial = LoopSlice.applyTo(left, 300);
            assertFalse(partial.complete());
            assertEquals("the kernel's own on 1 of 2 event loops (300 µs asked for: the thread's scheduling policy is"
                    + " SCHED_BATCH, set from outside: left as it is)", partial.line());
            long kernels = SchedulerSlices.ofThisThread();
            assertEquals(kernels, batch.submit(SchedulerSlices::ofThisThread).get(10, TimeUnit.SECONDS));
            assertTrue(slices(left).contains(300_000L), "the other loop got it: " + slices(left));
        } finally {
            asked.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
            left.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS).sync();
        }
    }

    private static List<Long> slices(EventLoopGroup group) throws Exception {
        List<Long> slices = new ArrayList<>();
        for (EventExecutor loop : group) {
            slices.add(loop.submit(SchedulerSlices::ofThisThread).get(10, TimeUnit.SECONDS));
        }
        return slices;
    }
}
