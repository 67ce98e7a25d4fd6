package io.grapevine.proxy.membership;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code --render TEMPLATE --out FILE [--on-change CMD]} mode: renders the live membership into any
 * file (an haproxy.cfg, an nginx upstream block) and runs a command when the file changed, like
 * consul-template or a Serf event handler. The file is replaced atomically (write beside, rename), and
 * only when its content differs, so the command runs only for real changes.
 *
 * <p>Rendering runs on the membership view's thread; the command runs on its own thread, one at a time,
 * with a 60 s limit, so a slow reload never stalls membership.
 */
public final class ExportRenderer implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ExportRenderer.class);
    private static final long COMMAND_TIMEOUT_SECONDS = 60;

    private final Path templateFile;
    private final Path out;
    private final String onChange;
    private final ExecutorService commands = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "grapevine-on-change");
        t.setDaemon(true);
        return t;
    });
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong commandFailures = new AtomicLong();
    private BackendTemplate template;
    private FileTime templateTime;
    private String lastWritten;

    public ExportRenderer(Path templateFile, Path out, String onChange) throws BackendTemplate.TemplateException {
        this.templateFile = templateFile;
        this.out = out;
        this.onChange = onChange;
        this.template = BackendTemplate.load(templateFile, BackendTemplate.Escaping.CONFIG);
        this.templateTime = mtime(templateFile);
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
            FileTime t = mtime(templateFile);
            if (t != null && !t.equals(templateTime)) {
                template = BackendTemplate.load(templateFile, BackendTemplate.Escaping.CONFIG);
                templateTime = t;
                log.info("export template {} reloaded", templateFile);
            }
            String text = template.render(context);
            if (text.equals(lastWritten) || (lastWritten == null && text.equals(readOrNull(out)))) {
                lastWritten = text;
                return;
            }
            Path tmp = out.resolveSibling("." + out.getFileName() + ".tmp");
            Files.writeString(tmp, text, StandardCharsets.UTF_8);
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            lastWritten = text;
            writes.incrementAndGet();
            log.info("rendered {} ({} bytes)", out, text.length());
            if (onChange != null) {
                commands.execute(this::runCommand);
            }
        } catch (BackendTemplate.TemplateException | IOException e) {
            log.warn("export {} not rendered: {}", describe(), e.getMessage());
        }
    }

    private void runCommand() {
        try {
            Process p = new ProcessBuilder("/bin/sh", "-c", onChange).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                commandFailures.incrementAndGet();
                log.warn("--on-change command did not finish in {} s and was killed: {}", COMMAND_TIMEOUT_SECONDS,
                        onChange);
            } else if (p.exitValue() != 0) {
                commandFailures.incrementAndGet();
                log.warn("--on-change command exited with {}: {}", p.exitValue(), onChange);
            } else {
                log.info("--on-change command done: {}", onChange);
            }
        } catch (IOException e) {
            commandFailures.incrementAndGet();
            log.warn("--on-change command could not start: {}", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String readOrNull(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return null;
        }
    }

    private static FileTime mtime(Path p) {
        try {
            return Files.getLastModifiedTime(p);
        } catch (IOException e) {
            return null;
        }
    }

    @Override
    public void close() {
        commands.shutdownNow();
    }
}
