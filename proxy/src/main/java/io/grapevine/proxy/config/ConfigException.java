package io.grapevine.proxy.config;

/**
 * Invalid or unreadable configuration. {@link #getMessage()} is one line that names the source, the position when
 * known, what is wrong and what was expected: {@code servers.conf:3:30: "port" is 70000 in backend_servers[0]
 * (expected an integer 1..65535)}.
 */
public final class ConfigException extends Exception {

    private final String source;
    private final int line;
    private final int column;

    /**
     * @param source   file name or other source as the user knows it
     * @param line     1-based line, or 0 when unknown
     * @param column   1-based column, or 0 when unknown
     * @param what     what is wrong
     * @param expected what was expected, or {@code null} when there is nothing to say
     */
    public ConfigException(String source, int line, int column, String what, String expected) {
        super(oneLine(source + (line > 0 ? ":" + line + (column > 0 ? ":" + column : "") : "") + ": " + what
                + (expected == null ? "" : " (expected " + expected + ")")));
        this.source = source;
        this.line = line;
        this.column = column;
    }

    public String source() {
        return source;
    }

    /** 1-based, or 0 when unknown. */
    public int line() {
        return line;
    }

    /** 1-based, or 0 when unknown. */
    public int column() {
        return column;
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s*[\\r\\n]+\\s*", " ");
    }
}
