//! End-to-end encryption of bundles, in the formats the stock plugin decrypts
//! (`CryptoCipher` of @capgo/capacitor-updater 8.51.23):
//!
//! - an RSA-2048 key pair as PKCS#1 PEM; the app carries the public key, the uploader keeps
//!   the private one (`rsa_key`);
//! - per bundle, a fresh AES-128 key and IV; the zip, and each delta file, is one
//!   AES-128-CBC stream, PKCS#7 padded (`session`);
//! - `session_key` = base64(IV) ":" base64(RSA private-encrypt of the 16 key bytes), and
//!   the checksum = hex(RSA private-encrypt of the plaintext's 32 SHA-256 bytes), both with
//!   PKCS#1 v1.5 type-1 padding and no DigestInfo (deterministic), which the plugin undoes
//!   with the public key;
//! - `key_id` = the first 20 base64 characters of the public key's PEM body.
//!
//! The server sees none of this but the ciphertext, its SHA-256, `session_key`, the
//! encrypted checksum and `key_id`. The CLI seals (`seal`); devices open (`open`,
//! `Session::open` and `Session::decrypt_file`).

mod rsa_key;
mod seal;
mod session;

pub use rsa::{RsaPrivateKey, RsaPublicKey};
pub use rsa_key::{
    decrypt_checksum, encrypted_checksum, generate, key_id, parse_private, parse_public,
    private_encrypt, private_pem, public_decrypt, public_pem,
};
pub use seal::{Sealed, open, seal};
pub use session::Session;

/// Why a key, a session key, a checksum or a ciphertext was refused, in words for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
