//! The storage side of the embedded store, over HTTP: signed PUT (upload) and GET
//! (download, with Range), as S3 answers them for the AWS store. Generic over the request
//! body, so `updraft serve` hosts it on its server and the tests call it in process.

use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use updraft_core::code::Code;
use updraft_core::http_util::percent_decode;

use crate::blobs::{LocalBlobs, UploadError};

/// What the routes answer: small JSON, nothing, or a file streamed from disk.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

fn empty() -> Body {
    Empty::new().map_err(|e| match e {}).boxed_unsync()
}

fn json(status: StatusCode, code: Code, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": code, "message": message}).to_string();
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(e: UploadError) -> Response<Body> {
    json(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        e.code,
        &e.message,
    )
}

/// Serves `/blobs/{key}`: GET/HEAD downloads, PUT uploads, both by signed URL.
pub async fn handle<B>(blobs: &LocalBlobs, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let key = percent_decode(req.uri().path().trim_start_matches("/blobs/"));
    match *req.method() {
        Method::GET | Method::HEAD => download(blobs, &key, req).await,
        Method::PUT => upload(blobs, &key, req).await,
        _ => json(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::MethodNotAllowed,
            "use GET or PUT",
        ),
    }
}

async fn upload<B>(blobs: &LocalBlobs, key: &str, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let (size, sha) = match blobs.verify_upload(key, req.uri().query()) {
        Ok(v) => v,
        Err(e) => return refuse(e),
    };
    // Refuse early when the announced length is wrong, as S3 does with a signed length.
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && len != size
    {
        return json(
            StatusCode::BAD_REQUEST,
            Code::SizeMismatch,
            &format!("Content-Length {len} differs from the signed {size} bytes"),
        );
    }
    let mut sink = match blobs.begin_upload(key, size, &sha).await {
        Ok(s) => s,
        Err(e) => return refuse(e),
    };
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                return json(
                    StatusCode::BAD_REQUEST,
                    Code::IncompleteBody,
                    &format!("the upload was interrupted: {e}"),
                );
            }
        };
        if let Some(data) = frame.data_ref()
            && let Err(e) = sink.write(data).await
        {
            return refuse(e);
        }
    }
    match sink.finish().await {
        Ok(()) => {
            let mut r = Response::new(empty());
            r.headers_mut().insert(header::ETAG, etag(key));
            r
        }
        Err(e) => refuse(e),
    }
}

/// Keys are unique per upload and their bytes never change, so the key is a strong ETag.
fn etag(key: &str) -> HeaderValue {
    let stem = key
        .rsplit('/')
        .next()
        .unwrap_or(key)
        .trim_end_matches(".zip");
    HeaderValue::from_str(&format!("\"{stem}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"blob\""))
}

/// A single `bytes=` range → (start, end inclusive); `Err` when unsatisfiable.
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: answer the whole file, as allowed
    }
    let (a, b) = spec.split_once('-')?;
    let range = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            if n == 0 || len == 0 {
                return Some(Err(()));
            }
            (len.saturating_sub(n), len - 1)
        }
        (s, "") => {
            let s: u64 = s.parse().ok()?;
            (s, len.saturating_sub(1))
        }
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().ok()?, e.parse().ok()?);
            if e < s {
                return None;
            }
            (s, e.min(len.saturating_sub(1)))
        }
    };
    if range.0 >= len {
        return Some(Err(()));
    }
    Some(Ok(range))
}

async fn download<B>(blobs: &LocalBlobs, key: &str, req: Request<B>) -> Response<Body> {
    let path = match blobs.verify_download(key, req.uri().query()) {
        Ok(p) => p,
        Err(e) => return refuse(e),
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => return json(StatusCode::NOT_FOUND, Code::NotFound, "no such bundle"),
    };
    let len = match file.metadata().await {
        Ok(m) => m.len(),
        Err(_) => return json(StatusCode::NOT_FOUND, Code::NotFound, "no such bundle"),
    };
    let tag = etag(key);
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v == tag)
    {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut().insert(header::ETAG, tag);
        return r;
    }
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, len));
    let mut builder = Response::builder()
        .header(header::ETAG, tag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "application/zip")
        .header(header::CACHE_CONTROL, "private, max-age=86400, immutable");
    let (start, count) = match range {
        Some(Err(())) => {
            return builder
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(empty())
                .unwrap_or_else(|_| Response::new(empty()));
        }
        Some(Ok((s, e))) => {
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{len}"));
            (s, e - s + 1)
        }
        None => (0, len),
    };
    builder = builder.header(header::CONTENT_LENGTH, count);
    if req.method() == Method::HEAD {
        return builder
            .body(empty())
            .unwrap_or_else(|_| Response::new(empty()));
    }
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::StorageError,
            "cannot read the bundle",
        );
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(count), 64 * 1024);
    let body = StreamBody::new(stream.map_ok(Frame::data)).boxed_unsync();
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(empty()))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
