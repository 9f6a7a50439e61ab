//! CloudFront signed URLs (canned policy): private distributions serve a bundle only to
//! URLs this function signed, until they expire.

use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha1::Sha1;

/// A CloudFront key group's key: its id and the RSA private key (PEM, PKCS#1 or PKCS#8).
#[derive(Clone)]
pub struct CloudFrontSigner {
    key_pair_id: String,
    key: SigningKey<Sha1>,
}

impl std::fmt::Debug for CloudFrontSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudFrontSigner")
            .field("key_pair_id", &self.key_pair_id)
            .finish_non_exhaustive()
    }
}

impl PartialEq for CloudFrontSigner {
    fn eq(&self, other: &Self) -> bool {
        self.key_pair_id == other.key_pair_id
    }
}

/// CloudFront's URL-safe base64: `+` → `-`, `=` → `_`, `/` → `~`.
fn cf_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

impl CloudFrontSigner {
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, String> {
        let key = RsaPrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
            .map_err(|e| format!("the CloudFront private key is not an RSA PEM key: {e}"))?;
        Ok(CloudFrontSigner {
            key_pair_id: key_pair_id.to_string(),
            key: SigningKey::new(key),
        })
    }

    /// The canned policy CloudFront checks: this exact URL, until `expires` (epoch seconds).
    pub fn policy(url: &str, expires: u64) -> String {
        format!(
            r#"{{"Statement":[{{"Resource":"{url}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
        )
    }

    pub fn sign(&self, url: &str, expires: u64) -> String {
        let signature = self
            .key
            .sign(Self::policy(url, expires).as_bytes())
            .to_vec();
        let sep = if url.contains('?') { '&' } else { '?' };
        format!(
            "{url}{sep}Expires={expires}&Signature={}&Key-Pair-Id={}",
            cf_base64(&signature),
            self.key_pair_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    #[test]
    fn signs_the_canned_policy_verifiably() {
        let mut rng = rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let pem = private.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        let signer = CloudFrontSigner::from_pem("K2JCJMDEHXQW5F", &pem).unwrap();
        let url = "https://d111111abcdef8.cloudfront.net/com.example.app/abc.zip";
        let signed = signer.sign(url, 1_800_000_000);
        assert!(signed.starts_with(&format!("{url}?Expires=1800000000&Signature=")));
        assert!(signed.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"));
        let sig = signed
            .split("Signature=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        assert!(!sig.contains(['+', '=', '/']), "URL-safe alphabet");
        let raw: Vec<u8> = {
            use base64::Engine;
            let std: String = sig
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '=',
                    '~' => '/',
                    c => c,
                })
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(std)
                .unwrap()
        };
        let verifier = VerifyingKey::<Sha1>::new(private.to_public_key());
        let policy = CloudFrontSigner::policy(url, 1_800_000_000);
        verifier
            .verify(
                policy.as_bytes(),
                &Signature::try_from(raw.as_slice()).unwrap(),
            )
            .unwrap();
        assert!(
            verifier
                .verify(
                    CloudFrontSigner::policy(url, 1_800_000_001).as_bytes(),
                    &Signature::try_from(raw.as_slice()).unwrap()
                )
                .is_err()
        );
        assert!(CloudFrontSigner::from_pem("K", "not a key").is_err());
    }
}
