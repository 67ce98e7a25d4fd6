package io.grapevine.proxy.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * TLS connections from the JDK's client, with the SNI name and ALPN protocols a test chooses. It accepts any
 * certificate: the tests look at the one served ({@link #served}) instead of letting a trust check hide which it
 * was. (The curl tests check the certificate the way browsers do.)
 */
public final class TlsClient {

    private TlsClient() {
    }

    /**
     * Connects and completes the handshake.
     *
     * @param sni  the host name to send, or {@code null} to send none
     * @param alpn the protocols to offer, none for no ALPN
     */
    public static SSLSocket connect(InetSocketAddress address, String sni, String... alpn) throws IOException {
        Socket plain = new Socket();
        plain.setTcpNoDelay(true);
        plain.connect(address, 5000);
        plain.setSoTimeout(10_000);
        SSLSocket socket = (SSLSocket) context().getSocketFactory().createSocket(plain, address.getHostString(),
                address.getPort(), true);
        SSLParameters parameters = socket.getSSLParameters();
        parameters.setServerNames(sni == null ? List.of() : List.<SNIServerName>of(new SNIHostName(sni)));
        parameters.setApplicationProtocols(alpn);
        socket.setSSLParameters(parameters);
        socket.startHandshake();
        return socket;
    }

    /**
     * The first flight of the JDK's client, a whole ClientHello as it would send it, for a test that writes it on a
     * plain socket and then plays the client as it likes (answers nothing, say).
     *
     * @param sni  the host name to send, or {@code null} to send none
     * @param alpn the protocols to offer, none for no ALPN
     */
    public static byte[] clientHello(String sni, String... alpn) throws IOException {
        SSLEngine engine = context().createSSLEngine(sni, 443);
        engine.setUseClientMode(true);
        SSLParameters parameters = engine.getSSLParameters();
        parameters.setServerNames(sni == null ? List.of() : List.<SNIServerName>of(new SNIHostName(sni)));
        parameters.setApplicationProtocols(alpn);
        engine.setSSLParameters(parameters);
        ByteBuffer out = ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        SSLEngineResult result = engine.wrap(ByteBuffer.allocate(0), out);
        if (result.getStatus() != SSLEngineResult.Status.OK || result.bytesProduced() == 0) {
            throw new IOException("no ClientHello: " + result);
        }
        out.flip();
        byte[] hello = new byte[out.remaining()];
        out.get(hello);
        return hello;
    }

    /** An HTTP/1.1 connection over a new TLS connection. */
    public static HttpConnection http(InetSocketAddress address, String sni) throws IOException {
        SSLSocket socket = connect(address, sni, "http/1.1");
        return new HttpConnection(socket, sni == null ? address.getHostString() : sni);
    }

    /** The certificate the server presented first (its own). */
    public static X509Certificate served(SSLSocket socket) throws IOException {
        return (X509Certificate) socket.getSession().getPeerCertificates()[0];
    }

    /** The subject of the certificate the server presented, e.g. {@code O=v1,CN=a.test}. */
    public static String subject(SSLSocket socket) throws IOException {
        return served(socket).getSubjectX500Principal().getName();
    }

    /** A client context that accepts any server certificate (see the class comment). */
    public static SSLContext context() throws IOException {
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {new AcceptAll()}, null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException(e);
        }
    }

    private static final class AcceptAll extends X509ExtendedTrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
