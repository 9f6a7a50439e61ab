//! Small helpers shared by every route: JSON bodies, query strings, path segments.

use crate::code::Code;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

pub type Req = http::Request<Bytes>;
pub type Resp = Response<Bytes>;

pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Resp {
    // Serialising our own types cannot fail: they hold no maps with non-string keys.
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = Response::new(Bytes::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn ok<T: Serialize + ?Sized>(body: &T) -> Resp {
    json_response(StatusCode::OK, body)
}

pub fn created<T: Serialize + ?Sized>(body: &T) -> Resp {
    json_response(StatusCode::CREATED, body)
}

pub fn no_content() -> Resp {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Parses a management-API body into `T`, with the serde message as the explanation.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            Code::InvalidJsonBody,
            "a JSON body is required",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(Code::InvalidJsonParseBody, format!("body is not JSON: {e}"))
    })?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(Code::InvalidJsonBody, format!("invalid body: {e}")))
}

/// Decodes a query string (`application/x-www-form-urlencoded`: `+` is a space) into pairs.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Decodes one path segment (RFC 3986: `+` stays `+`); invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Everything but RFC 3986's unreserved characters.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a path segment or query value (RFC 3986 unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// A storage key as a URL path: each segment percent-encoded (as SigV4 expects), `/` kept.
pub fn percent_encode_path(key: &str) -> String {
    key.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}
