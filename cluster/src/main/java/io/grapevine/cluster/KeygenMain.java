package io.grapevine.cluster;

/** {@code ./grapevine keygen}: prints a new cluster key for a {@code --cluster-key} file. */
public final class KeygenMain {

    private KeygenMain() {
    }

    public static void main(String[] args) {
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.println("usage: ./grapevine keygen > cluster.key");
            System.out.println();
            System.out.println("Prints a new random cluster key (base64, 32 bytes). A key file holds one key per");
            System.out.println("line: the first seals what a node sends, all are accepted. To rotate, add the new");
            System.out.println("key as a second line everywhere, then make it first everywhere, then remove the old.");
            return;
        }
        if (args.length > 0) {
            System.err.println("grapevine keygen: unexpected argument '" + args[0] + "' (see --help)");
            System.exit(2);
        }
        System.out.println(ClusterKeyring.generateKey());
    }
}
