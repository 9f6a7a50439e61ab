//! Errors as the API shows them: `{"error": CODE, "message": TEXT}` plus optional flat extras.

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::code::Code;

/// An answer that is not the happy path. Device soft errors use status 200, hard errors 4xx.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    /// Extra fields, flat at the top level of the body (the plugin's convention).
    pub extra: Map<String, Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }
    pub fn bad_request(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, message)
    }
    pub fn conflict(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, Code::Forbidden, message)
    }
    /// Body 200 with an `error` field: the plugin reads it as "no update" without retrying.
    pub fn soft(code: Code, message: impl Into<String>) -> Self {
        Self::new(StatusCode::OK, code, message)
    }
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
    /// A fault of ours (storage down). Devices retry 5xx, so say when.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::ServiceUnavailable,
            message,
        );
        e.retry_after = Some(5);
        e
    }

    pub fn body(&self) -> Value {
        let mut map = Map::new();
        map.insert(
            "error".into(),
            Value::String(self.code.as_str().to_string()),
        );
        map.insert("message".into(), Value::String(self.message.clone()));
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }

    pub fn into_response(self) -> Response<Bytes> {
        let mut resp = crate::http_util::json_response(self.status, &self.body());
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError::*;
        match e {
            NotFound(what) => ApiError::not_found(what),
            Conflict { code, message } => ApiError::conflict(code, message),
            Invalid { code, message } => ApiError::bad_request(code, message),
            Unavailable(msg) => {
                tracing::error!(error = %msg, "storage unavailable");
                ApiError::unavailable("storage is unavailable, retry shortly")
            }
        }
    }
}
