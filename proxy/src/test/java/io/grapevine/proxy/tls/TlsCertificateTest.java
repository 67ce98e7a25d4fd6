package io.grapevine.proxy.tls;

import static io.grapevine.proxy.testing.TestCertificates.KeyForm.PKCS8;
import static io.grapevine.proxy.testing.TestCertificates.KeyForm.TRADITIONAL;
import static io.grapevine.proxy.testing.TestCertificates.KeyType.EC;
import static io.grapevine.proxy.testing.TestCertificates.KeyType.RSA;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.TlsConfig.CertificateFiles;
import io.grapevine.proxy.testing.TestCertificates;
import io.grapevine.proxy.testing.TestCertificates.KeyType;
import io.grapevine.proxy.testing.TestCertificates.Pair;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Reading certificates and keys: every PEM form {@code openssl} writes, the names a certificate is served for, and a
 * one-line message naming the file for each way a file can be wrong. Files are made by {@code openssl}.
 */
class TlsCertificateTest {

    @TempDir
    Path dir;

    private static TlsCertificate load(Path cert, Path key) throws ConfigException {
        return TlsCertificate.load(new CertificateFiles(cert, key));
    }

    private static String error(Path cert, Path key) {
        return assertThrows(ConfigException.class, () -> load(cert, key)).getMessage();
    }

    private PrivateKey key(Path file) throws Exception {
        return PemFiles.privateKey(file, Files.readString(file));
    }

    @ParameterizedTest
    @EnumSource(KeyType.class)
    void aTraditionalKeyIsTheSameKeyAsItsPkcs8Form(KeyType type) throws Exception {
        Pair pkcs8 = TestCertificates.selfSigned(dir, "p8", type, PKCS8, "/CN=k.test", "k.test");
        Path traditional = dir.resolve("traditional.key");
        TestCertificates.run(type == RSA
                ? List.of("openssl", "rsa", "-traditional", "-in", pkcs8.key().toString(), "-out", traditional.toString())
                : List.of("openssl", "ec", "-in", pkcs8.key().toString(), "-out", traditional.toString()));
        assertTrue(Files.readString(traditional).contains(type == RSA ? "BEGIN RSA PRIVATE KEY" : "BEGIN EC PRIVATE KEY"));

        PrivateKey expected = key(pkcs8.key());
        PrivateKey read = key(traditional);
        if (type == RSA) {
            assertEquals(((RSAPrivateCrtKey) expected).getModulus(), ((RSAPrivateCrtKey) read).getModulus());
            assertEquals(((RSAPrivateCrtKey) expected).getPrivateExponent(), ((RSAPrivateCrtKey) read).getPrivateExponent());
        } else {
            assertEquals(((ECPrivateKey) expected).getS(), ((ECPrivateKey) read).getS());
            assertEquals(((ECPrivateKey) expected).getParams().toString(), ((ECPrivateKey) read).getParams().toString());
        }
        assertEquals("k.test", load(pkcs8.cert(), traditional).names().get(0), "and it belongs to its certificate");
    }

    @Test
    void aSec1KeyAfterItsEcParametersBlockAsOpensslEcparamWritesIt() throws Exception {
        Path key = dir.resolve("ecparam.key");
        TestCertificates.run(List.of("openssl", "ecparam", "-name", "secp384r1", "-genkey", "-out", key.toString()));
        assertTrue(Files.readString(key).startsWith("-----BEGIN EC PARAMETERS-----"));
        Path cert = dir.resolve("ecparam.crt");
        TestCertificates.run(List.of("openssl", "req", "-x509", "-key", key.toString(), "-subj", "/CN=p384.test",
                "-days", "2", "-out", cert.toString()));
        TlsCertificate c = load(cert, key);
        assertEquals(List.of("p384.test"), c.names(), "the common name, without alternative names");
        assertTrue(c.describe().contains("EC 384 bits"), c.describe());
    }

    @Test
    void namesAreTheDnsAlternativeNamesInLowerCase() throws Exception {
        Pair pair = TestCertificates.selfSigned(dir, "n", RSA, PKCS8, "/CN=ignored.test", "A.Test", "*.W.test");
        assertEquals(List.of("a.test", "*.w.test"), load(pair.cert(), pair.key()).names());
    }

    @Test
    void certificateAndKeyMayShareOneFile() throws Exception {
        Pair pair = TestCertificates.selfSigned(dir, "s", EC, TRADITIONAL, "/CN=s.test", "s.test");
        Path both = Files.writeString(dir.resolve("both.pem"), Files.readString(pair.key()) + Files.readString(pair.cert()));
        assertEquals(List.of("s.test"), load(both, both).names());
    }

    @Test
    void aKeyOfAnotherCertificateIsRefusedNamingBothFiles() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        Pair b = TestCertificates.selfSigned(dir, "b", RSA, PKCS8, "/CN=b.test", "b.test");
        Pair e = TestCertificates.selfSigned(dir, "e", EC, PKCS8, "/CN=e.test", "e.test");
        assertEquals(b.key() + ": this RSA key does not belong to the first certificate of " + a.cert()
                + " (expected the private key of the server's certificate, which comes first in the certificate"
                + " file, before its intermediates)", error(a.cert(), b.key()));
        assertTrue(error(a.cert(), e.key()).startsWith(e.key() + ": this EC key does not belong"));
    }

    @Test
    void aChainMustStartWithTheServersOwnCertificate() throws Exception {
        Pair chain = TestCertificates.chain(dir, "c", "c.test");
        assertEquals(2, load(chain.cert(), chain.key()).chain().length);
        String pem = Files.readString(chain.cert());
        int second = pem.indexOf("-----BEGIN CERTIFICATE-----", 1);
        Path reversed = Files.writeString(dir.resolve("reversed.crt"), pem.substring(second) + pem.substring(0, second));
        assertTrue(error(reversed, chain.key()).contains("does not belong to the first certificate of " + reversed),
                error(reversed, chain.key()));
    }

    /**
     * A chain file read while it is being written, its server certificate whole and its intermediate not, is
     * refused, as OpenSSL's PEM reader (and so nginx and HAProxy) refuses it: read up to the whole blocks, it would
     * be served without its intermediate. So is a key file cut in its key, after a whole EC PARAMETERS block.
     */
    @Test
    void aFileCutShortInABlockIsRefused() throws Exception {
        Pair chain = TestCertificates.chain(dir, "c", "c.test");
        String pem = Files.readString(chain.cert());
        int intermediate = pem.indexOf("-----BEGIN CERTIFICATE-----", 1);
        int line = (int) pem.substring(0, intermediate).lines().count() + 1;
        for (int cut : new int[] {intermediate + 28, intermediate + (pem.length() - intermediate) / 2, pem.length() - 2}) {
            Path half = Files.writeString(dir.resolve("half.crt"), pem.substring(0, cut));
            assertEquals(half + ": the block \"-----BEGIN CERTIFICATE-----\" of line " + line + " has no END line (the"
                    + " file is cut short, or was read while being written) (expected whole PEM blocks, each from its"
                    + " BEGIN line to its END line)", error(half, chain.key()));
        }

        Path key = dir.resolve("ecparam.key");
        TestCertificates.run(List.of("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-out", key.toString()));
        String keyPem = Files.readString(key);
        Path halfKey = Files.writeString(dir.resolve("half.key"), keyPem.substring(0, keyPem.length() - 40));
        assertTrue(error(chain.cert(), halfKey).startsWith(halfKey
                + ": the block \"-----BEGIN EC PRIVATE KEY-----\" of line 4 has no END line"), error(chain.cert(), halfKey));
    }

    @Test
    void eachWayAFileCanBeWrongIsOneLineNamingIt() throws Exception {
        Pair a = TestCertificates.selfSigned(dir, "a", RSA, PKCS8, "/CN=a.test", "a.test");
        Path missing = dir.resolve("missing.pem");
        Path empty = Files.writeString(dir.resolve("empty.pem"), "");
        Path encrypted = dir.resolve("encrypted.key");
        TestCertificates.run(List.of("openssl", "pkey", "-in", a.key().toString(), "-aes256", "-passout", "pass:x",
                "-out", encrypted.toString()));
        Path twoKeys = Files.writeString(dir.resolve("two.key"), Files.readString(a.key()) + Files.readString(a.key()));
        Path damaged = Files.writeString(dir.resolve("damaged.key"),
                "-----BEGIN PRIVATE KEY-----\nMIIE!!!!\n-----END PRIVATE KEY-----\n");
        Path truncated = Files.writeString(dir.resolve("truncated.key"),
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n");
        Path legacyEncrypted = dir.resolve("legacy.key");
        TestCertificates.run(List.of("openssl", "rsa", "-traditional", "-in", a.key().toString(), "-aes256",
                "-passout", "pass:x", "-out", legacyEncrypted.toString()));
        Path ed25519 = dir.resolve("ed25519.key");
        TestCertificates.run(List.of("openssl", "genpkey", "-algorithm", "ed25519", "-out", ed25519.toString()));

        assertEquals(missing + ": cannot read file: No such file or directory", error(missing, a.key()));
        assertTrue(error(empty, a.key()).startsWith(empty + ": no PEM certificate found (expected -----BEGIN"),
                error(empty, a.key()));
        assertEquals(a.key() + ": holds a private key but no certificate (expected -----BEGIN CERTIFICATE----- blocks:"
                + " the server's certificate, then its intermediates)", error(a.key(), a.key()));
        assertEquals(a.cert() + ": holds a certificate but no private key (expected " + PemFiles.KEY_FORMS + ")",
                error(a.cert(), a.cert()));
        assertTrue(error(a.cert(), encrypted).startsWith(encrypted + ": the private key is encrypted (expected an "
                + "unencrypted key; decrypt it with: openssl pkey"), error(a.cert(), encrypted));
        assertTrue(error(a.cert(), legacyEncrypted).startsWith(legacyEncrypted + ": the private key is encrypted"),
                error(a.cert(), legacyEncrypted));
        assertEquals(twoKeys + ": holds more than one private key (expected one key per file)", error(a.cert(), twoKeys));
        assertTrue(error(a.cert(), damaged).startsWith(damaged + ": the PRIVATE KEY block is damaged"),
                error(a.cert(), damaged));
        assertTrue(error(a.cert(), truncated).startsWith(truncated + ": the private key cannot be read"),
                error(a.cert(), truncated));
        assertEquals(ed25519 + ": EdDSA keys are not supported (expected an RSA or ECDSA key)", error(a.cert(), ed25519));
        for (Path p : List.of(missing, empty, encrypted, legacyEncrypted, twoKeys, damaged, truncated, ed25519)) {
            assertTrue(!error(a.cert(), p).contains("\n"), "one line");
        }
    }
}
