package io.grapevine.cluster.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.MissingParameterException;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command-line conventions every Grapevine program shares, on picocli:
 * <ul>
 *   <li>{@code --flag value} and {@code --flag=value}; a flag given twice keeps the last value, except
 *       repeatable ones ({@code --tag}, {@code --join}), which collect;</li>
 *   <li>{@code -h}/{@code --help} and {@code -V}/{@code --version} print to standard output, exit 0;</li>
 *   <li>a flag marked {@link EnvironmentVariable} takes its value from that variable when the command line
 *       does not give it (an empty variable counts as unset); {@code --help} lists the variables;</li>
 *   <li>a usage error is one line on standard error, {@code grapevine PROGRAM: what is wrong (see ...)},
 *       and exit status {@link #EXIT_USAGE}.</li>
 * </ul>
 * Flags classes declare their options as strings and check them in a {@link Validator}, which names the
 * flag and what was expected; this class adds "(from GRAPEVINE_X)" when the bad value came from the
 * environment.
 */
public final class CommandLines {

    /** Exit status of a usage error: a bad flag, a missing file, an invalid configuration or key file. */
    public static final int EXIT_USAGE = 2;
    /** Exit status of a program that could not start for another reason (a port in use, ...). */
    public static final int EXIT_CANNOT_START = 1;

    /** Exit-status lines of {@code --help} that every long-running program shares (picocli's "status:text"). */
    public static final String EXIT_STOPPED = "0:stopped by SIGTERM / SIGINT (after the drain), or --help, --version";
    public static final String EXIT_SECOND_SIGNAL = "130, 143:a second SIGINT / SIGTERM while stopping: stopped at once";

    private static final String ENVIRONMENT_SECTION = "environment";

    private CommandLines() {
    }

    /** Checks parsed flags and turns them into the program's options. */
    @FunctionalInterface
    public interface Validator<F, T> {
        /** @throws UsageException with one line naming the flag and what was expected */
        T validate(F flags) throws UsageException;
    }

    /**
     * What a command line asked for: options to run with, or a text ({@code --help}, {@code --version}) to
     * print before exiting 0 (then {@code options} is null).
     */
    public record Parsed<T>(T options, String text) {
    }

    /**
     * Parses {@code args} into {@code flags} (a picocli {@code @Command} object) with defaults from
     * {@code environment}, then validates them.
     *
     * @throws UsageException with the one line to print
     */
    public static <F, T> Parsed<T> parse(F flags, Map<String, String> environment, String[] args,
                                         Validator<? super F, T> validator) throws UsageException {
        CommandLine line = commandLine(flags, environment);
        ParseResult result;
        try {
            result = line.parseArgs(args);
        } catch (ParameterException e) {
            throw new UsageException(oneLine(e));
        }
        if (line.isUsageHelpRequested()) {
            return new Parsed<>(null, line.getUsageMessage(Help.Ansi.OFF));
        }
        if (line.isVersionHelpRequested()) {
            StringWriter text = new StringWriter();
            line.printVersionHelp(new PrintWriter(text, true), Help.Ansi.OFF);
            return new Parsed<>(null, text.toString());
        }
        try {
            return new Parsed<>(validator.validate(flags), null);
        } catch (UsageException e) {
            throw new UsageException(e.getMessage() + environmentSource(e.getMessage(), line.getCommandSpec(), result,
                    environment));
        }
    }

    /**
     * {@link #parse} for a {@code main}: prints the help or version text and exits 0, or prints the usage
     * error and exits {@link #EXIT_USAGE}; otherwise returns the options. Defaults come from the process
     * environment.
     */
    public static <F, T> T parseOrExit(F flags, String[] args, Validator<? super F, T> validator) {
        String program = programName(flags);
        Parsed<T> parsed;
        try {
            parsed = parse(flags, System.getenv(), args, validator);
        } catch (UsageException e) {
            throw exit(EXIT_USAGE, program + ": " + e.getMessage() + " (see ./" + program + " --help)");
        }
        if (parsed.text() != null) {
            System.out.print(parsed.text());
            System.out.flush();
            throw exit(0, null);
        }
        return parsed.options();
    }

    /**
     * Prints {@code line} (if not null) on standard error and exits with {@code status}. Declared to return
     * an exception so that callers can write {@code throw CommandLines.exit(...)}; it never returns.
     */
    public static IllegalStateException exit(int status, String line) {
        if (line != null) {
            System.err.println(line);
        }
        System.out.flush();
        System.err.flush();
        System.exit(status);
        return new IllegalStateException("exit " + status);
    }

    /**
     * One flag of a command, for tests and documentation: its longest name, its environment variable (or
     * null) and whether it takes a value (else it is a switch).
     */
    public record Flag(String name, String environmentVariable, boolean takesValue) {
    }

    /** Every flag of {@code flags} except {@code --help} and {@code --version}, in declaration order. */
    public static List<Flag> flags(Object flags) {
        List<Flag> list = new ArrayList<>();
        for (OptionSpec option : new CommandLine(flags).getCommandSpec().options()) {
            if (!option.usageHelp() && !option.versionHelp()) {
                list.add(new Flag(option.longestName(), variableOf(option), option.arity().max() > 0));
            }
        }
        return list;
    }

    /** "grapevine agent" for the command named "./grapevine agent". */
    public static String programName(Object flags) {
        return new CommandLine(flags).getCommandName().replaceFirst("^\\./", "");
    }

    /** The flags' command line with Grapevine's conventions, for parsing or for its help text. */
    static CommandLine commandLine(Object flags, Map<String, String> environment) {
        CommandLine line = new CommandLine(flags);
        line.setOverwrittenOptionsAllowed(true);
        line.setDefaultValueProvider(arg -> {
            String variable = variableOf(arg);
            String value = variable == null ? null : environment.get(variable);
            return value == null || value.isBlank() ? null : value;
        });
        List<String> sections = new ArrayList<>(line.getHelpSectionKeys());
        sections.add(sections.indexOf(CommandLine.Model.UsageMessageSpec.SECTION_KEY_EXIT_CODE_LIST_HEADING),
                ENVIRONMENT_SECTION);
        line.setHelpSectionKeys(sections);
        line.getHelpSectionMap().put(ENVIRONMENT_SECTION, help -> environmentHelp(help.commandSpec()));
        return line;
    }

    /** The environment variable of an option, or null. */
    static String variableOf(ArgSpec arg) {
        if (arg.userObject() instanceof Field field) {
            EnvironmentVariable variable = field.getAnnotation(EnvironmentVariable.class);
            return variable == null ? null : variable.value();
        }
        return null;
    }

    private static String environmentHelp(CommandSpec spec) {
        StringBuilder text = new StringBuilder();
        for (OptionSpec option : spec.options()) {
            String variable = variableOf(option);
            if (variable != null) {
                text.append(String.format("  %-28s %s%n", variable, option.longestName()));
            }
        }
        return text.length() == 0 ? ""
                : String.format("%nenvironment (used when the flag is not given):%n") + text;
    }

    /** " (from GRAPEVINE_X)" when the message is about a flag whose value came from the environment. */
    private static String environmentSource(String message, CommandSpec spec, ParseResult result,
                                            Map<String, String> environment) {
        int end = 0;
        while (end < message.length() && (Character.isLetterOrDigit(message.charAt(end)) || message.charAt(end) == '-')) {
            end++;
        }
        OptionSpec option = end > 2 ? spec.findOption(message.substring(0, end)) : null;
        if (option == null || result.hasMatchedOption(option)) {
            return "";
        }
        String variable = variableOf(option);
        String value = variable == null ? null : environment.get(variable);
        return value == null || value.isBlank() ? "" : " (from " + variable + ")";
    }

    /** picocli's exception as one line in Grapevine's words. */
    static String oneLine(ParameterException e) {
        if (e instanceof UnmatchedArgumentException unmatched && !unmatched.getUnmatched().isEmpty()) {
            String arg = unmatched.getUnmatched().get(0);
            if (!arg.startsWith("-")) {
                return "unexpected argument '" + arg + "'";
            }
            String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
            List<String> similar = unmatched.getSuggestions();
            return "unknown option '" + name + "'"
                    + (similar.isEmpty() || similar.size() > 3 ? "" : " (did you mean " + String.join(" or ", similar) + "?)");
        }
        if (e instanceof MissingParameterException missing) {
            for (ArgSpec arg : missing.getMissing()) {
                if (arg instanceof OptionSpec option) {
                    return option.longestName() + " needs a value (" + option.paramLabel() + ")";
                }
            }
        }
        if (e.getArgSpec() instanceof OptionSpec option && option.arity().max() == 0) {
            return option.longestName() + " takes no value";
        }
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
