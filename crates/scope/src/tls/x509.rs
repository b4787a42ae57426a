//! Certificates found in Certificate messages, decoded with x509-parser:
//! a [`Summary`] for the session model and JSON, and fields with spans for
//! the tree. DER is never parsed by hand: element boundaries for spans come
//! from asn1-rs (x509-parser's own DER layer).

use sha2::Digest;
use x509_parser::asn1_rs::{Any, FromDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

use crate::span::{self, Span};
use crate::tree::{Tree, hex, hex_short};

/// What a certificate says, for summaries and JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Subject distinguished name, e.g. `CN=localhost`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// subjectAltName entries as `DNS:name` / `IP:addr` / `URI:...`.
    pub san: Vec<String>,
    /// Key type and size, e.g. `RSA 2048`, `EC P-256`, `Ed25519`.
    pub public_key: String,
    /// Signature algorithm, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// keyUsage bits set.
    pub key_usage: Vec<String>,
    /// basicConstraints, e.g. `CA:FALSE` or `CA:TRUE, pathlen:0`.
    pub basic_constraints: Option<String>,
    /// Subject equals issuer.
    pub self_issued: bool,
}

/// A distinguished name in DER, as text (`CN=x, O=y`).
pub fn name_from_der(der: &[u8]) -> String {
    match X509Name::from_der(der) {
        Ok((_, name)) => name.to_string(),
        Err(_) => format!("(undecodable name: {})", hex_short(der, 32)),
    }
}

fn time(t: &x509_parser::time::ASN1Time) -> String {
    t.to_datetime()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn algorithm_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    let reg = x509_parser::objects::oid_registry();
    match reg.get(oid) {
        Some(e) => e.sn().to_string(),
        None => oid.to_id_string(),
    }
}

fn public_key_desc(cert: &X509Certificate<'_>) -> String {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| match oid.to_id_string().as_str() {
                    "1.2.840.10045.3.1.7" => "P-256".to_string(),
                    "1.3.132.0.34" => "P-384".to_string(),
                    "1.3.132.0.35" => "P-521".to_string(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "unknown curve".into());
            let _ = point;
            format!("EC {curve}")
        }
        Ok(PublicKey::DSA(_)) => "DSA".into(),
        Ok(PublicKey::GostR3410(_) | PublicKey::GostR3410_2012(_)) => "GOST".into(),
        Ok(PublicKey::Unknown(_)) | Err(_) => {
            match spki.algorithm.algorithm.to_id_string().as_str() {
                "1.3.101.112" => "Ed25519".into(),
                "1.3.101.113" => "Ed448".into(),
                _ => algorithm_name(&spki.algorithm.algorithm),
            }
        }
    }
}

/// Summarises a DER certificate.
pub fn summarize(der: &[u8]) -> Result<Summary, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not a certificate: {e}"))?;
    let mut s = Summary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: hex(cert.raw_serial()),
        not_before: time(&cert.validity().not_before),
        not_after: time(&cert.validity().not_after),
        public_key: public_key_desc(&cert),
        signature_algorithm: algorithm_name(&cert.signature_algorithm.algorithm),
        sha256: hex(&sha2::Sha256::digest(der)),
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
        ..Summary::default()
    };
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    s.san.push(general_name(n));
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                s.key_usage = ku
                    .to_string()
                    .split(", ")
                    .filter(|x| !x.is_empty())
                    .map(String::from)
                    .collect();
            }
            ParsedExtension::BasicConstraints(bc) => {
                s.basic_constraints = Some(match bc.path_len_constraint {
                    Some(n) if bc.ca => format!("CA:TRUE, pathlen:{n}"),
                    _ => format!("CA:{}", if bc.ca { "TRUE" } else { "FALSE" }),
                });
            }
            _ => {}
        }
    }
    Ok(s)
}

fn general_name(n: &GeneralName<'_>) -> String {
    match n {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(ip) => match ip.len() {
            4 => {
                let a: [u8; 4] = (*ip).try_into().unwrap_or_default();
                format!("IP:{}", std::net::Ipv4Addr::from(a))
            }
            16 => {
                let a: [u8; 16] = (*ip).try_into().unwrap_or_default();
                format!("IP:{}", std::net::Ipv6Addr::from(a))
            }
            _ => format!("IP:{}", hex(ip)),
        },
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::RFC822Name(m) => format!("email:{m}"),
        other => format!("{other:?}"),
    }
}

/// Offset of `inner` within `outer` (see [`span::offset_in`]).
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<u32> {
    span::offset_in(outer, inner).map(|o| u32::try_from(o).unwrap_or(u32::MAX))
}

/// The DER elements (header + content) directly inside a SEQUENCE's
/// content, with their offsets relative to `der`.
fn children(der: &[u8], content: &[u8]) -> Vec<(Span, u32)> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let Ok((next, any)) = Any::from_der(rest) else { break };
        // `next` is what is left of `rest`.
        let consumed = rest.len().saturating_sub(next.len());
        if let Some(start) = offset_in(der, rest) {
            out.push((Span::new(start, consumed as u32), any.header.tag().0));
        }
        rest = next;
    }
    out
}

/// Adds a certificate's fields to the tree; `base` is the offset of the
/// DER within the unit being described.
pub fn tree(der: &[u8], base: u32, t: &mut Tree) {
    if !t.is_on() {
        return;
    }
    let whole = Span::new(base, der.len() as u32);
    let cert = match X509Certificate::from_der(der) {
        Ok((_, c)) => c,
        Err(e) => {
            t.leaf(
                "certificate",
                || "Certificate (undecodable)".into(),
                whole,
                || format!("{e}: {}", hex_short(der, 32)),
            );
            return;
        }
    };
    // Offsets within the unit, saturating as spans do.
    let off = |o: u32| base.saturating_add(o);
    let at = |s: Span| Span::new(off(s.start), s.len);
    let summary = summarize(der).unwrap_or_default();
    t.open("certificate_der", || format!("Certificate: {}", summary.subject), base);
    t.set_value(|| format!("SHA-256 {}", summary.sha256));
    // Top level: tbsCertificate, signatureAlgorithm, signatureValue.
    let top = Any::from_der(der).map(|(_, a)| children(der, a.data)).unwrap_or_default();
    let tbs_span = top.first().map(|(s, _)| *s);
    if let Some(tbs) = tbs_span {
        t.open("tbs_certificate", || "tbsCertificate (the signed part)".into(), off(tbs.start));
        let tbs_content = der
            .get(tbs.start as usize..tbs.end() as usize)
            .and_then(|b| Any::from_der(b).ok())
            .map(|(_, a)| a.data);
        let elems = tbs_content.map(|c| children(der, c)).unwrap_or_default();
        let tbs_content_end =
            tbs_content.and_then(|c| Some(offset_in(der, c)?.saturating_add(c.len() as u32)));
        let mut elems = elems.into_iter().peekable();
        let mut next = |want_ctx0: bool| -> Option<Span> {
            elems.next_if(|&(_, tag)| !want_ctx0 || tag == 0).map(|(s, _)| s)
        };
        if let Some(s) = next(true).filter(|_| cert.version().0 > 0) {
            t.leaf(
                "version",
                || "version".into(),
                at(s),
                || format!("v{}", cert.version().0.saturating_add(1)),
            );
        }
        if let Some(s) = next(false) {
            t.leaf("serial", || "serialNumber".into(), at(s), || summary.serial.clone());
        }
        if let Some(s) = next(false) {
            t.leaf(
                "signature",
                || "signature".into(),
                at(s),
                || algorithm_name(&cert.tbs_certificate.signature.algorithm),
            );
        }
        if let Some(s) = next(false) {
            t.leaf("issuer", || "issuer".into(), at(s), || summary.issuer.clone());
        }
        if let Some(s) = next(false) {
            t.open("validity", || "validity".into(), off(s.start));
            t.set_value(|| format!("{} to {}", summary.not_before, summary.not_after));
            let inner = der
                .get(s.start as usize..s.end() as usize)
                .and_then(|b| Any::from_der(b).ok())
                .map(|(_, a)| children(der, a.data))
                .unwrap_or_default();
            if let Some((nb, _)) = inner.first() {
                t.leaf("not_before", || "notBefore".into(), at(*nb), || summary.not_before.clone());
            }
            if let Some((na, _)) = inner.get(1) {
                t.leaf("not_after", || "notAfter".into(), at(*na), || summary.not_after.clone());
            }
            t.close(at(s));
        }
        if let Some(s) = next(false) {
            t.leaf("subject", || "subject".into(), at(s), || summary.subject.clone());
        }
        if let Some(s) = next(false) {
            t.leaf(
                "subject_public_key_info",
                || "subjectPublicKeyInfo".into(),
                at(s),
                || summary.public_key.clone(),
            );
        }
        // Optional unique ids [1] [2], then extensions [3].
        for (s, tag) in elems {
            if tag == 3 {
                // x509-parser reads the header of [3] but not its length:
                // the extension SEQUENCE is the rest of the tbsCertificate
                // (RFC 5280 §4.1: extensions come last). In DER the two
                // end at the same byte; when they do not, the field covers
                // what the extensions were read from, and nothing follows.
                let end = tbs_content_end.unwrap_or(0).max(s.end());
                let s = Span::new(s.start, end.saturating_sub(s.start));
                t.open(
                    "extensions",
                    || format!("extensions ({})", cert.extensions().len()),
                    off(s.start),
                );
                for ext in cert.extensions() {
                    let name = algorithm_name(&ext.oid);
                    let value = extension_value(ext);
                    let span = offset_in(der, ext.value)
                        .map_or(at(s), |o| Span::new(off(o), ext.value.len() as u32));
                    t.leaf(
                        "extension",
                        || format!("{name}{}", if ext.critical { " (critical)" } else { "" }),
                        span,
                        || value,
                    );
                }
                t.close(at(s));
                break;
            } else {
                t.leaf("unique_id", || format!("uniqueIdentifier [{tag}]"), at(s), String::new);
            }
        }
        t.close(at(tbs));
    }
    if let Some((s, _)) = top.get(1) {
        t.leaf(
            "signature_algorithm",
            || "signatureAlgorithm".into(),
            at(*s),
            || summary.signature_algorithm.clone(),
        );
    }
    if let Some((s, _)) = top.get(2) {
        t.leaf(
            "signature_value",
            || "signatureValue".into(),
            at(*s),
            || hex_short(&cert.signature_value.data, 32),
        );
    }
    t.close(whole);
}

fn extension_value(ext: &x509_parser::extensions::X509Extension<'_>) -> String {
    match ext.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(san) => {
            san.general_names.iter().map(general_name).collect::<Vec<_>>().join(", ")
        }
        ParsedExtension::BasicConstraints(bc) => match bc.path_len_constraint {
            Some(n) if bc.ca => format!("CA:TRUE, pathlen:{n}"),
            _ => format!("CA:{}", if bc.ca { "TRUE" } else { "FALSE" }),
        },
        ParsedExtension::KeyUsage(ku) => ku.to_string(),
        ParsedExtension::ExtendedKeyUsage(eku) => {
            let mut v = Vec::new();
            if eku.server_auth {
                v.push("serverAuth".to_string());
            }
            if eku.client_auth {
                v.push("clientAuth".to_string());
            }
            for o in &eku.other {
                v.push(o.to_id_string());
            }
            v.join(", ")
        }
        ParsedExtension::SubjectKeyIdentifier(id) => hex(id.0),
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            aki.key_identifier.as_ref().map(|k| hex(k.0)).unwrap_or_default()
        }
        _ => hex_short(ext.value, 32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::check_invariants;

    /// A self-signed P-256 certificate for localhost, made with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
    /// -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1`.
    const CERT_PEM: &str = include_str!("../../testdata/localhost-p256.pem");

    fn der() -> Vec<u8> {
        let b64: String = CERT_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
    }

    #[test]
    fn summarises_a_certificate() {
        let s = summarize(&der()).unwrap();
        assert_eq!(s.subject, "CN=localhost");
        assert_eq!(s.issuer, "CN=localhost");
        assert!(s.self_issued);
        assert_eq!(s.san, vec!["DNS:localhost", "IP:127.0.0.1"]);
        assert_eq!(s.public_key, "EC P-256");
        assert_eq!(s.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(s.sha256.len(), 64);
    }

    #[test]
    fn tree_spans_lie_inside_the_certificate() {
        let d = der();
        let mut t = Tree::on();
        tree(&d, 10, &mut t);
        let f = t.finish();
        check_invariants(&f, Some(Span::new(10, d.len() as u32))).unwrap();
        let tbs = &f[0].children[0];
        assert_eq!(tbs.key, "tbs_certificate");
        assert!(tbs.children.iter().any(|c| c.key == "subject" && c.value == "CN=localhost"));
    }

    /// Found by fuzzing (tls_handshake): x509-parser takes the extension
    /// SEQUENCE to the end of the tbsCertificate whatever the length of
    /// the [3] around it says, so with a [3] length too short the last
    /// extension lay outside the `extensions` field (and the bytes past
    /// [3] became fields of their own, overlapping it).
    #[test]
    fn extensions_cover_what_was_read_when_their_explicit_tag_is_too_short() {
        let mut d = der();
        // The [3] element: tag a3, then a one-byte length (short form or 81 xx).
        let at = d.windows(3).rposition(|w| w[0] == 0xa3 && w[2] == 0x30).unwrap();
        assert!(d[at + 1] < 0x80, "short-form length expected");
        let full = d[at + 1];
        d[at + 1] = full - 3;
        let s = summarize(&d).unwrap();
        assert_eq!(s.san, vec!["DNS:localhost", "IP:127.0.0.1"], "x509-parser still reads them");
        let mut t = Tree::on();
        tree(&d, 10, &mut t);
        let f = t.finish();
        check_invariants(&f, Some(Span::new(10, d.len() as u32))).unwrap();
        let tbs = &f[0].children[0];
        let exts = tbs.children.last().unwrap();
        assert_eq!(exts.key, "extensions");
        assert_eq!(exts.span, Span::new(10 + at as u32, u32::from(full) + 2));
        assert!(exts.children.iter().all(|e| exts.span.contains(e.span)));
    }

    #[test]
    fn garbage_and_truncations_never_panic() {
        let d = der();
        for n in 0..d.len() {
            let mut t = Tree::on();
            tree(&d[..n], 0, &mut t);
            let _ = summarize(&d[..n]);
        }
        assert!(name_from_der(b"\x04\x02ab").starts_with("(undecodable"));
    }
}
