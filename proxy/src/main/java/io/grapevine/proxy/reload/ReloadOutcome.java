package io.grapevine.proxy.reload;

import java.util.List;

/**
 * What a reload did ({@code POST /reload}, SIGHUP).
 *
 * @param generationBefore the table generation in force before
 * @param generation       the table generation in force after (the same when nothing changed or it failed)
 * @param errors           why a file was not applied (it does not load, the template does not render); empty
 *                         when everything was applied
 */
public record ReloadOutcome(long generationBefore, long generation, List<String> errors) {
}
