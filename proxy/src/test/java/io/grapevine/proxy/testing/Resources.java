package io.grapevine.proxy.testing;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Closes what a test started, last first, after each test: {@code @RegisterExtension final Resources
 * resources = new Resources();} then {@code resources.keep(thing)}.
 */
public final class Resources implements AfterEachCallback {

    private final List<AutoCloseable> kept = new ArrayList<>();

    public <T extends AutoCloseable> T keep(T resource) {
        kept.add(resource);
        return resource;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        Exception first = null;
        for (int i = kept.size() - 1; i >= 0; i--) {
            try {
                kept.get(i).close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        kept.clear();
        if (first != null) {
            throw first;
        }
    }
}
