package io.grapevine.proxy.health;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A backend for health check tests: on {@code address}, one request per connection; it records each request head,
 * writes {@code answer} (bytes as ISO-8859-1) and closes.
 */
final class ScriptedBackend implements AutoCloseable {

    private final ServerSocket socket;
    /** The request heads received, in order. */
    final List<String> heads = new CopyOnWriteArrayList<>();

    ScriptedBackend(InetAddress address, String answer) throws IOException {
        socket = new ServerSocket(0, 50, address);
        Thread acceptor = new Thread(() -> {
            while (!socket.isClosed()) {
                try (Socket s = socket.accept()) {
                    String head = readHead(s.getInputStream());
                    s.getOutputStream().write(answer.getBytes(StandardCharsets.ISO_8859_1));
                    s.getOutputStream().flush();
                    heads.add(head);
                } catch (IOException e) {
                    // closed by the test, or a probe that went away
                }
            }
        }, "scripted-backend");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    int port() {
        return socket.getLocalPort();
    }

    /** The request head from {@code in}, up to and including its empty line. */
    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            if (head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
                break;
            }
        }
        return head.toString(StandardCharsets.US_ASCII);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
