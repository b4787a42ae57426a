//! Verification checks of a TLS session, computed from the capture (and the
//! secrets where needed): certificate signatures, validity, name and trust
//! anchor; the ServerKeyExchange and CertificateVerify signatures; Finished
//! recomputed from the secrets; the (EC)DHE key exchange. Each check says
//! ok, failed or not possible (and why), with the values behind it.
//!
//! Verdicts on signatures come from aws-lc-rs (`signature::UnparsedPublicKey`).
//! For RSA PKCS#1 v1.5 the check also shows the two hashes side by side:
//! `hash_a`, computed over the signed bytes, and `hash_b`, recovered from the
//! signature as `signature^e mod n` (num-bigint) and read out of the
//! DigestInfo (asn1-rs, through x509-parser) — the arithmetic is for display,
//! the verdict stays aws-lc-rs's. The one exception is the TLS 1.0/1.1 RSA
//! signature over `MD5 + SHA-1` without a DigestInfo, which aws-lc-rs does
//! not offer: it is verified by re-encoding, as
//! [RFC 8017 §8.2.2](https://www.rfc-editor.org/rfc/rfc8017#section-8.2.2) says.
//!
//! Sans-IO like the rest of the crate: [`check_session`] takes a finished
//! [`Session`] and the trusted roots as bytes. Nothing here panics on what
//! the capture holds.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use aws_lc_rs::agreement;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use md5::Md5;
use num_bigint::BigUint;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use x509_parser::asn1_rs::{FromDer, Integer, Sequence};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::flow::Dir;
use crate::hostname::dns_name_matches;
use crate::session::{Protection, Resumption, Session};
use crate::time::Timestamp;
use crate::tls::decrypt::CipherSpec;
use crate::tls::handshake::{self, Body, ClientKeyExchange, Ctx, Kx, ServerParams, kind};
use crate::tls::keys::{self, HashAlg};
use crate::tls::registry;
use crate::tree::{Tree, hex, hex_short};

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Ok,
    /// The check failed: why.
    Failed(String),
    /// The check could not be made: why (a missing secret, an encrypted
    /// message, a resumed session, an unsupported algorithm...).
    NotPossible(String),
}

impl Outcome {
    /// `ok`, `failed` or `not possible`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::NotPossible(_) => "not possible",
        }
    }

    /// Why it failed or was not possible.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Ok => None,
            Outcome::Failed(r) | Outcome::NotPossible(r) => Some(r),
        }
    }

    /// Whether the check passed.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{}: {r}", self.label()),
            None => f.write_str(self.label()),
        }
    }
}

/// What a check is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The signature on certificate `index` (0 = the leaf) of the chain
    /// the server sent.
    CertificateSignature {
        /// Position in the chain, leaf first.
        index: usize,
    },
    /// The validity period of certificate `index`, at the capture's time.
    CertificateValidity {
        /// Position in the chain, leaf first.
        index: usize,
    },
    /// The server name (SNI or the host asked for) against the leaf's
    /// subjectAltName.
    NameMatch,
    /// Whether the chain ends at a trusted root.
    TrustAnchor,
    /// The TLS 1.0–1.2 ServerKeyExchange signature.
    ServerKeyExchange,
    /// A CertificateVerify signature.
    CertificateVerify {
        /// Who sent it (the server in TLS 1.3; the client with client
        /// certificates).
        from: Dir,
    },
    /// A Finished message's verify_data, recomputed.
    Finished {
        /// Who sent it.
        from: Dir,
    },
    /// The (EC)DHE key exchange: group and public keys.
    KeyExchange,
}

impl Kind {
    /// A stable key for JSON: `certificate_signature`, `certificate_validity`,
    /// `name`, `trust`, `server_key_exchange`, `certificate_verify`,
    /// `finished`, `key_exchange`.
    pub fn key(&self) -> &'static str {
        match self {
            Kind::CertificateSignature { .. } => "certificate_signature",
            Kind::CertificateValidity { .. } => "certificate_validity",
            Kind::NameMatch => "name",
            Kind::TrustAnchor => "trust",
            Kind::ServerKeyExchange => "server_key_exchange",
            Kind::CertificateVerify { .. } => "certificate_verify",
            Kind::Finished { .. } => "finished",
            Kind::KeyExchange => "key_exchange",
        }
    }
}

/// One check and what it is based on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub kind: Kind,
    /// A title for people, e.g. `Certificate 1 signature (CN=localhost, self-signed)`.
    pub title: String,
    /// The result.
    pub outcome: Outcome,
    /// The values behind it: a stable key (`hash_a`, `hash_b`, `computed`,
    /// `sent`...), a label for people, and the value.
    pub details: Vec<(&'static str, String, String)>,
    /// The frame of the message checked, when there is one.
    pub frame: Option<u64>,
}

impl Check {
    /// The value of detail `key`, if present.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details.iter().find(|(k, _, _)| *k == key).map(|(_, _, v)| v.as_str())
    }
}

/// What the certificate checks compare against.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// DER of the trusted root certificates (the CLI loads the system
    /// bundle). Empty: no certificate is trusted.
    pub roots: Vec<Vec<u8>>,
    /// The time the checks are made (the wall clock): validity is judged
    /// at the capture's time (the session's start) and also reported for
    /// this moment.
    pub now: Timestamp,
    /// The name the client asked for, when the ClientHello carries no SNI
    /// (a URL with an IP address, or a capture that missed it).
    pub host: Option<String>,
}

/// Runs every check that applies to the session, in handshake order.
pub fn check_session(s: &Session, trust: &Trust) -> Vec<Check> {
    let msgs = handshake_messages(s);
    let mut out = Vec::new();
    certificate_checks(s, &msgs, trust, &mut out);
    if let Some(c) = server_key_exchange_check(s, &msgs) {
        out.push(c);
    }
    certificate_verify_checks(s, &msgs, &mut out);
    out.push(key_exchange_check(s, &msgs));
    let mut fin = vec![
        finished_check(s, &msgs, Dir::ClientToServer),
        finished_check(s, &msgs, Dir::ServerToClient),
    ];
    // In wire order: the client's first in a full TLS 1.2 handshake, the
    // server's first in TLS 1.3 and in TLS 1.2 resumption.
    fin.sort_by_key(|c| c.frame.unwrap_or(u64::MAX));
    out.extend(fin);
    out
}

/// The checks as text: one line per check (`ok`, `FAILED`, `n/a`), then
/// its details indented, as `--explain` shows them.
pub fn render_text(checks: &[Check]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for c in checks {
        let mark = match c.outcome {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::NotPossible(_) => "n/a",
        };
        let frame = c.frame.map(|f| format!("  (frame {f})")).unwrap_or_default();
        let _ = writeln!(s, "[{mark:^6}] {}{frame}", c.title);
        if let Some(r) = c.outcome.reason() {
            let why = if matches!(c.outcome, Outcome::Failed(_)) { "why" } else { "not possible" };
            let _ = writeln!(s, "         {why}: {r}");
        }
        for (_, label, value) in &c.details {
            let _ = writeln!(s, "         {label}: {value}");
        }
    }
    s
}

// ---------------------------------------------------------------------------
// The session's handshake messages

/// A handshake message of the session with who sent it and where.
struct Msg<'a> {
    from: Dir,
    frame: u64,
    /// The whole message, header included.
    bytes: &'a [u8],
    body: Option<Cow<'a, Body>>,
    /// `ClientHello`, `HelloRetryRequest`, ...
    name: &'static str,
}

impl Msg<'_> {
    fn msg_type(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }
}

/// The session's handshake messages in the order they were processed: the
/// transcript's bytes, paired with the message list for direction and
/// frame (both are filled together, KeyUpdate aside). The parsed body comes
/// from the message list when it was kept, else the bytes are parsed again.
fn handshake_messages(s: &Session) -> Vec<Msg<'_>> {
    let sh = s.server_hello.as_deref();
    let ctx = |from: Dir| Ctx {
        from_server: from == Dir::ServerToClient,
        version: sh.map(handshake::ServerHello::negotiated_version),
        legacy_version: sh.map(|h| h.version),
        cipher_suite: sh.map(|h| h.cipher_suite),
    };
    let entries = s.messages.iter().filter(|e| {
        e.protection != Protection::Encrypted
            && !matches!(e.name, "ChangeCipherSpec" | "Alert" | "Heartbeat" | "KeyUpdate")
    });
    let mut out = Vec::new();
    for (e, bytes) in entries.zip(s.transcript.iter()) {
        let ty = bytes.first().copied().unwrap_or(0);
        let fits = e.name == "Unknown"
            || (e.name == "HelloRetryRequest" && ty == kind::SERVER_HELLO)
            || registry::handshake_type_camel(ty) == Some(e.name);
        if !fits {
            // The transcript stopped at its size limit: what follows cannot
            // be paired.
            break;
        }
        let body = match e.message.as_deref().and_then(|m| m.body.as_ref()) {
            Some(b) => Some(Cow::Borrowed(b)),
            None => handshake::parse(bytes, &ctx(e.from), &mut Tree::off()).0.map(Cow::Owned),
        };
        out.push(Msg { from: e.from, frame: e.frame, bytes, body, name: e.name });
    }
    out
}

/// Why secrets are missing, from the session's decryption summary.
fn missing_keys(s: &Session) -> String {
    match &s.decryption {
        None => "no secrets: give a key log with --keylog (SSLKEYLOGFILE), or --rsa-key for \
                 static RSA"
            .into(),
        Some(d) => {
            d.reason.clone().unwrap_or_else(|| "the key log has no secrets for this session".into())
        }
    }
}

/// Whether `from` sent encrypted handshake records that were not decrypted.
fn undecrypted_handshake(s: &Session, from: Dir) -> bool {
    s.messages.iter().any(|m| {
        m.from == from
            && m.protection == Protection::Encrypted
            && m.name == "EncryptedHandshakeMessage"
    })
}

fn resumption_text(r: Resumption) -> &'static str {
    match r {
        Resumption::SessionId => "resumed by session ID",
        Resumption::Ticket => "resumed with a session ticket",
        Resumption::Psk => "resumed with a pre-shared key (TLS 1.3 PSK)",
    }
}

/// The TLS 1.3 suite hash, from the secrets or the cipher suite.
fn tls13_hash(s: &Session) -> Option<HashAlg> {
    if let Some(t) = s.decryption.as_ref().and_then(|d| d.tls13.as_ref()) {
        return Some(t.hash);
    }
    s.cipher_suite().and_then(|id| CipherSpec::from_suite(id).ok()).map(|c| c.hash)
}

/// The TLS 1.3 transcript hash of the messages before `end`
/// ([RFC 8446 §4.4.1](https://www.rfc-editor.org/rfc/rfc8446#section-4.4.1)):
/// after a HelloRetryRequest the first ClientHello is replaced by the
/// synthetic `message_hash`; post-handshake messages (NewSessionTicket)
/// are not part of it. Returns the hash and the list of messages in it.
fn tls13_transcript(msgs: &[Msg<'_>], end: usize, hash: HashAlg) -> (Vec<u8>, String) {
    let retry = msgs.iter().position(|m| m.name == "HelloRetryRequest");
    let mut parts: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut names = Vec::new();
    for (i, m) in msgs.iter().enumerate().take(end) {
        if m.msg_type() == kind::NEW_SESSION_TICKET {
            continue;
        }
        if retry.is_some_and(|r| i < r) && m.msg_type() == kind::CLIENT_HELLO {
            parts.push(Cow::Owned(keys::message_hash(hash, m.bytes)));
            names.push("message_hash(ClientHello1)");
        } else {
            parts.push(Cow::Borrowed(m.bytes));
            names.push(m.name);
        }
    }
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_ref()).collect();
    (hash.hash(&refs), names.join(", "))
}

/// The TLS 1.0–1.2 handshake messages before `end` (HelloRequest is never
/// part of the hash, [RFC 5246 §7.4.9](https://www.rfc-editor.org/rfc/rfc5246#section-7.4.9)).
fn tls12_messages<'a>(msgs: &'a [Msg<'a>], end: usize) -> (Vec<&'a [u8]>, String) {
    let kept: Vec<&Msg<'_>> =
        msgs.iter().take(end).filter(|m| m.msg_type() != kind::HELLO_REQUEST).collect();
    let names: Vec<&str> = kept.iter().map(|m| m.name).collect();
    (kept.iter().map(|m| m.bytes).collect(), names.join(", "))
}

// ---------------------------------------------------------------------------
// Hashes, keys and signature schemes

/// A hash a signature may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    /// TLS 1.0/1.1 RSA: MD5 and SHA-1 concatenated (36 bytes).
    Md5Sha1,
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn name(self) -> &'static str {
        match self {
            Hash::Md5Sha1 => "MD5+SHA-1",
            Hash::Md5 => "MD5",
            Hash::Sha1 => "SHA-1",
            Hash::Sha224 => "SHA-224",
            Hash::Sha256 => "SHA-256",
            Hash::Sha384 => "SHA-384",
            Hash::Sha512 => "SHA-512",
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Md5Sha1 => {
                let mut v = Md5::digest(data).to_vec();
                v.extend_from_slice(&Sha1::digest(data));
                v
            }
            Hash::Md5 => Md5::digest(data).to_vec(),
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha224 => Sha224::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// From the hash part of a TLS signature scheme name.
    fn from_tls(name: &str) -> Option<Hash> {
        match name {
            "SHA1" => Some(Hash::Sha1),
            "SHA224" => Some(Hash::Sha224),
            "SHA256" => Some(Hash::Sha256),
            "SHA384" => Some(Hash::Sha384),
            "SHA512" => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// From a hash algorithm OID (DigestInfo, RSASSA-PSS parameters).
    fn from_oid(oid: &str) -> Option<Hash> {
        match oid {
            "1.2.840.113549.2.5" => Some(Hash::Md5),
            "1.3.14.3.2.26" => Some(Hash::Sha1),
            "2.16.840.1.101.3.4.2.4" => Some(Hash::Sha224),
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ecdsa(Hash),
    Ed25519,
}

impl Scheme {
    fn hash(self) -> Option<Hash> {
        match self {
            Scheme::RsaPkcs1(h) | Scheme::RsaPss(h) | Scheme::Ecdsa(h) => Some(h),
            Scheme::Ed25519 => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

#[derive(Clone, Debug)]
enum KeyType {
    Rsa { n: Vec<u8>, e: Vec<u8>, bits: usize },
    Ec(Option<Curve>),
    Ed25519,
    Other,
}

/// A public key from a certificate.
#[derive(Clone, Debug)]
struct Key {
    kind: KeyType,
    /// The subjectPublicKey bits: RSAPublicKey DER, an EC point, 32 Ed25519 bytes.
    raw: Vec<u8>,
    /// `RSA 2048`, `EC P-256`, `Ed25519`.
    desc: String,
}

fn key_of(spki: &SubjectPublicKeyInfo<'_>) -> Key {
    let raw = spki.subject_public_key.data.to_vec();
    let alg = spki.algorithm.algorithm.to_id_string();
    let kind = match alg.as_str() {
        // rsaEncryption and id-RSASSA-PSS keys both hold an RSAPublicKey.
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match RSAPublicKey::from_der(&raw) {
            Ok((_, k)) => KeyType::Rsa {
                n: k.modulus.to_vec(),
                e: k.exponent.to_vec(),
                bits: BigUint::from_bytes_be(k.modulus).bits() as usize,
            },
            Err(_) => KeyType::Other,
        },
        "1.2.840.10045.2.1" => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
            KeyType::Ec(match curve.map(|o| o.to_id_string()).as_deref() {
                Some("1.2.840.10045.3.1.7") => Some(Curve::P256),
                Some("1.3.132.0.34") => Some(Curve::P384),
                Some("1.3.132.0.35") => Some(Curve::P521),
                _ => None,
            })
        }
        "1.3.101.112" => KeyType::Ed25519,
        _ => KeyType::Other,
    };
    let desc = match &kind {
        KeyType::Rsa { bits, .. } => format!("RSA {bits}"),
        KeyType::Ec(Some(Curve::P256)) => "EC P-256".into(),
        KeyType::Ec(Some(Curve::P384)) => "EC P-384".into(),
        KeyType::Ec(Some(Curve::P521)) => "EC P-521".into(),
        KeyType::Ec(None) => "EC (unsupported curve)".into(),
        KeyType::Ed25519 => "Ed25519".into(),
        KeyType::Other => format!("{} (unsupported)", oid_name(&alg)),
    };
    Key { kind, raw, desc }
}

fn oid_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-sha256",
        "1.2.840.10045.2.1" => "id-ecPublicKey",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.2.5" => "md5",
        "1.3.14.3.2.26" => "sha1",
        "2.16.840.1.101.3.4.2.4" => "sha224",
        "2.16.840.1.101.3.4.2.1" => "sha256",
        "2.16.840.1.101.3.4.2.2" => "sha384",
        "2.16.840.1.101.3.4.2.3" => "sha512",
        other => return other.to_string(),
    };
    name.to_string()
}

/// The scheme of a certificate's signatureAlgorithm.
fn cert_scheme(alg: &AlgorithmIdentifier<'_>) -> Result<(Scheme, String), String> {
    let oid = alg.algorithm.to_id_string();
    let name = oid_name(&oid);
    let scheme = match oid.as_str() {
        "1.2.840.113549.1.1.4" => Scheme::RsaPkcs1(Hash::Md5),
        "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => Scheme::RsaPkcs1(Hash::Sha1),
        "1.2.840.113549.1.1.14" => Scheme::RsaPkcs1(Hash::Sha224),
        "1.2.840.113549.1.1.11" => Scheme::RsaPkcs1(Hash::Sha256),
        "1.2.840.113549.1.1.12" => Scheme::RsaPkcs1(Hash::Sha384),
        "1.2.840.113549.1.1.13" => Scheme::RsaPkcs1(Hash::Sha512),
        "1.2.840.113549.1.1.10" => {
            let params = alg
                .parameters
                .as_ref()
                .ok_or_else(|| "RSASSA-PSS without parameters".to_string())?;
            let params = RsaSsaPssParams::try_from(params)
                .map_err(|e| format!("RSASSA-PSS parameters do not decode: {e}"))?;
            let h = params.hash_algorithm_oid().to_id_string();
            let hash = Hash::from_oid(&h)
                .ok_or_else(|| format!("RSASSA-PSS with hash {}", oid_name(&h)))?;
            let name =
                format!("RSASSA-PSS ({}, MGF1, salt length {})", hash.name(), params.salt_length());
            return Ok((Scheme::RsaPss(hash), name));
        }
        "1.2.840.10045.4.1" => Scheme::Ecdsa(Hash::Sha1),
        "1.2.840.10045.4.3.1" => Scheme::Ecdsa(Hash::Sha224),
        "1.2.840.10045.4.3.2" => Scheme::Ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => Scheme::Ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => Scheme::Ecdsa(Hash::Sha512),
        "1.3.101.112" => Scheme::Ed25519,
        _ => return Err(name),
    };
    Ok((scheme, name))
}

/// The scheme of a TLS signature: the SignatureScheme code point (TLS 1.2
/// and 1.3), or, without one (TLS 1.0/1.1), what the key implies: RSA over
/// MD5+SHA-1, ECDSA over SHA-1
/// ([RFC 4346 §7.4.3](https://www.rfc-editor.org/rfc/rfc4346#section-7.4.3),
/// [RFC 4492 §5.4](https://www.rfc-editor.org/rfc/rfc4492#section-5.4)).
fn tls_scheme(id: Option<u16>, key: &Key) -> Result<(Scheme, String), String> {
    let Some(id) = id else {
        return match key.kind {
            KeyType::Rsa { .. } => Ok((
                Scheme::RsaPkcs1(Hash::Md5Sha1),
                "RSA PKCS#1 v1.5 over MD5+SHA-1 (TLS 1.0/1.1, no DigestInfo)".into(),
            )),
            KeyType::Ec(_) => {
                Ok((Scheme::Ecdsa(Hash::Sha1), "ECDSA over SHA-1 (TLS 1.0/1.1)".into()))
            }
            _ => Err(format!("a TLS 1.0/1.1 signature with a {} key", key.desc)),
        };
    };
    let name = registry::describe(registry::signature_scheme(id), id, 4);
    let unsupported = || format!("signature scheme {name}");
    let (alg, hash) = registry::signature_scheme_parts(id).ok_or_else(unsupported)?;
    let scheme = match alg {
        "RSA-PKCS1" => Scheme::RsaPkcs1(Hash::from_tls(hash).ok_or_else(unsupported)?),
        "RSA-PSS" => Scheme::RsaPss(Hash::from_tls(hash).ok_or_else(unsupported)?),
        "ECDSA" => Scheme::Ecdsa(Hash::from_tls(hash).ok_or_else(unsupported)?),
        "EdDSA" if registry::signature_scheme(id) == Some("ed25519") => Scheme::Ed25519,
        _ => return Err(unsupported()),
    };
    Ok((scheme, name))
}

/// The aws-lc-rs algorithm for a scheme and key, with its name.
fn aws_algorithm(
    scheme: Scheme,
    key: &Key,
) -> Result<(&'static dyn VerificationAlgorithm, &'static str), String> {
    let unsupported =
        || format!("aws-lc-rs has no algorithm for {scheme:?} with a {} key", key.desc);
    match (scheme, &key.kind) {
        (Scheme::RsaPkcs1(h), KeyType::Rsa { bits, .. }) => {
            let small = *bits < 2048;
            Ok(match (h, small) {
                (Hash::Sha1, true) => (
                    &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha1, false) => (
                    &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha256, true) => (
                    &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha256, false) => {
                    (&sig::RSA_PKCS1_2048_8192_SHA256, "RSA_PKCS1_2048_8192_SHA256")
                }
                (Hash::Sha384, false) => {
                    (&sig::RSA_PKCS1_2048_8192_SHA384, "RSA_PKCS1_2048_8192_SHA384")
                }
                (Hash::Sha512, true) => (
                    &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
                    "RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY",
                ),
                (Hash::Sha512, false) => {
                    (&sig::RSA_PKCS1_2048_8192_SHA512, "RSA_PKCS1_2048_8192_SHA512")
                }
                _ => return Err(unsupported()),
            })
        }
        (Scheme::RsaPss(h), KeyType::Rsa { .. }) => Ok(match h {
            Hash::Sha256 => (&sig::RSA_PSS_2048_8192_SHA256, "RSA_PSS_2048_8192_SHA256"),
            Hash::Sha384 => (&sig::RSA_PSS_2048_8192_SHA384, "RSA_PSS_2048_8192_SHA384"),
            Hash::Sha512 => (&sig::RSA_PSS_2048_8192_SHA512, "RSA_PSS_2048_8192_SHA512"),
            _ => return Err(unsupported()),
        }),
        (Scheme::Ecdsa(h), KeyType::Ec(Some(c))) => Ok(match (c, h) {
            (Curve::P256, Hash::Sha1) => (&sig::ECDSA_P256_SHA1_ASN1, "ECDSA_P256_SHA1_ASN1"),
            (Curve::P256, Hash::Sha256) => (&sig::ECDSA_P256_SHA256_ASN1, "ECDSA_P256_SHA256_ASN1"),
            (Curve::P256, Hash::Sha384) => (&sig::ECDSA_P256_SHA384_ASN1, "ECDSA_P256_SHA384_ASN1"),
            (Curve::P256, Hash::Sha512) => (&sig::ECDSA_P256_SHA512_ASN1, "ECDSA_P256_SHA512_ASN1"),
            (Curve::P384, Hash::Sha256) => (&sig::ECDSA_P384_SHA256_ASN1, "ECDSA_P384_SHA256_ASN1"),
            (Curve::P384, Hash::Sha384) => (&sig::ECDSA_P384_SHA384_ASN1, "ECDSA_P384_SHA384_ASN1"),
            (Curve::P384, Hash::Sha512) => (&sig::ECDSA_P384_SHA512_ASN1, "ECDSA_P384_SHA512_ASN1"),
            (Curve::P521, Hash::Sha1) => (&sig::ECDSA_P521_SHA1_ASN1, "ECDSA_P521_SHA1_ASN1"),
            (Curve::P521, Hash::Sha224) => (&sig::ECDSA_P521_SHA224_ASN1, "ECDSA_P521_SHA224_ASN1"),
            (Curve::P521, Hash::Sha256) => (&sig::ECDSA_P521_SHA256_ASN1, "ECDSA_P521_SHA256_ASN1"),
            (Curve::P521, Hash::Sha384) => (&sig::ECDSA_P521_SHA384_ASN1, "ECDSA_P521_SHA384_ASN1"),
            (Curve::P521, Hash::Sha512) => (&sig::ECDSA_P521_SHA512_ASN1, "ECDSA_P521_SHA512_ASN1"),
            _ => return Err(unsupported()),
        }),
        (Scheme::Ed25519, KeyType::Ed25519) => Ok((&sig::ED25519, "ED25519")),
        (Scheme::RsaPkcs1(_) | Scheme::RsaPss(_), _)
        | (Scheme::Ecdsa(_), _)
        | (Scheme::Ed25519, _) => {
            Err(format!("the {scheme:?} signature does not fit the signer's {} key", key.desc))
        }
    }
}

// ---------------------------------------------------------------------------
// RSA arithmetic for display

/// The largest RSA modulus the display arithmetic takes (aws-lc-rs stops
/// at 8192 bits for verdicts).
const MAX_RSA_BITS: u64 = 16384;
/// The largest public exponent shown: real keys use 65537 (17 bits); a
/// hostile certificate could carry a modulus-sized one to make `modpow`
/// slow.
const MAX_RSA_EXPONENT_BITS: u64 = 64;

/// `signature^e mod n`, as a big-endian byte string of the modulus length
/// (the encoded message EM of [RFC 8017 §8.2.2](https://www.rfc-editor.org/rfc/rfc8017#section-8.2.2)).
fn rsa_recover(n: &[u8], e: &[u8], signature: &[u8]) -> Result<Vec<u8>, String> {
    let n = BigUint::from_bytes_be(n);
    let e = BigUint::from_bytes_be(e);
    if n.bits() < 2 || n.bits() > MAX_RSA_BITS {
        return Err(format!("a modulus of {} bits is not shown", n.bits()));
    }
    if e.bits() > MAX_RSA_EXPONENT_BITS {
        return Err(format!("a public exponent of {} bits is not shown", e.bits()));
    }
    let s = BigUint::from_bytes_be(signature);
    if s >= n {
        return Err("the signature is not smaller than the modulus".into());
    }
    let m = s.modpow(&e, &n).to_bytes_be();
    let k = n.bits().div_ceil(8) as usize;
    let mut em = vec![0; k.saturating_sub(m.len())];
    em.extend_from_slice(&m);
    Ok(em)
}

/// Splits a PKCS#1 v1.5 type 1 block `00 01 FF..FF 00 T`: the count of FF
/// bytes and T. At least 8 FF bytes ([RFC 8017 §9.2](https://www.rfc-editor.org/rfc/rfc8017#section-9.2)).
fn pkcs1_type1(em: &[u8]) -> Result<(usize, &[u8]), String> {
    let Some(rest) = em.strip_prefix(&[0x00, 0x01]) else {
        let head = em.get(..2).map(hex).unwrap_or_default();
        return Err(format!("starts with {head}, not 00 01"));
    };
    let ff = rest.iter().take_while(|b| **b == 0xff).count();
    let after = rest.get(ff..).unwrap_or_default();
    let Some(t) = after.strip_prefix(&[0x00]) else {
        return Err(format!("00 01 then {ff} FF bytes, not followed by 00"));
    };
    if ff < 8 {
        return Err(format!("only {ff} FF bytes (at least 8 are required)"));
    }
    Ok((ff, t))
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest
/// OCTET STRING }` ([RFC 8017 §9.2](https://www.rfc-editor.org/rfc/rfc8017#section-9.2)):
/// the hash OID and the digest.
fn digest_info(t: &[u8]) -> Result<(String, Vec<u8>), String> {
    let parsed = Sequence::from_der_and_then(t, |i| {
        let (i, alg) = AlgorithmIdentifier::from_der(i)?;
        let (i, digest) =
            <&[u8]>::from_der(i).map_err(|e| x509_parser::nom::Err::Error(X509Error::from(e)))?;
        Ok((i, (alg.algorithm.to_id_string(), digest.to_vec(), i.is_empty())))
    });
    match parsed {
        Ok((rest, (oid, digest, inner_done))) if rest.is_empty() && inner_done => Ok((oid, digest)),
        Ok(_) => Err("trailing bytes after the DigestInfo".into()),
        Err(e) => Err(format!("not a DigestInfo: {e}")),
    }
}

// ---------------------------------------------------------------------------
// Signature verification with details

type Details = Vec<(&'static str, String, String)>;

/// Verifies `signature` over `data` with `key`, adding what it computed to
/// `d`. `what` names the signed bytes (`tbsCertificate`, `signed data`).
fn verify(
    scheme: Scheme,
    key: &Key,
    data: &[u8],
    signature: &[u8],
    what: &str,
    d: &mut Details,
) -> Outcome {
    let hash_a = scheme.hash().map(|h| h.digest(data));
    if let (Some(h), Some(a)) = (scheme.hash(), &hash_a) {
        d.push(("hash_a", format!("hash_a = {}({what})", h.name()), hex(a)));
    }
    match scheme {
        Scheme::RsaPkcs1(h) => rsa_pkcs1_details(h, key, signature, hash_a.as_deref(), d),
        Scheme::RsaPss(_) => {
            if let KeyType::Rsa { n, e, .. } = &key.kind
                && let Ok(em) = rsa_recover(n, e, signature)
            {
                let trailer = em.last().copied().unwrap_or(0);
                d.push((
                    "pss_trailer",
                    "last byte of signature^e mod n".into(),
                    if trailer == 0xbc {
                        "bc (the PSS trailer; the rest is masked: the hash is checked inside the encoding, not read out)".into()
                    } else {
                        format!("{trailer:02x} (the PSS trailer should be bc)")
                    },
                ));
            }
        }
        Scheme::Ecdsa(_) => {
            let rs = Sequence::from_der_and_then(signature, |i| {
                let (i, r) = Integer::from_der(i)?;
                let (i, s) = Integer::from_der(i)?;
                Ok::<_, x509_parser::nom::Err<x509_parser::asn1_rs::Error>>((
                    i,
                    (r.as_ref().to_vec(), s.as_ref().to_vec()),
                ))
            });
            match rs {
                Ok((_, (r, s))) => {
                    d.push(("ecdsa_r", "ECDSA r".into(), hex(strip_zero(&r))));
                    d.push(("ecdsa_s", "ECDSA s".into(), hex(strip_zero(&s))));
                }
                Err(_) => d.push((
                    "ecdsa_signature",
                    "ECDSA signature".into(),
                    format!("not a DER SEQUENCE {{ r, s }}: {}", hex_short(signature, 32)),
                )),
            }
        }
        Scheme::Ed25519 => d.push((
            "eddsa",
            "Ed25519".into(),
            format!("signs the {what} itself ({} bytes; SHA-512 inside the algorithm)", data.len()),
        )),
    }
    if scheme == Scheme::RsaPkcs1(Hash::Md5Sha1) {
        return md5sha1_verdict(key, data, signature, d);
    }
    let (alg, alg_name) = match aws_algorithm(scheme, key) {
        Ok(a) => a,
        Err(e) => return Outcome::NotPossible(e),
    };
    let ok = UnparsedPublicKey::new(alg, &key.raw).verify(data, signature).is_ok();
    d.push((
        "verdict",
        format!("aws-lc-rs {alg_name}"),
        if ok { "valid".into() } else { "invalid".into() },
    ));
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed(match scheme {
            Scheme::RsaPkcs1(_) => {
                "the signature does not verify with the signer's public key (hash_b is not hash_a)"
                    .into()
            }
            _ => "the signature does not verify with the signer's public key".into(),
        })
    }
}

fn strip_zero(v: &[u8]) -> &[u8] {
    match v {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => v,
    }
}

/// hash_b for RSA PKCS#1 v1.5: `signature^e mod n`, its padding, the
/// DigestInfo and the digest in it, compared with hash_a.
fn rsa_pkcs1_details(h: Hash, key: &Key, signature: &[u8], hash_a: Option<&[u8]>, d: &mut Details) {
    let KeyType::Rsa { n, e, .. } = &key.kind else { return };
    let em = match rsa_recover(n, e, signature) {
        Ok(em) => em,
        Err(why) => {
            d.push(("hash_b", "hash_b".into(), format!("not recovered: {why}")));
            return;
        }
    };
    d.push(("exponent", "public exponent e".into(), BigUint::from_bytes_be(e).to_string()));
    let (ff, t) = match pkcs1_type1(&em) {
        Ok(x) => x,
        Err(why) => {
            d.push(("padding", "padding of signature^e mod n".into(), format!("wrong: {why}")));
            d.push(("recovered", "signature^e mod n".into(), hex_short(&em, 64)));
            d.push((
                "hashes",
                "hash_a vs hash_b".into(),
                "differ (signature^e mod n is no PKCS#1 v1.5 block: there is no hash_b)".into(),
            ));
            return;
        }
    };
    d.push((
        "padding",
        "padding of signature^e mod n".into(),
        format!("00 01 FF×{ff} 00 (PKCS#1 v1.5 type 1, as it should be)"),
    ));
    let hash_b = if h == Hash::Md5Sha1 {
        t.to_vec()
    } else {
        match digest_info(t) {
            Ok((oid, digest)) => {
                d.push(("digest_info", "DigestInfo".into(), hex(t)));
                let name = oid_name(&oid);
                let note = match Hash::from_oid(&oid) {
                    Some(x) if x == h => String::new(),
                    _ => format!(" (the algorithm says {})", h.name()),
                };
                d.push((
                    "digest_info_alg",
                    "DigestInfo hash algorithm".into(),
                    format!("{name}{note}"),
                ));
                digest
            }
            Err(why) => {
                d.push((
                    "digest_info",
                    "DigestInfo".into(),
                    format!("{why}: {}", hex_short(t, 64)),
                ));
                return;
            }
        }
    };
    let label = if h == Hash::Md5Sha1 {
        "hash_b = the 36 bytes after the padding in signature^e mod n"
    } else {
        "hash_b = digest in the DigestInfo recovered as signature^e mod n"
    };
    d.push(("hash_b", label.into(), hex(&hash_b)));
    if let Some(a) = hash_a {
        d.push((
            "hashes",
            "hash_a vs hash_b".into(),
            if a == hash_b.as_slice() { "equal".into() } else { "differ".into() },
        ));
    }
}

/// TLS 1.0/1.1 RSA: aws-lc-rs has no PKCS#1 v1.5 algorithm without a
/// DigestInfo, so the block is re-encoded and compared (RFC 8017 §8.2.2
/// step 3-4, with the 36-byte MD5+SHA-1 digest as T).
fn md5sha1_verdict(key: &Key, data: &[u8], signature: &[u8], d: &mut Details) -> Outcome {
    let KeyType::Rsa { n, e, .. } = &key.kind else {
        return Outcome::NotPossible("an MD5+SHA-1 signature needs an RSA key".into());
    };
    let em = match rsa_recover(n, e, signature) {
        Ok(em) => em,
        Err(why) => return Outcome::Failed(why),
    };
    let k = em.len();
    if signature.len() != k {
        return Outcome::Failed(format!(
            "the signature is {} bytes, the modulus {k}",
            signature.len()
        ));
    }
    let digest = Hash::Md5Sha1.digest(data);
    let Some(ff) = k.checked_sub(3 + digest.len()).filter(|ff| *ff >= 8) else {
        return Outcome::NotPossible("the modulus is too small for PKCS#1 v1.5".into());
    };
    let mut expected = vec![0x00, 0x01];
    expected.extend(std::iter::repeat_n(0xff, ff));
    expected.push(0x00);
    expected.extend_from_slice(&digest);
    let ok = expected == em;
    d.push((
        "verdict",
        "re-encoded 00 01 FF.. 00 + MD5+SHA-1 compared with signature^e mod n (RFC 8017 §8.2.2)"
            .into(),
        if ok { "valid".into() } else { "invalid".into() },
    ));
    if ok {
        Outcome::Ok
    } else {
        Outcome::Failed(
            "the signature does not verify with the signer's public key (hash_b is not hash_a)"
                .into(),
        )
    }
}

// ---------------------------------------------------------------------------
// Certificates

/// The short form of a name for titles: its CN, else the whole name.
fn short_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    match name.iter_common_name().next().and_then(|cn| cn.as_str().ok()) {
        Some(cn) => format!("CN={cn}"),
        None => {
            let s = name.to_string();
            if s.is_empty() { "(empty name)".into() } else { s }
        }
    }
}

fn fmt_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} s after the epoch"))
}

fn days(secs: i64) -> String {
    let d = secs / 86_400;
    match d {
        0 => format!("{} hours", secs / 3600),
        1 => "1 day".into(),
        _ => format!("{d} days"),
    }
}

/// Where the issuer of a certificate was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Issuer {
    Itself,
    Chain(usize),
    Root(usize),
}

/// Roots whose DER holds `name` (a cheap filter before parsing), parsed.
fn roots_named<'r>(roots: &'r [Vec<u8>], name: &[u8]) -> Vec<(usize, X509Certificate<'r>)> {
    if name.is_empty() {
        return Vec::new();
    }
    roots
        .iter()
        .enumerate()
        .filter(|(_, der)| memchr::memmem::find(der, name).is_some())
        .filter_map(|(i, der)| X509Certificate::from_der(der).ok().map(|(_, c)| (i, c)))
        .filter(|(_, c)| c.subject().as_raw() == name)
        .collect()
}

fn certificate_checks(s: &Session, msgs: &[Msg<'_>], trust: &Trust, out: &mut Vec<Check>) {
    let frame = msgs
        .iter()
        .find(|m| m.from == Dir::ServerToClient && m.msg_type() == kind::CERTIFICATE)
        .map(|m| m.frame);
    if s.certificate_ders.is_empty() {
        let why = if let Some(r) = s.resumed {
            format!(
                "the session was {}: the server sends no certificate, it proved itself in the original handshake",
                resumption_text(r)
            )
        } else if s.is_tls13() && undecrypted_handshake(s, Dir::ServerToClient) {
            format!(
                "the Certificate message is encrypted (TLS 1.3) and was not decrypted: {}",
                missing_keys(s)
            )
        } else if s
            .cipher_suite()
            .and_then(registry::cipher_suite)
            .is_some_and(|c| c.auth == "anon" || c.auth == "PSK" || c.kx == "PSK")
        {
            "the cipher suite authenticates without certificates".into()
        } else {
            "no server Certificate message in the capture".into()
        };
        for kind in [
            Kind::CertificateSignature { index: 0 },
            Kind::CertificateValidity { index: 0 },
            Kind::NameMatch,
            Kind::TrustAnchor,
        ] {
            let title = match kind {
                Kind::CertificateSignature { .. } => "Certificate signature",
                Kind::CertificateValidity { .. } => "Certificate validity",
                Kind::NameMatch => "Server name against the certificate",
                _ => "Trust anchor",
            };
            out.push(Check {
                kind,
                title: title.into(),
                outcome: Outcome::NotPossible(why.clone()),
                details: Vec::new(),
                frame,
            });
        }
        return;
    }
    let parsed: Vec<Result<X509Certificate<'_>, String>> = s
        .certificate_ders
        .iter()
        .map(|der| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|e| format!("it does not decode: {e}"))
        })
        .collect();
    let capture = s.start.secs();
    for (i, c) in parsed.iter().enumerate() {
        out.push(signature_check(i, c, &parsed, trust, frame));
    }
    for (i, c) in parsed.iter().enumerate() {
        out.push(validity_check(i, c, capture, trust.now.secs(), frame));
    }
    out.push(name_check(s, parsed.first(), trust, frame));
    out.push(trust_check(&parsed, trust, frame));
}

fn signature_check(
    i: usize,
    c: &Result<X509Certificate<'_>, String>,
    chain: &[Result<X509Certificate<'_>, String>],
    trust: &Trust,
    frame: Option<u64>,
) -> Check {
    let kind = Kind::CertificateSignature { index: i };
    let c = match c {
        Ok(c) => c,
        Err(e) => {
            return Check {
                kind,
                title: format!("Certificate {} signature", i + 1),
                outcome: Outcome::NotPossible(format!("certificate {}: {e}", i + 1)),
                details: Vec::new(),
                frame,
            };
        }
    };
    let self_issued = c.subject().as_raw() == c.issuer().as_raw();
    let subject = short_name(c.subject());
    let title = if self_issued {
        format!("Certificate {} signature ({subject}, self-signed)", i + 1)
    } else {
        format!("Certificate {} signature ({subject}, issued by {})", i + 1, short_name(c.issuer()))
    };
    let tbs = c.tbs_certificate.as_ref();
    let signature = c.signature_value.data.as_ref();
    let mut base: Details = vec![("issuer", "issuer".into(), c.issuer().to_string())];
    let (scheme, alg_name) = match cert_scheme(&c.signature_algorithm) {
        Ok(x) => x,
        Err(name) => {
            base.insert(0, ("algorithm", "signature algorithm".into(), name.clone()));
            return Check {
                kind,
                title,
                outcome: Outcome::NotPossible(format!(
                    "signature algorithm {name} is not supported"
                )),
                details: base,
                frame,
            };
        }
    };
    base.insert(0, ("algorithm", "signature algorithm".into(), alg_name));
    if c.signature_algorithm != c.tbs_certificate.signature {
        // The outer algorithm is not signed; the copy inside the
        // tbsCertificate is, and they must agree (RFC 5280 §4.1.1.2).
        return Check {
            kind,
            title,
            outcome: Outcome::Failed(format!(
                "the signatureAlgorithm ({}) is not the one inside the signed tbsCertificate ({})",
                oid_name(&c.signature_algorithm.algorithm.to_id_string()),
                oid_name(&c.tbs_certificate.signature.algorithm.to_id_string())
            )),
            details: base,
            frame,
        };
    }
    if c.signature_value.unused_bits != 0 {
        // A signature is a whole number of bytes; the unused-bits count is
        // outside what is signed, so it must be checked on its own.
        let n = c.signature_value.unused_bits;
        return Check {
            kind,
            title,
            outcome: Outcome::Failed(format!("the signature BIT STRING claims {n} unused bits")),
            details: base,
            frame,
        };
    }
    base.push(("signed", "signed bytes".into(), format!("tbsCertificate, {} bytes", tbs.len())));
    // Candidates for the issuer: itself when self-issued, then chain
    // certificates and trusted roots whose subject is this issuer.
    let issuer_raw = c.issuer().as_raw();
    let mut candidates: Vec<(Issuer, Key, String)> = Vec::new();
    if self_issued {
        candidates.push((Issuer::Itself, key_of(c.public_key()), "itself (self-signed)".into()));
    }
    let mut order: Vec<usize> = (i + 1..chain.len()).collect();
    order.extend(0..i);
    for j in order {
        if let Some(Ok(o)) = chain.get(j)
            && o.subject().as_raw() == issuer_raw
        {
            candidates.push((
                Issuer::Chain(j),
                key_of(o.public_key()),
                format!("certificate {} in the chain ({})", j + 1, short_name(o.subject())),
            ));
        }
    }
    for (r, root) in roots_named(&trust.roots, issuer_raw) {
        candidates.push((
            Issuer::Root(r),
            key_of(root.public_key()),
            format!("a trusted root ({})", short_name(root.subject())),
        ));
    }
    if candidates.is_empty() {
        let mut d = base;
        d.push(("issuer_found", "issuer's certificate".into(), "not found".into()));
        if let Some(h) = scheme.hash() {
            d.push((
                "hash_a",
                format!("hash_a = {}(tbsCertificate)", h.name()),
                hex(&h.digest(tbs)),
            ));
        }
        return Check {
            kind,
            title,
            outcome: Outcome::NotPossible(format!(
                "the issuer ({}) is neither in the chain the server sent nor among the trusted roots: its public key is needed to check the signature",
                c.issuer()
            )),
            details: d,
            frame,
        };
    }
    let mut first: Option<(Outcome, Details)> = None;
    for (_, key, where_) in &candidates {
        let mut d = base.clone();
        d.push(("issuer_found", "issuer's certificate".into(), where_.clone()));
        d.push(("issuer_key", "issuer's public key".into(), key.desc.clone()));
        let outcome = verify(scheme, key, tbs, signature, "tbsCertificate", &mut d);
        if outcome.is_ok() {
            return Check { kind, title, outcome, details: d, frame };
        }
        if first.is_none() {
            first = Some((outcome, d));
        }
    }
    let (outcome, details) = first.unwrap_or((Outcome::NotPossible("no issuer".into()), base));
    let outcome = match outcome {
        Outcome::Failed(why) if self_issued && candidates.len() == 1 => Outcome::Failed(format!(
            "{why}: a self-signed certificate must verify with its own key"
        )),
        o => o,
    };
    Check { kind, title, outcome, details, frame }
}

fn validity_check(
    i: usize,
    c: &Result<X509Certificate<'_>, String>,
    capture: i64,
    now: i64,
    frame: Option<u64>,
) -> Check {
    let kind = Kind::CertificateValidity { index: i };
    let c = match c {
        Ok(c) => c,
        Err(e) => {
            return Check {
                kind,
                title: format!("Certificate {} validity", i + 1),
                outcome: Outcome::NotPossible(format!("certificate {}: {e}", i + 1)),
                details: Vec::new(),
                frame,
            };
        }
    };
    let nb = c.validity().not_before.timestamp();
    let na = c.validity().not_after.timestamp();
    let judge = |t: i64| -> Result<(), String> {
        if t < nb {
            Err(format!("not valid before {} ({} later)", fmt_time(nb), days(nb - t)))
        } else if t > na {
            Err(format!("expired on {} ({} earlier)", fmt_time(na), days(t - na)))
        } else {
            Ok(())
        }
    };
    let mut d: Details = vec![
        ("not_before", "not before".into(), fmt_time(nb)),
        ("not_after", "not after".into(), fmt_time(na)),
        ("capture_time", "time of the capture".into(), fmt_time(capture)),
    ];
    d.push((
        "now",
        format!("now ({})", fmt_time(now)),
        match judge(now) {
            Ok(()) => format!("valid ({} left)", days(na - now)),
            Err(e) => e,
        },
    ));
    let outcome = match judge(capture) {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Failed(format!("at the time of the capture the certificate was {e}")),
    };
    Check {
        kind,
        title: format!("Certificate {} validity ({})", i + 1, short_name(c.subject())),
        outcome,
        details: d,
        frame,
    }
}

fn name_check(
    s: &Session,
    leaf: Option<&Result<X509Certificate<'_>, String>>,
    trust: &Trust,
    frame: Option<u64>,
) -> Check {
    let kind = Kind::NameMatch;
    let (host, source) = match (s.server_name(), trust.host.as_deref()) {
        (Some(n), _) => (n.to_string(), "SNI (server_name in the ClientHello)"),
        (None, Some(h)) => (h.to_string(), "the host name given"),
        (None, None) => {
            return Check {
                kind,
                title: "Server name against the certificate".into(),
                outcome: Outcome::NotPossible(
                    "the client sent no server_name (SNI) and no host name was given: there is no name to compare"
                        .into(),
                ),
                details: Vec::new(),
                frame,
            };
        }
    };
    let title = format!("Name {host} against the certificate");
    let Some(Ok(leaf)) = leaf else {
        return Check {
            kind,
            title,
            outcome: Outcome::NotPossible("the server's certificate does not decode".into()),
            details: Vec::new(),
            frame,
        };
    };
    let ip: Option<IpAddr> = host.trim_start_matches('[').trim_end_matches(']').parse().ok();
    let mut san = Vec::new();
    let mut hit = None;
    for ext in leaf.extensions() {
        if let ParsedExtension::SubjectAlternativeName(names) = ext.parsed_extension() {
            for n in &names.general_names {
                match n {
                    GeneralName::DNSName(d) => {
                        let text = format!("DNS:{d}");
                        if ip.is_none() && hit.is_none() && dns_name_matches(d, &host) {
                            hit = Some(text.clone());
                        }
                        san.push(text);
                    }
                    GeneralName::IPAddress(b) => {
                        let addr = match b.len() {
                            4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                            _ => None,
                        };
                        let text = match addr {
                            Some(a) => format!("IP:{a}"),
                            None => format!("IP:{}", hex(b)),
                        };
                        if hit.is_none() && addr.is_some() && addr == ip {
                            hit = Some(text.clone());
                        }
                        san.push(text);
                    }
                    other => san.push(other.to_string()),
                }
            }
        }
    }
    let mut d: Details = vec![
        ("host", "name the client asked for".into(), format!("{host} (from {source})")),
        (
            "san",
            "subjectAltName".into(),
            if san.is_empty() { "(none)".into() } else { san.join(", ") },
        ),
    ];
    let outcome = match &hit {
        Some(h) => {
            d.push(("match", "matching entry".into(), h.clone()));
            Outcome::Ok
        }
        None if san.is_empty() => {
            let cn = short_name(leaf.subject());
            Outcome::Failed(format!(
                "the certificate has no subjectAltName; its subject is {cn}: clients match host names against subjectAltName only (RFC 6125, RFC 9110 §4.3.4)"
            ))
        }
        None => {
            d.push(("match", "matching entry".into(), "none".into()));
            Outcome::Failed(format!("{host} matches no subjectAltName entry"))
        }
    };
    Check { kind, title, outcome, details: d, frame }
}

fn trust_check(
    chain: &[Result<X509Certificate<'_>, String>],
    trust: &Trust,
    frame: Option<u64>,
) -> Check {
    let kind = Kind::TrustAnchor;
    let title = "Trust anchor".to_string();
    let Some(Ok(leaf)) = chain.first() else {
        return Check {
            kind,
            title,
            outcome: Outcome::NotPossible("the server's certificate does not decode".into()),
            details: Vec::new(),
            frame,
        };
    };
    // Walk up by issuer name through what the server sent.
    let mut path = vec![0usize];
    let mut cur = leaf;
    let mut d: Details = Vec::new();
    let roots_text = if trust.roots.is_empty() {
        "none given".to_string()
    } else {
        format!("{} certificates", trust.roots.len())
    };
    loop {
        if cur.subject().as_raw() == cur.issuer().as_raw() {
            // The chain ends at a self-signed certificate the server sent.
            let last = path.last().copied().unwrap_or(0);
            // Only the roots with this subject are parsed: parsing the whole
            // store for every session made the checks of a large capture slow.
            let in_roots = if trust.roots.iter().any(|r| r.as_slice() == cur.as_raw()) {
                Some("yes (the same certificate)")
            } else {
                roots_named(&trust.roots, cur.subject().as_raw())
                    .iter()
                    .any(|(_, rc)| rc.public_key().raw == cur.public_key().raw)
                    .then_some("yes (same subject and key)")
            };
            d.push(("path", "chain".into(), path_text(&path, chain, None)));
            d.push(("anchor", "the chain ends at".into(), cur.subject().to_string()));
            d.push(("roots", "trusted roots searched".into(), roots_text));
            d.push(("in_roots", "among the trusted roots".into(), in_roots.unwrap_or("no").into()));
            let outcome = match in_roots {
                Some(_) => Outcome::Ok,
                None if last == 0 => Outcome::Failed(
                    "self-signed certificate not in the trusted roots: clients reject it unless told to trust it (curl --insecure or --cacert server.crt)"
                        .into(),
                ),
                None => Outcome::Failed(format!(
                    "the chain ends at the self-signed {} (certificate {}), which is not among the trusted roots: clients reject it unless told to trust it (curl --cacert with that CA, or --insecure)",
                    short_name(cur.subject()),
                    last + 1
                )),
            };
            return Check { kind, title, outcome, details: d, frame };
        }
        let issuer = cur.issuer().as_raw();
        let next = chain.iter().enumerate().find_map(|(j, c)| match c {
            Ok(c) if !path.contains(&j) && c.subject().as_raw() == issuer => Some((j, c)),
            _ => None,
        });
        if let Some((j, c)) = next {
            path.push(j);
            cur = c;
            continue;
        }
        let roots = roots_named(&trust.roots, issuer);
        d.push(("roots", "trusted roots searched".into(), roots_text));
        if let Some((_, root)) = roots.first() {
            d.push(("path", "chain".into(), path_text(&path, chain, Some(root))));
            d.push(("anchor", "the chain ends at".into(), root.subject().to_string()));
            d.push((
                "in_roots",
                "among the trusted roots".into(),
                "yes (found by the issuer's name; the server need not send it)".into(),
            ));
            return Check { kind, title, outcome: Outcome::Ok, details: d, frame };
        }
        d.push(("path", "chain".into(), path_text(&path, chain, None)));
        d.push(("missing", "issuer not found".into(), cur.issuer().to_string()));
        let last = path.last().copied().unwrap_or(0);
        let outcome = Outcome::Failed(format!(
            "the issuer of certificate {} ({}) is neither in the chain the server sent nor among the trusted roots: the chain cannot be completed, clients reject it",
            last + 1,
            cur.issuer()
        ));
        return Check { kind, title, outcome, details: d, frame };
    }
}

fn path_text(
    path: &[usize],
    chain: &[Result<X509Certificate<'_>, String>],
    root: Option<&X509Certificate<'_>>,
) -> String {
    let mut parts: Vec<String> = path
        .iter()
        .map(|&j| match chain.get(j) {
            Some(Ok(c)) => format!("certificate {} ({})", j + 1, short_name(c.subject())),
            _ => format!("certificate {}", j + 1),
        })
        .collect();
    if let Some(r) = root {
        parts.push(format!("trusted root ({})", short_name(r.subject())));
    }
    parts.join(" ← issued by ")
}

/// The public key of the certificate `from` sent last before `end`
/// (the server's leaf from the session when its message is not at hand).
fn signer_key(
    s: &Session,
    msgs: &[Msg<'_>],
    end: usize,
    from: Dir,
) -> Result<(Key, String), String> {
    let ders: Option<Vec<u8>> = msgs.iter().take(end).rev().find_map(|m| match m.body.as_deref() {
        Some(Body::Certificate(ders)) if m.from == from => {
            Some(ders.first().cloned().unwrap_or_default())
        }
        _ => None,
    });
    let der = match ders {
        Some(d) if !d.is_empty() => d,
        Some(_) => return Err(format!("the {} sent an empty Certificate message", from.sender())),
        None if from == Dir::ServerToClient => s
            .certificate_ders
            .first()
            .cloned()
            .ok_or_else(|| "the server's certificate is not in the capture".to_string())?,
        None => return Err(format!("the {}'s certificate is not in the capture", from.sender())),
    };
    let (_, c) = X509Certificate::from_der(&der)
        .map_err(|e| format!("the {}'s certificate does not decode: {e}", from.sender()))?;
    let key = key_of(c.public_key());
    let who = format!("{}'s public key ({}, {})", from.sender(), short_name(c.subject()), key.desc);
    Ok((key, who))
}

// ---------------------------------------------------------------------------
// ServerKeyExchange and CertificateVerify

fn server_key_exchange_check(s: &Session, msgs: &[Msg<'_>]) -> Option<Check> {
    let sh = s.server_hello.as_deref()?;
    if s.is_tls13() {
        return None;
    }
    let suite = registry::cipher_suite(sh.cipher_suite);
    let kx = Kx::from_suite(sh.cipher_suite);
    let signed = matches!(kx, Kx::Dhe | Kx::Ecdhe)
        && suite
            .is_some_and(|c| c.auth != "anon" && c.auth != "PSK" && c.kx != "DH" && c.kx != "ECDH");
    if !signed {
        return None;
    }
    let kind = Kind::ServerKeyExchange;
    let title = "ServerKeyExchange signature".to_string();
    let found = msgs.iter().enumerate().find_map(|(i, m)| match m.body.as_deref() {
        Some(Body::ServerKeyExchange(ske)) => Some((i, m, ske)),
        _ => None,
    });
    let Some((i, m, ske)) = found else {
        let why = match s.resumed {
            Some(r) => format!(
                "the session was {}: there is no ServerKeyExchange in an abbreviated handshake",
                resumption_text(r)
            ),
            None => "no ServerKeyExchange in the capture".into(),
        };
        return Some(Check {
            kind,
            title,
            outcome: Outcome::NotPossible(why),
            details: Vec::new(),
            frame: None,
        });
    };
    let frame = Some(m.frame);
    let Some(signature) = ske.signature.as_deref() else {
        return Some(Check {
            kind,
            title,
            outcome: Outcome::NotPossible("the ServerKeyExchange carries no signature".into()),
            details: Vec::new(),
            frame,
        });
    };
    let (Some(ch), sh) = (s.client_hello.as_deref(), sh) else {
        return Some(Check {
            kind,
            title,
            outcome: Outcome::NotPossible(
                "the ClientHello (client_random) is not in the capture".into(),
            ),
            details: Vec::new(),
            frame,
        });
    };
    let mut data = Vec::with_capacity(64 + ske.params_bytes.len());
    data.extend_from_slice(&ch.random);
    data.extend_from_slice(&sh.random);
    data.extend_from_slice(&ske.params_bytes);
    let mut d: Details = vec![
        (
            "signed_data",
            "signed data".into(),
            format!(
                "client_random (32) + server_random (32) + params ({} bytes) = {} bytes",
                ske.params_bytes.len(),
                data.len()
            ),
        ),
        ("client_random", "client_random".into(), hex(&ch.random)),
        ("server_random", "server_random".into(), hex(&sh.random)),
        ("params", "params".into(), hex_short(&ske.params_bytes, 64)),
    ];
    let outcome = signed_check(
        s,
        msgs,
        i,
        Dir::ServerToClient,
        ske.sig_scheme,
        &data,
        signature,
        "signed data",
        &mut d,
    );
    Some(Check { kind, title, outcome, details: d, frame })
}

/// Verifies a TLS signature by `from` (its certificate from before message
/// `end`) over `data`.
#[allow(clippy::too_many_arguments)]
fn signed_check(
    s: &Session,
    msgs: &[Msg<'_>],
    end: usize,
    from: Dir,
    scheme_id: Option<u16>,
    data: &[u8],
    signature: &[u8],
    what: &str,
    d: &mut Details,
) -> Outcome {
    let (key, who) = match signer_key(s, msgs, end, from) {
        Ok(k) => k,
        Err(e) => return Outcome::NotPossible(e),
    };
    let (scheme, name) = match tls_scheme(scheme_id, &key) {
        Ok(x) => x,
        Err(e) => {
            d.push(("key", "verified with".into(), who));
            return Outcome::NotPossible(format!("{e} is not supported"));
        }
    };
    d.push(("scheme", "signature scheme".into(), name));
    d.push(("key", "verified with".into(), who));
    verify(scheme, &key, data, signature, what, d)
}

fn certificate_verify_checks(s: &Session, msgs: &[Msg<'_>], out: &mut Vec<Check>) {
    let tls13 = s.is_tls13();
    let mut server_seen = false;
    for (i, m) in msgs.iter().enumerate() {
        let Some(Body::CertificateVerify { scheme, signature }) = m.body.as_deref() else {
            continue;
        };
        server_seen |= m.from == Dir::ServerToClient;
        let kind = Kind::CertificateVerify { from: m.from };
        let title = format!("CertificateVerify signature from the {}", m.from.sender());
        let mut d: Details = Vec::new();
        let outcome = if tls13 {
            match tls13_hash(s) {
                None => Outcome::NotPossible("the cipher suite's hash is not known".into()),
                Some(hash) => {
                    // RFC 8446 §4.4.3: 64 spaces, the context string, a
                    // zero byte, then the transcript hash.
                    let context = if m.from == Dir::ServerToClient {
                        "TLS 1.3, server CertificateVerify"
                    } else {
                        "TLS 1.3, client CertificateVerify"
                    };
                    let (th, names) = tls13_transcript(msgs, i, hash);
                    let mut content = vec![0x20u8; 64];
                    content.extend_from_slice(context.as_bytes());
                    content.push(0);
                    content.extend_from_slice(&th);
                    d.push((
                        "transcript_hash",
                        format!("transcript hash ({} of {names})", hash.name()),
                        hex(&th),
                    ));
                    d.push(("context", "context string".into(), context.into()));
                    d.push((
                        "signed_content",
                        "signed content".into(),
                        format!(
                            "64 × 0x20 + context string + 0x00 + transcript hash = {} bytes",
                            content.len()
                        ),
                    ));
                    signed_check(
                        s,
                        msgs,
                        i,
                        m.from,
                        *scheme,
                        &content,
                        signature,
                        "signed content",
                        &mut d,
                    )
                }
            }
        } else {
            // TLS 1.0–1.2 (RFC 5246 §7.4.8): the signature is over every
            // handshake message before the CertificateVerify.
            let (parts, names) = tls12_messages(msgs, i);
            let data = parts.concat();
            d.push((
                "signed_data",
                "signed data".into(),
                format!("the handshake messages so far ({names}), {} bytes", data.len()),
            ));
            signed_check(
                s,
                msgs,
                i,
                m.from,
                *scheme,
                &data,
                signature,
                "handshake messages",
                &mut d,
            )
        };
        out.push(Check { kind, title, outcome, details: d, frame: Some(m.frame) });
    }
    if tls13 && !server_seen {
        let why = if let Some(r) = s.resumed {
            format!(
                "the session was {}: the server sends no certificate and no CertificateVerify",
                resumption_text(r)
            )
        } else if undecrypted_handshake(s, Dir::ServerToClient) {
            format!(
                "the CertificateVerify is encrypted (TLS 1.3) and was not decrypted: {}",
                missing_keys(s)
            )
        } else {
            "no CertificateVerify from the server in the capture".into()
        };
        out.push(Check {
            kind: Kind::CertificateVerify { from: Dir::ServerToClient },
            title: "CertificateVerify signature from the server".into(),
            outcome: Outcome::NotPossible(why),
            details: Vec::new(),
            frame: None,
        });
    }
}

// ---------------------------------------------------------------------------
// Finished

fn finished_check(s: &Session, msgs: &[Msg<'_>], from: Dir) -> Check {
    let kind = Kind::Finished { from };
    let title = format!("Finished from the {}", from.sender());
    let found = msgs.iter().enumerate().find_map(|(i, m)| match m.body.as_deref() {
        Some(Body::Finished(v)) if m.from == from => Some((i, m, v)),
        _ => None,
    });
    let none = |why: String| Check {
        kind,
        title: title.clone(),
        outcome: Outcome::NotPossible(why),
        details: Vec::new(),
        frame: None,
    };
    let Some((i, m, sent)) = found else {
        if undecrypted_handshake(s, from) {
            return none(format!(
                "the Finished message is encrypted and was not decrypted: {}",
                missing_keys(s)
            ));
        }
        return none(format!("no Finished from the {} in the capture", from.sender()));
    };
    let frame = Some(m.frame);
    let client = from == Dir::ClientToServer;
    let mut d: Details = Vec::new();
    let computed = if s.is_tls13() {
        let Some(t) = s.decryption.as_ref().and_then(|d| d.tls13.as_ref()) else {
            return Check {
                frame,
                ..none(format!("{}: Finished cannot be recomputed", missing_keys(s)))
            };
        };
        let (th, names) = tls13_transcript(msgs, i, t.hash);
        let base = if client { &t.client_handshake } else { &t.server_handshake };
        let base_name = if client {
            "client_handshake_traffic_secret"
        } else {
            "server_handshake_traffic_secret"
        };
        d.push((
            "transcript_hash",
            format!("transcript hash ({} of {names})", t.hash.name()),
            hex(&th),
        ));
        d.push((
            "finished_key",
            "finished_key".into(),
            format!("HKDF-Expand-Label({base_name}, \"finished\", \"\", {})", t.hash.output_len()),
        ));
        match keys::finished_verify_data(t.hash, base.as_bytes(), &th) {
            Ok(v) => (
                v.as_bytes().to_vec(),
                format!(
                    "verify_data computed = HMAC-{}(finished_key, transcript hash)",
                    t.hash.name()
                ),
            ),
            Err(e) => {
                return Check { frame, ..none(format!("the secret does not fit the suite: {e}")) };
            }
        }
    } else {
        let Some(k) = s.decryption.as_ref().and_then(|d| d.tls12.as_ref()) else {
            return Check {
                frame,
                ..none(format!("{}: Finished cannot be recomputed", missing_keys(s)))
            };
        };
        if s.version().is_some_and(|v| v < 0x0301) {
            return Check { frame, ..none("SSL 3.0 Finished is not computed".into()) };
        }
        let (parts, names) = tls12_messages(msgs, i);
        let hh = k.prf.transcript_hash(&parts);
        let label = if client { "client finished" } else { "server finished" };
        let hash_name = match k.prf {
            keys::Prf::Tls10 => "MD5+SHA-1".to_string(),
            keys::Prf::Tls12(h) => h.name().to_string(),
        };
        d.push(("prf", "PRF".into(), k.prf.name().into()));
        d.push(("label", "label".into(), format!("\"{label}\"")));
        d.push(("handshake_hash", format!("handshake hash ({hash_name} of {names})"), hex(&hh)));
        match keys::verify_data(k.prf, k.master.as_bytes(), client, &hh) {
            Ok(v) => (
                v.as_bytes().to_vec(),
                "verify_data computed = PRF(master_secret, label, handshake hash), 12 bytes"
                    .to_string(),
            ),
            Err(e) => {
                return Check { frame, ..none(format!("the master secret does not fit: {e}")) };
            }
        }
    };
    let (computed, label) = computed;
    d.push(("computed", label, hex(&computed)));
    d.push(("sent", "verify_data sent".into(), hex(sent)));
    let outcome = if computed == *sent {
        Outcome::Ok
    } else {
        Outcome::Failed(
            "the verify_data sent differs from the one recomputed: the handshake messages were altered, or the secret is not this session's"
                .into(),
        )
    };
    Check { kind, title, outcome, details: d, frame }
}

// ---------------------------------------------------------------------------
// Key exchange

/// Checks that an (EC)DHE public key is one aws-lc-rs accepts for the group:
/// an uncompressed point on the curve ([RFC 8446 §4.2.8.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.8.2)),
/// 32 bytes for X25519. None for groups it has no check for.
fn check_public(group: u16, public: &[u8]) -> Option<Result<(), &'static str>> {
    let alg = match group {
        0x001d => &agreement::X25519,
        0x0017 => &agreement::ECDH_P256,
        0x0018 => &agreement::ECDH_P384,
        0x0019 => &agreement::ECDH_P521,
        _ => return None,
    };
    let parsed =
        agreement::ParsedPublicKey::try_from(&agreement::UnparsedPublicKey::new(alg, public));
    Some(match parsed {
        Ok(p)
            if matches!(
                p.format(),
                agreement::ParsedPublicKeyFormat::Uncompressed
                    | agreement::ParsedPublicKeyFormat::Raw
            ) =>
        {
            Ok(())
        }
        Ok(_) => Err("not in the uncompressed form TLS requires"),
        Err(_) => Err("not a valid public key for the group"),
    })
}

fn key_exchange_check(s: &Session, msgs: &[Msg<'_>]) -> Check {
    let kind = Kind::KeyExchange;
    let np = |title: &str, why: String, frame: Option<u64>| Check {
        kind,
        title: title.into(),
        outcome: Outcome::NotPossible(why),
        details: Vec::new(),
        frame,
    };
    let Some(sh) = s.server_hello.as_deref() else {
        return np("Key exchange", "no ServerHello in the capture".into(), None);
    };
    let sh_frame = msgs.iter().find(|m| m.name == "ServerHello").map(|m| m.frame);
    let shared = (
        "shared_secret",
        "shared secret".to_string(),
        "computed by each side from its own private key and the other's public key; it never crosses the wire, so it is not in the capture".to_string(),
    );
    if s.is_tls13() {
        let Some((group, server_pub)) = sh.hello.key_shares.first() else {
            return np(
                "Key exchange",
                "no key_share in the ServerHello: a PSK-only (psk_ke) handshake has no Diffie-Hellman; the keys come from the pre-shared key alone, without forward secrecy".into(),
                sh_frame,
            );
        };
        let client_pub = s
            .client_hello
            .as_deref()
            .and_then(|ch| ch.hello.key_shares.iter().find(|(g, _)| g == group))
            .map(|(_, k)| k.as_slice());
        return ecdhe_check(*group, client_pub, server_pub, sh_frame, shared, "TLS 1.3 key_share");
    }
    if let Some(r) = s.resumed {
        return np(
            "Key exchange",
            format!(
                "the session was {}: no key exchange, the keys come from the original session's master secret",
                resumption_text(r)
            ),
            sh_frame,
        );
    }
    let ske = msgs.iter().find_map(|m| match m.body.as_deref() {
        Some(Body::ServerKeyExchange(x)) => Some(&x.params),
        _ => None,
    });
    let cke = msgs.iter().find_map(|m| match m.body.as_deref() {
        Some(Body::ClientKeyExchange(x)) => Some((m.frame, x)),
        _ => None,
    });
    let frame = cke.map(|(f, _)| f).or(sh_frame);
    match (Kx::from_suite(sh.cipher_suite), ske) {
        (Kx::Ecdhe | Kx::EcdhePsk, Some(ServerParams::Ecdhe { group, public })) => {
            let client = cke.and_then(|(_, c)| match c {
                ClientKeyExchange::Ecdhe(k) | ClientKeyExchange::Unknown(k) => Some(k.as_slice()),
                _ => None,
            });
            ecdhe_check(*group, client, public, frame, shared, "ServerKeyExchange and ClientKeyExchange")
        }
        (Kx::Dhe | Kx::DhePsk, Some(ServerParams::Dhe { p, g, ys })) => {
            let yc = cke.and_then(|(_, c)| match c {
                ClientKeyExchange::Dhe(k) | ClientKeyExchange::Unknown(k) => Some(k.as_slice()),
                _ => None,
            });
            dhe_check(p, g, ys, yc, frame, shared)
        }
        (Kx::Rsa | Kx::RsaPsk, _) => np(
            "Key exchange: static RSA",
            "no Diffie-Hellman: the client sent the premaster secret encrypted to the server's RSA key, so whoever holds that key can decrypt this capture (no forward secrecy)".into(),
            frame,
        ),
        (Kx::Psk, _) => np(
            "Key exchange: PSK",
            "no Diffie-Hellman: the keys come from the pre-shared key alone".into(),
            frame,
        ),
        _ => np("Key exchange", "no ServerKeyExchange parameters in the capture".into(), frame),
    }
}

fn ecdhe_check(
    group: u16,
    client: Option<&[u8]>,
    server: &[u8],
    frame: Option<u64>,
    shared: (&'static str, String, String),
    from: &str,
) -> Check {
    let name = registry::describe(registry::named_group(group), group, 4);
    let short = registry::named_group(group).unwrap_or("unknown group");
    let mut d: Details = vec![("group", "group".into(), name)];
    d.push((
        "client_public",
        format!(
            "client's public key ({})",
            client.map(|c| format!("{} bytes", c.len())).unwrap_or_else(|| "missing".into())
        ),
        client.map(|c| hex_short(c, 32)).unwrap_or_else(|| "not in the capture".into()),
    ));
    d.push((
        "server_public",
        format!("server's public key ({} bytes)", server.len()),
        hex_short(server, 32),
    ));
    d.push(("source", "from".into(), from.into()));
    d.push(shared);
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for (who, key) in [("client", client), ("server", Some(server))] {
        let Some(key) = key else { continue };
        match check_public(group, key) {
            Some(Ok(())) => checked.push(who),
            Some(Err(e)) => problems.push(format!("the {who}'s public key is {e}")),
            None => {}
        }
    }
    if !checked.is_empty() {
        d.push((
            "validated",
            "public keys accepted by aws-lc-rs".into(),
            format!("{} (valid {short} public keys)", checked.join(" and ")),
        ));
    }
    let outcome = if !problems.is_empty() {
        Outcome::Failed(problems.join("; "))
    } else if client.is_none() {
        Outcome::NotPossible("the client's public key is not in the capture".into())
    } else {
        Outcome::Ok
    };
    Check {
        kind: Kind::KeyExchange,
        title: format!("Key exchange: ECDHE {short}"),
        outcome,
        details: d,
        frame,
    }
}

fn dhe_check(
    p: &[u8],
    g: &[u8],
    ys: &[u8],
    yc: Option<&[u8]>,
    frame: Option<u64>,
    shared: (&'static str, String, String),
) -> Check {
    let pn = BigUint::from_bytes_be(p);
    let bits = pn.bits();
    let mut d: Details = vec![
        (
            "group",
            "group".into(),
            format!(
                "finite-field Diffie-Hellman, {bits}-bit prime p, generator g = {}",
                BigUint::from_bytes_be(g)
            ),
        ),
        ("p", "p".into(), hex_short(p, 32)),
        (
            "client_public",
            "client's public value Yc".into(),
            yc.map(|c| hex_short(c, 32)).unwrap_or_else(|| "not in the capture".into()),
        ),
        ("server_public", "server's public value Ys".into(), hex_short(ys, 32)),
        ("source", "from".into(), "ServerKeyExchange and ClientKeyExchange".into()),
        shared,
    ];
    // A public value must lie in 2..p-2: 0, 1 and p-1 would give a shared
    // secret anyone can guess (RFC 7919 §5.1).
    let one = BigUint::from(1u8);
    let in_range = |y: &[u8]| {
        let y = BigUint::from_bytes_be(y);
        y > one && pn > one && y < &pn - &one
    };
    let mut problems = Vec::new();
    if !in_range(ys) {
        problems.push("the server's public value is not in 2..p-2");
    }
    if yc.is_some_and(|y| !in_range(y)) {
        problems.push("the client's public value is not in 2..p-2");
    }
    if problems.is_empty() {
        d.push(("validated", "public values".into(), "both in 2..p-2".into()));
    }
    let outcome = if !problems.is_empty() {
        Outcome::Failed(problems.join("; "))
    } else if yc.is_none() {
        Outcome::NotPossible("the client's public value is not in the capture".into())
    } else {
        Outcome::Ok
    };
    Check {
        kind: Kind::KeyExchange,
        title: format!("Key exchange: DHE {bits}-bit"),
        outcome,
        details: d,
        frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A scratch directory for openssl's files, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p =
                std::env::temp_dir().join(format!("tlsscope-verify-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self, f: &str) -> PathBuf {
            self.0.join(f)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Runs openssl in `dir`; fails (does not skip) when it is missing.
    fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out =
            Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
                panic!("openssl is needed by this test ({e}): install it (apt-get install openssl)")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A key pair made by openssl: the public key as our [`Key`].
    fn openssl_key(dir: &TempDir, genpkey: &[&str]) -> Key {
        let mut args = vec!["genpkey", "-out", "key.pem"];
        args.extend_from_slice(genpkey);
        openssl(&dir.0, &args);
        openssl(
            &dir.0,
            &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"],
        );
        let der = std::fs::read(dir.path("pub.der")).unwrap();
        let (_, spki) = SubjectPublicKeyInfo::from_der(&der).unwrap();
        key_of(&spki)
    }

    /// Signs `data` with openssl (`dgst -sign`, or `pkeyutl` args given).
    fn openssl_sign(dir: &TempDir, data: &[u8], args: &[&str]) -> Vec<u8> {
        std::fs::write(dir.path("data.bin"), data).unwrap();
        openssl(&dir.0, args);
        std::fs::read(dir.path("sig.bin")).unwrap()
    }

    fn detail<'a>(d: &'a Details, key: &str) -> Option<&'a str> {
        d.iter().find(|(k, _, _)| *k == key).map(|(_, _, v)| v.as_str())
    }

    #[test]
    fn pkcs1_type1_block_splits_and_rejects_bad_padding() {
        let mut em = vec![0x00, 0x01];
        em.extend([0xff; 10]);
        em.push(0x00);
        em.extend(b"digest");
        assert_eq!(pkcs1_type1(&em), Ok((10, b"digest".as_slice())));
        let mut bad = em.clone();
        bad[1] = 0x02;
        assert!(pkcs1_type1(&bad).unwrap_err().contains("not 00 01"));
        let mut short = vec![0x00, 0x01, 0xff, 0xff, 0x00];
        short.extend(b"x");
        assert!(pkcs1_type1(&short).unwrap_err().contains("at least 8"));
        let mut no_zero = em.clone();
        no_zero[12] = 0x05;
        assert!(pkcs1_type1(&no_zero).unwrap_err().contains("not followed by 00"));
        for n in 0..em.len() {
            let _ = pkcs1_type1(&em[..n]);
        }
    }

    /// DigestInfo for SHA-256 (RFC 8017 §9.2 note 1): the 19-byte prefix,
    /// then the digest.
    const SHA256_DIGEST_INFO_PREFIX: &str = "3031300d060960864801650304020105000420";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn digest_info_reads_the_algorithm_and_digest_and_rejects_truncation() {
        let mut t = unhex(SHA256_DIGEST_INFO_PREFIX);
        t.extend([0xab; 32]);
        let (oid, digest) = digest_info(&t).unwrap();
        assert_eq!(oid, "2.16.840.1.101.3.4.2.1");
        assert_eq!(Hash::from_oid(&oid), Some(Hash::Sha256));
        assert_eq!(digest, vec![0xab; 32]);
        for n in 0..t.len() {
            assert!(digest_info(&t[..n]).is_err(), "a {n}-byte prefix decoded");
        }
        let mut trailing = t.clone();
        trailing.push(0);
        assert!(digest_info(&trailing).is_err());
    }

    #[test]
    fn rsa_recovery_refuses_signatures_not_below_the_modulus_and_huge_exponents() {
        let n = [0x00, 0xc5, 0x01];
        assert!(rsa_recover(&n, &[3], &[0xc5, 0x01]).unwrap_err().contains("not smaller"));
        assert!(rsa_recover(&n, &[1; 9], &[0x01]).unwrap_err().contains("exponent"));
        assert!(rsa_recover(&[], &[3], &[]).is_err());
        // 2^3 mod 0xc501, padded to the modulus length.
        assert_eq!(rsa_recover(&n, &[3], &[2]).unwrap(), vec![0x00, 0x08]);
    }

    #[test]
    fn tls10_rsa_md5_sha1_signature_from_openssl_verifies_by_re_encoding() {
        let dir = TempDir::new("md5sha1");
        let key = openssl_key(&dir, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
        let data = b"client_random + server_random + params";
        // TLS 1.0/1.1: PKCS#1 type 1 padding around MD5 || SHA-1, no DigestInfo.
        std::fs::write(dir.path("digest.bin"), Hash::Md5Sha1.digest(data)).unwrap();
        openssl(
            &dir.0,
            &[
                "pkeyutl",
                "-sign",
                "-inkey",
                "key.pem",
                "-in",
                "digest.bin",
                "-out",
                "sig.bin",
                "-pkeyopt",
                "rsa_padding_mode:pkcs1",
            ],
        );
        let signature = std::fs::read(dir.path("sig.bin")).unwrap();
        let (scheme, name) = tls_scheme(None, &key).unwrap();
        assert_eq!(scheme, Scheme::RsaPkcs1(Hash::Md5Sha1));
        assert!(name.contains("MD5+SHA-1"));
        let mut d = Vec::new();
        assert_eq!(verify(scheme, &key, data, &signature, "signed data", &mut d), Outcome::Ok);
        assert_eq!(detail(&d, "hashes"), Some("equal"));
        assert_eq!(detail(&d, "hash_a"), detail(&d, "hash_b"));
        assert_eq!(detail(&d, "hash_a").unwrap().len(), 72, "36 bytes: MD5 then SHA-1");
        let mut d = Vec::new();
        let outcome = verify(scheme, &key, b"other data", &signature, "signed data", &mut d);
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        assert_eq!(detail(&d, "hashes"), Some("differ"));
    }

    #[test]
    fn tls12_rsa_pkcs1_signature_shows_hash_a_and_hash_b() {
        let dir = TempDir::new("pkcs1");
        let key = openssl_key(&dir, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
        let data = b"signed params".repeat(10);
        let sig = openssl_sign(
            &dir,
            &data,
            &["dgst", "-sha384", "-sign", "key.pem", "-out", "sig.bin", "data.bin"],
        );
        let (scheme, name) = tls_scheme(Some(0x0501), &key).unwrap();
        assert_eq!(scheme, Scheme::RsaPkcs1(Hash::Sha384));
        assert_eq!(name, "rsa_pkcs1_sha384 (0x0501)");
        let mut d = Vec::new();
        assert_eq!(verify(scheme, &key, &data, &sig, "signed data", &mut d), Outcome::Ok);
        assert_eq!(detail(&d, "hash_a"), Some(hex(&Sha384::digest(&data)).as_str()));
        assert_eq!(detail(&d, "hash_a"), detail(&d, "hash_b"));
        assert_eq!(detail(&d, "digest_info_alg"), Some("sha384"));
        assert!(detail(&d, "padding").unwrap().starts_with("00 01 FF×"));
        assert_eq!(detail(&d, "verdict"), Some("valid"));
        let mut bad = sig.clone();
        bad[100] ^= 1;
        let mut d = Vec::new();
        let outcome = verify(scheme, &key, &data, &bad, "signed data", &mut d);
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        assert_eq!(detail(&d, "verdict"), Some("invalid"));
        // A flipped signature byte scrambles the whole recovered block.
        assert!(detail(&d, "padding").unwrap().starts_with("wrong"), "{d:?}");
    }

    #[test]
    fn tls_rsa_pss_ecdsa_and_ed25519_signatures_from_openssl_verify() {
        let dir = TempDir::new("schemes");
        let data = b"64 spaces, a context string, a zero byte, a transcript hash".to_vec();

        let rsa = openssl_key(&dir, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
        let sig = openssl_sign(
            &dir,
            &data,
            &[
                "dgst",
                "-sha256",
                "-sign",
                "key.pem",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
                "-out",
                "sig.bin",
                "data.bin",
            ],
        );
        let (scheme, _) = tls_scheme(Some(0x0804), &rsa).unwrap();
        let mut d = Vec::new();
        assert_eq!(verify(scheme, &rsa, &data, &sig, "signed content", &mut d), Outcome::Ok);
        assert!(detail(&d, "pss_trailer").unwrap().starts_with("bc"));
        // The same signature read as PKCS#1 v1.5 does not verify.
        let mut d = Vec::new();
        let pkcs1 = verify(Scheme::RsaPkcs1(Hash::Sha256), &rsa, &data, &sig, "x", &mut d);
        assert!(matches!(pkcs1, Outcome::Failed(_)));

        let ec = openssl_key(&dir, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        let sig = openssl_sign(
            &dir,
            &data,
            &["dgst", "-sha256", "-sign", "key.pem", "-out", "sig.bin", "data.bin"],
        );
        let (scheme, name) = tls_scheme(Some(0x0403), &ec).unwrap();
        assert_eq!(name, "ecdsa_secp256r1_sha256 (0x0403)");
        let mut d = Vec::new();
        assert_eq!(verify(scheme, &ec, &data, &sig, "signed content", &mut d), Outcome::Ok);
        assert!(detail(&d, "ecdsa_r").is_some() && detail(&d, "ecdsa_s").is_some());
        assert_eq!(detail(&d, "verdict"), Some("valid"));
        let mut d = Vec::new();
        assert!(matches!(verify(scheme, &ec, b"altered", &sig, "x", &mut d), Outcome::Failed(_)));
        // An ECDSA scheme with an RSA key is not possible, not a failure.
        let mut d = Vec::new();
        assert!(matches!(verify(scheme, &rsa, &data, &sig, "x", &mut d), Outcome::NotPossible(_)));

        let ed = openssl_key(&dir, &["-algorithm", "ED25519"]);
        let sig = openssl_sign(
            &dir,
            &data,
            &[
                "pkeyutl", "-sign", "-rawin", "-inkey", "key.pem", "-in", "data.bin", "-out",
                "sig.bin",
            ],
        );
        let (scheme, _) = tls_scheme(Some(0x0807), &ed).unwrap();
        assert_eq!(scheme, Scheme::Ed25519);
        let mut d = Vec::new();
        assert_eq!(verify(scheme, &ed, &data, &sig, "signed content", &mut d), Outcome::Ok);
        let mut bad = sig.clone();
        bad[0] ^= 0x80;
        let mut d = Vec::new();
        assert!(matches!(verify(scheme, &ed, &data, &bad, "x", &mut d), Outcome::Failed(_)));
    }

    #[test]
    fn unknown_and_unsupported_schemes_are_not_possible() {
        let ed = Key { kind: KeyType::Ed25519, raw: vec![0; 32], desc: "Ed25519".into() };
        assert!(tls_scheme(Some(0x0808), &ed).is_err(), "ed448");
        assert!(tls_scheme(Some(0x1234), &ed).is_err());
        assert!(tls_scheme(None, &ed).is_err(), "TLS 1.0 with an Ed25519 key");
    }

    #[test]
    fn public_keys_of_the_wrong_size_or_form_are_rejected() {
        assert_eq!(check_public(0x001d, &[9; 32]), Some(Ok(())));
        assert!(matches!(check_public(0x001d, &[9; 31]), Some(Err(_))));
        assert!(matches!(check_public(0x0017, &[4; 65]), Some(Err(_))), "not on P-256");
        assert_eq!(check_public(0x11ec, &[0; 1216]), None, "no check for hybrid groups");
    }

    #[test]
    fn render_text_shows_outcome_reason_and_details() {
        let checks = vec![
            Check {
                kind: Kind::Finished { from: Dir::ServerToClient },
                title: "Finished from the server".into(),
                outcome: Outcome::Failed("differs".into()),
                details: vec![("computed", "verify_data computed".into(), "00ff".into())],
                frame: Some(12),
            },
            Check {
                kind: Kind::NameMatch,
                title: "Server name".into(),
                outcome: Outcome::NotPossible("no SNI".into()),
                details: Vec::new(),
                frame: None,
            },
        ];
        let text = render_text(&checks);
        assert!(text.contains("[FAILED] Finished from the server  (frame 12)"), "{text}");
        assert!(text.contains("why: differs"));
        assert!(text.contains("verify_data computed: 00ff"));
        assert!(text.contains("[ n/a  ] Server name"), "{text}");
        assert!(text.contains("not possible: no SNI"));
        assert_eq!(checks[0].detail("computed"), Some("00ff"));
        assert_eq!(Kind::CertificateSignature { index: 2 }.key(), "certificate_signature");
        assert_eq!(Outcome::NotPossible("x".into()).to_string(), "not possible: x");
    }
}
