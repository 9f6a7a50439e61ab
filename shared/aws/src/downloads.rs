//! Download URLs for bundles: on the CloudFront distribution, or S3 GETs presigned with
//! SigV4 alone. Signing a GET needs no S3 client, so the `updates` function — the only one
//! that hands out download URLs — links this and not the S3 SDK (over 1 MiB of code).

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
use updraft_core::blobs::{BlobInfo, Blobs, UploadTicket};
use updraft_core::http_util::percent_encode;
use updraft_core::store::{StoreError, StoreResult};

use crate::config::DownloadMode;

/// SigV4 presigned URLs live at most 7 days.
const DOWNLOAD_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DAY: u64 = 24 * 3600;
/// Credentials this close to expiry are fetched again before signing: a URL dies with the
/// credentials that signed it, and devices may start the download minutes after the check.
const FRESH_FOR: Duration = Duration::from_secs(15 * 60);

/// A storage key as a URL path: each segment percent-encoded as SigV4 expects, `/` kept.
fn encoded_path(key: &str) -> String {
    key.split('/')
        .map(percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

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
        let path = encoded_path(key);
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
    cached: Mutex<Option<Credentials>>,
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
            cached: Mutex::new(None),
        }
    }

    /// Cached until close to expiry: a credential chain may call STS or SSO each time.
    async fn credentials(&self) -> StoreResult<Credentials> {
        let now = SystemTime::now();
        let fresh = |c: &Credentials| c.expiry().is_none_or(|e| e > now + FRESH_FOR);
        if let Some(c) = self
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|c| fresh(c))
        {
            return Ok(c.clone());
        }
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("no AWS credentials to sign with".into()))?;
        let got = provider.provide_credentials().await.map_err(|e| {
            StoreError::Unavailable(format!("no AWS credentials to sign with: {e}"))
        })?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(got.clone());
        Ok(got)
    }

    pub async fn url(&self, key: &str) -> StoreResult<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match &self.mode {
            DownloadMode::CloudFront { domain, signer } => {
                let url = format!("https://{domain}/{}", encoded_path(key));
                Ok(match signer {
                    // Expiry rounded to the day, as for S3: one URL per bundle per day.
                    Some(s) => s.sign(&url, now / DAY * DAY + DOWNLOAD_TTL.as_secs()),
                    None => url,
                })
            }
            DownloadMode::S3Presigned => {
                // Signed from the start of the day: the URL stays the same all day, so
                // repeated checks get identical answers and caches can keep them.
                let day_start = UNIX_EPOCH + Duration::from_secs(now / DAY * DAY);
                let credentials = self.credentials().await?;
                presign_get(
                    &self.s3.object_url(key),
                    &self.s3.region,
                    &credentials,
                    day_start,
                    DOWNLOAD_TTL,
                )
            }
        }
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
impl Blobs for Downloads {
    async fn presign_upload(&self, _: &str, _: u64, _: &str, _: u64) -> StoreResult<UploadTicket> {
        Err(not_here())
    }

    async fn stat(&self, _: &str) -> StoreResult<Option<BlobInfo>> {
        Err(not_here())
    }

    async fn delete(&self, _: &str) -> StoreResult<()> {
        Err(not_here())
    }

    async fn download_url(&self, key: &str) -> StoreResult<String> {
        self.url(key).await
    }
}

fn not_here() -> StoreError {
    StoreError::Unavailable("this function only signs download URLs".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
