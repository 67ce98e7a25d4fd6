package io.grapevine.proxy.http;

/** The protocol a client speaks, which decides how a response is framed for it. */
public enum ClientProtocol {
    /** HTTP/1.0: no chunked coding, keep-alive only when announced. */
    HTTP_1_0,
    /** HTTP/1.1. */
    HTTP_1_1,
    /** HTTP/2: framing and connection management belong to the HTTP/2 layer. */
    HTTP_2
}
