package io.grapevine.proxy.forward;

import io.grapevine.proxy.config.TlsConfig;
import io.netty.util.NetUtil;

/** The parts of {@code tls.redirect_http}'s answer: which requests it leaves alone, and its {@code Location}. */
final class HttpsRedirect {

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();

    private HttpsRedirect() {
    }

    /**
     * Whether {@code path} (as routes see it) is an ACME HTTP-01 challenge: the well-known prefix and one token of
     * base64url characters (RFC 8555 sections 8.1 and 8.3), nothing else; those are forwarded, so that a certificate's
     * client behind the proxy answers them on the plaintext port.
     */
    static boolean isAcmeChallenge(String path) {
        String prefix = TlsConfig.ACME_CHALLENGE_PREFIX;
        if (!path.startsWith(prefix) || path.length() == prefix.length()) {
            return false;
        }
        for (int i = prefix.length(); i < path.length(); i++) {
            char c = path.charAt(i);
            if (!(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether {@code host} (a request's host as routes see it: lower case, without port, an IPv6 literal bracketed)
     * can name the redirect's host: a name of letters, digits, {@code - . _}, an IPv4 address, or a valid IPv6
     * literal.
     */
    static boolean isHost(String host) {
        if (host == null || host.isEmpty()) {
            return false;
        }
        if (host.charAt(0) == '[') {
            return host.endsWith("]") && NetUtil.isValidIpV6Address(host.substring(1, host.length() - 1));
        }
        for (int i = 0; i < host.length(); i++) {
            char c = host.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_')) {
                return false;
            }
        }
        return true;
    }

    /**
     * {@code https://host[:port]target}, the port left out when 443; in {@code target}, every character outside RFC
     * 3986's unreserved, sub-delims, {@code : @ / ?} and the valid percent-encodings is percent-encoded, so that the
     * field is an absolute URI whatever visible ASCII the request-target held.
     */
    static String location(String host, int port, String target) {
        StringBuilder sb = new StringBuilder(16 + host.length() + target.length());
        sb.append("https://").append(host);
        if (port != 443) {
            sb.append(':').append(port);
        }
        for (int i = 0; i < target.length(); i++) {
            char c = target.charAt(i);
            boolean keep = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
                    || "-._~!$&'()*+,;=:@/?".indexOf(c) >= 0
                    || c == '%' && i + 2 < target.length() && isHex(target.charAt(i + 1)) && isHex(target.charAt(i + 2));
            if (keep) {
                sb.append(c);
            } else {
                sb.append('%').append(HEX[(c >> 4) & 0xF]).append(HEX[c & 0xF]);
            }
        }
        return sb.toString();
    }

    private static boolean isHex(char c) {
        return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F';
    }
}
