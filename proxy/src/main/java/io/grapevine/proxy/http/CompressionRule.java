package io.grapevine.proxy.http;

/**
 * What {@link ResponseHeadParser} asks of a pool's compression when it decides whether a response is compressed: the
 * smallest known length worth it, whether a {@code Content-Type} is one of those compressed, and whether a compressor
 * is free.
 */
public interface CompressionRule {

    /** Responses whose Content-Length is below this are not compressed. */
    long minLength();

    /** Whether the {@code Content-Type} value {@code b[from, to)} names a media type compressed. */
    boolean compresses(byte[] b, int from, int to);

    /**
     * Whether the media type of the {@code Content-Type} value {@code b[from, to)} (type "/" subtype, then parameters,
     * RFC 9110 section 8.3.1) is one of {@code types} (lower case, without parameters; {@code text/*} stands for every
     * subtype of {@code text}). Case-insensitive; whitespace around it and parameters are ignored. Allocates nothing.
     */
    static boolean listed(byte[] b, int from, int to, java.util.List<String> types) {
        while (from < to && (b[from] == ' ' || b[from] == '\t')) {
            from++;
        }
        int end = from;
        while (end < to && b[end] != ';' && b[end] != ' ' && b[end] != '\t') {
            end++;
        }
        int slash = from;
        while (slash < end && b[slash] != '/') {
            slash++;
        }
        if (slash == from || slash >= end - 1) {
            return false;
        }
        for (String t : types) {
            boolean wildcard = t.endsWith("/*");
            int length = wildcard ? t.length() - 1 : t.length(); // "text/" of "text/*"
            if (wildcard ? slash - from + 1 == length : end - from == length) {
                int k = 0;
                while (k < length && HttpChars.lower(b[from + k]) == t.charAt(k)) {
                    k++;
                }
                if (k == length) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Whether the request accepts gzip. When it does not, a response that would have been compressed still gets
     * {@code Vary: Accept-Encoding}: a shared cache must not give it to a client that does accept gzip.
     */
    default boolean accepted() {
        return true;
    }

    /**
     * Asked last, of a response that would be compressed: whether a compressor is free for it. False leaves the
     * response as it is (the rule counts it).
     */
    default boolean admit() {
        return true;
    }
}
