//! The server's certificates: each signature, validity at the time of the
//! capture and now, the server name against the leaf, and the path to a
//! trust anchor.

use std::net::IpAddr;

use x509_parser::asn1_rs::FromDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::*;
use crate::flow::Dir;
use crate::hostname::dns_name_matches;
use crate::session::Session;
use crate::tls::handshake::{Body, kind};
use crate::tls::registry;
use crate::tree::hex;

/// The short form of a name for titles: its CN, else the whole name.
pub(super) fn short_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    match name.iter_common_name().next().and_then(|cn| cn.as_str().ok()) {
        Some(cn) => format!("CN={cn}"),
        None => {
            let s = name.to_string();
            if s.is_empty() { "(empty name)".into() } else { s }
        }
    }
}

pub(super) fn fmt_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{secs} s after the epoch"))
}

pub(super) fn days(secs: i64) -> String {
    let d = secs / 86_400;
    match d {
        0 => format!("{} hours", secs / 3600),
        1 => "1 day".into(),
        _ => format!("{d} days"),
    }
}

/// Where the issuer of a certificate was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Issuer {
    Itself,
    Chain(usize),
    Root(usize),
}

/// Roots whose DER holds `name` (a cheap filter before parsing), parsed.
pub(super) fn roots_named<'r>(
    roots: &'r [Vec<u8>],
    name: &[u8],
) -> Vec<(usize, X509Certificate<'r>)> {
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

pub(super) fn certificate_checks(
    s: &Session,
    msgs: &[Msg<'_>],
    trust: &Trust,
    out: &mut Vec<Check>,
) {
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

/// The check of certificate `i` (from 0) about `what`, which could not be
/// made: the certificate did not decode (`e`).
fn undecodable(kind: Kind, what: &str, i: usize, e: &str, frame: Option<u64>) -> Check {
    let n = i.saturating_add(1);
    Check {
        kind,
        title: format!("Certificate {n} {what}"),
        outcome: Outcome::NotPossible(format!("certificate {n}: {e}")),
        details: Vec::new(),
        frame,
    }
}

pub(super) fn signature_check(
    i: usize,
    c: &Result<X509Certificate<'_>, String>,
    chain: &[Result<X509Certificate<'_>, String>],
    trust: &Trust,
    frame: Option<u64>,
) -> Check {
    let kind = Kind::CertificateSignature { index: i };
    let c = match c {
        Ok(c) => c,
        Err(e) => return undecodable(kind, "signature", i, e, frame),
    };
    let self_issued = c.subject().as_raw() == c.issuer().as_raw();
    let subject = short_name(c.subject());
    let title = if self_issued {
        format!("Certificate {} signature ({subject}, self-signed)", i.saturating_add(1))
    } else {
        format!(
            "Certificate {} signature ({subject}, issued by {})",
            i.saturating_add(1),
            short_name(c.issuer())
        )
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
    let mut order: Vec<usize> = (i.saturating_add(1)..chain.len()).collect();
    order.extend(0..i);
    for j in order {
        if let Some(Ok(o)) = chain.get(j)
            && o.subject().as_raw() == issuer_raw
        {
            candidates.push((
                Issuer::Chain(j),
                key_of(o.public_key()),
                format!(
                    "certificate {} in the chain ({})",
                    j.saturating_add(1),
                    short_name(o.subject())
                ),
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

pub(super) fn validity_check(
    i: usize,
    c: &Result<X509Certificate<'_>, String>,
    capture: i64,
    now: i64,
    frame: Option<u64>,
) -> Check {
    let kind = Kind::CertificateValidity { index: i };
    let c = match c {
        Ok(c) => c,
        Err(e) => return undecodable(kind, "validity", i, e, frame),
    };
    let nb = c.validity().not_before.timestamp();
    let na = c.validity().not_after.timestamp();
    let judge = |t: i64| -> Result<(), String> {
        if t < nb {
            Err(format!("not valid before {} ({} later)", fmt_time(nb), days(nb.saturating_sub(t))))
        } else if t > na {
            Err(format!("expired on {} ({} earlier)", fmt_time(na), days(t.saturating_sub(na))))
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
            Ok(()) => format!("valid ({} left)", days(na.saturating_sub(now))),
            Err(e) => e,
        },
    ));
    let outcome = match judge(capture) {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Failed(format!("at the time of the capture the certificate was {e}")),
    };
    Check {
        kind,
        title: format!(
            "Certificate {} validity ({})",
            i.saturating_add(1),
            short_name(c.subject())
        ),
        outcome,
        details: d,
        frame,
    }
}

pub(super) fn name_check(
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

pub(super) fn trust_check(
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
                    last.saturating_add(1)
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
            last.saturating_add(1),
            cur.issuer()
        ));
        return Check { kind, title, outcome, details: d, frame };
    }
}

pub(super) fn path_text(
    path: &[usize],
    chain: &[Result<X509Certificate<'_>, String>],
    root: Option<&X509Certificate<'_>>,
) -> String {
    let mut parts: Vec<String> = path
        .iter()
        .map(|&j| match chain.get(j) {
            Some(Ok(c)) => {
                format!("certificate {} ({})", j.saturating_add(1), short_name(c.subject()))
            }
            _ => format!("certificate {}", j.saturating_add(1)),
        })
        .collect();
    if let Some(r) = root {
        parts.push(format!("trusted root ({})", short_name(r.subject())));
    }
    parts.join(" ← issued by ")
}

/// The public key of the certificate `from` sent last before `end`
/// (the server's leaf from the session when its message is not at hand).
pub(super) fn signer_key(
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
