package io.grapevine.proxy.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Certificates and private keys made for one test by the {@code openssl} command (Debian's package openssl; .ci/run
 * installs it), in a directory of the test: no private key is ever committed. Each certificate is valid for two
 * days from now.
 */
public final class TestCertificates {

    /** The key algorithm. */
    public enum KeyType { RSA, EC }

    /** How the key file is written: PKCS#8, or the traditional form of its algorithm (PKCS#1 / SEC1). */
    public enum KeyForm { PKCS8, TRADITIONAL }

    /** A certificate file (the chain) and its key file. */
    public record Pair(Path cert, Path key) {
    }

    private TestCertificates() {
    }

    /**
     * A self-signed certificate {@code dir/NAME.crt} with the subject {@code subject} (e.g. {@code /CN=a.test/O=v1})
     * and the DNS names {@code dnsNames} (none: no subject alternative names), and its key {@code dir/NAME.key}.
     */
    public static Pair selfSigned(Path dir, String name, KeyType type, KeyForm form, String subject,
                                  String... dnsNames) throws IOException {
        return selfSigned(dir, name, 2, type, form, subject, dnsNames);
    }

    /** As {@link #selfSigned(Path, String, KeyType, KeyForm, String, String...)}, valid for {@code days} days. */
    public static Pair selfSigned(Path dir, String name, int days, KeyType type, KeyForm form, String subject,
                                  String... dnsNames) throws IOException {
        Path cert = dir.resolve(name + ".crt");
        Path key = dir.resolve(name + ".key");
        List<String> command = new ArrayList<>(List.of("openssl", "req", "-x509", "-nodes", "-days", String.valueOf(days),
                "-subj", subject, "-keyout", key.toString(), "-out", cert.toString()));
        command.addAll(newKey(type));
        if (dnsNames.length > 0) {
            command.addAll(List.of("-addext", "subjectAltName=DNS:" + String.join(",DNS:", dnsNames)));
        }
        run(command);
        if (form == KeyForm.TRADITIONAL) {
            traditional(type, key);
        }
        return new Pair(cert, key);
    }

    /**
     * A certificate for {@code dnsName} signed by a certificate authority made for it: {@code dir/NAME.crt} holds
     * the server's certificate, then the authority's (a chain of two); {@code dir/NAME.key} the server's RSA key.
     */
    public static Pair chain(Path dir, String name, String dnsName) throws IOException {
        Pair ca = selfSigned(dir, name + "-ca", KeyType.RSA, KeyForm.PKCS8, "/CN=Grapevine Test CA " + name);
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path leaf = dir.resolve(name + "-leaf.crt");
        Path extensions = Files.writeString(dir.resolve(name + ".ext"), "subjectAltName=DNS:" + dnsName + "\n");
        run(List.of("openssl", "req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", "/CN=" + dnsName,
                "-keyout", key.toString(), "-out", csr.toString()));
        run(List.of("openssl", "x509", "-req", "-in", csr.toString(), "-CA", ca.cert().toString(), "-CAkey",
                ca.key().toString(), "-CAcreateserial", "-days", "2", "-extfile", extensions.toString(),
                "-out", leaf.toString()));
        Path cert = dir.resolve(name + ".crt");
        Files.writeString(cert, Files.readString(leaf) + Files.readString(ca.cert()));
        return new Pair(cert, key);
    }

    /** Copies {@code pair} to {@code dir/NAME.crt} and {@code dir/NAME.key}: files a test may then replace. */
    public static Pair copy(Pair pair, Path dir, String name) throws IOException {
        Pair copy = new Pair(dir.resolve(name + ".crt"), dir.resolve(name + ".key"));
        Files.copy(pair.cert(), copy.cert(), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(pair.key(), copy.key(), StandardCopyOption.REPLACE_EXISTING);
        return copy;
    }

    /** Replaces {@code target} with {@code source}'s content in one rename, as tools that rotate files do. */
    public static void replace(Path source, Path target) throws IOException {
        Path temporary = target.resolveSibling("." + target.getFileName() + ".new");
        Files.copy(source, temporary, StandardCopyOption.REPLACE_EXISTING);
        Files.move(temporary, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static List<String> newKey(KeyType type) {
        return type == KeyType.RSA ? List.of("-newkey", "rsa:2048")
                : List.of("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256");
    }

    private static void traditional(KeyType type, Path key) throws IOException {
        Path converted = key.resolveSibling(key.getFileName() + ".traditional");
        run(type == KeyType.RSA
                ? List.of("openssl", "rsa", "-traditional", "-in", key.toString(), "-out", converted.toString())
                : List.of("openssl", "ec", "-in", key.toString(), "-out", converted.toString()));
        Files.move(converted, key, StandardCopyOption.REPLACE_EXISTING);
    }

    /** How a command ended: its exit code and its output (standard output and error). */
    public record Result(int exit, String output) {
    }

    /** Runs a command with no input to its end (60 s at most). */
    public static Result exec(List<String> command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not end: " + output);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + command, e);
        }
        return new Result(p.exitValue(), output);
    }

    /** Runs a command to its end; fails with its output if it fails. */
    public static String run(List<String> command) throws IOException {
        Result result = exec(command);
        if (result.exit() != 0) {
            throw new IOException(String.join(" ", command) + " failed: " + result.output());
        }
        return result.output();
    }
}
