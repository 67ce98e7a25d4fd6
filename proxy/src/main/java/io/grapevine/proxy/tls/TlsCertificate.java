package io.grapevine.proxy.tls;

import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.ConfigLoader;
import io.grapevine.proxy.config.TlsConfig.CertificateFiles;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECKey;
import java.security.interfaces.RSAKey;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * One certificate as it is served: its chain and private key, read and checked together, and the host names it
 * is for. Immutable.
 *
 * @param files where it was read from
 * @param chain the server's certificate first, then its intermediates
 * @param key   the private key of {@code chain[0]}
 * @param names the DNS names of its subject alternative names in lower case ({@code *.example.com} for a
 *              wildcard), or, when it has none, its subject's common name
 */
record TlsCertificate(CertificateFiles files, X509Certificate[] chain, PrivateKey key, List<String> names) {

    /** The text of both files and a digest of them, read once, so the digest is of what was parsed. */
    record Contents(String cert, String key, byte[] digest) {

        static Contents read(CertificateFiles files) throws ConfigException {
            String cert = ConfigLoader.readText(files.cert());
            String key = files.key().equals(files.cert()) ? cert : ConfigLoader.readText(files.key());
            try {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                sha.update(cert.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                return new Contents(cert, key, sha.digest(key.getBytes(StandardCharsets.UTF_8)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("every JVM has SHA-256", e);
            }
        }
    }

    /** Reads and checks the files of one certificate. */
    static TlsCertificate load(CertificateFiles files) throws ConfigException {
        return parse(files, Contents.read(files));
    }

    /**
     * Parses what {@link Contents#read} read: the chain, the key, and that the key is the one of the chain's
     * first certificate.
     */
    static TlsCertificate parse(CertificateFiles files, Contents contents) throws ConfigException {
        try {
            return check(files, contents);
        } catch (RuntimeException e) {
            // A parser's surprise on unusual input is still this file's fault, not the proxy's.
            throw new ConfigException(files.cert().toString(), 0, 0, "cannot be read with " + files.key() + " ("
                    + e + ")", "a PEM certificate chain and its private key");
        }
    }

    private static TlsCertificate check(CertificateFiles files, Contents contents) throws ConfigException {
        X509Certificate[] chain = PemFiles.certificates(files.cert(), contents.cert()).toArray(new X509Certificate[0]);
        PrivateKey key = PemFiles.privateKey(files.key(), contents.key());
        if (!belongTogether(key, chain[0].getPublicKey())) {
            throw new ConfigException(files.key().toString(), 0, 0, "this " + key.getAlgorithm()
                    + " key does not belong to the first certificate of " + files.cert(), "the private key of the "
                    + "server's certificate, which comes first in the certificate file, before its intermediates");
        }
        return new TlsCertificate(files, chain, key, names(files, chain[0]));
    }

    /** The leaf certificate. */
    X509Certificate leaf() {
        return chain[0];
    }

    /** For the log: subject, names, key, expiry. */
    String describe() {
        return leaf().getSubjectX500Principal().getName() + ", names " + names + ", " + key.getAlgorithm() + " "
                + keyBits() + " bits, valid until " + leaf().getNotAfter().toInstant();
    }

    /** Why this certificate will be refused by clients now, or {@code null} when it is within its validity. */
    String validityProblem(Instant now) {
        if (now.isAfter(leaf().getNotAfter().toInstant())) {
            return "expired on " + leaf().getNotAfter().toInstant();
        }
        if (now.isBefore(leaf().getNotBefore().toInstant())) {
            return "not valid before " + leaf().getNotBefore().toInstant();
        }
        return null;
    }

    private int keyBits() {
        if (key instanceof RSAKey rsa) {
            return rsa.getModulus().bitLength();
        }
        return key instanceof ECKey ec ? ec.getParams().getCurve().getField().getFieldSize() : 0;
    }

    private static final byte[] PROBE = "grapevine key check".getBytes(StandardCharsets.US_ASCII);

    /** Signs with {@code key} and verifies with {@code certificateKey}: true if they are the two halves of one pair. */
    private static boolean belongTogether(PrivateKey key, PublicKey certificateKey) {
        String algorithm = key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
        try {
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(PROBE);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificateKey);
            verifier.update(PROBE);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false; // e.g. an RSA key beside an EC certificate
        }
    }

    private static List<String> names(CertificateFiles files, X509Certificate leaf) throws ConfigException {
        List<String> names = new ArrayList<>();
        try {
            Collection<List<?>> alternatives = leaf.getSubjectAlternativeNames();
            for (List<?> san : alternatives == null ? List.<List<?>>of() : alternatives) {
                if (Integer.valueOf(2).equals(san.get(0)) && san.get(1) instanceof String dns) { // dNSName
                    names.add(dns.toLowerCase(Locale.ROOT));
                }
            }
        } catch (CertificateParsingException e) {
            throw new ConfigException(files.cert().toString(), 0, 0, "the subject alternative names of the first "
                    + "certificate cannot be read (" + e.getMessage() + ")", "a valid X.509 certificate");
        }
        if (names.isEmpty()) {
            try {
                for (Rdn rdn : new LdapName(leaf.getSubjectX500Principal().getName()).getRdns()) {
                    if (rdn.getType().equalsIgnoreCase("CN")) {
                        names.add(rdn.getValue().toString().toLowerCase(Locale.ROOT));
                    }
                }
            } catch (InvalidNameException e) {
                // no usable common name either: the certificate is served only as the default
            }
        }
        return List.copyOf(names);
    }
}
