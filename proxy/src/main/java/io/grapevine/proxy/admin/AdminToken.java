package io.grapevine.proxy.admin;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The bearer token admin writes need ({@code --admin-token-file FILE}). Only its SHA-256 is kept; a
 * presented token is hashed and the two digests are compared in constant time, so neither the content nor
 * the length of the token leaks through timing.
 */
public final class AdminToken {

    /** The shortest token accepted. */
    public static final int MIN_LENGTH = 16;

    private final byte[] digest;

    private AdminToken(String token) {
        this.digest = sha256(token);
    }

    /**
     * A token of visible ASCII characters (no spaces), at least {@link #MIN_LENGTH} of them.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static AdminToken of(String token) {
        if (token.isEmpty() || token.lines().count() > 1) {
            throw new IllegalArgumentException("the file must hold the token on one line");
        }
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                throw new IllegalArgumentException("the token may only hold visible ASCII characters, without spaces");
            }
        }
        if (token.length() < MIN_LENGTH) {
            throw new IllegalArgumentException("the token has " + token.length() + " characters; it needs at least "
                    + MIN_LENGTH + " (make one with: openssl rand -hex 32)");
        }
        return new AdminToken(token);
    }

    /**
     * Reads the token from {@code file}: its content without surrounding whitespace (so a final newline is
     * fine).
     *
     * @throws IllegalArgumentException naming the file and what is wrong with it
     */
    public static AdminToken read(Path file) {
        String content;
        try {
            content = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": cannot read file: No such file or directory");
        } catch (AccessDeniedException e) {
            throw new IllegalArgumentException(file + ": cannot read file: Permission denied");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read file: " + e.getMessage());
        }
        try {
            return of(content.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
    }

    /** Whether {@code presented} is the token; constant time. */
    public boolean matches(String presented) {
        return MessageDigest.isEqual(digest, sha256(presented));
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return "AdminToken[hidden]";
    }
}
