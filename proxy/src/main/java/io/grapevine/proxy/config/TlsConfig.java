package io.grapevine.proxy.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * TLS termination on the client side, as {@code "tls"} in servers.conf says it. Only file names here: the
 * files are read, checked and watched by the {@code tls} package.
 *
 * @param listen       where TLS is served beside the plaintext {@code listen}; {@code null}: the {@code listen}
 *                     listener itself speaks TLS
 * @param certificates the certificates with their keys, absolute paths, in the order given ({@code cert} /
 *                     {@code key} first, then {@code certificates}); the first is the default one, served when
 *                     the client names no host (SNI) or one that no certificate has; never empty
 * @param provider     which TLS implementation does the handshakes
 * @param redirectPort the HTTPS port the plaintext {@code listen} redirects its requests to ({@code redirect_http});
 *                     0: it forwards them as it does by default
 */
public record TlsConfig(HostPort listen, List<CertificateFiles> certificates, Provider provider, int redirectPort) {

    /** TLS without redirects from the plaintext listener. */
    public TlsConfig(HostPort listen, List<CertificateFiles> certificates, Provider provider) {
        this(listen, certificates, provider, 0);
    }

    /**
     * The path the ACME HTTP-01 challenges come to (RFC 8555 section 8.3): requests under this path are forwarded
     * from the plaintext listener even when it redirects, so that a certificate's client behind the proxy can answer.
     */
    public static final String ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

    /**
     * A certificate chain file and the file of its private key (may be the same file), and where servers.conf
     * names each ({@code null} when not from servers.conf). Where they are named is not part of what they are:
     * equal files are equal wherever they are named.
     */
    public record CertificateFiles(Path cert, Path key, ConfigOrigin certAt, ConfigOrigin keyAt) {

        public CertificateFiles(Path cert, Path key) {
            this(cert, key, null, null);
        }

        /** {@code e}, an error about one of the two files, said at the key that names that file. */
        public ConfigException named(ConfigException e) {
            return ConfigOrigin.about(e.source().equals(cert.toString()) ? certAt : keyAt, e);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof CertificateFiles f && f.cert.equals(cert) && f.key.equals(key);
        }

        @Override
        public int hashCode() {
            return Objects.hash(cert, key);
        }
    }

    /** {@code "provider"}: the TLS implementation. */
    public enum Provider {
        /** OpenSSL (BoringSSL through netty-tcnative) where it loads, the JDK's otherwise. */
        AUTO,
        /** OpenSSL only: the proxy does not start where it does not load. */
        OPENSSL,
        /** The JDK's own TLS. */
        JDK;

        public String configName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
