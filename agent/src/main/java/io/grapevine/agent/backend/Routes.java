package io.grapevine.agent.backend;

import static io.netty.handler.codec.http.HttpResponseStatus.BAD_REQUEST;
import static io.netty.handler.codec.http.HttpResponseStatus.NOT_FOUND;
import static io.netty.handler.codec.http.HttpResponseStatus.OK;

import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.net.URI;
import java.util.List;

/**
 * Maps a request head to its {@link Exchange}. Any method is accepted on every path; a bad
 * or missing query parameter is a {@code 400} that keeps the connection.
 */
final class Routes {
    /** Longest {@code /slow} wait: 10 minutes. */
    static final long MAX_SLOW_MS = 600_000;
    /** Largest {@code /bytes} body: 64 GiB (its digest is computed before the first byte is sent). */
    static final long MAX_BYTES = 64L << 30;

    private Routes() {
    }

    static Exchange route(HttpRequest request, WorkerControl worker) {
        QueryStringDecoder uri = decode(request.uri());
        try {
            return switch (uri.path()) {
                case "/" -> Reply.text(OK, "Hello, I am ID " + worker.id() + "\n");
                case "/health" -> Reply.text(OK, "ok\n");
                case "/crash" -> new CrashExchange(worker);
                case "/echo" -> new EchoExchange(request);
                case "/slow" -> new SlowExchange(number(uri, "ms", 0, MAX_SLOW_MS));
                case "/bytes" -> new BytesExchange(request, number(uri, "n", 0, MAX_BYTES), flag(uri, "chunked"));
                case "/status" -> Reply.empty(HttpResponseStatus.valueOf((int) number(uri, "code", 200, 599)));
                case "/close" -> Reply.text(OK, "closing\n").closing();
                default -> Reply.text(NOT_FOUND, "not found\n");
            };
        } catch (BadParameter e) {
            return Reply.text(BAD_REQUEST, e.getMessage() + "\n");
        }
    }

    /** Origin-form as usual; absolute-form ({@code http://host/path}) too, RFC 9112 section 3.2.2. */
    private static QueryStringDecoder decode(String target) {
        if (!target.startsWith("/")) {
            try {
                URI absolute = new URI(target);
                if (absolute.isAbsolute() && absolute.getRawPath() != null) {
                    String path = absolute.getRawPath().isEmpty() ? "/" : absolute.getRawPath();
                    return new QueryStringDecoder(absolute.getRawQuery() == null ? path : path + "?" + absolute.getRawQuery());
                }
            } catch (java.net.URISyntaxException e) {
                // not absolute-form: routed as given, which ends in 404
            }
        }
        return new QueryStringDecoder(target);
    }

    private static long number(QueryStringDecoder uri, String name, long min, long max) {
        String value = single(uri, name);
        if (value == null) {
            throw new BadParameter("missing query parameter " + name + " (" + min + ".." + max + ")");
        }
        try {
            long n = Long.parseLong(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new BadParameter("query parameter " + name + " must be a whole number " + min + ".." + max + ", got '" + value + "'");
    }

    private static boolean flag(QueryStringDecoder uri, String name) {
        String value = single(uri, name);
        if (value == null || value.equals("0") || value.equals("false")) {
            return false;
        }
        if (value.equals("1") || value.equals("true")) {
            return true;
        }
        throw new BadParameter("query parameter " + name + " must be 1 or 0, got '" + value + "'");
    }

    private static String single(QueryStringDecoder uri, String name) {
        List<String> values = uri.parameters().get(name);
        return values == null || values.isEmpty() ? null : values.get(values.size() - 1);
    }

    private static final class BadParameter extends RuntimeException {
        BadParameter(String message) {
            super(message, null, false, false);
        }
    }
}
