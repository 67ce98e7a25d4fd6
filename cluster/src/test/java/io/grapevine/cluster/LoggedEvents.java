package io.grapevine.cluster;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/** What one class's logger logs while this is open (try-with-resources), for tests that assert a log line. */
final class LoggedEvents implements AutoCloseable {

    private final Logger logger;
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    LoggedEvents(Class<?> source) {
        this.logger = (Logger) LoggerFactory.getLogger(source);
        appender.start();
        logger.addAppender(appender);
    }

    /** The events logged so far, oldest first; any thread. */
    List<ILoggingEvent> events() {
        // The appender's own lock, which its doAppend holds while it adds to the list (an ArrayList).
        synchronized (appender) {
            return List.copyOf(appender.list);
        }
    }

    /** The messages logged so far, formatted, oldest first; any thread. */
    List<String> messages() {
        return events().stream().map(ILoggingEvent::getFormattedMessage).toList();
    }

    @Override
    public void close() {
        logger.detachAppender(appender);
        appender.stop();
    }
}
