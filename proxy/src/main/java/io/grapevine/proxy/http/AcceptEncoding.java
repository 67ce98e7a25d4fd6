package io.grapevine.proxy.http;

/**
 * What one {@code Accept-Encoding} field line says of gzip (RFC 9110 section 12.5.3): a list of content codings,
 * each with an optional weight {@code ;q=}; {@code q=0} means "not acceptable", {@code *} stands for any coding not
 * listed, and {@code x-gzip} is {@code gzip} (section 8.4.1.3). Several lines are one list: a caller combines the
 * answers of its lines with {@link #combine}, then reads the whole list's with {@link #verdict}. An answer keeps what
 * the line said of gzip by name apart from what it said of {@code *}, so that {@code gzip} on one line still wins
 * over {@code *;q=0} on another.
 */
public final class AcceptEncoding {

    /** The field does not name gzip, nor {@code *}. */
    public static final int UNSAID = 0;
    /** gzip is acceptable (named, or {@code *}, with a weight above 0). */
    public static final int ACCEPTED = 1;
    /** gzip is named with {@code q=0}: never. */
    public static final int REFUSED = 2;

    private static final byte[] GZIP = {'g', 'z', 'i', 'p'};
    private static final byte[] X_GZIP = {'x', '-', 'g', 'z', 'i', 'p'};

    private AcceptEncoding() {
    }

    /**
     * What {@code b[from, to)} (one field value) says of gzip (named, or {@code x-gzip}) and of {@code *}, for
     * {@link #combine} and {@link #verdict}. A malformed member is skipped, as a list's empty ones are.
     */
    public static int gzip(byte[] b, int from, int to) {
        int named = UNSAID;
        int star = UNSAID;
        int i = from;
        while (i < to) {
            while (i < to && (b[i] == ' ' || b[i] == '\t' || b[i] == ',')) {
                i++;
            }
            int start = i;
            while (i < to && b[i] != ',' && b[i] != ';' && b[i] != ' ' && b[i] != '\t') {
                i++;
            }
            int end = i;
            boolean zero = false;
            // parameters: OWS ";" OWS "q=" qvalue, until the next ","
            while (i < to && b[i] != ',') {
                if (b[i] == ';') {
                    int p = i + 1;
                    while (p < to && (b[p] == ' ' || b[p] == '\t')) {
                        p++;
                    }
                    if (p + 1 < to && (b[p] | 0x20) == 'q' && b[p + 1] == '=') {
                        zero = isZero(b, p + 2, to);
                    }
                }
                i++;
            }
            if (end == start) {
                continue;
            }
            int verdict = zero ? REFUSED : ACCEPTED;
            int length = end - start;
            if (HttpChars.equalsLower(b, start, length, GZIP) || HttpChars.equalsLower(b, start, length, X_GZIP)) {
                named = Math.max(named, verdict);
            } else if (end - start == 1 && b[start] == '*') {
                star = Math.max(star, verdict);
            }
        }
        return named | star << 2;
    }

    /** Two lines' answers ({@link #gzip}) as one: for gzip and for {@code *} alike, a refusal wins, then an acceptance. */
    public static int combine(int a, int b) {
        return Math.max(a & 3, b & 3) | Math.max(a >> 2, b >> 2) << 2;
    }

    /**
     * The list's verdict on gzip from its lines' answers: {@link #ACCEPTED}, {@link #REFUSED} or {@link #UNSAID}. gzip
     * named wins over {@code *}.
     */
    public static int verdict(int answers) {
        int named = answers & 3;
        return named != UNSAID ? named : answers >> 2;
    }

    /** Whether the qvalue at {@code b[from, ...)} is 0 ({@code 0}, {@code 0.}, {@code 0.000}), up to "," or ";". */
    private static boolean isZero(byte[] b, int from, int to) {
        if (from >= to || b[from] != '0') {
            return false;
        }
        int i = from + 1;
        if (i < to && b[i] == '.') {
            i++;
            while (i < to && b[i] == '0') {
                i++;
            }
        }
        while (i < to && (b[i] == ' ' || b[i] == '\t')) {
            i++;
        }
        return i >= to || b[i] == ',' || b[i] == ';';
    }
}
