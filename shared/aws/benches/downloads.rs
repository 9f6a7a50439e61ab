//! The cost of a download URL on an update check that offers a bundle: signed for the first
//! time (a new key each iteration) against the same key again (the day's cached URL), for
//! S3 presigning (SigV4) and signed CloudFront URLs (RSA-2048).
//!   cargo bench -p updraft-aws --bench downloads

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::{Criterion, criterion_group, criterion_main};
use updraft_aws::{CloudFrontSigner, DownloadMode, Downloads, S3Location};

fn downloads(mode: DownloadMode) -> Downloads {
    let credentials = Credentials::new("AKIDBENCH", "secret", Some("token".into()), None, "bench");
    Downloads::new(
        mode,
        S3Location {
            bucket: "updraft-bundles".into(),
            region: "eu-west-1".into(),
            endpoint: None,
            force_path_style: false,
        },
        Some(SharedCredentialsProvider::new(credentials)),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let pem = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_pem(&key, Default::default()).unwrap();
    let cloudfront = DownloadMode::CloudFront {
        domain: "d111111abcdef8.cloudfront.net".into(),
        signer: Some(Box::new(
            CloudFrontSigner::from_pem("K2JCJMDEHXQW5F", &pem).unwrap(),
        )),
    };
    for (name, mode) in [
        ("s3", DownloadMode::S3Presigned),
        ("cloudfront", cloudfront),
    ] {
        let d = downloads(mode);
        let mut i = 0u64;
        c.bench_function(&format!("{name}: new key"), |b| {
            b.iter(|| {
                i += 1;
                rt.block_on(d.url(&format!("com.bench.app/{i:016x}.zip")))
                    .unwrap()
            })
        });
        c.bench_function(&format!("{name}: same key"), |b| {
            b.iter(|| {
                rt.block_on(d.url("com.bench.app/0123456789abcdef.zip"))
                    .unwrap()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
