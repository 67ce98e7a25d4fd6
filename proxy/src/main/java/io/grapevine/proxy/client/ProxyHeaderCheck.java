package io.grapevine.proxy.client;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProtocolException;
import io.netty.handler.codec.haproxy.HAProxyProtocolVersion;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.NetUtil;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;

/**
 * Checks a PROXY header against the PROXY protocol specification before Netty's {@code HAProxyMessageDecoder} reads
 * it, which is more lenient; a version 1 line it reads itself.
 *
 * <p>A version 1 (text) line, as section 2.1 writes it (Netty takes a line of up to 110 bytes, a space after the last
 * field, {@code +80} or {@code 0080} for a port, {@code 010.0.0.1} for an address, but refuses port 0), is read here
 * and handed on as the {@link HAProxyMessage} the decoder would make, the decoder being taken out unused:
 * <ul>
 *   <li>the line ends with CRLF within its first 107 bytes ("If the CRLF sequence is not found in the first 107
 *       characters, the receiver should declare the line invalid");</li>
 *   <li>exactly one space between fields, none after the last;</li>
 *   <li>IPv4 addresses and ports in decimal without heading zeroes ("in order to avoid any possible confusion with
 *       octal numbers"), ports in 0..65535 without a sign (0 included, as HAProxy reads it: a balancer writes 0
 *       for a port it does not know); IPv6 addresses without a zone;</li>
 *   <li>{@code PROXY UNKNOWN} may be followed by anything up to the CRLF: the receiver ignores it.</li>
 * </ul>
 *
 * <p>A version 2 (binary) header with the {@code PROXY} command and an address family, as HAProxy reads it (Netty
 * checks no checksum and skips up to 3 bytes left after the last TLV):
 * <ul>
 *   <li>its TLVs fill the rest of the header exactly: none is cut short by the header's end;</li>
 *   <li>a {@code PP2_TYPE_CRC32C} TLV is 4 bytes and holds the CRC32c of the whole header with those 4 bytes zero
 *       (section 2.2.5: "if they do not match, the connection should be dropped").</li>
 * </ul>
 * Any version 2 header is at most {@code max_header_bytes} long, as a request head is (HAProxy's must fit its
 * buffer): one whose length field says more is refused as soon as that field arrives, where Netty would hold up to
 * 64 KiB until it came whole. A {@code LOCAL} header's address block and TLVs are discarded unread (section 2.2), and
 * so are an {@code UNSPEC} one's.
 *
 * <p>Bytes that begin neither header go to the decoder untouched. The check holds the bytes until the line's end or
 * the header's last byte, then leaves the pipeline: a line goes on as its message, followed by the bytes after it; a
 * version 2 header goes to the decoder with whatever followed it. A header that fails is an
 * {@link HAProxyProtocolException}, which refuses the connection as the decoder's own would. Thread: the channel's
 * event loop; once per connection.
 */
final class ProxyHeaderCheck extends ByteToMessageDecoder {

    /** The longest line, CRLF included (section 2.1). */
    static final int MAX_LINE_BYTES = 107;

    private static final String OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    private static final String IPV4 = OCTET + "\\." + OCTET + "\\." + OCTET + "\\." + OCTET;
    private static final String PORT = "(0|[1-9][0-9]{0,4})";
    /** Groups: TCP4 (1) or TCP6 (6), each followed by its source, destination, source port and destination port. */
    private static final Pattern LINE = Pattern.compile("PROXY (?:UNKNOWN(?: [^\r\n]*)?"
            + "|(TCP4) (" + IPV4 + ") (" + IPV4 + ") " + PORT + " " + PORT
            + "|(TCP6) ([0-9A-Fa-f:.]+) ([0-9A-Fa-f:.]+) " + PORT + " " + PORT + ")\r");
    private static final int TCP4_GROUP = 1;
    private static final int TCP6_GROUP = 6;

    /** The first 12 bytes of a version 2 header (section 2.2). */
    private static final byte[] V2_SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    /** Signature, version and command, family and protocol, length. */
    private static final int V2_FIXED_BYTES = 16;
    /** Type and length, before a TLV's value. */
    private static final int TLV_HEADER_BYTES = 3;
    private static final int PP2_TYPE_CRC32C = 0x03;
    private static final int CRC32C_BYTES = 4;

    /** The longest version 2 header taken ({@code max_header_bytes}); the length field can say up to 64 KiB. */
    private final int maxBinaryBytes;

    /** @param maxBinaryBytes the longest version 2 header to take, all of it */
    ProxyHeaderCheck(int maxBinaryBytes) {
        this.maxBinaryBytes = maxBinaryBytes;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        boolean complete;
        if (in.getByte(in.readerIndex()) == 'P') {
            HAProxyMessage line = lineRead(in);
            complete = line != null;
            if (complete) {
                // Read whole here: the decoder, which would refuse port 0, gets nothing. The message is handed on
                // (its reference with it) before the bytes that followed the line.
                ctx.pipeline().remove(HAProxyMessageDecoder.class);
                out.add(line);
            }
        } else {
            // a version 2 header, or no PROXY header, which the decoder refuses
            complete = in.getByte(in.readerIndex()) != 0x0D || binaryChecked(in, maxBinaryBytes);
        }
        if (complete) {
            ctx.pipeline().remove(this); // what follows gets the header, or the decoder does, and whatever came after
        }
    }

    /** @return the header the line announces, its bytes read; {@code null} while the line is incomplete */
    private static HAProxyMessage lineRead(ByteBuf in) {
        int start = in.readerIndex();
        int lf = in.indexOf(start, start + Math.min(in.readableBytes(), MAX_LINE_BYTES), (byte) '\n');
        if (lf < 0) {
            if (in.readableBytes() >= MAX_LINE_BYTES) {
                in.skipBytes(in.readableBytes());
                throw new HAProxyProtocolException("no CRLF in the first " + MAX_LINE_BYTES + " bytes of a PROXY line");
            }
            return null; // the rest of the line is on its way
        }
        String line = in.toString(start, lf - start, StandardCharsets.US_ASCII);
        HAProxyMessage header = header(line);
        if (header == null) {
            in.skipBytes(in.readableBytes());
            throw new HAProxyProtocolException("not a PROXY line as the specification writes it: " + line.strip());
        }
        in.readerIndex(lf + 1);
        return header;
    }

    /** What {@code line} (up to its LF, without it) announces; {@code null} if it is not a valid line. */
    private static HAProxyMessage header(String line) {
        Matcher m = LINE.matcher(line);
        if (!m.matches()) {
            return null;
        }
        int at = m.group(TCP4_GROUP) != null ? TCP4_GROUP : m.group(TCP6_GROUP) != null ? TCP6_GROUP : 0;
        if (at == 0) { // UNKNOWN: the connection's own addresses stand
            return new HAProxyMessage(HAProxyProtocolVersion.V1, HAProxyCommand.PROXY, HAProxyProxiedProtocol.UNKNOWN,
                    null, null, 0, 0);
        }
        String source = m.group(at + 1);
        String destination = m.group(at + 2);
        if (!port(m.group(at + 3)) || !port(m.group(at + 4)) || (at == TCP6_GROUP
                && !(NetUtil.isValidIpV6Address(source) && NetUtil.isValidIpV6Address(destination)))) {
            return null;
        }
        return new HAProxyMessage(HAProxyProtocolVersion.V1, HAProxyCommand.PROXY,
                at == TCP4_GROUP ? HAProxyProxiedProtocol.TCP4 : HAProxyProxiedProtocol.TCP6, source, destination,
                Integer.parseInt(m.group(at + 3)), Integer.parseInt(m.group(at + 4)));
    }

    private static boolean port(String digits) {
        return Integer.parseInt(digits) <= 65535;
    }

    /** @return false while the header is incomplete */
    private static boolean binaryChecked(ByteBuf in, int maxBytes) {
        int start = in.readerIndex();
        int readable = in.readableBytes();
        for (int i = 0; i < Math.min(readable, V2_SIGNATURE.length); i++) {
            if (in.getByte(start + i) != V2_SIGNATURE[i]) {
                return true; // not a version 2 header: the decoder refuses it
            }
        }
        if (readable < V2_FIXED_BYTES) {
            return false;
        }
        int end = start + V2_FIXED_BYTES + in.getUnsignedShort(start + 14);
        if (end - start > maxBytes) {
            in.skipBytes(readable);
            throw new HAProxyProtocolException("a PROXY header of " + (end - start) + " bytes (max_header_bytes: "
                    + maxBytes + ")");
        }
        if (in.writerIndex() < end) {
            return false; // the rest is on its way, held here: at most maxBytes
        }
        int versionCommand = in.getUnsignedByte(start + 12);
        int addressBytes = switch (in.getUnsignedByte(start + 13) >> 4) {
            case 1 -> 12; // AF_INET
            case 2 -> 36; // AF_INET6
            case 3 -> 216; // AF_UNIX
            default -> -1; // AF_UNSPEC: no addresses; others: the decoder refuses them
        };
        if (versionCommand != 0x21 || addressBytes < 0 || end - start < V2_FIXED_BYTES + addressBytes) {
            return true; // LOCAL, UNSPEC, or a header the decoder refuses (another version, too short)
        }
        for (int tlv = start + V2_FIXED_BYTES + addressBytes; tlv < end; ) {
            int value = tlv + TLV_HEADER_BYTES;
            if (value > end || value + in.getUnsignedShort(tlv + 1) > end) {
                in.skipBytes(readable);
                throw new HAProxyProtocolException("a TLV at byte " + (tlv - start) + " runs past the end of the "
                        + "PROXY header (" + (end - start) + " bytes)");
            }
            int length = in.getUnsignedShort(tlv + 1);
            if (in.getUnsignedByte(tlv) == PP2_TYPE_CRC32C) {
                checksum(in, start, end, value, length);
            }
            tlv = value + length;
        }
        return true;
    }

    /** Section 2.2.5: the header's CRC32c ({@code start} to {@code end}), its own 4 bytes ({@code value}) zero. */
    private static void checksum(ByteBuf in, int start, int end, int value, int length) {
        if (length != CRC32C_BYTES) {
            in.skipBytes(in.readableBytes());
            throw new HAProxyProtocolException("a PP2_TYPE_CRC32C TLV of " + length + " bytes (expected: 4)");
        }
        CRC32C crc = new CRC32C();
        crc.update(in.nioBuffer(start, value - start));
        crc.update(new byte[CRC32C_BYTES]);
        crc.update(in.nioBuffer(value + CRC32C_BYTES, end - value - CRC32C_BYTES));
        long sent = in.getUnsignedInt(value);
        if (crc.getValue() != sent) {
            in.skipBytes(in.readableBytes());
            throw new HAProxyProtocolException(String.format("the PROXY header's CRC32c is %08x, its PP2_TYPE_CRC32C "
                    + "TLV says %08x", crc.getValue(), sent));
        }
    }
}
