//! How an IANA cipher suite name splits into its parts.
//!
//! This file is compiled twice: by `build.rs` (through `#[path]`), which
//! uses it to fill the generated cipher suite table, and as a module of the
//! crate, where its unit tests run. So the rule that is tested is the rule
//! that made the table. It uses `std` only and never panics.
//!
//! # The rule
//!
//! * `TLS_<KX>[_<AUTH>][_EXPORT]_WITH_<CIPHER>_<HASH>` (TLS 1.2 and
//!   earlier, [RFC 5246 App. A.5](https://www.rfc-editor.org/rfc/rfc5246#appendix-A.5)):
//!   the part before `_WITH_` names the key exchange and the
//!   authentication; a known table maps it (`ECDHE_RSA` → ECDHE / RSA,
//!   `DH_anon` → DH / anon, `RSA` → RSA / RSA, `ECDHE_PSK` → ECDHE_PSK /
//!   PSK, `RSA_EXPORT` → RSA_EXPORT / RSA, ...). After `_WITH_`, the last
//!   `_` token is the MAC or PRF hash when it is one of `MD5`, `SHA`
//!   (SHA-1), `SHA256`, `SHA384`, `SHA512`, `SM3`, `OMAC`, `IMIT`; the
//!   rest is the cipher (`AES_128_GCM`, `3DES_EDE_CBC`, `NULL`, ...).
//! * AES-CCM suites without a hash in the name (`TLS_RSA_WITH_AES_128_CCM`,
//!   `..._CCM_8`) use the TLS 1.2 PRF with SHA-256
//!   ([RFC 6655 §3](https://www.rfc-editor.org/rfc/rfc6655#section-3),
//!   [RFC 7251 §2](https://www.rfc-editor.org/rfc/rfc7251#section-2)), so
//!   their hash is `SHA256`.
//! * `TLS_<CIPHER>_<HASH>` without `_WITH_` is a TLS 1.3 suite
//!   ([RFC 8446 §B.4](https://www.rfc-editor.org/rfc/rfc8446#appendix-B.4)):
//!   key exchange and authentication are negotiated separately, so both
//!   are `any` (as OpenSSL prints them). `TLS_SHA256_SHA256` and
//!   `TLS_SHA384_SHA384` are integrity-only
//!   ([RFC 9150](https://www.rfc-editor.org/rfc/rfc9150)): cipher `NULL`.
//! * The GOST suites of [RFC 9367](https://www.rfc-editor.org/rfc/rfc9367)
//!   (`TLS_GOSTR341112_256_WITH_*_MGM_*`) are TLS 1.3 suites despite the
//!   `_WITH_`; their hash is GOST R 34.11-2012 (256 bit), named
//!   `GOSTR341112_256` as in the suite name.
//! * `*_SCSV` names are signalling values
//!   ([RFC 5746](https://www.rfc-editor.org/rfc/rfc5746),
//!   [RFC 7507](https://www.rfc-editor.org/rfc/rfc7507)), not suites: key
//!   exchange and authentication `SCSV`, cipher and hash `NULL`.
//! * `TLS_NULL_WITH_NULL_NULL` is all `NULL`.
//!
//! A suite is AEAD when its cipher is GCM, CCM, ChaCha20-Poly1305, MGM,
//! AEGIS or Ascon.

/// The parts of a cipher suite name. `kx`, `auth` and `cipher` borrow from
/// the name or are constants; see the module docs for the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteParts<'a> {
    /// Key exchange: `ECDHE`, `DHE`, `RSA`, `PSK`, `ECDHE_PSK`, `any` ...
    pub kx: &'a str,
    /// Authentication: `RSA`, `ECDSA`, `DSS`, `PSK`, `anon`, `any` ...
    pub auth: &'a str,
    /// Bulk cipher: `AES_128_GCM`, `CHACHA20_POLY1305`, `3DES_EDE_CBC`, `NULL` ...
    pub cipher: &'a str,
    /// MAC or PRF hash: `SHA256`, `SHA384`, `SHA` (SHA-1), `MD5` ...
    pub mac: &'a str,
    /// The cipher is an AEAD (no separate MAC; `mac` is the PRF hash).
    pub aead: bool,
    /// A TLS 1.3 suite (key exchange and authentication negotiated apart).
    pub tls13: bool,
}

/// Key exchange and authentication for the part before `_WITH_`.
const KX_AUTH: &[(&str, &str, &str)] = &[
    ("NULL", "NULL", "NULL"),
    ("RSA", "RSA", "RSA"),
    ("RSA_EXPORT", "RSA_EXPORT", "RSA"),
    ("DH_DSS", "DH", "DSS"),
    ("DH_DSS_EXPORT", "DH_EXPORT", "DSS"),
    ("DH_RSA", "DH", "RSA"),
    ("DH_RSA_EXPORT", "DH_EXPORT", "RSA"),
    ("DHE_DSS", "DHE", "DSS"),
    ("DHE_DSS_EXPORT", "DHE_EXPORT", "DSS"),
    ("DHE_RSA", "DHE", "RSA"),
    ("DHE_RSA_EXPORT", "DHE_EXPORT", "RSA"),
    ("DH_anon", "DH", "anon"),
    ("DH_anon_EXPORT", "DH_EXPORT", "anon"),
    ("KRB5", "KRB5", "KRB5"),
    ("KRB5_EXPORT", "KRB5_EXPORT", "KRB5"),
    ("PSK", "PSK", "PSK"),
    ("DHE_PSK", "DHE_PSK", "PSK"),
    // RFC 6655 spells two DHE-PSK CCM suites the other way round.
    ("PSK_DHE", "DHE_PSK", "PSK"),
    // RFC 4279 §4: the server authenticates with its RSA certificate.
    ("RSA_PSK", "RSA_PSK", "RSA"),
    ("ECDHE_PSK", "ECDHE_PSK", "PSK"),
    ("ECDH_ECDSA", "ECDH", "ECDSA"),
    ("ECDHE_ECDSA", "ECDHE", "ECDSA"),
    ("ECDH_RSA", "ECDH", "RSA"),
    ("ECDHE_RSA", "ECDHE", "RSA"),
    ("ECDH_anon", "ECDH", "anon"),
    ("SRP_SHA", "SRP", "SRP"),
    ("SRP_SHA_RSA", "SRP", "RSA"),
    ("SRP_SHA_DSS", "SRP", "DSS"),
    ("ECCPWD", "ECCPWD", "ECCPWD"),
    ("GOSTR341112_256", "GOST", "GOST"),
];

/// Name tokens that are a MAC or PRF hash when they end a suite name.
const HASHES: &[&str] =
    &["MD5", "SHA", "SHA256", "SHA384", "SHA512", "SM3", "OMAC", "IMIT", "ASCONHASH256"];

/// Cipher name fragments that mark an AEAD.
const AEAD_MARKS: &[&str] = &["GCM", "CCM", "POLY1305", "MGM", "AEGIS", "ASCONAEAD"];

/// Splits an IANA cipher suite name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`)
/// into its parts. `None` if the name does not start with `TLS_` or has an
/// empty part.
pub fn split(name: &str) -> Option<SuiteParts<'_>> {
    let rest = name.strip_prefix("TLS_")?;
    if rest.ends_with("_SCSV") {
        return Some(SuiteParts {
            kx: "SCSV",
            auth: "SCSV",
            cipher: "NULL",
            mac: "NULL",
            aead: false,
            tls13: false,
        });
    }
    if rest == "NULL_WITH_NULL_NULL" {
        return Some(SuiteParts {
            kx: "NULL",
            auth: "NULL",
            cipher: "NULL",
            mac: "NULL",
            aead: false,
            tls13: false,
        });
    }
    match rest.split_once("_WITH_") {
        None => tls13(rest),
        Some(("GOSTR341112_256", cipher)) if cipher.contains("_MGM_") => Some(SuiteParts {
            kx: "any",
            auth: "any",
            cipher,
            mac: "GOSTR341112_256",
            aead: true,
            tls13: true,
        }),
        Some((left, right)) => {
            let (kx, auth) = KX_AUTH
                .iter()
                .find(|(k, _, _)| *k == left)
                .map(|&(_, kx, auth)| (kx, auth))
                // An unknown left part stays whole; the registry tests list
                // the known key exchanges, so a new one shows up there.
                .unwrap_or((left, left));
            let (cipher, mac) = match right.rsplit_once('_') {
                Some((cipher, last)) if HASHES.contains(&last) => (cipher, last),
                _ => (right, "SHA256"),
            };
            if cipher.is_empty() || kx.is_empty() {
                return None;
            }
            Some(SuiteParts { kx, auth, cipher, mac, aead: is_aead(cipher), tls13: false })
        }
    }
}

/// `<CIPHER>_<HASH>` of a TLS 1.3 suite.
fn tls13(rest: &str) -> Option<SuiteParts<'_>> {
    let (cipher, mac) = rest.rsplit_once('_')?;
    if cipher.is_empty() || mac.is_empty() {
        return None;
    }
    // RFC 9150: TLS_SHA256_SHA256 protects integrity only.
    let cipher = if HASHES.contains(&cipher) { "NULL" } else { cipher };
    Some(SuiteParts { kx: "any", auth: "any", cipher, mac, aead: is_aead(cipher), tls13: true })
}

fn is_aead(cipher: &str) -> bool {
    AEAD_MARKS.iter().any(|m| cipher.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(name: &str) -> (&str, &str, &str, &str, bool, bool) {
        let p = split(name).unwrap_or_else(|| panic!("{name} did not split"));
        (p.kx, p.auth, p.cipher, p.mac, p.aead, p.tls13)
    }

    #[test]
    fn splits_tls12_names() {
        assert_eq!(
            parts("TLS_RSA_WITH_AES_128_CBC_SHA"),
            ("RSA", "RSA", "AES_128_CBC", "SHA", false, false)
        );
        assert_eq!(
            parts("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
            ("DHE", "RSA", "AES_256_GCM", "SHA384", true, false)
        );
        assert_eq!(
            parts("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            ("ECDHE", "ECDSA", "CHACHA20_POLY1305", "SHA256", true, false)
        );
        assert_eq!(
            parts("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            ("ECDHE", "RSA", "AES_128_GCM", "SHA256", true, false)
        );
        assert_eq!(
            parts("TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256"),
            ("ECDHE_PSK", "PSK", "AES_128_CBC", "SHA256", false, false)
        );
        assert_eq!(
            parts("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
            ("RSA", "RSA", "3DES_EDE_CBC", "SHA", false, false)
        );
        assert_eq!(
            parts("TLS_RSA_WITH_RC4_128_MD5"),
            ("RSA", "RSA", "RC4_128", "MD5", false, false)
        );
        assert_eq!(
            parts("TLS_RSA_WITH_NULL_SHA256"),
            ("RSA", "RSA", "NULL", "SHA256", false, false)
        );
        assert_eq!(
            parts("TLS_DH_anon_WITH_AES_128_CBC_SHA"),
            ("DH", "anon", "AES_128_CBC", "SHA", false, false)
        );
        assert_eq!(
            parts("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
            ("ECDH", "ECDSA", "AES_256_CBC", "SHA384", false, false)
        );
        assert_eq!(
            parts("TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256"),
            ("DHE", "DSS", "CAMELLIA_256_CBC", "SHA256", false, false)
        );
        assert_eq!(
            parts("TLS_RSA_PSK_WITH_AES_256_GCM_SHA384"),
            ("RSA_PSK", "RSA", "AES_256_GCM", "SHA384", true, false)
        );
        assert_eq!(
            parts("TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA"),
            ("SRP", "RSA", "AES_128_CBC", "SHA", false, false)
        );
        assert_eq!(
            parts("TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256"),
            ("ECDHE_PSK", "PSK", "AES_128_CCM_8", "SHA256", true, false)
        );
    }

    #[test]
    fn export_suites_keep_export_in_the_key_exchange() {
        assert_eq!(
            parts("TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
            ("RSA_EXPORT", "RSA", "RC4_40", "MD5", false, false)
        );
        assert_eq!(
            parts("TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
            ("DHE_EXPORT", "DSS", "DES40_CBC", "SHA", false, false)
        );
        assert_eq!(
            parts("TLS_KRB5_EXPORT_WITH_RC2_CBC_40_MD5"),
            ("KRB5_EXPORT", "KRB5", "RC2_CBC_40", "MD5", false, false)
        );
    }

    #[test]
    fn ccm_suites_without_a_hash_use_sha256() {
        assert_eq!(
            parts("TLS_RSA_WITH_AES_128_CCM"),
            ("RSA", "RSA", "AES_128_CCM", "SHA256", true, false)
        );
        assert_eq!(
            parts("TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
            ("ECDHE", "ECDSA", "AES_256_CCM_8", "SHA256", true, false)
        );
        assert_eq!(
            parts("TLS_PSK_DHE_WITH_AES_128_CCM_8"),
            ("DHE_PSK", "PSK", "AES_128_CCM_8", "SHA256", true, false)
        );
    }

    #[test]
    fn splits_tls13_names() {
        assert_eq!(
            parts("TLS_AES_128_GCM_SHA256"),
            ("any", "any", "AES_128_GCM", "SHA256", true, true)
        );
        assert_eq!(
            parts("TLS_AES_256_GCM_SHA384"),
            ("any", "any", "AES_256_GCM", "SHA384", true, true)
        );
        assert_eq!(
            parts("TLS_CHACHA20_POLY1305_SHA256"),
            ("any", "any", "CHACHA20_POLY1305", "SHA256", true, true)
        );
        assert_eq!(
            parts("TLS_AES_128_CCM_8_SHA256"),
            ("any", "any", "AES_128_CCM_8", "SHA256", true, true)
        );
        assert_eq!(parts("TLS_SM4_GCM_SM3"), ("any", "any", "SM4_GCM", "SM3", true, true));
        assert_eq!(
            parts("TLS_AEGIS_128L_SHA256"),
            ("any", "any", "AEGIS_128L", "SHA256", true, true)
        );
        assert_eq!(
            parts("TLS_ASCONAEAD128_ASCONHASH256"),
            ("any", "any", "ASCONAEAD128", "ASCONHASH256", true, true)
        );
    }

    #[test]
    fn integrity_only_suites_have_a_null_cipher() {
        assert_eq!(parts("TLS_SHA256_SHA256"), ("any", "any", "NULL", "SHA256", false, true));
        assert_eq!(parts("TLS_SHA384_SHA384"), ("any", "any", "NULL", "SHA384", false, true));
    }

    #[test]
    fn gost_suites() {
        assert_eq!(
            parts("TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC"),
            ("GOST", "GOST", "KUZNYECHIK_CTR", "OMAC", false, false)
        );
        assert_eq!(
            parts("TLS_GOSTR341112_256_WITH_MAGMA_MGM_L"),
            ("any", "any", "MAGMA_MGM_L", "GOSTR341112_256", true, true)
        );
    }

    #[test]
    fn signalling_values_and_the_null_suite() {
        assert_eq!(
            parts("TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
            ("SCSV", "SCSV", "NULL", "NULL", false, false)
        );
        assert_eq!(parts("TLS_FALLBACK_SCSV"), ("SCSV", "SCSV", "NULL", "NULL", false, false));
        assert_eq!(
            parts("TLS_NULL_WITH_NULL_NULL"),
            ("NULL", "NULL", "NULL", "NULL", false, false)
        );
    }

    #[test]
    fn rejects_names_it_cannot_split() {
        assert_eq!(split("SSL_RSA_WITH_RC4_128_MD5"), None);
        assert_eq!(split("TLS_"), None);
        assert_eq!(split("TLS_AES"), None);
        assert_eq!(split("TLS_RSA_WITH_"), None);
        assert_eq!(split(""), None);
    }
}
