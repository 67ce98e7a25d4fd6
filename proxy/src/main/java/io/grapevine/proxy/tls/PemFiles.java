package io.grapevine.proxy.tls;

import io.grapevine.proxy.config.ConfigException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Certificates and private keys from PEM text (RFC 7468), as web servers take them: a certificate file holds the
 * server's certificate, then its intermediates; a key file holds one unencrypted private key, RSA or EC, in PKCS#8
 * ({@code BEGIN PRIVATE KEY}) or in the traditional forms {@code openssl} still writes: PKCS#1 ({@code BEGIN RSA
 * PRIVATE KEY}) and SEC1 ({@code BEGIN EC PRIVATE KEY}). The JDK reads only PKCS#8, so a traditional key is
 * wrapped in a PKCS#8 structure first (RFC 5208: the same key bytes, with the algorithm named beside them). Other
 * blocks (EC PARAMETERS, text around the blocks) are ignored; a block that begins and does not end fails the file.
 * Errors are {@link ConfigException}s naming the file.
 */
final class PemFiles {

    /** A whole block: its label (RFC 7468: printable characters but the hyphen), its base64 text, its END line. */
    private static final Pattern BLOCK = Pattern.compile("-----BEGIN ([^-\\r\\n]*)-----(.*?)-----END \\1-----",
            Pattern.DOTALL);

    /** AlgorithmIdentifier of rsaEncryption (1.2.840.113549.1.1.1) with its NULL parameters. */
    private static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
            (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
    /** The OID id-ecPublicKey (1.2.840.10045.2.1), as a DER element. */
    private static final byte[] EC_PUBLIC_KEY_OID = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02,
            0x01};

    static final String KEY_FORMS = "an unencrypted PEM private key: BEGIN PRIVATE KEY (PKCS#8), "
            + "BEGIN RSA PRIVATE KEY (PKCS#1) or BEGIN EC PRIVATE KEY (SEC1)";

    private PemFiles() {
    }

    /** The certificates of {@code pem} in file order; at least one. */
    static List<X509Certificate> certificates(Path file, String pem) throws ConfigException {
        List<X509Certificate> chain = new ArrayList<>();
        CertificateFactory factory;
        try {
            factory = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("every JVM reads X.509", e);
        }
        for (MatchResult m : blocks(file, pem)) {
            if (!m.group(1).equals("CERTIFICATE")) {
                continue;
            }
            byte[] der = decode(file, m);
            try {
                chain.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(der)));
            } catch (CertificateException e) {
                throw fail(file, "certificate " + (chain.size() + 1) + " is not a valid X.509 certificate ("
                        + e.getMessage() + ")", "PEM certificates");
            }
        }
        if (chain.isEmpty()) {
            throw fail(file, pem.contains("PRIVATE KEY-----") ? "holds a private key but no certificate"
                    : "no PEM certificate found", "-----BEGIN CERTIFICATE----- blocks: the server's certificate, "
                    + "then its intermediates");
        }
        return chain;
    }

    /** The one private key of {@code pem}. */
    static PrivateKey privateKey(Path file, String pem) throws ConfigException {
        PrivateKey key = null;
        for (MatchResult m : blocks(file, pem)) {
            String type = m.group(1);
            if (!type.endsWith("PRIVATE KEY")) {
                continue;
            }
            if (key != null) {
                throw fail(file, "holds more than one private key", "one key per file");
            }
            if (m.group(2).contains("Proc-Type: 4,ENCRYPTED")) {
                type = "ENCRYPTED PRIVATE KEY"; // the legacy OpenSSL encryption of a traditional key
            }
            key = switch (type) {
                case "PRIVATE KEY" -> pkcs8(file, decode(file, m));
                case "RSA PRIVATE KEY" -> pkcs8(file, pkcs8Of(RSA_ALGORITHM, decode(file, m)));
                case "EC PRIVATE KEY" -> pkcs8(file, pkcs8Of(ecAlgorithm(file, decode(file, m)), decode(file, m)));
                case "ENCRYPTED PRIVATE KEY" -> throw fail(file, "the private key is encrypted",
                        "an unencrypted key; decrypt it with: openssl pkey -in " + file + " -out plain.pem");
                default -> throw fail(file, "\"" + type + "\" keys are not supported", KEY_FORMS);
            };
        }
        if (key == null) {
            throw fail(file, pem.contains("-----BEGIN CERTIFICATE-----") ? "holds a certificate but no private key"
                    : "no PEM private key found", KEY_FORMS);
        }
        if (!key.getAlgorithm().equals("RSA") && !key.getAlgorithm().equals("EC")) {
            throw fail(file, key.getAlgorithm() + " keys are not supported", "an RSA or ECDSA key");
        }
        return key;
    }

    private static PrivateKey pkcs8(Path file, byte[] der) throws ConfigException {
        for (String algorithm : new String[] {"RSA", "EC", "EdDSA"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException | IllegalArgumentException e) {
                // try the next algorithm
            }
        }
        throw fail(file, "the private key cannot be read (damaged, or of an unknown algorithm)", KEY_FORMS);
    }

    /**
     * The whole PEM blocks of {@code pem}, in file order. A block that begins and does not end (a file cut short,
     * or caught while being written) fails the file, as OpenSSL's PEM reader fails it: read past, the blocks before
     * it would be served as a chain without its intermediates.
     */
    private static List<MatchResult> blocks(Path file, String pem) throws ConfigException {
        List<MatchResult> blocks = new ArrayList<>();
        Matcher m = BLOCK.matcher(pem);
        int outside = 0;
        while (m.find()) {
            requireNoBegin(file, pem, outside, m.start());
            blocks.add(m.toMatchResult());
            outside = m.end();
        }
        requireNoBegin(file, pem, outside, pem.length());
        return blocks;
    }

    /** Fails if a block begins in {@code pem} between {@code from} and {@code to}, text outside every whole block. */
    private static void requireNoBegin(Path file, String pem, int from, int to) throws ConfigException {
        int at = pem.indexOf("-----BEGIN", from);
        if (at >= 0 && at < to) {
            int endOfLine = pem.indexOf('\n', at);
            String header = pem.substring(at, endOfLine < 0 ? pem.length() : endOfLine).strip();
            int line = (int) pem.substring(0, at).chars().filter(c -> c == '\n').count() + 1;
            throw fail(file, "the block \"" + header + "\" of line " + line + " has no END line (the file is cut "
                    + "short, or was read while being written)", "whole PEM blocks, each from its BEGIN line to its END"
                    + " line");
        }
    }

    private static byte[] decode(Path file, MatchResult block) throws ConfigException {
        try {
            return Base64.getDecoder().decode(block.group(2).replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw fail(file, "the " + block.group(1) + " block is damaged (" + e.getMessage() + ")", "base64 text");
        }
    }

    private static ConfigException fail(Path file, String what, String expected) {
        return new ConfigException(file.toString(), 0, 0, what, expected);
    }

    // ---------------------------------------------------------------- DER, as much as the wrapping needs

    /** RFC 5208 PrivateKeyInfo: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING key }. */
    private static byte[] pkcs8Of(byte[] algorithm, byte[] traditionalKey) {
        return element(0x30, concat(new byte[] {0x02, 0x01, 0x00}, algorithm, element(0x04, traditionalKey)));
    }

    /**
     * The AlgorithmIdentifier of a SEC1 key (RFC 5915): id-ecPublicKey with the curve OID that the key carries
     * in its {@code [0] parameters}, which {@code openssl} always writes.
     */
    private static byte[] ecAlgorithm(Path file, byte[] sec1) throws ConfigException {
        try {
            int[] outer = header(sec1, 0);
            for (int at = outer[0]; at < outer[0] + outer[1]; ) {
                int[] h = header(sec1, at);
                if ((sec1[at] & 0xff) == 0xa0) {
                    byte[] curve = Arrays.copyOfRange(sec1, h[0], h[0] + h[1]);
                    return element(0x30, concat(EC_PUBLIC_KEY_OID, curve));
                }
                at = h[0] + h[1];
            }
        } catch (ArrayIndexOutOfBoundsException e) {
            throw fail(file, "the EC private key is damaged", KEY_FORMS);
        }
        throw fail(file, "the EC private key does not name its curve",
                "a key written by openssl, or PKCS#8 (openssl pkcs8 -topk8 -nocrypt)");
    }

    /** The {content offset, content length} of the DER element at {@code at}. */
    private static int[] header(byte[] der, int at) {
        int length = der[at + 1] & 0xff;
        int offset = at + 2;
        if (length >= 0x80) {
            int bytes = length & 0x7f;
            length = 0;
            for (int i = 0; i < bytes; i++) {
                length = (length << 8) | (der[offset++] & 0xff);
            }
        }
        if (length < 0 || offset + length > der.length) {
            throw new ArrayIndexOutOfBoundsException("element beyond the end");
        }
        return new int[] {offset, length};
    }

    private static byte[] element(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            int bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : 3;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) {
                out.write(n >>> (8 * i));
            }
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
