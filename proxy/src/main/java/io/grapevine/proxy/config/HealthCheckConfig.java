package io.grapevine.proxy.config;

/**
 * Active health checks (HAProxy's {@code check inter rise fall}) and passive failure marking
 * (nginx's {@code max_fails / fail_timeout}).
 *
 * @param enabled             active checks on or off
 * @param path                HTTP path to GET; {@code null} means a TCP connect check
 * @param intervalMillis      time between checks of one server
 * @param timeoutMillis       connect + response deadline of one check
 * @param rise                consecutive successes that bring a down server up
 * @param fall                consecutive failures that take an up server down
 * @param passiveMaxFails     consecutive request failures (connect refused/reset, timeouts) that mark a server down
 * @param passiveFailTimeoutMillis how long a passively marked-down server gets no requests
 */
public record HealthCheckConfig(boolean enabled, String path, long intervalMillis, long timeoutMillis, int rise,
                                int fall, int passiveMaxFails, long passiveFailTimeoutMillis) {

    public static HealthCheckConfig defaults() {
        return new HealthCheckConfig(true, null, 2000, 1000, 2, 3, 1, 10_000);
    }
}
