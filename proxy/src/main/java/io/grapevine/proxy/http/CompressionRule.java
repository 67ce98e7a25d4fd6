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
