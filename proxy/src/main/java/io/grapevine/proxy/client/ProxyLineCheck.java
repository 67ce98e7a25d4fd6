package io.grapevine.proxy.client;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolException;
import io.netty.util.NetUtil;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a version 1 (text) PROXY header against section 2.1 of the PROXY protocol specification before Netty's
 * {@code HAProxyMessageDecoder} reads it, which is more lenient (a line of up to 110 bytes, a space after the last
 * field, {@code +80} or {@code 0080} for a port, {@code 010.0.0.1} for an address):
 * <ul>
 *   <li>the line ends with CRLF within its first 107 bytes ("If the CRLF sequence is not found in the first 107
 *       characters, the receiver should declare the line invalid");</li>
 *   <li>exactly one space between fields, none after the last;</li>
 *   <li>IPv4 addresses and ports in decimal without heading zeroes ("in order to avoid any possible confusion with
 *       octal numbers"), ports in 0..65535 without a sign; IPv6 addresses without a zone;</li>
 *   <li>{@code PROXY UNKNOWN} may be followed by anything up to the CRLF: the receiver ignores it.</li>
 * </ul>
 * Bytes that cannot begin a version 1 header (a version 2 signature begins with CR) go to the decoder untouched.
 * The check holds the bytes until the line's end, then hands them all to the decoder and leaves the pipeline; a line
 * that fails is an {@link HAProxyProtocolException}, which refuses the connection as the decoder's own would.
 * Thread: the channel's event loop.
 */
final class ProxyLineCheck extends ByteToMessageDecoder {

    /** The longest line, CRLF included (section 2.1). */
    static final int MAX_LINE_BYTES = 107;

    private static final String OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    private static final String IPV4 = OCTET + "\\." + OCTET + "\\." + OCTET + "\\." + OCTET;
    private static final String PORT = "(0|[1-9][0-9]{0,4})";
    private static final Pattern LINE = Pattern.compile("PROXY (?:UNKNOWN(?: [^\r\n]*)?"
            + "|TCP4 " + IPV4 + " " + IPV4 + " " + PORT + " " + PORT
            + "|TCP6 ([0-9A-Fa-f:.]+) ([0-9A-Fa-f:.]+) " + PORT + " " + PORT + ")\r");

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        int start = in.readerIndex();
        if (in.getByte(start) != 'P') {
            ctx.pipeline().remove(this);
            return;
        }
        int lf = in.indexOf(start, start + Math.min(in.readableBytes(), MAX_LINE_BYTES), (byte) '\n');
        if (lf < 0) {
            if (in.readableBytes() >= MAX_LINE_BYTES) {
                in.skipBytes(in.readableBytes());
                throw new HAProxyProtocolException("no CRLF in the first " + MAX_LINE_BYTES + " bytes of a PROXY line");
            }
            return; // the rest of the line is on its way
        }
        String line = in.toString(start, lf - start, StandardCharsets.US_ASCII);
        if (!valid(line)) {
            in.skipBytes(in.readableBytes());
            throw new HAProxyProtocolException("not a PROXY line as the specification writes it: " + line.strip());
        }
        ctx.pipeline().remove(this); // the decoder gets the line and whatever followed it
    }

    /** {@code line}: up to its LF, without it. */
    private static boolean valid(String line) {
        Matcher m = LINE.matcher(line);
        if (!m.matches()) {
            return false;
        }
        if (m.group(1) != null) { // TCP4
            return port(m.group(1)) && port(m.group(2));
        }
        if (m.group(3) != null) { // TCP6
            return NetUtil.isValidIpV6Address(m.group(3)) && NetUtil.isValidIpV6Address(m.group(4))
                    && port(m.group(5)) && port(m.group(6));
        }
        return true; // UNKNOWN
    }

    private static boolean port(String digits) {
        return Integer.parseInt(digits) <= 65535;
    }
}
