package dev.updraft.plugintest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A flaky network between the phone and storage, on 127.0.0.1: forwards HTTP requests to one
 * upstream (keeping the Host the URL was signed for), and cuts the first response's body after
 * `cutAfter` bytes, as a dropped mobile connection does. Records each request's Range header
 * and the status storage answered.
 */
public final class CuttingProxy implements AutoCloseable {

    public static final class Exchange {

        public final String range;
        public final int status;

        Exchange(String range, int status) {
            this.range = range;
            this.status = status;
        }

        public String toString() {
            return "range=" + range + " status=" + status;
        }
    }

    public final List<Exchange> exchanges = new CopyOnWriteArrayList<>();
    private final ServerSocket server;
    private final String upstreamHost;
    private final int upstreamPort;
    private final long cutAfter;
    private volatile boolean cut;

    public CuttingProxy(URI upstream, long cutAfter) throws IOException {
        this.upstreamHost = upstream.getHost();
        this.upstreamPort = upstream.getPort() == -1 ? 80 : upstream.getPort();
        this.cutAfter = cutAfter;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::serve, "proxy");
        t.setDaemon(true);
        t.start();
    }

    /** The same URL, through the proxy. */
    public String via(URI url) {
        return "http://127.0.0.1:" + server.getLocalPort() + url.getRawPath() + (url.getRawQuery() == null ? "" : "?" + url.getRawQuery());
    }

    private void serve() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                Thread t = new Thread(() -> relay(client), "proxy-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private static byte[] readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed before the end of the head");
            }
            head.write(b);
            matched = (b == (matched % 2 == 0 ? '\r' : '\n')) ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toByteArray();
    }

    private void relay(Socket client) {
        try (client; Socket up = new Socket(upstreamHost, upstreamPort)) {
            InputStream cin = client.getInputStream();
            String[] lines = new String(readHead(cin), "ISO-8859-1").split("\r\n");
            StringBuilder head = new StringBuilder(lines[0]).append("\r\n");
            String range = null;
            for (int i = 1; i < lines.length; i++) {
                String lower = lines[i].toLowerCase();
                if (lower.startsWith("host:") || lower.startsWith("connection:")) {
                    continue;
                }
                if (lower.startsWith("range:")) {
                    range = lines[i].substring(6).trim();
                }
                head.append(lines[i]).append("\r\n");
            }
            head.append("Host: ").append(upstreamHost).append(':').append(upstreamPort).append("\r\n");
            head.append("Connection: close\r\n\r\n");
            OutputStream uout = up.getOutputStream();
            uout.write(head.toString().getBytes("ISO-8859-1"));
            uout.flush();

            InputStream uin = up.getInputStream();
            byte[] responseHead = readHead(uin);
            String statusLine = new String(responseHead, "ISO-8859-1").split("\r\n")[0];
            exchanges.add(new Exchange(range, Integer.parseInt(statusLine.split(" ")[1])));
            OutputStream cout = client.getOutputStream();
            cout.write(responseHead);
            boolean cutThis = !cut;
            cut = true;
            long budget = cutThis ? cutAfter : Long.MAX_VALUE;
            byte[] buf = new byte[8192];
            int n;
            while (budget > 0 && (n = uin.read(buf, 0, (int) Math.min(buf.length, budget))) > 0) {
                cout.write(buf, 0, n);
                budget -= n;
            }
            cout.flush();
        } catch (IOException e) {
            // The phone or storage hung up: nothing more to relay.
        }
    }

    public void close() throws IOException {
        server.close();
    }
}
