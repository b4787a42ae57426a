//! [`Secret`]: an owned byte string that holds key material — a key-log
//! entry, a derived secret, a record key — and is careful with it: it is
//! zeroed when dropped and never printed by `Debug`.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// Key material: secrets from a key log, intermediate values of a key
/// schedule, traffic keys and IVs.
///
/// The bytes are zeroed on drop (with `zeroize`, so the compiler cannot
/// leave the write out) and `Debug` shows only the length. Most secrets are
/// 12 to 64 bytes, but a key log's `PMS_CLIENT_RANDOM` carries a finite-field
/// Diffie-Hellman premaster secret (up to 1024 bytes for ffdhe8192) and
/// `ECH_CONFIG` an ECHConfig, so the limit is [`Secret::MAX_LEN`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    bytes: Box<[u8]>,
}

impl Secret {
    /// The longest secret: an `ECH_CONFIG` or a 8192-bit DH premaster fits.
    pub const MAX_LEN: usize = 2048;

    /// A copy of `bytes`; `None` if longer than [`Secret::MAX_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        (bytes.len() <= Self::MAX_LEN).then(|| Secret { bytes: bytes.into() })
    }

    /// Takes `bytes` (zeroing the vector's spare capacity is the caller's
    /// business); `None` if longer than [`Secret::MAX_LEN`].
    pub(crate) fn from_vec(mut bytes: Vec<u8>) -> Option<Secret> {
        if bytes.len() > Self::MAX_LEN {
            bytes.zeroize();
            return None;
        }
        Some(Secret { bytes: bytes.into_boxed_slice() })
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a zero-length secret.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// A short fingerprint that identifies the secret without revealing
    /// it: the first 4 bytes of its SHA-256, as 8 hex digits. Two equal
    /// secrets have equal fingerprints, so a user can tell which key-log
    /// entry was used.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.bytes);
        digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }

    /// The bytes as lowercase hex: for output the user asked for (an
    /// `--explain` that shows derived keys), never for logs.
    pub fn to_hex(&self) -> String {
        crate::tree::hex(&self.bytes)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, {} bytes)", self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new(&[0xab; 48]).unwrap();
        let d = format!("{s:?}");
        assert_eq!(d, "Secret(<redacted>, 48 bytes)");
        assert!(!d.to_lowercase().contains("abab"));
        assert!(!format!("{:?}", Some(&s)).contains("ab,"));
    }

    #[test]
    fn rejects_secrets_longer_than_the_limit() {
        assert!(Secret::new(&vec![1; Secret::MAX_LEN]).is_some());
        assert!(Secret::new(&vec![1; Secret::MAX_LEN + 1]).is_none());
        assert!(Secret::from_vec(vec![1; Secret::MAX_LEN + 1]).is_none());
    }

    #[test]
    fn fingerprint_is_a_short_hash_prefix() {
        // SHA-256("abc") = ba7816bf...
        let s = Secret::new(b"abc").unwrap();
        assert_eq!(s.fingerprint(), "ba7816bf");
        assert_eq!(s.to_hex(), "616263");
    }
}
