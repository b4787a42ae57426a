//! Explanations of a TLS session for learners: each step of the handshake
//! numbered as the classic walkthrough ((1) ClientHello, (2) ServerHello,
//! ...), what it is for, the values that matter in this capture, and the
//! checks of [`crate::verify`] that belong to it.
//!
//! The texts are data: `en.txt` and `ja.txt` beside this file, one entry
//! per key (`@key Title` then paragraphs), read once at first use. Both
//! languages must have the same keys (a unit test checks it), so adding a
//! step means adding its text to both files. [`explain`] builds a
//! language-independent model, [`Explained`]; the terminal (`inspect
//! --explain`, `demo`) and the HTML report render it.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::flow::Dir;
use crate::session::{Entry, Protection, Session};
use crate::time::Timestamp;
use crate::tls::handshake::{Body, ClientKeyExchange, ServerParams};
use crate::tls::registry;
use crate::tree::{hex, hex_short};
use crate::verify::{Check, Kind, Outcome};

/// The language of the texts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Japanese.
    Ja,
}

impl Lang {
    /// `en` or `ja` (case-insensitive, a region or encoding suffix
    /// allowed: `ja_JP.UTF-8`); None for anything else.
    pub fn parse(s: &str) -> Option<Lang> {
        let lang = s.split(['_', '-', '.', '@']).next().unwrap_or("").to_ascii_lowercase();
        match lang.as_str() {
            "en" | "c" | "posix" => Some(Lang::En),
            "ja" => Some(Lang::Ja),
            _ => None,
        }
    }

    /// The language the environment asks for, as gettext reads it: the
    /// first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set and not empty
    /// (pass their values); English when that names another language.
    pub fn from_env(lc_all: Option<&str>, lc_messages: Option<&str>, lang: Option<&str>) -> Lang {
        [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .and_then(Lang::parse)
            .unwrap_or(Lang::En)
    }

    /// `en` or `ja`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }
}

/// One entry of a text table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    /// The heading.
    pub title: String,
    /// Paragraphs (may be empty for labels).
    pub paragraphs: Vec<String>,
}

/// Parses a text table: `@key Title` lines start entries, the lines up to
/// the next entry are joined into paragraphs (a blank line separates
/// them), `#` lines are comments. Errors name the line.
pub fn parse_table(src: &str) -> Result<Vec<(String, Text)>, String> {
    let mut out: Vec<(String, Text)> = Vec::new();
    let mut para = String::new();
    let flush = |out: &mut Vec<(String, Text)>, para: &mut String| {
        if !para.is_empty()
            && let Some((_, t)) = out.last_mut()
        {
            t.paragraphs.push(std::mem::take(para));
        }
        para.clear();
    };
    for (i, line) in src.lines().enumerate() {
        let line = line.trim_end();
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('@') {
            flush(&mut out, &mut para);
            let (key, title) = rest.split_once(' ').unwrap_or((rest, ""));
            if key.is_empty() || title.trim().is_empty() {
                return Err(format!(
                    "line {}: an entry needs a key and a title",
                    i.saturating_add(1)
                ));
            }
            if out.iter().any(|(k, _)| k == key) {
                return Err(format!("line {}: key {key} appears twice", i.saturating_add(1)));
            }
            out.push((key.to_string(), Text { title: title.trim().into(), paragraphs: vec![] }));
        } else if line.trim().is_empty() {
            flush(&mut out, &mut para);
        } else {
            if out.is_empty() {
                return Err(format!(
                    "line {}: text before the first @key line",
                    i.saturating_add(1)
                ));
            }
            // Japanese text joins lines without a space; English with one.
            let joiner = if para.ends_with(|c: char| c.is_ascii()) { " " } else { "" };
            if !para.is_empty() {
                para.push_str(joiner);
            }
            para.push_str(line.trim());
        }
    }
    flush(&mut out, &mut para);
    Ok(out)
}

const EN: &str = include_str!("en.txt");
const JA: &str = include_str!("ja.txt");

fn table(lang: Lang) -> &'static HashMap<String, Text> {
    static TABLES: OnceLock<[HashMap<String, Text>; 2]> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        // The files are part of the build and checked by unit tests; an
        // error here can only come from an edit that skipped them, and
        // then the texts fall back to their keys rather than panicking.
        let load = |src| parse_table(src).unwrap_or_default().into_iter().collect();
        [load(EN), load(JA)]
    });
    match lang {
        Lang::En => &tables[0],
        Lang::Ja => &tables[1],
    }
}

/// The text for `key` in `lang`, falling back to English, then to the key.
pub fn text(lang: Lang, key: &str) -> Text {
    table(lang)
        .get(key)
        .or_else(|| table(Lang::En).get(key))
        .cloned()
        .unwrap_or_else(|| Text { title: key.to_string(), paragraphs: Vec::new() })
}

/// The title of `key` in `lang` (labels, headings).
pub fn label(lang: Lang, key: &str) -> String {
    text(lang, key).title
}

/// A value that matters in this step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// Stable key (`client_random`, `curve`...), for JSON and tests.
    pub key: &'static str,
    /// The label in the chosen language.
    pub label: String,
    /// The value (language-independent: names, hex, numbers).
    pub value: String,
}

/// One step of the handshake.
#[derive(Clone, Debug)]
pub struct Step {
    /// Its number in the ladder, from 1.
    pub number: usize,
    /// Index into the session's messages.
    pub entry: usize,
    /// The frame with its last byte.
    pub frame: u64,
    /// When.
    pub ts: Timestamp,
    /// Who sent it.
    pub from: Dir,
    /// The message name (`ClientHello`, `ChangeCipherSpec`...).
    pub name: &'static str,
    /// Plain, encrypted (not decrypted) or decrypted.
    pub protection: Protection,
    /// Bytes.
    pub len: usize,
    /// The key of its text (`client_hello`, `finished.13`...).
    pub text_key: &'static str,
    /// Its text in the chosen language.
    pub text: Text,
    /// The values that matter.
    pub values: Vec<Value>,
    /// Indices into [`Explained::checks`] of the checks made on it.
    pub checks: Vec<usize>,
}

/// One part of the cipher suite, explained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuitePart {
    /// The part as the name spells it (`ECDHE`, `AES_128_GCM`...).
    pub part: String,
    /// Its text.
    pub text: Text,
}

/// A session, explained.
#[derive(Clone, Debug)]
pub struct Explained {
    /// The language of the texts.
    pub lang: Lang,
    /// The overview (TLS 1.2, TLS 1.3, resumed).
    pub overview: Text,
    /// The suite's IANA name and its parts (key exchange, authentication,
    /// cipher, hash), when a suite was chosen.
    pub suite: Option<(String, Text, Vec<SuitePart>)>,
    /// The steps, in wire order, numbered as the ladder.
    pub steps: Vec<Step>,
    /// Every check, in handshake order.
    pub checks: Vec<Check>,
}

/// The key of the text that explains `name` in a session of `version`.
fn text_key(e: &Entry, tls13: bool) -> &'static str {
    let v13 = |k12: &'static str, k13: &'static str| if tls13 { k13 } else { k12 };
    match e.name {
        "ClientHello" => "client_hello",
        "ServerHello" => "server_hello",
        "HelloRetryRequest" => "hello_retry_request",
        "Certificate" => v13("certificate", "certificate.13"),
        "ServerKeyExchange" => "server_key_exchange",
        "CertificateRequest" => "certificate_request",
        "ServerHelloDone" => "server_hello_done",
        "ClientKeyExchange" => "client_key_exchange",
        "ChangeCipherSpec" => v13("change_cipher_spec", "change_cipher_spec.13"),
        "Finished" => v13("finished", "finished.13"),
        "EncryptedHandshakeMessage" => v13("encrypted_handshake", "encrypted_handshake.13"),
        "EncryptedExtensions" => "encrypted_extensions",
        "CertificateVerify" => "certificate_verify",
        "NewSessionTicket" => v13("new_session_ticket", "new_session_ticket.13"),
        "EndOfEarlyData" => "end_of_early_data",
        "KeyUpdate" => "key_update",
        "CertificateStatus" => "certificate_status",
        "CompressedCertificate" => "compressed_certificate",
        "HelloRequest" => "hello_request",
        "Alert" => "alert",
        "Heartbeat" => "heartbeat",
        _ => "unknown",
    }
}

/// The text key of a cipher-suite part: `kx.ECDHE`, `cipher.GCM`...
fn part_key(kind: &str, part: &str) -> String {
    let family = match kind {
        "cipher" if part.contains("GCM") => "GCM",
        "cipher" if part.contains("CCM") => "CCM",
        "cipher" if part.contains("CBC") => "CBC",
        _ => part,
    };
    let key = format!("{kind}.{family}");
    if table(Lang::En).contains_key(&key) { key } else { format!("{kind}.other") }
}

fn names(ids: &[u16], name: fn(u16) -> Option<&'static str>, max: usize) -> String {
    let shown: Vec<String> = ids
        .iter()
        .filter(|&&id| !registry::is_grease(id))
        .take(max)
        .map(|&id| name(id).map_or_else(|| format!("{id:#06x}"), str::to_string))
        .collect();
    let total = ids.iter().filter(|&&id| !registry::is_grease(id)).count();
    if total > shown.len() {
        format!("{} … ({total} in all)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn version_name(v: u16) -> String {
    registry::version(v).map_or_else(|| format!("{v:#06x}"), str::to_string)
}

fn suite_name(id: u16) -> String {
    registry::cipher_suite(id).map_or_else(|| format!("{id:#06x}"), |c| c.name.to_string())
}

fn group_name(id: u16) -> String {
    registry::named_group(id).map_or_else(|| format!("{id:#06x}"), str::to_string)
}

fn scheme_name(id: u16) -> String {
    registry::signature_scheme(id).map_or_else(|| format!("{id:#06x}"), str::to_string)
}

fn alpn_list(list: &[Vec<u8>]) -> String {
    list.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(", ")
}

/// Hex of a key or signature with its length, shortened past 32 bytes.
fn key_hex(b: &[u8]) -> String {
    if b.len() > 32 { hex_short(b, 32) } else { format!("{} ({})", hex(b), bytes(b.len())) }
}

/// `1 byte`, `n bytes`.
fn bytes(n: usize) -> String {
    if n == 1 { "1 byte".into() } else { format!("{n} bytes") }
}

struct Values {
    lang: Lang,
    out: Vec<Value>,
}

impl Values {
    fn add(&mut self, key: &'static str, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() {
            self.out.push(Value { key, label: label(self.lang, &format!("v.{key}")), value });
        }
    }
}

/// The values that matter in one message.
fn values(s: &Session, e: &Entry, lang: Lang) -> Vec<Value> {
    let mut v = Values { lang, out: Vec::new() };
    if let Some((level, desc)) = e.alert {
        v.add(
            "alert",
            format!(
                "{} {}",
                registry::alert_level(level).unwrap_or("unknown"),
                registry::alert_description(desc).unwrap_or("unknown")
            ),
        );
    }
    let body = e.message.as_deref().and_then(|m| m.body.as_ref());
    match body {
        Some(Body::ClientHello(ch)) => {
            v.add("version", version_name(ch.version));
            if !ch.hello.supported_versions.is_empty() {
                v.add(
                    "versions_offered",
                    names(&ch.hello.supported_versions, registry::version, 8),
                );
            }
            v.add("client_random", hex(&ch.random));
            v.add(
                "suites_offered",
                names(&ch.cipher_suites, |id| registry::cipher_suite(id).map(|c| c.name), 6),
            );
            if let Some(sni) = &ch.hello.server_name {
                v.add("sni", sni.clone());
            }
            v.add("alpn", alpn_list(&ch.hello.alpn));
            v.add("groups", names(&ch.hello.groups, registry::named_group, 8));
            let shares: Vec<String> = ch
                .hello
                .key_shares
                .iter()
                .filter(|(g, _)| !registry::is_grease(*g))
                .map(|(g, k)| format!("{}: {}", group_name(*g), key_hex(k)))
                .collect();
            v.add("key_share", shares.join("; "));
        }
        Some(Body::ServerHello(sh)) => {
            v.add("version", version_name(sh.negotiated_version()));
            v.add("server_random", hex(&sh.random));
            if let Some(c) = registry::cipher_suite(sh.cipher_suite) {
                v.add("suite", format!("{} ({})", c.name, c.parts()));
            } else {
                v.add("suite", suite_name(sh.cipher_suite));
            }
            if let Some((g, k)) = sh.hello.key_shares.first() {
                let k =
                    if k.is_empty() { "(retry: send this group)".to_string() } else { key_hex(k) };
                v.add("key_share", format!("{}: {k}", group_name(*g)));
            }
            v.add("alpn", alpn_list(&sh.hello.alpn));
        }
        Some(Body::Certificate(ders)) => {
            v.add("chain", ders.len().to_string());
            if let Some(c) = ders.first().and_then(|d| crate::tls::x509::summarize(d).ok()) {
                v.add("subject", c.subject);
                v.add("issuer", c.issuer);
                v.add("validity", format!("{} … {}", c.not_before, c.not_after));
                v.add("san", c.san.join(", "));
                v.add("public_key", c.public_key);
                v.add("signature_algorithm", c.signature_algorithm);
                v.add("fingerprint", c.sha256);
            }
        }
        Some(Body::ServerKeyExchange(ske)) => {
            match &ske.params {
                ServerParams::Ecdhe { group, public } => {
                    v.add("curve", group_name(*group));
                    v.add("server_public", key_hex(public));
                }
                ServerParams::Dhe { p, ys, .. } => {
                    v.add("dh_prime", format!("{} bits", p.len().saturating_mul(8)));
                    v.add("server_public", key_hex(ys));
                }
                ServerParams::Other => {}
            }
            if let Some(sc) = ske.sig_scheme {
                v.add("signature_scheme", scheme_name(sc));
            }
            if let Some(sig) = &ske.signature {
                v.add("signature", key_hex(sig));
            }
        }
        Some(Body::ClientKeyExchange(cke)) => match cke {
            ClientKeyExchange::Ecdhe(k) | ClientKeyExchange::Dhe(k) => {
                v.add("client_public", key_hex(k));
            }
            ClientKeyExchange::Rsa(k) => v.add("encrypted_premaster", key_hex(k)),
            ClientKeyExchange::Unknown(k) => v.add("length", k.len().to_string()),
        },
        Some(Body::CertificateVerify { scheme, signature }) => {
            if let Some(sc) = scheme {
                v.add("signature_scheme", scheme_name(*sc));
            }
            v.add("signature", key_hex(signature));
        }
        Some(Body::Finished(data)) => v.add("verify_data", hex(data)),
        Some(Body::NewSessionTicket { lifetime, ticket }) => {
            v.add("ticket_lifetime", format!("{lifetime} s"));
            v.add("ticket", key_hex(ticket));
        }
        Some(Body::EncryptedExtensions(h)) => {
            v.add("alpn", alpn_list(&h.alpn));
            v.add("extensions", names(&h.extension_types, registry::extension_type, 10));
        }
        Some(Body::KeyUpdate(req)) => v.add("request_update", req.to_string()),
        _ => {
            if e.protection == Protection::Encrypted || e.name == "ChangeCipherSpec" {
                v.add("length", bytes(e.len));
            }
        }
    }
    let _ = s;
    v.out
}

/// Which step a check belongs to: the message it checks.
fn step_for(check: &Check, steps: &[Step], tls13: bool) -> Option<usize> {
    let by_name = |name: &str, from: Option<Dir>| {
        steps.iter().position(|st| st.name == name && from.is_none_or(|f| st.from == f))
    };
    let by_frame = |name: &str, from: Option<Dir>| {
        check.frame.and_then(|fr| {
            steps.iter().position(|st| {
                st.frame == fr && st.name == name && from.is_none_or(|f| st.from == f)
            })
        })
    };
    let pick = |name: &str, from: Option<Dir>| by_frame(name, from).or_else(|| by_name(name, from));
    match check.kind {
        Kind::CertificateSignature { .. }
        | Kind::CertificateValidity { .. }
        | Kind::NameMatch
        | Kind::TrustAnchor => pick("Certificate", Some(Dir::ServerToClient)),
        Kind::ServerKeyExchange => pick("ServerKeyExchange", None),
        Kind::CertificateVerify { from } => pick("CertificateVerify", Some(from)),
        Kind::Finished { from } => {
            pick("Finished", Some(from)).or_else(|| pick("EncryptedHandshakeMessage", Some(from)))
        }
        Kind::KeyExchange => {
            if tls13 {
                pick("ServerHello", None)
            } else {
                pick("ClientKeyExchange", None).or_else(|| pick("ServerKeyExchange", None))
            }
        }
    }
}

/// Explains a session: its steps with texts and values, and `checks`
/// (from [`crate::verify::check_session`]) placed on the steps they
/// belong to. Message values need the parsed messages
/// ([`crate::session::Options::keep_messages`]); without them the steps
/// carry only their texts.
pub fn explain(s: &Session, checks: Vec<Check>, lang: Lang) -> Explained {
    let tls13 = s.version() == Some(0x0304);
    let overview = text(
        lang,
        if s.resumed.is_some() {
            "overview.resumed"
        } else if tls13 {
            "overview.tls13"
        } else {
            "overview.tls12"
        },
    );
    let suite = s.cipher_suite().and_then(registry::cipher_suite).map(|c| {
        let parts = [("kx", c.kx), ("auth", c.auth), ("cipher", c.cipher), ("hash", c.mac)]
            .into_iter()
            .map(|(kind, part)| SuitePart {
                part: part.to_string(),
                text: text(lang, &part_key(kind, part)),
            })
            .collect();
        (c.name.to_string(), text(lang, "suite"), parts)
    });
    let mut steps: Vec<Step> = s
        .messages
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let key = text_key(e, tls13);
            Step {
                number: i.saturating_add(1),
                entry: i,
                frame: e.frame,
                ts: e.ts,
                from: e.from,
                name: e.name,
                protection: e.protection,
                len: e.len,
                text_key: key,
                text: text(lang, key),
                values: values(s, e, lang),
                checks: Vec::new(),
            }
        })
        .collect();
    for (i, c) in checks.iter().enumerate() {
        if let Some(st) = step_for(c, &steps, tls13).and_then(|n| steps.get_mut(n)) {
            st.checks.push(i);
        }
    }
    Explained { lang, overview, suite, steps, checks }
}

/// The outcome label in `lang`: `ok`, `FAILED`, `n/a`.
pub fn outcome_label(o: &Outcome, lang: Lang) -> String {
    label(
        lang,
        match o {
            Outcome::Ok => "ui.ok",
            Outcome::Failed(_) => "ui.failed",
            Outcome::NotPossible(_) => "ui.not_possible",
        },
    )
}

/// The text that explains a kind of check.
pub fn check_text(kind: Kind, lang: Lang) -> Text {
    text(lang, &format!("check.{}", kind.key()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_parse_and_have_the_same_keys() {
        let en = parse_table(EN).unwrap();
        let ja = parse_table(JA).unwrap();
        let keys = |t: &[(String, Text)]| {
            let mut k: Vec<String> = t.iter().map(|(k, _)| k.clone()).collect();
            k.sort();
            k
        };
        assert_eq!(keys(&en), keys(&ja));
        assert!(en.len() > 90, "{} entries", en.len());
        for (k, t) in en.iter().chain(ja.iter()) {
            // Labels and sentences have a title only; explanations have
            // paragraphs too (the report's keys may have either).
            if k.starts_with("report.") {
                continue;
            }
            let is_label = ["ui.", "v.", "demo."].iter().any(|p| k.starts_with(p));
            assert_eq!(t.paragraphs.is_empty(), is_label, "{k}: {t:?}");
        }
    }

    #[test]
    fn every_step_name_and_check_kind_has_a_text() {
        let en: HashMap<String, Text> = parse_table(EN).unwrap().into_iter().collect();
        for name in [
            "ClientHello",
            "ServerHello",
            "HelloRetryRequest",
            "Certificate",
            "ServerKeyExchange",
            "CertificateRequest",
            "ServerHelloDone",
            "ClientKeyExchange",
            "ChangeCipherSpec",
            "Finished",
            "EncryptedHandshakeMessage",
            "EncryptedExtensions",
            "CertificateVerify",
            "NewSessionTicket",
            "EndOfEarlyData",
            "KeyUpdate",
            "CertificateStatus",
            "CompressedCertificate",
            "HelloRequest",
            "Alert",
            "Heartbeat",
            "Unknown",
        ] {
            for tls13 in [false, true] {
                let e = Entry::new(
                    1,
                    Timestamp::default(),
                    Dir::ClientToServer,
                    name,
                    Protection::Plain,
                    0,
                );
                let k = text_key(&e, tls13);
                assert!(en.contains_key(k), "{name}: {k}");
            }
        }
        for kind in [
            Kind::CertificateSignature { index: 0 },
            Kind::CertificateValidity { index: 0 },
            Kind::NameMatch,
            Kind::TrustAnchor,
            Kind::ServerKeyExchange,
            Kind::CertificateVerify { from: Dir::ServerToClient },
            Kind::Finished { from: Dir::ClientToServer },
            Kind::KeyExchange,
        ] {
            assert!(en.contains_key(&format!("check.{}", kind.key())), "{kind:?}");
        }
    }

    #[test]
    fn suite_parts_find_their_texts_or_a_general_one() {
        assert_eq!(part_key("kx", "ECDHE"), "kx.ECDHE");
        assert_eq!(part_key("cipher", "AES_128_GCM"), "cipher.GCM");
        assert_eq!(part_key("cipher", "AES_256_CBC"), "cipher.CBC");
        assert_eq!(part_key("cipher", "AES_128_CCM_8"), "cipher.CCM");
        assert_eq!(part_key("hash", "SHA384"), "hash.SHA384");
        assert_eq!(part_key("kx", "ECCPWD"), "kx.other");
    }

    #[test]
    fn table_errors_name_the_line() {
        assert_eq!(
            parse_table("text first").unwrap_err(),
            "line 1: text before the first @key line"
        );
        assert_eq!(parse_table("@a A\n@a B").unwrap_err(), "line 2: key a appears twice");
        assert_eq!(parse_table("# c\n@a").unwrap_err(), "line 2: an entry needs a key and a title");
        let t = parse_table("@a Title\none\ntwo\n\nthree\n@b 見出し\n日本\n語").unwrap();
        assert_eq!(t[0].1.paragraphs, ["one two", "three"]);
        assert_eq!(t[1].1.paragraphs, ["日本語"]);
    }

    #[test]
    fn language_comes_from_the_environment_like_gettext() {
        assert_eq!(Lang::from_env(None, None, Some("ja_JP.UTF-8")), Lang::Ja);
        assert_eq!(Lang::from_env(Some("C"), None, Some("ja_JP.UTF-8")), Lang::En);
        assert_eq!(Lang::from_env(Some(""), None, Some("ja")), Lang::Ja);
        assert_eq!(Lang::from_env(None, None, Some("de_DE.UTF-8")), Lang::En);
        assert_eq!(Lang::from_env(None, None, None), Lang::En);
        assert_eq!(Lang::parse("JA"), Some(Lang::Ja));
        assert_eq!(Lang::parse("fr"), None);
    }

    #[test]
    fn missing_keys_fall_back_to_english_then_the_key() {
        assert_eq!(text(Lang::Ja, "no.such").title, "no.such");
        assert_eq!(label(Lang::Ja, "ui.ok"), "OK");
        assert_eq!(label(Lang::En, "ui.failed"), "FAILED");
    }
}
