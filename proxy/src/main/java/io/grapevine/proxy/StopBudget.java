package io.grapevine.proxy;

import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.proxy.config.Timeouts;
import java.util.function.Supplier;

/**
 * The bound of the proxy's stop, as operations.md says ("Signals and the drain order"):
 * {@code timeouts.shutdown_delay_ms + shutdown_grace_ms +} {@link #STOP_MARGIN_MILLIS}. A class of its own, which
 * sets nothing up: ProxyMain bounds the stop from its signal, on the signal's thread, which must not wait for the
 * initialisation of the classes whose loggers set logging up (ProxyServer, ProxyInstance), held for good should the
 * log file not open.
 *
 * <p>Threads: any; {@link #deadline()} on a signal's thread.
 */
public final class StopBudget {

    /**
     * What a stop may take beyond {@code timeouts.shutdown_delay_ms + shutdown_grace_ms}: once the grace is over,
     * closing what is left, the event loops and the access log.
     */
    public static final long STOP_MARGIN_MILLIS = 2000;

    /** Where the timeouts come from: the defaults until the start has read servers.conf. */
    private volatile Supplier<Timeouts> timeouts = Timeouts::defaults;

    /** A stop that begins now, bounded with {@code timeouts}. */
    public static StopDeadline deadline(Timeouts timeouts) {
        return StopDeadline.after(timeouts.shutdownDelayMillis() + timeouts.shutdownGraceMillis() + STOP_MARGIN_MILLIS,
                "timeouts.shutdown_delay_ms + shutdown_grace_ms + " + STOP_MARGIN_MILLIS + " ms");
    }

    /**
     * A stop that begins now, bounded with servers.conf's timeouts once the start has read its files (a reload keeps
     * them), with the defaults before (a stop then opens no port, and has nothing to drain).
     */
    public StopDeadline deadline() {
        return deadline(timeouts.get());
    }

    /** The timeouts come from {@code source} from now on. */
    void timeoutsFrom(Supplier<Timeouts> source) {
        timeouts = source;
    }
}
