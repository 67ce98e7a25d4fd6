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
import java.util.function.Consumer;
import java.util.concurrent.CopyOnWriteArrayList;
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

    /** One watched file: its path as configured (maybe a link), the digest of what it read last, its reload. */
    private static final class Watched {
        final Path file;
        final Consumer<String> reload;
        byte[] digest;

        Watched(Path file, Consumer<String> reload) {
            this.file = file;
            this.reload = reload;
            this.digest = digest(file);
        }
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

    /**
     * @param config   servers.conf, or null
     * @param template the backend template, or null
     */
    public ReloadTriggers(RunningConfig running, Path config, Path template) throws IOException {
        this(config, running::reloadConfig, template, running::reloadTemplate, running::reload);
    }

    /**
     * @param config         servers.conf, or null
     * @param reloadConfig   called with the reason when servers.conf must be re-read
     * @param template       the backend template, or null
     * @param reloadTemplate called with the reason when the template must be re-read
     */
    ReloadTriggers(Path config, Consumer<String> reloadConfig, Path template, Consumer<String> reloadTemplate)
            throws IOException {
        this(config, reloadConfig, template, reloadTemplate, (why, c, t) -> {
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
                           Reloader reloader) throws IOException {
        this.reloader = reloader;
        this.watchesConfig = config != null;
        this.watchesTemplate = template != null;
        if (config != null) {
            watched.add(new Watched(config.toAbsolutePath().normalize(), reloadConfig));
        }
        if (template != null) {
            watched.add(new Watched(template.toAbsolutePath().normalize(), reloadTemplate));
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
                boolean overflow = collect(watcher.take(), changedDirs);
                Thread.sleep(SETTLE_MILLIS);
                for (WatchKey more; (more = watcher.poll()) != null; ) {
                    overflow |= collect(more, changedDirs);
                }
                reloadChanged(changedDirs, overflow);
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closing
        }
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

    /** Reloads each file in a changed directory whose content is not what was read last. */
    private synchronized void reloadChanged(Set<Path> changedDirs, boolean all) {
        for (Watched w : watched) {
            if (all || changedDirs.contains(w.file.getParent())) {
                byte[] now = digest(w.file);
                if (!Arrays.equals(now, w.digest)) {
                    w.digest = now;
                    w.reload.accept(now == null ? "file removed or unreadable" : "file changed");
                }
            }
        }
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
            w.digest = digest(w.file);
        }
        CompletableFuture<ReloadOutcome> outcome = reloader.reload(why, watchesConfig, watchesTemplate);
        alsoOnSighup.forEach(action -> action.accept(why));
        return outcome;
    }

    /** SHA-256 of the file's content (links followed); null when it cannot be read. */
    private static byte[] digest(Path file) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
        } catch (IOException e) {
            return null;
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
