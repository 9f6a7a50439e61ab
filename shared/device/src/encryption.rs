//! Decryption when the app carries a public key (the plugin's `publicKey` config): the
//! update's checksum and each manifest hash are RSA-encrypted SHA-256s, and the bytes are
//! AES-128-CBC with the bundle's session key. The formats are `updraft_crypto`'s, the one
//! implementation the CLI seals with.

use updraft_crypto::{RsaPublicKey, Session};

use crate::updater::Error;

/// The app's public key and the id its requests carry.
pub struct Key {
    public: RsaPublicKey,
    id: String,
}

/// The plugin's `isValidSessionKey`: two non-empty parts around one `:`.
pub fn is_session_key(s: &str) -> bool {
    let mut parts = s.split(':');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty()
    )
}

impl Key {
    /// A PKCS#1 PEM public key (`-----BEGIN RSA PUBLIC KEY-----`, as `updraft key create`
    /// writes it).
    pub fn parse(pem: &str) -> Result<Key, Error> {
        let public = updraft_crypto::parse_public(pem)
            .map_err(|e| Error::Config(format!("the public key: {e}")))?;
        Ok(Key {
            public,
            id: updraft_crypto::key_id(pem),
        })
    }

    /// `key_id`, as the plugin derives it from the key it carries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The SHA-256 hex an encrypted checksum or manifest hash stands for.
    pub fn checksum(&self, encrypted: &str) -> Result<String, Error> {
        updraft_crypto::decrypt_checksum(&self.public, encrypted)
            .map_err(|e| Error::Bundle(format!("cannot decrypt the checksum: {e}")))
    }

    /// The bundle's AES session.
    pub fn session(&self, session_key: &str) -> Result<Session, Error> {
        Session::open(&self.public, session_key)
            .map_err(|e| Error::Bundle(format!("cannot open the session key: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::is_session_key;

    #[test]
    fn session_keys_have_two_parts_as_the_plugin_checks() {
        assert!(is_session_key("aXY=:a2V5"));
        for bad in ["", ":", "a:", ":b", "a:b:c", "ab"] {
            assert!(!is_session_key(bad), "{bad:?}");
        }
    }
}
