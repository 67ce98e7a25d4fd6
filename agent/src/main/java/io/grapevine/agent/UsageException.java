package io.grapevine.agent;

/** A command line the agent cannot run with; the message is one line for the user. */
final class UsageException extends Exception {

    UsageException(String message) {
        super(message, null, false, false);
    }
}
