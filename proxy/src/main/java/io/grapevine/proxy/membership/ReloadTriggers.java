package io.grapevine.proxy.membership;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * What makes the proxy re-read servers.conf and the backend template while running: a change to either
 * file (watched through their directories, so editors that write a new file and rename it are seen too)
 * and SIGHUP, as with nginx and HAProxy. A reload never restarts anything; a bad file is logged and the
 * running configuration stays.
 */
public final class ReloadTriggers implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ReloadTriggers.class);

    private final MembershipView view;
    private final Path config;
    private final Path template;
    private final WatchService watcher;
    private final Thread thread;
    private final List<Runnable> alsoOnSighup = new CopyOnWriteArrayList<>();

    /**
     * @param config   servers.conf, or null
     * @param template the backend template, or null
     */
    public ReloadTriggers(MembershipView view, Path config, Path template) throws IOException {
        this.view = view;
        this.config = config == null ? null : config.toAbsolutePath().normalize();
        this.template = template == null ? null : template.toAbsolutePath().normalize();
        this.watcher = FileSystems.getDefault().newWatchService();
        Set<Path> dirs = new HashSet<>();
        if (this.config != null) {
            dirs.add(this.config.getParent());
        }
        if (this.template != null) {
            dirs.add(this.template.getParent());
        }
        for (Path dir : dirs) {
            dir.register(watcher, StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_CREATE,
                    StandardWatchEventKinds.ENTRY_DELETE);
        }
        this.thread = new Thread(this::watch, "grapevine-config-watch");
        this.thread.setDaemon(true);
    }

    /** Runs {@code action} on SIGHUP too, after the reloads above are handed off; on the JVM's signal thread. */
    public void alsoOnSighup(Runnable action) {
        alsoOnSighup.add(action);
    }

    public void start() {
        thread.start();
        try {
            SignalHandler before = Signal.handle(new Signal("HUP"), s -> {
                log.info("SIGHUP: reloading configuration and template");
                view.reloadConfig("SIGHUP");
                view.reloadTemplate("SIGHUP");
                alsoOnSighup.forEach(Runnable::run);
            });
            if (before == SignalHandler.SIG_IGN) {
                // The JVM keeps a shutdown signal that was ignored at its start ignored, and installs nothing.
                log.warn("SIGHUP is ignored by this process (started under nohup, or by a parent that ignores it): "
                        + "it cannot trigger reloads; file changes still do");
            }
        } catch (IllegalArgumentException e) {
            log.warn("SIGHUP cannot be handled here ({}); file changes are still picked up", e.getMessage());
        }
    }

    private void watch() {
        try {
            for (;;) {
                WatchKey key = watcher.take();
                boolean configChanged = false;
                boolean templateChanged = false;
                Path dir = (Path) key.watchable();
                for (WatchEvent<?> event : key.pollEvents()) {
                    if (event.kind() == StandardWatchEventKinds.OVERFLOW) {
                        configChanged = templateChanged = true;
                        continue;
                    }
                    Path changed = dir.resolve((Path) event.context()).toAbsolutePath().normalize();
                    configChanged |= changed.equals(config);
                    templateChanged |= changed.equals(template);
                }
                key.reset();
                // Editors write in several steps: let the burst settle, then read once.
                Thread.sleep(150);
                for (WatchKey more; (more = watcher.poll()) != null; ) {
                    Path d = (Path) more.watchable();
                    for (WatchEvent<?> event : more.pollEvents()) {
                        if (event.context() instanceof Path p) {
                            Path changed = d.resolve(p).toAbsolutePath().normalize();
                            configChanged |= changed.equals(config);
                            templateChanged |= changed.equals(template);
                        }
                    }
                    more.reset();
                }
                if (configChanged) {
                    view.reloadConfig("file changed");
                }
                if (templateChanged) {
                    view.reloadTemplate("file changed");
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closing
        }
    }

    @Override
    public void close() {
        try {
            watcher.close();
        } catch (IOException e) {
            log.debug("closing the file watcher", e);
        }
        thread.interrupt();
    }
}
