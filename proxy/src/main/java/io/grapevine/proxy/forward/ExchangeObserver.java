package io.grapevine.proxy.forward;

/**
 * Told once about every exchange when it ends (its response produced, or abandoned because the client went
 * away), on the exchange's event loop, while the exchange is intact: its request head is still readable.
 * Access logs and latency histograms are observers. It runs on the data path: it must not block, and
 * should cost little.
 */
@FunctionalInterface
public interface ExchangeObserver {

    void exchangeEnded(Exchange exchange);

    /** Observes nothing. */
    ExchangeObserver NONE = exchange -> { };

    /** Both, in order; the second hears of the exchange even when the first throws (the failure goes on up). */
    default ExchangeObserver andThen(ExchangeObserver next) {
        if (this == NONE) {
            return next;
        }
        if (next == NONE) {
            return this;
        }
        return exchange -> {
            try {
                exchangeEnded(exchange);
            } finally {
                next.exchangeEnded(exchange);
            }
        };
    }
}
