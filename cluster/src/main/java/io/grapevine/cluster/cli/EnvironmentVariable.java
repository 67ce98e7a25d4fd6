package io.grapevine.cluster.cli;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On a picocli option field: the environment variable that gives the option its value when the command
 * line does not (a container sets these). The command line always wins. {@link CommandLines} reads it
 * and lists every such variable at the end of {@code --help}.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.FIELD)
public @interface EnvironmentVariable {

    /** The variable's name, e.g. {@code GRAPEVINE_JOIN}. */
    String value();
}
