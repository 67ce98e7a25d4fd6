package io.grapevine.proxy.accesslog;

import io.grapevine.cluster.cli.StopDeadline;
import io.grapevine.proxy.config.AccessLogConfig;
import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.forward.DataPlane;
import io.grapevine.proxy.forward.Exchange;
import io.grapevine.proxy.forward.ExchangeObserver;
import io.grapevine.proxy.stats.ProxyStats;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The access log ({@code "access_log"} of servers.conf): one line per request, in the combined or the JSON
 * layout ({@link LineFormatter}), written by {@link AccessLogWriter} on its own thread.
 *
 * <p>It observes every exchange ({@link ExchangeObserver}) on the exchange's event loop: with the log off
 * that costs one volatile read; with it on, the line is formatted by the loop's own {@link LineFormatter}
 * and queued without blocking; a line the queue has no room for is dropped and counted
 * ({@code access_log_dropped} in {@code /stats.json}).
 *
 * <p>Requests the client codec refuses before they become an exchange (a malformed head: 400, 408, 414,
 * 431, 501, 505) are not logged; they are counted as {@code bad_requests} and {@code client_timeouts}.
 *
 * <p>{@link #reconfigure} (SIGHUP, {@code POST /reload}, a servers.conf change) reopens the file, or
 * switches to the new path or layout, or turns the log on or off.
 */
public final class AccessLog implements ExchangeObserver, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AccessLog.class);

    /** Where lines go now and in which layout; {@code null} writer: off. Replaced whole, read once per line. */
    private record Target(AccessLogWriter writer, AccessLogConfig.Format format) {
    }

    private static final Target OFF = new Target(null, AccessLogConfig.Format.COMBINED);

    private final ZoneId zone = ZoneId.systemDefault();
    private volatile Target target;
    /**
     * The writer a stop is closing ({@link #close()}): taken off {@link #target} first, so that no line is offered
     * after, and still writing what was queued. Set before {@link #target} goes off, so that {@link #closeWithin}
     * (a second signal, on its own thread) finds one or the other and waits for it.
     */
    private volatile AccessLogWriter closing;
    /** One per event loop, indexed by {@link Exchange#loopIndex()}; each used only on its loop. */
    private LineFormatter[] formatters = new LineFormatter[0];
    private ProxyStats stats = new ProxyStats();

    private AccessLog(Target target) {
        this.target = target;
    }

    /**
     * Opens the file of {@code config} (creating it if need be), before any port opens, so that a path the
     * proxy cannot write stops the start.
     *
     * @param config {@code null}: no access log (until a reload configures one)
     * @throws IllegalArgumentException naming the file and why it cannot be opened
     */
    public static AccessLog open(AccessLogConfig config) {
        return new AccessLog(config == null ? OFF : new Target(openWriter(config), config.format()));
    }

    /**
     * Whether {@code config}'s file could be opened for appending, without creating or touching it
     * ({@code --check}).
     *
     * @throws IllegalArgumentException naming the file and why not
     */
    public static void checkWritable(AccessLogConfig config) {
        Path file = config.path().toAbsolutePath();
        Path dir = file.getParent();
        if (Files.exists(file)) {
            // The reasons of the open a start makes (EISDIR, EACCES), so that --check says what the start would.
            if (Files.isDirectory(file)) {
                throw new IllegalArgumentException(cannotOpen(config, "Is a directory"));
            }
            if (!Files.isWritable(file)) {
                throw new IllegalArgumentException(cannotOpen(config, "Permission denied"));
            }
            if (!Files.isRegularFile(file)) {
                // A FIFO (or a device): the start's open waits for a reader, and fails without one. Opened and closed
                // the same way; a reader sees a writer come and go, as at each reopen (SIGHUP, SIGUSR1, a restart).
                try {
                    AccessLogWriter.open(config.path()).close();
                } catch (IOException e) {
                    throw new IllegalArgumentException(cannotOpen(config, e), e);
                }
            }
        } else if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException(cannotOpen(config, "No such file or directory"));
        } else if (!Files.isWritable(dir)) {
            throw new IllegalArgumentException(cannotOpen(config, "Permission denied"));
        }
    }

    private static AccessLogWriter openWriter(AccessLogConfig config) {
        try {
            return new AccessLogWriter(config.path());
        } catch (IOException e) {
            throw new IllegalArgumentException(cannotOpen(config, e), e);
        }
    }

    /** The line of a failed open, in the words of open(2). */
    private static String cannotOpen(AccessLogConfig config, IOException e) {
        if (e instanceof NoSuchFileException) {
            return cannotOpen(config, "No such file or directory");
        }
        if (e instanceof AccessDeniedException) {
            return cannotOpen(config, "Permission denied");
        }
        if (e instanceof FileSystemException f) {
            return cannotOpen(config, f.getReason() != null ? f.getReason() : f.getClass().getSimpleName());
        }
        return cannotOpen(config, e.toString());
    }

    private static String cannotOpen(AccessLogConfig config, String why) {
        return "access_log: cannot open " + config.path() + " for appending: " + why;
    }

    /**
     * Starts observing the exchanges of {@code dataPlane}, counting into {@code stats}. Call once, before
     * traffic matters (lines of exchanges that end before are not written).
     */
    public void attach(DataPlane dataPlane, ProxyStats proxyStats) {
        LineFormatter[] perLoop = new LineFormatter[dataPlane.loops().size()];
        for (int i = 0; i < perLoop.length; i++) {
            perLoop[i] = new LineFormatter(zone);
        }
        this.formatters = perLoop;
        this.stats = proxyStats;
        dataPlane.addObserver(this);
    }

    /** Event loop of {@code exchange}. */
    @Override
    public void exchangeEnded(Exchange exchange) {
        Target t = target;
        if (t.writer() == null) {
            return;
        }
        byte[] line = formatters[exchange.loopIndex()].format(exchange, t.format(), System.currentTimeMillis(),
                System.nanoTime());
        if (t.writer().offer(line)) {
            stats.accessLogLines.increment();
        } else {
            stats.accessLogDropped.increment();
        }
    }

    /**
     * Applies the {@code access_log} of a reloaded servers.conf: the same file is closed and reopened by name
     * (logrotate's {@code create} mode); another path or layout applies from the next line; {@code null}
     * turns the log off. A new file that cannot be opened leaves the log as it was and refuses the reload, as a
     * start refuses it. Any thread but an event loop (opening a file blocks).
     *
     * @param servers servers.conf as named on the command line, for an error without a position
     * @throws ConfigException when the new file cannot be opened for appending, said at the key that names it
     */
    public synchronized void reconfigure(AccessLogConfig config, String servers) throws ConfigException {
        Target before = target;
        AccessLogWriter old = before.writer();
        if (config == null) {
            if (old != null) {
                target = OFF;
                old.close();
                log.info("access log {} closed: access_log is no longer configured", old.path());
            }
            return;
        }
        if (old != null && Objects.equals(old.path(), config.path())) {
            target = new Target(old, config.format());
            old.reopen();
            if (before.format() != config.format()) {
                log.info("access log {}: format {} from now", old.path(), config.format().configName());
            }
            return;
        }
        AccessLogWriter next;
        try {
            next = openWriter(config);
        } catch (IllegalArgumentException e) {
            throw config.error(servers, e.getMessage());
        }
        target = new Target(next, config.format());
        log.info("access log: writing {} lines to {}", config.format().configName(), config.path());
        if (old != null) {
            old.close();
        }
    }

    /** Closes the file and opens it again by name (SIGUSR1), or says that there is none. Any thread but an event loop. */
    public synchronized void reopen() {
        AccessLogWriter w = target.writer();
        if (w == null) {
            log.info("no access log to reopen: access_log is not configured");
        } else {
            w.reopen();
        }
    }

    /**
     * The last step of a stop at once (a second SIGTERM), before the process halts: writes what is queued and closes
     * the file, waiting at most {@code waitMillis}. Not synchronized: a stop already closing the file holds this
     * object's monitor for up to 5 s. Any thread.
     */
    public void closeWithin(long waitMillis) {
        AccessLogWriter w = target.writer();
        if (w == null) {
            w = closing; // the stop is writing the last lines: they are the ones to wait for
        }
        if (w != null) {
            w.close(waitMillis);
        }
    }

    /** The writer lines go to now, or null. For tests. */
    AccessLogWriter writerForTest() {
        return target.writer();
    }

    /** Writes what is queued and closes the file. */
    @Override
    public synchronized void close() {
        AccessLogWriter w = target.writer();
        closing = w;
        target = OFF;
        if (w != null) {
            w.close();
        }
    }

    /**
     * The stop's last step: writes what is queued and closes the file, waiting at most what is left of {@code stop}
     * (and the 5 s of {@link #close()}); a writer still busy then is abandoned with one line, its lines lost.
     */
    public synchronized void close(StopDeadline stop) {
        AccessLogWriter w = target.writer();
        closing = w;
        target = OFF;
        if (w != null) {
            stop.step("writing the access log " + w.path());
            long wait = stop.millisLeft(AccessLogWriter.CLOSE_WAIT_MILLIS);
            if (!w.close(wait)) {
                stop.abandoned("the access log " + w.path() + " was not written and closed", wait,
                        "its writer waits in a write to the file, " + w.queued() + " lines still queued");
            }
        }
    }
}
