package io.grapevine.cluster.cli;

/**
 * A command line a program cannot run with. The message is one line for the user that names the flag
 * and what was expected; the program prints it and exits with {@link CommandLines#EXIT_USAGE}.
 */
public final class UsageException extends Exception {

    public UsageException(String message) {
        super(message, null, false, false);
    }
}
