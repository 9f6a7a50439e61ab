//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, checked in beside the crate
//! so reviews see API changes and clients can generate code from it.

use bytes::Bytes;
use http::{HeaderValue, Response, header};

use crate::http_util::Resp;

pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub fn document() -> Resp {
    let mut resp = Response::new(Bytes::from_static(DOCUMENT.as_bytes()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{Job, job_of};

    #[test]
    fn the_document_is_openapi_3_1_and_every_path_in_it_is_routed() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 19, "{}", paths.len());
        for (path, ops) in paths {
            let concrete = path
                .replace("{app_id}", "com.example.app")
                .replace("{channel}", "production")
                .replace("{version}", "1.0.0")
                .replace("{device_id}", "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f")
                .replace("{key_id}", "key_0123");
            assert!(!concrete.contains('{'), "unknown parameter in {path}");
            if path != "/ok" {
                assert!(
                    job_of(&concrete).is_some(),
                    "{path} is documented but not routed"
                );
            }
            for (method, op) in ops.as_object().unwrap() {
                assert!(
                    op["responses"].is_object(),
                    "{method} {path} has no responses"
                );
                let auth = op["security"].as_array().is_some_and(|s| !s.is_empty());
                let management = path.starts_with("/v1/");
                assert_eq!(auth, management, "{method} {path}: only /v1 takes a key");
            }
        }
        assert_eq!(job_of("/openapi.json"), Some(Job::Admin));
    }
}
