//! Record decryption: TLS 1.0–1.3 records, in place, one direction at a time.
//!
//! [`CipherSpec`] says what a cipher suite does to a record (from the
//! registry's name parts), [`RecordKeys`] holds one direction's keys (from a
//! TLS 1.2 key block or a TLS 1.3 traffic secret), and [`Decryptor`] opens
//! that direction's records one after the other:
//!
//! * TLS 1.3 ([RFC 8446 §5.2](https://www.rfc-editor.org/rfc/rfc8446#section-5.2)):
//!   AEAD with nonce = IV XOR sequence number, the record header as
//!   additional data, then the zero padding and the inner content type are
//!   stripped. [`Decryptor::key_update`] moves to the next traffic secret.
//! * TLS 1.2 AEAD: AES-GCM ([RFC 5288](https://www.rfc-editor.org/rfc/rfc5288))
//!   and AES-CCM ([RFC 6655](https://www.rfc-editor.org/rfc/rfc6655)) with
//!   an 8-byte explicit nonce after the 4-byte implicit one;
//!   ChaCha20-Poly1305 ([RFC 7905](https://www.rfc-editor.org/rfc/rfc7905))
//!   with none. Additional data: `seq || type || version || length`.
//! * CBC ([RFC 5246 §6.2.3.2](https://www.rfc-editor.org/rfc/rfc5246#section-6.2.3.2)):
//!   TLS 1.0 chains the IV from the previous record, TLS 1.1+ sends it;
//!   MAC-then-encrypt with the padding checked, or encrypt-then-MAC
//!   ([RFC 7366](https://www.rfc-editor.org/rfc/rfc7366)). AES, 3DES and
//!   Camellia. The checks are exact but not constant-time: this is an
//!   analyser, not a server that could be turned into a padding oracle.
//! * NULL encryption with a MAC.
//!
//! The ciphers are aws-lc-rs (AES-GCM, ChaCha20-Poly1305, AES-CBC) and
//! RustCrypto (`ccm` + `aes`, `des`, `camellia` with `cbc`; `hmac` for the
//! CBC MACs). Keys are set up once per direction and epoch; decrypting a
//! record allocates nothing and writes the plaintext over the record body.
//!
//! **Sequence numbers.** A successful decryption moves the sequence number
//! on by one. A failed one changes nothing, and what happens next is the
//! caller's choice: try other keys (with a fresh copy of the record — the
//! body may have been overwritten), or give the record up with
//! [`Decryptor::skip_record`], which moves on as the sender did.
//!
//! No function here can panic, whatever bytes it is given.

use std::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use camellia::{Camellia128, Camellia256};
use cbc::cipher::{Array, BlockModeDecrypt, InnerIvInit, KeyInit as CipherKeyInit};
use ccm::aead::AeadInOut;
use ccm::consts::{U8, U12, U16};
use des::TdesEde3;
use hmac::{Hmac, KeyInit};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use super::keys::{self, HashAlg, KeyBlock, KeyError, Prf};
use super::registry;
use super::secret::Secret;

/// The bulk cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bulk {
    /// AES-GCM with a 16- or 32-byte key.
    AesGcm {
        /// Key length in bytes.
        key_len: usize,
    },
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305,
    /// AES-CCM with a 16- or 8-byte tag (CCM_8).
    AesCcm {
        /// Key length in bytes.
        key_len: usize,
        /// Tag length in bytes.
        tag_len: usize,
    },
    /// AES-CBC.
    AesCbc {
        /// Key length in bytes.
        key_len: usize,
    },
    /// Triple DES (EDE, three keys) in CBC mode.
    TripleDesCbc,
    /// Camellia in CBC mode.
    CamelliaCbc {
        /// Key length in bytes.
        key_len: usize,
    },
    /// No encryption (records are only MACed).
    Null,
}

impl Bulk {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Bulk::AesGcm { key_len }
            | Bulk::AesCcm { key_len, .. }
            | Bulk::AesCbc { key_len }
            | Bulk::CamelliaCbc { key_len } => key_len,
            Bulk::ChaCha20Poly1305 => 32,
            Bulk::TripleDesCbc => 24,
            Bulk::Null => 0,
        }
    }

    /// True for the AEAD ciphers.
    pub fn is_aead(self) -> bool {
        matches!(self, Bulk::AesGcm { .. } | Bulk::ChaCha20Poly1305 | Bulk::AesCcm { .. })
    }

    /// Block length of a CBC cipher, 0 otherwise.
    pub fn block_len(self) -> usize {
        match self {
            Bulk::AesCbc { .. } | Bulk::CamelliaCbc { .. } => 16,
            Bulk::TripleDesCbc => 8,
            _ => 0,
        }
    }

    /// Tag length of an AEAD, 0 otherwise.
    pub fn tag_len(self) -> usize {
        match self {
            Bulk::AesGcm { .. } | Bulk::ChaCha20Poly1305 => 16,
            Bulk::AesCcm { tag_len, .. } => tag_len,
            _ => 0,
        }
    }
}

/// The record MAC of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mac {
    /// HMAC-MD5.
    Md5,
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// None: the AEAD's tag authenticates the record.
    Aead,
}

impl Mac {
    /// MAC (and MAC key) length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Mac::Md5 => 16,
            Mac::Sha1 => 20,
            Mac::Sha256 => 32,
            Mac::Sha384 => 48,
            Mac::Aead => 0,
        }
    }
}

/// What a cipher suite does to records, and the lengths of its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CipherSpec {
    /// The suite's code point.
    pub suite: u16,
    /// The suite's IANA name.
    pub name: &'static str,
    /// The bulk cipher.
    pub bulk: Bulk,
    /// The record MAC.
    pub mac: Mac,
    /// The TLS 1.2 PRF hash, or the TLS 1.3 suite's hash.
    pub hash: HashAlg,
    /// A TLS 1.3 suite.
    pub tls13: bool,
}

impl CipherSpec {
    /// The spec of cipher suite `id`, or [`DecryptError::Unsupported`] naming
    /// what is not supported (an unknown suite, RC4, ARIA, GOST, ...).
    pub fn from_suite(id: u16) -> Result<CipherSpec, DecryptError> {
        let suite =
            registry::cipher_suite(id).ok_or(DecryptError::Unsupported("unknown cipher suite"))?;
        if suite.is_scsv() || suite.name == "TLS_NULL_WITH_NULL_NULL" {
            return Err(DecryptError::Unsupported(suite.name));
        }
        let bulk = match suite.cipher {
            "AES_128_GCM" => Bulk::AesGcm { key_len: 16 },
            "AES_256_GCM" => Bulk::AesGcm { key_len: 32 },
            "CHACHA20_POLY1305" => Bulk::ChaCha20Poly1305,
            "AES_128_CCM" => Bulk::AesCcm { key_len: 16, tag_len: 16 },
            "AES_256_CCM" => Bulk::AesCcm { key_len: 32, tag_len: 16 },
            "AES_128_CCM_8" => Bulk::AesCcm { key_len: 16, tag_len: 8 },
            "AES_256_CCM_8" => Bulk::AesCcm { key_len: 32, tag_len: 8 },
            "AES_128_CBC" => Bulk::AesCbc { key_len: 16 },
            "AES_256_CBC" => Bulk::AesCbc { key_len: 32 },
            "3DES_EDE_CBC" => Bulk::TripleDesCbc,
            "CAMELLIA_128_CBC" => Bulk::CamelliaCbc { key_len: 16 },
            "CAMELLIA_256_CBC" => Bulk::CamelliaCbc { key_len: 32 },
            // TLS 1.3's integrity-only suites (RFC 9150) are not NULL-MAC records.
            "NULL" if !suite.tls13 => Bulk::Null,
            other => return Err(DecryptError::Unsupported(other)),
        };
        let hash_of = |name: &str| match name {
            "SHA384" => HashAlg::Sha384,
            _ => HashAlg::Sha256,
        };
        let (mac, hash) = if bulk.is_aead() {
            match suite.mac {
                "SHA256" | "SHA384" => (Mac::Aead, hash_of(suite.mac)),
                other => return Err(DecryptError::Unsupported(other)),
            }
        } else {
            match suite.mac {
                // SHA-1 and MD5 MAC suites use the SHA-256 PRF in TLS 1.2.
                "SHA" => (Mac::Sha1, HashAlg::Sha256),
                "MD5" => (Mac::Md5, HashAlg::Sha256),
                "SHA256" => (Mac::Sha256, HashAlg::Sha256),
                "SHA384" => (Mac::Sha384, HashAlg::Sha384),
                other => return Err(DecryptError::Unsupported(other)),
            }
        };
        Ok(CipherSpec { suite: id, name: suite.name, bulk, mac, hash, tls13: suite.tls13 })
    }

    /// Write key length.
    pub fn key_len(&self) -> usize {
        self.bulk.key_len()
    }

    /// MAC key and MAC length (0 for AEAD suites).
    pub fn mac_len(&self) -> usize {
        self.mac.output_len()
    }

    /// The IV that comes from the key schedule for records of `version`:
    /// 12 bytes for TLS 1.3 and ChaCha20-Poly1305, the 4-byte implicit
    /// nonce of GCM and CCM, the first CBC IV in TLS 1.0, nothing for CBC in
    /// TLS 1.1+ (the IV is in each record) or NULL.
    pub fn fixed_iv_len(&self, version: u16) -> usize {
        match self.bulk {
            _ if self.tls13 => 12,
            Bulk::ChaCha20Poly1305 => 12,
            Bulk::AesGcm { .. } | Bulk::AesCcm { .. } => 4,
            b @ (Bulk::AesCbc { .. } | Bulk::TripleDesCbc | Bulk::CamelliaCbc { .. })
                if version <= 0x0301 =>
            {
                b.block_len()
            }
            _ => 0,
        }
    }

    /// The explicit nonce or IV at the start of each record body: 8 bytes
    /// for TLS 1.2 GCM and CCM, one block for CBC in TLS 1.1+.
    pub fn record_iv_len(&self, version: u16) -> usize {
        match self.bulk {
            _ if self.tls13 => 0,
            Bulk::AesGcm { .. } | Bulk::AesCcm { .. } => 8,
            b @ (Bulk::AesCbc { .. } | Bulk::TripleDesCbc | Bulk::CamelliaCbc { .. })
                if version >= 0x0302 =>
            {
                b.block_len()
            }
            _ => 0,
        }
    }

    /// `(mac_len, key_len, iv_len)` of each side's part of a TLS 1.0–1.2
    /// key block, for [`KeyBlock::derive`].
    pub fn key_block_lengths(&self, version: u16) -> (usize, usize, usize) {
        (self.mac_len(), self.key_len(), self.fixed_iv_len(version))
    }

    /// The PRF of a TLS 1.0–1.2 session with this suite.
    pub fn prf(&self, version: u16) -> Prf {
        Prf::for_version(version, self.hash)
    }

    /// Derives the key block of a TLS 1.0–1.2 session.
    pub fn key_block(
        &self,
        version: u16,
        master_secret: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Result<KeyBlock, KeyError> {
        let (mac, key, iv) = self.key_block_lengths(version);
        KeyBlock::derive(
            self.prf(version),
            master_secret,
            client_random,
            server_random,
            mac,
            key,
            iv,
        )
    }
}

/// Which side sent the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

/// The keys of one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordKeys {
    /// Write key.
    pub key: Secret,
    /// MAC key (empty for AEAD suites).
    pub mac_key: Secret,
    /// Fixed IV or implicit nonce (see [`CipherSpec::fixed_iv_len`]).
    pub iv: Secret,
}

impl RecordKeys {
    /// The keys of `sender` in a TLS 1.0–1.2 key block.
    pub fn from_key_block(kb: &KeyBlock, sender: Side) -> RecordKeys {
        match sender {
            Side::Client => RecordKeys {
                key: kb.client_key.clone(),
                mac_key: kb.client_mac.clone(),
                iv: kb.client_iv.clone(),
            },
            Side::Server => RecordKeys {
                key: kb.server_key.clone(),
                mac_key: kb.server_mac.clone(),
                iv: kb.server_iv.clone(),
            },
        }
    }

    /// The key and IV of a TLS 1.3 traffic secret.
    pub fn from_traffic_secret(
        spec: &CipherSpec,
        traffic_secret: &[u8],
    ) -> Result<RecordKeys, KeyError> {
        let k = keys::traffic_keys(spec.hash, traffic_secret, spec.key_len(), 12)?;
        Ok(RecordKeys { key: k.key, mac_key: Secret::new(&[]).ok_or(KeyError::BadKey)?, iv: k.iv })
    }
}

/// Why a record could not be decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecryptError {
    /// The AEAD tag does not verify: wrong keys, wrong sequence number, or
    /// a modified record.
    TagMismatch,
    /// The CBC or NULL record's MAC does not verify.
    BadMac,
    /// The CBC padding is malformed, or a TLS 1.3 record has no content
    /// type (it is all zeros).
    BadPadding,
    /// The record is shorter than its nonce, IV, MAC or tag.
    TooShort,
    /// A CBC record that is not a whole number of blocks.
    BadLength,
    /// A cipher, MAC or protocol this module does not decrypt.
    Unsupported(&'static str),
}

impl fmt::Display for DecryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecryptError::TagMismatch => {
                f.write_str("authentication tag mismatch (wrong key, or the record was changed)")
            }
            DecryptError::BadMac => {
                f.write_str("record MAC mismatch (wrong key, or the record was changed)")
            }
            DecryptError::BadPadding => {
                f.write_str("bad padding after decryption (wrong key, or the record was changed)")
            }
            DecryptError::TooShort => f.write_str("record too short for its cipher"),
            DecryptError::BadLength => f.write_str("record is not a whole number of cipher blocks"),
            DecryptError::Unsupported(what) => write!(f, "not supported: {what}"),
        }
    }
}

impl std::error::Error for DecryptError {}

/// A decrypted record: a view into the record's own buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plaintext<'a> {
    /// The content type: the header's, or TLS 1.3's inner type.
    pub content_type: u8,
    /// The plaintext, without padding, MAC or inner content type.
    pub data: &'a [u8],
    /// Padding bytes removed: TLS 1.3's zeros after the content type, or
    /// CBC padding including its length byte.
    pub padding: usize,
}

/// A precomputed HMAC key (cloned per record: a copy, no allocation).
#[derive(Clone)]
enum MacKey {
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
}

impl MacKey {
    fn new(mac: Mac, key: &[u8]) -> Result<Option<MacKey>, KeyError> {
        if key.len() != mac.output_len() {
            return Err(KeyError::BadKey);
        }
        let bad = |_| KeyError::BadKey;
        Ok(Some(match mac {
            Mac::Md5 => MacKey::Md5(KeyInit::new_from_slice(key).map_err(bad)?),
            Mac::Sha1 => MacKey::Sha1(KeyInit::new_from_slice(key).map_err(bad)?),
            Mac::Sha256 => MacKey::Sha256(KeyInit::new_from_slice(key).map_err(bad)?),
            Mac::Sha384 => MacKey::Sha384(KeyInit::new_from_slice(key).map_err(bad)?),
            Mac::Aead => return Ok(None),
        }))
    }

    /// `HMAC(key, seq || type || version || length || parts...)` compared
    /// with `expected`.
    fn verify(
        &self,
        seq: u64,
        header: &[u8; 5],
        len: usize,
        parts: &[&[u8]],
        expected: &[u8],
    ) -> bool {
        fn run<M: hmac::Mac + Clone>(
            m: &M,
            prefix: &[u8; 13],
            parts: &[&[u8]],
            expected: &[u8],
        ) -> bool {
            let mut m = m.clone();
            m.update(prefix);
            parts.iter().for_each(|p| m.update(p));
            m.verify_slice(expected).is_ok()
        }
        let Ok(len) = u16::try_from(len) else { return false };
        let mut prefix = [0u8; 13];
        let (s, rest) = prefix.split_at_mut(8);
        s.copy_from_slice(&seq.to_be_bytes());
        let (t, rest) = rest.split_at_mut(3);
        t.copy_from_slice(header.get(..3).unwrap_or(&[0; 3]));
        rest.copy_from_slice(&len.to_be_bytes());
        match self {
            MacKey::Md5(m) => run(m, &prefix, parts, expected),
            MacKey::Sha1(m) => run(m, &prefix, parts, expected),
            MacKey::Sha256(m) => run(m, &prefix, parts, expected),
            MacKey::Sha384(m) => run(m, &prefix, parts, expected),
        }
    }
}

/// A CBC block cipher with its key schedule.
enum CbcCipher {
    Aes(Box<DecryptingKey>),
    Tdes(Box<TdesEde3>),
    Camellia128(Box<Camellia128>),
    Camellia256(Box<Camellia256>),
}

impl CbcCipher {
    /// Decrypts whole blocks in place with `iv`.
    fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), DecryptError> {
        fn rust_crypto<C>(cipher: &C, iv: &[u8], data: &mut [u8]) -> Result<(), DecryptError>
        where
            C: cbc::cipher::BlockCipherDecrypt + Clone,
        {
            let mut dec = cbc::Decryptor::<C>::inner_iv_slice_init(cipher.clone(), iv)
                .map_err(|_| DecryptError::BadLength)?;
            let (blocks, rest) = Array::slice_as_chunks_mut(data);
            if !rest.is_empty() {
                return Err(DecryptError::BadLength);
            }
            dec.decrypt_blocks(blocks);
            Ok(())
        }
        match self {
            CbcCipher::Aes(key) => {
                let iv = <[u8; 16]>::try_from(iv).map_err(|_| DecryptError::BadLength)?;
                key.decrypt(data, DecryptionContext::Iv128(FixedLength::from(iv)))
                    .map(|_| ())
                    .map_err(|_| DecryptError::BadLength)
            }
            CbcCipher::Tdes(c) => rust_crypto(c.as_ref(), iv, data),
            CbcCipher::Camellia128(c) => rust_crypto(c.as_ref(), iv, data),
            CbcCipher::Camellia256(c) => rust_crypto(c.as_ref(), iv, data),
        }
    }
}

type Aes128Ccm16 = ccm::Ccm<aes::Aes128, U16, U12>;
type Aes128Ccm8 = ccm::Ccm<aes::Aes128, U8, U12>;
type Aes256Ccm16 = ccm::Ccm<aes::Aes256, U16, U12>;
type Aes256Ccm8 = ccm::Ccm<aes::Aes256, U8, U12>;

/// The record cipher of one direction and epoch.
enum Engine {
    /// aws-lc-rs AEAD: AES-GCM, ChaCha20-Poly1305.
    Aead(LessSafeKey),
    Ccm128x16(Box<Aes128Ccm16>),
    Ccm128x8(Box<Aes128Ccm8>),
    Ccm256x16(Box<Aes256Ccm16>),
    Ccm256x8(Box<Aes256Ccm8>),
    Cbc(CbcCipher),
    Null,
}

impl Engine {
    fn new(bulk: Bulk, key: &[u8]) -> Result<Engine, KeyError> {
        if key.len() != bulk.key_len() {
            return Err(KeyError::BadKey);
        }
        fn bad<E>(_: E) -> KeyError {
            KeyError::BadKey
        }
        Ok(match bulk {
            Bulk::AesGcm { key_len } => {
                let alg = if key_len == 16 { &aead::AES_128_GCM } else { &aead::AES_256_GCM };
                Engine::Aead(LessSafeKey::new(UnboundKey::new(alg, key).map_err(bad)?))
            }
            Bulk::ChaCha20Poly1305 => Engine::Aead(LessSafeKey::new(
                UnboundKey::new(&aead::CHACHA20_POLY1305, key).map_err(bad)?,
            )),
            Bulk::AesCcm { key_len: 16, tag_len: 16 } => {
                Engine::Ccm128x16(Box::new(CipherKeyInit::new_from_slice(key).map_err(bad)?))
            }
            Bulk::AesCcm { key_len: 16, .. } => {
                Engine::Ccm128x8(Box::new(CipherKeyInit::new_from_slice(key).map_err(bad)?))
            }
            Bulk::AesCcm { tag_len: 16, .. } => {
                Engine::Ccm256x16(Box::new(CipherKeyInit::new_from_slice(key).map_err(bad)?))
            }
            Bulk::AesCcm { .. } => {
                Engine::Ccm256x8(Box::new(CipherKeyInit::new_from_slice(key).map_err(bad)?))
            }
            Bulk::AesCbc { key_len } => {
                let alg = if key_len == 16 { &AES_128 } else { &AES_256 };
                let key = DecryptingKey::cbc(UnboundCipherKey::new(alg, key).map_err(bad)?);
                Engine::Cbc(CbcCipher::Aes(Box::new(key.map_err(bad)?)))
            }
            Bulk::TripleDesCbc => Engine::Cbc(CbcCipher::Tdes(Box::new(
                CipherKeyInit::new_from_slice(key).map_err(bad)?,
            ))),
            Bulk::CamelliaCbc { key_len: 16 } => Engine::Cbc(CbcCipher::Camellia128(Box::new(
                CipherKeyInit::new_from_slice(key).map_err(bad)?,
            ))),
            Bulk::CamelliaCbc { .. } => Engine::Cbc(CbcCipher::Camellia256(Box::new(
                CipherKeyInit::new_from_slice(key).map_err(bad)?,
            ))),
            Bulk::Null => Engine::Null,
        })
    }

    /// Opens `ciphertext || tag`: in place in `buf`, or, with `input`, read
    /// from `input` and the plaintext written to `buf` (as long as
    /// `input`; GCM and ChaCha20-Poly1305 then never copy the ciphertext).
    /// Returns the plaintext's length.
    fn open(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        input: Option<&[u8]>,
        buf: &mut [u8],
        tag_len: usize,
    ) -> Result<usize, DecryptError> {
        fn ccm<A: AeadInOut>(
            a: &A,
            nonce: &[u8; 12],
            aad: &[u8],
            in_out: &mut [u8],
            tag_len: usize,
        ) -> Result<usize, DecryptError> {
            let ct_len = in_out.len().checked_sub(tag_len).ok_or(DecryptError::TooShort)?;
            let (ct, tag) = in_out.split_at_mut(ct_len);
            let nonce = <&ccm::aead::Nonce<A>>::try_from(nonce.as_slice())
                .map_err(|_| DecryptError::TooShort)?;
            let tag = <&ccm::aead::Tag<A>>::try_from(&*tag).map_err(|_| DecryptError::TooShort)?;
            a.decrypt_inout_detached(nonce, aad, ct.into(), tag)
                .map_err(|_| DecryptError::TagMismatch)?;
            Ok(ct_len)
        }
        if let Some(input) = input {
            if input.len() != buf.len() {
                return Err(DecryptError::BadLength);
            }
            if let Engine::Aead(key) = self {
                let ct_len = input.len().checked_sub(tag_len).ok_or(DecryptError::TooShort)?;
                let (ct, tag) = input.split_at(ct_len);
                let out = buf.get_mut(..ct_len).ok_or(DecryptError::BadLength)?;
                return key
                    .open_separate_gather(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        ct,
                        tag,
                        out,
                    )
                    .map(|()| ct_len)
                    .map_err(|_| DecryptError::TagMismatch);
            }
            buf.copy_from_slice(input);
        }
        match self {
            Engine::Aead(key) => key
                .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buf)
                .map(|p| p.len())
                .map_err(|_| DecryptError::TagMismatch),
            Engine::Ccm128x16(a) => ccm(a.as_ref(), &nonce, aad, buf, tag_len),
            Engine::Ccm128x8(a) => ccm(a.as_ref(), &nonce, aad, buf, tag_len),
            Engine::Ccm256x16(a) => ccm(a.as_ref(), &nonce, aad, buf, tag_len),
            Engine::Ccm256x8(a) => ccm(a.as_ref(), &nonce, aad, buf, tag_len),
            Engine::Cbc(_) | Engine::Null => Err(DecryptError::Unsupported("not an AEAD")),
        }
    }
}

/// Decrypts the records of one direction, in order.
pub struct Decryptor {
    spec: CipherSpec,
    engine: Engine,
    mac: Option<MacKey>,
    /// TLS 1.3 and ChaCha20: the 12-byte IV; GCM/CCM: the 4-byte implicit
    /// nonce; TLS 1.0 CBC: the chained IV.
    iv: [u8; 16],
    iv_len: usize,
    seq: u64,
    version: u16,
    encrypt_then_mac: bool,
    /// TLS 1.3: the current traffic secret, for [`Decryptor::key_update`].
    traffic_secret: Option<Secret>,
    /// TLS 1.0 CBC: the last ciphertext block of a record that failed, so
    /// [`Decryptor::skip_record`] can chain past it.
    failed_last_block: Option<[u8; 16]>,
}

impl fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("suite", &self.spec.name)
            .field("version", &format_args!("0x{:04x}", self.version))
            .field("seq", &self.seq)
            .field("encrypt_then_mac", &self.encrypt_then_mac)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl Decryptor {
    /// A decryptor for TLS 1.0–1.2 records of `version` (the negotiated
    /// version: `0x0301`..`0x0303`) with `keys` from the key block.
    /// `encrypt_then_mac` is whether RFC 7366 was negotiated (it only
    /// matters for CBC suites). The sequence number starts at 0.
    pub fn new(
        spec: &CipherSpec,
        keys: &RecordKeys,
        version: u16,
        encrypt_then_mac: bool,
    ) -> Result<Decryptor, DecryptError> {
        if spec.tls13 {
            return Err(DecryptError::Unsupported("a TLS 1.3 suite needs Decryptor::tls13"));
        }
        if version < 0x0301 {
            return Err(DecryptError::Unsupported("SSL 3.0"));
        }
        Self::build(spec, keys, version, encrypt_then_mac && spec.bulk.block_len() > 0, None)
            .map_err(|_| DecryptError::Unsupported("key of the wrong length for the suite"))
    }

    /// A decryptor for TLS 1.3 records protected with `traffic_secret`
    /// (from the key log or the key schedule). The sequence number starts
    /// at 0.
    pub fn tls13(spec: &CipherSpec, traffic_secret: &[u8]) -> Result<Decryptor, KeyError> {
        if !spec.tls13 {
            return Err(KeyError::BadKey);
        }
        let keys = RecordKeys::from_traffic_secret(spec, traffic_secret)?;
        let secret = Secret::new(traffic_secret).ok_or(KeyError::TooLong)?;
        Self::build(spec, &keys, 0x0304, false, Some(secret))
    }

    fn build(
        spec: &CipherSpec,
        keys: &RecordKeys,
        version: u16,
        encrypt_then_mac: bool,
        traffic_secret: Option<Secret>,
    ) -> Result<Decryptor, KeyError> {
        let iv_len = spec.fixed_iv_len(version);
        if keys.iv.len() != iv_len {
            return Err(KeyError::BadKey);
        }
        let mut iv = [0u8; 16];
        iv.get_mut(..iv_len).ok_or(KeyError::BadKey)?.copy_from_slice(keys.iv.as_bytes());
        Ok(Decryptor {
            spec: *spec,
            engine: Engine::new(spec.bulk, keys.key.as_bytes())?,
            mac: MacKey::new(spec.mac, keys.mac_key.as_bytes())?,
            iv,
            iv_len,
            seq: 0,
            version,
            encrypt_then_mac,
            traffic_secret,
            failed_last_block: None,
        })
    }

    /// The suite.
    pub fn spec(&self) -> &CipherSpec {
        &self.spec
    }

    /// The sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sets the sequence number of the next record (for a capture that
    /// starts mid-connection, or to retry).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// Gives up on a record that failed to decrypt and moves on as its
    /// sender did: the sequence number goes up by one and, in TLS 1.0 CBC,
    /// the next IV is the failed record's last ciphertext block.
    pub fn skip_record(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        if let Some(last) = self.failed_last_block.take() {
            self.iv = last;
        }
    }

    /// TLS 1.3 KeyUpdate ([RFC 8446 §4.6.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.3)):
    /// moves to the next traffic secret, with new key and IV and the
    /// sequence number back at 0.
    pub fn key_update(&mut self) -> Result<(), KeyError> {
        let current = self.traffic_secret.as_ref().ok_or(KeyError::BadKey)?;
        let next = keys::next_traffic_secret(self.spec.hash, current.as_bytes())?;
        *self = Self::tls13(&self.spec, next.as_bytes())?;
        Ok(())
    }

    /// The current TLS 1.3 traffic secret (it changes with each KeyUpdate).
    pub fn traffic_secret(&self) -> Option<&Secret> {
        self.traffic_secret.as_ref()
    }

    /// Decrypts one record in place: `header` is its 5-byte header, `body`
    /// the bytes after it. On success the sequence number moves on and the
    /// plaintext is a view into `body`; on error nothing changes but `body`
    /// may have been overwritten (see the module docs).
    pub fn decrypt<'a>(
        &mut self,
        header: &[u8; 5],
        body: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        self.decrypt_from(header, None, body)
    }

    /// As [`Decryptor::decrypt`], but the record's body is read from `input`
    /// and left as it is; the plaintext is written to `out`, which must be
    /// as long as `input`. An AEAD record is then read once and its
    /// plaintext written once (no copy of the ciphertext first), and a
    /// failed attempt leaves nothing to restore.
    pub fn decrypt_into<'a>(
        &mut self,
        header: &[u8; 5],
        input: &[u8],
        out: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        if input.len() != out.len() {
            return Err(DecryptError::BadLength);
        }
        self.decrypt_from(header, Some(input), out)
    }

    fn decrypt_from<'a>(
        &mut self,
        header: &[u8; 5],
        input: Option<&[u8]>,
        buf: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        let [content_type, ..] = *header;
        let p = if self.spec.tls13 {
            self.open_tls13(header, input, buf)?
        } else if self.spec.bulk.is_aead() {
            self.open_tls12_aead(header, content_type, input, buf)?
        } else {
            if let Some(input) = input {
                buf.copy_from_slice(input);
            }
            if self.encrypt_then_mac {
                self.open_etm(header, content_type, buf)?
            } else {
                self.open_mte(header, content_type, buf)?
            }
        };
        self.seq = self.seq.wrapping_add(1);
        self.failed_last_block = None;
        Ok(p)
    }

    /// `iv XOR (0^4 || seq)`: the per-record nonce of TLS 1.3 and of
    /// ChaCha20-Poly1305 in TLS 1.2.
    fn xor_nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        for (n, i) in nonce.iter_mut().zip(self.iv.iter()) {
            *n = *i;
        }
        for (n, s) in nonce.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    fn open_tls13<'a>(
        &self,
        header: &[u8; 5],
        input: Option<&[u8]>,
        buf: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        let tag_len = self.spec.bulk.tag_len();
        if buf.len() < tag_len {
            return Err(DecryptError::TooShort);
        }
        let n = self.engine.open(self.xor_nonce(), header, input, buf, tag_len)?;
        let inner = buf.get(..n).unwrap_or_default();
        // TLSInnerPlaintext: content || type || zeros.
        let end = inner.iter().rposition(|&b| b != 0).ok_or(DecryptError::BadPadding)?;
        let (data, rest) = inner.split_at(end);
        let (&content_type, zeros) = rest.split_first().ok_or(DecryptError::BadPadding)?;
        Ok(Plaintext { content_type, data, padding: zeros.len() })
    }

    fn open_tls12_aead<'a>(
        &self,
        header: &[u8; 5],
        content_type: u8,
        input: Option<&[u8]>,
        buf: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        let tag_len = self.spec.bulk.tag_len();
        let explicit = self.spec.record_iv_len(self.version);
        let mut nonce = self.xor_nonce();
        if explicit > 0 {
            // GCM/CCM: implicit 4 bytes || explicit 8 bytes.
            let body: &[u8] = input.unwrap_or(buf);
            let explicit_nonce = body.get(..explicit).ok_or(DecryptError::TooShort)?;
            let (salt, tail) = nonce.split_at_mut(4);
            salt.copy_from_slice(self.iv.get(..4).unwrap_or(&[0; 4]));
            tail.iter_mut().zip(explicit_nonce).for_each(|(t, e)| *t = *e);
        }
        let in_out = buf.get_mut(explicit..).ok_or(DecryptError::TooShort)?;
        let input = match input {
            Some(i) => Some(i.get(explicit..).ok_or(DecryptError::TooShort)?),
            None => None,
        };
        let plain_len = in_out.len().checked_sub(tag_len).ok_or(DecryptError::TooShort)?;
        let aad = self.aad(header, plain_len)?;
        let n = self.engine.open(nonce, &aad, input, in_out, tag_len)?;
        Ok(Plaintext { content_type, data: in_out.get(..n).unwrap_or_default(), padding: 0 })
    }

    /// `seq || type || version || length` (RFC 5246 §6.2.3.3).
    fn aad(&self, header: &[u8; 5], len: usize) -> Result<[u8; 13], DecryptError> {
        let len = u16::try_from(len).map_err(|_| DecryptError::BadLength)?;
        let mut aad = [0u8; 13];
        let (s, rest) = aad.split_at_mut(8);
        s.copy_from_slice(&self.seq.to_be_bytes());
        let (t, l) = rest.split_at_mut(3);
        t.copy_from_slice(header.get(..3).unwrap_or(&[0; 3]));
        l.copy_from_slice(&len.to_be_bytes());
        Ok(aad)
    }

    /// Splits a CBC record into its IV (explicit, or the chained one) and
    /// the ciphertext, and remembers the last ciphertext block for TLS 1.0.
    fn cbc_parts<'a>(
        &mut self,
        body: &'a mut [u8],
    ) -> Result<([u8; 16], &'a mut [u8]), DecryptError> {
        let block = self.spec.bulk.block_len();
        let explicit = self.spec.record_iv_len(self.version);
        let mut iv = [0u8; 16];
        let data = if explicit > 0 {
            let (head, rest) = body.split_at_mut_checked(explicit).ok_or(DecryptError::TooShort)?;
            iv.get_mut(..explicit).ok_or(DecryptError::TooShort)?.copy_from_slice(head);
            rest
        } else {
            iv = self.iv;
            body
        };
        if data.is_empty() {
            return Err(DecryptError::TooShort);
        }
        if !data.len().is_multiple_of(block) {
            return Err(DecryptError::BadLength);
        }
        self.remember_last_block(data);
        Ok((iv, data))
    }

    /// TLS 1.0 CBC: keeps the record's last ciphertext block, the next
    /// record's IV (used by [`Decryptor::chain`] or
    /// [`Decryptor::skip_record`]).
    fn remember_last_block(&mut self, data: &[u8]) {
        let block = self.spec.bulk.block_len();
        if self.iv_len == 0 || block == 0 {
            return;
        }
        let Some(at) = data.len().checked_sub(block) else { return };
        let mut last = [0u8; 16];
        if let (Some(dst), Some(src)) = (last.get_mut(..block), data.get(at..)) {
            dst.copy_from_slice(src);
            self.failed_last_block = Some(last);
        }
    }

    /// After a successful CBC record in TLS 1.0, the next IV.
    fn chain(&mut self) {
        if let Some(last) = self.failed_last_block.take() {
            self.iv = last;
        }
    }

    /// Checks TLS CBC padding at the end of `plain`, with at least
    /// `reserved` bytes before it; returns what comes before it and its
    /// length including the length byte.
    fn strip_padding(plain: &[u8], reserved: usize) -> Result<(&[u8], usize), DecryptError> {
        let &pad = plain.last().ok_or(DecryptError::BadPadding)?;
        let total = usize::from(pad) + 1;
        let start = plain
            .len()
            .checked_sub(total)
            .filter(|&start| start >= reserved)
            .ok_or(DecryptError::BadPadding)?;
        let (kept, bytes) = plain.split_at_checked(start).ok_or(DecryptError::BadPadding)?;
        if bytes.iter().any(|&b| b != pad) {
            return Err(DecryptError::BadPadding);
        }
        Ok((kept, total))
    }

    fn open_mte<'a>(
        &mut self,
        header: &[u8; 5],
        content_type: u8,
        body: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        let mac_len = self.spec.mac_len();
        let (padding, plain): (usize, &'a [u8]) = if matches!(self.engine, Engine::Null) {
            (0, body)
        } else {
            let (iv, data) = self.cbc_parts(body)?;
            let Engine::Cbc(cipher) = &self.engine else {
                return Err(DecryptError::Unsupported("not a CBC or NULL cipher"));
            };
            let block = self.spec.bulk.block_len();
            cipher.decrypt(iv.get(..block).unwrap_or_default(), data)?;
            let data: &'a [u8] = data;
            let (kept, padding) = Self::strip_padding(data, mac_len)?;
            (padding, kept)
        };
        let mac = self.mac.as_ref().ok_or(DecryptError::Unsupported("a cipher without a MAC"))?;
        let content_len = plain.len().checked_sub(mac_len).ok_or(DecryptError::TooShort)?;
        let (content, tag) = plain.split_at(content_len);
        if !mac.verify(self.seq, header, content_len, &[content], tag) {
            return Err(DecryptError::BadMac);
        }
        self.chain();
        Ok(Plaintext { content_type, data: content, padding })
    }

    fn open_etm<'a>(
        &mut self,
        header: &[u8; 5],
        content_type: u8,
        body: &'a mut [u8],
    ) -> Result<Plaintext<'a>, DecryptError> {
        let mac_len = self.spec.mac_len();
        let covered_len = body.len().checked_sub(mac_len).ok_or(DecryptError::TooShort)?;
        let (covered, tag) = body.split_at_mut(covered_len);
        // TLS 1.0 chains the IV even past a record whose MAC fails.
        self.remember_last_block(covered);
        let mac = self.mac.as_ref().ok_or(DecryptError::Unsupported("CBC without a MAC"))?;
        // RFC 7366 §3: the MAC covers IV || ciphertext, with their length.
        if !mac.verify(self.seq, header, covered_len, &[covered], tag) {
            return Err(DecryptError::BadMac);
        }
        let (iv, data) = self.cbc_parts(covered)?;
        let Engine::Cbc(cipher) = &self.engine else {
            return Err(DecryptError::Unsupported("not a CBC cipher"));
        };
        let block = self.spec.bulk.block_len();
        cipher.decrypt(iv.get(..block).unwrap_or_default(), data)?;
        let data: &'a [u8] = data;
        let (data, padding) = Self::strip_padding(data, 0)?;
        self.chain();
        Ok(Plaintext { content_type, data, padding })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::keylog::KeyLog;
    use crate::tls::keys::tests::{
        S3_CERTIFICATE, S3_CERTIFICATE_VERIFY, S3_CLIENT_FINISHED, S3_ENCRYPTED_EXTENSIONS,
        S3_SERVER_FINISHED, unhex,
    };

    // RFC 8448 records, as transcribed in randombit/botan
    // src/tests/data/tls_13_rfc8448/transcripts.vec (see keys.rs for the
    // secrets and where they come from).
    const S3_SERVER_HANDSHAKE_RECORD: &str = "17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b";
    const S3_CLIENT_FINISHED_RECORD: &str = "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1caeacab6867d726c40546";
    const S3_TICKET_RECORD: &str = "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f";
    const S3_TICKET: &str = "040000c90000001efad6aac502000000b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c621a79141ef5f7de6505e5bfbc388e93343694093934ae4d3570008002a000400000400";
    const S3_CLIENT_DATA_RECORD: &str = "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
    const S3_SERVER_DATA_RECORD: &str = "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";
    const S3_CLIENT_ALERT_RECORD: &str = "1703030013c9872760655666b74d7ff1153efd6db6d0b0e3";
    const S3_SERVER_ALERT_RECORD: &str = "1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9";

    const S3_CLIENT_RANDOM: &str =
        "cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7";
    const S3_C_HS: &str = "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21";
    const S3_S_HS: &str = "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38";
    const S3_C_AP: &str = "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5";
    const S3_S_AP: &str = "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643";

    fn aes128gcm() -> CipherSpec {
        CipherSpec::from_suite(0x1301).unwrap()
    }

    fn split(record: &str) -> ([u8; 5], Vec<u8>) {
        let r = unhex(record);
        (r[..5].try_into().unwrap(), r[5..].to_vec())
    }

    /// Decrypts `record` with `d`, expecting `content_type` and `data`.
    fn open(d: &mut Decryptor, record: &str, content_type: u8, data: &[u8]) {
        let (h, mut body) = split(record);
        let seq = d.seq();
        let p = d.decrypt(&h, &mut body).unwrap();
        assert_eq!(p.content_type, content_type);
        assert_eq!(p.data, data);
        assert_eq!(p.padding, 0);
        assert_eq!(d.seq(), seq + 1);
    }

    fn app_payload() -> Vec<u8> {
        (0u8..0x32).collect()
    }

    fn section3_with(c_hs: &[u8], s_hs: &[u8], c_ap: &[u8], s_ap: &[u8]) {
        let spec = aes128gcm();
        let mut server_hs = Decryptor::tls13(&spec, s_hs).unwrap();
        let flight: Vec<u8> =
            [S3_ENCRYPTED_EXTENSIONS, S3_CERTIFICATE, S3_CERTIFICATE_VERIFY, S3_SERVER_FINISHED]
                .iter()
                .flat_map(|m| unhex(m))
                .collect();
        open(&mut server_hs, S3_SERVER_HANDSHAKE_RECORD, 22, &flight);
        let mut client_hs = Decryptor::tls13(&spec, c_hs).unwrap();
        open(&mut client_hs, S3_CLIENT_FINISHED_RECORD, 22, &unhex(S3_CLIENT_FINISHED));
        let mut server_ap = Decryptor::tls13(&spec, s_ap).unwrap();
        open(&mut server_ap, S3_TICKET_RECORD, 22, &unhex(S3_TICKET));
        let mut client_ap = Decryptor::tls13(&spec, c_ap).unwrap();
        open(&mut client_ap, S3_CLIENT_DATA_RECORD, 23, &app_payload());
        open(&mut server_ap, S3_SERVER_DATA_RECORD, 23, &app_payload());
        open(&mut client_ap, S3_CLIENT_ALERT_RECORD, 21, &[1, 0]);
        open(&mut server_ap, S3_SERVER_ALERT_RECORD, 21, &[1, 0]);
    }

    #[test]
    fn rfc8448_section3_records_decrypt_with_the_listed_secrets() {
        section3_with(&unhex(S3_C_HS), &unhex(S3_S_HS), &unhex(S3_C_AP), &unhex(S3_S_AP));
    }

    #[test]
    fn rfc8448_section3_records_decrypt_through_the_key_log() {
        let text = format!(
            "# RFC 8448 section 3\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {S3_CLIENT_RANDOM} {S3_C_HS}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {S3_CLIENT_RANDOM} {S3_S_HS}\n\
             CLIENT_TRAFFIC_SECRET_0 {S3_CLIENT_RANDOM} {S3_C_AP}\n\
             SERVER_TRAFFIC_SECRET_0 {S3_CLIENT_RANDOM} {S3_S_AP}\n\
             EXPORTER_SECRET {S3_CLIENT_RANDOM} fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50\n"
        );
        let (log, diags) = KeyLog::from_text(text.as_bytes(), "rfc8448.keys");
        assert!(diags.is_empty(), "{diags:?}");
        // The client random is the one in §3's ClientHello.
        let hello = unhex(crate::tls::keys::tests::S3_CLIENT_HELLO);
        let cr: [u8; 32] = hello[6..38].try_into().unwrap();
        assert_eq!(cr.to_vec(), unhex(S3_CLIENT_RANDOM));
        let s = log.lookup(&cr).unwrap();
        assert!(s.has_tls13_traffic());
        section3_with(
            s.client_handshake.as_ref().unwrap().as_bytes(),
            s.server_handshake.as_ref().unwrap().as_bytes(),
            s.client_app0.as_ref().unwrap().as_bytes(),
            s.server_app0.as_ref().unwrap().as_bytes(),
        );
    }

    #[test]
    fn rfc8448_section4_early_data_and_resumed_handshake_records() {
        let spec = aes128gcm();
        let c_e = unhex("3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62");
        let c_hs = unhex("2faac08f851d35fea3604fcb4de82dc62c9b164a70974d0462e27f1ab278700f");
        let s_hs = unhex("fe927ae271312e8bf0275b581c54eef020450dc4ecffaa05a1a35d27518e7803");
        let c_ap = unhex("2abbf2b8e381d23dbebe1dd2a7d16a8bf484cb4950d23fb7fb7fa8547062d9a1");
        let s_ap = unhex("cc21f1bf8feb7dd5fa505bd9c4b468a9984d554a993dc49e6d285598fb672691");
        let mut early = Decryptor::tls13(&spec, &c_e).unwrap();
        open(&mut early, "1703030017ab1df420e75c457a7cc5d2844f76d5aee4b4edbf049be0", 23, b"ABCDEF");
        let mut server_hs = Decryptor::tls13(&spec, &s_hs).unwrap();
        let ee_fin = unhex(
            "080000280026000a00140012001d00170018001901000101010201030104001c0002400100000000002a0000\
             1400002048d3e0e1b3d907c6acff145e16090388c77b05c050b634ab1a88bbd0dd1a34b2",
        );
        open(
            &mut server_hs,
            "1703030061dc48237b4b879f50d0d4d262ea8b4716eb40ddc1eb957e11126e8a7149c2d012d37a7115957e64ce30008b9e0323f2c05a9c1c77b4f37849a695ab255060a33fee770ca95cb8486bfd0843b87024865ca35cc41c4e515c64dcb1369f98635bc7a5",
            22,
            &ee_fin,
        );
        // EndOfEarlyData still goes under the early keys (RFC 8446 §4.5),
        // the client Finished under the handshake keys.
        open(
            &mut early,
            "1703030015aca6fc944841298df99593725f9bf9754429b12f09",
            22,
            &unhex("05000000"),
        );
        let mut client_hs = Decryptor::tls13(&spec, &c_hs).unwrap();
        open(
            &mut client_hs,
            "170303003500f8b467d14cf22a4b3f0b6ae0d8e6cc8d08e0db3515ef5c2bdf1922eafbb70009964716d834fb70c3d2a56c5b1f5f6bdba6c333cf",
            22,
            &unhex("140000207230a9c952c25cd6138fc5e6628308c41c5335dd81b9f96bcea50fd32bda416d"),
        );
        let mut client_ap = Decryptor::tls13(&spec, &c_ap).unwrap();
        open(
            &mut client_ap,
            "1703030043b1cebce242aa201be9ae5e1cb2a9aa4b33d4e866af1edb068919237741aa031d7a74d491c99b9d4e232b74206bc6fbaa04fe78be44a9b4f54320a17eb76992afac3103",
            23,
            &app_payload(),
        );
        let mut server_ap = Decryptor::tls13(&spec, &s_ap).unwrap();
        open(
            &mut server_ap,
            "1703030043275e9f20acff57bc000657d3867df039cccf79047884cf75771746f740b5a83f462a0954c3581393a203a25a7dd14141ef1a37900cdb62ff62dee1ba39ab2590cbf194",
            23,
            &app_payload(),
        );
        open(&mut client_ap, "17030300130facce3246bdfc6369838d6a82ae6de5d422dc", 21, &[1, 0]);
        open(&mut server_ap, "17030300135b18af444e8e1eec7158fb62d8f2577d37ba5d", 21, &[1, 0]);
    }

    #[test]
    fn rfc8448_section5_hello_retry_request_records() {
        let spec = aes128gcm();
        let s_hs = unhex("3403e781e2af7b6508da28574f6e95a1abf162de83a97927c37672a4a0cef8a1");
        let c_hs = unhex("158aa7ab8855073582b41d674b4055cabcc534728f659314861b4e08e2011566");
        let mut server_hs = Decryptor::tls13(&spec, &s_hs).unwrap();
        let record = "170303029699bee20baf5b7fc727bfab6223928a381e6d0cf9c4da653f9d2a7b23f7de11cce842d5cf75631763450ffb8b0cc1d238e658af7a12adc86243114ab14a1da2fae42621ce483fb6242eabfaad52566b02b31d2eddedefeb80e66a9900d5f973b40c4fdf74719ecf1b68d7f9c3b6ceb903ca13dd1bb8f8187ae33417e1d152522c5822a1a03ad52c838c55953d610222874cce8e1790b229a2aa0b53c8d377ee720182951dc6181dc5d90bd1f0105ed1e84aa5f75957c6661897079e5ea5007449e3197bdc7c9beeedddeafdd844afa5c315ecfe65e576afe909812880620ec7048b42d7f5c78d76f299d6d82534bdd8f512febc0ed3814aca470cd8000d3e1cb9962b052fbb950df683a52c2ba77ed3713b122937a6e5170964e2ab7969dcd980b3db9b458da7603124d6dc005e4d6e04b4d0c4baf3275db827dbba0a6db09672171fc057b3851d7e026841e2978fbd2346bbefdd0376bb1108fe9acc92189f5650aa5e85d8e8c7b67ac510dba003d3d7e16350bb66d45013efd44c9b607c0d318c4c7d1a1f5cbc57e20611804e3787d7b4a4b5f08ed8fd70bdaeade02260b12ab842ef690b4a3ee7911e841b374ecd5ebbbc2a54d047b600336dd7d0c88b4bc10e58ee6cb656de7247fa20d8e91deb84628608cf80615b62e96c1491c7ac3755eb6901405d3474fe1ac79d106a0cee56c2577fc88480f96cb6b8c681b7b68b53c146093908f350888175bdfb0b1e31ad61e30ba0adfe6d223aa03c0783b5001a57587c328a9afcfcfb978d1cd4328f7d9d60530e630befd96c0c816ee20b0100768ae2a6df51fc68f172740a79af11398ee3be1252491fa9c693479e877f94ab7c5f8cad480203e6ab7b87dd71e8a0729113df17f5eee86ce108d1d72007ec1cd13c85a6c149621e77b7d78d805a30f0be030c315e54";
        let (h, mut body) = split(record);
        let p = server_hs.decrypt(&h, &mut body).unwrap();
        assert_eq!(p.content_type, 22);
        assert!(
            p.data.starts_with(&unhex("080000180016000a0008000600170018001d001c0002400100000000"))
        );
        assert!(p.data.ends_with(&unhex(
            "140000208863e6bfb0420a927fa27f34336a70ae426e968e3eb884945b96856dba3976d1"
        )));
        let mut client_hs = Decryptor::tls13(&spec, &c_hs).unwrap();
        let (h, mut body) = split(
            "1703030035d74f1923c662fd34137c6f502f3dd2b93d951d1b3bc97e42afe23c31abea92fe91b474999e85e3b791ce252fe8c3e9f939a4120cb2",
        );
        let p = client_hs.decrypt(&h, &mut body).unwrap();
        assert_eq!((p.content_type, p.data.len()), (22, 36));
        assert!(p.data.starts_with(&[0x14, 0, 0, 0x20]));
    }

    #[test]
    fn wrong_key_flipped_byte_and_wrong_seq_fail_without_moving_on() {
        let spec = aes128gcm();
        let (h, body) = split(S3_CLIENT_FINISHED_RECORD);
        let mut wrong = Decryptor::tls13(&spec, &unhex(S3_S_HS)).unwrap();
        assert_eq!(wrong.decrypt(&h, &mut body.clone()), Err(DecryptError::TagMismatch));
        assert_eq!(wrong.seq(), 0);
        let mut d = Decryptor::tls13(&spec, &unhex(S3_C_HS)).unwrap();
        for i in 0..body.len() {
            let mut b = body.clone();
            b[i] ^= 0x01;
            assert_eq!(d.decrypt(&h, &mut b), Err(DecryptError::TagMismatch), "byte {i}");
        }
        // The header is authenticated too.
        let mut h2 = h;
        h2[2] = 0x01;
        assert_eq!(d.decrypt(&h2, &mut body.clone()), Err(DecryptError::TagMismatch));
        d.set_seq(1);
        assert_eq!(d.decrypt(&h, &mut body.clone()), Err(DecryptError::TagMismatch));
        assert_eq!(d.seq(), 1);
        d.set_seq(0);
        assert!(d.decrypt(&h, &mut body.clone()).is_ok());
        assert_eq!(d.seq(), 1);
    }

    #[test]
    fn truncated_records_fail_cleanly() {
        let spec = aes128gcm();
        let (h, body) = split(S3_CLIENT_FINISHED_RECORD);
        let mut d = Decryptor::tls13(&spec, &unhex(S3_C_HS)).unwrap();
        for n in 0..body.len() {
            let mut b = body[..n].to_vec();
            let e = d.decrypt(&h, &mut b).unwrap_err();
            let want = if n < 16 { DecryptError::TooShort } else { DecryptError::TagMismatch };
            assert_eq!(e, want, "{n} bytes");
        }
        assert_eq!(d.seq(), 0);
    }

    #[test]
    fn key_update_moves_to_the_next_traffic_secret() {
        let spec = aes128gcm();
        let mut d = Decryptor::tls13(&spec, &unhex(S3_C_AP)).unwrap();
        d.set_seq(7);
        d.key_update().unwrap();
        assert_eq!(d.seq(), 0);
        let next = keys::next_traffic_secret(HashAlg::Sha256, &unhex(S3_C_AP)).unwrap();
        assert_eq!(d.traffic_secret(), Some(&next));
        let mut tls12 = Decryptor::new(
            &CipherSpec::from_suite(0xc02f).unwrap(),
            &RecordKeys {
                key: Secret::new(&[0; 16]).unwrap(),
                mac_key: Secret::new(&[]).unwrap(),
                iv: Secret::new(&[0; 4]).unwrap(),
            },
            0x0303,
            false,
        )
        .unwrap();
        assert!(tls12.key_update().is_err());
        assert!(!format!("{tls12:?}").contains("[0,"));
    }

    #[test]
    fn cipher_specs_from_the_registry() {
        let s = CipherSpec::from_suite(0x1301).unwrap();
        assert_eq!(
            (s.bulk, s.mac, s.hash, s.tls13),
            (Bulk::AesGcm { key_len: 16 }, Mac::Aead, HashAlg::Sha256, true)
        );
        let s = CipherSpec::from_suite(0x1302).unwrap();
        assert_eq!((s.bulk, s.hash), (Bulk::AesGcm { key_len: 32 }, HashAlg::Sha384));
        let s = CipherSpec::from_suite(0x1305).unwrap();
        assert_eq!(s.bulk, Bulk::AesCcm { key_len: 16, tag_len: 8 });
        let s = CipherSpec::from_suite(0xc030).unwrap(); // ECDHE-RSA-AES256-GCM-SHA384
        assert_eq!(
            (s.bulk, s.hash, s.key_block_lengths(0x0303)),
            (Bulk::AesGcm { key_len: 32 }, HashAlg::Sha384, (0, 32, 4))
        );
        assert_eq!(s.record_iv_len(0x0303), 8);
        let s = CipherSpec::from_suite(0xcca8).unwrap(); // ECDHE-RSA-CHACHA20-POLY1305
        assert_eq!(
            (s.bulk, s.key_block_lengths(0x0303), s.record_iv_len(0x0303)),
            (Bulk::ChaCha20Poly1305, (0, 32, 12), 0)
        );
        let s = CipherSpec::from_suite(0x002f).unwrap(); // AES128-SHA
        assert_eq!(
            (s.bulk, s.mac, s.hash),
            (Bulk::AesCbc { key_len: 16 }, Mac::Sha1, HashAlg::Sha256)
        );
        assert_eq!(s.key_block_lengths(0x0301), (20, 16, 16));
        assert_eq!(s.key_block_lengths(0x0303), (20, 16, 0));
        assert_eq!((s.record_iv_len(0x0301), s.record_iv_len(0x0302)), (0, 16));
        assert_eq!(s.prf(0x0302), Prf::Tls10);
        let s = CipherSpec::from_suite(0xc028).unwrap(); // ECDHE-RSA-AES256-SHA384
        assert_eq!(
            (s.mac, s.hash, s.prf(0x0303)),
            (Mac::Sha384, HashAlg::Sha384, Prf::Tls12(HashAlg::Sha384))
        );
        let s = CipherSpec::from_suite(0x000a).unwrap();
        assert_eq!((s.bulk, s.key_block_lengths(0x0301)), (Bulk::TripleDesCbc, (20, 24, 8)));
        let s = CipherSpec::from_suite(0x0041).unwrap();
        assert_eq!(s.bulk, Bulk::CamelliaCbc { key_len: 16 });
        let s = CipherSpec::from_suite(0xc0a0).unwrap(); // RSA AES128-CCM8
        assert_eq!(
            (s.bulk, s.hash, s.key_block_lengths(0x0303)),
            (Bulk::AesCcm { key_len: 16, tag_len: 8 }, HashAlg::Sha256, (0, 16, 4))
        );
        let s = CipherSpec::from_suite(0x003b).unwrap(); // NULL-SHA256
        assert_eq!((s.bulk, s.mac), (Bulk::Null, Mac::Sha256));
        assert_eq!(CipherSpec::from_suite(0x0005), Err(DecryptError::Unsupported("RC4_128")));
        assert_eq!(
            CipherSpec::from_suite(0x0000),
            Err(DecryptError::Unsupported("TLS_NULL_WITH_NULL_NULL"))
        );
        assert!(CipherSpec::from_suite(0x00ff).is_err());
        assert!(CipherSpec::from_suite(0x1a1a).is_err());
        assert!(CipherSpec::from_suite(0xc0b4).is_err()); // TLS_SHA256_SHA256
        // Every suite IANA names either has a spec or a reason.
        for s in registry::cipher_suites() {
            match CipherSpec::from_suite(s.id) {
                Ok(spec) => assert!(spec.key_len() > 0 || spec.bulk == Bulk::Null, "{}", s.name),
                Err(DecryptError::Unsupported(why)) => assert!(!why.is_empty()),
                Err(e) => panic!("{}: {e}", s.name),
            }
        }
    }

    /// Builds a CBC record as a TLS sender does (RustCrypto's CBC and HMAC),
    /// MAC-then-encrypt or encrypt-then-MAC, with an explicit IV or not.
    fn cbc_record(
        key: &[u8],
        mac_key: &[u8],
        iv: [u8; 8],
        seq: u64,
        version: u16,
        content: &[u8],
        etm: bool,
    ) -> ([u8; 5], Vec<u8>) {
        use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
        let mac = |data: &[u8]| {
            let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(mac_key).unwrap();
            hmac::Mac::update(&mut m, &seq.to_be_bytes());
            hmac::Mac::update(&mut m, &[23]);
            hmac::Mac::update(&mut m, &version.to_be_bytes());
            hmac::Mac::update(&mut m, &(data.len() as u16).to_be_bytes());
            hmac::Mac::update(&mut m, data);
            hmac::Mac::finalize(m).into_bytes().to_vec()
        };
        let mut plain = content.to_vec();
        if !etm {
            plain.extend(mac(content));
        }
        let pad = 7 - plain.len() % 8;
        plain.extend(std::iter::repeat_n(pad as u8, pad + 1));
        let mut enc = cbc::Encryptor::<TdesEde3>::new_from_slices(key, &iv).unwrap();
        let (blocks, rest) = Array::slice_as_chunks_mut(&mut plain);
        assert!(rest.is_empty());
        enc.encrypt_blocks(blocks);
        let mut body = if version >= 0x0302 { iv.to_vec() } else { Vec::new() };
        body.extend(plain);
        if etm {
            let t = mac(&body);
            body.extend(t);
        }
        let len = (body.len() as u16).to_be_bytes();
        let v = version.to_be_bytes();
        ([23, v[0], v[1], len[0], len[1]], body)
    }

    #[test]
    fn triple_des_cbc_records_mac_then_encrypt_and_encrypt_then_mac() {
        let spec = CipherSpec::from_suite(0x000a).unwrap(); // TLS_RSA_WITH_3DES_EDE_CBC_SHA
        let key: Vec<u8> = (1..=24).collect();
        let mac_key = [9u8; 20];
        for etm in [false, true] {
            // TLS 1.1: explicit IV per record.
            let keys = RecordKeys {
                key: Secret::new(&key).unwrap(),
                mac_key: Secret::new(&mac_key).unwrap(),
                iv: Secret::new(&[]).unwrap(),
            };
            let mut d = Decryptor::new(&spec, &keys, 0x0302, etm).unwrap();
            for (seq, msg) in
                [&b"hello"[..], b"", b"a longer message of 31 bytes..."].iter().enumerate()
            {
                let (h, mut body) =
                    cbc_record(&key, &mac_key, [seq as u8; 8], seq as u64, 0x0302, msg, etm);
                let p = d.decrypt(&h, &mut body).unwrap();
                assert_eq!((p.content_type, p.data), (23, *msg));
                assert!(p.padding >= 1 && p.padding <= 8);
            }
            // TLS 1.0: the IV of each record is the last ciphertext block of the one before.
            let iv0 = [7u8; 8];
            let keys = RecordKeys { iv: Secret::new(&iv0).unwrap(), ..keys };
            let mut d = Decryptor::new(&spec, &keys, 0x0301, etm).unwrap();
            let (h1, body1) = cbc_record(&key, &mac_key, iv0, 0, 0x0301, b"first", etm);
            let cipher_end = body1.len() - if etm { 20 } else { 0 };
            let iv1: [u8; 8] = body1[cipher_end - 8..cipher_end].try_into().unwrap();
            let (h2, body2) = cbc_record(&key, &mac_key, iv1, 1, 0x0301, b"second", etm);
            // A damaged first record fails; skip_record still chains past it.
            // (Damage that leaves the last ciphertext block as sent: the
            // first block under MAC-then-encrypt, the MAC under EtM.)
            let mut bad = body1.clone();
            let at = if etm { bad.len() - 1 } else { 0 };
            bad[at] ^= 1;
            assert!(d.decrypt(&h1, &mut bad).is_err());
            assert_eq!(d.seq(), 0);
            d.skip_record();
            assert_eq!(d.decrypt(&h2, &mut body2.clone()).unwrap().data, b"second");
            let mut d = Decryptor::new(&spec, &keys, 0x0301, etm).unwrap();
            assert_eq!(d.decrypt(&h1, &mut body1.clone()).unwrap().data, b"first");
            assert_eq!(d.decrypt(&h2, &mut body2.clone()).unwrap().data, b"second");
            // Every truncation fails cleanly.
            for n in 0..body2.len() {
                let mut d = Decryptor::new(&spec, &keys, 0x0301, etm).unwrap();
                assert!(
                    d.decrypt(&h1, &mut body1[..n.min(body1.len())].to_vec()).is_err()
                        || n >= body1.len()
                );
            }
        }
        // Bad padding bytes are caught.
        let keys = RecordKeys {
            key: Secret::new(&key).unwrap(),
            mac_key: Secret::new(&mac_key).unwrap(),
            iv: Secret::new(&[]).unwrap(),
        };
        let mut d = Decryptor::new(&spec, &keys, 0x0302, false).unwrap();
        let (h, body) = cbc_record(&key, &mac_key, [1; 8], 0, 0x0302, b"x", false);
        let mut short = body[..body.len() - 3].to_vec();
        assert_eq!(d.decrypt(&h, &mut short), Err(DecryptError::BadLength));
        let mut body = body;
        let n = body.len();
        body[n - 9] ^= 0x40; // the ciphertext block before the last: flips a padding byte
        assert_eq!(d.decrypt(&h, &mut body), Err(DecryptError::BadPadding));
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        let spec = CipherSpec::from_suite(0x002f).unwrap();
        let keys = |k: usize, m: usize, iv: usize| RecordKeys {
            key: Secret::new(&vec![1; k]).unwrap(),
            mac_key: Secret::new(&vec![2; m]).unwrap(),
            iv: Secret::new(&vec![3; iv]).unwrap(),
        };
        assert!(Decryptor::new(&spec, &keys(16, 20, 0), 0x0303, false).is_ok());
        assert!(Decryptor::new(&spec, &keys(16, 20, 16), 0x0301, false).is_ok());
        assert!(Decryptor::new(&spec, &keys(15, 20, 0), 0x0303, false).is_err());
        assert!(Decryptor::new(&spec, &keys(16, 19, 0), 0x0303, false).is_err());
        assert!(Decryptor::new(&spec, &keys(16, 20, 0), 0x0301, false).is_err());
        assert!(Decryptor::new(&spec, &keys(16, 20, 0), 0x0300, false).is_err());
        assert!(Decryptor::tls13(&aes128gcm(), &[0; 48]).is_err());
        assert!(Decryptor::tls13(&spec, &[0; 32]).is_err());
    }
}
