package io.grapevine.proxy.http;

/** Character classes of RFC 9110 section 5.6 and RFC 3986, as lookup tables indexed by unsigned byte. */
final class HttpChars {

    static final byte CR = '\r';
    static final byte LF = '\n';
    static final byte SP = ' ';
    static final byte HTAB = '\t';

    /** tchar: the characters of a token (field names, methods, coding names). */
    private static final boolean[] TCHAR = new boolean[256];
    /** field-vchar, SP and HTAB: what a field value may contain (obs-text included). */
    private static final boolean[] FIELD_VALUE = new boolean[256];
    /**
     * Characters allowed in a request-target: RFC 3986 unreserved, reserved and '%', and the printable ASCII
     * that browsers send unencoded though RFC 3986 leaves it out ({@code \ ^ ` { | }}: the WHATWG URL
     * standard encodes none of them in a query, nor {@code ^ |} in a path), as nginx accepts them; no '#',
     * no {@code " < >} (which browsers always encode), no CTL, no SP, no byte beyond ASCII.
     */
    private static final boolean[] TARGET = new boolean[256];
    /** Characters allowed in a Host value: reg-name / IP-literal / port. */
    private static final boolean[] HOST = new boolean[256];
    /** Characters allowed in a reason phrase: HTAB, SP, VCHAR, obs-text. */
    private static final boolean[] REASON = new boolean[256];

    static {
        for (int c = '0'; c <= '9'; c++) {
            TCHAR[c] = true;
        }
        for (int c = 'a'; c <= 'z'; c++) {
            TCHAR[c] = true;
            TCHAR[c - 32] = true;
        }
        for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
            TCHAR[c] = true;
        }
        for (int c = 0x21; c <= 0xFF; c++) {
            FIELD_VALUE[c] = c != 0x7F;
            REASON[c] = c != 0x7F;
        }
        FIELD_VALUE[SP] = FIELD_VALUE[HTAB] = true;
        REASON[SP] = REASON[HTAB] = true;
        for (int c = 0x21; c <= 0x7E; c++) {
            TARGET[c] = true;
        }
        TARGET['#'] = false;
        TARGET['"'] = TARGET['<'] = TARGET['>'] = false;
        for (int c = '0'; c <= '9'; c++) {
            HOST[c] = true;
        }
        for (int c = 'a'; c <= 'z'; c++) {
            HOST[c] = true;
            HOST[c - 32] = true;
        }
        for (char c : "-._~%!$&'()*+,;=:[]".toCharArray()) {
            HOST[c] = true;
        }
    }

    private HttpChars() {
    }

    static boolean isTchar(byte b) {
        return TCHAR[b & 0xFF];
    }

    static boolean isFieldValueChar(byte b) {
        return FIELD_VALUE[b & 0xFF];
    }

    static boolean isTargetChar(byte b) {
        return TARGET[b & 0xFF];
    }

    static boolean isHostChar(byte b) {
        return HOST[b & 0xFF];
    }

    static boolean isReasonChar(byte b) {
        return REASON[b & 0xFF];
    }

    static boolean isOws(byte b) {
        return b == SP || b == HTAB;
    }

    static byte lower(byte b) {
        return b >= 'A' && b <= 'Z' ? (byte) (b + 32) : b;
    }

    /** Case-insensitive comparison of {@code b[off, off+len)} with a lower-case ASCII constant. */
    static boolean equalsLower(byte[] b, int off, int len, byte[] lowerConstant) {
        if (len != lowerConstant.length) {
            return false;
        }
        for (int i = 0; i < len; i++) {
            if (lower(b[off + i]) != lowerConstant[i]) {
                return false;
            }
        }
        return true;
    }

    static int hexValue(byte b) {
        if (b >= '0' && b <= '9') {
            return b - '0';
        }
        if (b >= 'a' && b <= 'f') {
            return b - 'a' + 10;
        }
        if (b >= 'A' && b <= 'F') {
            return b - 'A' + 10;
        }
        return -1;
    }

    /** Whether {@code b[from, to)} contains {@code lower} (lower-case ASCII), in any case. */
    static boolean containsIgnoringCase(byte[] b, int from, int to, byte[] lower) {
        for (int i = from; i + lower.length <= to; i++) {
            if (equalsLower(b, i, lower.length, lower)) {
                return true;
            }
        }
        return false;
    }
}
