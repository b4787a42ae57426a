//! Finished: verify_data recomputed from the secrets and the transcript,
//! for each side.

use super::*;
use crate::flow::Dir;
use crate::session::Session;
use crate::tls::handshake::Body;
use crate::tls::keys;
use crate::tree::hex;

pub(super) fn finished_check(s: &Session, msgs: &[Msg<'_>], from: Dir) -> Check {
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
