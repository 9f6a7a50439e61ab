//! Settings from the environment, and SDK clients built once per process.

use std::env;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// How devices download bundles.
#[derive(Debug, Clone, PartialEq)]
pub enum DownloadMode {
    /// GET URLs presigned by the function (7 days); for small setups without a CDN.
    S3Presigned,
    /// URLs on the CloudFront distribution's domain (Origin Access Control reads S3),
    /// signed with a canned policy when the distribution requires signed URLs.
    CloudFront {
        domain: String,
        signer: Option<Box<crate::CloudFrontSigner>>,
    },
}

#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub table: String,
    pub bucket: String,
    pub download: DownloadMode,
    /// Path-style S3 addressing, for S3-compatible local servers.
    pub force_path_style: bool,
    /// How long one DynamoDB call may take, retries included. A hung table must turn into
    /// a prompt 503 for devices, not a request that runs until the Lambda timeout.
    pub dynamodb_timeout: std::time::Duration,
    /// Which certificate authorities the SDK's HTTPS client trusts.
    pub tls_roots: TlsRoots,
    /// About how many device events each app keeps (see `event_quota`).
    pub events_per_app: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TlsRoots {
    /// The system's bundle (any endpoint: LocalStack, S3-compatible stores, proxies).
    System,
    /// Only Amazon Trust Services' roots, which sign every AWS endpoint. The system bundle
    /// is ≈ 140 certificates decoded from PEM before the first request: a fifth of a Lambda
    /// function's start-up. These five are decoded in microseconds.
    Amazon,
}

const AMAZON_ROOTS: &[u8] = include_bytes!("amazon-roots.pem");

impl AwsSettings {
    /// `UPDRAFT_TABLE`, `UPDRAFT_BUCKET`, `UPDRAFT_DOWNLOAD_MODE` (`s3-presigned`|`cloudfront`),
    /// `UPDRAFT_CDN_DOMAIN`, `UPDRAFT_CDN_DISTRIBUTION_ID` (deleted bundles are invalidated
    /// there; by default, in CloudFront mode, the distribution that reads the bucket),
    /// `UPDRAFT_CF_KEY_PAIR_ID` + `UPDRAFT_CF_PRIVATE_KEY` (PEM) for signed
    /// CloudFront URLs, `UPDRAFT_S3_FORCE_PATH_STYLE`, `UPDRAFT_DYNAMODB_TIMEOUT_MS` (default
    /// 5000), `UPDRAFT_TLS_ROOTS` (`system`, the default, or `amazon`), `UPDRAFT_EVENTS_PER_APP`
    /// (default 1,000,000). Region, credentials
    /// and endpoints (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`) are the SDK's own
    /// variables, read by `connect` or `connect_lambda`.
    pub fn from_env() -> Result<AwsSettings, String> {
        let download = match env::var("UPDRAFT_DOWNLOAD_MODE")
            .unwrap_or_default()
            .as_str()
        {
            "" | "s3-presigned" => DownloadMode::S3Presigned,
            "cloudfront" => DownloadMode::CloudFront {
                domain: need("UPDRAFT_CDN_DOMAIN")?,
                signer: match var("UPDRAFT_CF_KEY_PAIR_ID") {
                    None => None,
                    Some(id) => Some(Box::new(crate::CloudFrontSigner::from_pem(
                        &id,
                        &need("UPDRAFT_CF_PRIVATE_KEY")?,
                    )?)),
                },
            },
            other => {
                return Err(format!(
                    "UPDRAFT_DOWNLOAD_MODE `{other}` is not s3-presigned or cloudfront"
                ));
            }
        };
        let dynamodb_timeout = match env::var("UPDRAFT_DYNAMODB_TIMEOUT_MS") {
            Err(_) => std::time::Duration::from_secs(5),
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => std::time::Duration::from_millis(ms),
                _ => {
                    return Err(format!(
                        "UPDRAFT_DYNAMODB_TIMEOUT_MS `{v}` is not a positive number of milliseconds"
                    ));
                }
            },
        };
        let tls_roots = match env::var("UPDRAFT_TLS_ROOTS").unwrap_or_default().as_str() {
            "" | "system" => TlsRoots::System,
            "amazon" => TlsRoots::Amazon,
            other => {
                return Err(format!(
                    "UPDRAFT_TLS_ROOTS `{other}` is not system or amazon"
                ));
            }
        };
        let events_per_app = match var("UPDRAFT_EVENTS_PER_APP") {
            None => updraft_core::device::EVENTS_PER_APP,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "UPDRAFT_EVENTS_PER_APP `{v}` is not a positive number of events"
                    ));
                }
            },
        };
        Ok(AwsSettings {
            events_per_app,
            dynamodb_timeout,
            tls_roots,
            table: need("UPDRAFT_TABLE")?,
            bucket: need("UPDRAFT_BUCKET")?,
            download,
            force_path_style: matches!(
                env::var("UPDRAFT_S3_FORCE_PATH_STYLE").as_deref(),
                Ok("1" | "true")
            ),
        })
    }

    /// Both adapters, on aws-config's full provider chain (environment, profiles, SSO,
    /// web identity, IMDS): for `updraft serve --store aws` and tests.
    pub async fn connect(&self) -> (crate::DynamoStore, crate::S3Blobs) {
        let connection = self.connection(sdk_config(self.tls_roots).await);
        (connection.store(), connection.s3_blobs())
    }

    /// The SDK configuration a Lambda function needs, from the variables the Lambda runtime
    /// sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`)
    /// and `AWS_ENDPOINT_URL[_DYNAMODB|_S3]`. Not aws-config's provider chain: its profile,
    /// SSO, STS and IMDS providers would be ≈ 0.5 MiB of every bootstrap, and reading a
    /// profile at start-up, for credentials that Lambda always puts in the environment.
    pub fn connect_lambda(&self) -> Result<Connection, String> {
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .ok_or("AWS_REGION is not set")?;
        let credentials = Credentials::new(
            need("AWS_ACCESS_KEY_ID")?,
            need("AWS_SECRET_ACCESS_KEY")?,
            var("AWS_SESSION_TOKEN"),
            None,
            "lambda-environment",
        );
        let mut sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(https_client(self.tls_roots))
            .sleep_impl(TokioSleep::new())
            .time_source(SystemTimeSource::new())
            .retry_config(RetryConfig::standard());
        if let Some(url) = var("AWS_ENDPOINT_URL") {
            sdk = sdk.endpoint_url(url);
        }
        Ok(self.connection(sdk.build()))
    }

    fn connection(&self, sdk: SdkConfig) -> Connection {
        Connection {
            sdk,
            settings: self.clone(),
        }
    }
}

/// One SDK configuration, and the adapters built on it: each function builds only the
/// ones its routes use, so the others' code stays out of its bootstrap.
pub struct Connection {
    sdk: SdkConfig,
    settings: AwsSettings,
}

/// A variable's value; set but empty counts as unset.
fn var(k: &str) -> Option<String> {
    env::var(k).ok().filter(|v| !v.is_empty())
}

fn need(k: &str) -> Result<String, String> {
    var(k).ok_or_else(|| format!("{k} is not set"))
}

impl Connection {
    pub fn store(&self) -> crate::DynamoStore {
        let requests = crate::RequestCounter::default();
        let timeout = self.settings.dynamodb_timeout;
        // Each attempt gets part of the budget, so a retry still fits in it.
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(timeout)
            .operation_attempt_timeout(timeout / 2)
            .build();
        let mut conf = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .interceptor(requests.clone())
            .timeout_config(timeouts);
        // A service's own endpoint variable: aws-config applies these itself, the Lambda
        // configuration does not go through it, so both paths apply them here.
        if let Some(url) = var("AWS_ENDPOINT_URL_DYNAMODB") {
            conf = conf.endpoint_url(url);
        }
        let dynamo = aws_sdk_dynamodb::Client::from_conf(conf.build());
        crate::DynamoStore::new(dynamo, &self.settings.table)
            .counting(requests)
            .with_event_quota(self.settings.events_per_app)
    }

    /// Uploads, checks and deletes bundles, and signs their download URLs.
    pub fn s3_blobs(&self) -> crate::S3Blobs {
        let mut conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.settings.force_path_style);
        if let Some(url) = var("AWS_ENDPOINT_URL_S3") {
            conf = conf.endpoint_url(url);
        }
        let s3 = aws_sdk_s3::Client::from_conf(conf.build());
        let blobs = crate::S3Blobs::new(s3, &self.settings.bucket, self.downloads());
        let distribution = var("UPDRAFT_CDN_DISTRIBUTION_ID");
        let through_cdn = matches!(self.settings.download, DownloadMode::CloudFront { .. });
        if distribution.is_none() && !through_cdn {
            return blobs;
        }
        let mut conf = aws_sdk_cloudfront::config::Builder::from(&self.sdk);
        if let Some(url) = var("AWS_ENDPOINT_URL_CLOUDFRONT") {
            conf = conf.endpoint_url(url);
        }
        let client = aws_sdk_cloudfront::Client::from_conf(conf.build());
        blobs.with_edge_cache(match distribution {
            Some(id) => crate::EdgeCache::new(client, &id),
            None => crate::EdgeCache::in_front_of(client, &self.settings.bucket),
        })
    }

    /// Signs download URLs only, without an S3 client: the `updates` function.
    pub fn downloads(&self) -> crate::Downloads {
        let s3 = crate::S3Location {
            bucket: self.settings.bucket.clone(),
            region: self
                .sdk
                .region()
                .map_or_else(|| "us-east-1".to_string(), |r| r.to_string()),
            endpoint: var("AWS_ENDPOINT_URL_S3")
                .or_else(|| self.sdk.endpoint_url().map(str::to_string)),
            force_path_style: self.settings.force_path_style,
        };
        crate::Downloads::new(
            self.settings.download.clone(),
            s3,
            self.sdk.credentials_provider(),
        )
    }
}

/// rustls with ring: the SDK's default TLS stack is rustls on aws-lc, which weighs 1.3 MiB
/// of code in each bootstrap for the same TLS 1.2/1.3 suites.
/// aws-config's full provider chain with this crate's HTTPS client (rustls on ring).
pub async fn sdk_config(roots: TlsRoots) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(roots))
        .load()
        .await
}

fn https_client(roots: TlsRoots) -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    match roots {
        TlsRoots::System => builder.build_https(),
        TlsRoots::Amazon => builder
            .tls_context(
                tls::TlsContext::builder()
                    .with_trust_store(tls::TrustStore::empty().with_pem_certificate(AMAZON_ROOTS))
                    .build()
                    .expect("a trust store is all it takes"),
            )
            .build_https(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amazon_roots_are_the_five_ats_certificates() {
        // Decoded as the SDK decodes them (it panics on a bad bundle).
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let certs = CertificateDer::pem_slice_iter(AMAZON_ROOTS)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(certs.len(), 5);
        let _ = https_client(TlsRoots::Amazon);
    }
}
