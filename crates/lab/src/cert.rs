//! Keys, certificate signing requests and self-signed certificates: the
//! lab's `openssl genrsa` / `openssl req -new` / `openssl x509 -req -signkey`.
//!
//! Generation goes through rcgen (aws-lc-rs backend, the only one that makes
//! RSA keys). Everything here also accepts keys, CSRs and certificates made by
//! openssl.

use std::net::IpAddr;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

use crate::error::{Error, Result};

/// The key types `cert new --key-type` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KeyType {
    /// RSA 2048-bit, signing with sha256WithRSAEncryption (the lab's default).
    #[default]
    Rsa2048,
    /// RSA 3072-bit.
    Rsa3072,
    /// RSA 4096-bit.
    Rsa4096,
    /// ECDSA on P-256 with SHA-256.
    P256,
    /// ECDSA on P-384 with SHA-384.
    P384,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// Every key type, in the order `--help` lists them.
    pub const ALL: [KeyType; 6] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::P256,
        KeyType::P384,
        KeyType::Ed25519,
    ];

    /// The name used on the command line (`rsa2048`, `p256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(s: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s))
    }
}

/// Makes a fresh private key.
pub fn generate_key(kind: KeyType) -> Result<KeyPair> {
    use rcgen::RsaKeySize;
    let r = match kind {
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        KeyType::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
        KeyType::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
        KeyType::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyType::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
    };
    r.map_err(|e| Error::new(format!("generating a {} key: {e}", kind.name())))
}

/// One subjectAltName entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    /// `DNS:name`
    Dns(String),
    /// `IP:addr`
    Ip(IpAddr),
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(n) => write!(f, "DNS:{n}"),
            San::Ip(a) => write!(f, "IP:{a}"),
        }
    }
}

/// Parses a SAN list as openssl's `subjectAltName=` takes it:
/// `DNS:localhost,IP:127.0.0.1,IP:::1`. A bare entry is an IP address if it
/// parses as one, a DNS name otherwise.
pub fn parse_san_list(list: &str) -> Result<Vec<San>> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kind, value) = match item.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("dns") => ("dns", v),
            Some((k, v)) if k.eq_ignore_ascii_case("ip") => ("ip", v),
            _ => ("", item),
        };
        let bad = || {
            Error::new(format!("bad subjectAltName entry {item:?}"))
                .with_hint("write entries as DNS:name or IP:address, separated by commas")
        };
        let san = match kind {
            "dns" if is_dns_name(value) => San::Dns(value.to_string()),
            "ip" => San::Ip(value.parse().map_err(|_| bad())?),
            "" => match value.parse() {
                Ok(ip) => San::Ip(ip),
                Err(_) if is_dns_name(value) => San::Dns(value.to_string()),
                Err(_) => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        out.push(san);
    }
    Ok(out)
}

fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.*_".contains(&b))
}

/// The lab's default SAN: `DNS:localhost, IP:127.0.0.1, IP:::1`.
pub fn default_sans() -> Vec<San> {
    vec![
        San::Dns("localhost".into()),
        San::Ip(IpAddr::from([127, 0, 0, 1])),
        San::Ip(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
    ]
}

/// What goes into a certificate besides the key.
#[derive(Clone, Debug)]
pub struct CertSpec {
    /// Subject common name.
    pub common_name: String,
    /// subjectAltName entries.
    pub sans: Vec<San>,
    /// Validity in days from now.
    pub days: u32,
}

impl Default for CertSpec {
    fn default() -> Self {
        CertSpec { common_name: "localhost".into(), sans: default_sans(), days: 365 }
    }
}

impl CertSpec {
    /// rcgen parameters for this spec: the subject, SANs, a random 16-byte
    /// serial, validity from one minute ago (clock skew) to `days` from now.
    pub fn params(&self) -> Result<CertificateParams> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, self.common_name.as_str());
        params.distinguished_name = dn;
        params.subject_alt_names = sans_to_rcgen(&self.sans)?;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + time::Duration::days(i64::from(self.days));
        params.serial_number = Some(random_serial()?);
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        Ok(params)
    }
}

/// Converts SANs to rcgen's form.
pub fn sans_to_rcgen(sans: &[San]) -> Result<Vec<SanType>> {
    sans.iter()
        .map(|s| match s {
            San::Dns(n) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| Error::new(format!("bad DNS name {n:?}: {e}"))),
            San::Ip(a) => Ok(SanType::IpAddress(*a)),
        })
        .collect()
}

/// A positive random serial of 16 bytes, as openssl makes them.
pub fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::new("the random generator failed"))?;
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte, so the length stays 16
    Ok(SerialNumber::from_slice(&bytes))
}

/// A certificate made by the lab, with the key it certifies.
pub struct SelfSigned {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8 DER).
    pub key_der: Vec<u8>,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
}

/// Makes a self-signed certificate for `key`.
pub fn self_signed(key: &KeyPair, spec: &CertSpec) -> Result<SelfSigned> {
    let cert = spec
        .params()?
        .self_signed(key)
        .map_err(|e| Error::new(format!("signing the certificate: {e}")))?;
    Ok(SelfSigned {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    })
}

/// A fresh key and self-signed certificate: what `serve` uses without `--cert`.
pub fn generate_self_signed(kind: KeyType, spec: &CertSpec) -> Result<SelfSigned> {
    let key = generate_key(kind)?;
    self_signed(&key, spec)
}

/// SHA-256 of DER bytes as colon-separated upper-case hex, as
/// `openssl x509 -fingerprint -sha256` prints it.
pub fn sha256_fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(der);
    let mut s = String::with_capacity(digest.len() * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_style_san_lists() {
        let sans =
            parse_san_list("DNS:localhost, IP:127.0.0.1,IP:::1,example.org,10.0.0.1").unwrap();
        assert_eq!(
            sans,
            vec![
                San::Dns("localhost".into()),
                San::Ip("127.0.0.1".parse().unwrap()),
                San::Ip("::1".parse().unwrap()),
                San::Dns("example.org".into()),
                San::Ip("10.0.0.1".parse().unwrap()),
            ]
        );
    }

    #[test]
    fn rejects_bad_san_entries() {
        assert!(parse_san_list("IP:not-an-ip").is_err());
        assert!(parse_san_list("URI:http://x").is_err());
        assert!(parse_san_list("DNS:has space").is_err());
    }

    #[test]
    fn self_signed_ed25519_has_the_requested_names() {
        let made = generate_self_signed(KeyType::Ed25519, &CertSpec::default()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&made.cert_der).unwrap();
        assert_eq!(cert.subject().to_string(), "CN=localhost");
        assert_eq!(cert.subject(), cert.issuer());
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(san.general_names.len(), 3);
        assert!(cert.validity().is_valid());
    }

    #[test]
    fn fingerprint_is_colon_hex() {
        let fp = sha256_fingerprint(b"abc");
        assert!(fp.starts_with("BA:78:16:BF:"));
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
