//! Key schedules: the TLS 1.0–1.2 PRF, master secret, key block and
//! Finished, and the TLS 1.3 HKDF schedule from the early secret to the
//! traffic keys — with every intermediate value returned, so `--explain`
//! can show each step.
//!
//! The primitives are RustCrypto's `hmac`, `sha2`, `sha1`, `md-5` and
//! `hkdf`; this module only arranges them as the RFCs say:
//!
//! * TLS 1.0/1.1 PRF, [RFC 2246 §5](https://www.rfc-editor.org/rfc/rfc2246#section-5):
//!   `P_MD5(S1, label + seed) XOR P_SHA-1(S2, label + seed)` over the two
//!   halves of the secret.
//! * TLS 1.2 PRF, [RFC 5246 §5](https://www.rfc-editor.org/rfc/rfc5246#section-5):
//!   `P_<hash>(secret, label + seed)` with the suite's PRF hash.
//! * master secret [RFC 5246 §8.1](https://www.rfc-editor.org/rfc/rfc5246#section-8.1),
//!   extended master secret [RFC 7627 §4](https://www.rfc-editor.org/rfc/rfc7627#section-4),
//!   key block [RFC 5246 §6.3](https://www.rfc-editor.org/rfc/rfc5246#section-6.3),
//!   Finished [RFC 5246 §7.4.9](https://www.rfc-editor.org/rfc/rfc5246#section-7.4.9).
//! * TLS 1.3 [RFC 8446 §7](https://www.rfc-editor.org/rfc/rfc8446#section-7):
//!   HKDF-Expand-Label, Derive-Secret, the early / handshake / master
//!   secrets, traffic keys, KeyUpdate, Finished, exporters.
//!
//! Hash outputs that are not secret (transcript hashes) are `Vec<u8>`;
//! everything derived from a secret is a [`Secret`]. Nothing here panics:
//! lengths that the hash cannot produce, or secrets of the wrong length
//! (a key log line of the wrong suite), are [`KeyError`]s.

use std::fmt;

use aws_lc_rs::{digest, hmac as lc_hmac};
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::Digest;

pub use super::rsa_key::RsaError;
use super::rsa_key::{self, NotRsaKey};
use super::secret::Secret;

/// Why a key could not be derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// A secret of the wrong length for the hash (for example a 32-byte
    /// traffic secret for a SHA-384 suite).
    SecretLength {
        /// What the hash needs.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// More output than HKDF can produce (255 × hash length), or a label
    /// or context longer than 255 bytes.
    TooLong,
    /// The cipher or MAC refused the key (a wrong key length).
    BadKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::SecretLength { expected, got } => {
                write!(f, "secret is {got} bytes, the cipher suite's hash needs {expected}")
            }
            KeyError::TooLong => f.write_str("requested key material is longer than HKDF allows"),
            KeyError::BadKey => f.write_str("key of the wrong length for the cipher"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The hash of a TLS 1.2 PRF or a TLS 1.3 cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl HashAlg {
    /// Output length in bytes (32 or 48).
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }

    /// `SHA-256` or `SHA-384`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "SHA-256",
            HashAlg::Sha384 => "SHA-384",
        }
    }

    /// The hash of the concatenation of `parts`.
    pub fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        let mut d = digest::Context::new(match self {
            HashAlg::Sha256 => &digest::SHA256,
            HashAlg::Sha384 => &digest::SHA384,
        });
        parts.iter().for_each(|p| d.update(p));
        d.finish().as_ref().to_vec()
    }

    /// HMAC with this hash.
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Result<Secret, KeyError> {
        Secret::new(self.hmac_key(key).sign(parts).as_ref()).ok_or(KeyError::TooLong)
    }

    /// An HMAC key with this hash. aws-lc's SHA-2 (assembly for the CPU at
    /// hand) rather than RustCrypto's: the key schedule of every session
    /// is a tenth of a decrypting run, most of it in SHA-256.
    fn hmac_key(self, key: &[u8]) -> HmacKey {
        HmacKey(lc_hmac::Key::new(
            match self {
                HashAlg::Sha256 => lc_hmac::HMAC_SHA256,
                HashAlg::Sha384 => lc_hmac::HMAC_SHA384,
            },
            key,
        ))
    }

    fn check(self, secret: &[u8]) -> Result<(), KeyError> {
        if secret.len() == self.output_len() {
            Ok(())
        } else {
            Err(KeyError::SecretLength { expected: self.output_len(), got: secret.len() })
        }
    }
}

fn digest_parts<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().to_vec()
}

/// An HMAC key for [`p_hash`]: aws-lc's for the TLS 1.2 hashes, RustCrypto's
/// for MD5 and SHA-1 (TLS 1.0 and 1.1), which aws-lc-rs does not offer as
/// HMAC.
trait PrfMac {
    /// The MAC of the concatenation of `parts`.
    fn sign(&self, parts: &[&[u8]]) -> MacOut;
}

/// A MAC value (at most SHA-512's 64 bytes), zeroed when dropped.
struct MacOut {
    buf: [u8; 64],
    len: usize,
}

impl MacOut {
    fn new(bytes: &[u8]) -> MacOut {
        let mut buf = [0; 64];
        let len = bytes.len().min(64);
        buf.iter_mut().zip(bytes).for_each(|(b, x)| *b = *x);
        MacOut { buf, len }
    }
}

impl AsRef<[u8]> for MacOut {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Drop for MacOut {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.buf.zeroize();
    }
}

struct HmacKey(lc_hmac::Key);

impl PrfMac for HmacKey {
    fn sign(&self, parts: &[&[u8]]) -> MacOut {
        let mut c = lc_hmac::Context::with_key(&self.0);
        parts.iter().for_each(|p| c.update(p));
        MacOut::new(c.sign().as_ref())
    }
}

struct RustCryptoMac<M>(M);

impl<M: Mac + Clone> PrfMac for RustCryptoMac<M> {
    fn sign(&self, parts: &[&[u8]]) -> MacOut {
        let mut m = self.0.clone();
        parts.iter().for_each(|p| m.update(p));
        MacOut::new(&m.finalize().into_bytes())
    }
}

fn rust_crypto_mac<M: Mac + KeyInit>(key: &[u8]) -> Result<RustCryptoMac<M>, KeyError> {
    <M as KeyInit>::new_from_slice(key).map(RustCryptoMac).map_err(|_| KeyError::BadKey)
}

// ---------------------------------------------------------------------------
// TLS 1.0 – 1.2

/// The pseudorandom function of TLS 1.0–1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prf {
    /// TLS 1.0 and 1.1: P_MD5 XOR P_SHA-1 over the two halves of the secret.
    Tls10,
    /// TLS 1.2 with the cipher suite's PRF hash.
    Tls12(HashAlg),
}

impl Prf {
    /// The PRF for a protocol version (`0x0301`..`0x0303`) and the suite's
    /// PRF hash: TLS 1.0 and 1.1 always use MD5/SHA-1.
    pub fn for_version(version: u16, hash: HashAlg) -> Prf {
        if version >= 0x0303 { Prf::Tls12(hash) } else { Prf::Tls10 }
    }

    /// `P_MD5 XOR P_SHA-1`, `P_SHA256` or `P_SHA384`.
    pub fn name(self) -> &'static str {
        match self {
            Prf::Tls10 => "P_MD5 XOR P_SHA-1",
            Prf::Tls12(HashAlg::Sha256) => "P_SHA256",
            Prf::Tls12(HashAlg::Sha384) => "P_SHA384",
        }
    }

    /// The handshake hash that Finished and the extended master secret
    /// take: `MD5(m) + SHA-1(m)` (36 bytes) for TLS 1.0/1.1, the PRF hash
    /// for TLS 1.2. `messages` are the handshake messages with their
    /// 4-byte headers, in order.
    pub fn transcript_hash(self, messages: &[&[u8]]) -> Vec<u8> {
        match self {
            Prf::Tls10 => {
                let mut out = digest_parts::<Md5>(messages);
                out.extend(digest_parts::<Sha1>(messages));
                out
            }
            Prf::Tls12(h) => h.hash(messages),
        }
    }

    /// `PRF(secret, label, seed)` truncated to `out.len()`; `seed` is the
    /// concatenation of `seed_parts`.
    pub fn compute(
        self,
        secret: &[u8],
        label: &[u8],
        seed_parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), KeyError> {
        out.iter_mut().for_each(|b| *b = 0);
        match self {
            Prf::Tls10 => {
                // S1 is the first half, S2 the second; for an odd length
                // they share the middle byte (RFC 2246 §5).
                let half = secret.len().div_ceil(2);
                let s1 = secret.get(..half).unwrap_or_default();
                // The last `half` bytes: from the middle, rounded down.
                let s2 = secret.get(secret.len() / 2..).unwrap_or_default();
                p_hash(&rust_crypto_mac::<Hmac<Md5>>(s1)?, label, seed_parts, out);
                p_hash(&rust_crypto_mac::<Hmac<Sha1>>(s2)?, label, seed_parts, out);
                Ok(())
            }
            Prf::Tls12(h) => {
                p_hash(&h.hmac_key(secret), label, seed_parts, out);
                Ok(())
            }
        }
    }

    /// [`Prf::compute`] into a new [`Secret`] of `len` bytes.
    pub fn derive(
        self,
        secret: &[u8],
        label: &[u8],
        seed_parts: &[&[u8]],
        len: usize,
    ) -> Result<Secret, KeyError> {
        let mut out = vec![0; len];
        self.compute(secret, label, seed_parts, &mut out)?;
        Secret::from_vec(out).ok_or(KeyError::TooLong)
    }
}

/// `P_hash(secret, label + seed)` (RFC 5246 §5), XORed into `out` so the
/// TLS 1.0 PRF can combine two of them.
fn p_hash(key: &impl PrfMac, label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    let mac_of = |first: &[u8]| {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len().saturating_add(2));
        parts.push(first);
        parts.push(label);
        parts.extend_from_slice(seed);
        key.sign(&parts)
    };
    // A(1) = HMAC(secret, label + seed)
    let mut a = mac_of(&[]);
    // What is left of `out` to fill.
    let mut rest = out;
    while !rest.is_empty() {
        // HMAC(secret, A(i) + label + seed)
        let block = mac_of(a.as_ref());
        for (o, b) in rest.iter_mut().zip(block.as_ref()) {
            *o ^= b;
        }
        rest = std::mem::take(&mut rest).get_mut(block.len.max(1)..).unwrap_or_default();
        if !rest.is_empty() {
            // A(i+1) = HMAC(secret, A(i)), only when another block is due.
            a = key.sign(&[a.as_ref()]);
        }
    }
}

/// The 48-byte master secret from the premaster secret and the two hello
/// randoms (RFC 5246 §8.1).
pub fn master_secret(
    prf: Prf,
    premaster: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Result<Secret, KeyError> {
    prf.derive(premaster, b"master secret", &[client_random, server_random], 48)
}

/// The 48-byte extended master secret (RFC 7627 §4) over the session
/// hash: [`Prf::transcript_hash`] of the handshake messages up to and
/// including the ClientKeyExchange.
pub fn extended_master_secret(
    prf: Prf,
    premaster: &[u8],
    session_hash: &[u8],
) -> Result<Secret, KeyError> {
    prf.derive(premaster, b"extended master secret", &[session_hash], 48)
}

/// The 12-byte `verify_data` of a TLS 1.0–1.2 Finished message
/// (RFC 5246 §7.4.9): `PRF(master, "client finished" | "server finished",
/// handshake hash)`. `handshake_hash` is [`Prf::transcript_hash`] of every
/// handshake message before this Finished.
pub fn verify_data(
    prf: Prf,
    master_secret: &[u8],
    client: bool,
    handshake_hash: &[u8],
) -> Result<Secret, KeyError> {
    let label: &[u8] = if client { b"client finished" } else { b"server finished" };
    prf.derive(master_secret, label, &[handshake_hash], 12)
}

/// The key block of a TLS 1.0–1.2 session, and its parts (RFC 5246 §6.3):
/// MAC keys, write keys and IVs of both sides, in that order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBlock {
    /// The whole key block, `PRF(master, "key expansion", server_random + client_random)`.
    pub block: Secret,
    /// client_write_MAC_key (empty for AEAD suites).
    pub client_mac: Secret,
    /// server_write_MAC_key.
    pub server_mac: Secret,
    /// client_write_key.
    pub client_key: Secret,
    /// server_write_key.
    pub server_key: Secret,
    /// client_write_IV: the implicit nonce of AEAD suites, the first CBC IV
    /// in TLS 1.0; empty otherwise.
    pub client_iv: Secret,
    /// server_write_IV.
    pub server_iv: Secret,
}

impl KeyBlock {
    /// Derives the key block for MAC keys of `mac_len`, write keys of
    /// `key_len` and IVs of `iv_len` bytes (see
    /// [`super::decrypt::CipherSpec::key_block_lengths`]).
    pub fn derive(
        prf: Prf,
        master_secret: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        mac_len: usize,
        key_len: usize,
        iv_len: usize,
    ) -> Result<KeyBlock, KeyError> {
        // A MAC key, a key and an IV for each direction.
        let total = mac_len
            .checked_add(key_len)
            .and_then(|n| n.checked_add(iv_len))
            .and_then(|n| n.checked_mul(2))
            .ok_or(KeyError::TooLong)?;
        let block =
            prf.derive(master_secret, b"key expansion", &[server_random, client_random], total)?;
        let mut rest = block.as_bytes();
        let mut take = |n: usize| -> Result<Secret, KeyError> {
            let (head, tail) = rest.split_at_checked(n).ok_or(KeyError::TooLong)?;
            rest = tail;
            Secret::new(head).ok_or(KeyError::TooLong)
        };
        Ok(KeyBlock {
            client_mac: take(mac_len)?,
            server_mac: take(mac_len)?,
            client_key: take(key_len)?,
            server_key: take(key_len)?,
            client_iv: take(iv_len)?,
            server_iv: take(iv_len)?,
            block,
        })
    }
}

// ---------------------------------------------------------------------------
// TLS 1.3

/// `HKDF-Extract(salt, ikm)`. `None` for either means HashLen zero bytes,
/// as RFC 8446 §7.1 writes `0`.
pub fn hkdf_extract(hash: HashAlg, salt: Option<&[u8]>, ikm: Option<&[u8]>) -> Secret {
    let zeros = [0u8; 48];
    let zeros = zeros.get(..hash.output_len()).unwrap_or_default();
    let salt = salt.unwrap_or(zeros);
    let ikm = ikm.unwrap_or(zeros);
    // HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM) (RFC 5869 §2.2).
    let prk = hash.hmac_key(salt).sign(&[ikm]).as_ref().to_vec();
    // Never longer than 48 bytes, so never None; an empty secret would
    // only fail later checks.
    Secret::from_vec(prk).unwrap_or_else(|| Secret::new(&[]).unwrap_or_else(empty_secret))
}

fn empty_secret() -> Secret {
    // `Secret::new(&[])` cannot fail (0 <= MAX_LEN); this only satisfies the type.
    Secret::from_vec(Vec::new()).unwrap_or_else(empty_secret)
}

/// `HKDF-Expand-Label(secret, label, context, len)` (RFC 8446 §7.1); `label`
/// without the `"tls13 "` prefix. `secret` must be HashLen bytes.
pub fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Result<Secret, KeyError> {
    LabelExpander::new(hash, secret)?.expand(label, context, len)
}

/// `HKDF-Expand-Label` from one secret, keyed once: the HMAC key's inner
/// and outer pads are hashed when it is made, so each label after that
/// costs two compression rounds instead of four (a session derives a key
/// and an IV from each of four traffic secrets).
struct LabelExpander {
    key: HmacKey,
    hash_len: usize,
}

impl LabelExpander {
    fn new(hash: HashAlg, secret: &[u8]) -> Result<LabelExpander, KeyError> {
        hash.check(secret)?;
        Ok(LabelExpander { key: hash.hmac_key(secret), hash_len: hash.output_len() })
    }

    /// HKDF-Expand (RFC 5869 §2.3) with the `HkdfLabel` structure as info:
    /// `T(i) = HMAC(PRK, T(i-1) || info || i)`, the first `len` bytes of
    /// `T(1) || T(2) || ...`, at most 255 blocks.
    fn expand(&self, label: &[u8], context: &[u8], len: usize) -> Result<Secret, KeyError> {
        // "tls13 " and the label.
        let full_label_len = label
            .len()
            .checked_add(6)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or(KeyError::TooLong)?;
        let context_len = u8::try_from(context.len()).map_err(|_| KeyError::TooLong)?;
        let out_len = u16::try_from(len).map_err(|_| KeyError::TooLong)?.to_be_bytes();
        if self.hash_len.checked_mul(255).is_none_or(|most| len > most) {
            return Err(KeyError::TooLong);
        }
        let mut out = vec![0; len];
        let mut prev = MacOut::new(&[]);
        for (i, chunk) in out.chunks_mut(self.hash_len.max(1)).enumerate() {
            let counter = i.checked_add(1).and_then(|n| u8::try_from(n).ok());
            let counter = [counter.ok_or(KeyError::TooLong)?];
            let t = self.key.sign(&[
                prev.as_ref(),
                &out_len,
                &[full_label_len],
                b"tls13 ",
                label,
                &[context_len],
                context,
                &counter,
            ]);
            chunk.iter_mut().zip(t.as_ref()).for_each(|(o, b)| *o = *b);
            prev = t;
        }
        Secret::from_vec(out).ok_or(KeyError::TooLong)
    }
}

/// `Derive-Secret(secret, label, messages)` with the transcript hash of the
/// messages already computed: `HKDF-Expand-Label(secret, label,
/// transcript_hash, HashLen)`.
pub fn derive_secret(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    transcript_hash: &[u8],
) -> Result<Secret, KeyError> {
    hkdf_expand_label(hash, secret, label, transcript_hash, hash.output_len())
}

/// The synthetic `message_hash` handshake message that replaces the first
/// ClientHello in the transcript after a HelloRetryRequest
/// ([RFC 8446 §4.4.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.1)):
/// `254, 0, 0, HashLen, Hash(ClientHello1)`.
pub fn message_hash(hash: HashAlg, client_hello1: &[u8]) -> Vec<u8> {
    let h = hash.hash(&[client_hello1]);
    let mut m = vec![254, 0, 0, u8::try_from(h.len()).unwrap_or(0)];
    m.extend(h);
    m
}

/// The first stage of the TLS 1.3 key schedule: the Early Secret and what
/// comes from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlySchedule {
    /// The suite's hash.
    pub hash: HashAlg,
    /// `HKDF-Extract(0, PSK)` (`PSK` is HashLen zeros without one).
    pub early_secret: Secret,
    /// `Derive-Secret(early, "ext binder", "")`.
    pub ext_binder_key: Secret,
    /// `Derive-Secret(early, "res binder", "")`.
    pub res_binder_key: Secret,
    /// `Derive-Secret(early, "derived", "")`: the salt of the handshake secret.
    pub derived: Secret,
}

impl EarlySchedule {
    /// Starts the schedule, with the PSK of a resumption or external PSK.
    pub fn new(hash: HashAlg, psk: Option<&[u8]>) -> Result<EarlySchedule, KeyError> {
        let early_secret = hkdf_extract(hash, None, psk);
        let empty = hash.hash(&[]);
        let e = early_secret.as_bytes();
        Ok(EarlySchedule {
            ext_binder_key: derive_secret(hash, e, b"ext binder", &empty)?,
            res_binder_key: derive_secret(hash, e, b"res binder", &empty)?,
            derived: derive_secret(hash, e, b"derived", &empty)?,
            hash,
            early_secret,
        })
    }

    /// `client_early_traffic_secret = Derive-Secret(early, "c e traffic",
    /// ClientHello)`.
    pub fn client_early_traffic_secret(
        &self,
        client_hello_hash: &[u8],
    ) -> Result<Secret, KeyError> {
        derive_secret(self.hash, self.early_secret.as_bytes(), b"c e traffic", client_hello_hash)
    }

    /// `early_exporter_master_secret = Derive-Secret(early, "e exp master",
    /// ClientHello)`.
    pub fn early_exporter_master_secret(
        &self,
        client_hello_hash: &[u8],
    ) -> Result<Secret, KeyError> {
        derive_secret(self.hash, self.early_secret.as_bytes(), b"e exp master", client_hello_hash)
    }

    /// The PSK binder ([RFC 8446 §4.2.11.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.11.2)):
    /// the Finished computation keyed with the resumption (or external)
    /// binder key over the hash of the truncated ClientHello.
    pub fn binder(
        &self,
        external: bool,
        truncated_client_hello_hash: &[u8],
    ) -> Result<Secret, KeyError> {
        let key = if external { &self.ext_binder_key } else { &self.res_binder_key };
        finished_verify_data(self.hash, key.as_bytes(), truncated_client_hello_hash)
    }

    /// The handshake stage, from the (EC)DHE shared secret (`None` for a
    /// PSK-only handshake, which uses HashLen zeros).
    pub fn handshake(&self, shared_secret: Option<&[u8]>) -> Result<HandshakeSchedule, KeyError> {
        let handshake_secret =
            hkdf_extract(self.hash, Some(self.derived.as_bytes()), shared_secret);
        let empty = self.hash.hash(&[]);
        Ok(HandshakeSchedule {
            derived: derive_secret(self.hash, handshake_secret.as_bytes(), b"derived", &empty)?,
            hash: self.hash,
            handshake_secret,
        })
    }
}

/// The Handshake Secret stage of the TLS 1.3 key schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeSchedule {
    /// The suite's hash.
    pub hash: HashAlg,
    /// `HKDF-Extract(derived, (EC)DHE)`.
    pub handshake_secret: Secret,
    /// `Derive-Secret(handshake, "derived", "")`: the salt of the master secret.
    pub derived: Secret,
}

impl HandshakeSchedule {
    /// `client_handshake_traffic_secret = Derive-Secret(hs, "c hs traffic",
    /// ClientHello..ServerHello)`.
    pub fn client_handshake_traffic_secret(&self, hello_hash: &[u8]) -> Result<Secret, KeyError> {
        derive_secret(self.hash, self.handshake_secret.as_bytes(), b"c hs traffic", hello_hash)
    }

    /// `server_handshake_traffic_secret = Derive-Secret(hs, "s hs traffic",
    /// ClientHello..ServerHello)`.
    pub fn server_handshake_traffic_secret(&self, hello_hash: &[u8]) -> Result<Secret, KeyError> {
        derive_secret(self.hash, self.handshake_secret.as_bytes(), b"s hs traffic", hello_hash)
    }

    /// The master stage.
    pub fn master(&self) -> MasterSchedule {
        MasterSchedule {
            hash: self.hash,
            master_secret: hkdf_extract(self.hash, Some(self.derived.as_bytes()), None),
        }
    }
}

/// The Master Secret stage of the TLS 1.3 key schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterSchedule {
    /// The suite's hash.
    pub hash: HashAlg,
    /// `HKDF-Extract(derived, 0)`.
    pub master_secret: Secret,
}

impl MasterSchedule {
    fn derive(&self, label: &[u8], transcript_hash: &[u8]) -> Result<Secret, KeyError> {
        derive_secret(self.hash, self.master_secret.as_bytes(), label, transcript_hash)
    }

    /// `client_application_traffic_secret_0 = Derive-Secret(master, "c ap
    /// traffic", ClientHello..server Finished)`.
    pub fn client_application_traffic_secret_0(
        &self,
        server_finished_hash: &[u8],
    ) -> Result<Secret, KeyError> {
        self.derive(b"c ap traffic", server_finished_hash)
    }

    /// `server_application_traffic_secret_0 = Derive-Secret(master, "s ap
    /// traffic", ClientHello..server Finished)`.
    pub fn server_application_traffic_secret_0(
        &self,
        server_finished_hash: &[u8],
    ) -> Result<Secret, KeyError> {
        self.derive(b"s ap traffic", server_finished_hash)
    }

    /// `exporter_master_secret = Derive-Secret(master, "exp master",
    /// ClientHello..server Finished)`.
    pub fn exporter_master_secret(&self, server_finished_hash: &[u8]) -> Result<Secret, KeyError> {
        self.derive(b"exp master", server_finished_hash)
    }

    /// `resumption_master_secret = Derive-Secret(master, "res master",
    /// ClientHello..client Finished)`.
    pub fn resumption_master_secret(
        &self,
        client_finished_hash: &[u8],
    ) -> Result<Secret, KeyError> {
        self.derive(b"res master", client_finished_hash)
    }
}

/// The PSK of a NewSessionTicket ([RFC 8446 §4.6.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.6.1)):
/// `HKDF-Expand-Label(resumption_master_secret, "resumption", ticket_nonce, HashLen)`.
pub fn resumption_psk(
    hash: HashAlg,
    resumption_master_secret: &[u8],
    ticket_nonce: &[u8],
) -> Result<Secret, KeyError> {
    hkdf_expand_label(
        hash,
        resumption_master_secret,
        b"resumption",
        ticket_nonce,
        hash.output_len(),
    )
}

/// A record protection key and IV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficKeys {
    /// `HKDF-Expand-Label(secret, "key", "", key_length)`.
    pub key: Secret,
    /// `HKDF-Expand-Label(secret, "iv", "", iv_length)`.
    pub iv: Secret,
}

/// The write key and IV of a traffic secret ([RFC 8446 §7.3](https://www.rfc-editor.org/rfc/rfc8446#section-7.3)).
pub fn traffic_keys(
    hash: HashAlg,
    traffic_secret: &[u8],
    key_len: usize,
    iv_len: usize,
) -> Result<TrafficKeys, KeyError> {
    let expander = LabelExpander::new(hash, traffic_secret)?;
    Ok(TrafficKeys {
        key: expander.expand(b"key", b"", key_len)?,
        iv: expander.expand(b"iv", b"", iv_len)?,
    })
}

/// The next traffic secret after a KeyUpdate
/// ([RFC 8446 §7.2](https://www.rfc-editor.org/rfc/rfc8446#section-7.2)):
/// `HKDF-Expand-Label(secret, "traffic upd", "", HashLen)`.
pub fn next_traffic_secret(hash: HashAlg, traffic_secret: &[u8]) -> Result<Secret, KeyError> {
    hkdf_expand_label(hash, traffic_secret, b"traffic upd", b"", hash.output_len())
}

/// `finished_key = HKDF-Expand-Label(base_key, "finished", "", HashLen)`
/// ([RFC 8446 §4.4.4](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.4)).
pub fn finished_key(hash: HashAlg, base_key: &[u8]) -> Result<Secret, KeyError> {
    hkdf_expand_label(hash, base_key, b"finished", b"", hash.output_len())
}

/// A TLS 1.3 Finished `verify_data`: `HMAC(finished_key, transcript_hash)`,
/// with `base_key` the sender's handshake traffic secret (or a binder key).
pub fn finished_verify_data(
    hash: HashAlg,
    base_key: &[u8],
    transcript_hash: &[u8],
) -> Result<Secret, KeyError> {
    let key = finished_key(hash, base_key)?;
    hash.hmac(key.as_bytes(), &[transcript_hash])
}

/// `TLS-Exporter(label, context, length)` ([RFC 8446 §7.5](https://www.rfc-editor.org/rfc/rfc8446#section-7.5))
/// from an (early) exporter master secret.
pub fn exporter(
    hash: HashAlg,
    exporter_master_secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Result<Secret, KeyError> {
    let empty = hash.hash(&[]);
    let secret = derive_secret(hash, exporter_master_secret, label, &empty)?;
    hkdf_expand_label(hash, secret.as_bytes(), b"exporter", &hash.hash(&[context]), len)
}

// ---------------------------------------------------------------------------
// Static RSA key exchange

/// Decrypts the premaster secret of a static-RSA ClientKeyExchange
/// ([RFC 5246 §7.4.7.1](https://www.rfc-editor.org/rfc/rfc5246#section-7.4.7.1)),
/// PKCS#1 v1.5, with the server's private key (PKCS#8 or PKCS#1, PEM or
/// DER). `encrypted` is the EncryptedPreMasterSecret without its 2-byte
/// length. The first two bytes of the result are the client's version.
pub fn rsa_decrypt_premaster(private_key: &[u8], encrypted: &[u8]) -> Result<Secret, RsaError> {
    use aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey;

    let key = Pkcs1PrivateDecryptingKey::new(rsa_key::read(private_key)?)
        // Infallible in aws-lc-rs 1.x: any key read above can decrypt.
        .map_err(|_| RsaError::NotAKey(NotRsaKey::Unreadable))?;
    let mut out = vec![0u8; key.min_output_size()];
    let n = key.decrypt(encrypted, &mut out).map_err(|_| RsaError::DecryptFailed)?.len();
    out.truncate(n);
    let secret = Secret::from_vec(out).ok_or(RsaError::BadPremasterLength(n))?;
    if secret.len() != 48 {
        return Err(RsaError::BadPremasterLength(secret.len()));
    }
    Ok(secret)
}

/// True if `certificate_der` (an X.509 certificate) carries the public
/// half of `private_key` (PKCS#8 or PKCS#1, PEM or DER): the RSA moduli
/// are equal. False for anything unreadable or not RSA.
pub fn rsa_public_key_matches(private_key: &[u8], certificate_der: &[u8]) -> bool {
    use aws_lc_rs::encoding::AsDer;
    use x509_parser::prelude::{FromDer, X509Certificate};
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;

    fn modulus(spki: &SubjectPublicKeyInfo<'_>) -> Option<Vec<u8>> {
        match spki.parsed().ok()? {
            PublicKey::RSA(k) => {
                let m = k.modulus;
                let start = m.iter().position(|&b| b != 0).unwrap_or(m.len());
                m.get(start..).map(<[u8]>::to_vec)
            }
            _ => None,
        }
    }
    let Ok(key) = rsa_key::read(private_key) else { return false };
    let Ok(public) = key.public_key().as_der() else { return false };
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(public.as_ref()) else { return false };
    let Ok((_, cert)) = X509Certificate::from_der(certificate_der) else { return false };
    match (modulus(&spki), modulus(cert.public_key())) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn arr32(s: &str) -> [u8; 32] {
        unhex(s).try_into().unwrap()
    }

    // TLS 1.2 PRF vectors posted to the IETF TLS list
    // (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html), as
    // also used by BearSSL's test/test_crypto.c (test_PRF) and many others.
    #[test]
    fn tls12_prf_sha256_known_answer() {
        let out = Prf::Tls12(HashAlg::Sha256)
            .derive(
                &unhex("9bbe436ba940f017b17652849a71db35"),
                b"test label",
                &[&unhex("a0ba9f936cda311827a6f796ffd5198c")],
                100,
            )
            .unwrap();
        assert_eq!(
            out.as_bytes(),
            unhex(
                "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a
                 6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab
                 4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701
                 87347b66"
            )
        );
    }

    #[test]
    fn tls12_prf_sha384_known_answer() {
        let out = Prf::Tls12(HashAlg::Sha384)
            .derive(
                &unhex("b80b733d6ceefcdc71566ea48e5567df"),
                b"test label",
                &[&unhex("cd665cf6a8447dd6ff8b27555edb7465")],
                148,
            )
            .unwrap();
        assert_eq!(
            out.as_bytes(),
            unhex(
                "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd
                 e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd
                 8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425
                 9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6
                 91c8f3a26854308d5eaa3be85e0990703d73e56f"
            )
        );
    }

    // The TLS 1.0 PRF vector from the ietf-tls list (imc.org msg01589, now
    // only in archives), as in BearSSL's test/test_crypto.c: secret 48 × 0xab,
    // label "PRF Testvector", seed 64 × 0xcd.
    #[test]
    fn tls10_prf_known_answer() {
        let out = Prf::Tls10.derive(&[0xab; 48], b"PRF Testvector", &[&[0xcd; 64]], 104).unwrap();
        assert_eq!(
            out.as_bytes(),
            unhex(
                "d3d4d1e349b5d515044666d51de32bab258cb521b6b053463e354832fd976754
                 443bcf9a296519bc289abcbc1187e4ebd31e602353776c408aafb74cbc85eff6
                 9255f9788faa184cbb957a9819d84a5d7eb006eb459d3ae8de9810454b8b2d8f
                 1afbc655a8c9a013"
            )
        );
    }

    // RFC 4231 §4.2 (test case 1): HMAC-SHA-256 and HMAC-SHA-384.
    #[test]
    fn hmac_known_answers() {
        let key = [0x0b; 20];
        assert_eq!(
            HashAlg::Sha256.hmac(&key, &[b"Hi ", b"There"]).unwrap().as_bytes(),
            unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            HashAlg::Sha384.hmac(&key, &[b"Hi There"]).unwrap().as_bytes(),
            unhex(
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c
                 faea9ea9076ede7f4af152e8b2fa9cb6"
            )
        );
    }

    #[test]
    fn tls10_prf_splits_an_odd_secret_with_a_shared_middle_byte() {
        // S1 = s[0..2], S2 = s[1..3] for a 3-byte secret: changing the
        // middle byte changes both halves, the others only one.
        let base = Prf::Tls10.derive(&[1, 2, 3], b"l", &[b"s"], 20).unwrap();
        for i in 0..3 {
            let mut s = [1u8, 2, 3];
            s[i] ^= 0xff;
            assert_ne!(Prf::Tls10.derive(&s, b"l", &[b"s"], 20).unwrap(), base);
        }
        assert_eq!(Prf::Tls10.transcript_hash(&[b"abc"]).len(), 36);
    }

    #[test]
    fn seed_parts_are_concatenated() {
        let p = Prf::Tls12(HashAlg::Sha256);
        let a = p.derive(b"k", b"label", &[b"abc", b"def"], 70).unwrap();
        let b = p.derive(b"k", b"label", &[b"abcdef"], 70).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.as_bytes()[..32],
            p.derive(b"k", b"label", &[b"abcdef"], 32).unwrap().as_bytes()[..]
        );
    }

    #[test]
    fn key_block_splits_in_rfc_order() {
        let p = Prf::Tls12(HashAlg::Sha256);
        let cr = [1u8; 32];
        let sr = [2u8; 32];
        let kb = KeyBlock::derive(p, &[3; 48], &cr, &sr, 20, 16, 4).unwrap();
        let whole = p.derive(&[3; 48], b"key expansion", &[&sr, &cr], 80).unwrap();
        assert_eq!(kb.block, whole);
        let w = whole.as_bytes();
        assert_eq!(kb.client_mac.as_bytes(), &w[0..20]);
        assert_eq!(kb.server_mac.as_bytes(), &w[20..40]);
        assert_eq!(kb.client_key.as_bytes(), &w[40..56]);
        assert_eq!(kb.server_key.as_bytes(), &w[56..72]);
        assert_eq!(kb.client_iv.as_bytes(), &w[72..76]);
        assert_eq!(kb.server_iv.as_bytes(), &w[76..80]);
        assert_eq!(verify_data(p, &[3; 48], true, &[0; 32]).unwrap().len(), 12);
        assert_ne!(
            verify_data(p, &[3; 48], true, &[0; 32]),
            verify_data(p, &[3; 48], false, &[0; 32])
        );
    }

    #[test]
    fn wrong_secret_lengths_are_errors_not_panics() {
        assert_eq!(
            hkdf_expand_label(HashAlg::Sha384, &[0; 32], b"key", b"", 32),
            Err(KeyError::SecretLength { expected: 48, got: 32 })
        );
        assert_eq!(
            hkdf_expand_label(HashAlg::Sha256, &[0; 32], b"key", b"", 255 * 32 + 1),
            Err(KeyError::TooLong)
        );
        assert_eq!(
            hkdf_expand_label(HashAlg::Sha256, &[0; 32], &[b'a'; 250], b"", 16),
            Err(KeyError::TooLong)
        );
        assert_eq!(
            hkdf_expand_label(HashAlg::Sha256, &[0; 32], b"key", &[0; 256], 16),
            Err(KeyError::TooLong)
        );
        assert!(next_traffic_secret(HashAlg::Sha256, &[]).is_err());
        assert!(traffic_keys(HashAlg::Sha256, &[0; 33], 16, 12).is_err());
    }

    /// Our HKDF-Expand (keyed once, looping over blocks) against aws-lc's
    /// own HKDF, for outputs of one block, a block and a byte, and many
    /// blocks (up to the longest [`Secret`]), with both hashes.
    #[test]
    fn label_expansion_equals_aws_lc_hkdf() {
        use aws_lc_rs::hkdf;
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        for (hash, alg) in
            [(HashAlg::Sha256, hkdf::HKDF_SHA256), (HashAlg::Sha384, hkdf::HKDF_SHA384)]
        {
            let secret: Vec<u8> = (0..hash.output_len() as u8).map(|i| i.wrapping_mul(7)).collect();
            let context = [0x5a; 48];
            for len in [1, 12, 16, hash.output_len(), hash.output_len() + 1, 100, Secret::MAX_LEN] {
                let ours = hkdf_expand_label(hash, &secret, b"c e traffic", &context, len).unwrap();
                let label_len = (b"tls13 c e traffic".len()) as u8;
                let out_len = (len as u16).to_be_bytes();
                let info: [&[u8]; 6] =
                    [&out_len, &[label_len], b"tls13 c e traffic", &[48], &context, &[]];
                let mut want = vec![0; len];
                hkdf::Prk::new_less_safe(alg, &secret)
                    .expand(&info, Len(len))
                    .unwrap()
                    .fill(&mut want)
                    .unwrap();
                assert_eq!(ours.as_bytes(), &want[..], "{hash:?}, {len} bytes");
            }
        }
    }

    // ---- RFC 8448 ----
    //
    // The values below are those of RFC 8448 ("Example Handshake Traces for
    // TLS 1.3"). The RFC text itself could not be fetched here; they were
    // taken from transcriptions of it in public test suites and cross-checked
    // between two of them: JoyLinks/network
    // src/test/java/com/joyzl/network/tls/TestRFC8448.java (every secret of
    // §3, §4 and §5) and randombit/botan
    // src/tests/data/tls_13_rfc8448/transcripts.vec (the handshake messages
    // and records). The record tests in decrypt.rs check them once more:
    // the AEAD tags of the RFC's records only verify with exactly these keys.

    /// §3 ClientHello and ServerHello (handshake messages, with headers).
    pub(crate) const S3_CLIENT_HELLO: &str = "010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
    pub(crate) const S3_SERVER_HELLO: &str = "020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304";
    pub(crate) const S3_ENCRYPTED_EXTENSIONS: &str =
        "080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000";
    pub(crate) const S3_CERTIFICATE: &str = "0b0001b9000001b50001b0308201ac30820115a003020102020102300d06092a864886f70d01010b0500300e310c300a06035504031303727361301e170d3136303733303031323335395a170d3236303733303031323335395a300e310c300a0603550403130372736130819f300d06092a864886f70d010101050003818d0030818902818100b4bb498f8279303d980836399b36c6988c0c68de55e1bdb826d3901a2461eafd2de49a91d015abbc9a95137ace6c1af19eaa6af98c7ced43120998e187a80ee0ccb0524b1b018c3e0b63264d449a6d38e22a5fda430846748030530ef0461c8ca9d9efbfae8ea6d1d03e2bd193eff0ab9a8002c47428a6d35a8d88d79f7f1e3f0203010001a31a301830090603551d1304023000300b0603551d0f0404030205a0300d06092a864886f70d01010b05000381810085aad2a0e5b9276b908c65f73a7267170618a54c5f8a7b337d2df7a594365417f2eae8f8a58c8f8172f9319cf36b7fd6c55b80f21a03015156726096fd335e5e67f2dbf102702e608ccae6bec1fc63a42a99be5c3eb7107c3c54e9b9eb2bd5203b1c3b84e0a8b2f759409ba3eac9d91d402dcc0cc8f8961229ac9187b42b4de10000";
    pub(crate) const S3_CERTIFICATE_VERIFY: &str = "0f000084080400805a747c5d88fa9bd2e55ab085a61015b7211f824cd484145ab3ff52f1fda8477b0b7abc90db78e2d33a5c141a078653fa6bef780c5ea248eeaaa785c4f394cab6d30bbe8d4859ee511f602957b15411ac027671459e46445c9ea58c181e818e95b8c3fb0bf3278409d3be152a3da5043e063dda65cdf5aea20d53dfacd42f74f3";
    pub(crate) const S3_SERVER_FINISHED: &str =
        "140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718";
    pub(crate) const S3_CLIENT_FINISHED: &str =
        "14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61";
    pub(crate) const S3_SHARED: &str =
        "8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d";

    fn h256(msgs: &[&str]) -> Vec<u8> {
        let v: Vec<Vec<u8>> = msgs.iter().map(|m| unhex(m)).collect();
        let parts: Vec<&[u8]> = v.iter().map(|m| m.as_slice()).collect();
        HashAlg::Sha256.hash(&parts)
    }

    #[test]
    fn rfc8448_section3_simple_1rtt_key_schedule() {
        let h = HashAlg::Sha256;
        let early = EarlySchedule::new(h, None).unwrap();
        assert_eq!(
            early.early_secret.as_bytes(),
            unhex("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a")
        );
        assert_eq!(
            early.derived.as_bytes(),
            unhex("6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba")
        );

        let hs = early.handshake(Some(&unhex(S3_SHARED))).unwrap();
        assert_eq!(
            hs.handshake_secret.as_bytes(),
            unhex("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac")
        );
        let hello = h256(&[S3_CLIENT_HELLO, S3_SERVER_HELLO]);
        assert_eq!(
            hello,
            unhex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8")
        );
        let c_hs = hs.client_handshake_traffic_secret(&hello).unwrap();
        let s_hs = hs.server_handshake_traffic_secret(&hello).unwrap();
        assert_eq!(
            c_hs.as_bytes(),
            unhex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
        );
        assert_eq!(
            s_hs.as_bytes(),
            unhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
        );
        assert_eq!(
            hs.derived.as_bytes(),
            unhex("43de77e0c77713859a944db9db2590b53190a65b3ee2e4f12dd7a0bb7ce254b4")
        );

        let ms = hs.master();
        assert_eq!(
            ms.master_secret.as_bytes(),
            unhex("18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919")
        );

        let k = traffic_keys(h, s_hs.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(k.iv.as_bytes(), unhex("5d313eb2671276ee13000b30"));
        let k = traffic_keys(h, c_hs.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(k.iv.as_bytes(), unhex("5bd3c71b836e0b76bb73265f"));

        // Server Finished over CH..CertificateVerify.
        let before_sf = h256(&[
            S3_CLIENT_HELLO,
            S3_SERVER_HELLO,
            S3_ENCRYPTED_EXTENSIONS,
            S3_CERTIFICATE,
            S3_CERTIFICATE_VERIFY,
        ]);
        assert_eq!(
            finished_key(h, s_hs.as_bytes()).unwrap().as_bytes(),
            unhex("008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8")
        );
        assert_eq!(
            finished_verify_data(h, s_hs.as_bytes(), &before_sf).unwrap().as_bytes(),
            unhex("9b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718")
        );

        let after_sf = h256(&[
            S3_CLIENT_HELLO,
            S3_SERVER_HELLO,
            S3_ENCRYPTED_EXTENSIONS,
            S3_CERTIFICATE,
            S3_CERTIFICATE_VERIFY,
            S3_SERVER_FINISHED,
        ]);
        let c_ap = ms.client_application_traffic_secret_0(&after_sf).unwrap();
        let s_ap = ms.server_application_traffic_secret_0(&after_sf).unwrap();
        assert_eq!(
            c_ap.as_bytes(),
            unhex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
        );
        assert_eq!(
            s_ap.as_bytes(),
            unhex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
        );
        assert_eq!(
            ms.exporter_master_secret(&after_sf).unwrap().as_bytes(),
            unhex("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
        );
        let k = traffic_keys(h, s_ap.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("9f02283b6c9c07efc26bb9f2ac92e356"));
        assert_eq!(k.iv.as_bytes(), unhex("cf782b88dd83549aadf1e984"));
        let k = traffic_keys(h, c_ap.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("17422dda596ed5d9acd890e3c63f5051"));
        assert_eq!(k.iv.as_bytes(), unhex("5b78923dee08579033e523d9"));

        // Client Finished over CH..server Finished.
        assert_eq!(
            finished_verify_data(h, c_hs.as_bytes(), &after_sf).unwrap().as_bytes(),
            unhex("a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61")
        );
        let after_cf = h256(&[
            S3_CLIENT_HELLO,
            S3_SERVER_HELLO,
            S3_ENCRYPTED_EXTENSIONS,
            S3_CERTIFICATE,
            S3_CERTIFICATE_VERIFY,
            S3_SERVER_FINISHED,
            S3_CLIENT_FINISHED,
        ]);
        let res = ms.resumption_master_secret(&after_cf).unwrap();
        assert_eq!(
            res.as_bytes(),
            unhex("7df235f2031d2a051287d02b0241b0bfdaf86cc856231f2d5aba46c434ec196c")
        );
        // The ticket's nonce is 0x0000.
        assert_eq!(
            resumption_psk(h, res.as_bytes(), &[0, 0]).unwrap().as_bytes(),
            unhex("4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3")
        );
    }

    /// §4's ClientHello up to (not including) the binders list, which the
    /// binder is computed over.
    const S4_CLIENT_HELLO_PREFIX: &str = "010001fc03031bc3ceb6bbe39cff938355b5a50adb6db21b7a6af649d7b4bc419d7876487d95000006130113031302010001cd0000000b0009000006736572766572ff01000100000a00140012001d00170018001901000101010201030104003300260024001d0020e4ffb68ac05f8d96c99da26698346c6be16482badddafe051a66b4f18d668f0b002a0000002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c0002400100150057000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002900dd00b800b22c035d829359ee5ff7af4ec900000000262a6494dc486d2c8a34cb33fa90bf1b0070ad3c498883c9367c09a2be785abc55cd226097a3a982117283f82a03a143efd3ff5dd36d64e861be7fd61d2827db279cce145077d454a3664d4e6da4d29ee03725a6a4dafcd0fc67d2aea70529513e3da2677fa5906c5b3f7d8f92f228bda40dda721470f9fbf297b5aea617646fac5c03272e970727c621a79141ef5f7de6505e5bfbc388e93343694093934ae4d357fad6aacb";
    const S4_BINDERS: &str =
        "0021203add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d";
    const S4_SERVER_HELLO: &str = "0200005c03033ccfd2dec890222763472ae8136777c9d7358777bb66e91ea5122495f559ea2d00130100003400290002000000330024001d0020121761ee42c333e1b9e77b60dd57c2053cd94512ab47f115e86eff50942cea31002b00020304";
    const S4_ENCRYPTED_EXTENSIONS: &str =
        "080000280026000a00140012001d00170018001901000101010201030104001c0002400100000000002a0000";
    const S4_SERVER_FINISHED: &str =
        "1400002048d3e0e1b3d907c6acff145e16090388c77b05c050b634ab1a88bbd0dd1a34b2";
    const S4_END_OF_EARLY_DATA: &str = "05000000";
    const S4_CLIENT_FINISHED: &str =
        "140000207230a9c952c25cd6138fc5e6628308c41c5335dd81b9f96bcea50fd32bda416d";

    #[test]
    fn rfc8448_section4_resumed_0rtt_key_schedule() {
        let h = HashAlg::Sha256;
        let psk = unhex("4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3");
        let early = EarlySchedule::new(h, Some(&psk)).unwrap();
        assert_eq!(
            early.early_secret.as_bytes(),
            unhex("9b2188e9b2fc6d64d71dc329900e20bb41915000f678aa839cbb797cb7d8332c")
        );
        assert_eq!(
            early.res_binder_key.as_bytes(),
            unhex("69fe131a3bbad5d63c64eebcc30e395b9d8107726a13d074e389dbc8a4e47256")
        );
        assert_eq!(
            finished_key(h, early.res_binder_key.as_bytes()).unwrap().as_bytes(),
            unhex("5588673e72cb59c87d220caffe94f2dea9a3b1609f7d50e90a48227db9ed7eaa")
        );
        let binder_hash = h256(&[S4_CLIENT_HELLO_PREFIX]);
        assert_eq!(
            binder_hash,
            unhex("63224b2e4573f2d3454ca84b9d009a04f6be9e05711a8396473aefa01e924a14")
        );
        assert_eq!(
            early.binder(false, &binder_hash).unwrap().as_bytes(),
            unhex("3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d")
        );

        let ch = h256(&[S4_CLIENT_HELLO_PREFIX, S4_BINDERS]);
        let c_e = early.client_early_traffic_secret(&ch).unwrap();
        assert_eq!(
            c_e.as_bytes(),
            unhex("3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62")
        );
        assert_eq!(
            early.early_exporter_master_secret(&ch).unwrap().as_bytes(),
            unhex("b2026866610937d7423e5be90862ccf24c0e6091186d34f812089ff5be2ef7df")
        );
        let k = traffic_keys(h, c_e.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("920205a5b7bf2115e6fc5c2942834f54"));
        assert_eq!(k.iv.as_bytes(), unhex("6d475f0993c8e564610db2b9"));

        assert_eq!(
            early.derived.as_bytes(),
            unhex("5f1790bbd82c5e7d376ed2e1e52f8e6038c9346db61b43be9a52f77ef3998e80")
        );
        let hs = early
            .handshake(Some(&unhex(
                "f44194756ff9ec9d25180635d66ea6824c6ab3bf179977be37f723570e7ccb2e",
            )))
            .unwrap();
        assert_eq!(
            hs.handshake_secret.as_bytes(),
            unhex("005cb112fd8eb4ccc623bb88a07c64b3ede1605363fc7d0df8c7ce4ff0fb4ae6")
        );
        let hello = h256(&[S4_CLIENT_HELLO_PREFIX, S4_BINDERS, S4_SERVER_HELLO]);
        let c_hs = hs.client_handshake_traffic_secret(&hello).unwrap();
        let s_hs = hs.server_handshake_traffic_secret(&hello).unwrap();
        assert_eq!(
            c_hs.as_bytes(),
            unhex("2faac08f851d35fea3604fcb4de82dc62c9b164a70974d0462e27f1ab278700f")
        );
        assert_eq!(
            s_hs.as_bytes(),
            unhex("fe927ae271312e8bf0275b581c54eef020450dc4ecffaa05a1a35d27518e7803")
        );
        assert_eq!(
            hs.derived.as_bytes(),
            unhex("e2f16030251df0874ba19b9aba257610bc6d531c1dd206df0ca6e84ae2a26742")
        );
        let ms = hs.master();
        assert_eq!(
            ms.master_secret.as_bytes(),
            unhex("e2d32d4ed66dd37897a0e80c84107503ce58bf8aad4cb55a5002d77ecb890ece")
        );
        let k = traffic_keys(h, s_hs.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("27c6bdc0a3dcea39a47326d79bc9e4ee"));
        assert_eq!(k.iv.as_bytes(), unhex("9569ecdd4d0536705e9ef725"));
        let k = traffic_keys(h, c_hs.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("b1530806f4adfeac83f1413032bbfa82"));
        assert_eq!(k.iv.as_bytes(), unhex("eb50c16be7654abf99dd06d9"));

        let before_sf =
            h256(&[S4_CLIENT_HELLO_PREFIX, S4_BINDERS, S4_SERVER_HELLO, S4_ENCRYPTED_EXTENSIONS]);
        assert_eq!(
            finished_verify_data(h, s_hs.as_bytes(), &before_sf).unwrap().as_bytes(),
            unhex("48d3e0e1b3d907c6acff145e16090388c77b05c050b634ab1a88bbd0dd1a34b2")
        );
        let after_sf = h256(&[
            S4_CLIENT_HELLO_PREFIX,
            S4_BINDERS,
            S4_SERVER_HELLO,
            S4_ENCRYPTED_EXTENSIONS,
            S4_SERVER_FINISHED,
        ]);
        let c_ap = ms.client_application_traffic_secret_0(&after_sf).unwrap();
        let s_ap = ms.server_application_traffic_secret_0(&after_sf).unwrap();
        assert_eq!(
            c_ap.as_bytes(),
            unhex("2abbf2b8e381d23dbebe1dd2a7d16a8bf484cb4950d23fb7fb7fa8547062d9a1")
        );
        assert_eq!(
            s_ap.as_bytes(),
            unhex("cc21f1bf8feb7dd5fa505bd9c4b468a9984d554a993dc49e6d285598fb672691")
        );
        assert_eq!(
            ms.exporter_master_secret(&after_sf).unwrap().as_bytes(),
            unhex("3fd93d4ffddc98e64b14dd107aedf8ee4add23f4510f58a4592d0b201bee56b4")
        );
        let k = traffic_keys(h, s_ap.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("e857c690a34c5a9129d833619684f95e"));
        assert_eq!(k.iv.as_bytes(), unhex("0685d6b561aab9ef1013faf9"));
        let k = traffic_keys(h, c_ap.as_bytes(), 16, 12).unwrap();
        assert_eq!(k.key.as_bytes(), unhex("3cf122f301c6358ca7989553250efd72"));
        assert_eq!(k.iv.as_bytes(), unhex("ab1aec26aa78b8fc1176b9ac"));

        // The client Finished comes after EndOfEarlyData.
        let before_cf = h256(&[
            S4_CLIENT_HELLO_PREFIX,
            S4_BINDERS,
            S4_SERVER_HELLO,
            S4_ENCRYPTED_EXTENSIONS,
            S4_SERVER_FINISHED,
            S4_END_OF_EARLY_DATA,
        ]);
        assert_eq!(
            finished_verify_data(h, c_hs.as_bytes(), &before_cf).unwrap().as_bytes(),
            unhex("7230a9c952c25cd6138fc5e6628308c41c5335dd81b9f96bcea50fd32bda416d")
        );
        let after_cf = h256(&[
            S4_CLIENT_HELLO_PREFIX,
            S4_BINDERS,
            S4_SERVER_HELLO,
            S4_ENCRYPTED_EXTENSIONS,
            S4_SERVER_FINISHED,
            S4_END_OF_EARLY_DATA,
            S4_CLIENT_FINISHED,
        ]);
        assert_eq!(
            ms.resumption_master_secret(&after_cf).unwrap().as_bytes(),
            unhex("5e95bdf1f89005ea2e9aa0ba85e728e3c19c5fe0c699e3f5bee59faebd0b5406")
        );
    }

    pub(crate) const S5_CLIENT_HELLO1: &str = "010000b00303b0b1c5a5aa37c5919f2ed1d5c6fff7fcb7849716945a2b8cee9258a346677b6f000006130113031302010000810000000b0009000006736572766572ff01000100000a00080006001d00170018003300260024001d0020e8e8e3f3b93a25ed97a14a7dcacb8a272c6288e585c6484d05262fcad062ad1f002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001";
    pub(crate) const S5_HELLO_RETRY_REQUEST: &str = "020000ac0303cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c001301000084003300020017002c0074007271dcd04bb88bc3189119398a00000000eefafc76c146b823b096f8aacad365dd0030953f4edf625636e5f21bb2e23fcc654b1b5b40318d10d137abcbb87574e36e8a1f025f7dfa5d6e50781b5eda4aa15b0c8be778257d16aa3030e9e7841dd9e4c0342267e8ca0caf571fb2b7cff0f934b0002b00020304";
    pub(crate) const S5_CLIENT_HELLO2: &str = "010001fc0303b0b1c5a5aa37c5919f2ed1d5c6fff7fcb7849716945a2b8cee9258a346677b6f000006130113031302010001cd0000000b0009000006736572766572ff01000100000a00080006001d001700180033004700450017004104a6da7392ec591e17abfd535964b99894d13befb221b3def2ebe3830eac8f0151812677c4d6d2237e85cf01d6910cfb83954e76ba7352830534159897e8065780002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002c0074007271dcd04bb88bc3189119398a00000000eefafc76c146b823b096f8aacad365dd0030953f4edf625636e5f21bb2e23fcc654b1b5b40318d10d137abcbb87574e36e8a1f025f7dfa5d6e50781b5eda4aa15b0c8be778257d16aa3030e9e7841dd9e4c0342267e8ca0caf571fb2b7cff0f934b0002d00020101001c00024001001500af00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
    pub(crate) const S5_SERVER_HELLO: &str = "020000770303bb341d847fd789c47c387172dc0c9bf147fccacb5043d86ca4c598d3ff571b9800130100004f003300450017004104583e054b7a66672ae020ad9d2686fcc85b5ad41a134a0f03ee72b893052bd85b4c8de6776f5b04ac07d83540eab3e3d9c547bc6528c4317d294686093a6cad7d002b00020304";
    pub(crate) const S5_SHARED: &str =
        "c142ce13ca11b5c2233652e63ad3d97844f1621fbfb9de69d547dc8fedeabeb4";

    #[test]
    fn rfc8448_section5_hello_retry_request_transcript_and_secrets() {
        let h = HashAlg::Sha256;
        assert_eq!(unhex(S5_CLIENT_HELLO1).len(), 180);
        assert_eq!(unhex(S5_HELLO_RETRY_REQUEST).len(), 176);
        assert_eq!(unhex(S5_CLIENT_HELLO2).len(), 512);
        assert_eq!(unhex(S5_SERVER_HELLO).len(), 123);
        // The first ClientHello is replaced by message_hash (RFC 8446 §4.4.1).
        let mh = message_hash(h, &unhex(S5_CLIENT_HELLO1));
        assert_eq!(mh.len(), 36);
        assert_eq!(&mh[..4], &[254, 0, 0, 32]);
        let mh_hex = crate::tree::hex(&mh);
        let hello = h256(&[&mh_hex, S5_HELLO_RETRY_REQUEST, S5_CLIENT_HELLO2, S5_SERVER_HELLO]);
        assert_eq!(
            hello,
            unhex("8aa8e828ec2f8a884fec95a3139de01c15a3daa7ff5bfc3f4bfcc21b438d7bf8")
        );

        let early = EarlySchedule::new(h, None).unwrap();
        let hs = early.handshake(Some(&unhex(S5_SHARED))).unwrap();
        assert_eq!(
            hs.handshake_secret.as_bytes(),
            unhex("ce022e5e6e81e50736d773f2d3adfce8220d049bf510f0dbfac927ef4243b148")
        );
        assert_eq!(
            hs.client_handshake_traffic_secret(&hello).unwrap().as_bytes(),
            unhex("158aa7ab8855073582b41d674b4055cabcc534728f659314861b4e08e2011566")
        );
        assert_eq!(
            hs.server_handshake_traffic_secret(&hello).unwrap().as_bytes(),
            unhex("3403e781e2af7b6508da28574f6e95a1abf162de83a97927c37672a4a0cef8a1")
        );
    }

    #[test]
    fn key_update_and_exporter_are_expand_labels() {
        let h = HashAlg::Sha256;
        let s = [7u8; 32];
        assert_eq!(
            next_traffic_secret(h, &s).unwrap(),
            hkdf_expand_label(h, &s, b"traffic upd", b"", 32).unwrap()
        );
        let e = exporter(h, &s, b"EXPERIMENTAL", b"ctx", 20).unwrap();
        let inner = derive_secret(h, &s, b"EXPERIMENTAL", &h.hash(&[])).unwrap();
        assert_eq!(
            e,
            hkdf_expand_label(h, inner.as_bytes(), b"exporter", &h.hash(&[b"ctx"]), 20).unwrap()
        );
        let h = HashAlg::Sha384;
        let early = EarlySchedule::new(h, None).unwrap();
        assert_eq!(early.early_secret.len(), 48);
        assert_eq!(early.handshake(None).unwrap().master().master_secret.len(), 48);
    }

    #[test]
    fn debug_of_a_schedule_shows_no_secret() {
        let early = EarlySchedule::new(HashAlg::Sha256, None).unwrap();
        let d = format!("{early:?}");
        assert!(!d.contains("33ad") && !d.contains("51, 173"), "{d}");
        let _ = arr32(S3_SHARED);
    }
}
