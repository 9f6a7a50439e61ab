//! A bundle's AES-128 key and IV: fresh per bundle, shared by its zip and its delta files
//! (the plugin decrypts each with the bundle's one session key). Bytes stream through in
//! chunks, so a bundle of any size needs a fixed amount of memory.

use std::io::{Read, Write};

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use cbc::cipher::block_padding::Pkcs7;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

use crate::rsa_key::{private_encrypt, public_decrypt};
use crate::{Error, Result};

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// AES works in 16-byte blocks; streams go through in chunks of this many blocks.
const BLOCK: usize = 16;
const CHUNK_BLOCKS: usize = 4096;

pub struct Session {
    key: [u8; 16],
    iv: [u8; 16],
}

/// What a stream's encryption saw: SHA-256 of the plaintext and of the ciphertext, and the
/// ciphertext's size.
pub(crate) struct Encrypted {
    pub plain_sha256: [u8; 32],
    pub cipher_sha256: [u8; 32],
    pub size: u64,
}

/// Reads until `buf` is full or the input ends; how many bytes came.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl Session {
    pub fn new() -> Result<Session> {
        let mut s = Session {
            key: [0; 16],
            iv: [0; 16],
        };
        getrandom::fill(&mut s.key)
            .and_then(|_| getrandom::fill(&mut s.iv))
            .map_err(|e| Error::new(format!("no randomness for the session key: {e}")))?;
        Ok(s)
    }

    /// `session_key` as the plugin reads it: base64(IV) ":" base64(RSA-encrypted AES key).
    pub fn session_key(&self, rsa: &RsaPrivateKey) -> Result<String> {
        Ok(format!(
            "{}:{}",
            B64.encode(self.iv),
            B64.encode(private_encrypt(rsa, &self.key)?)
        ))
    }

    /// The session a `session_key` carries, opened with the app's public key.
    pub fn open(public: &RsaPublicKey, session_key: &str) -> Result<Session> {
        let (iv, key) = session_key
            .trim()
            .split_once(':')
            .ok_or_else(|| Error::new("a session key is base64(iv):base64(key)"))?;
        let iv = B64
            .decode(iv)
            .map_err(|_| Error::new("the session key's IV is not base64"))?;
        let key = B64
            .decode(key)
            .map_err(|_| Error::new("the session key's key is not base64"))?;
        let key = public_decrypt(public, &key)?;
        match (<[u8; 16]>::try_from(iv), <[u8; 16]>::try_from(key)) {
            (Ok(iv), Ok(key)) => Ok(Session { key, iv }),
            _ => Err(Error::new(
                "the session key does not hold a 16-byte IV and a 16-byte AES key",
            )),
        }
    }

    /// One whole buffer, PKCS#7 padded (a delta file).
    pub fn encrypt(&self, data: &[u8]) -> Vec<u8> {
        Enc::new(&self.key.into(), &self.iv.into()).encrypt_padded_vec_mut::<Pkcs7>(data)
    }

    /// One whole buffer back, its padding checked.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>> {
        Dec::new(&self.key.into(), &self.iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(|_| Error::new("the bytes do not decrypt with this session key"))
    }

    /// Encrypts `input` into `output` as one CBC stream, PKCS#7 padded.
    pub(crate) fn encrypt_stream(
        &self,
        input: &mut impl Read,
        output: &mut impl Write,
    ) -> Result<Encrypted> {
        let mut enc = Enc::new(&self.key.into(), &self.iv.into());
        let (mut plain, mut cipher) = (Sha256::new(), Sha256::new());
        let mut size = 0u64;
        let mut buf = vec![0u8; BLOCK * CHUNK_BLOCKS];
        loop {
            let n = fill(input, &mut buf)?;
            plain.update(&buf[..n]);
            if n < buf.len() {
                // The end: the partial last block goes with its padding.
                let tail = enc.encrypt_padded_vec_mut::<Pkcs7>(&buf[..n]);
                cipher.update(&tail);
                output.write_all(&tail)?;
                size += tail.len() as u64;
                break;
            }
            for block in buf.chunks_exact_mut(BLOCK) {
                enc.encrypt_block_mut(block.into());
            }
            cipher.update(&buf);
            output.write_all(&buf)?;
            size += buf.len() as u64;
        }
        output.flush()?;
        Ok(Encrypted {
            plain_sha256: plain.finalize().into(),
            cipher_sha256: cipher.finalize().into(),
            size,
        })
    }

    /// Decrypts the CBC stream `input` into `output`; the plaintext's SHA-256. Fails on a
    /// length that is not whole blocks or on bad padding (the wrong key, or tampering).
    pub fn decrypt_stream(
        &self,
        input: &mut impl Read,
        output: &mut impl Write,
    ) -> Result<[u8; 32]> {
        let mut dec = Dec::new(&self.key.into(), &self.iv.into());
        let mut plain = Sha256::new();
        let mut buf = vec![0u8; BLOCK * CHUNK_BLOCKS];
        // The last block holds the padding: it is held back until the input ends.
        let mut held = 0usize;
        loop {
            let n = fill(input, &mut buf[held..])?;
            let have = held + n;
            let ended = held + n < buf.len();
            if !have.is_multiple_of(BLOCK) && ended {
                return Err(Error::new(
                    "the ciphertext is not whole AES blocks: cut short or not encrypted",
                ));
            }
            if ended {
                if have == 0 {
                    return Err(Error::new("the ciphertext is empty"));
                }
                let body = have - BLOCK;
                for block in buf[..body].chunks_exact_mut(BLOCK) {
                    dec.decrypt_block_mut(block.into());
                }
                let last = dec
                    .decrypt_padded_mut::<Pkcs7>(&mut buf[body..have])
                    .map_err(|_| Error::new("the bytes do not decrypt with this session key"))?
                    .len();
                plain.update(&buf[..body + last]);
                output.write_all(&buf[..body + last])?;
                break;
            }
            let body = have - BLOCK;
            for block in buf[..body].chunks_exact_mut(BLOCK) {
                dec.decrypt_block_mut(block.into());
            }
            plain.update(&buf[..body]);
            output.write_all(&buf[..body])?;
            buf.copy_within(body..have, 0);
            held = BLOCK;
        }
        output.flush()?;
        Ok(plain.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_buffers_agree_at_every_boundary() {
        let s = Session::new().unwrap();
        for len in [
            0usize,
            1,
            15,
            16,
            17,
            BLOCK * CHUNK_BLOCKS - 1,
            BLOCK * CHUNK_BLOCKS,
            BLOCK * CHUNK_BLOCKS + 5,
            3 * BLOCK * CHUNK_BLOCKS,
            200_001,
        ] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut cipher = Vec::new();
            let e = s.encrypt_stream(&mut &plain[..], &mut cipher).unwrap();
            assert_eq!(cipher, s.encrypt(&plain), "{len} bytes");
            assert_eq!(cipher.len(), (len / 16 + 1) * 16, "PKCS#7 always pads");
            assert_eq!(e.size, cipher.len() as u64);
            assert_eq!(e.plain_sha256, <[u8; 32]>::from(Sha256::digest(&plain)));
            let mut back = Vec::new();
            let sha = s.decrypt_stream(&mut &cipher[..], &mut back).unwrap();
            assert_eq!(back, plain, "{len} bytes");
            assert_eq!(sha, e.plain_sha256);
            assert_eq!(s.decrypt(&cipher).unwrap(), plain);
        }
    }

    #[test]
    fn cut_or_foreign_ciphertext_is_refused() {
        let s = Session::new().unwrap();
        let cipher = s.encrypt(&[5u8; 100]);
        let mut sink = Vec::new();
        assert!(s.decrypt_stream(&mut &cipher[..90], &mut sink).is_err());
        assert!(s.decrypt_stream(&mut &[][..], &mut sink).is_err());
        let other = Session::new().unwrap();
        // Another key: the padding almost never checks out (1 in 256 at worst per try).
        let refused = (0..8)
            .filter(|_| {
                let c = Session::new().unwrap().encrypt(&[5u8; 100]);
                other.decrypt_stream(&mut &c[..], &mut Vec::new()).is_err()
            })
            .count();
        assert!(refused >= 6, "{refused} of 8 foreign ciphertexts refused");
    }

    #[test]
    fn a_session_key_opens_only_with_the_matching_public_key() {
        let rsa = crate::generate().unwrap();
        let s = Session::new().unwrap();
        let text = s.session_key(&rsa).unwrap();
        let opened = Session::open(&RsaPublicKey::from(&rsa), &text).unwrap();
        assert_eq!((opened.key, opened.iv), (s.key, s.iv));
        let other = RsaPublicKey::from(&crate::generate().unwrap());
        assert!(Session::open(&other, &text).is_err());
        for bad in ["", "abc", "!!:!!", "AAAA:AAAA"] {
            assert!(
                Session::open(&RsaPublicKey::from(&rsa), bad).is_err(),
                "{bad}"
            );
        }
    }
}
