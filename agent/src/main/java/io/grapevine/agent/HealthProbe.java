package io.grapevine.agent;

import io.grapevine.cluster.HostAndPort;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/** One HTTP GET of the backend's health path; 2xx and 3xx count as healthy. */
final class HealthProbe {

    /** The outcome of a probe, with a short reason for the log. */
    record Result(boolean healthy, String detail) {
    }

    private final HttpClient client;
    private final URI uri;
    private final Duration timeout;

    HealthProbe(HostAndPort target, String path, Duration timeout) {
        this.uri = URI.create("http://" + target + path);
        this.timeout = timeout;
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    URI uri() {
        return uri;
    }

    Result check() {
        HttpRequest request = HttpRequest.newBuilder(uri)
                .timeout(timeout)
                .header("User-Agent", "grapevine-agent")
                .GET()
                .build();
        try {
            int status = client.send(request, HttpResponse.BodyHandlers.discarding()).statusCode();
            return new Result(status >= 200 && status < 400, "HTTP " + status);
        } catch (HttpConnectTimeoutException e) {
            return new Result(false, "connect timed out after " + timeout.toMillis() + " ms");
        } catch (HttpTimeoutException e) {
            return new Result(false, "no response within " + timeout.toMillis() + " ms");
        } catch (ConnectException e) {
            return new Result(false, "connection refused");
        } catch (IOException e) {
            return new Result(false, e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, "interrupted");
        }
    }
}
