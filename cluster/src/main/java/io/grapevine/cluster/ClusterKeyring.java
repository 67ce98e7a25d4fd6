package io.grapevine.cluster;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster keys: the first one seals every frame this node sends, all of them are accepted on
 * receipt. A key is rotated in three steps (install the new key everywhere as a secondary, make it
 * first everywhere, remove the old one), each a rolling restart.
 *
 * <p>A key file holds one base64 key of 32 bytes per line; blank lines and lines starting with
 * {@code #} are ignored, whatever characters they hold (the file is read as UTF-8, a byte order mark
 * before the first line skipped). Immutable and thread-safe.
 */
public final class ClusterKeyring {

    public static final int KEY_BYTES = 32;

    /** How an operator makes a key file, for the messages that ask for one. */
    public static final String HOW_TO_MAKE_A_KEY =
            "./grapevine keygen > cluster.key, or without Java: openssl rand -base64 32 > cluster.key";

    private static final Logger LOG = LoggerFactory.getLogger(ClusterKeyring.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * One cluster key, as the frame codec uses it, and the key other secrets of the cluster are derived from
     * (see {@link #derivedSecret}).
     */
    record Key(int id, SecretKeySpec aeadKey, SecretKeySpec derivationKey) {
        String idHex() {
            return String.format("%08x", id);
        }
    }

    private final List<Key> keys;
    private final Map<Integer, Key> byId;

    private ClusterKeyring(List<Key> keys) {
        this.keys = List.copyOf(keys);
        Map<Integer, Key> ids = new HashMap<>();
        for (Key key : keys) {
            ids.put(key.id(), key);
        }
        this.byId = Map.copyOf(ids);
    }

    /**
     * Reads a key file. Errors name the file, the line and what was expected. Warns when the file
     * can be read by users other than its owner.
     */
    public static ClusterKeyring load(Path file) throws IOException {
        List<String> lines;
        try {
            // Read as UTF-8, whatever its bytes: a comment may hold any character (a name, a dash an editor put
            // in), and a byte order mark before the first key (Windows editors write one) is no part of it. A key
            // line is base64, so a character of anything else in it is an error on that line.
            String text = new String(Files.readAllBytes(file), StandardCharsets.UTF_8);
            lines = (text.startsWith("\uFEFF") ? text.substring(1) : text).lines().toList();
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such cluster key file", e);
        } catch (AccessDeniedException e) {
            throw new IOException(file + ": cannot read cluster key file (permission denied)", e);
        } catch (IOException e) {
            throw new IOException(file + ": cannot read cluster key file (" + e + ")", e);
        }
        List<byte[]> raw = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            try {
                raw.add(decodeKey(line));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ":" + (i + 1) + ": " + e.getMessage());
            }
        }
        if (raw.isEmpty()) {
            throw new IOException(file + ": no cluster key found (expected one base64 key of "
                    + KEY_BYTES + " bytes per line; make one with " + HOW_TO_MAKE_A_KEY + ")");
        }
        warnIfShared(file);
        try {
            return fromRawKeys(raw);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
    }

    /** A keyring from base64 keys, first one primary. */
    public static ClusterKeyring of(List<String> base64Keys) {
        List<byte[]> raw = new ArrayList<>();
        for (String key : base64Keys) {
            raw.add(decodeKey(key.strip()));
        }
        if (raw.isEmpty()) {
            throw new IllegalArgumentException("a keyring needs at least one key");
        }
        return fromRawKeys(raw);
    }

    /** A fresh random key, base64. */
    public static String generateKey() {
        byte[] key = new byte[KEY_BYTES];
        RANDOM.nextBytes(key);
        return Base64.getEncoder().encodeToString(key);
    }

    public int size() {
        return keys.size();
    }

    /** Short public identifiers of the keys (not secret), first one primary, for logs. */
    public List<String> keyIds() {
        return keys.stream().map(Key::idHex).toList();
    }

    Key primary() {
        return keys.get(0);
    }

    /**
     * A secret every member with the same primary key derives alike, for another use than sealing frames (such
     * as naming servers in cookies): HMAC-SHA256 of {@code label} under a key derived from the primary key. It
     * reveals nothing of the cluster key; it changes when the primary key does.
     */
    public byte[] derivedSecret(String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(primary().derivationKey());
            return mac.doFinal(label.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    Key byId(int id) {
        return byId.get(id);
    }

    private static ClusterKeyring fromRawKeys(List<byte[]> raw) {
        List<Key> keys = new ArrayList<>();
        Map<Integer, Integer> seen = new HashMap<>();
        for (int i = 0; i < raw.size(); i++) {
            Key key = derive(raw.get(i));
            Integer previous = seen.putIfAbsent(key.id(), i + 1);
            if (previous != null) {
                throw new IllegalArgumentException("key " + (i + 1) + " repeats key " + previous);
            }
            keys.add(key);
        }
        return new ClusterKeyring(keys);
    }

    private static byte[] decodeKey(String base64) {
        byte[] key;
        try {
            key = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("expected a base64 key of " + KEY_BYTES + " bytes, found text that is not base64");
        }
        if (key.length != KEY_BYTES) {
            throw new IllegalArgumentException("expected a base64 key of " + KEY_BYTES + " bytes, found " + key.length + " bytes");
        }
        return key;
    }

    /**
     * The configured key is never used directly: the AEAD key, the public key id and the key of
     * {@link #derivedSecret} are derived from it with HMAC-SHA256 under distinct labels, so none of them
     * reveals anything about the key or the others.
     */
    private static Key derive(byte[] raw) {
        byte[] aead = hmac(raw, "grapevine/membership/v1/aes-256-gcm");
        byte[] id = hmac(raw, "grapevine/membership/v1/key-id");
        byte[] derivation = hmac(raw, "grapevine/cluster/v1/derived-secrets");
        return new Key(ByteBuffer.wrap(id).getInt(), new SecretKeySpec(aead, "AES"),
                new SecretKeySpec(derivation, "HmacSHA256"));
    }

    private static byte[] hmac(byte[] key, String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(label.getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    private static void warnIfShared(Path file) {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
                LOG.warn("Cluster key file {} is readable by other users; anyone who can read it can join the cluster (chmod 600)", file);
            }
        } catch (UnsupportedOperationException | IOException e) {
            // Not a POSIX file system: nothing to check.
        }
    }
}
