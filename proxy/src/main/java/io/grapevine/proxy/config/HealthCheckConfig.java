package io.grapevine.proxy.config;

import java.util.Objects;

/**
 * Active health checks (HAProxy's {@code check inter rise fall}) and passive failure marking
 * (nginx's {@code max_fails / fail_timeout}).
 *
 * @param enabled             active checks on or off
 * @param path                HTTP path to GET; {@code null} means a TCP connect check
 * @param host                the Host of an HTTP check (a Host field's value); {@code null}: the server's host:port
 * @param intervalMillis      time between checks of one server
 * @param timeoutMillis       connect + response deadline of one check
 * @param rise                consecutive successes that bring a down server up
 * @param fall                consecutive failures that take an up server down
 * @param passiveMaxFails     consecutive request failures (connect refused/reset, timeouts) that mark a server down
 * @param passiveFailTimeoutMillis how long a passively marked-down (ejected) server gets no requests the first
 *                            time; the n-th ejection in a row lasts n times as long (Envoy's base_ejection_time)
 * @param passiveMaxEjectedPercent the most servers of a pool, in percent, that may be ejected at once (one of a
 *                            pool of two or more always may be); 0 turns ejection off
 * @param passiveMaxEjectionMillis the longest an ejection lasts however often it repeats (at least
 *                            {@code passiveFailTimeoutMillis})
 */
public record HealthCheckConfig(boolean enabled, String path, String host, long intervalMillis, long timeoutMillis, int rise,
                                int fall, int passiveMaxFails, long passiveFailTimeoutMillis,
                                int passiveMaxEjectedPercent, long passiveMaxEjectionMillis) {

    public static HealthCheckConfig defaults() {
        return new HealthCheckConfig(true, null, null, 2000, 1000, 2, 3, 1, 10_000, 50, 300_000);
    }

    /** Whether {@code other} checks as this does: the settings of {@code "health_check"}. */
    public boolean sameActiveChecks(HealthCheckConfig other) {
        return enabled == other.enabled && Objects.equals(path, other.path) && Objects.equals(host, other.host)
                && intervalMillis == other.intervalMillis && timeoutMillis == other.timeoutMillis && rise == other.rise
                && fall == other.fall;
    }

    /** Whether {@code other} marks servers down as this does: the settings of {@code "passive_health"}. */
    public boolean samePassiveHealth(HealthCheckConfig other) {
        return passiveMaxFails == other.passiveMaxFails && passiveFailTimeoutMillis == other.passiveFailTimeoutMillis
                && passiveMaxEjectedPercent == other.passiveMaxEjectedPercent
                && passiveMaxEjectionMillis == other.passiveMaxEjectionMillis;
    }

    /** The passive settings' defaults for what is not given. */
    public HealthCheckConfig(boolean enabled, String path, long intervalMillis, long timeoutMillis, int rise, int fall,
                             int passiveMaxFails, long passiveFailTimeoutMillis) {
        this(enabled, path, null, intervalMillis, timeoutMillis, rise, fall, passiveMaxFails, passiveFailTimeoutMillis,
                50, 300_000);
    }
}
