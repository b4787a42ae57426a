//! `tls_decrypt`: records sealed with known keys (or not) through the
//! decryptor of each suite and version.

use super::*;

/// A way records are protected: suite, version, encrypt-then-MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptCase {
    /// Cipher suite.
    pub suite: u16,
    /// Negotiated version.
    pub version: u16,
    /// Encrypt-then-MAC (RFC 7366), for CBC suites.
    pub etm: bool,
}

pub(super) const fn case(suite: u16, version: u16, etm: bool) -> DecryptCase {
    DecryptCase { suite, version, etm }
}

/// The cases [`tls_decrypt()`] picks from with its first byte: every bulk
/// cipher and MAC [`Decryptor`] supports, TLS 1.3 and 1.2 AEADs, and CBC
/// in TLS 1.0 (chained IVs), 1.1 and 1.2, MAC-then-encrypt and
/// encrypt-then-MAC.
pub const DECRYPT_CASES: [DecryptCase; 24] = [
    case(0x1301, 0x0304, false), // AES-128-GCM
    case(0x1302, 0x0304, false), // AES-256-GCM, SHA-384
    case(0x1303, 0x0304, false), // ChaCha20-Poly1305
    case(0x1304, 0x0304, false), // AES-128-CCM
    case(0x1305, 0x0304, false), // AES-128-CCM-8
    case(0xc02f, 0x0303, false), // ECDHE-RSA-AES128-GCM-SHA256
    case(0xc030, 0x0303, false), // ECDHE-RSA-AES256-GCM-SHA384
    case(0xcca8, 0x0303, false), // ECDHE-RSA-CHACHA20-POLY1305
    case(0xc0ac, 0x0303, false), // ECDHE-ECDSA-AES128-CCM
    case(0xc0ad, 0x0303, false), // ECDHE-ECDSA-AES256-CCM
    case(0xc0ae, 0x0303, false), // ECDHE-ECDSA-AES128-CCM8
    case(0x002f, 0x0303, false), // AES128-SHA
    case(0x002f, 0x0303, true),
    case(0x002f, 0x0302, false),
    case(0x002f, 0x0301, false),
    case(0x002f, 0x0301, true),
    case(0x0035, 0x0303, false), // AES256-SHA
    case(0x003c, 0x0303, true),  // AES128-SHA256
    case(0xc028, 0x0303, false), // ECDHE-RSA-AES256-SHA384
    case(0x000a, 0x0301, false), // DES-CBC3-SHA
    case(0x000a, 0x0303, true),
    case(0x0041, 0x0302, false), // CAMELLIA128-SHA
    case(0x0084, 0x0301, true),  // CAMELLIA256-SHA
    case(0x0001, 0x0303, false), // NULL-MD5
];

/// Bytes `0..n` of a key pattern (different per `k`).
pub(super) fn pattern_key(n: usize, k: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(k)).collect()
}

pub(super) type Ccm128x16 = ccm::Ccm<aes::Aes128, U16, U12>;
pub(super) type Ccm128x8 = ccm::Ccm<aes::Aes128, U8, U12>;
pub(super) type Ccm256x16 = ccm::Ccm<aes::Aes256, U16, U12>;
pub(super) type Ccm256x8 = ccm::Ccm<aes::Aes256, U8, U12>;

/// AES-CCM sealing in place, the tag appended.
pub(super) fn ccm_seal<A: AeadInOut + CipherKeyInit>(
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    data: &mut Vec<u8>,
) -> Option<()> {
    let a = <A as CipherKeyInit>::new_from_slice(key).ok()?;
    let nonce = <&ccm::aead::Nonce<A>>::try_from(nonce.as_slice()).ok()?;
    let tag = a.encrypt_inout_detached(nonce, aad, data.as_mut_slice().into()).ok()?;
    data.extend_from_slice(&tag);
    Some(())
}

/// CBC encryption of whole blocks in place (RustCrypto, so that the
/// decryptor's aws-lc-rs AES is checked against another implementation).
macro_rules! cbc_encrypt {
    ($cipher:ty, $key:expr, $iv:expr, $data:expr) => {{
        use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
        match cbc::Encryptor::<$cipher>::new_from_slices($key, $iv) {
            Ok(mut enc) => {
                let (blocks, rest) = Array::slice_as_chunks_mut($data);
                enc.encrypt_blocks(blocks);
                rest.is_empty()
            }
            Err(_) => false,
        }
    }};
}

/// `HMAC(key, parts...)` with the suite's MAC hash.
pub(super) fn hmac_parts(mac: Mac, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<M: hmac::Mac + hmac::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
        let mut m = <M as hmac::KeyInit>::new_from_slice(key).ok()?;
        for p in parts {
            m.update(p);
        }
        Some(m.finalize().into_bytes().to_vec())
    }
    match mac {
        Mac::Md5 => run::<Hmac<md5::Md5>>(key, parts),
        Mac::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Mac::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Mac::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
        Mac::Aead => None,
    }
}

/// The sending side of a [`DecryptCase`]: protects records as a TLS
/// sender does, with the same fixed keys the decryptor gets, using the
/// cipher crates directly (aws-lc-rs AEADs, RustCrypto CCM, CBC and HMAC).
pub struct Sealer {
    pub(super) spec: CipherSpec,
    pub(super) case: DecryptCase,
    pub(super) key: Vec<u8>,
    pub(super) mac_key: Vec<u8>,
    /// Fixed IV, implicit nonce, or (TLS 1.0 CBC) the chained IV.
    pub(super) iv: Vec<u8>,
    /// TLS 1.3: the traffic secret.
    pub(super) secret: Vec<u8>,
    pub(super) seq: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("case", &self.case).field("seq", &self.seq).finish()
    }
}

impl Sealer {
    /// The sender of `case`, with its fixed keys.
    pub fn new(case: DecryptCase) -> Option<Sealer> {
        let spec = CipherSpec::from_suite(case.suite).ok()?;
        let mut s = Sealer {
            spec,
            case,
            key: Vec::new(),
            mac_key: Vec::new(),
            iv: Vec::new(),
            secret: Vec::new(),
            seq: 0,
        };
        if spec.tls13 {
            s.set_secret(pattern_key(spec.hash.output_len(), 4))?;
        } else {
            let (mac, key, iv) = spec.key_block_lengths(case.version);
            (s.key, s.mac_key, s.iv) =
                (pattern_key(key, 1), pattern_key(mac, 2), pattern_key(iv, 3));
        }
        Some(s)
    }

    pub(super) fn set_secret(&mut self, secret: Vec<u8>) -> Option<()> {
        let k = keys::traffic_keys(self.spec.hash, &secret, self.spec.key_len(), 12).ok()?;
        self.key = k.key.as_bytes().to_vec();
        self.iv = k.iv.as_bytes().to_vec();
        self.secret = secret;
        self.seq = 0;
        Some(())
    }

    /// A decryptor with the same keys, at sequence number 0.
    pub fn decryptor(&self) -> Option<Decryptor> {
        if self.spec.tls13 {
            return Decryptor::tls13(&self.spec, &self.secret).ok();
        }
        let keys = RecordKeys {
            key: Secret::new(&self.key)?,
            mac_key: Secret::new(&self.mac_key)?,
            iv: Secret::new(&self.iv)?,
        };
        Decryptor::new(&self.spec, &keys, self.case.version, self.case.etm).ok()
    }

    /// TLS 1.3 KeyUpdate: the next traffic secret.
    pub fn key_update(&mut self) -> Option<()> {
        let next = keys::next_traffic_secret(self.spec.hash, &self.secret).ok()?;
        self.set_secret(next.as_bytes().to_vec())
    }

    /// The record version on the wire.
    pub(super) fn record_version(&self) -> u16 {
        self.case.version.min(0x0303)
    }

    /// `iv XOR (0^4 || seq)`.
    pub(super) fn xor_nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        for (n, i) in nonce.iter_mut().zip(&self.iv) {
            *n = *i;
        }
        for (n, s) in nonce.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    pub(super) fn aead_seal(&self, nonce: [u8; 12], aad: &[u8], data: &mut Vec<u8>) -> Option<()> {
        let alg = match self.spec.bulk {
            Bulk::AesGcm { key_len: 16 } => &aead::AES_128_GCM,
            Bulk::AesGcm { .. } => &aead::AES_256_GCM,
            Bulk::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
            Bulk::AesCcm { key_len: 16, tag_len: 16 } => {
                return ccm_seal::<Ccm128x16>(&self.key, &nonce, aad, data);
            }
            Bulk::AesCcm { key_len: 16, .. } => {
                return ccm_seal::<Ccm128x8>(&self.key, &nonce, aad, data);
            }
            Bulk::AesCcm { tag_len: 16, .. } => {
                return ccm_seal::<Ccm256x16>(&self.key, &nonce, aad, data);
            }
            Bulk::AesCcm { .. } => return ccm_seal::<Ccm256x8>(&self.key, &nonce, aad, data),
            _ => return None,
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, &self.key).ok()?);
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), data).ok()
    }

    pub(super) fn cbc_encrypt(&self, iv: &[u8], data: &mut [u8]) -> Option<()> {
        let ok = match self.spec.bulk {
            Bulk::AesCbc { key_len: 16 } => cbc_encrypt!(aes::Aes128, &self.key, iv, data),
            Bulk::AesCbc { .. } => cbc_encrypt!(aes::Aes256, &self.key, iv, data),
            Bulk::TripleDesCbc => cbc_encrypt!(des::TdesEde3, &self.key, iv, data),
            Bulk::CamelliaCbc { key_len: 16 } => {
                cbc_encrypt!(camellia::Camellia128, &self.key, iv, data)
            }
            Bulk::CamelliaCbc { .. } => cbc_encrypt!(camellia::Camellia256, &self.key, iv, data),
            _ => false,
        };
        ok.then_some(())
    }

    /// The MAC of a TLS 1.0–1.2 record: over `seq || type || version ||
    /// length || data`.
    pub(super) fn mac(&self, content_type: u8, data: &[u8]) -> Option<Vec<u8>> {
        let head = [
            &self.seq.to_be_bytes()[..],
            &[content_type],
            &self.record_version().to_be_bytes(),
            &u16::try_from(data.len()).ok()?.to_be_bytes(),
        ]
        .concat();
        hmac_parts(self.spec.mac, &self.mac_key, &[&head, data])
    }

    /// Protects one record: `content` of `content_type` (TLS 1.3: the inner
    /// type, with `padding` zeros after it; CBC: `padding` extra blocks of
    /// padding). Returns the header and the body, and the padding the
    /// decryptor should report.
    pub fn seal(
        &self,
        content_type: u8,
        content: &[u8],
        padding: usize,
    ) -> Option<([u8; 5], Vec<u8>, usize)> {
        let version = self.record_version();
        let header = |len: usize| -> Option<[u8; 5]> {
            let [v0, v1] = version.to_be_bytes();
            let [l0, l1] = u16::try_from(len).ok()?.to_be_bytes();
            let t = if self.spec.tls13 { 23 } else { content_type };
            Some([t, v0, v1, l0, l1])
        };
        let block = self.spec.bulk.block_len();
        let (body, pad) = if self.spec.tls13 {
            let mut inner = [content, &[content_type], &vec![0; padding]].concat();
            let h = header(inner.len() + self.spec.bulk.tag_len())?;
            self.aead_seal(self.xor_nonce(), &h, &mut inner)?;
            (inner, padding)
        } else if self.spec.bulk.is_aead() {
            let aad = [
                &self.seq.to_be_bytes()[..],
                &[content_type],
                &version.to_be_bytes(),
                &u16::try_from(content.len()).ok()?.to_be_bytes(),
            ]
            .concat();
            let mut data = content.to_vec();
            if self.spec.record_iv_len(self.case.version) == 8 {
                // GCM/CCM: salt || explicit nonce (the sequence number, as
                // most senders choose), the explicit part sent first.
                let explicit = self.seq.to_be_bytes();
                let mut nonce = [0u8; 12];
                for (n, b) in nonce.iter_mut().zip(self.iv.iter().chain(&explicit)) {
                    *n = *b;
                }
                self.aead_seal(nonce, &aad, &mut data)?;
                ([&explicit[..], &data].concat(), 0)
            } else {
                self.aead_seal(self.xor_nonce(), &aad, &mut data)?;
                (data, 0)
            }
        } else if block == 0 {
            // NULL cipher: the content and its MAC.
            ([content, &self.mac(content_type, content)?].concat(), 0)
        } else {
            let explicit = self.spec.record_iv_len(self.case.version) > 0;
            let iv = if explicit { pattern_key(block, self.seq as u8) } else { self.iv.clone() };
            let mut plain = content.to_vec();
            if !self.case.etm {
                plain.extend(self.mac(content_type, content)?);
            }
            // Padding: each byte the padding length, the total a whole
            // number of blocks, `padding` blocks more if they fit.
            let mut pad = block - (plain.len() + 1) % block;
            if pad + padding * block < 256 {
                pad += padding * block;
            }
            plain.extend(std::iter::repeat_n(pad as u8, pad + 1));
            self.cbc_encrypt(&iv, &mut plain)?;
            let mut body = if explicit { [iv, plain].concat() } else { plain };
            if self.case.etm {
                let mac = self.mac(content_type, &body)?;
                body.extend(mac);
            }
            (body, pad + 1)
        };
        Some((header(body.len())?, body, pad))
    }

    /// After a record went by (decrypted or not): the next sequence number,
    /// and in TLS 1.0 CBC the next IV, the last ciphertext block of the
    /// record as the receiver got it (RFC 2246 §6.2.3.2).
    pub(super) fn next(&mut self, delivered: &[u8]) {
        self.seq = self.seq.wrapping_add(1);
        let block = self.spec.bulk.block_len();
        if self.spec.tls13 || block == 0 || self.case.version > 0x0301 {
            return;
        }
        let cipher = if self.case.etm {
            delivered.len().checked_sub(self.spec.mac_len()).and_then(|n| delivered.get(..n))
        } else {
            Some(delivered)
        };
        // The decryptor only sees a chain block in a record long enough
        // (and, with MAC-then-encrypt, whole blocks) to have one.
        let Some(cipher) = cipher else { return };
        let usable = cipher.len() >= block && (self.case.etm || cipher.len() % block == 0);
        if usable && let Some(last) = cipher.get(cipher.len() - block..) {
            self.iv = last.to_vec();
        }
    }
}

/// Reads a [`tls_decrypt()`] script: records of a control byte, a 16-bit
/// length and that many bytes (fewer at the end of the input).
pub(super) fn decrypt_script(data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        out.push((*ctl, tail.get(..n).unwrap_or_default()));
        rest = tail.get(n..).unwrap_or_default();
    }
    out
}

/// The largest plaintext [`tls_decrypt()`] seals (a TLS record's limit).
pub(super) const MAX_PLAINTEXT: usize = 1 << 14;

/// Fuzz body: record decryption. Input: a byte choosing a
/// [`DecryptCase`], then records (a control byte, a 16-bit length, bytes).
/// Control bits: 0, the bytes are content to seal with the case's keys
/// (else they are sent as ciphertext); 1, damage the sealed record (one
/// bit flipped); 2, a TLS 1.3 KeyUpdate first; 3, content type alert
/// instead of application data; 4-5, (TLS 1.3) handshake or 0-RTT-style
/// inner types; 6-7, padding (TLS 1.3 zeros or CBC blocks).
///
/// Checks: arbitrary bytes fail with an error (never a panic) and leave
/// the sequence number alone; a sealed record decrypts to exactly its
/// content, type and padding and moves the sequence number on; a damaged
/// one fails; after [`Decryptor::skip_record`] the next sealed record
/// decrypts again (in TLS 1.0 CBC too, whose IV chains through the failed
/// record).
pub fn tls_decrypt(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Some(&case) = DECRYPT_CASES.get(usize::from(sel) % DECRYPT_CASES.len()) else { return };
    let sealer = Sealer::new(case);
    assert!(sealer.is_some(), "{case:?}: no keys");
    let Some(mut sealer) = sealer else { return };
    let d = sealer.decryptor();
    assert!(d.is_some(), "{case:?}: no decryptor");
    let Some(mut d) = d else { return };
    // A twin that decrypts out of place (`decrypt_into`, as the analyzer
    // does): it must agree with the in-place one on every record.
    let twin = sealer.decryptor();
    assert!(twin.is_some(), "{case:?}: no decryptor");
    let Some(mut twin) = twin else { return };
    let tls13 = sealer.spec.tls13;
    for (ctl, bytes) in decrypt_script(rest) {
        if ctl & 4 != 0 && tls13 {
            assert!(d.key_update().is_ok() && sealer.key_update().is_some(), "KeyUpdate");
            assert!(twin.key_update().is_ok(), "KeyUpdate");
        }
        let seq = d.seq();
        assert_eq!(seq, sealer.seq, "{case:?}: sequence numbers drifted apart");
        let content_type = match (ctl >> 3 & 7, tls13) {
            (1, _) => 21,
            (2 | 6, true) => 22,
            (4, true) => 24,
            _ => 23,
        };
        let padding = usize::from(ctl >> 6) * if tls13 { 5 } else { 1 };
        let (header, mut body, expect) = if ctl & 1 != 0 {
            let content = bytes.get(..bytes.len().min(MAX_PLAINTEXT)).unwrap_or_default();
            let sealed = sealer.seal(content_type, content, padding);
            assert!(sealed.is_some(), "{case:?}: could not seal {} bytes", content.len());
            let Some((header, mut body, pad)) = sealed else { return };
            let damage = ctl & 2 != 0 && !body.is_empty();
            if damage {
                let at = (usize::from(ctl) * 131 + bytes.len()) % body.len();
                if let Some(b) = body.get_mut(at) {
                    *b ^= 1 << (bytes.len() % 8);
                }
            }
            let expect = (!damage).then(|| (content_type, content.to_vec(), pad));
            (header, body, Some(expect))
        } else {
            let [v0, v1] = sealer.record_version().to_be_bytes();
            let [l0, l1] = (bytes.len() as u16).to_be_bytes();
            let t = if tls13 { 23 } else { content_type };
            ([t, v0, v1, l0, l1], bytes.to_vec(), None)
        };
        let delivered = body.clone();
        let mut out = vec![0x5a; delivered.len()];
        let twin_result = twin
            .decrypt_into(&header, &delivered, &mut out)
            .map(|p| (p.content_type, p.data.to_vec(), p.padding));
        let result = d.decrypt(&header, &mut body);
        assert_eq!(
            twin_result,
            result.as_ref().map(|p| (p.content_type, p.data.to_vec(), p.padding)).map_err(|e| *e),
            "{case:?}: out of place differs from in place"
        );
        assert_eq!(twin.seq(), d.seq(), "{case:?}: out of place moved on differently");
        match &result {
            Ok(p) => {
                assert_eq!(d.seq(), seq.wrapping_add(1), "{case:?}: success did not move on");
                assert!(p.data.len() + p.padding <= delivered.len());
            }
            Err(e) => {
                assert_eq!(d.seq(), seq, "{case:?}: a failure ({e}) moved the sequence number");
                assert!(!e.to_string().is_empty());
            }
        }
        match expect {
            Some(Some((t, content, pad))) => {
                let got =
                    result.as_ref().map(|p: &Plaintext<'_>| (p.content_type, p.data, p.padding));
                assert_eq!(
                    got,
                    Ok((t, content.as_slice(), pad)),
                    "{case:?}: a sealed record of {} bytes",
                    content.len()
                );
            }
            Some(None) => assert!(result.is_err(), "{case:?}: a damaged record decrypted"),
            None => {}
        }
        if result.is_err() {
            d.skip_record();
            twin.skip_record();
        }
        sealer.next(&delivered);
    }
}

/// Seeds for [`tls_decrypt()`]: for every case, sealed records of several
/// sizes and types, a damaged one followed by a good one, a raw one, and
/// (TLS 1.3) a KeyUpdate.
pub fn tls_decrypt_seeds() -> Vec<Vec<u8>> {
    let rec =
        |ctl: u8, bytes: &[u8]| [&[ctl][..], &(bytes.len() as u16).to_be_bytes(), bytes].concat();
    (0..DECRYPT_CASES.len())
        .map(|i| {
            [
                vec![i as u8],
                rec(1, b"GET / HTTP/1.1\r\n\r\n"),
                rec(1 | 0x40, &[0x41; 300]),
                rec(1 | 1 << 3, &[1, 0]),
                rec(1 | 2 << 3 | 0x80, b"handshake"),
                rec(3, b"damaged"),
                rec(1, b""),
                rec(0, &[0x17; 40]),
                rec(1 | 4, b"after a key update"),
                rec(1, &[0; 33]),
            ]
            .concat()
        })
        .collect()
}
