//! Delta updates end to end: per-file objects uploaded only when storage lacks them, the
//! manifest devices get, downloads that decompress to the hashes it names, Range, sizes,
//! deletes that keep shared files, cleanup, and refusals.

mod common;

use std::io::Read;

use common::*;
use serde_json::{Value, json};

/// What a device would install from a manifest entry: download, decompress `.br`.
async fn fetch(entry: &Value) -> (String, Vec<u8>) {
    let url = entry["download_url"].as_str().unwrap();
    let body = download(url).await;
    let name = entry["file_name"].as_str().unwrap();
    match name.strip_suffix(".br") {
        Some(plain) => {
            let mut out = Vec::new();
            brotli::Decompressor::new(&body[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
            (plain.to_string(), out)
        }
        None => (name.to_string(), body.to_vec()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_uploads_and_serves_only_what_changed() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    let p = Project::with_app(&s);

    p.build_files(30, &[], "v1");
    let v1 = p.json(&["upload", "--bundle", "1.0.1", "--channel", "production"]);
    assert_eq!(v1["delta"]["files"], 32);
    assert_eq!(
        v1["delta"]["uploaded"], 32,
        "a first version uploads every file"
    );
    let (_, first) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    let v1_hashes: Vec<String> = first["manifest"]
        .as_array()
        .unwrap_or_else(|| panic!("no manifest: {first}"))
        .iter()
        .map(|e| e["file_hash"].as_str().unwrap().to_string())
        .collect();

    // Two files change: only they are uploaded.
    p.build_files(30, &[3, 17], "v2");
    let v2 = p.json(&["upload", "--bundle", "1.0.2", "--channel", "production"]);
    assert_eq!(v2["delta"]["uploaded"], 2, "{v2}");
    assert!(v2["delta"]["uploaded_bytes"].as_u64().unwrap() < 2000);

    // A device on 1.0.1 gets a manifest whose other files it holds already.
    let (_, offer) = device(
        &s,
        "POST",
        "/updates",
        device_body(APP, json!({"version_name": "1.0.1"})),
    )
    .await;
    assert_eq!(offer["version"], "1.0.2");
    let manifest = offer["manifest"].as_array().unwrap();
    assert_eq!(manifest.len(), 32);
    let new: Vec<&Value> = manifest
        .iter()
        .filter(|e| !v1_hashes.contains(&e["file_hash"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    // Every listed file, downloaded and decompressed, hashes to what the manifest says, and
    // is the file of the build.
    let dist = p.dir.path().join("dist");
    for entry in manifest {
        let (name, bytes) = fetch(entry).await;
        assert_eq!(sha256_hex(&bytes), entry["file_hash"], "{name}");
        assert_eq!(bytes, std::fs::read(dist.join(&name)).unwrap(), "{name}");
    }
    assert!(
        manifest.iter().any(|e| e["file_name"] == "assets/f0.js.br")
            && manifest
                .iter()
                .any(|e| e["file_name"] == "assets/noise.bin"),
        "text is stored compressed, noise as it is"
    );
    // Downloads resume: Range answers 206 with the rest.
    let url = manifest[0]["download_url"].as_str().unwrap();
    let whole = download(url).await;
    let part = client()
        .get(url)
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap(), whole.slice(10..));
    // The sizes a device asks for before downloading.
    let wanted: Vec<Value> = new
        .iter()
        .map(|e| json!({"file_name": e["file_name"], "file_hash": e["file_hash"]}))
        .collect();
    let mut body = device_body(APP, json!({"version": "1.0.2", "manifest": wanted}));
    body["version_name"] = json!("1.0.1");
    let (st, sizes) = device(&s, "POST", "/updates/manifest_size", body).await;
    assert_eq!(st, 200, "{sizes}");
    assert_eq!(sizes["knownFiles"], 2);
    assert!(sizes["totalSize"].as_u64().unwrap() > 0);

    // Deleting 1.0.1 keeps every file 1.0.2 still lists; cleanup removes the two it alone had.
    p.json(&["bundle", "delete", "1.0.1"]);
    for entry in manifest {
        let (name, bytes) = fetch(entry).await;
        assert_eq!(
            sha256_hex(&bytes),
            entry["file_hash"],
            "{name} survives the delete"
        );
    }
    let cleaned = p.json(&["bundle", "cleanup", "--keep", "1", "--yes"]);
    assert_eq!(
        cleaned["files"],
        json!({"deleted": 2, "kept": 32}),
        "{cleaned}"
    );
    for entry in manifest {
        let (name, bytes) = fetch(entry).await;
        assert_eq!(
            sha256_hex(&bytes),
            entry["file_hash"],
            "{name} survives the cleanup"
        );
    }

    // --no-delta: the zip only, and no manifest for devices.
    p.build_files(30, &[5], "v3");
    let v3 = p.json(&[
        "upload",
        "--bundle",
        "1.0.3",
        "--channel",
        "production",
        "--no-delta",
    ]);
    assert_eq!(v3["delta"], Value::Null);
    let (_, plain) = device(&s, "POST", "/updates", device_body(APP, json!({}))).await;
    assert_eq!(
        (plain["version"].as_str(), &plain["manifest"]),
        (Some("1.0.3"), &Value::Null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_is_ready_only_with_every_file_and_bad_manifests_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let s = Server::start(data.path());
    admin(&s, "POST", "/v1/apps", Some(json!({"app_id": APP}))).await;
    let zip = payload(1, 500);
    let file = b"console.log('hello')".to_vec();
    let file_sha = sha256_hex(&file);
    let register = |manifest: Value| {
        let zip = zip.clone();
        let s = &s;
        async move {
            admin(
                s,
                "POST",
                &format!("/v1/apps/{APP}/bundles"),
                Some(
                    json!({"version": "2.0.0", "size": zip.len(), "checksum": sha256_hex(&zip),
                            "manifest": manifest}),
                ),
            )
            .await
        }
    };
    // Refused manifests register nothing.
    for bad in [
        json!([{"file_name": "../etc/passwd", "file_hash": file_sha, "size": 20, "sha256": file_sha}]),
        json!([{"file_name": "/abs.js", "file_hash": file_sha, "size": 20, "sha256": file_sha}]),
        json!([{"file_name": "a.js", "file_hash": file_sha, "size": 20, "sha256": file_sha},
               {"file_name": "a.js.br", "file_hash": file_sha, "size": 20, "sha256": file_sha}]),
        json!([{"file_name": "a.js", "file_hash": "nothex", "size": 20, "sha256": file_sha}]),
        json!([]),
    ] {
        let (st, v) = register(bad.clone()).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (400, Some("invalid_manifest")),
            "{bad}: {v}"
        );
    }
    let (_, none) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles"), None).await;
    assert_eq!(none, json!([]));

    let (st, reg) = register(json!([
        {"file_name": "a.js", "file_hash": file_sha, "size": file.len(), "sha256": file_sha}
    ]))
    .await;
    assert_eq!(st, 201, "{reg}");
    assert_eq!(reg["files"].as_array().unwrap().len(), 1);
    // The zip alone is not enough.
    assert!(
        put_upload(&reg["upload"], zip.clone())
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let finalize = format!("/v1/apps/{APP}/bundles/2.0.0/finalize");
    let (st, v) = admin(&s, "POST", &finalize, Some(json!({}))).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (409, Some("upload_missing")),
        "{v}"
    );
    // Storage refuses other bytes than the signed ones for the file.
    let ticket = &reg["files"][0]["upload"];
    assert!(refused(
        put_upload(ticket, b"console.log('evil!')".to_vec()).await
    ));
    let (st, _) = admin(&s, "POST", &finalize, Some(json!({}))).await;
    assert_eq!(st, 409);
    let (_, pending) = admin(&s, "GET", &format!("/v1/apps/{APP}/bundles/2.0.0"), None).await;
    assert_eq!(pending["status"], "pending");
    // With its file, it is ready.
    assert!(
        put_upload(ticket, file.clone())
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let (st, ready) = admin(&s, "POST", &finalize, Some(json!({}))).await;
    assert_eq!(
        (st, ready["status"].as_str()),
        (200, Some("ready")),
        "{ready}"
    );
    assert_eq!(ready["manifest"][0]["file_name"], "a.js");
}
