package io.grapevine.cluster;

import io.grapevine.cluster.cli.CommandLines;
import io.grapevine.cluster.cli.ProgramVersion;
import picocli.CommandLine.Command;

/** {@code ./grapevine keygen}: prints a new cluster key for a {@code --cluster-key} file, and nothing else. */
@Command(name = "./grapevine keygen", mixinStandardHelpOptions = true, versionProvider = ProgramVersion.class,
        synopsisHeading = "", customSynopsis = "usage: ./grapevine keygen > cluster.key",
        description = {
            "%nPrints a new random cluster key (base64, 32 bytes) on standard output. A key file holds one key"
                    + " per line: the first seals what a member sends, all are accepted. To rotate, add the new"
                    + " key as a second line everywhere, then make it first everywhere, then remove the old one"
                    + " (docs/operations.md).",
            "%nWithout Java: openssl rand -base64 32 > cluster.key"},
        optionListHeading = "%noptions:%n", usageHelpWidth = 100)
public final class KeygenMain {

    public static void main(String[] args) {
        CommandLines.parseOrExit(new KeygenMain(), args, flags -> flags);
        System.out.println(ClusterKeyring.generateKey());
    }
}
