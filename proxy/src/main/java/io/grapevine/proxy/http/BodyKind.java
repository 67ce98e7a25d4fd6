package io.grapevine.proxy.http;

/** How a message body is delimited on the wire (RFC 9112 section 6). */
public enum BodyKind {
    /** No body at all. */
    NONE,
    /** Exactly {@code Content-Length} bytes. */
    LENGTH,
    /** Chunked transfer coding, ending with the last chunk and the trailer section. */
    CHUNKED,
    /** Until the sender closes the connection (responses only). */
    UNTIL_CLOSE
}
