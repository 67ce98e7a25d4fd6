package io.grapevine.proxy.membership;

import com.github.mustachejava.Code;
import com.github.mustachejava.DefaultMustacheFactory;
import com.github.mustachejava.DefaultMustacheVisitor;
import com.github.mustachejava.Mustache;
import com.github.mustachejava.MustacheException;
import com.github.mustachejava.MustacheVisitor;
import com.github.mustachejava.TemplateContext;
import com.github.mustachejava.codes.PartialCode;
import io.grapevine.proxy.config.ConfigLoader;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A Mustache template over the membership (see {@link TemplateContexts} for its variables), compiled
 * once per file version.
 *
 * <p>Every value is escaped for the kind of file rendered, including {@code {{{value}}}} and
 * {@code {{&value}}}, which Mustache would otherwise leave raw: member metadata comes from the network,
 * and a tag holding {@code "}, {"ip": "10.6.6.6} must not turn into a backend. JSON templates escape as
 * a JSON string body; configuration templates (haproxy.cfg and the like) replace every character
 * outside {@code [A-Za-z0-9._:/@=+-]} with {@code _}, so no value can break a line or a word.
 */
public final class BackendTemplate {

    /** How values are escaped. */
    public enum Escaping { JSON, CONFIG }

    /** A template that cannot be read, compiled or rendered; the message is one line. */
    public static final class TemplateException extends Exception {
        TemplateException(String message) {
            super(message);
        }
    }

    private final Path file;
    private final String text;
    private final Escaping escaping;
    private final Mustache mustache;
    private final List<Path> partials;

    private BackendTemplate(Path file, String text, Escaping escaping, Mustache mustache, List<Path> partials) {
        this.file = file;
        this.text = text;
        this.escaping = escaping;
        this.mustache = mustache;
        this.partials = partials;
    }

    public static BackendTemplate load(Path file, Escaping escaping) throws TemplateException {
        return compile(file, read(file), escaping);
    }

    /**
     * The template as its file reads now: this one when the text is the same and it includes no partial (no
     * compilation: a reload of an unchanged template costs a read), else the text compiled again. A partial
     * ({@code {{> name}}}) is read from its own file when the template is compiled, so a template that has one is
     * always compiled again: its partial may have changed.
     */
    public BackendTemplate reload() throws TemplateException {
        String now = read(file);
        return now.equals(text) && !hasPartial(mustache.getCodes()) ? this : compile(file, now, escaping);
    }

    private static boolean hasPartial(Code[] codes) {
        if (codes != null) {
            for (Code c : codes) {
                if (c instanceof PartialCode || hasPartial(c.getCodes())) {
                    return true;
                }
            }
        }
        return false;
    }

    private static String read(Path file) throws TemplateException {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new TemplateException(file + ": cannot read template: " + ConfigLoader.reason(e));
        }
    }

    /**
     * @throws TemplateException whatever mustache.java throws: besides its {@link MustacheException}, an
     *         IllegalArgumentException of a partial whose name is no file name ({@code {{> my servers}}}) and the
     *         StackOverflowError of sections nested deeper than the stack goes; none may reach the thread that
     *         compiles (the table thread, which answers reloads)
     */
    public static BackendTemplate compile(Path file, String text, Escaping escaping) throws TemplateException {
        try {
            // A new factory per compilation: mustache.java caches by name, and a reload must see the new text. Its
            // root is the template's directory, where the partials are read from (without one, mustache.java reads
            // them only from under the working directory, and refuses a template in /etc); the template is named
            // relative to it, as its partials are.
            // The built-in template has no directory on disk ("(built-in)/..."): it names no partial, and is compiled
            // under its own name by a factory rooted nowhere, as before.
            Path directory = file.toAbsolutePath().getParent();
            boolean onDisk = directory != null && Files.isDirectory(directory);
            EscapingFactory factory = onDisk ? new EscapingFactory(escaping, directory) : new EscapingFactory(escaping);
            Mustache m = factory.compile(new StringReader(text), onDisk ? file.getFileName().toString() : file.toString());
            return new BackendTemplate(file, text, escaping, m, List.copyOf(factory.partials));
        } catch (RuntimeException e) {
            throw new TemplateException(file + ": " + why(e));
        } catch (StackOverflowError e) {
            throw new TemplateException(file + ": " + TOO_DEEP);
        }
    }

    private static final String TOO_DEEP = "sections or partials nested too deeply";

    /** What went wrong, in one line: mustache.java's message, or the exception's class when it has none. */
    private static String why(RuntimeException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : oneLine(e.getMessage());
    }

    public Path file() {
        return file;
    }

    /**
     * The files of the partials ({@code {{> name}}}) this was compiled with, those they include too: an edit of one
     * of them is an edit of the template, which only a compilation sees.
     */
    public List<Path> partials() {
        return partials;
    }

    /** @throws TemplateException whatever mustache.java throws, as {@link #compile} */
    public String render(Map<String, Object> context) throws TemplateException {
        StringWriter out = new StringWriter(1024);
        try {
            mustache.execute(out, context).flush();
        } catch (IOException e) {
            throw new TemplateException(file + ": render failed: " + oneLine(e.getMessage()));
        } catch (RuntimeException e) {
            throw new TemplateException(file + ": render failed: " + why(e));
        } catch (StackOverflowError e) {
            throw new TemplateException(file + ": render failed: " + TOO_DEEP);
        }
        return out.toString();
    }

    private static String oneLine(String s) {
        return s == null ? "unknown error" : s.replace('\n', ' ').replace('\r', ' ');
    }

    /** JSON string-body escaping (RFC 8259 section 7). */
    static String escapeJson(String value) {
        StringBuilder sb = null;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            String rep = switch (c) {
                case '"' -> "\\\"";
                case '\\' -> "\\\\";
                case '\n' -> "\\n";
                case '\r' -> "\\r";
                case '\t' -> "\\t";
                case '\b' -> "\\b";
                case '\f' -> "\\f";
                default -> c < 0x20 || c == 0x2028 || c == 0x2029 ? String.format("\\u%04x", (int) c) : null;
            };
            if (rep != null && sb == null) {
                sb = new StringBuilder(value.length() + 16).append(value, 0, i);
            }
            if (sb != null) {
                if (rep != null) {
                    sb.append(rep);
                } else {
                    sb.append(c);
                }
            }
        }
        return sb == null ? value : sb.toString();
    }

    /** Configuration-word escaping: anything outside a conservative set becomes '_'. */
    static String escapeConfigWord(String value) {
        StringBuilder sb = new StringBuilder(value.length());
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || ".:_/@=+-".indexOf(c) >= 0;
            sb.append(safe ? c : '_');
        }
        return sb.toString();
    }

    private static final class EscapingFactory extends DefaultMustacheFactory {
        private final Escaping escaping;
        private final Path root;
        /** The partials read, in the compiling thread; a factory compiles one template. */
        private final List<Path> partials = new ArrayList<>();

        EscapingFactory(Escaping escaping, Path root) {
            super(root.toFile());
            this.escaping = escaping;
            this.root = root;
        }

        /** Partials read from under the working directory: mustache.java's default. */
        EscapingFactory(Escaping escaping) {
            this.escaping = escaping;
            this.root = Path.of("");
        }

        @Override
        public void encode(String value, Writer writer) {
            try {
                writer.write(escaping == Escaping.JSON ? escapeJson(value) : escapeConfigWord(value));
            } catch (IOException e) {
                throw new MustacheException("failed to write a value", e);
            }
        }

        @Override
        public Reader getReader(String resourceName) {
            partials.add(root.resolve(resourceName));
            return super.getReader(resourceName);
        }

        @Override
        public MustacheVisitor createMustacheVisitor() {
            return new DefaultMustacheVisitor(this) {
                @Override
                public void value(TemplateContext tc, String variable, boolean encoded) {
                    super.value(tc, variable, true); // no raw output, whatever the template asks
                }
            };
        }
    }
}
