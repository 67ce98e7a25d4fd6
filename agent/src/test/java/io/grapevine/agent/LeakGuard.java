package io.grapevine.agent;

import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Predicate;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty reports a leaked reference-counted object (a buffer not
 * released) by the end of it.
 *
 * <p>Registered for every test of this module by extension autodetection
 * ({@code META-INF/services} plus {@code junit-platform.properties}), so its static
 * initializer runs before any test touches a Netty buffer: that is when Netty asks the
 * detector factory for the {@code ByteBuf} detector, once per JVM. It also forces the level
 * to PARANOID (the parent POM sets it too), where every allocation is tracked and first
 * reports the leaks the garbage collector found since the previous one.
 *
 * <p>A leak is noticed only after its buffer was collected, so it may be reported against
 * the class that runs after the one that leaked; the records name the allocation site. To
 * name the test instead, run with {@code -Dgrapevine.leaks.perTest=true}: each test then
 * ends with a collection and fails on what it finds (its own extensions, such as the
 * fixtures that stop the proxy, have run by then: this extension is registered first, so
 * its after-each callback runs last). It costs about 0.2 s a test, so it is for hunting.
 */
public final class LeakGuard implements AfterAllCallback, AfterEachCallback {
    /** System property that turns on the check after each test. */
    public static final String PER_TEST = "grapevine.leaks.perTest";
    private static final Queue<String> LEAKS = new ConcurrentLinkedQueue<>();
    /** Leak reports printed in a failure; one usually names the culprit, a thousand bury it. */
    private static final int SHOWN = 5;

    static {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (Boolean.getBoolean(PER_TEST)) {
            failOnLeaks(context.getRequiredTestClass().getSimpleName() + "#" + context.getDisplayName());
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        failOnLeaks(context.getDisplayName());
    }

    private static void failOnLeaks(String where) {
        List<String> leaks = collectLeaks(leak -> true);
        if (!leaks.isEmpty()) {
            fail(leaks.size() + " Netty leak(s) reported by the end of " + where
                    + (leaks.size() > SHOWN ? ", the first " + SHOWN : "") + ":\n"
                    + String.join("\n\n", leaks.subList(0, Math.min(SHOWN, leaks.size()))));
        }
    }

    /**
     * Runs the garbage collector, lets the detectors look at what it freed, and returns the
     * leak reports so far that match {@code which}, removing them; the others are kept.
     */
    public static List<String> collectLeaks(Predicate<String> which) {
        for (int round = 0; round < 3; round++) {
            System.gc();
            try {
                Thread.sleep(20); // the reference handler thread enqueues what was collected
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            ByteBufAllocator.DEFAULT.buffer(1).release();
            Unpooled.directBuffer(1).release();
        }
        List<String> taken = new ArrayList<>();
        for (Iterator<String> it = LEAKS.iterator(); it.hasNext(); ) {
            String leak = it.next();
            if (which.test(leak)) {
                taken.add(leak);
                it.remove();
            }
        }
        return taken;
    }

    private static final class RecordingFactory extends ResourceLeakDetectorFactory {
        @Override
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
            return new RecordingDetector<>(resource, samplingInterval);
        }
    }

    /** Keeps reports for {@link #afterAll} (which prints them) instead of logging them. */
    private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {
        RecordingDetector(Class<?> resource, int samplingInterval) {
            super(resource, samplingInterval);
        }

        @Override
        protected boolean needReport() {
            return true;
        }

        @Override
        protected void reportTracedLeak(String resourceType, String records) {
            LEAKS.add("LEAK: " + resourceType + " was not released before it was garbage-collected." + records);
        }

        @Override
        protected void reportUntracedLeak(String resourceType) {
            LEAKS.add("LEAK: " + resourceType + " was not released before it was garbage-collected (no records).");
        }
    }
}
