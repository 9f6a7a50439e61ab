//! The conformance suite on a real SQLite file, plus what only this adapter does.

use std::sync::Arc;

use updraft_core::blobs::{Blobs, DownloadUrls};
use updraft_core::store::AppStore;
use updraft_embedded::{LocalBlobs, SqliteStore};

/// A fresh SQLite file per case, in a folder removed when the case ends.
async fn fresh() -> (Arc<dyn updraft_core::store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("updraft.db")).unwrap();
    (Arc::new(store), dir)
}

/// The conformance suite, one test per case.
mod conformance {
    use super::fresh;
    updraft_core::conformance_suite!(fresh);
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("updraft.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_app(&updraft_core::app::App {
                app_id: "com.keep.me".into(),
                name: "k".into(),
                expose_metadata: false,
                created_at: 1,
                webhook: None,
            })
            .await
            .unwrap();
        store.close();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert!(store.get_app("com.keep.me").await.unwrap().is_some());
    let ok: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn signed_urls() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalBlobs::open(dir.path(), "http://127.0.0.1:1").unwrap();
    let sha = "a".repeat(64);
    let ticket = blobs
        .presign_upload("com.x.y/abc.zip", 10, &sha, 900)
        .await
        .unwrap();
    let query = ticket.url.split_once('?').unwrap().1;
    assert_eq!(
        blobs.verify_upload("com.x.y/abc.zip", Some(query)).unwrap(),
        (10, sha.clone())
    );
    // Any change to what was signed is refused.
    assert_eq!(
        blobs
            .verify_upload("com.x.y/abd.zip", Some(query))
            .unwrap_err()
            .status,
        403
    );
    let forged = query.replace("size=10", "size=11");
    assert_eq!(
        blobs
            .verify_upload("com.x.y/abc.zip", Some(&forged))
            .unwrap_err()
            .status,
        403
    );
    // A key that could escape the directory is never accepted.
    assert!(blobs.path_of("../etc/passwd").is_none());
    assert!(blobs.path_of("a/../../b").is_none());

    let url = blobs.download_url("com.x.y/abc.zip").await.unwrap();
    let q = url.split_once('?').unwrap().1;
    assert!(blobs.verify_download("com.x.y/abc.zip", Some(q)).is_ok());
    assert_eq!(
        blobs
            .verify_download("com.x.y/other.zip", Some(q))
            .unwrap_err()
            .status,
        403
    );
    // Secrets persist: a reopened store still accepts yesterday's URLs.
    let again = LocalBlobs::open(dir.path(), "http://127.0.0.1:1").unwrap();
    assert!(again.verify_download("com.x.y/abc.zip", Some(q)).is_ok());

    // Only the exact bytes are kept.
    let body = b"0123456789";
    let good_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    let mut sink = blobs
        .begin_upload("com.x.y/abc.zip", 10, &sha)
        .await
        .unwrap();
    sink.write(body).await.unwrap();
    assert_eq!(sink.finish().await.unwrap_err().code, "checksum_mismatch");
    assert!(blobs.stat("com.x.y/abc.zip").await.unwrap().is_none());
    let mut sink = blobs
        .begin_upload("com.x.y/abc.zip", 10, &good_sha)
        .await
        .unwrap();
    sink.write(&body[..5]).await.unwrap();
    assert_eq!(sink.finish().await.unwrap_err().code, "size_mismatch");
    let mut sink = blobs
        .begin_upload("com.x.y/abc.zip", 10, &good_sha)
        .await
        .unwrap();
    sink.write(body).await.unwrap();
    sink.finish().await.unwrap();
    let info = blobs.stat("com.x.y/abc.zip").await.unwrap().unwrap();
    assert_eq!((info.size, info.sha256), (10, good_sha));
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs/.tmp"))
            .unwrap()
            .count(),
        0,
        "no temp files left"
    );
}

/// The blob routes in process: the requests the CLI and a device send, without a server.
struct InProcess(LocalBlobs);

#[async_trait::async_trait]
impl updraft_core::blob_conformance::BlobClient for InProcess {
    async fn put(&self, ticket: &updraft_core::blobs::UploadTicket, body: Vec<u8>) -> bool {
        let uri: http::Uri = ticket.url.parse().unwrap();
        let mut req = http::Request::put(uri.path_and_query().unwrap().as_str())
            .header("content-length", body.len());
        for (k, v) in ticket
            .headers
            .iter()
            .filter(|(k, _)| *k != "content-length")
        {
            req = req.header(k, v);
        }
        let body = http_body_util::Full::new(bytes::Bytes::from(body));
        let resp = updraft_embedded::blob_routes::handle(&self.0, req.body(body).unwrap()).await;
        resp.status().is_success()
    }

    async fn get(&self, url: &str, range: Option<&str>) -> (u16, Vec<u8>) {
        use http_body_util::BodyExt;
        let uri: http::Uri = url.parse().unwrap();
        let mut req = http::Request::get(uri.path_and_query().unwrap().as_str());
        if let Some(r) = range {
            req = req.header("range", r);
        }
        let body = http_body_util::Empty::<bytes::Bytes>::new();
        let resp = updraft_embedded::blob_routes::handle(&self.0, req.body(body).unwrap()).await;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }
}

/// A fresh blob directory per case.
async fn fresh_blobs() -> (updraft_core::blob_conformance::BlobWorld, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalBlobs::open(dir.path(), "http://127.0.0.1:1").unwrap();
    let world = updraft_core::blob_conformance::BlobWorld {
        blobs: Arc::new(blobs.clone()),
        urls: Arc::new(blobs.clone()),
        client: Box::new(InProcess(blobs)),
    };
    (world, dir)
}

/// The bundle-storage conformance suite, one test per case.
mod blob_conformance {
    use super::fresh_blobs;
    updraft_core::blob_conformance_suite!(fresh_blobs);
}

/// A database made before overrides recorded who chose them opens, and its overrides count
/// as an operator's (as they were treated then).
#[tokio::test]
async fn an_older_database_gains_the_override_source_column() {
    use updraft_core::store::{AssignedBy, DeviceStore, Override};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("updraft.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_app(&updraft_core::conformance::app("com.old.app"))
            .await
            .unwrap();
        store.close();
    }
    // Back to the old shape: no `by_device` column.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE overrides;
         CREATE TABLE overrides (app_id TEXT NOT NULL, device_id TEXT NOT NULL,
           channel TEXT NOT NULL, PRIMARY KEY (app_id, device_id));
         INSERT INTO overrides VALUES ('com.old.app', 'dev-1', 'beta');",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get_override("com.old.app", "dev-1").await.unwrap(),
        Some(Override {
            channel: "beta".into(),
            by: AssignedBy::Operator
        })
    );
    store
        .set_override("com.old.app", "dev-1", "beta", AssignedBy::Device)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_override("com.old.app", "dev-1")
            .await
            .unwrap()
            .map(|o| o.by),
        Some(AssignedBy::Device)
    );
    store.close();
}
