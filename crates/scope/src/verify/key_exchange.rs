//! The (EC)DHE key exchange: public keys valid for their group, and the
//! shared secret where the secrets allow.

use aws_lc_rs::agreement;
use num_bigint::BigUint;

use super::*;
use crate::session::Session;
use crate::tls::handshake::{Body, ClientKeyExchange, Kx, ServerParams};
use crate::tls::registry;
use crate::tree::hex_short;

/// Checks that an (EC)DHE public key is one aws-lc-rs accepts for the group:
/// an uncompressed point on the curve ([RFC 8446 §4.2.8.2](https://www.rfc-editor.org/rfc/rfc8446#section-4.2.8.2)),
/// 32 bytes for X25519. None for groups it has no check for.
pub(super) fn check_public(group: u16, public: &[u8]) -> Option<Result<(), &'static str>> {
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

pub(super) fn key_exchange_check(s: &Session, msgs: &[Msg<'_>]) -> Check {
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

pub(super) fn ecdhe_check(
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

pub(super) fn dhe_check(
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
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "big integers: p - 1 is taken only once p > 1 is known"
    )]
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
