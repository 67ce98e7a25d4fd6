package io.grapevine.proxy.admin;

import io.grapevine.proxy.table.RuntimeOverride;
import io.grapevine.proxy.table.RuntimeState;
import io.grapevine.proxy.table.Server;
import io.grapevine.proxy.table.TableHolder;
import io.netty.handler.codec.http.HttpMethod;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.stream.Collectors;

/**
 * The runtime API on servers, HAProxy's {@code set server} over HTTP:
 *
 * <ul>
 *   <li>{@code GET /servers/NAME}: the server's row (as in {@code GET /table}).</li>
 *   <li>{@code PUT /servers/NAME/state} with body {@code ready}, {@code drain} or {@code maint};
 *       {@code DELETE} is {@code ready}.</li>
 *   <li>{@code PUT /servers/NAME/weight} with body {@code 0..256}; an empty body or {@code DELETE} gives
 *       the configured or announced weight back.</li>
 * </ul>
 *
 * Each change is effective at once and kept across table generations ({@link TableHolder}); the answer is
 * {@code {"generation": N, "server": {row}}}. Errors are {@code {"error": "..."}}: 404 for a server that
 * is not in the table, 400 for a bad body. A name with {@code /} or {@code %} is percent-encoded in the
 * path ({@code %2F}, {@code %25}).
 */
final class RuntimeEndpoints {

    private static final String STATES = Arrays.stream(RuntimeState.values()).map(RuntimeState::word)
            .collect(Collectors.joining(", "));

    private RuntimeEndpoints() {
    }

    static void install(AdminServer admin, TableHolder tables) {
        admin.route(HttpMethod.GET, "/servers/*", r -> answer(tables, r.params().get(0), null));
        for (String what : new String[] {"state", "weight"}) {
            admin.route(HttpMethod.GET, "/servers/*/" + what, r -> answer(tables, r.params().get(0), null));
        }
        admin.route(HttpMethod.PUT, "/servers/*/state", r -> setState(tables, r, r.body()));
        admin.route(HttpMethod.DELETE, "/servers/*/state", r -> setState(tables, r, RuntimeState.READY.word()));
        admin.route(HttpMethod.PUT, "/servers/*/weight", r -> setWeight(tables, r, r.body()));
        admin.route(HttpMethod.DELETE, "/servers/*/weight", r -> setWeight(tables, r, ""));
    }

    private static CompletionStage<AdminResponse> setState(TableHolder tables, AdminServer.Request r, String body) {
        String word = body.strip().toLowerCase(Locale.ROOT);
        RuntimeState state = RuntimeState.fromWord(word);
        if (state == null) {
            return done(AdminEndpoints.error(400, "the body must be one of: " + STATES + " (not " + quote(body) + ")"));
        }
        return answer(tables, r.params().get(0), tables.setRuntimeState(r.params().get(0), state, r.who()));
    }

    private static CompletionStage<AdminResponse> setWeight(TableHolder tables, AdminServer.Request r, String body) {
        String text = body.strip();
        int weight = RuntimeOverride.NO_WEIGHT;
        if (!text.isEmpty()) {
            try {
                weight = Integer.parseInt(text);
            } catch (NumberFormatException e) {
                weight = -2;
            }
            // ASCII digits only: Character.isDigit and Integer.parseInt also read other scripts' digits.
            if (weight < 0 || weight > 256 || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
                return done(AdminEndpoints.error(400, "the body must be a whole number 0..256, or empty to go back to"
                        + " the configured weight (not " + quote(body) + ")"));
            }
        }
        return answer(tables, r.params().get(0), tables.setRuntimeWeight(r.params().get(0), weight, r.who()));
    }

    /**
     * The server's row after {@code change}; for a read, {@code change} is null and the row is looked up.
     * 404 when there is no such server.
     */
    private static CompletionStage<AdminResponse> answer(TableHolder tables, String name,
                                                         TableHolder.RuntimeChange change) {
        Server server = tables.serverNamed(name);
        Map<String, Object> row = null;
        if (server != null && (change == null || change.server() != null)) {
            row = StatsReport.tableRow(server, System.nanoTime());
        } else {
            TableHolder.StoredOverride kept = tables.absentOverride(name);
            if (kept != null) {
                row = StatsReport.absentRow(kept);
            } else if (change != null) {
                // an override of an absent server that was just set back: nothing is kept for it any more
                row = absentRow(name, change.after());
            }
        }
        if (row == null) {
            return done(AdminEndpoints.error(404, "no server named " + quote(name) + " in the table (GET /table lists"
                    + " them)"));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("generation", tables.current().generation());
        out.put("server", row);
        return done(AdminEndpoints.json(out));
    }

    private static Map<String, Object> absentRow(String name, RuntimeOverride o) {
        return StatsReport.absentRow(new TableHolder.StoredOverride(name, null, o));
    }

    private static String quote(String s) {
        String shown = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return "\"" + shown.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    private static CompletionStage<AdminResponse> done(AdminResponse response) {
        return CompletableFuture.completedFuture(response);
    }
}
