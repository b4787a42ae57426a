//! The handshake's own signatures: ServerKeyExchange (TLS 1.2 and
//! before) and CertificateVerify (TLS 1.3, and client certificates).

use super::*;
use crate::flow::Dir;
use crate::session::Session;
use crate::tls::handshake::{Body, Kx};
use crate::tls::registry;
use crate::tree::{hex, hex_short};

pub(super) fn server_key_exchange_check(s: &Session, msgs: &[Msg<'_>]) -> Option<Check> {
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
    let mut data = Vec::with_capacity(ske.params_bytes.len().saturating_add(64));
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
pub(super) fn signed_check(
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

pub(super) fn certificate_verify_checks(s: &Session, msgs: &[Msg<'_>], out: &mut Vec<Check>) {
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
