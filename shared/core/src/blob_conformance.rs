//! The conformance suite for bundle storage (`Blobs` + `DownloadUrls`), run by every adapter
//! that stores bytes: the embedded blob directory and S3. Each adapter brings a `BlobClient`
//! that speaks its storage's HTTP as the CLI (PUT to an upload ticket) and a device (GET of a
//! download URL, with Range) do.

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::blobs::{Blobs, DownloadUrls, UploadTicket};

#[async_trait]
pub trait BlobClient: Send + Sync {
    /// PUTs `body` to a ticket, with the headers it names; whether storage accepted it (a
    /// refusal may also be a connection storage closed early).
    async fn put(&self, ticket: &UploadTicket, body: Vec<u8>) -> bool;
    /// GETs a download URL, with a `Range` header when given: status and body.
    async fn get(&self, url: &str, range: Option<&str>) -> (u16, Vec<u8>);
}

/// One adapter's storage and the client that reaches it.
pub struct BlobWorld {
    pub blobs: Arc<dyn Blobs>,
    pub urls: Arc<dyn DownloadUrls>,
    pub client: Box<dyn BlobClient>,
}

/// Instantiates the suite: one test per case, each on fresh storage from `$fresh` (an
/// `async fn() -> (BlobWorld, G)`, `G` kept alive for the case).
#[macro_export]
macro_rules! blob_conformance_suite {
    ($fresh:path) => {
        $crate::blob_conformance_suite!(@cases $fresh;
            uploads_accept_only_the_signed_bytes, downloads_serve_the_bytes_with_ranges,
            deletes_remove_the_bytes, staged_bytes_are_served_only_once_promoted,
            file_objects_are_listed_by_prefix);
    };
    (@cases $fresh:path; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (world, _guard) = $fresh().await;
                $crate::blob_conformance::$case(world).await;
            }
        )*
    };
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

const KEY: &str = "com.conf.app/0123456789abcdef.zip";

pub async fn uploads_accept_only_the_signed_bytes(w: BlobWorld) {
    let body = bytes(1, 70_000);
    let ticket = w
        .blobs
        .presign_upload(KEY, body.len() as u64, &sha(&body), 900)
        .await
        .unwrap();
    assert_eq!(ticket.method, "PUT");
    assert!(ticket.expires_at > crate::device::now_ms());
    let mut other = body.clone();
    other[100] ^= 1;
    assert!(
        !w.client.put(&ticket, other).await,
        "same size, other bytes"
    );
    assert!(
        !w.client.put(&ticket, body[..1000].to_vec()).await,
        "fewer bytes"
    );
    // S3 stores nothing; a stand-in may keep refused bytes. Either way storage never holds
    // the signed bytes, so finalize (which compares size and SHA-256) refuses them.
    let kept = w.blobs.stat(KEY).await.unwrap();
    assert!(
        kept.as_ref().is_none_or(|k| k.sha256 != sha(&body)),
        "{kept:?}"
    );
    assert!(
        w.client.put(&ticket, body.clone()).await,
        "the signed bytes"
    );
    let info = w.blobs.stat(KEY).await.unwrap().expect("stored");
    assert_eq!((info.size, info.sha256), (body.len() as u64, sha(&body)));
    // A ticket signs one key: it cannot store the same bytes elsewhere.
    let mut moved = ticket.clone();
    moved.url = moved
        .url
        .replacen("0123456789abcdef", "fedcba9876543210", 1);
    assert!(!w.client.put(&moved, body.clone()).await, "another key");
    let other = w
        .blobs
        .stat("com.conf.app/fedcba9876543210.zip")
        .await
        .unwrap();
    assert!(
        other.as_ref().is_none_or(|k| k.sha256 != sha(&body)),
        "{other:?}"
    );
}

async fn stored(w: &BlobWorld, body: &[u8]) {
    let ticket = w
        .blobs
        .presign_upload(KEY, body.len() as u64, &sha(body), 900)
        .await
        .unwrap();
    assert!(w.client.put(&ticket, body.to_vec()).await);
}

pub async fn downloads_serve_the_bytes_with_ranges(w: BlobWorld) {
    let body = bytes(2, 50_000);
    stored(&w, &body).await;
    let url = w.urls.download_url(KEY).await.unwrap();
    assert_eq!(
        w.urls.download_url(KEY).await.unwrap(),
        url,
        "the same URL all day: devices and caches reuse it"
    );
    let (status, got) = w.client.get(&url, None).await;
    assert_eq!((status, got.len()), (200, body.len()));
    assert_eq!(sha(&got), sha(&body));
    // The plugin resumes a cut download with `bytes=N-`.
    let (status, got) = w.client.get(&url, Some("bytes=40000-")).await;
    assert_eq!(status, 206);
    assert_eq!(got, body[40_000..]);
    let (status, got) = w.client.get(&url, Some("bytes=10-19")).await;
    assert_eq!((status, got.as_slice()), (206, &body[10..20]));
    let (status, _) = w.client.get(&url, Some("bytes=50000-")).await;
    assert_eq!(status, 416, "a range past the end");
    // A URL for one key does not open another.
    let (status, _) = w
        .client
        .get(
            &url.replacen("0123456789abcdef", "fedcba9876543210", 1),
            None,
        )
        .await;
    assert!((400..500).contains(&status), "{status}");
}

pub async fn deletes_remove_the_bytes(w: BlobWorld) {
    let body = bytes(3, 4096);
    stored(&w, &body).await;
    let url = w.urls.download_url(KEY).await.unwrap();
    w.blobs.delete(KEY).await.unwrap();
    assert_eq!(w.blobs.stat(KEY).await.unwrap(), None);
    let (status, _) = w.client.get(&url, None).await;
    assert!(
        (400..500).contains(&status),
        "a deleted bundle is gone: {status}"
    );
    w.blobs.delete(KEY).await.unwrap();
    assert_eq!(w.blobs.stat("com.conf.app/none.zip").await.unwrap(), None);
}

pub async fn staged_bytes_are_served_only_once_promoted(w: BlobWorld) {
    use crate::blobs::{delete_bundle_bytes, staging_key};
    let body = bytes(4, 20_000);
    let staged = staging_key(KEY);
    let ticket = w
        .blobs
        .presign_upload(&staged, body.len() as u64, &sha(&body), 900)
        .await
        .unwrap();
    assert!(w.client.put(&ticket, body.clone()).await);
    assert_eq!(
        w.blobs.stat(KEY).await.unwrap(),
        None,
        "not where devices read"
    );
    let url = w.urls.download_url(KEY).await.unwrap();
    let (status, _) = w.client.get(&url, None).await;
    assert!(
        (400..500).contains(&status),
        "staged bytes served: {status}"
    );

    w.blobs.promote(&staged, KEY).await.unwrap();
    assert_eq!(w.blobs.stat(&staged).await.unwrap(), None);
    let info = w.blobs.stat(KEY).await.unwrap().expect("promoted");
    assert_eq!((info.size, info.sha256), (body.len() as u64, sha(&body)));
    let (status, got) = w.client.get(&url, None).await;
    assert_eq!((status, sha(&got)), (200, sha(&body)));

    // A replayed upload URL refills only the staging key; once the bundle's bytes are
    // deleted, its download URL stays dead.
    delete_bundle_bytes(w.blobs.as_ref(), KEY).await.unwrap();
    assert!(w.client.put(&ticket, body.clone()).await);
    assert_eq!(w.blobs.stat(KEY).await.unwrap(), None);
    let (status, _) = w.client.get(&url, None).await;
    assert!((400..500).contains(&status), "{status}");
    delete_bundle_bytes(w.blobs.as_ref(), KEY).await.unwrap();
    assert_eq!(w.blobs.stat(&staged).await.unwrap(), None);
}

/// File objects (delta updates) live under `{app}/files/`, nested one level below the app:
/// uploads there work, and a listing finds exactly the keys under a prefix.
pub async fn file_objects_are_listed_by_prefix(w: BlobWorld) {
    let mut keys = Vec::new();
    for seed in 0..3u8 {
        let body = bytes(seed, 100 + usize::from(seed));
        let key = crate::bundle::file_key("com.conf.app", &sha(&body));
        let ticket = w
            .blobs
            .presign_upload(&key, body.len() as u64, &sha(&body), 600)
            .await
            .unwrap();
        assert!(w.client.put(&ticket, body.clone()).await, "{key}");
        keys.push(key);
    }
    let other = crate::bundle::file_key("com.other.app", &sha(b"x"));
    let ticket = w
        .blobs
        .presign_upload(&other, 1, &sha(b"x"), 600)
        .await
        .unwrap();
    assert!(w.client.put(&ticket, b"x".to_vec()).await);
    let mut listed = w.blobs.list("com.conf.app/files/").await.unwrap();
    listed.sort();
    keys.sort();
    assert_eq!(listed, keys);
    assert_eq!(
        w.blobs.list("com.none.app/files/").await.unwrap(),
        Vec::<String>::new()
    );
}
