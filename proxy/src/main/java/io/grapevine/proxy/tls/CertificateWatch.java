package io.grapevine.proxy.tls;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells when certificate or key files may have changed: any event in the directory of a file, or in the directory
 * of the file a link leads to, and every {@link #POLL_SECONDS} seconds anyway. The check it triggers compares
 * digests of the contents, so an event that changed nothing costs one read of a few kilobytes. Watching
 * directories rather than names catches editors that write a new file and rename it, and a Kubernetes secret
 * update, which swaps the {@code ..data} link of the volume in one rename that names none of the files. The
 * periodic check covers file systems that report nothing (network mounts).
 *
 * <p>Thread: its own daemon thread, {@code grapevine-tls-watch}, which also runs the check.
 */
final class CertificateWatch implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(CertificateWatch.class);

    static final long POLL_SECONDS = 10;
    /** Files are replaced in several steps (certificate, then key): the check waits for the burst to end. */
    private static final long SETTLE_MILLIS = 200;

    private final List<Path> files;
    private final Runnable check;
    private final WatchService watcher;
    private final Set<Path> watched = new HashSet<>();
    private final Thread thread;

    /**
     * @param files the files to watch, as configured (maybe links)
     * @param check what to run when they may have changed; on the watch thread
     */
    CertificateWatch(List<Path> files, Runnable check) throws IOException {
        this.files = files.stream().map(f -> f.toAbsolutePath().normalize()).toList();
        this.check = check;
        this.watcher = FileSystems.getDefault().newWatchService();
        watchDirectories();
        this.thread = new Thread(this::run, "grapevine-tls-watch");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    private void run() {
        try {
            for (;;) {
                WatchKey key = watcher.poll(POLL_SECONDS, TimeUnit.SECONDS);
                if (key != null) {
                    drain(key);
                    Thread.sleep(SETTLE_MILLIS);
                    for (WatchKey more; (more = watcher.poll()) != null; ) {
                        drain(more);
                    }
                }
                try {
                    check.run();
                } catch (RuntimeException e) {
                    log.error("checking the TLS certificate files failed; the certificates in use stay", e);
                }
                watchDirectories(); // a link may lead elsewhere now
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closing
        }
    }

    private void drain(WatchKey key) {
        key.pollEvents();
        if (!key.reset()) {
            watched.remove((Path) key.watchable()); // the directory is gone; register it again if it comes back
        }
    }

    /** Registers the directory of each file and of each file's link target, once each. */
    private void watchDirectories() {
        Set<Path> dirs = new HashSet<>();
        for (Path f : files) {
            dirs.add(f.getParent());
            try {
                dirs.add(f.toRealPath().getParent());
            } catch (IOException e) {
                // missing just now (being replaced): the next round registers it
            }
        }
        for (Path dir : dirs) {
            if (!watched.contains(dir)) {
                try {
                    dir.register(watcher, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                            StandardWatchEventKinds.ENTRY_DELETE);
                    watched.add(dir);
                } catch (IOException e) {
                    log.debug("cannot watch {}: {}", dir, e.toString());
                }
            }
        }
    }

    @Override
    public void close() {
        thread.interrupt();
        try {
            watcher.close();
        } catch (IOException e) {
            log.debug("closing the TLS certificate watch", e);
        }
    }
}
