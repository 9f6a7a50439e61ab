//! End-to-end encryption of bundles, in the formats the stock plugin decrypts
//! (`CryptoCipher` of @capgo/capacitor-updater 8.51.23):
//!
//! - an RSA-2048 key pair as PKCS#1 PEM; the app carries the public key, the uploader keeps
//!   the private one;
//! - per bundle, a fresh AES-128 key and IV; the zip is one AES-128-CBC stream, PKCS#7
//!   padded;
//! - `session_key` = base64(IV) ":" base64(RSA private-encrypt of the 16 key bytes), and the
//!   checksum = hex(RSA private-encrypt of the plaintext zip's 32 SHA-256 bytes), both with
//!   PKCS#1 v1.5 type-1 padding and no DigestInfo (deterministic), which the plugin undoes
//!   with the public key;
//! - `key_id` = the first 20 base64 characters of the public key's PEM body.
//!
//! The server sees none of this but the ciphertext, its SHA-256, `session_key`, the
//! encrypted checksum and `key_id`.

use std::io::{Read, Write};
use std::path::Path;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs1::{
    DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey,
};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// AES works in 16-byte blocks; files stream through in chunks of this many blocks.
const BLOCK: usize = 16;
const CHUNK_BLOCKS: usize = 4096;

pub fn generate() -> anyhow::Result<RsaPrivateKey> {
    RsaPrivateKey::new(&mut rand_core::OsRng, 2048).context("cannot generate an RSA key")
}

pub fn private_pem(key: &RsaPrivateKey) -> anyhow::Result<String> {
    Ok(key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .context("cannot encode the private key")?
        .to_string())
}

pub fn public_pem(key: &RsaPublicKey) -> anyhow::Result<String> {
    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .context("cannot encode the public key")
}

/// A private key from a PKCS#1 PEM file, or a clear refusal of anything else.
pub fn read_private(path: &Path) -> anyhow::Result<RsaPrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the private key {}", path.display()))?;
    if text.contains("PUBLIC KEY") {
        bail!(
            "{} is a public key: --encrypt needs the private key (`updraft key create` wrote it as .capgo_key_v2)",
            path.display()
        );
    }
    RsaPrivateKey::from_pkcs1_pem(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an RSA private key in PKCS#1 PEM (BEGIN RSA PRIVATE KEY): {e}",
            path.display()
        )
    })
}

pub fn parse_public(pem: &str) -> anyhow::Result<RsaPublicKey> {
    RsaPublicKey::from_pkcs1_pem(pem.trim()).map_err(|e| {
        anyhow::anyhow!("not an RSA public key in PKCS#1 PEM (BEGIN RSA PUBLIC KEY): {e}")
    })
}

/// The id the plugin derives from the public key it carries.
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
pub fn private_encrypt(key: &RsaPrivateKey, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), data)
        .context("RSA private-encrypt failed")
}

/// The inverse, as the plugin does it with the public key: the raw RSA operation, then the
/// type-1 padding checked and removed.
pub fn public_decrypt(key: &RsaPublicKey, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let k = key.size();
    if data.len() != k {
        bail!("{} bytes of RSA ciphertext, not {k}", data.len());
    }
    let m = BigUint::from_bytes_be(data).modpow(key.e(), key.n());
    let mut em = m.to_bytes_be();
    while em.len() < k {
        em.insert(0, 0);
    }
    // 00 01 FF…FF 00 data
    if em[0] != 0 || em[1] != 1 {
        bail!("not type-1 padded: not made with this key's private half");
    }
    let sep = em[2..]
        .iter()
        .position(|b| *b != 0xff)
        .map(|i| i + 2)
        .filter(|&i| i >= 10 && em[i] == 0)
        .context("bad type-1 padding")?;
    Ok(em[sep + 1..].to_vec())
}

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

/// A bundle's AES-128 key and IV: fresh per bundle, shared by its zip and its files (the
/// plugin decrypts each with the bundle's one session key).
pub struct Session {
    key: [u8; 16],
    iv: [u8; 16],
}

impl Session {
    pub fn new() -> anyhow::Result<Session> {
        let mut s = Session {
            key: [0; 16],
            iv: [0; 16],
        };
        getrandom::fill(&mut s.key)
            .and_then(|_| getrandom::fill(&mut s.iv))
            .map_err(|e| anyhow::anyhow!("no randomness for the session key: {e}"))?;
        Ok(s)
    }

    /// One whole buffer, PKCS#7 padded (a delta file).
    pub fn encrypt(&self, data: &[u8]) -> Vec<u8> {
        Enc::new(&self.key.into(), &self.iv.into())
            .encrypt_padded_vec_mut::<cbc::cipher::block_padding::Pkcs7>(data)
    }

    /// `session_key` as the plugin reads it: base64(IV) ":" base64(RSA-encrypted AES key).
    pub fn session_key(&self, rsa: &RsaPrivateKey) -> anyhow::Result<String> {
        Ok(format!(
            "{}:{}",
            B64.encode(self.iv),
            B64.encode(private_encrypt(rsa, &self.key)?)
        ))
    }
}

/// The checksum form the plugin decrypts: hex of the RSA-encrypted SHA-256 bytes.
pub fn encrypted_checksum(rsa: &RsaPrivateKey, sha256: &[u8]) -> anyhow::Result<String> {
    Ok(hex::encode(private_encrypt(rsa, sha256)?))
}

/// Encrypts the zip at `plain` into `out` with the bundle's session.
pub fn seal(
    key: &RsaPrivateKey,
    session: &Session,
    plain: &Path,
    out: &Path,
) -> anyhow::Result<Sealed> {
    let mut enc = Enc::new(&session.key.into(), &session.iv.into());
    let mut input =
        std::fs::File::open(plain).with_context(|| format!("cannot read {}", plain.display()))?;
    let mut output = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("cannot write {}", out.display()))?,
    );
    let (mut plain_hash, mut cipher_hash) = (Sha256::new(), Sha256::new());
    let mut size = 0u64;
    let mut buf = vec![0u8; BLOCK * CHUNK_BLOCKS];
    let mut filled = 0;
    loop {
        let n = input.read(&mut buf[filled..])?;
        plain_hash.update(&buf[filled..filled + n]);
        filled += n;
        if n == 0 || filled == buf.len() {
            let last = n == 0;
            // Whole blocks go now; the last, partial one waits for the padding at the end.
            let whole = if last { 0 } else { filled / BLOCK * BLOCK };
            if whole > 0 {
                for block in buf[..whole].chunks_exact_mut(BLOCK) {
                    enc.encrypt_block_mut(block.into());
                }
                cipher_hash.update(&buf[..whole]);
                output.write_all(&buf[..whole])?;
                size += whole as u64;
                buf.copy_within(whole..filled, 0);
                filled -= whole;
            }
            if last {
                let tail =
                    enc.encrypt_padded_vec_mut::<cbc::cipher::block_padding::Pkcs7>(&buf[..filled]);
                cipher_hash.update(&tail);
                output.write_all(&tail)?;
                size += tail.len() as u64;
                break;
            }
        }
    }
    output.flush()?;
    let public = RsaPublicKey::from(key);
    Ok(Sealed {
        session_key: session.session_key(key)?,
        checksum: encrypted_checksum(key, &plain_hash.finalize())?,
        key_id: key_id(&public_pem(&public)?),
        sha256: hex::encode(cipher_hash.finalize()),
        size,
    })
}

/// Decrypts as a device does: the session key and checksum with the public key, the bytes
/// with the session key; fails unless the plaintext matches the checksum.
pub fn open(
    public: &RsaPublicKey,
    session_key: &str,
    checksum: &str,
    cipher: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let (iv, key) = session_key
        .split_once(':')
        .context("a session key is base64(iv):base64(key)")?;
    let iv = B64.decode(iv).context("the IV is not base64")?;
    let key = public_decrypt(public, &B64.decode(key).context("the key is not base64")?)?;
    let (Ok(iv), Ok(key)) = (<[u8; 16]>::try_from(iv), <[u8; 16]>::try_from(key)) else {
        bail!("the session key does not hold a 16-byte IV and a 16-byte AES key");
    };
    let plain = Dec::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<cbc::cipher::block_padding::Pkcs7>(cipher)
        .map_err(|_| anyhow::anyhow!("the bytes do not decrypt with this session key"))?;
    let want = public_decrypt(
        public,
        &hex::decode(checksum).context("the checksum is not hex")?,
    )?;
    if want != Sha256::digest(&plain).as_slice() {
        bail!("the decrypted bytes do not match the checksum");
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> serde_json::Value {
        let text = include_str!("../../tests/fixtures/crypto-rsa.json");
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
    fn a_sealed_zip_opens_with_the_public_key_only_if_untouched() {
        let key = generate().unwrap();
        let public = RsaPublicKey::from(&key);
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            1,
            15,
            16,
            17,
            BLOCK * CHUNK_BLOCKS,
            BLOCK * CHUNK_BLOCKS + 5,
            200_001,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let (p, c) = (dir.path().join("p"), dir.path().join("c"));
            std::fs::write(&p, &plain).unwrap();
            let sealed = seal(&key, &Session::new().unwrap(), &p, &c).unwrap();
            let cipher = std::fs::read(&c).unwrap();
            assert_eq!(cipher.len() as u64, sealed.size);
            assert_eq!(cipher.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
            assert_eq!(sealed.sha256, hex::encode(Sha256::digest(&cipher)));
            assert_eq!(sealed.checksum.len(), 512);
            let opened = open(&public, &sealed.session_key, &sealed.checksum, &cipher).unwrap();
            assert_eq!(opened, plain, "{len} bytes");
            if !cipher.is_empty() {
                let mut bad = cipher.clone();
                let last = bad.len() - 20.min(bad.len());
                bad[last] ^= 1;
                assert!(open(&public, &sealed.session_key, &sealed.checksum, &bad).is_err());
            }
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
}
