package org.brotli.dec;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The Brotli decoder the plugin links, backed by Debian's `brotli` command (no Java decoder is
 * packaged): the compressed stream is piped through `brotli -d` and the output read back.
 */
public class BrotliInputStream extends FilterInputStream {

    public BrotliInputStream(InputStream source) throws IOException {
        super(decode(source));
    }

    public BrotliInputStream(InputStream source, int bufferSize) throws IOException {
        this(source);
    }

    private static InputStream decode(InputStream source) throws IOException {
        byte[] compressed = source.readAllBytes();
        Process p = new ProcessBuilder("brotli", "-d", "-c").start();
        Thread feeder = new Thread(() -> {
            try (OutputStream in = p.getOutputStream()) {
                in.write(compressed);
            } catch (IOException ignored) {
                // brotli exited early; its exit code says why.
            }
        });
        feeder.start();
        byte[] plain = p.getInputStream().readAllBytes();
        try {
            feeder.join();
            if (p.waitFor() != 0) {
                throw new IOException("Brotli decode failed: " + new String(p.getErrorStream().readAllBytes()).trim());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Brotli decode interrupted", e);
        }
        return new ByteArrayInputStream(plain);
    }
}
