//! A whole bundle zip, sealed by the uploader and opened as a device opens it.

use std::path::Path;

use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::rsa_key::{decrypt_checksum, encrypted_checksum, key_id, public_pem};
use crate::session::Session;
use crate::{Error, Result};

/// What an encrypted upload declares.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub session_key: String,
    /// hex of the private-encrypted SHA-256 of the plaintext (512 characters).
    pub checksum: String,
    pub key_id: String,
    /// SHA-256 hex and size of the ciphertext, which storage checks.
    pub sha256: String,
    pub size: u64,
}

/// Encrypts the zip at `plain` into `out` with the bundle's session.
pub fn seal(key: &RsaPrivateKey, session: &Session, plain: &Path, out: &Path) -> Result<Sealed> {
    let mut input = std::fs::File::open(plain)
        .map_err(|e| Error::new(format!("cannot read {}: {e}", plain.display())))?;
    let mut output = std::io::BufWriter::new(
        std::fs::File::create(out)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", out.display())))?,
    );
    let e = session.encrypt_stream(&mut input, &mut output)?;
    Ok(Sealed {
        session_key: session.session_key(key)?,
        checksum: encrypted_checksum(key, &e.plain_sha256)?,
        key_id: key_id(&public_pem(&RsaPublicKey::from(key))?),
        sha256: hex::encode(e.cipher_sha256),
        size: e.size,
    })
}

/// Decrypts as a device does: the session key and checksum with the public key, the bytes
/// with the session key; fails unless the plaintext matches the checksum.
pub fn open(
    public: &RsaPublicKey,
    session_key: &str,
    checksum: &str,
    cipher: &[u8],
) -> Result<Vec<u8>> {
    let plain = Session::open(public, session_key)?.decrypt(cipher)?;
    if decrypt_checksum(public, checksum)? != hex::encode(Sha256::digest(&plain)) {
        return Err(Error::new("the decrypted bytes do not match the checksum"));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    #[test]
    fn a_sealed_zip_opens_with_the_public_key_only_if_untouched() {
        let key = generate().unwrap();
        let public = RsaPublicKey::from(&key);
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 15, 16, 17, 65_536, 65_541, 200_001] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let (p, c) = (dir.path().join("p"), dir.path().join("c"));
            std::fs::write(&p, &plain).unwrap();
            let sealed = seal(&key, &Session::new().unwrap(), &p, &c).unwrap();
            let cipher = std::fs::read(&c).unwrap();
            assert_eq!(cipher.len() as u64, sealed.size);
            assert_eq!(sealed.sha256, hex::encode(Sha256::digest(&cipher)));
            assert_eq!(sealed.checksum.len(), 512);
            let opened = open(&public, &sealed.session_key, &sealed.checksum, &cipher).unwrap();
            assert_eq!(opened, plain, "{len} bytes");
            let mut bad = cipher.clone();
            let last = bad.len() - 20.min(bad.len());
            bad[last] ^= 1;
            assert!(open(&public, &sealed.session_key, &sealed.checksum, &bad).is_err());
        }
        // Another key's public half opens nothing.
        let other = RsaPublicKey::from(&generate().unwrap());
        std::fs::write(dir.path().join("p"), b"zip").unwrap();
        let sealed = seal(
            &key,
            &Session::new().unwrap(),
            &dir.path().join("p"),
            &dir.path().join("c"),
        )
        .unwrap();
        let cipher = std::fs::read(dir.path().join("c")).unwrap();
        assert!(open(&other, &sealed.session_key, &sealed.checksum, &cipher).is_err());
    }
}
