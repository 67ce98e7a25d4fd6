package io.grapevine.proxy.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Watches a proxy's {@code GET /table} on a thread of its own (every {@code periodMillis}) and records every
 * change of its servers and their states, so that a test can count flaps: servers that left the table, states
 * that changed, generations that passed.
 */
public final class TableWatch implements AutoCloseable {

    /** One change: when it was seen ({@link System#currentTimeMillis()}), the generation, what changed. */
    public record Change(long atMillis, long generation, String what) {
    }

    private final Admin admin;
    private final Thread thread;
    private final List<Change> changes = new ArrayList<>();
    private volatile boolean running = true;
    private Map<String, String> last;
    private long firstGeneration = -1;
    private long lastGeneration = -1;
    private int removals;
    private int stateChanges;
    private int failedReads;

    public TableWatch(Admin admin, long periodMillis) {
        this.admin = admin;
        this.thread = new Thread(() -> {
            while (running) {
                poll();
                try {
                    Thread.sleep(periodMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "table-watch");
        thread.setDaemon(true);
        poll();
        thread.start();
    }

    private void poll() {
        JsonNode table = admin.tableOrNull();
        synchronized (this) {
            if (table == null) {
                failedReads++;
                return;
            }
            long generation = table.path("generation").asLong();
            Map<String, String> now = new TreeMap<>();
            for (Admin.Row r : Admin.rows(table)) {
                now.put(r.address(), r.state());
            }
            if (firstGeneration < 0) {
                firstGeneration = generation;
            }
            lastGeneration = generation;
            if (last != null && !now.equals(last)) {
                long at = System.currentTimeMillis();
                for (Map.Entry<String, String> e : last.entrySet()) {
                    String state = now.get(e.getKey());
                    if (state == null) {
                        removals++;
                        changes.add(new Change(at, generation, e.getKey() + " removed"));
                    } else if (!state.equals(e.getValue())) {
                        stateChanges++;
                        changes.add(new Change(at, generation, e.getKey() + " " + e.getValue() + " -> " + state));
                    }
                }
                for (String address : now.keySet()) {
                    if (!last.containsKey(address)) {
                        changes.add(new Change(at, generation, address + " added " + now.get(address)));
                    }
                }
            }
            last = now;
        }
    }

    /** Servers that left the table while watched. */
    public synchronized int removals() {
        return removals;
    }

    /** State changes of servers that stayed. */
    public synchronized int stateChanges() {
        return stateChanges;
    }

    /** Generations published while watched. */
    public synchronized long generations() {
        return lastGeneration - firstGeneration;
    }

    public synchronized List<Change> changes() {
        return List.copyOf(changes);
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public synchronized String toString() {
        return generations() + " generations, " + removals + " removals, " + stateChanges + " state changes, "
                + failedReads + " failed reads: " + changes;
    }
}
