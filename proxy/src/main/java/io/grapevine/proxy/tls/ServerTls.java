package io.grapevine.proxy.tls;

import io.grapevine.proxy.config.ConfigException;
import io.grapevine.proxy.config.TlsConfig;
import io.grapevine.proxy.config.TlsConfig.CertificateFiles;
import io.netty.channel.ChannelHandler;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TLS termination for the client listeners: the certificates of {@code "tls"} in servers.conf, checked at start,
 * served by host name ({@link SniMapping}), and reloaded when their files change ({@link CertificateWatch}) or on
 * {@link #reloadChanged}. New handshakes use the new certificate; a connection keeps the one it was set up with. A
 * certificate that fails to load at a reload is logged and the one in use stays.
 *
 * <p>Handshakes: TLS 1.3 and 1.2 only; for 1.2, ECDHE key exchange with AEAD ciphers only and no renegotiation a
 * client asks for; ALPN with the protocols the client side can serve. OpenSSL (BoringSSL from netty-tcnative) where
 * it loads, else the JDK.
 *
 * <p>Threads: {@link #newHandler} on the event loops, reading one volatile reference; reloads on the watch thread
 * or the signal thread, one at a time.
 */
public final class ServerTls implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ServerTls.class);

    /**
     * The JDK's switch that refuses a client's TLS 1.2 renegotiation (a ClientHello on an established connection).
     * Without it the JDK accepts one, and each costs the proxy a handshake's private-key operation for one record of
     * the client's; RFC 9113 section 9.2.1 forbids renegotiation under HTTP/2 outright. BoringSSL never accepts one.
     * The JDK reads the property once, at its first server handshake: it is set here, before any handshake of the
     * proxy, unless the command line set it.
     */
    static final String REJECT_RENEGOTIATION = "jdk.tls.rejectClientInitiatedRenegotiation";

    static {
        if (System.getProperty(REJECT_RENEGOTIATION) == null) {
            System.setProperty(REJECT_RENEGOTIATION, "true");
        }
    }

    static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    /**
     * TLS 1.3's suites (the JDK needs them listed; BoringSSL always offers them) and, for TLS 1.2, forward secret
     * AEAD suites only: Mozilla's "intermediate" list without the finite-field DHE ones. The JDK lacks none of them;
     * a suite a provider lacks is left out.
     */
    static final List<String> CIPHERS = List.of(
            "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");

    /** One configured certificate: what is served for it now, and what its files held when last read. */
    private static final class Served {
        final CertificateFiles files;
        TlsCertificate certificate;
        SslContext context;
        /** Digest of the contents {@link #certificate} and {@link #context} were made from. */
        String servedDigest;
        /** Digest of the contents last read, or the error of that read: a reload happens when this changes. */
        String lastSeen;

        Served(CertificateFiles files) {
            this.files = files;
        }
    }

    private final List<Served> served = new ArrayList<>();
    private final SslProvider provider;
    private final List<String> alpn;
    private final long handshakeTimeoutMillis;
    private final AtomicLong reloads = new AtomicLong();
    private final AtomicLong reloadFailures = new AtomicLong();
    private volatile SniMapping<SslContext> certificates;
    private final CertificateWatch watch;

    private ServerTls(TlsConfig config, List<String> alpn, long handshakeTimeoutMillis) throws ConfigException {
        ProviderChoice choice = ProviderChoice.of(config.provider());
        this.provider = choice.provider();
        this.alpn = List.copyOf(alpn);
        this.handshakeTimeoutMillis = handshakeTimeoutMillis;
        for (CertificateFiles files : config.certificates()) {
            Served s = new Served(files);
            try {
                TlsCertificate.Contents contents = TlsCertificate.Contents.read(files);
                s.certificate = TlsCertificate.parse(files, contents);
                s.context = newContext(s.certificate);
                s.servedDigest = s.lastSeen = HexFormat.of().formatHex(contents.digest());
            } catch (ConfigException e) {
                throw files.named(e);
            }
            served.add(s);
        }
        // Logged once everything loaded: a bad file at start is the only line printed.
        log.info("TLS handshakes by {}{}", providerName(), choice.why());
        Instant now = Instant.now();
        for (Served s : served) {
            log.info("TLS certificate {}: {}{}", s.files.cert(), s.certificate.describe(),
                    s == served.get(0) ? " (the default)" : "");
            warnIfNotValid(s.certificate, now);
        }
        this.certificates = mapping();
        try {
            this.watch = new CertificateWatch(config.certificates().stream()
                    .flatMap(f -> Stream.of(f.cert(), f.key())).distinct().toList(), () -> reloadChangedFiles("file changed"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot watch the TLS certificate files", e);
        }
        watch.start();
    }

    /**
     * Reads and checks every certificate of {@code config} and starts watching their files.
     *
     * @param alpn                   the application protocols to offer, in order of preference
     * @param handshakeTimeoutMillis how long a client has for its whole handshake, from the accept
     * @throws ConfigException at the key of servers.conf that names the file, and naming the file, when a
     *                         certificate or key cannot be used
     * @throws IllegalStateException when {@code "provider": "openssl"} was asked for and OpenSSL did not load
     */
    public static ServerTls start(TlsConfig config, List<String> alpn, long handshakeTimeoutMillis)
            throws ConfigException {
        return new ServerTls(config, alpn, handshakeTimeoutMillis);
    }

    /**
     * What {@link #start} reads and checks, for {@code --check}: every certificate and key file of {@code config}
     * parses and each key belongs to its certificate. Nothing is watched, no provider is loaded.
     *
     * @throws ConfigException as {@link #start} would
     */
    public static void check(TlsConfig config) throws ConfigException {
        for (CertificateFiles files : config.certificates()) {
            try {
                TlsCertificate.load(files);
            } catch (ConfigException e) {
                throw files.named(e);
            }
        }
    }

    /**
     * A new connection's first handler: it picks the certificate by SNI, then becomes the {@code SslHandler}.
     * Event loop; one per connection.
     *
     * @param acceptedNanos the {@link System#nanoTime()} of the connection's accept, from which the handshake
     *                      deadline runs (a PROXY header before the ClientHello counts against it)
     */
    public ChannelHandler newHandler(long acceptedNanos) {
        SniMapping<SslContext> now = certificates;
        return new CertificateSelector(now::map, handshakeTimeoutMillis, acceptedNanos);
    }

    /** "OpenSSL (BoringSSL, netty-tcnative)" or "the JDK": what does the handshakes. */
    public String providerName() {
        return provider == SslProvider.OPENSSL ? "OpenSSL (" + OpenSsl.versionString() + ", netty-tcnative)"
                : "the JDK";
    }

    /** Certificates re-read successfully since the start. */
    public long reloads() {
        return reloads.get();
    }

    /** Certificate reloads that failed (the certificate in use stayed). */
    public long reloadFailures() {
        return reloadFailures.get();
    }

    /**
     * What is served now, for the stats and {@code /metrics}, in plain values (the admin listener knows nothing of
     * TLS): {@code {"reloads": n, "reload_failures": n, "certificates": [{"file", "names", "not_after_s"}]}}, one
     * entry per configured certificate in the order of servers.conf, {@code not_after_s} being the end of validity
     * (seconds since the epoch) of the certificate served for it now, so a renewal that failed to load shows. Any
     * thread: taken under the lock a reload holds, so the counters and the certificates are of one moment.
     */
    public synchronized Map<String, Object> report() {
        List<Map<String, Object>> certs = new ArrayList<>(served.size());
        for (Served s : served) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("file", s.files.cert().toString());
            c.put("names", s.certificate.names());
            c.put("not_after_s", s.certificate.chain()[0].getNotAfter().toInstant().getEpochSecond());
            certs.add(c);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("reloads", reloads.get());
        out.put("reload_failures", reloadFailures.get());
        out.put("certificates", certs);
        return out;
    }

    /**
     * Reads the files of every certificate again and serves those whose content changed; a certificate whose new
     * files fail the checks keeps being served as it was, and the reason is logged once per content. Logs a line
     * when nothing changed, too. Any thread.
     *
     * @param why for the log, e.g. "SIGHUP"
     */
    public void reloadChanged(String why) {
        if (!reloadChangedFiles(why)) {
            log.info("{}: no TLS certificate file changed", why);
        }
    }

    /** As {@link #reloadChanged}, silent when nothing changed; true if the content of some file did. */
    private synchronized boolean reloadChangedFiles(String why) {
        boolean seenChange = false;
        boolean newOnes = false;
        Instant now = Instant.now();
        for (Served s : served) {
            String seen;
            TlsCertificate certificate = null;
            SslContext context = null;
            String problem = null;
            try {
                TlsCertificate.Contents contents = TlsCertificate.Contents.read(s.files);
                seen = HexFormat.of().formatHex(contents.digest());
                if (seen.equals(s.lastSeen)) {
                    continue;
                }
                if (seen.equals(s.servedDigest)) {
                    // Back to what is served, after a replacement that failed: the context in use stays, and with
                    // it the session ticket keys and the session cache, so its clients still resume.
                    s.lastSeen = seen;
                    seenChange = true;
                    log.info("TLS certificate {} ({}): the files hold the certificate in use again", s.files.cert(),
                            why);
                    continue;
                }
                certificate = TlsCertificate.parse(s.files, contents);
                context = newContext(certificate);
            } catch (ConfigException e) {
                seen = problem = s.files.named(e).getMessage(); // at the line of servers.conf, as start and --check
                if (seen.equals(s.lastSeen)) {
                    continue;
                }
            }
            s.lastSeen = seen;
            seenChange = true;
            if (problem != null) {
                reloadFailures.incrementAndGet();
                log.warn("TLS certificate {} not reloaded ({}); the one in use stays: {}", s.files.cert(), why,
                        problem);
                continue;
            }
            s.certificate = certificate;
            s.context = context;
            s.servedDigest = seen;
            newOnes = true;
            reloads.incrementAndGet();
            log.info("TLS certificate {} reloaded ({}): {}", s.files.cert(), why, certificate.describe());
            warnIfNotValid(certificate, now);
        }
        if (newOnes) {
            certificates = mapping();
        }
        return seenChange;
    }

    private SniMapping<SslContext> mapping() {
        List<SniMapping.Candidate<SslContext>> candidates = new ArrayList<>();
        for (Served s : served) {
            candidates.add(new SniMapping.Candidate<>(s.certificate.names(), s.context));
        }
        return new SniMapping<>(candidates);
    }

    private SslContext newContext(TlsCertificate certificate) throws ConfigException {
        try {
            return SslContextBuilder.forServer(certificate.key(), certificate.chain())
                    .sslProvider(provider)
                    .protocols(PROTOCOLS)
                    .ciphers(CIPHERS, SupportedCipherSuiteFilter.INSTANCE)
                    .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                            // a client that offers none of ours gets no ALPN answer and speaks HTTP/1.1
                            ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                            ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, alpn))
                    .build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new ConfigException(certificate.files().cert().toString(), 0, 0,
                    "cannot be used for TLS (" + e.getMessage() + ")", "a certificate and key that TLS servers accept");
        }
    }

    private static void warnIfNotValid(TlsCertificate certificate, Instant now) {
        String problem = certificate.validityProblem(now);
        if (problem != null) {
            log.warn("TLS certificate {} has {}: clients will refuse it", certificate.files().cert(), problem);
        }
    }

    /** Which TLS implementation, and what the log line adds to say why. */
    private record ProviderChoice(SslProvider provider, String why) {

        static ProviderChoice of(TlsConfig.Provider wanted) {
            if (wanted == TlsConfig.Provider.JDK) {
                return new ProviderChoice(SslProvider.JDK, " (\"provider\": \"jdk\")");
            }
            if (OpenSsl.isAvailable()) {
                return new ProviderChoice(SslProvider.OPENSSL, "");
            }
            Throwable cause = OpenSsl.unavailabilityCause();
            String why = cause == null ? "unknown reason" : rootMessage(cause);
            if (wanted == TlsConfig.Provider.OPENSSL) {
                throw new IllegalStateException("tls.provider is \"openssl\", but OpenSSL did not load: " + why);
            }
            return new ProviderChoice(SslProvider.JDK, ": OpenSSL did not load (" + why + ")");
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == t ? t.toString() : t + " (" + root + ")";
    }

    /** Stops watching the files; connections keep their TLS state. */
    @Override
    public void close() {
        watch.close();
    }
}
