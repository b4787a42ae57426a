//! The session's handshake messages as the checks read them: who sent
//! each, where, and the transcripts the signatures and Finished cover.

use std::borrow::Cow;

use crate::flow::Dir;
use crate::session::{Protection, Resumption, Session};
use crate::tls::decrypt::CipherSpec;
use crate::tls::handshake::{self, Body, Ctx, kind};
use crate::tls::keys::{self, HashAlg};
use crate::tls::registry;
use crate::tree::Tree;

/// A handshake message of the session with who sent it and where.
pub(super) struct Msg<'a> {
    pub(super) from: Dir,
    pub(super) frame: u64,
    /// The whole message, header included.
    pub(super) bytes: &'a [u8],
    pub(super) body: Option<Cow<'a, Body>>,
    /// `ClientHello`, `HelloRetryRequest`, ...
    pub(super) name: &'static str,
}

impl Msg<'_> {
    pub(super) fn msg_type(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }
}

/// The session's handshake messages in the order they were processed: the
/// transcript's bytes, paired with the message list for direction and
/// frame (both are filled together, KeyUpdate aside). The parsed body comes
/// from the message list when it was kept, else the bytes are parsed again.
pub(super) fn handshake_messages(s: &Session) -> Vec<Msg<'_>> {
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
pub(super) fn missing_keys(s: &Session) -> String {
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
pub(super) fn undecrypted_handshake(s: &Session, from: Dir) -> bool {
    s.messages.iter().any(|m| {
        m.from == from
            && m.protection == Protection::Encrypted
            && m.name == "EncryptedHandshakeMessage"
    })
}

pub(super) fn resumption_text(r: Resumption) -> &'static str {
    match r {
        Resumption::SessionId => "resumed by session ID",
        Resumption::Ticket => "resumed with a session ticket",
        Resumption::Psk => "resumed with a pre-shared key (TLS 1.3 PSK)",
    }
}

/// The TLS 1.3 suite hash, from the secrets or the cipher suite.
pub(super) fn tls13_hash(s: &Session) -> Option<HashAlg> {
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
pub(super) fn tls13_transcript(msgs: &[Msg<'_>], end: usize, hash: HashAlg) -> (Vec<u8>, String) {
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
pub(super) fn tls12_messages<'a>(msgs: &'a [Msg<'a>], end: usize) -> (Vec<&'a [u8]>, String) {
    let kept: Vec<&Msg<'_>> =
        msgs.iter().take(end).filter(|m| m.msg_type() != kind::HELLO_REQUEST).collect();
    let names: Vec<&str> = kept.iter().map(|m| m.name).collect();
    (kept.iter().map(|m| m.bytes).collect(), names.join(", "))
}
