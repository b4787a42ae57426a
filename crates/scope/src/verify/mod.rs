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
//!
//! One module per topic: `certificate` (signatures, validity, name, trust
//! path), `handshake_signature` (ServerKeyExchange, CertificateVerify),
//! `finished`, `key_exchange`; beneath them `signature` (hashes, keys,
//! schemes, verification with details), `rsa_display` (the display
//! arithmetic) and `messages` (the handshake as the checks read it). This
//! module holds what they share: the check types and
//! [`check_session`]. Rendering the checks as text is the CLI's.

use std::fmt;

use crate::flow::Dir;
use crate::session::Session;
use crate::time::Timestamp;

mod certificate;
mod finished;
mod handshake_signature;
mod key_exchange;
mod messages;
mod rsa_display;
mod signature;
#[cfg(test)]
mod tests;

use certificate::*;
use finished::*;
use handshake_signature::*;
use key_exchange::*;
use messages::*;
use rsa_display::*;
use signature::*;

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
