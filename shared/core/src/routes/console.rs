//! The web console (`updraft_console`): `GET /` sends a browser to it, `GET /console/…`
//! serves its files. Every answer carries the console's Content-Security-Policy: its own
//! scripts and styles only, nothing inline, no other host, no framing.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use super::Resp;
use crate::error::ApiError;

pub fn root() -> Resp {
    let mut resp = Resp::new(Bytes::new());
    *resp.status_mut() = StatusCode::FOUND;
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/console/"));
    resp
}

pub fn file(name: &str) -> Resp {
    let Some(asset) = updraft_console::asset(name) else {
        return ApiError::not_found(format!("the console has no file {name}")).into_response();
    };
    let mut resp = Resp::new(Bytes::from_static(asset.bytes));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(updraft_console::CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Small files, revalidated on every load: a new release of Updraft is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_carry_the_policy_and_unknown_names_are_a_json_404() {
        let page = file("");
        assert_eq!(page.status(), 200);
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
        assert_eq!(
            file("app.js").headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let missing = file("secrets.txt");
        assert_eq!(missing.status(), 404);
        assert!(
            std::str::from_utf8(missing.body())
                .unwrap()
                .contains("\"error\"")
        );
        assert_eq!(root().headers()[header::LOCATION], "/console/");
    }
}
