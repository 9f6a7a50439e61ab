//! CloudFront's cached copies of bundles: when a bundle's bytes are deleted, its path is
//! invalidated, so the edge stops serving it even to a URL signed before the delete.

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::DisplayErrorContext;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use updraft_core::key::random_hex;
use updraft_core::store::{StoreError, StoreResult};

#[derive(Clone, Debug)]
pub struct EdgeCache {
    client: Client,
    /// Known, or found on first use.
    distribution_id: std::sync::Arc<tokio::sync::OnceCell<String>>,
    /// The bucket whose distribution to find.
    bucket: String,
}

impl EdgeCache {
    /// A known distribution.
    pub fn new(client: Client, distribution_id: &str) -> Self {
        EdgeCache {
            client,
            distribution_id: std::sync::Arc::new(tokio::sync::OnceCell::new_with(Some(
                distribution_id.to_string(),
            ))),
            bucket: String::new(),
        }
    }

    /// The distribution that has `bucket` as an origin, found on first use. (The template
    /// cannot name it to the functions: the distribution depends on the API, which depends
    /// on them.)
    pub fn in_front_of(client: Client, bucket: &str) -> Self {
        EdgeCache {
            client,
            distribution_id: std::sync::Arc::new(tokio::sync::OnceCell::new()),
            bucket: bucket.to_string(),
        }
    }

    async fn distribution(&self) -> Result<&str, String> {
        let id = self
            .distribution_id
            .get_or_try_init(|| async {
                let mut marker = None;
                loop {
                    let out = self
                        .client
                        .list_distributions()
                        .set_marker(marker)
                        .send()
                        .await
                        .map_err(|e| DisplayErrorContext(e).to_string())?;
                    let Some(list) = out.distribution_list() else {
                        break;
                    };
                    for d in list.items() {
                        let domains = d
                            .origins()
                            .map(|o| o.items().iter().map(|o| o.domain_name()).collect())
                            .unwrap_or_default();
                        if serves_bucket(domains, &self.bucket) {
                            return Ok(d.id().to_string());
                        }
                    }
                    match list.next_marker() {
                        Some(m) if list.is_truncated() => marker = Some(m.to_string()),
                        _ => break,
                    }
                }
                Err(format!(
                    "no CloudFront distribution has the bucket {} as an origin",
                    self.bucket
                ))
            })
            .await?;
        Ok(id)
    }

    /// The path a storage key is downloaded from (`Downloads` puts keys at the root, encoded
    /// the same way).
    pub fn path_of(key: &str) -> String {
        format!("/{}", updraft_core::http_util::percent_encode_path(key))
    }

    /// Drops the edge's copies of one key.
    pub async fn forget(&self, key: &str) -> StoreResult<()> {
        let fail = |e: String| {
            StoreError::Unavailable(format!(
                "the bytes are deleted, but CloudFront could not be told to drop its cached \
                 copy of {} ({e}); invalidate that path on the distribution by hand",
                Self::path_of(key),
            ))
        };
        let distribution = self.distribution().await.map_err(fail)?;
        let paths = Paths::builder()
            .quantity(1)
            .items(Self::path_of(key))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(random_hex(16))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        self.client
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| fail(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Whether a distribution with these origin domains reads `bucket` (its global or regional
/// S3 domain).
fn serves_bucket(origin_domains: Vec<&str>, bucket: &str) -> bool {
    let prefix = format!("{bucket}.s3.");
    origin_domains.iter().any(|d| d.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::serves_bucket;

    #[test]
    fn the_distribution_is_the_one_reading_the_bucket() {
        let ours = vec![
            "abc.execute-api.eu-west-1.amazonaws.com",
            "bundles-1.s3.eu-west-1.amazonaws.com",
        ];
        assert!(serves_bucket(ours, "bundles-1"));
        assert!(serves_bucket(
            vec!["bundles-1.s3.amazonaws.com"],
            "bundles-1"
        ));
        assert!(!serves_bucket(
            vec!["bundles-10.s3.eu-west-1.amazonaws.com"],
            "bundles-1"
        ));
        assert!(!serves_bucket(vec!["other.s3.amazonaws.com"], "bundles-1"));
        assert!(!serves_bucket(vec![], "bundles-1"));
    }
}
