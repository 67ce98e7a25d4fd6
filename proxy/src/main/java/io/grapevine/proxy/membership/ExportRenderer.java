package io.grapevine.proxy.membership;

import io.grapevine.proxy.config.ConfigLoader;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code --render TEMPLATE --out FILE [--on-change CMD]} mode: renders the live membership into any
 * file (an haproxy.cfg, an nginx upstream block) and runs a command when the file changed, like
 * consul-template or a Serf event handler. The file is replaced atomically (write beside, force to disk, rename), and
 * only when its content differs, so the command runs only for real changes.
 *
 * <p>Rendering runs on the membership view's thread; the command runs on its own thread, one at a time,
 * killed after its time limit ({@code --on-change-timeout-ms}, 60 s by default), so a slow reload never
 * stalls membership. Runs are coalesced: changes while a run is waiting to start share that run, which reads
 * the file as it is when it starts, so a burst of membership changes during a slow reload costs one more
 * reload, not one per change (as consul-template's {@code wait}). When it fails or times out, the first lines of its output (standard output and error
 * together) are logged with the exit status, as {@code haproxy -c} would print why a file was refused.
 */
public final class ExportRenderer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ExportRenderer.class);
    /** The default limit of one run of the command. */
    public static final Duration DEFAULT_COMMAND_TIMEOUT = Duration.ofSeconds(60);
    /** How much of a failed command's output is logged. */
    static final int OUTPUT_LINES = 20;
    private static final int OUTPUT_LINE_CHARS = 300;
    /** How long {@link #close()} waits for the command's kill. */
    public static final long CLOSE_WAIT_MILLIS = 2000;
    /**
     * util-linux's {@code setsid}, if it is on the PATH (null otherwise): the command runs in a session, and so a
     * process group, of its own, which one signal kills whole ({@link #kill}). The shell {@code setsid} starts is not a
     * process group leader (it is a new process of the proxy's group), so {@code setsid} execs it without forking:
     * the command's process id is its group's.
     */
    private static final String SETSID = onPath("setsid");

    private final Path templateFile;
    private final Path out;
    private final String onChange;
    private final Duration commandTimeout;
    private final Disk disk;
    private final ExecutorService commands = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "grapevine-on-change");
        t.setDaemon(true);
        return t;
    });
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong commandFailures = new AtomicLong();
    /** A run of the command is queued and has not started yet: a change needs no other run. */
    private final AtomicBoolean commandQueued = new AtomicBoolean();
    private BackendTemplate template;
    /** When {@link #template}'s file and each of its partials' were last modified, as last seen (null: no file). */
    private List<FileTime> templateTimes;
    private String lastWritten;

    public ExportRenderer(Path templateFile, Path out, String onChange) throws BackendTemplate.TemplateException {
        this(templateFile, out, onChange, DEFAULT_COMMAND_TIMEOUT);
    }

    /** @param commandTimeout how long one run of {@code onChange} may take before it is killed */
    public ExportRenderer(Path templateFile, Path out, String onChange, Duration commandTimeout)
            throws BackendTemplate.TemplateException {
        this(templateFile, out, onChange, commandTimeout, Disk.SYSTEM);
    }

    ExportRenderer(Path templateFile, Path out, String onChange, Duration commandTimeout, Disk disk)
            throws BackendTemplate.TemplateException {
        this.disk = disk;
        this.templateFile = templateFile;
        this.out = out;
        this.onChange = onChange;
        this.commandTimeout = commandTimeout;
        this.template = BackendTemplate.load(templateFile, BackendTemplate.Escaping.CONFIG);
        this.templateTimes = modified(template);
    }

    String describe() {
        return templateFile + " -> " + out;
    }

    public long writes() {
        return writes.get();
    }

    public long commandFailures() {
        return commandFailures.get();
    }

    /** Renders; writes and runs the command if the text changed. Never throws. */
    void render(Map<String, Object> context) {
        try {
            // An edit of a partial is one of the template: the proxy's template compiles its partials again on reload.
            List<FileTime> t = modified(template);
            if (t.get(0) != null && !t.equals(templateTimes)) {
                templateTimes = t; // a version that does not compile is reported once, not at every render
                try {
                    template = BackendTemplate.load(templateFile, BackendTemplate.Escaping.CONFIG);
                    templateTimes = modified(template); // its partials may be others
                    log.info("export template {} reloaded", templateFile);
                } catch (BackendTemplate.TemplateException e) {
                    log.warn("export template not reloaded, the running one stays until the next edit: {}", e.getMessage());
                }
            }
            String text = template.render(context);
            if (text.equals(lastWritten) || (lastWritten == null && text.equals(readOrNull(out)))) {
                lastWritten = text;
                return;
            }
            replace(text);
            lastWritten = text;
            writes.incrementAndGet();
            log.info("rendered {} ({} bytes)", out, text.length());
            if (onChange != null && commandQueued.compareAndSet(false, true)) {
                commands.execute(this::runCommand);
            }
        } catch (BackendTemplate.TemplateException e) {
            log.warn("export {} not rendered: {}", describe(), e.getMessage());
        } catch (IOException e) {
            log.warn("export {} not rendered: {}", describe(), ConfigLoader.describe(e));
        }
    }

    private void runCommand() {
        // Cleared before the start: a file written from here on may not be what this run reads, so it queues another.
        commandQueued.set(false);
        Process p;
        try {
            // Its standard input is empty: a pipe no one writes would hold a command that reads it until it is killed.
            List<String> command = SETSID == null ? List.of("/bin/sh", "-c", onChange)
                    : List.of(SETSID, "/bin/sh", "-c", onChange);
            p = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            commandFailures.incrementAndGet();
            log.warn("--on-change command could not start: {}", e.getMessage());
            return;
        }
        CommandOutput output = CommandOutput.collect(p);
        try {
            if (!p.waitFor(commandTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                commandFailures.incrementAndGet();
                log.warn("--on-change command did not finish in {} ms (--on-change-timeout-ms) and was killed: {}{}",
                        commandTimeout.toMillis(), onChange, output.describe());
            } else if (p.exitValue() != 0) {
                commandFailures.incrementAndGet();
                log.warn("--on-change command exited with {}: {}{}", p.exitValue(), onChange, output.describe());
            } else {
                log.info("--on-change command done: {}", onChange);
            }
        } catch (InterruptedException e) { // close(): the proxy stops
            kill(p);
            log.warn("--on-change command killed, the proxy stopping: {}", onChange);
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Kills the command and the processes it started, which the shell would otherwise leave running. In a process
     * group of its own ({@link #SETSID}), one {@code SIGKILL} to the group kills the shell and every process of it
     * at once, however fast the shell forks; those that left the group first (a command that daemonizes with
     * {@code setsid} or {@code setpgid}) are in the list of its descendants taken before, and killed one by one.
     * Without a group of its own, a child the shell forks while its descendants are listed is not in that list, and
     * once the shell is dead it is no longer its descendant: so the listing is repeated, while the shell lives, until
     * it finds none alive (a few passes), and the shell is killed last; a child forked between the last pass and the
     * shell's kill escapes.
     */
    private static void kill(Process p) {
        if (SETSID != null) {
            List<ProcessHandle> before = p.descendants().toList();
            killGroup(p.pid());
            before.forEach(ProcessHandle::destroyForcibly);
        }
        for (int pass = 0; pass < 10; pass++) {
            List<ProcessHandle> alive = p.descendants().filter(ProcessHandle::isAlive).toList();
            if (alive.isEmpty()) {
                break;
            }
            alive.forEach(ProcessHandle::destroyForcibly);
            for (ProcessHandle h : alive) {
                h.onExit().completeOnTimeout(h, 100, TimeUnit.MILLISECONDS).join();
            }
        }
        p.destroyForcibly();
    }

    /**
     * SIGKILL to process group {@code pgid}, by the shell's {@code kill} (Java signals single processes only). A group
     * of that id exists only if the command leads it: never the proxy's own.
     */
    private static void killGroup(long pgid) {
        try {
            Process kill = new ProcessBuilder("/bin/sh", "-c", "kill -s KILL -- -" + pgid)
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!kill.waitFor(1, TimeUnit.SECONDS)) { // milliseconds; within close()'s wait even if the shell hangs
                kill.destroyForcibly();
            }
        } catch (IOException e) {
            log.debug("kill of process group {} could not start: {}", pgid, e.getMessage()); // the passes follow
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The first executable file named {@code name} in the PATH's directories, or null. */
    private static String onPath(String name) {
        String path = System.getenv("PATH");
        for (String dir : (path == null ? "/usr/bin:/bin" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                return Path.of(dir, name).toString();
            }
        }
        return null;
    }

    /**
     * The first {@link #OUTPUT_LINES} lines a command writes, read on a thread of their own so that a chatty
     * command never blocks on a full pipe (the rest is read and dropped).
     */
    private static final class CommandOutput {
        private final List<String> lines = new ArrayList<>();
        private final Thread reader;
        private boolean truncated;

        private CommandOutput(Process process) {
            this.reader = new Thread(() -> read(process), "grapevine-on-change-output");
            this.reader.setDaemon(true);
        }

        static CommandOutput collect(Process process) {
            CommandOutput output = new CommandOutput(process);
            output.reader.start();
            return output;
        }

        private void read(Process process) {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    synchronized (this) {
                        if (lines.size() < OUTPUT_LINES) {
                            lines.add(line.length() > OUTPUT_LINE_CHARS ? line.substring(0, OUTPUT_LINE_CHARS) + "..." : line);
                        } else {
                            truncated = true;
                        }
                    }
                }
            } catch (IOException e) {
                // the process was killed; what was read so far is reported
            }
        }

        /** "; output:" and the lines read, each on its own indented line; waits briefly for the reader. */
        String describe() {
            try {
                reader.join(1000); // a killed command's children may hold the pipe open: do not wait for them
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            synchronized (this) {
                if (lines.isEmpty()) {
                    return "; no output";
                }
                return "; output" + (truncated ? " (first " + OUTPUT_LINES + " lines)" : "") + ":\n  | "
                        + String.join("\n  | ", lines);
            }
        }
    }

    /**
     * The two steps that make a replaced {@code --out} survive a power loss, as consul-template's fsync before its
     * rename: what was written forced to the disk, and the rename. {@link #SYSTEM} is the one in use; a test sees
     * their order through its own.
     */
    interface Disk {
        Disk SYSTEM = new Disk() {
            @Override
            public void force(FileChannel channel, Path path) throws IOException {
                channel.force(true);
            }

            @Override
            public void move(Path from, Path to) throws IOException {
                Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        };

        /** Returns once what was written through {@code channel} (the file or directory {@code path}) is on the disk. */
        void force(FileChannel channel, Path path) throws IOException;

        /** Renames {@code from} over {@code to} atomically. */
        void move(Path from, Path to) throws IOException;
    }

    /**
     * Replaces {@code out} with {@code text}: written beside it, forced to the disk, then renamed over it, so that
     * neither a reader nor a power loss ever finds a partial or empty file where the old one was (a file system may
     * otherwise commit the rename before the data, and the next reload load an empty haproxy.cfg). The directory is
     * forced after, so that the rename itself is kept. An {@code out} that is a symbolic link stays one: the file it
     * points to is the one replaced.
     *
     * <p>The new file has {@code out}'s permissions, and its owner and group where this process may set them (as
     * root), as consul-template does. An haproxy.cfg kept at 0640 root:haproxy because it holds a stats password
     * stays so; the file beside is created with those permissions, so the text is never readable by more than it
     * was. A new {@code out} gets the process's defaults (its umask).
     */
    private void replace(String text) throws IOException {
        Path file = fileOf(out);
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        PosixFileAttributes was;
        try {
            was = Files.readAttributes(file, PosixFileAttributes.class);
        } catch (NoSuchFileException | UnsupportedOperationException e) {
            was = null;
        }
        Files.deleteIfExists(tmp);
        FileAttribute<?>[] created = was == null ? new FileAttribute<?>[0]
                : new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(was.permissions())};
        try (FileChannel channel = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                created)) {
            ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
            if (was != null) {
                keepAttributes(tmp, file, was);
            }
            disk.force(channel, tmp);
        }
        disk.move(tmp, file);
        Path directory = file.toAbsolutePath().getParent();
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            disk.force(channel, directory);
        } catch (IOException e) { // a file system that cannot sync a directory: the file itself is whole
            log.debug("{}: directory {} not synced: {}", file, directory, e.toString());
        }
    }

    /**
     * The file a write of {@code out} replaces: {@code out}, or, if it is a symbolic link, the file it leads to (which
     * need not exist yet). A link is written through, as consul-template does, and stays a link.
     */
    public static Path fileOf(Path out) throws IOException {
        Path file = out;
        for (int links = 0; Files.isSymbolicLink(file); links++) {
            if (links == 40) {
                throw new FileSystemException(out.toString(), null, "too many levels of symbolic links");
            }
            file = file.resolveSibling(Files.readSymbolicLink(file));
        }
        return file;
    }

    /** Gives {@code tmp} the permissions, owner and group {@code out} had, as far as this process may. */
    private static void keepAttributes(Path tmp, Path out, PosixFileAttributes was) throws IOException {
        Files.setPosixFilePermissions(tmp, was.permissions()); // the umask may have taken bits off at creation
        PosixFileAttributeView view = Files.getFileAttributeView(tmp, PosixFileAttributeView.class);
        try {
            if (!view.readAttributes().owner().equals(was.owner())) {
                view.setOwner(was.owner());
            }
            if (!view.readAttributes().group().equals(was.group())) {
                view.setGroup(was.group());
            }
        } catch (FileSystemException e) { // not root: the file is the renderer's own, as any file it creates
            log.debug("{} keeps its permissions but not its owner and group: {}", out, e.getMessage());
        }
    }

    private static String readOrNull(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return null;
        }
    }

    /** When {@code t}'s file was last modified, then each of its partials (null for one that cannot be read). */
    private static List<FileTime> modified(BackendTemplate t) {
        List<FileTime> times = new ArrayList<>(1 + t.partials().size());
        times.add(mtime(t.file()));
        for (Path partial : t.partials()) {
            times.add(mtime(partial));
        }
        return times;
    }

    private static FileTime mtime(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Kills a run of the command still going, with the processes it started, and returns once that is done (at most
     * {@link #CLOSE_WAIT_MILLIS}): the proxy exits right after, and a kill left to the command's thread would then
     * never come.
     */
    @Override
    public void close() {
        close(CLOSE_WAIT_MILLIS);
    }

    /** {@link #close()}, waiting at most {@code waitMillis} (a stop's, what is left of it). */
    public void close(long waitMillis) {
        commands.shutdownNow(); // interrupts a run: runCommand kills the command
        try {
            if (!commands.awaitTermination(waitMillis, TimeUnit.MILLISECONDS)) {
                log.warn("--on-change command not killed within {} ms of the stop: {}", waitMillis, onChange);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
