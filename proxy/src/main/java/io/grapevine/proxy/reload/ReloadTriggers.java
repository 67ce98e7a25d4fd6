package io.grapevine.proxy.reload;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import io.grapevine.proxy.net.Descriptors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * What makes the proxy re-read servers.conf and the backend template while running: a change to either
 * file, SIGHUP, as with nginx and HAProxy, and {@code POST /reload} ({@link #reloadNow}), which does what
 * SIGHUP does. A reload never restarts anything; a bad file is logged and the running configuration stays.
 *
 * <p>Each file is watched through its directory, and any event there (not only one naming the file)
 * makes the watch read the file again, following symbolic links, and compare a digest of its content
 * with the last one seen: a reload happens when the content changed. So an editor that writes a new
 * file and renames it is seen, and so is a Kubernetes ConfigMap update, where {@code servers.conf} is a
 * link to {@code ..data/servers.conf} and the update swaps the {@code ..data} link, an event that names
 * neither the file nor anything the file's path goes through. An event that leaves the content as it
 * was (a touch, another file) reloads nothing. An edit of a link's target in another directory makes no
 * event here: SIGHUP covers it.
 *
 * <p>Threads: the watch runs on its own daemon thread; SIGHUP arrives on the JVM's signal thread; the
 * digests are guarded by this object's monitor. The reload callbacks only hand work to the table thread.
 */
public final class ReloadTriggers implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ReloadTriggers.class);

    /** Editors and kubelet change a directory in several steps: the watch waits this long for the burst to end. */
    private static final long SETTLE_MILLIS = 150;
    /** How soon a file that could not be read for want of a descriptor is read again, events or not. */
    static final long RETRY_MILLIS = 1000;
    /**
     * The digest of a file that could not be read for want of a file descriptor ({@link Descriptors#exhausted}):
     * nothing is known of its content, so it is neither a change nor a removal. Compared by identity.
     */
    private static final byte[] NOT_READ = new byte[0];

    /** One watched file: its path as configured (maybe a link), the digest of what it read last, its reload. */
    private static final class Watched {
        final Path file;
        final Consumer<String> reload;
        byte[] digest;

        Watched(Path file, Consumer<String> reload, byte[] digest) {
            this.file = file;
            this.reload = reload;
            this.digest = digest;
        }
    }

    /** Reads a watched file's content: {@link Files#readAllBytes}, or a test's. */
    @FunctionalInterface
    interface FileContent {
        byte[] read(Path file) throws IOException;
    }

    /** Re-reads servers.conf and / or the template at once, and tells what that did. */
    @FunctionalInterface
    interface Reloader {
        CompletableFuture<ReloadOutcome> reload(String why, boolean config, boolean template);
    }

    private final List<Watched> watched = new ArrayList<>();
    private final Reloader reloader;
    private final boolean watchesConfig;
    private final boolean watchesTemplate;
    private final WatchService watcher;
    private final Thread thread;
    private final List<Consumer<String>> alsoOnSighup = new CopyOnWriteArrayList<>();
    /**
     * Set by {@link #close()}, the first of the proxy's stop steps to touch the reloads: the SIGHUP handler, which stays
     * installed to the end (the JVM's default would exit 129), then reloads nothing, as the table thread it hands work
     * to stops with the last steps. Written by the stopping thread, read on the JVM's signal thread.
     */
    private volatile boolean closed;
    private final FileContent content;
    /**
     * A watched file could not be read for want of a file descriptor: the watch reads every file again
     * {@link #RETRY_MILLIS} later, as a change made meanwhile may make no further event. Guarded by this object's
     * monitor.
     */
    private boolean retry;

    /**
     * @param config   servers.conf, or null
     * @param template the backend template, or null
     */
    public ReloadTriggers(RunningConfig running, Path config, Path template) throws IOException {
        this(config, running::reloadConfig, template, running::reloadTemplate, Files::readAllBytes, running::reload);
    }

    /**
     * @param config         servers.conf, or null
     * @param reloadConfig   called with the reason when servers.conf must be re-read
     * @param template       the backend template, or null
     * @param reloadTemplate called with the reason when the template must be re-read
     */
    ReloadTriggers(Path config, Consumer<String> reloadConfig, Path template, Consumer<String> reloadTemplate)
            throws IOException {
        this(config, reloadConfig, template, reloadTemplate, Files::readAllBytes);
    }

    /** As above, the files read by {@code content}. */
    ReloadTriggers(Path config, Consumer<String> reloadConfig, Path template, Consumer<String> reloadTemplate,
                   FileContent content) throws IOException {
        this(config, reloadConfig, template, reloadTemplate, content, (why, c, t) -> {
            if (c) {
                reloadConfig.accept(why);
            }
            if (t) {
                reloadTemplate.accept(why);
            }
            return CompletableFuture.completedFuture(null);
        });
    }

    private ReloadTriggers(Path config, Consumer<String> reloadConfig, Path template, Consumer<String> reloadTemplate,
                           FileContent content, Reloader reloader) throws IOException {
        this.reloader = reloader;
        this.content = content;
        this.watchesConfig = config != null;
        this.watchesTemplate = template != null;
        if (config != null) {
            Path file = config.toAbsolutePath().normalize();
            watched.add(new Watched(file, reloadConfig, digest(file)));
        }
        if (template != null) {
            Path file = template.toAbsolutePath().normalize();
            watched.add(new Watched(file, reloadTemplate, digest(file)));
        }
        this.watcher = FileSystems.getDefault().newWatchService();
        Set<Path> dirs = new HashSet<>();
        for (Watched w : watched) {
            dirs.add(w.file.getParent());
        }
        for (Path dir : dirs) {
            dir.register(watcher, StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_CREATE,
                    StandardWatchEventKinds.ENTRY_DELETE);
        }
        this.thread = new Thread(this::watch, "grapevine-config-watch");
        this.thread.setDaemon(true);
    }

    /**
     * Runs {@code action} on SIGHUP and {@code POST /reload} too (TLS certificates, say), after the reloads above
     * are handed off, with what asked for it ("SIGHUP", "admin API POST /reload from ...") for its log lines; on the
     * caller's thread (the JVM's signal thread, or the admin's).
     */
    public void alsoOnSighup(Consumer<String> action) {
        alsoOnSighup.add(action);
    }

    public void start() {
        thread.start();
        try {
            SignalHandler before = Signal.handle(new Signal("HUP"), s -> onSighup());
            if (before == SignalHandler.SIG_IGN) {
                // The JVM keeps a shutdown signal that was ignored at its start ignored, and installs nothing.
                log.warn("SIGHUP is ignored by this process (started under nohup, or by a parent that ignores it): "
                        + "it cannot trigger reloads; file changes still do");
            }
        } catch (IllegalArgumentException e) {
            log.warn("SIGHUP cannot be handled here ({}); file changes are still picked up", e.getMessage());
        }
    }

    /** On the JVM's signal thread: a reload, unless the proxy is stopping. */
    private void onSighup() {
        if (closed) {
            log.info("SIGHUP received: ignored (stopping)");
        } else {
            reloadNow("SIGHUP");
        }
    }

    private void watch() {
        try {
            for (;;) {
                Set<Path> changedDirs = new HashSet<>();
                boolean retrying = retrying();
                WatchKey key = retrying ? watcher.poll(RETRY_MILLIS, TimeUnit.MILLISECONDS) : watcher.take();
                boolean all = retrying; // every file is read again until each could be
                if (key != null) {
                    all |= collect(key, changedDirs);
                    Thread.sleep(SETTLE_MILLIS);
                }
                for (WatchKey more; (more = watcher.poll()) != null; ) {
                    all |= collect(more, changedDirs);
                }
                reloadChanged(changedDirs, all);
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closing
        }
    }

    private synchronized boolean retrying() {
        return retry;
    }

    /** Notes the directory of a key that has events; true if events were lost (then every file is read). */
    private static boolean collect(WatchKey key, Set<Path> changedDirs) {
        boolean overflow = false;
        for (WatchEvent<?> event : key.pollEvents()) {
            overflow |= event.kind() == StandardWatchEventKinds.OVERFLOW;
        }
        changedDirs.add((Path) key.watchable());
        key.reset();
        return overflow;
    }

    /**
     * Reloads each file in a changed directory whose content is not what was read last. A file that cannot be read for
     * want of a descriptor is left as it was, neither changed nor removed, and read again a little later: a process at
     * its open-files limit (a connection flood) would otherwise take it for removed and then changed back, two reloads
     * of a file nobody touched, the first logged as "removed or unreadable".
     */
    private synchronized void reloadChanged(Set<Path> changedDirs, boolean all) {
        boolean notRead = false;
        for (Watched w : watched) {
            if (all || changedDirs.contains(w.file.getParent())) {
                byte[] now = digest(w.file);
                if (now == NOT_READ) {
                    notRead = true;
                } else if (!Arrays.equals(now, w.digest)) {
                    w.digest = now;
                    w.reload.accept(now == null ? "file removed or unreadable" : "file changed");
                }
            }
        }
        if (notRead != retry) {
            retry = notRead;
            if (notRead) {
                log.warn("a change in the directory of {} was not looked at: the process is out of file descriptors"
                        + " (limit {}); the files are read again every {} ms until they can be", fileNames(),
                        Descriptors.limit(), RETRY_MILLIS);
            } else {
                log.info("{} read again after the shortage of file descriptors", fileNames());
            }
        }
    }

    private String fileNames() {
        List<String> names = new ArrayList<>();
        for (Watched w : watched) {
            names.add(w.file.toString());
        }
        return String.join(" and ", names);
    }

    /**
     * Re-reads servers.conf and the template (those this watches) now: SIGHUP and {@code POST /reload}. The
     * digests are taken first, so the file watch does not read the same content again.
     *
     * @return what the reload did, when it is done
     */
    public synchronized CompletableFuture<ReloadOutcome> reloadNow(String why) {
        log.info("{}: reloading {}", why, watchesConfig && watchesTemplate ? "servers.conf and the template"
                : watchesConfig ? "servers.conf" : "the template");
        for (Watched w : watched) {
            byte[] now = digest(w.file);
            if (now != NOT_READ) { // else the reload's own read says why it failed, and the watch reads it again
                w.digest = now;
            }
        }
        CompletableFuture<ReloadOutcome> outcome = reloader.reload(why, watchesConfig, watchesTemplate);
        alsoOnSighup.forEach(action -> action.accept(why));
        return outcome;
    }

    /**
     * SHA-256 of the file's content (links followed); null when it cannot be read, {@link #NOT_READ} when it could not
     * be read for want of a file descriptor.
     */
    private byte[] digest(Path file) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(content.read(file));
        } catch (IOException e) {
            return Descriptors.exhausted(e) ? NOT_READ : null;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            watcher.close();
        } catch (IOException e) {
            log.debug("closing the file watcher", e);
        }
        thread.interrupt();
    }
}
