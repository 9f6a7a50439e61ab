//! Every `/v1` route × every kind of caller → the exact status, and a refusal changes nothing.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use updraft_core::channel::Channel;
use updraft_core::conformance;
use updraft_core::key::{ApiKey, Mode, hash_key};
use updraft_core::memory::{MemoryBlobs, MemoryStore};
use updraft_core::store::{AppStore, KeyStore};

const APP: &str = "com.matrix.app";
const DEVICE: &str = "6aab1f2b-6b2a-4f4c-9d4b-1a2b3c4d5e6f";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    NoKey,
    Unknown,
    Revoked,
    Expired,
    Key(Mode),
    OtherApp,
}

impl Caller {
    fn secret(self) -> Option<&'static str> {
        match self {
            Caller::NoKey => None,
            Caller::Unknown => Some("upd_not_a_key"),
            Caller::Revoked => Some("upd_revoked"),
            Caller::Expired => Some("upd_expired"),
            Caller::Key(Mode::Read) => Some("upd_read"),
            Caller::Key(Mode::Upload) => Some("upd_upload"),
            Caller::Key(Mode::Write) => Some("upd_write"),
            Caller::Key(Mode::All) => Some("upd_all"),
            Caller::OtherApp => Some("upd_other_app"),
        }
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    state: updraft_core::State,
    store: Arc<MemoryStore>,
    blobs: Arc<MemoryBlobs>,
}

fn key(
    id: &str,
    secret: &str,
    mode: Mode,
    apps: Option<Vec<String>>,
    expires_at: Option<i64>,
) -> ApiKey {
    ApiKey {
        id: id.into(),
        name: id.into(),
        mode,
        apps,
        hash: hash_key(secret),
        created_at: 0,
        expires_at,
    }
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let blobs = Arc::new(MemoryBlobs::new());
    rt.block_on(async {
        let mut ch = Channel::new("production");
        ch.bundle = Some("1.0.0".into());
        conformance::seed(&*store, &conformance::app(APP), &["1.0.0", "0.9.0"], &ch).await;
        store
            .create_app(&conformance::app("com.other.app"))
            .await
            .unwrap();
        for k in [
            key("key_read", "upd_read", Mode::Read, None, None),
            key("key_upload", "upd_upload", Mode::Upload, None, None),
            key("key_write", "upd_write", Mode::Write, None, None),
            key("key_all", "upd_all", Mode::All, None, None),
            key(
                "key_other",
                "upd_other_app",
                Mode::All,
                Some(vec!["com.other.app".into()]),
                None,
            ),
            key("key_expired", "upd_expired", Mode::All, None, Some(1)),
            key("key_revoked", "upd_revoked", Mode::All, None, None),
        ] {
            store.create_key(&k).await.unwrap();
        }
        store.delete_key("key_revoked").await.unwrap();
    });
    let state = updraft_core::State::new(
        store.clone(),
        updraft_core::blobs::Storage::full(blobs.clone()),
    );
    World {
        rt,
        state,
        store,
        blobs,
    }
}

impl World {
    fn call(&self, method: &str, path: &str, caller: Caller, body: &Value) -> u16 {
        let mut req = http::Request::builder().method(method).uri(path);
        if let Some(s) = caller.secret() {
            req = req.header("authorization", format!("Bearer {s}"));
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        };
        self.rt
            .block_on(updraft_core::handle(&self.state, req.body(body).unwrap()))
            .status()
            .as_u16()
    }

    /// Everything the management API can change, as text: equal snapshots mean nothing
    /// changed.
    fn snapshot(&self) -> Vec<String> {
        vec![self.store.snapshot(), format!("{:?}", self.blobs.keys())]
    }
}

/// (method, path, body, mode needed, scoped to APP, status on success)
type Route = (&'static str, String, Value, Mode, bool, u16);

fn routes() -> Vec<Route> {
    let a = format!("/v1/apps/{APP}");
    let sum = "c".repeat(64);
    vec![
        (
            "GET",
            "/v1/whoami".into(),
            Value::Null,
            Mode::Read,
            false,
            200,
        ),
        ("GET", "/v1/keys".into(), Value::Null, Mode::All, false, 200),
        (
            "POST",
            "/v1/keys".into(),
            json!({"name": "new", "mode": "read"}),
            Mode::All,
            false,
            201,
        ),
        (
            "DELETE",
            "/v1/keys/key_read".into(),
            Value::Null,
            Mode::All,
            false,
            200,
        ),
        (
            "GET",
            "/v1/apps".into(),
            Value::Null,
            Mode::Read,
            false,
            200,
        ),
        (
            "POST",
            "/v1/apps".into(),
            json!({"app_id": "com.matrix.app2"}),
            Mode::All,
            false,
            201,
        ),
        ("GET", a.clone(), Value::Null, Mode::Read, true, 200),
        (
            "PATCH",
            a.clone(),
            json!({"name": "renamed"}),
            Mode::All,
            true,
            200,
        ),
        ("DELETE", a.clone(), Value::Null, Mode::All, true, 200),
        (
            "GET",
            format!("{a}/channels"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "POST",
            format!("{a}/channels"),
            json!({"name": "beta"}),
            Mode::Write,
            true,
            201,
        ),
        (
            "GET",
            format!("{a}/channels/production"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "PATCH",
            format!("{a}/channels/production"),
            json!({"bundle": "0.9.0"}),
            Mode::Write,
            true,
            200,
        ),
        (
            "DELETE",
            format!("{a}/channels/production"),
            Value::Null,
            Mode::Write,
            true,
            200,
        ),
        (
            "GET",
            format!("{a}/bundles"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "POST",
            format!("{a}/bundles"),
            json!({"version": "2.0.0", "size": 10, "checksum": sum}),
            Mode::Upload,
            true,
            201,
        ),
        (
            "GET",
            format!("{a}/bundles/1.0.0"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "POST",
            format!("{a}/bundles/1.0.0/finalize"),
            Value::Null,
            Mode::Upload,
            true,
            200,
        ),
        (
            "DELETE",
            format!("{a}/bundles/0.9.0"),
            Value::Null,
            Mode::Write,
            true,
            200,
        ),
        (
            "GET",
            format!("{a}/devices/{DEVICE}/channel"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "PUT",
            format!("{a}/devices/{DEVICE}/channel"),
            json!({"channel": "production"}),
            Mode::Write,
            true,
            200,
        ),
        (
            "DELETE",
            format!("{a}/devices/{DEVICE}/channel"),
            Value::Null,
            Mode::Write,
            true,
            200,
        ),
        (
            "GET",
            format!("{a}/devices/{DEVICE}/events"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "POST",
            format!("{a}/devices/{DEVICE}/debug"),
            json!({"minutes": 5}),
            Mode::Read,
            true,
            200,
        ),
        (
            "DELETE",
            format!("{a}/devices/{DEVICE}/debug"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
        (
            "GET",
            format!("{a}/stats"),
            Value::Null,
            Mode::Read,
            true,
            200,
        ),
    ]
}

#[test]
fn every_route_for_every_caller() {
    let callers = [
        Caller::NoKey,
        Caller::Unknown,
        Caller::Revoked,
        Caller::Expired,
        Caller::Key(Mode::Read),
        Caller::Key(Mode::Upload),
        Caller::Key(Mode::Write),
        Caller::Key(Mode::All),
        Caller::OtherApp,
    ];
    let mut checked = 0;
    for (method, path, body, needs, scoped, ok) in routes() {
        for caller in callers {
            let expected = match caller {
                Caller::NoKey | Caller::Unknown | Caller::Revoked | Caller::Expired => 401,
                Caller::Key(mode) if mode < needs => 403,
                Caller::OtherApp if scoped => 403,
                // A key limited to some apps cannot mint keys for every app.
                Caller::OtherApp if method == "POST" && path == "/v1/keys" => 403,
                // …nor create an app outside its list.
                Caller::OtherApp if method == "POST" && path == "/v1/apps" => 403,
                // …nor see or revoke a key for every app: to it, there is no such key.
                Caller::OtherApp if method == "DELETE" && path.starts_with("/v1/keys/") => 404,
                _ => ok,
            };
            let w = world();
            let before = w.snapshot();
            let got = w.call(method, &path, caller, &body);
            assert_eq!(got, expected, "{method} {path} as {caller:?}");
            if expected >= 400 {
                assert_eq!(
                    w.snapshot(),
                    before,
                    "{method} {path} as {caller:?} changed data while refused"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes().len() * callers.len());
}
