//! Keys, certificate signing requests and self-signed certificates: the
//! lab's `openssl genrsa` / `openssl req -new` / `openssl x509 -req -signkey`.
//!
//! Generation goes through rcgen (aws-lc-rs backend, the only one that makes
//! RSA keys). Everything here also accepts keys, CSRs and certificates made by
//! openssl: keys as PKCS#8, PKCS#1 or SEC1, PEM or DER; CSRs and certificates
//! as PEM or DER. DER is decoded by x509-parser and asn1-rs, never by hand.
//!
//! Nothing here panics on bad input: every reader returns an [`Error`] that
//! says what was wrong and what to do next.

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, IsCa, KeyUsagePurpose, PublicKeyData,
    SanType, SerialNumber,
};
use x509_parser::asn1_rs::{Any, Class, FromDer, Sequence, Tag};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name};

use crate::error::{Error, Result};

/// rcgen's key pair, the key type every function here takes.
pub use rcgen::KeyPair;

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
        // PKCS#8 v1 (RFC 5208), as `openssl genpkey` writes it: OpenSSL 3.0
        // cannot read the v2 form (RFC 5958, public key included) that
        // aws-lc makes by default.
        KeyType::Ed25519 => aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8v1(
            &aws_lc_rs::rand::SystemRandom::new(),
        )
        .map_err(|_| rcgen::Error::RingUnspecified)
        .and_then(|doc| KeyPair::try_from(doc.as_ref())),
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
        leaf_params(common_name_dn(&self.common_name)?, &self.sans, self.days)
    }
}

/// A subject of just `CN=<name>`.
fn common_name_dn(common_name: &str) -> Result<DistinguishedName> {
    if common_name.trim().is_empty() {
        return Err(Error::new("the common name is empty").with_hint("pass --cn NAME"));
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    Ok(dn)
}

/// The parameters of every certificate the lab signs: a TLS server
/// certificate (keyUsage digitalSignature + keyEncipherment, extKeyUsage
/// serverAuth, basicConstraints CA:FALSE) with subject and authority key
/// identifiers, as `openssl x509 -req` adds them. A self-signed CA:FALSE
/// certificate is still accepted as its own trust anchor by
/// `openssl verify -CAfile`, curl and browsers with an exception.
fn leaf_params(dn: DistinguishedName, sans: &[San], days: u32) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.subject_alt_names = sans_to_rcgen(sans)?;
    let now = time::OffsetDateTime::now_utc();
    // One minute back, so a client whose clock is slightly behind still accepts it.
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    params.serial_number = Some(random_serial()?);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // ExplicitNoCa makes rcgen write basicConstraints (CA:FALSE) and the
    // subject key identifier; the authority key identifier then names the
    // same key, as it does in openssl's self-signed certificates.
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    Ok(params)
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

/// The SANs a certificate for `common_name` gets when none are given: the
/// lab's localhost names for `localhost`, otherwise the name itself (clients
/// match host names against the SAN only, never the CN:
/// [RFC 6125 §6.4.4](https://www.rfc-editor.org/rfc/rfc6125#section-6.4.4)).
pub fn default_sans_for(common_name: &str) -> Vec<San> {
    if common_name.eq_ignore_ascii_case("localhost") {
        default_sans()
    } else if let Ok(ip) = common_name.parse() {
        vec![San::Ip(ip)]
    } else if is_dns_name(common_name) {
        vec![San::Dns(common_name.to_string())]
    } else {
        Vec::new()
    }
}

/// SANs as one line, `DNS:localhost, IP:127.0.0.1`, or `(none)`.
pub fn san_list_text(sans: &[San]) -> String {
    if sans.is_empty() {
        return "(none)".into();
    }
    sans.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// Reading files made by us or by openssl.

/// Largest key, CSR or certificate file read. Real ones are a few KiB and
/// bundles of a whole CA store about 250 KiB; the limit keeps a wrong path
/// (a disk image, /dev/zero) from eating memory.
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Reads a key, CSR or certificate file (at most [`MAX_INPUT`] bytes),
/// naming it in errors.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        let err = Error::new(format!("{name}: {e}"));
        if e.kind() == std::io::ErrorKind::NotFound { err.with_hint("check the path") } else { err }
    })?;
    let mut data = Vec::new();
    file.take(MAX_INPUT + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::new(format!("{name}: {e}")))?;
    if data.len() as u64 > MAX_INPUT {
        return Err(Error::new(format!(
            "{name}: larger than {} MiB, too big for a key, CSR or certificate",
            MAX_INPUT >> 20
        ))
        .with_hint("check the path"));
    }
    Ok(data)
}

/// One object of an input file: a PEM block, or the whole file when it is DER.
#[derive(Clone, Debug)]
pub struct Block {
    /// The PEM label (`CERTIFICATE`, `PRIVATE KEY`, ...); `None` for DER input.
    pub label: Option<String>,
    /// The DER bytes.
    pub der: Vec<u8>,
    /// PEM headers say it is encrypted (`Proc-Type: 4,ENCRYPTED`, the
    /// legacy `openssl genrsa -aes256` form).
    pub encrypted: bool,
}

/// Splits an input into its objects: every PEM block if it has any (text
/// around them, as `openssl x509 -text` leaves, is skipped), otherwise the
/// whole input as one DER object.
pub fn split_blocks(data: &[u8]) -> Result<Vec<Block>> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if data.is_empty() {
        return Err(Error::new("the file is empty"));
    }
    let begins = data.windows(BEGIN.len()).filter(|w| *w == BEGIN).count();
    if begins == 0 {
        return Ok(vec![Block { label: None, der: data.to_vec(), encrypted: false }]);
    }
    let pems = pem::parse_many(data).map_err(|e| {
        Error::new(format!("malformed PEM: {e}"))
            .with_hint("the file looks like PEM but does not decode; was it cut or edited?")
    })?;
    // The pem crate stops quietly at a BEGIN line without its END line.
    if pems.len() != begins {
        return Err(Error::new(format!(
            "malformed PEM: {begins} BEGIN line(s) but {} complete block(s)",
            pems.len()
        ))
        .with_hint("a block has no matching -----END ...----- line; was the file cut short?"));
    }
    Ok(pems
        .into_iter()
        .map(|p| {
            let encrypted = p
                .headers()
                .get("Proc-Type")
                .is_some_and(|v| v.to_ascii_uppercase().contains("ENCRYPTED"));
            Block { label: Some(p.tag().to_string()), der: p.into_contents(), encrypted }
        })
        .collect())
}

/// How a private key is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEncoding {
    /// PKCS#8 PrivateKeyInfo ([RFC 5958](https://www.rfc-editor.org/rfc/rfc5958)), PEM "PRIVATE KEY".
    Pkcs8,
    /// PKCS#1 RSAPrivateKey ([RFC 8017 §A.1.2](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.2)), PEM "RSA PRIVATE KEY".
    Pkcs1,
    /// SEC1 ECPrivateKey ([RFC 5915](https://www.rfc-editor.org/rfc/rfc5915)), PEM "EC PRIVATE KEY".
    Sec1,
}

impl KeyEncoding {
    /// `PKCS#8`, `PKCS#1` or `SEC1`.
    pub fn name(self) -> &'static str {
        match self {
            KeyEncoding::Pkcs8 => "PKCS#8",
            KeyEncoding::Pkcs1 => "PKCS#1",
            KeyEncoding::Sec1 => "SEC1",
        }
    }
}

/// What the outer structure of a DER private key says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyShape {
    /// A plain key in this encoding.
    Plain(KeyEncoding),
    /// PKCS#8 EncryptedPrivateKeyInfo.
    Encrypted,
}

/// Tells the private key encodings apart by their first two fields, with
/// asn1-rs: PKCS#8 is `INTEGER, SEQUENCE (algorithm), ...`, PKCS#1
/// `INTEGER, INTEGER (modulus), ...`, SEC1 `INTEGER 1, OCTET STRING, ...`,
/// EncryptedPrivateKeyInfo `SEQUENCE (algorithm), OCTET STRING`.
/// Certificates, CSRs and public keys start with a SEQUENCE followed by
/// something else, so they give `None`.
pub fn key_shape(der: &[u8]) -> Option<KeyShape> {
    let (rest, seq) = Sequence::from_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let mut fields = seq.der_iter::<Any, x509_parser::asn1_rs::Error>();
    let first = fields.next()?.ok()?;
    let second = fields.next()?.ok()?;
    if first.class() != Class::Universal || second.class() != Class::Universal {
        return None;
    }
    match (first.tag(), second.tag()) {
        (Tag::Integer, Tag::Sequence) => Some(KeyShape::Plain(KeyEncoding::Pkcs8)),
        (Tag::Integer, Tag::Integer) => Some(KeyShape::Plain(KeyEncoding::Pkcs1)),
        (Tag::Integer, Tag::OctetString) => Some(KeyShape::Plain(KeyEncoding::Sec1)),
        (Tag::Sequence, Tag::OctetString) => Some(KeyShape::Encrypted),
        _ => None,
    }
}

/// PEM labels that hold a plain private key.
pub const PRIVATE_KEY_LABELS: [&str; 3] = ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

/// The error for a passphrase-protected key.
pub fn encrypted_key_error(name: &str) -> Error {
    Error::new("encrypted private keys are not supported").with_hint(format!(
        "decrypt it first: openssl pkey -in {name} -out {name}.plain (it asks for the passphrase)"
    ))
}

/// A private key read from a file.
pub struct LoadedKey {
    /// The key, ready to sign.
    pub key: KeyPair,
    /// How it was wrapped.
    pub encoding: KeyEncoding,
}

/// Reads a private key file: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`
/// or SEC1 `EC PRIVATE KEY` (with or without the `EC PARAMETERS` block that
/// `openssl ecparam -genkey` writes first), PEM or DER.
pub fn load_key(path: &Path) -> Result<LoadedKey> {
    let name = path.display().to_string();
    let data = read_input(path)?;
    parse_key(&data, &name).map_err(|e| e.context(&name))
}

/// Parses a private key (see [`load_key`]); `name` is used in hints.
pub fn parse_key(data: &[u8], name: &str) -> Result<LoadedKey> {
    let mut seen = Vec::new();
    for block in split_blocks(data)? {
        match block.label.as_deref() {
            Some("ENCRYPTED PRIVATE KEY") => return Err(encrypted_key_error(name)),
            Some(l) if PRIVATE_KEY_LABELS.contains(&l) && block.encrypted => {
                return Err(encrypted_key_error(name));
            }
            Some(l) if PRIVATE_KEY_LABELS.contains(&l) => return key_from_der(&block.der, name),
            None => return key_from_der(&block.der, name),
            // openssl ecparam -genkey writes the curve before the key.
            Some("EC PARAMETERS") => {}
            Some(other) => seen.push(other.to_string()),
        }
    }
    Err(Error::new(format!("no private key in it (found {})", seen.join(", ")))
        .with_hint("pass the key file (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"))
}

fn key_from_der(der: &[u8], name: &str) -> Result<LoadedKey> {
    let encoding = match key_shape(der) {
        Some(KeyShape::Plain(e)) => e,
        Some(KeyShape::Encrypted) => return Err(encrypted_key_error(name)),
        None => {
            return Err(Error::new("not a private key (PKCS#8, PKCS#1 or SEC1; PEM or DER)")
                .with_hint(format!("`tlsscope cert show {name}` tells what the file is")));
        }
    };
    let key = KeyPair::try_from(der).map_err(|e| {
        Error::new(format!("{} private key not usable: {e}", encoding.name())).with_hint(
            "tlsscope signs with RSA (2048 to 8192 bits), ECDSA P-256/P-384/P-521 and Ed25519 keys",
        )
    })?;
    Ok(LoadedKey { key, encoding })
}

/// A short description of a key: `RSA 2048-bit`, `ECDSA P-256`, `Ed25519`.
pub fn describe_key(key: &KeyPair) -> String {
    let alg = key.algorithm();
    if alg == &rcgen::PKCS_ED25519 {
        "Ed25519".into()
    } else if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        "ECDSA P-256".into()
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        "ECDSA P-384".into()
    } else if alg == &rcgen::PKCS_ECDSA_P521_SHA512 {
        "ECDSA P-521".into()
    } else {
        // rcgen gives RSA public keys as PKCS#1 RSAPublicKey DER.
        match x509_parser::public_key::RSAPublicKey::from_der(key.public_key_raw()) {
            Ok((_, rsa)) => format!("RSA {}-bit", bit_len(rsa.modulus)),
            Err(_) => "RSA".into(),
        }
    }
}

/// The bit length of a big-endian unsigned integer (leading zero bytes
/// and bits do not count), as openssl reports key sizes.
pub fn bit_len(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => {
            let top = be.get(i).copied().unwrap_or(0);
            (be.len() - i - 1) * 8 + (8 - top.leading_zeros() as usize)
        }
        None => 0,
    }
}

/// Reads a certificate signing request (PEM `CERTIFICATE REQUEST` or DER)
/// and returns its DER.
pub fn load_csr(path: &Path) -> Result<Vec<u8>> {
    let name = path.display().to_string();
    let data = read_input(path)?;
    parse_csr(&data).map_err(|e| e.context(&name))
}

/// Parses a CSR (see [`load_csr`]).
pub fn parse_csr(data: &[u8]) -> Result<Vec<u8>> {
    let mut seen = Vec::new();
    for block in split_blocks(data)? {
        match block.label.as_deref() {
            None | Some("CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST") => {
                match X509CertificationRequest::from_der(&block.der) {
                    Ok(([], _)) => return Ok(block.der),
                    Ok(_) => return Err(Error::new("trailing bytes after the CSR")),
                    Err(e) => {
                        return Err(Error::new(format!(
                            "not a certificate signing request (PKCS#10): {e}"
                        ))
                        .with_hint("make one with `tlsscope cert csr --key KEY`"));
                    }
                }
            }
            Some(other) => seen.push(other.to_string()),
        }
    }
    Err(Error::new(format!("no CERTIFICATE REQUEST in it (found {})", seen.join(", ")))
        .with_hint("make one with `tlsscope cert csr --key KEY`"))
}

// ---------------------------------------------------------------------------
// Signature checks (aws-lc-rs), shared by `cert sign` and `cert show`.

/// The verdict on one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigCheck {
    /// The signature verifies.
    Ok,
    /// It does not: the signed bytes, the signature or the key differ.
    Failed,
    /// tlsscope cannot check this algorithm / key combination (named).
    Unsupported(String),
}

/// Checks `signature` over `signed` (a tbsCertificate or
/// certificationRequestInfo, as DER) with the signer's public key, with
/// aws-lc-rs. The algorithm comes from `alg`
/// ([RFC 5280 §4.1.1.2](https://www.rfc-editor.org/rfc/rfc5280#section-4.1.1.2)),
/// the curve for ECDSA from the key.
pub fn check_signature(
    signer: &SubjectPublicKeyInfo,
    alg: &AlgorithmIdentifier,
    signature: &[u8],
    signed: &[u8],
) -> SigCheck {
    use aws_lc_rs::signature as sig;
    let alg_oid = alg.algorithm.to_id_string();
    let curve = signer
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string())
        .unwrap_or_default();
    let ec = |p256: &'static dyn sig::VerificationAlgorithm,
              p384: &'static dyn sig::VerificationAlgorithm,
              p521: &'static dyn sig::VerificationAlgorithm|
     -> Option<&'static dyn sig::VerificationAlgorithm> {
        match curve.as_str() {
            "1.2.840.10045.3.1.7" => Some(p256),
            "1.3.132.0.34" => Some(p384),
            "1.3.132.0.35" => Some(p521),
            _ => None,
        }
    };
    // The 1024-bit minimums are there so old certificates get a verdict; the
    // output shows the key size, so a weak key is not hidden.
    let algorithm: Option<&'static dyn sig::VerificationAlgorithm> = match alg_oid.as_str() {
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => {
            Some(&sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY)
        }
        "1.2.840.113549.1.1.11" => Some(&sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
        "1.2.840.113549.1.1.12" => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
        "1.2.840.113549.1.1.13" => Some(&sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
        "1.2.840.113549.1.1.10" => match pss_algorithm(alg) {
            Ok(a) => Some(a),
            Err(why) => return SigCheck::Unsupported(format!("rsassaPss {why}")),
        },
        "1.2.840.10045.4.3.2" => ec(
            &sig::ECDSA_P256_SHA256_ASN1,
            &sig::ECDSA_P384_SHA256_ASN1,
            &sig::ECDSA_P521_SHA256_ASN1,
        ),
        "1.2.840.10045.4.3.3" => ec(
            &sig::ECDSA_P256_SHA384_ASN1,
            &sig::ECDSA_P384_SHA384_ASN1,
            &sig::ECDSA_P521_SHA384_ASN1,
        ),
        "1.2.840.10045.4.3.4" => ec(
            &sig::ECDSA_P256_SHA512_ASN1,
            &sig::ECDSA_P384_SHA512_ASN1,
            &sig::ECDSA_P521_SHA512_ASN1,
        ),
        "1.3.101.112" => Some(&sig::ED25519),
        _ => None,
    };
    let Some(algorithm) = algorithm else {
        return SigCheck::Unsupported(signature_algorithm_name(alg));
    };
    let key = sig::UnparsedPublicKey::new(algorithm, &signer.subject_public_key.data);
    match key.verify(signed, signature) {
        Ok(()) => SigCheck::Ok,
        Err(_) => SigCheck::Failed,
    }
}

/// The aws-lc-rs verifier for RSASSA-PSS parameters
/// ([RFC 4055 §3.1](https://www.rfc-editor.org/rfc/rfc4055#section-3.1)).
/// aws-lc-rs checks PSS with MGF1 over the same hash and a salt as long as
/// the hash (what TLS 1.3 and most CAs use); openssl's own default is the
/// longest salt that fits, which it cannot check.
fn pss_algorithm(
    alg: &AlgorithmIdentifier,
) -> std::result::Result<&'static dyn aws_lc_rs::signature::VerificationAlgorithm, String> {
    use aws_lc_rs::signature as sig;
    let params = alg
        .parameters
        .as_ref()
        .and_then(|p| x509_parser::signature_algorithm::RsaSsaPssParams::try_from(p).ok())
        .ok_or("with missing or malformed parameters")?;
    let hash = params.hash_algorithm_oid().to_id_string();
    let (verifier, hash_len, name): (&'static dyn sig::VerificationAlgorithm, u32, &str) =
        match hash.as_str() {
            "2.16.840.1.101.3.4.2.1" => (&sig::RSA_PSS_2048_8192_SHA256, 32, "SHA-256"),
            "2.16.840.1.101.3.4.2.2" => (&sig::RSA_PSS_2048_8192_SHA384, 48, "SHA-384"),
            "2.16.840.1.101.3.4.2.3" => (&sig::RSA_PSS_2048_8192_SHA512, 64, "SHA-512"),
            _ => return Err(format!("with hash {hash}")),
        };
    let mgf_hash = params.mask_gen_algorithm().map(|m| m.hash.to_id_string()).unwrap_or_default();
    if mgf_hash != hash {
        return Err(format!("with {name} and a different MGF1 hash"));
    }
    let salt = params.salt_length();
    if salt != hash_len {
        return Err(format!("with {name} and a {salt}-byte salt"));
    }
    Ok(verifier)
}

/// openssl's name for a signature algorithm (`sha256WithRSAEncryption`,
/// `ecdsa-with-SHA256`, `ED25519`), else the registry's, else the dotted OID.
pub fn signature_algorithm_name(alg: &AlgorithmIdentifier) -> String {
    let oid = alg.algorithm.to_id_string();
    let known = match oid.as_str() {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    x509_parser::objects::oid2sn(&alg.algorithm, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or(oid)
}

// ---------------------------------------------------------------------------
// CSRs and signing them: `openssl req -new` and `openssl x509 -req -signkey`.

/// A certificate signing request made by the lab.
pub struct Csr {
    /// DER.
    pub der: Vec<u8>,
    /// PEM (`CERTIFICATE REQUEST`).
    pub pem: String,
}

/// Makes a PKCS#10 CSR ([RFC 2986](https://www.rfc-editor.org/rfc/rfc2986))
/// for `key` with subject `CN=<common_name>`, asking for `sans` in an
/// extensionRequest attribute, signed with the key itself.
pub fn make_csr(key: &KeyPair, common_name: &str, sans: &[San]) -> Result<Csr> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name_dn(common_name)?;
    params.subject_alt_names = sans_to_rcgen(sans)?;
    let csr =
        params.serialize_request(key).map_err(|e| Error::new(format!("making the CSR: {e}")))?;
    let pem = csr.pem().map_err(|e| Error::new(format!("encoding the CSR: {e}")))?;
    Ok(Csr { der: csr.der().to_vec(), pem })
}

/// A certificate made by [`sign_csr`].
pub struct Signed {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Subject (= issuer), as `CN=localhost`.
    pub subject: String,
    /// The subjectAltName entries it carries.
    pub sans: Vec<San>,
    /// Where the SANs came from: `--san` or the CSR.
    pub sans_from_csr: bool,
    /// End of validity.
    pub not_after: time::OffsetDateTime,
}

impl Signed {
    /// End of validity as `2027-11-28 05:51 UTC`.
    pub fn not_after_text(&self) -> String {
        let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        self.not_after.format(fmt).unwrap_or_else(|_| self.not_after.to_string())
    }
}

/// Self-signs a CSR with `key`, as `openssl x509 -req -in CSR -signkey KEY
/// -extfile SAN.txt` does: the issuer is the CSR's subject, the signature is
/// made with `key`, which must be the key the CSR was made with. The CSR's own
/// signature must verify (proof that whoever made it holds the key). SANs are
/// `sans` if given, else the ones the CSR asks for. The other extensions are
/// the lab's (see the module docs), not copied from the CSR, like
/// openssl without `-copy_extensions`.
pub fn sign_csr(csr_der: &[u8], key: &KeyPair, sans: Option<&[San]>, days: u32) -> Result<Signed> {
    let csr = match X509CertificationRequest::from_der(csr_der) {
        Ok((_, csr)) => csr,
        Err(e) => return Err(Error::new(format!("not a certificate signing request: {e}"))),
    };
    let info = &csr.certification_request_info;
    match check_signature(
        &info.subject_pki,
        &csr.signature_algorithm,
        &csr.signature_value.data,
        info.raw,
    ) {
        SigCheck::Ok => {}
        SigCheck::Failed => {
            return Err(Error::new(
                "the CSR's signature does not verify: it was changed after it was signed, or is corrupt",
            )
            .with_hint("make the CSR again: tlsscope cert csr --key KEY"));
        }
        SigCheck::Unsupported(alg) => {
            return Err(Error::new(format!("cannot check the CSR's signature ({alg})")));
        }
    }
    let key_spki_der = key.subject_public_key_info();
    let same_key = match SubjectPublicKeyInfo::from_der(&key_spki_der) {
        Ok((_, k)) => {
            k.algorithm.algorithm == info.subject_pki.algorithm.algorithm
                && k.subject_public_key.data == info.subject_pki.subject_public_key.data
        }
        Err(_) => false,
    };
    if !same_key {
        return Err(Error::new("the CSR was made for a different key than the one given").with_hint(
            "a self-signed certificate is signed with the CSR's own key: pass the key the CSR was made from",
        ));
    }
    let dn = dn_from_name(&info.subject)?;
    let (sans, sans_from_csr) = match sans {
        Some(s) => (s.to_vec(), false),
        None => (sans_from_csr(&csr)?, true),
    };
    let params = leaf_params(dn, &sans, days)?;
    let not_after = params.not_after;
    let cert =
        params.self_signed(key).map_err(|e| Error::new(format!("signing the certificate: {e}")))?;
    Ok(Signed {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        subject: info.subject.to_string(),
        sans,
        sans_from_csr,
        not_after,
    })
}

/// The SANs a CSR asks for in its extensionRequest
/// ([RFC 2985 §5.4.2](https://www.rfc-editor.org/rfc/rfc2985#section-5.4.2)).
fn sans_from_csr(csr: &X509CertificationRequest) -> Result<Vec<San>> {
    let mut out = Vec::new();
    let Some(exts) = csr.requested_extensions() else { return Ok(out) };
    for ext in exts {
        let ParsedExtension::SubjectAlternativeName(san) = ext else { continue };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(n) => out.push(San::Dns((*n).to_string())),
                GeneralName::IPAddress(b) => match ip_from_bytes(b) {
                    Some(ip) => out.push(San::Ip(ip)),
                    None => return Err(Error::new("the CSR asks for a malformed IP address SAN")),
                },
                other => {
                    return Err(Error::new(format!(
                        "the CSR asks for a subjectAltName the lab does not copy ({other})"
                    ))
                    .with_hint("pass --san to choose the names (DNS: and IP: entries)"));
                }
            }
        }
    }
    Ok(out)
}

/// An IP address from a SAN's 4 or 16 bytes.
pub fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
        Some(IpAddr::from(v6))
    } else {
        None
    }
}

/// The CSR's subject as rcgen's name, attribute by attribute with their
/// string types, so the certificate's subject and issuer say what the CSR
/// said. rcgen keeps one value per attribute type and one attribute per RDN:
/// other names are refused rather than silently changed.
fn dn_from_name(name: &X509Name) -> Result<DistinguishedName> {
    use rcgen::string::{BmpString, Ia5String, PrintableString, TeletexString, UniversalString};
    let unsupported = |why: &str| {
        Error::new(format!("cannot copy the CSR's subject ({name}): {why}"))
            .with_hint("make the CSR with a simpler subject, e.g. tlsscope cert csr --cn NAME")
    };
    let mut dn = DistinguishedName::new();
    let mut seen = Vec::new();
    for rdn in name.iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(unsupported("a multi-valued RDN"));
        };
        let Some(oid) = attr.attr_type().iter() else {
            return Err(unsupported("an attribute type that is not a valid OID"));
        };
        let ty = DnType::from_oid(&oid.collect::<Vec<_>>());
        if seen.contains(&ty) {
            return Err(unsupported("a repeated attribute"));
        }
        seen.push(ty.clone());
        let value = attr.attr_value();
        let data = value.data;
        let text =
            || std::str::from_utf8(data).map_err(|_| unsupported("a string that is not UTF-8"));
        let bad = |_| unsupported("a string with characters its type does not allow");
        let v = match value.tag() {
            Tag::Utf8String => DnValue::Utf8String(text()?.to_string()),
            Tag::PrintableString => {
                DnValue::PrintableString(PrintableString::try_from(text()?).map_err(bad)?)
            }
            Tag::Ia5String => DnValue::Ia5String(Ia5String::try_from(text()?).map_err(bad)?),
            Tag::T61String => {
                DnValue::TeletexString(TeletexString::try_from(text()?).map_err(bad)?)
            }
            Tag::BmpString => {
                DnValue::BmpString(BmpString::from_utf16be(data.to_vec()).map_err(bad)?)
            }
            Tag::UniversalString => {
                DnValue::UniversalString(UniversalString::from_utf32be(data.to_vec()).map_err(bad)?)
            }
            _ => return Err(unsupported("a value that is not a string")),
        };
        dn.push(ty, v);
    }
    Ok(dn)
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

    /// The privateKey OCTET STRING inside a PKCS#8 key: PKCS#1 for RSA,
    /// SEC1 for EC (RFC 5208 §5).
    fn pkcs8_inner(pkcs8: &[u8]) -> Vec<u8> {
        let (_, outer) = Any::from_der(pkcs8).unwrap();
        let (rest, _version) = Any::from_der(outer.data).unwrap();
        let (rest, _alg) = Any::from_der(rest).unwrap();
        let (_, key) = Any::from_der(rest).unwrap();
        assert_eq!(key.tag(), Tag::OctetString);
        key.data.to_vec()
    }

    fn pem_of(label: &str, der: &[u8]) -> String {
        pem::encode(&pem::Pem::new(label, der.to_vec()))
    }

    #[test]
    fn loads_keys_in_every_encoding_pem_and_der() {
        let rsa = generate_key(KeyType::Rsa2048).unwrap();
        let pkcs1 = pkcs8_inner(&rsa.serialize_der());
        let ec = generate_key(KeyType::P256).unwrap();
        let sec1 = pkcs8_inner(&ec.serialize_der());
        // openssl ecparam -genkey writes the curve OID block first.
        let ec_params =
            pem_of("EC PARAMETERS", &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        let ed = generate_key(KeyType::Ed25519).unwrap();
        let cases: Vec<(Vec<u8>, KeyEncoding, &str)> = vec![
            (rsa.serialize_pem().into_bytes(), KeyEncoding::Pkcs8, "RSA 2048-bit"),
            (rsa.serialize_der(), KeyEncoding::Pkcs8, "RSA 2048-bit"),
            (pem_of("RSA PRIVATE KEY", &pkcs1).into_bytes(), KeyEncoding::Pkcs1, "RSA 2048-bit"),
            (pkcs1.clone(), KeyEncoding::Pkcs1, "RSA 2048-bit"),
            (ec.serialize_pem().into_bytes(), KeyEncoding::Pkcs8, "ECDSA P-256"),
            (
                format!("{ec_params}{}", pem_of("EC PRIVATE KEY", &sec1)).into_bytes(),
                KeyEncoding::Sec1,
                "ECDSA P-256",
            ),
            (sec1.clone(), KeyEncoding::Sec1, "ECDSA P-256"),
            (ed.serialize_pem().into_bytes(), KeyEncoding::Pkcs8, "Ed25519"),
            (ed.serialize_der(), KeyEncoding::Pkcs8, "Ed25519"),
        ];
        for (data, encoding, description) in cases {
            let loaded = parse_key(&data, "k").unwrap();
            assert_eq!(loaded.encoding, encoding, "{description}");
            assert_eq!(describe_key(&loaded.key), description);
        }
        // The PKCS#1 key is the same key as the PKCS#8 one.
        let again = parse_key(&pkcs1, "k").unwrap();
        assert_eq!(again.key.public_key_raw(), rsa.public_key_raw());
    }

    #[test]
    fn encrypted_keys_get_a_decrypt_hint() {
        // EncryptedPrivateKeyInfo (RFC 5958 §3): SEQUENCE {
        //   SEQUENCE { OID 1.2.840.113549.1.5.13 (PBES2) }, OCTET STRING (4 bytes) }
        let der = [
            0x30, 0x13, // SEQUENCE, 19 bytes
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05,
            0x0d, // algorithm
            0x04, 0x04, 0xde, 0xad, 0xbe, 0xef, // encryptedData
        ];
        let pkcs8 = pem_of("ENCRYPTED PRIVATE KEY", &der);
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                      DEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n\
                      AAAA\n-----END RSA PRIVATE KEY-----\n";
        for data in [pkcs8.as_bytes(), legacy.as_bytes(), &der[..]] {
            let err = parse_key(data, "server.key").err().unwrap();
            assert!(err.message().contains("encrypted"), "{err}");
            assert!(err.hint().unwrap().contains("openssl pkey -in server.key -out"), "{err:?}");
        }
    }

    #[test]
    fn truncated_or_garbage_key_files_are_errors() {
        let pem = generate_key(KeyType::P256).unwrap().serialize_pem();
        // Every cut before the final newline breaks the END line or the base64.
        for len in 0..pem.trim_end().len() {
            assert!(parse_key(&pem.as_bytes()[..len], "k").is_err(), "prefix {len}");
        }
        let der = generate_key(KeyType::Ed25519).unwrap().serialize_der();
        for len in 0..der.len() {
            assert!(parse_key(&der[..len], "k").is_err(), "prefix {len}");
        }
        for junk in [
            &b"hello"[..],
            b"\x00\x01\x02",
            b"-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(parse_key(junk, "k").is_err());
        }
        let cert = generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        let err = parse_key(cert.cert_pem.as_bytes(), "k").err().unwrap();
        assert!(err.message().contains("found CERTIFICATE"), "{err}");
    }

    #[test]
    fn csr_carries_subject_and_sans_and_signing_copies_them() {
        let key = generate_key(KeyType::P384).unwrap();
        let sans = parse_san_list("DNS:example.test,IP:10.1.2.3").unwrap();
        let csr = make_csr(&key, "example.test", &sans).unwrap();
        assert_eq!(parse_csr(csr.pem.as_bytes()).unwrap(), csr.der);
        let signed = sign_csr(&csr.der, &key, None, 10).unwrap();
        assert!(signed.sans_from_csr);
        assert_eq!(signed.sans, sans);
        let (_, cert) = x509_parser::parse_x509_certificate(&signed.cert_der).unwrap();
        assert_eq!(cert.subject().to_string(), "CN=example.test");
        assert_eq!(cert.subject(), cert.issuer());
        let names = &cert.subject_alternative_name().unwrap().unwrap().value.general_names;
        assert_eq!(names.len(), 2);
        let sig = check_signature(
            cert.public_key(),
            &cert.signature_algorithm,
            &cert.signature_value.data,
            cert.tbs_certificate.as_ref(),
        );
        assert_eq!(sig, SigCheck::Ok);
        // --san replaces what the CSR asked for.
        let only = parse_san_list("DNS:other.test").unwrap();
        let signed = sign_csr(&csr.der, &key, Some(&only), 10).unwrap();
        assert_eq!(signed.sans, only);
        assert!(!signed.sans_from_csr);
    }

    #[test]
    fn signing_refuses_another_key_and_a_tampered_csr() {
        let key = generate_key(KeyType::P256).unwrap();
        let other = generate_key(KeyType::P256).unwrap();
        let csr = make_csr(&key, "localhost", &default_sans()).unwrap();
        let err = sign_csr(&csr.der, &other, None, 1).err().unwrap();
        assert!(err.message().contains("different key"), "{err}");
        // Change one letter of the subject: the CSR's signature no longer verifies.
        let mut der = csr.der.clone();
        let pos = der.windows(9).position(|w| w == b"localhost").unwrap();
        der[pos] = b'L';
        let err = sign_csr(&der, &key, None, 1).err().unwrap();
        assert!(err.message().contains("signature does not verify"), "{err}");
    }

    #[test]
    fn csr_reader_says_what_it_found_instead() {
        let cert = generate_self_signed(KeyType::Ed25519, &CertSpec::default()).unwrap();
        let err = parse_csr(cert.cert_pem.as_bytes()).err().unwrap();
        assert!(err.message().contains("found CERTIFICATE"), "{err}");
        assert!(parse_csr(&cert.cert_der).is_err());
        assert!(parse_csr(b"").is_err());
    }

    #[test]
    fn default_sans_follow_the_common_name() {
        assert_eq!(default_sans_for("localhost"), default_sans());
        assert_eq!(default_sans_for("example.org"), vec![San::Dns("example.org".into())]);
        assert_eq!(default_sans_for("10.0.0.1"), vec![San::Ip("10.0.0.1".parse().unwrap())]);
        assert!(default_sans_for("My Server").is_empty());
    }

    #[test]
    fn ed25519_keys_are_pkcs8_v1_like_openssl_writes_them() {
        let key = generate_key(KeyType::Ed25519).unwrap();
        let der = key.serialize_der();
        let (_, outer) = Any::from_der(&der).unwrap();
        let (_, version) = Any::from_der(outer.data).unwrap();
        assert_eq!(version.data, [0], "version 0 = v1, no public key field");
        assert_eq!(der.len(), 48);
        assert_eq!(describe_key(&parse_key(&der, "k").unwrap().key), "Ed25519");
    }

    #[test]
    fn bit_length_ignores_leading_zeros() {
        assert_eq!(bit_len(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_len(&[0x01, 0xff]), 9);
        assert_eq!(bit_len(&[0x00]), 0);
        assert_eq!(bit_len(&[]), 0);
    }

    #[test]
    fn fingerprint_is_colon_hex() {
        let fp = sha256_fingerprint(b"abc");
        assert!(fp.starts_with("BA:78:16:BF:"));
        assert_eq!(fp.len(), 32 * 3 - 1);
    }
}
