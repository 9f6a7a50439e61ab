//! The RSA half: PKCS#1 PEM keys, the plugin's key id, and "private encrypt" / "public
//! decrypt" (PKCS#1 v1.5 type-1 padding with no DigestInfo), which is how the session key
//! and checksums travel.

use rsa::pkcs1::{
    DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};

use crate::{Error, Result};

/// A fresh RSA-2048 key, the size the plugin expects (its checksums are 256 bytes).
pub fn generate() -> Result<RsaPrivateKey> {
    RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .map_err(|e| Error::new(format!("cannot generate an RSA key: {e}")))
}

pub fn private_pem(key: &RsaPrivateKey) -> Result<String> {
    Ok(key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::new(format!("cannot encode the private key: {e}")))?
        .to_string())
}

pub fn public_pem(key: &RsaPublicKey) -> Result<String> {
    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::new(format!("cannot encode the public key: {e}")))
}

/// A private key from PKCS#1 PEM text, or a clear refusal of anything else.
pub fn parse_private(pem: &str) -> Result<RsaPrivateKey> {
    if pem.contains("PUBLIC KEY") {
        return Err(Error::new(
            "this is a public key: sealing needs the private key (`updraft key create` wrote it as .capgo_key_v2)",
        ));
    }
    RsaPrivateKey::from_pkcs1_pem(pem.trim()).map_err(|e| {
        Error::new(format!(
            "not an RSA private key in PKCS#1 PEM (BEGIN RSA PRIVATE KEY): {e}"
        ))
    })
}

/// A public key as apps carry it (the plugin reads only PKCS#1: BEGIN RSA PUBLIC KEY).
pub fn parse_public(pem: &str) -> Result<RsaPublicKey> {
    RsaPublicKey::from_pkcs1_pem(pem.trim()).map_err(|e| {
        Error::new(format!(
            "not an RSA public key in PKCS#1 PEM (BEGIN RSA PUBLIC KEY): {e}"
        ))
    })
}

/// The id the plugin derives from the public key it carries, sent as `key_id`.
pub fn key_id(public_pem: &str) -> String {
    let body: String = public_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    body.chars().take(20).collect()
}

/// RSA "private encrypt": PKCS#1 v1.5 type-1 padding around `data`, no DigestInfo.
pub fn private_encrypt(key: &RsaPrivateKey, data: &[u8]) -> Result<Vec<u8>> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), data)
        .map_err(|e| Error::new(format!("RSA private-encrypt failed: {e}")))
}

/// The inverse, as the plugin does it with the public key: the raw RSA operation, then the
/// type-1 padding checked and removed.
pub fn public_decrypt(key: &RsaPublicKey, data: &[u8]) -> Result<Vec<u8>> {
    let k = key.size();
    if data.len() != k {
        return Err(Error::new(format!(
            "{} bytes of RSA ciphertext, not {k}",
            data.len()
        )));
    }
    let m = BigUint::from_bytes_be(data).modpow(key.e(), key.n());
    let mut em = m.to_bytes_be();
    while em.len() < k {
        em.insert(0, 0);
    }
    // 00 01 FF…FF 00 data
    if em[0] != 0 || em[1] != 1 {
        return Err(Error::new(
            "not type-1 padded: not made with this key's private half",
        ));
    }
    let sep = em[2..]
        .iter()
        .position(|b| *b != 0xff)
        .map(|i| i + 2)
        .filter(|&i| i >= 10 && em[i] == 0)
        .ok_or_else(|| Error::new("bad type-1 padding"))?;
    Ok(em[sep + 1..].to_vec())
}

/// The checksum form the plugin decrypts: hex of the RSA-encrypted SHA-256 bytes.
pub fn encrypted_checksum(rsa: &RsaPrivateKey, sha256: &[u8]) -> Result<String> {
    Ok(hex::encode(private_encrypt(rsa, sha256)?))
}

/// What a device does with an encrypted checksum: the SHA-256 hex it stands for. Like the
/// plugin, a checksum that is not one RSA block (an unencrypted bundle sent to an app that
/// carries a key) is refused.
pub fn decrypt_checksum(public: &RsaPublicKey, checksum: &str) -> Result<String> {
    let bytes = hex::decode(checksum).map_err(|_| Error::new("the checksum is not hex"))?;
    if bytes.len() != public.size() {
        return Err(Error::new(format!(
            "the checksum is {} bytes, not an RSA block of {}: the bundle was not encrypted for this key",
            bytes.len(),
            public.size()
        )));
    }
    let sha = public_decrypt(public, &bytes)?;
    if sha.len() != 32 {
        return Err(Error::new(format!(
            "the checksum holds {} bytes, not a SHA-256",
            sha.len()
        )));
    }
    Ok(hex::encode(sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> serde_json::Value {
        let text = include_str!("../../../tests/fixtures/crypto-rsa.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_fixture_vectors_decrypt_with_the_public_key() {
        let f = fixture();
        let public = parse_public(f["publicKeyPem"].as_str().unwrap()).unwrap();
        for case in f["rsaPublicDecrypt"].as_array().unwrap() {
            let input = hex::decode(case["input"]["ciphertextHex"].as_str().unwrap()).unwrap();
            let want = hex::decode(case["expect"]["plaintextHex"].as_str().unwrap()).unwrap();
            assert_eq!(
                public_decrypt(&public, &input).unwrap(),
                want,
                "{}",
                case["id"]
            );
        }
        for case in f["calcKeyId"].as_array().unwrap() {
            let pem = case["input"]["publicKeyPem"].as_str().unwrap();
            assert_eq!(
                key_id(pem),
                case["expect"]["keyId"].as_str().unwrap(),
                "{}",
                case["id"]
            );
        }
    }

    #[test]
    fn private_encrypt_is_deterministic_and_undone_by_public_decrypt() {
        let key = generate().unwrap();
        let a = private_encrypt(&key, b"0123456789abcdef").unwrap();
        assert_eq!(a, private_encrypt(&key, b"0123456789abcdef").unwrap());
        assert_eq!(a.len(), 256);
        assert_eq!(
            public_decrypt(&RsaPublicKey::from(&key), &a).unwrap(),
            b"0123456789abcdef"
        );
    }

    #[test]
    fn a_checksum_decrypts_only_when_it_is_an_encrypted_sha256() {
        let key = generate().unwrap();
        let public = RsaPublicKey::from(&key);
        let sha = [7u8; 32];
        let sealed = encrypted_checksum(&key, &sha).unwrap();
        assert_eq!(
            decrypt_checksum(&public, &sealed).unwrap(),
            hex::encode(sha)
        );
        // A plain SHA-256 (an unencrypted bundle) is refused, as by the plugin.
        let plain = decrypt_checksum(&public, &hex::encode(sha)).unwrap_err();
        assert!(plain.0.contains("not encrypted"), "{plain}");
        assert!(decrypt_checksum(&public, "zz").is_err());
        // Another key's checksum does not decrypt.
        let other = RsaPublicKey::from(&generate().unwrap());
        assert!(decrypt_checksum(&other, &sealed).is_err());
        // Sixteen bytes (a session key) are not a SHA-256.
        let short = hex::encode(private_encrypt(&key, &[1u8; 16]).unwrap());
        assert!(decrypt_checksum(&public, &short).is_err());
    }

    #[test]
    fn keys_are_told_apart_by_kind() {
        let key = generate().unwrap();
        let private = private_pem(&key).unwrap();
        let public = public_pem(&RsaPublicKey::from(&key)).unwrap();
        assert!(parse_private(&private).is_ok());
        assert!(parse_private(&public).unwrap_err().0.contains("public key"));
        assert!(parse_public(&public).is_ok());
        assert!(parse_public(&private).is_err());
        assert_eq!(key_id(&public).len(), 20);
    }
}
