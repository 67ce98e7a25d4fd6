package io.grapevine.proxy.net;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The scheduler slice of the event loop threads: the CPU time the kernel lets a thread run before another thread
 * of the same weight that is waiting may take its CPU.
 *
 * <p>Why: an event loop sleeps in epoll_wait between requests, and each request wakes it. When the proxy's other
 * threads run at that moment (the JIT compilers, the table thread rebuilding the table after a reload or a
 * membership change, the admin listener), Linux's EEVDF scheduler lets the running thread finish its slice first
 * (about 0.7 ms × (1 + log2 CPUs), enforced at the next tick: 4 ms apart at HZ=250). So the woken loop waited in
 * the run queue for 1-3.9 ms (measured with {@code perf sched} on 2 CPUs; docs/reliability.md), sometimes with
 * the other CPU idle. A thread that asks for a shorter slice than the running one's preempts it when it wakes
 * (Linux 6.12 and later, the {@code sched_runtime} of {@code sched_setattr(2)} for a {@code SCHED_OTHER} thread,
 * 0.1-100 ms). Its share of the CPU stays what its nice value gives: a short slice moves its turns earlier, it
 * does not make them longer. Threads a loop starts get the kernel's slice ({@code SCHED_FLAG_RESET_ON_FORK}).
 *
 * <p>A kernel before 6.12 accepts the call and keeps its own slice (it reads back as 0), which is said in the
 * log; so is a thread whose policy was set from outside (SCHED_FIFO, SCHED_BATCH, ...), left as it is. The
 * thread's nice value is kept. The system call is made through JNA, as no JDK API makes it; a host where JNA
 * cannot load its library (no writable temporary directory, say) runs the loops with the kernel's slice.
 */
public final class LoopSlice {

    /**
     * The slice asked for by default, in microseconds: none, the kernel's own. A short slice removes the
     * millisecond waits above, but in the benchmarks its effect on throughput and p99 under full load was within
     * their noise, possibly worse (docs/reliability.md), so it is the operator's choice.
     */
    public static final long DEFAULT_MICROS = 0;
    /** The range of {@code --loop-slice-us} besides 0 (the kernel's own): what Linux accepts. */
    public static final long MIN_MICROS = 100;
    public static final long MAX_MICROS = 100_000;

    private static final int SCHED_OTHER = 0;
    /**
     * {@code SCHED_FLAG_RESET_ON_FORK}: a thread the loop starts (io_uring's workers, say) gets the kernel's slice,
     * not the loop's; and a flag set from outside, which an unprivileged process may not clear, stays set.
     */
    private static final long SCHED_FLAG_RESET_ON_FORK = 0x01;
    /** {@code struct sched_attr} as of Linux 3.14 ({@code SCHED_ATTR_SIZE_VER0}); later fields keep their values. */
    private static final int ATTR_SIZE = 48;
    private static final int OFFSET_SIZE = 0;
    private static final int OFFSET_POLICY = 4;
    private static final int OFFSET_FLAGS = 8;
    private static final int OFFSET_RUNTIME = 24;

    private LoopSlice() {
    }

    /** The C library's {@code syscall(2)}: glibc has no wrapper for sched_setattr or sched_getattr. */
    private interface LibC extends Library {
        long syscall(long number, Object... args) throws LastErrorException;
    }

    /** What became of one thread's request. */
    public record Outcome(long sliceNanos, String problem) {

        static Outcome applied(long sliceNanos) {
            return new Outcome(sliceNanos, null);
        }

        static Outcome failed(String problem) {
            return new Outcome(0, problem);
        }

        public boolean applied() {
            return problem == null;
        }
    }

    /** The system call numbers of this CPU, or null where they are not known. */
    private record Calls(long setattr, long getattr) {

        static Calls forThisCpu() {
            return switch (System.getProperty("os.arch", "").toLowerCase(Locale.ROOT)) {
                case "amd64", "x86_64" -> new Calls(314, 315);
                case "aarch64" -> new Calls(274, 275);
                default -> null;
            };
        }
    }

    /** Loaded on first use, on whichever thread asks first. */
    private static final class Holder {
        static final Calls CALLS = Calls.forThisCpu();
        static final LibC LIBC;
        static final String LOAD_PROBLEM;

        static {
            LibC libc = null;
            String problem = null;
            if (!System.getProperty("os.name", "").equals("Linux")) {
                problem = "not Linux";
            } else if (CALLS == null) {
                problem = "no system call numbers known for " + System.getProperty("os.arch");
            } else {
                // Set, even empty, it keeps JNA from running "ldconfig -p" to learn the system's library paths when
                // it loads: the symbols come from the process itself, no library is looked for.
                if (System.getProperty("jna.platform.library.path") == null) {
                    System.setProperty("jna.platform.library.path", "");
                }
                try {
                    libc = Native.load(null, LibC.class); // the process's own symbols: libc's syscall, no search
                } catch (Throwable e) { // JNA's own init throws Error for a mismatched native library
                    problem = "JNA could not load: " + e;
                }
            }
            LIBC = libc;
            LOAD_PROBLEM = problem;
        }
    }

    /**
     * Asks for a slice of {@code nanos} for the calling thread (0: the kernel's default again), keeping its policy
     * and nice value. Reads it back: the outcome is the slice the kernel reports, or why there is none.
     */
    public static Outcome requestForThisThread(long nanos) {
        String call = "sched_getattr";
        try {
            if (Holder.LOAD_PROBLEM != null) {
                return Outcome.failed(Holder.LOAD_PROBLEM);
            }
            // A direct buffer, which JNA passes as a pointer to its memory
            ByteBuffer attr = ByteBuffer.allocateDirect(ATTR_SIZE).order(ByteOrder.nativeOrder());
            getattr(attr);
            int policy = attr.getInt(OFFSET_POLICY);
            if (policy != SCHED_OTHER) {
                return Outcome.failed("the thread's scheduling policy is " + policyName(policy)
                        + ", set from outside: left as it is");
            }
            attr.putInt(OFFSET_SIZE, ATTR_SIZE);
            attr.putLong(OFFSET_FLAGS, SCHED_FLAG_RESET_ON_FORK);
            attr.putLong(OFFSET_RUNTIME, nanos); // the policy and nice value stay as read
            call = "sched_setattr";
            Holder.LIBC.syscall(Holder.CALLS.setattr(), 0L, attr, 0L);
            call = "sched_getattr";
            getattr(attr);
            long slice = attr.getLong(OFFSET_RUNTIME);
            if (nanos != 0 && slice != nanos) {
                return Outcome.failed(slice == 0 ? "this kernel has no per-thread slice (Linux 6.12 and later have)"
                        : "the kernel reports a slice of " + slice + " ns");
            }
            return Outcome.applied(slice);
        } catch (LastErrorException e) {
            return Outcome.failed(call + ": errno " + e.getErrorCode());
        } catch (Throwable e) { // NoClassDefFoundError of Holder after its init failed, an Error of JNA's
            return Outcome.failed(e.toString());
        }
    }

    /** Fills {@code attr} with the calling thread's attributes (pid 0: the calling thread). */
    private static void getattr(ByteBuffer attr) {
        for (int i = 0; i < ATTR_SIZE; i += Long.BYTES) {
            attr.putLong(i, 0);
        }
        Holder.LIBC.syscall(Holder.CALLS.getattr(), 0L, attr, (long) ATTR_SIZE, 0L);
    }

    private static String policyName(int policy) {
        return switch (policy) {
            case 1 -> "SCHED_FIFO";
            case 2 -> "SCHED_RR";
            case 3 -> "SCHED_BATCH";
            case 5 -> "SCHED_IDLE";
            case 6 -> "SCHED_DEADLINE";
            default -> "policy " + policy;
        };
    }

    /**
     * What {@link #applyTo} did, for the start-up log.
     *
     * @param line     "100 µs on 2 of 2 event loops", or "the kernel's own on ..." with the reasons
     * @param complete whether every loop has the slice asked for
     */
    public record Report(String line, boolean complete) {
    }

    /**
     * Asks for a slice of {@code micros} (100..100000) on every loop of {@code loops}, each making the call itself
     * (the attribute is per thread), and says what came of it.
     */
    public static Report applyTo(EventLoopGroup loops, long micros) throws InterruptedException {
        long nanos = TimeUnit.MICROSECONDS.toNanos(micros);
        List<Future<Outcome>> pending = new ArrayList<>();
        for (EventExecutor loop : loops) {
            pending.add(loop.submit(() -> requestForThisThread(nanos)));
        }
        Set<String> problems = new LinkedHashSet<>();
        int failed = 0;
        for (Future<Outcome> f : pending) {
            Outcome o;
            try {
                o = f.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                o = Outcome.failed(e.toString());
            }
            if (!o.applied()) {
                failed++;
                problems.add(o.problem());
            }
        }
        if (failed == 0) {
            return new Report(micros + " µs on " + pending.size() + " of " + pending.size() + " event loops", true);
        }
        return new Report("the kernel's own on " + failed + " of " + pending.size()
                + " event loops (" + micros + " µs asked for: " + String.join("; ", problems) + ")", false);
    }
}
