package okhttp3;

import java.io.File;
import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import okio.BufferedSink;
import okio.ByteString;
import okio.Okio;
import okio.Source;

/**
 * OkHttp's request body, written for this harness so that Debian's OkHttp 3.13 also offers the
 * OkHttp 4 argument order the plugin calls (`create(content, contentType)`). It stands first
 * on the class path, in place of the jar's own class, with every member that class has.
 */
public abstract class RequestBody {

    public abstract MediaType contentType();

    public long contentLength() throws IOException {
        return -1;
    }

    public abstract void writeTo(BufferedSink sink) throws IOException;

    private static RequestBody of(final MediaType type, final byte[] bytes, final int offset, final int count) {
        if (offset < 0 || count < 0 || offset + count > bytes.length) {
            throw new ArrayIndexOutOfBoundsException("offset " + offset + ", count " + count + ", length " + bytes.length);
        }
        return new RequestBody() {
            public MediaType contentType() {
                return type;
            }

            public long contentLength() {
                return count;
            }

            public void writeTo(BufferedSink sink) throws IOException {
                sink.write(bytes, offset, count);
            }
        };
    }

    public static RequestBody create(MediaType contentType, String content) {
        Charset charset = StandardCharsets.UTF_8;
        MediaType type = contentType;
        if (contentType != null) {
            Charset declared = contentType.charset();
            if (declared == null) {
                type = MediaType.parse(contentType + "; charset=utf-8");
            } else {
                charset = declared;
            }
        }
        return create(type, content.getBytes(charset));
    }

    public static RequestBody create(final MediaType contentType, final ByteString content) {
        return new RequestBody() {
            public MediaType contentType() {
                return contentType;
            }

            public long contentLength() {
                return content.size();
            }

            public void writeTo(BufferedSink sink) throws IOException {
                sink.write(content);
            }
        };
    }

    public static RequestBody create(MediaType contentType, byte[] content) {
        return of(contentType, content, 0, content.length);
    }

    public static RequestBody create(MediaType contentType, byte[] content, int offset, int byteCount) {
        return of(contentType, content, offset, byteCount);
    }

    public static RequestBody create(final MediaType contentType, final File file) {
        return new RequestBody() {
            public MediaType contentType() {
                return contentType;
            }

            public long contentLength() {
                return file.length();
            }

            public void writeTo(BufferedSink sink) throws IOException {
                try (Source source = Okio.source(file)) {
                    sink.writeAll(source);
                }
            }
        };
    }

    // OkHttp 4's order, which the plugin uses.

    public static RequestBody create(String content, MediaType contentType) {
        return create(contentType, content);
    }

    public static RequestBody create(byte[] content, MediaType contentType) {
        return create(contentType, content);
    }
}
