package io.grapevine.proxy.table;

/** What tests of other packages may set on a {@link TableHolder}. */
public final class TableHolders {

    private TableHolders() {
    }

    /** How long a pool that left the table is shown, and its state kept, instead of 5 minutes. */
    public static void keepRetiredPools(TableHolder tables, long nanos) {
        synchronized (tables) {
            tables.retiredPoolKeptNanos = nanos;
        }
    }
}
