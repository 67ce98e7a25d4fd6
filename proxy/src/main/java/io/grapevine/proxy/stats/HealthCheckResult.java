package io.grapevine.proxy.stats;

/**
 * The outcome of one active health check, in HAProxy's terms so that its CSV columns {@code check_status},
 * {@code check_code} and {@code check_duration} can carry it.
 *
 * @param ok             whether the check passed
 * @param status         {@code L4OK} (connected), {@code L4CON} (connection refused or reset), {@code L4TOUT}
 *                       (no connection in time), {@code L7OK} (2xx or 3xx), {@code L7STS} (another status),
 *                       {@code L7RSP} (no valid status line), {@code L7TOUT} (connected, no answer in time),
 *                       {@link #SOCKET_ERROR} (the proxy could not open the check's socket: no verdict on the server)
 * @param code           the HTTP status of an HTTP check, 0 otherwise
 * @param durationMillis from the start of the check to its verdict
 * @param atMillis       when the verdict came (wall clock)
 * @param detail         one line for a human ({@code HTTP/1.1 200 OK}, {@code connect: Connection refused})
 */
public record HealthCheckResult(boolean ok, String status, int code, long durationMillis, long atMillis,
                                String detail) {

    /**
     * HAProxy's {@code SOCKERR}: the check could not open its socket (no file descriptor, no local port). It
     * judged nothing of the server, whose state and checks' progress stay as they were.
     */
    public static final String SOCKET_ERROR = "SOCKERR";

    /** Whether the check reached the point of judging the server: false for a {@link #SOCKET_ERROR}. */
    public boolean judgedServer() {
        return !SOCKET_ERROR.equals(status);
    }
}
