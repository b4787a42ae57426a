//! Keys, CSRs and certificates as text: what `tlsscope cert show` prints, laid
//! out as `openssl pkey|req|x509 -text -noout` print them, plus what openssl
//! leaves to other commands: whether the signature verifies, whether the
//! certificate is valid now, and SHA-256 fingerprints.
//!
//! [`show`] finds out what its input is (PEM with any number of blocks, or
//! DER) and returns the text, so `cert show` and the `demo` command print the
//! same thing. Decoding is x509-parser and asn1-rs; signatures are checked by
//! [`crate::cert::check_signature`] (aws-lc-rs). No input makes it panic: bad
//! input is an [`Error`], or, inside a bundle, an error line for that block.
//! Private key material is printed only when asked for.

#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;

use owo_colors::OwoColorize;
use x509_parser::asn1_rs::{Any, BitString, Class, FromDer, Oid, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension, X509Extension};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::time::ASN1Time;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::cert::{
    Block, KeyEncoding, KeyShape, PRIVATE_KEY_LABELS, SigCheck, bit_len, check_signature,
    encrypted_key_error, ip_from_bytes, key_shape, sha256_fingerprint, signature_algorithm_name,
    split_blocks,
};
use crate::error::{Error, Result};

/// How to show things.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShowOptions {
    /// Print private key components (off: only the public half of a key).
    pub private: bool,
    /// ANSI colours for headings and verdicts.
    pub color: bool,
}

/// What [`show`] made.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The text, ending with a newline.
    pub text: String,
    /// Problems found: blocks that did not decode and signatures that do
    /// not verify (the CLI exits 1 when there are any).
    pub problems: usize,
}

/// Bytes per line of key material, as openssl prints it (`ASN1_buf_print`).
const KEY_BYTES_PER_LINE: usize = 15;
/// Bytes per line of a signature value, as openssl prints it (`X509_signature_dump`).
const SIG_BYTES_PER_LINE: usize = 18;

/// Shows every key, CSR or certificate in `data` (PEM, any number of blocks,
/// or DER). `name` is the file name, used in hints. A single object that
/// does not decode is an error; in a bundle the block's error is printed in
/// its place and counted as a problem.
pub fn show(data: &[u8], name: &str, opts: &ShowOptions) -> Result<Shown> {
    let blocks = split_blocks(data)?;
    let total = blocks.len();
    // Subject -> first block with that subject, so each certificate's issuer
    // is found in one lookup even in a bundle of thousands.
    let mut subjects = HashMap::new();
    for (i, b) in blocks.iter().enumerate() {
        if let Ok((_, c)) = X509Certificate::from_der(&b.der) {
            subjects.entry(c.subject().as_raw().to_vec()).or_insert(i);
        }
    }
    let bundle = Bundle { blocks: &blocks, subjects };
    let mut text = String::new();
    let mut problems = 0;
    let mut first_error = None;
    let mut failed = 0;
    for (i, block) in blocks.iter().enumerate() {
        let mut t = Text::new(opts.color);
        if total > 1 {
            let what = block.label.as_deref().unwrap_or("DER");
            t.head(0, &format!("--- block {} of {total}: {what} ---", i + 1));
        }
        match show_block(&mut t, block, &bundle, name, opts) {
            Ok(p) => problems += p,
            Err(e) => {
                if total == 1 {
                    return Err(e);
                }
                let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
                t.bad(0, &format!("error: {e}{hint}"));
                problems += 1;
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        if i + 1 < total {
            t.line(0, "");
        }
        text.push_str(&t.buf);
    }
    if failed == total
        && let Some(e) = first_error
    {
        return Err(e);
    }
    Ok(Shown { text, problems })
}

/// All blocks of the input, to find issuers in.
struct Bundle<'a> {
    blocks: &'a [Block],
    subjects: HashMap<Vec<u8>, usize>,
}

/// What a block holds.
enum Kind {
    Cert,
    Csr,
    PrivateKey(KeyEncoding),
    PublicKey,
    RsaPublicKey,
    EcParameters,
}

fn kind_of(block: &Block, name: &str) -> Result<Kind> {
    let der = block.der.as_slice();
    let key_kind = || match key_shape(der) {
        Some(KeyShape::Plain(e)) => Ok(Kind::PrivateKey(e)),
        Some(KeyShape::Encrypted) => Err(encrypted_key_error(name)),
        None => Err(Error::new("not a valid private key")),
    };
    match block.label.as_deref() {
        Some("CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE") => Ok(Kind::Cert),
        Some("CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST") => Ok(Kind::Csr),
        Some("ENCRYPTED PRIVATE KEY") => Err(encrypted_key_error(name)),
        Some(l) if PRIVATE_KEY_LABELS.contains(&l) => {
            if block.encrypted {
                Err(encrypted_key_error(name))
            } else {
                key_kind()
            }
        }
        Some("PUBLIC KEY") => Ok(Kind::PublicKey),
        Some("RSA PUBLIC KEY") => Ok(Kind::RsaPublicKey),
        Some("EC PARAMETERS") => Ok(Kind::EcParameters),
        Some(other) => Err(Error::new(format!(
            "a PEM block labelled {other:?} is not a key, CSR or certificate"
        ))),
        None => {
            if matches!(X509Certificate::from_der(der), Ok((rest, _)) if rest.is_empty()) {
                Ok(Kind::Cert)
            } else if matches!(X509CertificationRequest::from_der(der), Ok((rest, _)) if rest.is_empty())
            {
                Ok(Kind::Csr)
            } else if key_shape(der).is_some() {
                key_kind()
            } else if matches!(SubjectPublicKeyInfo::from_der(der), Ok((rest, _)) if rest.is_empty())
            {
                Ok(Kind::PublicKey)
            } else {
                Err(Error::new("not a certificate, CSR, private key or public key (PEM or DER)")
                    .with_hint(
                        "cert show reads what openssl and tlsscope make: certificates, CSRs, \
                         private and public keys",
                    ))
            }
        }
    }
}

fn show_block(
    t: &mut Text,
    block: &Block,
    bundle: &Bundle,
    name: &str,
    opts: &ShowOptions,
) -> Result<usize> {
    let der = block.der.as_slice();
    match kind_of(block, name)? {
        Kind::Cert => {
            // TRUSTED CERTIFICATE (openssl's) carries trust settings after the certificate.
            let trailing_ok = block.label.as_deref() == Some("TRUSTED CERTIFICATE");
            let cert = match X509Certificate::from_der(der) {
                Ok((rest, c)) if rest.is_empty() || trailing_ok => c,
                Ok(_) => return Err(Error::new("trailing bytes after the certificate")),
                Err(e) => return Err(Error::new(format!("not a valid certificate: {e}"))),
            };
            Ok(render_cert(t, &cert, der, bundle))
        }
        Kind::Csr => {
            let csr = match X509CertificationRequest::from_der(der) {
                Ok(([], c)) => c,
                Ok(_) => return Err(Error::new("trailing bytes after the CSR")),
                Err(e) => return Err(Error::new(format!("not a valid CSR: {e}"))),
            };
            Ok(render_csr(t, &csr, der))
        }
        Kind::PrivateKey(encoding) => {
            let key = decode_private_key(der, encoding)?;
            render_private_key(t, &key, der, block, opts);
            Ok(0)
        }
        Kind::PublicKey => {
            let spki = match SubjectPublicKeyInfo::from_der(der) {
                Ok(([], k)) => k,
                Ok(_) => return Err(Error::new("trailing bytes after the public key")),
                Err(e) => return Err(Error::new(format!("not a valid public key: {e}"))),
            };
            render_public_key(t, 0, &spki);
            t.line(0, &format!("Public key SHA-256: {}", sha256_fingerprint(spki.raw)));
            Ok(0)
        }
        Kind::RsaPublicKey => {
            let rsa = match RSAPublicKey::from_der(der) {
                Ok(([], k)) => k,
                _ => return Err(Error::new("not a valid PKCS#1 RSA public key")),
            };
            t.head(0, &format!("RSA Public-Key: ({} bit)", bit_len(rsa.modulus)));
            t.line(0, "Format: PKCS#1 RSAPublicKey");
            rsa_public(t, 0, rsa.modulus, rsa.exponent, "Modulus", "Exponent");
            Ok(0)
        }
        Kind::EcParameters => {
            let oid = match Oid::from_der(der) {
                Ok(([], o)) => o,
                _ => {
                    return Err(Error::new(
                        "EC PARAMETERS block is not a named curve (explicit curve parameters are not shown)",
                    ));
                }
            };
            let curve = curve_info(&oid.to_id_string());
            t.head(0, &format!("EC-Parameters: ({} bit)", curve.bits.unwrap_or(0)));
            curve_lines(t, 0, &oid.to_id_string());
            Ok(0)
        }
    }
}

// ---------------------------------------------------------------------------
// Certificates and CSRs.

fn render_cert(t: &mut Text, cert: &X509Certificate, der: &[u8], bundle: &Bundle) -> usize {
    let tbs = &cert.tbs_certificate;
    let mut problems = 0;
    t.head(0, "Certificate:");
    t.head(4, "Data:");
    let v = tbs.version.0;
    t.line(8, &format!("Version: {} ({v:#x})", u64::from(v) + 1));
    serial_lines(t, 8, tbs.raw_serial());
    t.line(8, &format!("Signature Algorithm: {}", signature_algorithm_name(&tbs.signature)));
    t.line(8, &format!("Issuer: {}", name_text(&tbs.issuer)));
    t.head(8, "Validity");
    t.line(12, &format!("Not Before: {}", time_text(&tbs.validity.not_before)));
    t.line(12, &format!("Not After : {}", time_text(&tbs.validity.not_after)));
    validity_now(t, 12, &tbs.validity.not_before, &tbs.validity.not_after);
    t.line(8, &format!("Subject: {}", name_text(&tbs.subject)));
    t.head(8, "Subject Public Key Info:");
    t.line(12, &format!("Public Key Algorithm: {}", key_algorithm_name(&tbs.subject_pki)));
    render_public_key(t, 16, &tbs.subject_pki);
    if !tbs.extensions().is_empty() {
        t.head(8, "X509v3 extensions:");
        for ext in tbs.extensions() {
            render_extension(t, 12, ext);
        }
    }
    signature_lines(t, &cert.signature_algorithm, &cert.signature_value);

    let tbs_raw: &[u8] = tbs.as_ref();
    let sig = &cert.signature_value.data;
    if tbs.subject.as_raw() == tbs.issuer.as_raw() {
        let verdict = check_signature(&tbs.subject_pki, &cert.signature_algorithm, sig, tbs_raw);
        problems += verdict_line(
            t,
            &verdict,
            "self-signed: verified with its own key",
            "self-signed, but it does not verify with its own key",
        );
    } else {
        // Look for the issuer among the other certificates of the same file.
        let issuer = bundle.subjects.get(tbs.issuer.as_raw()).and_then(|&i| {
            let b = bundle.blocks.get(i)?;
            let (_, c) = X509Certificate::from_der(&b.der).ok()?;
            Some((i, c))
        });
        match issuer {
            Some((i, issuer)) => {
                let verdict =
                    check_signature(issuer.public_key(), &cert.signature_algorithm, sig, tbs_raw);
                let key = format!("the key of block {} ({})", i + 1, name_text(issuer.subject()));
                let ok = format!("verified with {key}");
                let failed = format!("does not verify with {key}");
                problems += verdict_line(t, &verdict, &ok, &failed);
            }
            None => t.line(
                4,
                &format!(
                    "Signature: not checked (issued by {}; put the issuer's certificate in the \
                     same file to check it)",
                    name_text(&tbs.issuer)
                ),
            ),
        }
    }
    t.line(4, &format!("SHA-256 Fingerprint: {}", sha256_fingerprint(der)));
    t.line(4, &format!("Public key SHA-256: {}", sha256_fingerprint(tbs.subject_pki.raw)));
    problems
}

fn render_csr(t: &mut Text, csr: &X509CertificationRequest, der: &[u8]) -> usize {
    let info = &csr.certification_request_info;
    t.head(0, "Certificate Request:");
    t.head(4, "Data:");
    let v = info.version.0;
    t.line(8, &format!("Version: {} ({v:#x})", u64::from(v) + 1));
    t.line(8, &format!("Subject: {}", name_text(&info.subject)));
    t.head(8, "Subject Public Key Info:");
    t.line(12, &format!("Public Key Algorithm: {}", key_algorithm_name(&info.subject_pki)));
    render_public_key(t, 16, &info.subject_pki);
    t.head(8, "Attributes:");
    if info.attributes().is_empty() {
        t.line(12, "(none)");
    }
    for attr in info.attributes() {
        match attr.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(req) => {
                t.head(12, "Requested Extensions:");
                if req.extensions.is_empty() {
                    t.line(16, "(none)");
                }
                for ext in &req.extensions {
                    render_extension(t, 16, ext);
                }
            }
            ParsedCriAttribute::ChallengePassword(_) => {
                t.line(12, "challengePassword: (set; not shown)");
            }
            ParsedCriAttribute::UnsupportedAttribute => {
                t.line(12, &format!("{}:", oid_name(&attr.oid)));
                t.hex(16, attr.value, KEY_BYTES_PER_LINE);
            }
        }
    }
    signature_lines(t, &csr.signature_algorithm, &csr.signature_value);
    let verdict = check_signature(
        &info.subject_pki,
        &csr.signature_algorithm,
        &csr.signature_value.data,
        info.raw,
    );
    let problems = verdict_line(
        t,
        &verdict,
        "made with the key in this request",
        "does not verify with the key in this request: changed after signing?",
    );
    t.line(4, &format!("SHA-256 Fingerprint: {}", sha256_fingerprint(der)));
    t.line(4, &format!("Public key SHA-256: {}", sha256_fingerprint(info.subject_pki.raw)));
    problems
}

fn signature_lines(t: &mut Text, alg: &x509_parser::x509::AlgorithmIdentifier, value: &BitString) {
    t.line(4, &format!("Signature Algorithm: {}", signature_algorithm_name(alg)));
    t.head(4, "Signature Value:");
    t.hex(8, &value.data, SIG_BYTES_PER_LINE);
}

/// Prints `Signature: ok (<ok>)` or `Signature: FAILED (<failed>)`;
/// returns 1 for a failure.
fn verdict_line(t: &mut Text, verdict: &SigCheck, ok: &str, failed: &str) -> usize {
    match verdict {
        SigCheck::Ok => {
            t.good(4, &format!("Signature: ok ({ok})"));
            0
        }
        SigCheck::Failed => {
            t.bad(4, &format!("Signature: FAILED ({failed})"));
            1
        }
        SigCheck::Unsupported(alg) => {
            t.line(4, &format!("Signature: not checked (tlsscope cannot check {alg})"));
            0
        }
    }
}

/// `Serial Number: 1 (0x1)` for small serials, colon hex below the label
/// otherwise, as openssl prints them.
fn serial_lines(t: &mut Text, indent: usize, raw: &[u8]) {
    // DER keeps a 00 in front of a serial whose top bit is set; openssl does not show it.
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len().saturating_sub(1));
    let digits = raw.get(start..).unwrap_or(raw);
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    if digits.len() <= 8 && !negative {
        let value = digits.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        t.line(indent, &format!("Serial Number: {value} ({value:#x})"));
    } else {
        t.line(indent, &format!("Serial Number:{}", if negative { " (Negative)" } else { "" }));
        t.line(indent + 4, &colon_hex(digits, false));
    }
}

/// The certificate's validity against the clock now.
fn validity_now(t: &mut Text, indent: usize, not_before: &ASN1Time, not_after: &ASN1Time) {
    let now = time::OffsetDateTime::now_utc();
    let nb = not_before.to_datetime();
    let na = not_after.to_datetime();
    if now < nb {
        t.bad(indent, &format!("Now       : NOT YET VALID (starts in {})", span_text(nb - now)));
    } else if now > na {
        t.bad(indent, &format!("Now       : EXPIRED ({} ago)", span_text(now - na)));
    } else {
        t.good(indent, &format!("Now       : valid (expires in {})", span_text(na - now)));
    }
}

/// A duration, rounded to the nearest day (or hour, or minute when short):
/// a certificate made for 30 days says "30 days", not "29 days".
fn span_text(d: time::Duration) -> String {
    let days = (d + time::Duration::hours(12)).whole_days();
    let hours = (d + time::Duration::minutes(30)).whole_hours();
    if days >= 2 {
        format!("{days} days")
    } else if hours >= 2 {
        format!("{hours} hours")
    } else {
        format!("{} minutes", d.whole_minutes())
    }
}

/// `Nov 28 05:51:52 2026 GMT`, as openssl prints times.
fn time_text(t: &ASN1Time) -> String {
    let fmt = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    t.to_datetime().format(fmt).unwrap_or_else(|_| t.to_string())
}

/// `C = US, O = Example, CN = localhost`, as openssl 3 prints names.
fn name_text(name: &X509Name) -> String {
    let registry = x509_parser::objects::oid_registry();
    name.iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let key = match x509_parser::objects::oid2abbrev(attr.attr_type(), registry) {
                        Ok("Email") => "emailAddress".to_string(),
                        Ok(k) => k.to_string(),
                        Err(_) => attr.attr_type().to_id_string(),
                    };
                    let value = match attr.as_str() {
                        Ok(s) => s.to_string(),
                        // BMPString, UniversalString, T61String: decode what is text.
                        Err(_) => match attr.attr_value().tag() {
                            Tag::BmpString => utf16_text(attr.attr_value().data),
                            _ => String::from_utf8_lossy(attr.attr_value().data).into_owned(),
                        },
                    };
                    format!("{key} = {value}")
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn utf16_text(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| {
            u16::from_be_bytes([c.first().copied().unwrap_or(0), c.get(1).copied().unwrap_or(0)])
        })
        .collect();
    String::from_utf16_lossy(&units)
}

// ---------------------------------------------------------------------------
// Extensions.

fn render_extension(t: &mut Text, indent: usize, ext: &X509Extension) {
    let oid = ext.oid.to_id_string();
    let name = extension_name(&oid).map(str::to_string).unwrap_or_else(|| oid_name(&ext.oid));
    let critical = if ext.critical { " critical" } else { "" };
    t.line(indent, &format!("{name}:{critical}"));
    let at = indent + 4;
    match ext.parsed_extension() {
        ParsedExtension::SubjectAlternativeName(san) => {
            t.line(at, &general_names_text(&san.general_names));
        }
        ParsedExtension::IssuerAlternativeName(ian) => {
            t.line(at, &general_names_text(&ian.general_names));
        }
        ParsedExtension::BasicConstraints(bc) => {
            let mut s = format!("CA:{}", if bc.ca { "TRUE" } else { "FALSE" });
            if let Some(n) = bc.path_len_constraint {
                s.push_str(&format!(", pathlen:{n}"));
            }
            t.line(at, &s);
        }
        ParsedExtension::KeyUsage(ku) => {
            // openssl's names, in the bit order of RFC 5280 §4.2.1.3.
            const NAMES: [&str; 9] = [
                "Digital Signature",
                "Non Repudiation",
                "Key Encipherment",
                "Data Encipherment",
                "Key Agreement",
                "Certificate Sign",
                "CRL Sign",
                "Encipher Only",
                "Decipher Only",
            ];
            let names: Vec<&str> = NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| (ku.flags >> i) & 1 == 1)
                .map(|(_, n)| *n)
                .collect();
            t.line(at, &names.join(", "));
        }
        ParsedExtension::ExtendedKeyUsage(eku) => {
            let mut names: Vec<String> = Vec::new();
            let known = [
                (eku.any, "Any Extended Key Usage"),
                (eku.server_auth, "TLS Web Server Authentication"),
                (eku.client_auth, "TLS Web Client Authentication"),
                (eku.code_signing, "Code Signing"),
                (eku.email_protection, "E-mail Protection"),
                (eku.time_stamping, "Time Stamping"),
                (eku.ocsp_signing, "OCSP Signing"),
            ];
            names.extend(known.iter().filter(|(on, _)| *on).map(|(_, n)| n.to_string()));
            names.extend(eku.other.iter().map(oid_name));
            t.line(at, &names.join(", "));
        }
        ParsedExtension::SubjectKeyIdentifier(id) => t.line(at, &colon_hex(id.0, true)),
        ParsedExtension::AuthorityKeyIdentifier(aki) => {
            if let Some(id) = &aki.key_identifier {
                t.line(at, &colon_hex(id.0, true));
            }
            if let Some(names) = &aki.authority_cert_issuer {
                t.line(at, &general_names_text(names));
            }
            if let Some(serial) = aki.authority_cert_serial {
                t.line(at, &format!("serial:{}", colon_hex(serial, true)));
            }
        }
        ParsedExtension::AuthorityInfoAccess(aia) => {
            for d in &aia.accessdescs {
                let method = match d.access_method.to_id_string().as_str() {
                    "1.3.6.1.5.5.7.48.1" => "OCSP".to_string(),
                    "1.3.6.1.5.5.7.48.2" => "CA Issuers".to_string(),
                    _ => oid_name(&d.access_method),
                };
                t.line(at, &format!("{method} - {}", general_name_text(&d.access_location)));
            }
        }
        ParsedExtension::CRLDistributionPoints(points) => {
            for p in points.iter() {
                match &p.distribution_point {
                    Some(DistributionPointName::FullName(names)) => {
                        t.line(at, "Full Name:");
                        for n in names {
                            t.line(at + 2, &general_name_text(n));
                        }
                    }
                    Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => {
                        t.line(at, "Relative Name: (not shown)");
                    }
                    None => {}
                }
            }
        }
        ParsedExtension::CertificatePolicies(policies) => {
            for p in policies {
                let id = p.policy_id.to_id_string();
                let id = match id.as_str() {
                    "2.23.140.1.2.1" => "2.23.140.1.2.1 (domain validated)".to_string(),
                    "2.23.140.1.2.2" => "2.23.140.1.2.2 (organization validated)".to_string(),
                    _ => id,
                };
                t.line(at, &format!("Policy: {id}"));
            }
        }
        ParsedExtension::SCT(scts) => {
            t.line(at, &format!("{} signed certificate timestamp(s)", scts.len()));
        }
        ParsedExtension::ParseError { error } => {
            t.bad(at, &format!("(could not decode: {error})"));
            t.hex(at, ext.value, KEY_BYTES_PER_LINE);
        }
        _ => t.hex(at, ext.value, KEY_BYTES_PER_LINE),
    }
}

fn extension_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.29.14" => "X509v3 Subject Key Identifier",
        "2.5.29.15" => "X509v3 Key Usage",
        "2.5.29.17" => "X509v3 Subject Alternative Name",
        "2.5.29.18" => "X509v3 Issuer Alternative Name",
        "2.5.29.19" => "X509v3 Basic Constraints",
        "2.5.29.30" => "X509v3 Name Constraints",
        "2.5.29.31" => "X509v3 CRL Distribution Points",
        "2.5.29.32" => "X509v3 Certificate Policies",
        "2.5.29.35" => "X509v3 Authority Key Identifier",
        "2.5.29.37" => "X509v3 Extended Key Usage",
        "1.3.6.1.5.5.7.1.1" => "Authority Information Access",
        "1.3.6.1.5.5.7.1.24" => "TLS Feature",
        "1.3.6.1.4.1.11129.2.4.2" => "CT Precertificate SCTs",
        _ => return None,
    })
}

fn general_names_text(names: &[GeneralName]) -> String {
    names.iter().map(general_name_text).collect::<Vec<_>>().join(", ")
}

/// One name as openssl prints it: `DNS:localhost`, `IP Address:127.0.0.1`.
fn general_name_text(name: &GeneralName) -> String {
    match name {
        GeneralName::DNSName(s) => format!("DNS:{s}"),
        GeneralName::RFC822Name(s) => format!("email:{s}"),
        GeneralName::URI(s) => format!("URI:{s}"),
        GeneralName::IPAddress(b) => match ip_from_bytes(b) {
            Some(std::net::IpAddr::V4(a)) => format!("IP Address:{a}"),
            // openssl writes every group of an IPv6 address, without `::`.
            Some(std::net::IpAddr::V6(a)) => {
                let groups: Vec<String> = a.segments().iter().map(|g| format!("{g:X}")).collect();
                format!("IP Address:{}", groups.join(":"))
            }
            None => "IP Address:<invalid>".to_string(),
        },
        GeneralName::DirectoryName(n) => format!("DirName:{}", name_text(n)),
        GeneralName::RegisteredID(oid) => format!("Registered ID:{}", oid_name(oid)),
        GeneralName::OtherName(oid, _) => format!("othername:{}", oid_name(oid)),
        GeneralName::X400Address(_) => "X400Name:<unsupported>".to_string(),
        GeneralName::EDIPartyName(_) => "EdiPartyName:<unsupported>".to_string(),
        GeneralName::Invalid(_, _) => "<invalid>".to_string(),
    }
}

/// A registered short name for an OID, else its dotted form.
fn oid_name(oid: &Oid) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

// ---------------------------------------------------------------------------
// Public keys.

/// openssl's name for a public key algorithm.
fn key_algorithm_name(spki: &SubjectPublicKeyInfo) -> String {
    match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" => "rsaEncryption".into(),
        "1.2.840.113549.1.1.10" => "rsassaPss".into(),
        "1.2.840.10045.2.1" => "id-ecPublicKey".into(),
        "1.3.101.110" => "X25519".into(),
        "1.3.101.111" => "X448".into(),
        "1.3.101.112" => "ED25519".into(),
        "1.3.101.113" => "ED448".into(),
        _ => oid_name(&spki.algorithm.algorithm),
    }
}

/// The public key body, as `openssl pkey -pubin -text` prints it.
fn render_public_key(t: &mut Text, indent: usize, spki: &SubjectPublicKeyInfo) {
    let data: &[u8] = &spki.subject_public_key.data;
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match RSAPublicKey::from_der(data) {
            Ok((_, rsa)) => {
                t.line(indent, &format!("Public-Key: ({} bit)", bit_len(rsa.modulus)));
                rsa_public(t, indent, rsa.modulus, rsa.exponent, "Modulus", "Exponent");
            }
            Err(_) => {
                t.bad(indent, "(the RSA public key does not decode)");
                t.hex(indent, data, KEY_BYTES_PER_LINE);
            }
        },
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let bits = curve_info(&curve)
                .bits
                .unwrap_or_else(|| x509_parser::public_key::ECPoint::from(data).key_size());
            t.line(indent, &format!("Public-Key: ({bits} bit)"));
            t.line(indent, "pub:");
            t.hex(indent + 4, data, KEY_BYTES_PER_LINE);
            curve_lines(t, indent, &curve);
        }
        _ => {
            let name = edwards_name(&alg);
            match name {
                Some(n) => t.line(indent, &format!("{n} Public-Key:")),
                None => t.line(indent, &format!("Public-Key: ({} bytes)", data.len())),
            }
            t.line(indent, "pub:");
            t.hex(indent + 4, data, KEY_BYTES_PER_LINE);
        }
    }
}

/// Shows a whole `PUBLIC KEY` block (no algorithm line: openssl has none).
fn rsa_public(t: &mut Text, indent: usize, n: &[u8], e: &[u8], n_label: &str, e_label: &str) {
    t.line(indent, &format!("{n_label}:"));
    t.hex(indent + 4, n, KEY_BYTES_PER_LINE);
    integer_line(t, indent, e_label, e);
}

/// `publicExponent: 65537 (0x10001)` when it fits 64 bits, hex lines otherwise.
fn integer_line(t: &mut Text, indent: usize, label: &str, be: &[u8]) {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let digits = be.get(start..).unwrap_or_default();
    if digits.len() <= 8 {
        let v = digits.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        t.line(indent, &format!("{label}: {v} ({v:#x})"));
    } else {
        t.line(indent, &format!("{label}:"));
        t.hex(indent + 4, be, KEY_BYTES_PER_LINE);
    }
}

struct Curve {
    asn1: Option<&'static str>,
    nist: Option<&'static str>,
    bits: Option<usize>,
}

fn curve_info(oid: &str) -> Curve {
    let (asn1, nist, bits) = match oid {
        "1.2.840.10045.3.1.7" => (Some("prime256v1"), Some("P-256"), Some(256)),
        "1.3.132.0.34" => (Some("secp384r1"), Some("P-384"), Some(384)),
        "1.3.132.0.35" => (Some("secp521r1"), Some("P-521"), Some(521)),
        "1.3.132.0.10" => (Some("secp256k1"), None, Some(256)),
        "1.3.36.3.3.2.8.1.1.7" => (Some("brainpoolP256r1"), None, Some(256)),
        "1.3.36.3.3.2.8.1.1.11" => (Some("brainpoolP384r1"), None, Some(384)),
        _ => (None, None, None),
    };
    Curve { asn1, nist, bits }
}

fn curve_lines(t: &mut Text, indent: usize, oid: &str) {
    let c = curve_info(oid);
    match c.asn1 {
        Some(name) => t.line(indent, &format!("ASN1 OID: {name}")),
        None if oid.is_empty() => t.line(indent, "ASN1 OID: (none: explicit curve parameters)"),
        None => t.line(indent, &format!("ASN1 OID: {oid}")),
    }
    if let Some(nist) = c.nist {
        t.line(indent, &format!("NIST CURVE: {nist}"));
    }
}

fn edwards_name(oid: &str) -> Option<&'static str> {
    match oid {
        "1.3.101.110" => Some("X25519"),
        "1.3.101.111" => Some("X448"),
        "1.3.101.112" => Some("ED25519"),
        "1.3.101.113" => Some("ED448"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Private keys.

/// A private key's parts, borrowed from its DER.
enum PrivateKey<'a> {
    /// PKCS#1 RSAPrivateKey
    /// ([RFC 8017 §A.1.2](https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1.2)).
    Rsa { parts: [&'a [u8]; 8], primes: usize },
    /// SEC1 ECPrivateKey ([RFC 5915 §3](https://www.rfc-editor.org/rfc/rfc5915#section-3)).
    Ec { curve: String, private: &'a [u8], public: Option<Vec<u8>> },
    /// RFC 8410 keys: the 32 or 57 bytes themselves.
    Edwards { name: &'static str, private: &'a [u8], public: Option<Vec<u8>> },
    /// A PKCS#8 key of another algorithm.
    Other { algorithm: String },
}

/// The fields of a DER SEQUENCE, each as TLV, borrowed from `der`.
/// `None` unless `der` is exactly one well-formed SEQUENCE.
fn sequence_fields(der: &[u8]) -> Option<Vec<Any<'_>>> {
    let (rest, outer) = Any::from_der(der).ok()?;
    if !rest.is_empty() || outer.tag() != Tag::Sequence || outer.class() != Class::Universal {
        return None;
    }
    let mut fields = Vec::new();
    let mut input = outer.data;
    while !input.is_empty() {
        let (rest, field) = Any::from_der(input).ok()?;
        fields.push(field);
        input = rest;
    }
    Some(fields)
}

fn integer_bytes<'a>(field: Option<&Any<'a>>) -> Option<&'a [u8]> {
    let f = field?;
    (f.tag() == Tag::Integer && f.class() == Class::Universal).then_some(f.data)
}

fn octets<'a>(field: Option<&Any<'a>>) -> Option<&'a [u8]> {
    let f = field?;
    (f.tag() == Tag::OctetString && f.class() == Class::Universal).then_some(f.data)
}

fn context<'a, 'b>(fields: &'b [Any<'a>], tag: u32) -> Option<&'b Any<'a>> {
    fields.iter().find(|f| f.class() == Class::ContextSpecific && f.tag() == Tag(tag))
}

fn decode_private_key(der: &[u8], encoding: KeyEncoding) -> Result<PrivateKey<'_>> {
    let bad = || Error::new(format!("the {} private key does not decode", encoding.name()));
    match encoding {
        KeyEncoding::Pkcs1 => decode_pkcs1(der).ok_or_else(bad),
        KeyEncoding::Sec1 => decode_sec1(der, None).ok_or_else(bad),
        KeyEncoding::Pkcs8 => {
            // PrivateKeyInfo / OneAsymmetricKey (RFC 5958 §2): version,
            // privateKeyAlgorithm, privateKey, [0] attributes, [1] publicKey.
            let fields = sequence_fields(der).ok_or_else(bad)?;
            let alg_any = fields.get(1).ok_or_else(bad)?;
            let alg = sequence_fields_of(alg_any).ok_or_else(bad)?;
            let oid = alg.first().and_then(|o| o.as_oid().ok()).ok_or_else(bad)?.to_id_string();
            let inner = octets(fields.get(2)).ok_or_else(bad)?;
            let public =
                context(&fields, 1).and_then(|f| f.data.split_first()).map(|(_, k)| k.to_vec());
            match oid.as_str() {
                "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
                    decode_pkcs1(inner).ok_or_else(bad)
                }
                "1.2.840.10045.2.1" => {
                    let curve = alg.get(1).and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
                    decode_sec1(inner, curve).ok_or_else(bad)
                }
                other => match edwards_name(other) {
                    Some(name) => {
                        // CurvePrivateKey ::= OCTET STRING (RFC 8410 §7), inside the octets.
                        let (_, key) = Any::from_der(inner).map_err(|_| bad())?;
                        let private = octets(Some(&key)).ok_or_else(bad)?;
                        Ok(PrivateKey::Edwards { name, private, public })
                    }
                    None => Ok(PrivateKey::Other {
                        algorithm: x509_parser::objects::oid2sn(
                            &alg.first().and_then(|o| o.as_oid().ok()).ok_or_else(bad)?,
                            x509_parser::objects::oid_registry(),
                        )
                        .map(str::to_string)
                        .unwrap_or(oid.clone()),
                    }),
                },
            }
        }
    }
}

/// The fields of a SEQUENCE that was itself a field.
fn sequence_fields_of<'a>(any: &Any<'a>) -> Option<Vec<Any<'a>>> {
    if any.tag() != Tag::Sequence || any.class() != Class::Universal {
        return None;
    }
    let mut fields = Vec::new();
    let mut input = any.data;
    while !input.is_empty() {
        let (rest, field) = Any::from_der(input).ok()?;
        fields.push(field);
        input = rest;
    }
    Some(fields)
}

fn decode_pkcs1(der: &[u8]) -> Option<PrivateKey<'_>> {
    let f = sequence_fields(der)?;
    let int = |i: usize| integer_bytes(f.get(i));
    // version, n, e, d, p, q, dp, dq, qinv [, otherPrimeInfos]
    let parts = [int(1)?, int(2)?, int(3)?, int(4)?, int(5)?, int(6)?, int(7)?, int(8)?];
    let extra = f.get(9).and_then(sequence_fields_of).map_or(0, |v| v.len());
    Some(PrivateKey::Rsa { parts, primes: 2 + extra })
}

fn decode_sec1(der: &[u8], curve: Option<String>) -> Option<PrivateKey<'_>> {
    // version 1, privateKey, [0] parameters, [1] publicKey (both EXPLICIT).
    let f = sequence_fields(der)?;
    let private = octets(f.get(1))?;
    let curve = curve
        .or_else(|| {
            let p = context(&f, 0)?;
            let (_, oid) = Oid::from_der(p.data).ok()?;
            Some(oid.to_id_string())
        })
        .unwrap_or_default();
    let public = context(&f, 1)
        .and_then(|p| BitString::from_der(p.data).ok())
        .map(|(_, bits)| bits.data.to_vec());
    Some(PrivateKey::Ec { curve, private, public })
}

fn render_private_key(
    t: &mut Text,
    key: &PrivateKey,
    der: &[u8],
    block: &Block,
    opts: &ShowOptions,
) {
    // aws-lc (through rcgen) derives what the file may leave out: the public
    // half of SEC1 and PKCS#8 v1 keys, and the SPKI for the fingerprint.
    let loaded = rcgen::KeyPair::try_from(der).ok();
    let derived_public = || loaded.as_ref().map(|k| k.public_key_raw().to_vec());
    let form = match &block.label {
        Some(l) => format!("PEM \"{l}\""),
        None => "DER".to_string(),
    };
    let encoding = match key {
        PrivateKey::Rsa { .. } if block.label.as_deref() == Some("RSA PRIVATE KEY") => "PKCS#1",
        _ => match key_shape(der) {
            Some(KeyShape::Plain(e)) => e.name(),
            _ => "?",
        },
    };
    let hidden = "(private components not shown: pass --private to print them)";
    match key {
        PrivateKey::Rsa { parts, primes } => {
            let [n, e, d, p, q, dp, dq, qinv] = *parts;
            t.head(0, &format!("RSA Private-Key: ({} bit, {primes} primes)", bit_len(n)));
            t.line(0, &format!("Format: {encoding}, {form}"));
            rsa_public(t, 0, n, e, "modulus", "publicExponent");
            if opts.private {
                for (label, v) in [
                    ("privateExponent", d),
                    ("prime1", p),
                    ("prime2", q),
                    ("exponent1", dp),
                    ("exponent2", dq),
                    ("coefficient", qinv),
                ] {
                    t.line(0, &format!("{label}:"));
                    t.hex(4, v, KEY_BYTES_PER_LINE);
                }
            } else {
                t.line(0, hidden);
            }
        }
        PrivateKey::Ec { curve, private, public } => {
            let bits = curve_info(curve).bits.unwrap_or(private.len() * 8);
            t.head(0, &format!("EC Private-Key: ({bits} bit)"));
            t.line(0, &format!("Format: {encoding}, {form}"));
            if opts.private {
                t.line(0, "priv:");
                t.hex(4, private, KEY_BYTES_PER_LINE);
            }
            if let Some(public) = public.clone().or_else(derived_public) {
                t.line(0, "pub:");
                t.hex(4, &public, KEY_BYTES_PER_LINE);
            }
            curve_lines(t, 0, curve);
            if !opts.private {
                t.line(0, hidden);
            }
        }
        PrivateKey::Edwards { name, private, public } => {
            t.head(0, &format!("{name} Private-Key:"));
            t.line(0, &format!("Format: {encoding}, {form}"));
            if opts.private {
                t.line(0, "priv:");
                t.hex(4, private, KEY_BYTES_PER_LINE);
            }
            if let Some(public) = public.clone().or_else(derived_public) {
                t.line(0, "pub:");
                t.hex(4, &public, KEY_BYTES_PER_LINE);
            }
            if !opts.private {
                t.line(0, hidden);
            }
        }
        PrivateKey::Other { algorithm } => {
            t.head(0, &format!("Private-Key: ({algorithm})"));
            t.line(0, &format!("Format: {encoding}, {form}"));
            t.line(0, "(tlsscope does not decode keys of this algorithm)");
        }
    }
    match &loaded {
        Some(k) => t.line(
            0,
            &format!(
                "Public key SHA-256: {}",
                sha256_fingerprint(&rcgen::PublicKeyData::subject_public_key_info(k))
            ),
        ),
        None => t.line(0, "(tlsscope cannot sign with this key: cert csr/sign will refuse it)"),
    }
}

// ---------------------------------------------------------------------------
// Text output.

/// Colon-separated hex: `ab:cd` (openssl's key style) or `AB:CD` (key ids).
fn colon_hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| if upper { format!("{b:02X}") } else { format!("{b:02x}") })
        .collect::<Vec<_>>()
        .join(":")
}

/// Lines of text with optional colour.
struct Text {
    buf: String,
    color: bool,
}

impl Text {
    fn new(color: bool) -> Self {
        Text { buf: String::new(), color }
    }

    fn push(&mut self, indent: usize, s: &str) {
        self.buf.extend(std::iter::repeat_n(' ', indent));
        self.buf.push_str(s);
        self.buf.push('\n');
    }

    fn line(&mut self, indent: usize, s: &str) {
        self.push(indent, s);
    }

    fn head(&mut self, indent: usize, s: &str) {
        if self.color {
            self.push(indent, &s.bold().to_string());
        } else {
            self.push(indent, s);
        }
    }

    fn good(&mut self, indent: usize, s: &str) {
        if self.color {
            self.push(indent, &s.green().to_string());
        } else {
            self.push(indent, s);
        }
    }

    fn bad(&mut self, indent: usize, s: &str) {
        if self.color {
            self.push(indent, &s.red().bold().to_string());
        } else {
            self.push(indent, s);
        }
    }

    /// openssl's hex dump: `per_line` bytes a line, `xx:` each, the last
    /// byte without its colon.
    fn hex(&mut self, indent: usize, bytes: &[u8], per_line: usize) {
        let count = bytes.chunks(per_line.max(1)).count();
        for (i, chunk) in bytes.chunks(per_line.max(1)).enumerate() {
            let mut s = colon_hex(chunk, false);
            if i + 1 < count {
                s.push(':');
            }
            self.push(indent, &s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{CertSpec, KeyType, generate_key, make_csr, sign_csr};

    fn plain() -> ShowOptions {
        ShowOptions { private: false, color: false }
    }

    #[test]
    fn shows_a_lab_certificate_like_openssl() {
        let key = generate_key(KeyType::P256).unwrap();
        let csr = make_csr(&key, "localhost", &crate::cert::default_sans()).unwrap();
        let signed = sign_csr(&csr.der, &key, None, 30).unwrap();
        let shown = show(signed.cert_pem.as_bytes(), "server.crt", &plain()).unwrap();
        let text = shown.text;
        assert_eq!(shown.problems, 0, "{text}");
        assert!(text.starts_with("Certificate:\n    Data:\n        Version: 3 (0x2)\n"), "{text}");
        assert!(text.contains("        Issuer: CN = localhost\n"), "{text}");
        assert!(text.contains("            Public Key Algorithm: id-ecPublicKey\n"), "{text}");
        assert!(text.contains("                Public-Key: (256 bit)\n"), "{text}");
        assert!(text.contains("                NIST CURVE: P-256\n"), "{text}");
        assert!(
            text.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
            "{text}"
        );
        assert!(text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"));
        assert!(text.contains("Digital Signature, Key Encipherment"), "{text}");
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier:"), "{text}");
        assert!(text.contains("    Signature Algorithm: ecdsa-with-SHA256\n"), "{text}");
        assert!(text.contains("    Signature: ok (self-signed"), "{text}");
        assert!(text.contains("Now       : valid (expires in 30 days)"), "{text}");
        let fp = sha256_fingerprint(&signed.cert_der);
        assert!(text.contains(&format!("SHA-256 Fingerprint: {fp}\n")), "{text}");
        assert!(!text.contains('\x1b'), "no colour unless asked");
    }

    #[test]
    fn a_tampered_certificate_fails_its_signature_check() {
        let made =
            crate::cert::generate_self_signed(KeyType::Ed25519, &CertSpec::default()).unwrap();
        let mut der = made.cert_der.clone();
        // The DER ends with the signature value: change its last byte.
        *der.last_mut().unwrap() ^= 0x01;
        let shown = show(&der, "x.der", &plain()).unwrap();
        assert!(shown.text.contains("Signature: FAILED (self-signed"), "{}", shown.text);
        assert_eq!(shown.problems, 1);
    }

    #[test]
    fn shows_a_csr_and_its_signature_verdict() {
        let key = generate_key(KeyType::Rsa2048).unwrap();
        let csr =
            make_csr(&key, "example.org", &[crate::cert::San::Dns("example.org".into())]).unwrap();
        let text = show(csr.pem.as_bytes(), "server.csr", &plain()).unwrap().text;
        assert!(text.starts_with("Certificate Request:\n    Data:\n        Version: 1 (0x0)\n"));
        assert!(text.contains("        Subject: CN = example.org\n"), "{text}");
        assert!(text.contains("                Public-Key: (2048 bit)\n"), "{text}");
        assert!(text.contains("                Exponent: 65537 (0x10001)\n"), "{text}");
        assert!(text.contains("            Requested Extensions:\n"), "{text}");
        assert!(text.contains("                    DNS:example.org\n"), "{text}");
        assert!(text.contains("    Signature: ok (made with the key in this request)"), "{text}");
    }

    #[test]
    fn private_numbers_only_with_private() {
        for kind in [KeyType::Rsa2048, KeyType::P384, KeyType::Ed25519] {
            let key = generate_key(kind).unwrap();
            let pem = key.serialize_pem();
            let text = show(pem.as_bytes(), "k", &plain()).unwrap().text;
            for word in ["privateExponent", "prime1", "priv:"] {
                assert!(!text.contains(word), "{kind:?}: {text}");
            }
            assert!(text.contains("pass --private"), "{kind:?}: {text}");
            let text = show(pem.as_bytes(), "k", &ShowOptions { private: true, color: false })
                .unwrap()
                .text;
            match kind {
                KeyType::Rsa2048 => {
                    assert!(text.starts_with("RSA Private-Key: (2048 bit, 2 primes)\n"), "{text}");
                    for word in ["privateExponent:", "prime1:", "prime2:", "coefficient:"] {
                        assert!(text.contains(word), "{text}");
                    }
                }
                KeyType::P384 => {
                    assert!(text.starts_with("EC Private-Key: (384 bit)\n"), "{text}");
                    assert!(text.contains("priv:\n") && text.contains("NIST CURVE: P-384"));
                }
                _ => {
                    assert!(text.starts_with("ED25519 Private-Key:\n"), "{text}");
                    assert!(text.contains("priv:\n") && text.contains("pub:\n"));
                }
            }
        }
    }

    #[test]
    fn a_bundle_shows_every_block_and_checks_the_chain_inside_it() {
        let a = crate::cert::generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        let b = crate::cert::generate_self_signed(KeyType::Ed25519, &CertSpec::default()).unwrap();
        let bundle = format!("{}{}{}", a.cert_pem, b.key_pem, b.cert_pem);
        let shown = show(bundle.as_bytes(), "bundle.pem", &plain()).unwrap();
        assert!(shown.text.contains("--- block 1 of 3: CERTIFICATE ---"));
        assert!(shown.text.contains("--- block 2 of 3: PRIVATE KEY ---"));
        assert!(shown.text.contains("--- block 3 of 3: CERTIFICATE ---"));
        assert_eq!(shown.text.matches("Signature: ok").count(), 2);
        assert_eq!(shown.problems, 0);
    }

    #[test]
    fn a_chain_in_one_file_is_checked_link_by_link() {
        let ca_key = generate_key(KeyType::P384).unwrap();
        let mut ca_params =
            CertSpec { common_name: "Lab CA".into(), ..CertSpec::default() }.params().unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf_key = generate_key(KeyType::Rsa2048).unwrap();
        let leaf = CertSpec::default().params().unwrap().signed_by(&leaf_key, &issuer).unwrap();
        let bundle = format!("{}{}", leaf.pem(), ca_cert.pem());
        let shown = show(bundle.as_bytes(), "chain.pem", &plain()).unwrap();
        assert!(
            shown.text.contains("Signature: ok (verified with the key of block 2 (CN = Lab CA))"),
            "{}",
            shown.text
        );
        assert!(shown.text.contains("Signature: ok (self-signed"));
        assert!(shown.text.contains("CA:TRUE"));
        // The leaf alone: nothing to check it with.
        let shown = show(leaf.pem().as_bytes(), "leaf.pem", &plain()).unwrap();
        assert!(shown.text.contains("Signature: not checked (issued by CN = Lab CA;"));
        assert_eq!(shown.problems, 0);
    }

    #[test]
    fn a_bad_block_in_a_bundle_is_reported_in_place() {
        let a = crate::cert::generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        let junk = pem::encode(&pem::Pem::new("CERTIFICATE", vec![0x30, 0x03, 0x02, 0x01, 0x00]));
        let shown = show(format!("{}{junk}", a.cert_pem).as_bytes(), "b", &plain()).unwrap();
        assert!(shown.text.contains("error: not a valid certificate"), "{}", shown.text);
        assert_eq!(shown.problems, 1);
    }

    #[test]
    fn colour_only_when_asked() {
        let a = crate::cert::generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        let text =
            show(a.cert_pem.as_bytes(), "c", &ShowOptions { private: false, color: true }).unwrap();
        assert!(text.text.contains("\x1b["));
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for input in [
            &b""[..],
            b"hello world\n",
            b"-----BEGIN CERTIFICATE-----\nMIIB\n",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
            &[0x30, 0x82, 0xff, 0xff],
            &[0x30, 0x00],
        ] {
            assert!(show(input, "f", &plain()).is_err(), "{input:?}");
        }
    }

    #[test]
    fn every_truncation_of_a_certificate_is_handled() {
        let made = crate::cert::generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        for len in 0..made.cert_der.len() {
            // Must return (Ok or Err) for every prefix; a panic fails the test.
            let _ = show(&made.cert_der[..len], "t", &plain());
        }
        // Same for the PEM text, cut anywhere.
        let pem = made.cert_pem.as_bytes();
        for len in 0..pem.len() {
            let _ = show(&pem[..len], "t", &plain());
        }
        // And for a key in each encoding.
        let key = generate_key(KeyType::Rsa2048).unwrap();
        let der = key.serialize_der();
        for len in 0..der.len() {
            assert!(show(&der[..len], "t", &plain()).is_err());
        }
    }

    #[test]
    fn every_single_byte_corruption_of_a_certificate_is_handled() {
        let made =
            crate::cert::generate_self_signed(KeyType::Ed25519, &CertSpec::default()).unwrap();
        for i in 0..made.cert_der.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut der = made.cert_der.clone();
                der[i] ^= flip;
                let _ = show(&der, "t", &plain());
            }
        }
    }
}
