package io.grapevine.cluster.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code --version} of every program: the Maven project version the jar was built from, and the JVM. */
public final class ProgramVersion implements IVersionProvider {

    @Spec
    CommandSpec spec;

    /** The project version, from a resource Maven fills in at build time. */
    public static String version() {
        try (InputStream in = ProgramVersion.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }

    @Override
    public String[] getVersion() {
        String program = spec == null ? "grapevine" : spec.name().replaceFirst("^\\./", "");
        return new String[] {
            program + " " + version(),
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"
        };
    }
}
