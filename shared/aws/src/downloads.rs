//! Download URLs for bundles: on the CloudFront distribution, or S3 GETs presigned with
//! SigV4 alone. Signing a GET needs no S3 client, so the functions that never touch bundle
//! bytes — `updates`, which hands out download URLs, and `stats` and `channels` — link this
//! and not the S3 SDK (over 1 MiB of code).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use updraft_core::blobs::{DayUrls, DownloadUrls};
use updraft_core::http_util::percent_encode_path;
use updraft_core::store::{StoreError, StoreResult};

use crate::config::DownloadMode;

/// SigV4 presigned URLs live at most 7 days.
const DOWNLOAD_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DAY: u64 = 24 * 3600;
/// Credentials this close to expiry are fetched again before signing: a URL dies with the
/// credentials that signed it, and devices may start the download minutes after the check.
const FRESH_FOR: Duration = Duration::from_secs(15 * 60);

/// Where the bucket answers, as the S3 SDK addresses it.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Location {
    pub bucket: String,
    pub region: String,
    /// `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`), for S3-compatible servers.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
}

impl S3Location {
    /// The object's URL: virtual-hosted on AWS, path-style on a custom endpoint when asked
    /// and for bucket names with dots (which break TLS on virtual hosts).
    fn object_url(&self, key: &str) -> String {
        let path = percent_encode_path(key);
        let path_style = self.force_path_style || self.bucket.contains('.');
        match (&self.endpoint, path_style) {
            (Some(base), true) => format!("{}/{}/{path}", base.trim_end_matches('/'), self.bucket),
            (Some(base), false) => match base.split_once("://") {
                Some((scheme, host)) => format!(
                    "{scheme}://{}.{}/{path}",
                    self.bucket,
                    host.trim_end_matches('/')
                ),
                None => format!("{}/{}/{path}", base.trim_end_matches('/'), self.bucket),
            },
            (None, true) => format!("https://{}/{}/{path}", self.aws_host(), self.bucket),
            (None, false) => format!("https://{}.{}/{path}", self.bucket, self.aws_host()),
        }
    }

    fn aws_host(&self) -> String {
        let suffix = if self.region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("s3.{}.{suffix}", self.region)
    }
}

/// Signs download URLs. Also a `Blobs` on its own, for functions that only serve update
/// checks: everything else answers `unavailable` there (no route of theirs asks for it).
pub struct Downloads {
    mode: DownloadMode,
    s3: S3Location,
    credentials: Option<SharedCredentialsProvider>,
    signed: Mutex<Signed>,
}

/// What signing reuses: the credentials, and the day's URLs (`DayUrls`: a CloudFront
/// signature is an RSA private-key operation), which die with the credentials that signed
/// them.
#[derive(Default)]
struct Signed {
    credentials: Option<Credentials>,
    urls: DayUrls,
}

impl std::fmt::Debug for Downloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloads")
            .field("mode", &self.mode)
            .field("s3", &self.s3)
            .finish_non_exhaustive()
    }
}

impl Downloads {
    pub fn new(
        mode: DownloadMode,
        s3: S3Location,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Downloads {
        Downloads {
            mode,
            s3,
            credentials,
            signed: Mutex::new(Signed::default()),
        }
    }

    fn signed(&self) -> std::sync::MutexGuard<'_, Signed> {
        // Nothing that can panic runs under this lock, so a poisoned one is still whole.
        self.signed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The day's URL for `key`, signed now or earlier today with credentials still fresh.
    pub async fn url(&self, key: &str) -> StoreResult<String> {
        let now = SystemTime::now();
        let day = DayUrls::day_of(now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        let fresh = |c: &Credentials| c.expiry().is_none_or(|e| e > now + FRESH_FOR);
        let credentials = {
            let mut signed = self.signed();
            if signed.credentials.as_ref().is_some_and(|c| !fresh(c)) {
                // URLs die with the credentials that signed them.
                signed.credentials = None;
                signed.urls.clear();
            }
            if let Some(url) = signed.urls.get(day, key) {
                return Ok(url);
            }
            signed.credentials.clone()
        };
        let url = match &self.mode {
            DownloadMode::CloudFront { domain, signer } => {
                let url = format!("https://{domain}/{}", percent_encode_path(key));
                match signer {
                    // Expiry rounded to the day, as for S3: one URL per bundle per day.
                    Some(s) => s.sign(&url, day * DAY + DOWNLOAD_TTL.as_secs()),
                    None => url,
                }
            }
            DownloadMode::S3Presigned => {
                let credentials = match credentials {
                    Some(c) => c,
                    None => {
                        let got = self.fetch_credentials().await?;
                        self.signed().credentials = Some(got.clone());
                        got
                    }
                };
                presign_get(
                    &self.s3.object_url(key),
                    &self.s3.region,
                    &credentials,
                    UNIX_EPOCH + Duration::from_secs(day * DAY),
                    DOWNLOAD_TTL,
                )?
            }
        };
        self.signed().urls.put(day, key, &url);
        Ok(url)
    }

    /// From the provider: a credential chain may call STS or SSO, so only when the cached
    /// credentials are missing or about to expire.
    async fn fetch_credentials(&self) -> StoreResult<Credentials> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("no AWS credentials to sign with".into()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| StoreError::Unavailable(format!("no AWS credentials to sign with: {e}")))
    }
}

/// SigV4 query signing as S3 expects it: the path signed as sent (no double encoding, no
/// normalisation), unsigned payload, the session token inside the signature.
fn presign_get(
    url: &str,
    region: &str,
    credentials: &Credentials,
    signed_at: SystemTime,
    expires_in: Duration,
) -> StoreResult<String> {
    let failed = |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("presign: {e}"));
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let host_only = std::iter::empty();
    let request = SignableRequest::new("GET", url, host_only, SignableBody::UnsignedPayload)
        .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
    let mut req = http::Request::get(url).body(()).map_err(|e| failed(&e))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(req.uri().to_string())
}

#[async_trait]
impl DownloadUrls for Downloads {
    async fn download_url(&self, key: &str) -> StoreResult<String> {
        self.url(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn location(endpoint: Option<&str>, path_style: bool) -> S3Location {
        S3Location {
            bucket: "examplebucket".into(),
            region: "us-east-1".into(),
            endpoint: endpoint.map(str::to_string),
            force_path_style: path_style,
        }
    }

    /// The worked example of AWS's "Authenticating Requests: Using Query Parameters" page
    /// (Amazon S3 API reference): the same inputs must give its signature.
    #[test]
    fn signs_the_s3_documentation_example() {
        let creds = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let url = presign_get(
            "https://examplebucket.s3.amazonaws.com/test.txt",
            "us-east-1",
            &creds,
            UNIX_EPOCH + Duration::from_secs(1_369_353_600), // 2013-05-24T00:00:00Z
            Duration::from_secs(86400),
        )
        .unwrap();
        assert!(
            url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{url}"
        );
        assert!(
            url.contains(
                "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            ),
            "{url}"
        );
    }

    #[test]
    fn addresses_objects_as_the_sdk_does() {
        let key = "com.example.app/1.0.1+b 2.zip";
        assert_eq!(
            location(None, false).object_url(key),
            "https://examplebucket.s3.us-east-1.amazonaws.com/com.example.app/1.0.1%2Bb%202.zip"
        );
        assert_eq!(
            location(Some("http://127.0.0.1:9000/"), true).object_url("a/b.zip"),
            "http://127.0.0.1:9000/examplebucket/a/b.zip"
        );
        assert_eq!(
            location(Some("https://s3.example.net"), false).object_url("a/b.zip"),
            "https://examplebucket.s3.example.net/a/b.zip"
        );
        let mut dotted = location(None, false);
        dotted.bucket = "my.bucket".into();
        dotted.region = "cn-north-1".into();
        assert_eq!(
            dotted.object_url("a.zip"),
            "https://s3.cn-north-1.amazonaws.com.cn/my.bucket/a.zip"
        );
    }

    /// Hands out the given credentials in turn, counting the calls.
    #[derive(Debug)]
    struct Provider {
        calls: Arc<AtomicUsize>,
        credentials: Vec<Credentials>,
    }

    impl ProvideCredentials for Provider {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(self.credentials
                [n.min(self.credentials.len() - 1)]
            .clone()))
        }
    }

    fn signer(credentials: Vec<Credentials>) -> (Downloads, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = Provider {
            calls: calls.clone(),
            credentials,
        };
        let downloads = Downloads::new(
            DownloadMode::S3Presigned,
            location(None, false),
            Some(SharedCredentialsProvider::new(provider)),
        );
        (downloads, calls)
    }

    fn calls(n: &AtomicUsize) -> usize {
        n.load(Ordering::SeqCst)
    }

    fn expiring_in(id: &str, secs: u64) -> Credentials {
        Credentials::new(
            id,
            "secret",
            Some("token".into()),
            Some(SystemTime::now() + Duration::from_secs(secs)),
            "test",
        )
    }

    #[tokio::test]
    async fn a_keys_url_is_signed_once_a_day_and_credentials_fetched_once() {
        let (downloads, provider) = signer(vec![expiring_in("AKIDFIRST", 6 * 3600)]);
        let a = downloads.url("app/a.zip").await.unwrap();
        assert_eq!(downloads.url("app/a.zip").await.unwrap(), a);
        let b = downloads.url("app/b.zip").await.unwrap();
        assert_ne!(a, b);
        assert!(a.contains("X-Amz-Security-Token=token"), "{a}");
        assert_eq!(calls(&provider), 1, "one fetch for every URL of the day");
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_replaced_and_their_urls_forgotten() {
        // The first credentials expire within FRESH_FOR: whatever they signed must not be
        // handed out again, since it stops working with them.
        let (downloads, provider) = signer(vec![
            expiring_in("AKIDOLD", 60),
            expiring_in("AKIDNEW", 6 * 3600),
        ]);
        let old = downloads.url("app/a.zip").await.unwrap();
        assert!(old.contains("AKIDOLD"), "{old}");
        let new = downloads.url("app/a.zip").await.unwrap();
        assert!(new.contains("AKIDNEW"), "{new}");
        assert_eq!(downloads.url("app/a.zip").await.unwrap(), new);
        assert_eq!(calls(&provider), 2);
    }

    #[tokio::test]
    async fn without_credentials_signing_is_unavailable_not_a_panic() {
        let downloads = Downloads::new(DownloadMode::S3Presigned, location(None, false), None);
        assert!(matches!(
            downloads.url("app/a.zip").await,
            Err(StoreError::Unavailable(_))
        ));
    }
}
