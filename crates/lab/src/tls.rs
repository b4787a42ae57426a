//! The TLS choices shared by the lab's server and client: protocol versions,
//! cipher suites (with their IANA and OpenSSL names), key exchange groups and
//! the rustls crypto provider (aws-lc-rs) built from them.
//!
//! The defaults reproduce the classic HTTPS lab: AES-128-GCM suites first and
//! x25519 first, so `curl --tls-max 1.2` against `serve` negotiates
//! `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` with x25519.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::aws_lc_rs::{self as provider, cipher_suite as cs, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{CipherSuite, NamedGroup, ProtocolVersion, SupportedCipherSuite};

use crate::error::{Error, Result};

/// A TLS protocol version the lab speaks (rustls has no TLS 1.0/1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 ([RFC 5246](https://www.rfc-editor.org/rfc/rfc5246)).
    Tls12,
    /// TLS 1.3 ([RFC 8446](https://www.rfc-editor.org/rfc/rfc8446)).
    Tls13,
}

impl TlsVersion {
    /// Parses `1.2`, `1.3`, `tls1.2`, `TLSv1.3`, ...
    pub fn parse(s: &str) -> Result<TlsVersion> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("tlsv").or_else(|| t.strip_prefix("tls")).unwrap_or(&t);
        match t {
            "1.2" | "12" => Ok(TlsVersion::Tls12),
            "1.3" | "13" => Ok(TlsVersion::Tls13),
            "1.0" | "1.1" | "1" | "10" | "11" => {
                Err(Error::new(format!("TLS version {s:?} is not supported"))
                    .with_hint("the lab speaks TLS 1.2 and 1.3 only (rustls has no TLS 1.0/1.1)"))
            }
            _ => Err(Error::new(format!("unknown TLS version {s:?}")).with_hint("use 1.2 or 1.3")),
        }
    }

    /// `TLSv1.2` / `TLSv1.3`, as openssl and curl print them.
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }

    fn rustls(self) -> &'static rustls::SupportedProtocolVersion {
        match self {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        }
    }

    fn of_suite(suite: SupportedCipherSuite) -> TlsVersion {
        if suite.version().version == ProtocolVersion::TLSv1_2 {
            TlsVersion::Tls12
        } else {
            TlsVersion::Tls13
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `TLSv1.2` / `TLSv1.3` for a negotiated version, the wire value otherwise.
pub fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        other => format!("{other:?}"),
    }
}

/// A cipher suite with the names people know it by.
struct Suite {
    suite: SupportedCipherSuite,
    /// The IANA registry name (TLS Cipher Suites registry).
    iana: &'static str,
    /// The OpenSSL name (`openssl ciphers -v`); TLS 1.3 suites share the IANA name.
    openssl: &'static str,
}

/// Every suite rustls offers (AEAD only), in the lab's preference order:
/// AES-128-GCM first, as the classic lab shows it, then AES-256-GCM, then
/// ChaCha20-Poly1305; ECDSA before RSA within TLS 1.2 (the certificate's key
/// type decides which of the two can be used at all).
static SUITES: [Suite; 9] = [
    Suite {
        suite: cs::TLS13_AES_128_GCM_SHA256,
        iana: "TLS_AES_128_GCM_SHA256",
        openssl: "TLS_AES_128_GCM_SHA256",
    },
    Suite {
        suite: cs::TLS13_AES_256_GCM_SHA384,
        iana: "TLS_AES_256_GCM_SHA384",
        openssl: "TLS_AES_256_GCM_SHA384",
    },
    Suite {
        suite: cs::TLS13_CHACHA20_POLY1305_SHA256,
        iana: "TLS_CHACHA20_POLY1305_SHA256",
        openssl: "TLS_CHACHA20_POLY1305_SHA256",
    },
    Suite {
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        iana: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
    },
    Suite {
        suite: cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        iana: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
    },
    Suite {
        suite: cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        iana: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
    },
    Suite {
        suite: cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        iana: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
    },
    Suite {
        suite: cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        iana: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
    },
    Suite {
        suite: cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        iana: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
    },
];

/// The lab's suites in preference order (see [`SUITES`]).
pub fn default_suites() -> Vec<SupportedCipherSuite> {
    SUITES.iter().map(|s| s.suite).collect()
}

/// The IANA name of a cipher suite (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`,
/// `TLS_AES_128_GCM_SHA256`), or its wire value for one rustls does not know.
pub fn suite_name(suite: CipherSuite) -> String {
    match SUITES.iter().find(|s| s.suite.suite() == suite) {
        Some(s) => s.iana.to_string(),
        None => format!("0x{:04x}", u16::from(suite)),
    }
}

/// The OpenSSL name of a cipher suite (`ECDHE-RSA-AES128-GCM-SHA256`).
pub fn suite_openssl_name(suite: CipherSuite) -> String {
    match SUITES.iter().find(|s| s.suite.suite() == suite) {
        Some(s) => s.openssl.to_string(),
        None => format!("0x{:04x}", u16::from(suite)),
    }
}

/// Parses a cipher list as curl's `--ciphers` takes it: OpenSSL or IANA
/// names, separated by `:` or `,` (spaces allowed), in preference order.
pub fn parse_cipher_list(list: &str) -> Result<Vec<SupportedCipherSuite>> {
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    for name in list.split([':', ',']).map(str::trim).filter(|s| !s.is_empty()) {
        let found = SUITES.iter().find(|s| {
            s.iana.eq_ignore_ascii_case(name)
                || s.openssl.eq_ignore_ascii_case(name)
                // rustls's own spelling of the TLS 1.3 suites
                || name
                    .strip_prefix("TLS13_")
                    .is_some_and(|rest| s.iana.strip_prefix("TLS_") == Some(rest))
        });
        match found {
            Some(s) => {
                if !out.iter().any(|o| o.suite() == s.suite.suite()) {
                    out.push(s.suite);
                }
            }
            None => {
                let known: Vec<&str> = SUITES.iter().map(|s| s.openssl).collect();
                return Err(Error::new(format!("unknown or unsupported cipher suite {name:?}"))
                    .with_hint(format!(
                        "the lab (rustls) has AEAD suites only; use one of {} \
                         (or their IANA names)",
                        known.join(", ")
                    )));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::new("the cipher list is empty")
            .with_hint("name at least one suite, e.g. --ciphers ECDHE-RSA-AES128-GCM-SHA256"));
    }
    Ok(out)
}

/// A key exchange group with the names people know it by.
struct Group {
    group: &'static dyn SupportedKxGroup,
    /// IANA TLS Supported Groups registry name.
    name: &'static str,
    /// Other spellings (OpenSSL, NIST).
    aliases: &'static [&'static str],
}

static GROUPS: [Group; 5] = [
    Group { group: kx_group::X25519, name: "x25519", aliases: &["X25519"] },
    Group { group: kx_group::SECP256R1, name: "secp256r1", aliases: &["P-256", "prime256v1"] },
    Group { group: kx_group::SECP384R1, name: "secp384r1", aliases: &["P-384"] },
    Group { group: kx_group::X25519MLKEM768, name: "X25519MLKEM768", aliases: &[] },
    Group { group: kx_group::SECP256R1MLKEM768, name: "SecP256r1MLKEM768", aliases: &[] },
];

/// The lab's key exchange groups: x25519, secp256r1, secp384r1. The
/// post-quantum hybrid X25519MLKEM768 (a 1.2 KB key share) is left out so the
/// handshake shows a classic ECDHE exchange; ask for it with `--groups`.
pub fn default_groups() -> Vec<&'static dyn SupportedKxGroup> {
    vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1]
}

/// Parses a group list (`x25519:secp256r1`, `X25519MLKEM768,x25519`), names
/// separated by `:` or `,`, in preference order.
pub fn parse_group_list(list: &str) -> Result<Vec<&'static dyn SupportedKxGroup>> {
    let mut out: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in list.split([':', ',']).map(str::trim).filter(|s| !s.is_empty()) {
        let found = GROUPS.iter().find(|g| {
            g.name.eq_ignore_ascii_case(name)
                || g.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        });
        match found {
            Some(g) => {
                if !out.iter().any(|o| o.name() == g.group.name()) {
                    out.push(g.group);
                }
            }
            None => {
                let known: Vec<&str> = GROUPS.iter().map(|g| g.name).collect();
                return Err(Error::new(format!("unknown key exchange group {name:?}"))
                    .with_hint(format!("use one of {}", known.join(", "))));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::new("the group list is empty")
            .with_hint("name at least one group, e.g. --groups x25519"));
    }
    Ok(out)
}

/// The IANA name of a key exchange group (`x25519`, `secp256r1`, ...).
pub fn group_name(group: NamedGroup) -> String {
    match GROUPS.iter().find(|g| g.group.name() == group) {
        Some(g) => g.name.to_string(),
        None => format!("{group:?}"),
    }
}

/// What a TLS endpoint offers: versions, suites and groups, each in order.
#[derive(Clone, Debug)]
pub struct TlsChoices {
    /// Lowest version offered.
    pub min: TlsVersion,
    /// Highest version offered.
    pub max: TlsVersion,
    /// Cipher suites, most preferred first.
    pub suites: Vec<SupportedCipherSuite>,
    /// Key exchange groups, most preferred first.
    pub groups: Vec<&'static dyn SupportedKxGroup>,
}

impl Default for TlsChoices {
    fn default() -> Self {
        TlsChoices {
            min: TlsVersion::Tls12,
            max: TlsVersion::Tls13,
            suites: default_suites(),
            groups: default_groups(),
        }
    }
}

impl TlsChoices {
    /// The versions to enable: those in `min..=max` that have at least one
    /// chosen suite (so `--ciphers` naming only TLS 1.2 suites means TLS 1.2).
    pub fn versions(&self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>> {
        if self.min > self.max {
            return Err(Error::new(format!(
                "the lowest TLS version ({}) is above the highest ({})",
                self.min, self.max
            ))
            .with_hint("choose --tls-min at or below --tls-max"));
        }
        let versions: Vec<_> = [TlsVersion::Tls12, TlsVersion::Tls13]
            .into_iter()
            .filter(|v| *v >= self.min && *v <= self.max)
            .filter(|v| self.suites.iter().any(|s| TlsVersion::of_suite(*s) == *v))
            .map(TlsVersion::rustls)
            .collect();
        if versions.is_empty() {
            return Err(Error::new(format!(
                "none of the chosen cipher suites is for {}",
                if self.min == self.max {
                    self.min.to_string()
                } else {
                    format!("{} to {}", self.min, self.max)
                }
            ))
            .with_hint("TLS 1.3 suites are named TLS_AES_*/TLS_CHACHA20_*, TLS 1.2 ones ECDHE-*"));
        }
        Ok(versions)
    }

    /// The aws-lc-rs provider restricted to (and ordered as) these choices.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        Arc::new(CryptoProvider {
            cipher_suites: self.suites.clone(),
            kx_groups: self.groups.clone(),
            ..provider::default_provider()
        })
    }
}

/// Reads a certificate chain: PEM `CERTIFICATE` blocks, or one DER certificate.
pub fn load_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = crate::files::read(path)?;
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        match item {
            Ok(c) => chain.push(c),
            Err(e) => {
                return Err(Error::new(format!("{}: bad PEM: {e}", path.display()))
                    .with_hint("pass a PEM certificate (-----BEGIN CERTIFICATE-----)"));
            }
        }
    }
    if chain.is_empty() {
        // A DER certificate is one SEQUENCE (0x30).
        if bytes.first() == Some(&0x30) {
            chain.push(CertificateDer::from(bytes));
        } else {
            return Err(Error::new(format!("{}: no certificate found", path.display()))
                .with_hint("pass a PEM certificate (-----BEGIN CERTIFICATE-----)"));
        }
    }
    Ok(chain)
}

/// Reads a private key: PEM PKCS#8, PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`), or DER.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = crate::files::read(path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(k) => Ok(k),
        Err(rustls::pki_types::pem::Error::NoItemsFound) if bytes.first() == Some(&0x30) => {
            PrivateKeyDer::try_from(bytes).map_err(|e| {
                Error::new(format!("{}: not a private key: {e}", path.display()))
                    .with_hint("pass a PEM private key (-----BEGIN PRIVATE KEY-----)")
            })
        }
        Err(e) => {
            let what = match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no private key found".to_string(),
                other => format!("bad PEM: {other}"),
            };
            Err(Error::new(format!("{}: {what}", path.display()))
                .with_hint("pass a PEM private key (-----BEGIN PRIVATE KEY-----)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_and_iana_cipher_names() {
        let s = parse_cipher_list(
            "ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384, \
             TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,TLS13_AES_128_GCM_SHA256",
        )
        .unwrap();
        let names: Vec<String> = s.iter().map(|s| suite_name(s.suite())).collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_GCM_SHA256",
            ]
        );
    }

    #[test]
    fn rejects_unknown_and_cbc_ciphers_with_a_hint() {
        let err = parse_cipher_list("AES128-SHA").unwrap_err();
        assert!(err.message().contains("AES128-SHA"));
        assert!(err.hint().unwrap().contains("ECDHE-RSA-AES128-GCM-SHA256"));
        assert!(parse_cipher_list(" : ").is_err());
    }

    #[test]
    fn default_order_puts_aes128_first_and_x25519_first() {
        let suites = default_suites();
        assert_eq!(suites[0].suite(), CipherSuite::TLS13_AES_128_GCM_SHA256);
        let rsa: Vec<_> = suites
            .iter()
            .filter(|s| suite_name(s.suite()).starts_with("TLS_ECDHE_RSA"))
            .map(|s| suite_name(s.suite()))
            .collect();
        assert_eq!(rsa[0], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        let groups: Vec<String> = default_groups().iter().map(|g| group_name(g.name())).collect();
        assert_eq!(groups, ["x25519", "secp256r1", "secp384r1"]);
    }

    #[test]
    fn parses_group_names_and_aliases() {
        let g = parse_group_list("X25519MLKEM768:P-256,x25519").unwrap();
        let names: Vec<String> = g.iter().map(|g| group_name(g.name())).collect();
        assert_eq!(names, ["X25519MLKEM768", "secp256r1", "x25519"]);
        assert!(parse_group_list("ffdhe2048").unwrap_err().hint().unwrap().contains("x25519"));
    }

    #[test]
    fn parses_versions_and_refuses_old_ones() {
        assert_eq!(TlsVersion::parse("1.2").unwrap(), TlsVersion::Tls12);
        assert_eq!(TlsVersion::parse("TLSv1.3").unwrap(), TlsVersion::Tls13);
        assert!(TlsVersion::parse("1.1").unwrap_err().hint().unwrap().contains("1.2"));
        assert!(TlsVersion::parse("2").is_err());
    }

    #[test]
    fn versions_follow_the_chosen_suites() {
        let mut c = TlsChoices {
            suites: parse_cipher_list("ECDHE-RSA-AES128-GCM-SHA256").unwrap(),
            ..TlsChoices::default()
        };
        assert_eq!(c.versions().unwrap().len(), 1);
        c.min = TlsVersion::Tls13;
        assert!(c.versions().is_err());
        let c = TlsChoices { min: TlsVersion::Tls13, max: TlsVersion::Tls12, ..Default::default() };
        assert!(c.versions().unwrap_err().hint().unwrap().contains("--tls-min"));
    }
}
