//! JSON Lines for `inspect --format json`: one object per TLS session
//! (`"type":"session"`) and per plain connection (`"type":"flow"`). The
//! schema is documented in docs/json.md; field names are stable.

use base64::Engine;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use tlsscope_scope::diag::Diagnostic;
use tlsscope_scope::flow::Dir;
use tlsscope_scope::session::{Alert, Entry, Flow, Protection, Resumption, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::registry;
use tlsscope_scope::tls::x509::Summary;
use tlsscope_scope::tree::hex;

fn from(d: Dir) -> &'static str {
    d.sender()
}

// A session is written straight to the output through these borrowing
// views (one definition of the schema, field order as documented): building
// a `Value` tree first cost more than all of the TLS analysis of a short
// session (a map per object, a string per key, SipHash per insert).

/// Bytes that may not be UTF-8: a string when they are UTF-8, else
/// `{"bytes": BASE64}`.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => ser.serialize_str(text),
            Err(_) => base64_object(ser, self.0),
        }
    }
}

/// `{"bytes": BASE64}`.
fn base64_object<S: Serializer>(ser: S, data: &[u8]) -> Result<S::Ok, S::Error> {
    let mut m = ser.serialize_map(Some(1))?;
    m.serialize_entry("bytes", &base64::engine::general_purpose::STANDARD.encode(data))?;
    m.end()
}

/// A body's bytes: a string when they are text (UTF-8 without control
/// characters other than tab and line ends), else `{"bytes": BASE64}`. A
/// body of NULs printed as a string would take six bytes of output per
/// byte (`\u0000`); base64 takes four per three.
struct BodyBytes<'a>(&'a [u8]);

impl Serialize for BodyBytes<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(self.0).ok().filter(|t| {
            !t.bytes().any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
        });
        match text {
            Some(t) => ser.serialize_str(t),
            None => base64_object(ser, self.0),
        }
    }
}

/// A value as the string its `Display` gives, without building the string.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_str(&self.0)
    }
}

/// A list written item by item through a conversion.
struct List<'a, T, F>(&'a [T], F);

impl<'a, T, F, J> Serialize for List<'a, T, F>
where
    F: Fn(&'a T) -> J,
    J: Serialize,
{
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(&self.1))
    }
}

#[derive(Serialize)]
struct DiagJson<'a> {
    severity: &'static str,
    code: &'static str,
    message: &'a str,
    frame: Option<u64>,
}

fn diag_json(d: &Diagnostic) -> DiagJson<'_> {
    DiagJson {
        severity: d.severity.as_str(),
        code: d.code,
        message: &d.message,
        frame: d.location.frame,
    }
}

#[derive(Serialize)]
struct BodyJson<'a> {
    length: u64,
    truncated: bool,
    encoding: &'a Option<String>,
    decoded: bool,
    data: BodyBytes<'a>,
}

fn body_json(b: &tlsscope_scope::http::Body) -> BodyJson<'_> {
    BodyJson {
        length: b.len,
        truncated: b.shown_in_part(),
        encoding: &b.encoding,
        decoded: b.decoded.is_some(),
        data: BodyBytes(b.decoded.as_deref().unwrap_or(&b.bytes)),
    }
}

/// Headers as `[[name, value], ...]`.
struct HeadersJson<'a>(&'a [(String, Vec<u8>)]);

impl Serialize for HeadersJson<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(|(n, v)| (n, Bytes(v))))
    }
}

#[derive(Serialize)]
struct ExchangeJson<'a> {
    version: &'static str,
    stream: Option<u32>,
    method: &'a Option<String>,
    authority: &'a Option<String>,
    path: &'a Option<String>,
    status: Option<u16>,
    request_headers: HeadersJson<'a>,
    response_headers: HeadersJson<'a>,
    request_body: BodyJson<'a>,
    response_body: BodyJson<'a>,
    request_frame: Option<u64>,
    response_frame: Option<u64>,
    complete: bool,
}

struct ExchangesJson<'a>(&'a [tlsscope_scope::http::Exchange]);

impl Serialize for ExchangesJson<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(|x| ExchangeJson {
            version: x.version,
            stream: x.stream,
            method: &x.method,
            authority: &x.authority,
            path: &x.path,
            status: x.status,
            request_headers: HeadersJson(&x.request_headers),
            response_headers: HeadersJson(&x.response_headers),
            request_body: body_json(&x.request_body),
            response_body: body_json(&x.response_body),
            request_frame: x.request_frame,
            response_frame: x.response_frame,
            complete: x.complete,
        }))
    }
}

#[derive(Serialize)]
struct MessageJson {
    frame: u64,
    from: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    encrypted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decrypted: Option<bool>,
    /// The capture ended inside the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<TruncatedJson>,
}

#[derive(Serialize)]
struct TruncatedJson {
    seen: usize,
    length: usize,
}

#[derive(Serialize)]
struct CertificateJson<'a> {
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    not_before: &'a str,
    not_after: &'a str,
    san: &'a [String],
    public_key: &'a str,
    signature_algorithm: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AlertJson {
    Readable { frame: u64, from: &'static str, level: &'static str, description: String },
    Encrypted { frame: u64, from: &'static str, encrypted: bool },
}

#[derive(Serialize)]
struct AppDataJson {
    client_records: u64,
    client_bytes: u64,
    server_records: u64,
    server_bytes: u64,
}

#[derive(Serialize)]
struct DecryptionJson<'a> {
    status: &'static str,
    reason: &'a Option<String>,
    client_bytes: u64,
    server_bytes: u64,
    records: PerDirJson<RecordsJson>,
}

/// A value per side.
#[derive(Serialize)]
struct PerDirJson<T> {
    client: T,
    server: T,
}

/// A side's protected records: what the status was computed from.
#[derive(Serialize)]
struct RecordsJson {
    encrypted: u64,
    decrypted: u64,
    lost: u64,
}

/// One session, in the order of docs/json.md.
#[derive(Serialize)]
struct SessionJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    session: u64,
    stream: u64,
    index: u32,
    client: Shown<std::net::SocketAddr>,
    server: Shown<std::net::SocketAddr>,
    first_frame: u64,
    start: f64,
    version: Option<String>,
    cipher_suite: Option<String>,
    cipher_suite_id: Option<u16>,
    server_name: Option<Bytes<'a>>,
    alpn: Option<Bytes<'a>>,
    alpn_offered: Vec<Bytes<'a>>,
    named_group: Option<String>,
    client_random: Option<String>,
    server_random: Option<String>,
    hello_retry: bool,
    resumed: bool,
    resumption: Option<&'static str>,
    messages: List<'a, Entry, fn(&Entry) -> MessageJson>,
    certificates: List<'a, Summary, fn(&Summary) -> CertificateJson<'_>>,
    alerts: List<'a, Alert, fn(&Alert) -> AlertJson>,
    application_data: AppDataJson,
    decryption: Option<DecryptionJson<'a>>,
    http: ExchangesJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_not_shown: Option<u64>,
    ja3: Option<&'a str>,
    ja3_text: Option<&'a str>,
    ja4: Option<&'a str>,
    diagnostics: List<'a, Diagnostic, fn(&Diagnostic) -> DiagJson<'_>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics_not_shown: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages_not_shown: Option<u64>,
    /// `--explain`: the checks, last.
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<Value>,
}

fn message_json(m: &Entry) -> MessageJson {
    MessageJson {
        frame: m.frame,
        from: from(m.from),
        kind: m.name,
        encrypted: (m.protection == Protection::Encrypted).then_some(true),
        decrypted: (m.protection == Protection::Decrypted).then_some(true),
        truncated: m.truncated.map(|length| TruncatedJson { seen: m.len, length }),
    }
}

fn certificate_json(c: &Summary) -> CertificateJson<'_> {
    CertificateJson {
        subject: &c.subject,
        issuer: &c.issuer,
        serial: &c.serial,
        not_before: &c.not_before,
        not_after: &c.not_after,
        san: &c.san,
        public_key: &c.public_key,
        signature_algorithm: &c.signature_algorithm,
        sha256: &c.sha256,
    }
}

fn alert_json(a: &Alert) -> AlertJson {
    match a.level_description {
        Some((level, desc)) => AlertJson::Readable {
            frame: a.frame,
            from: from(a.from),
            level: match level {
                1 => "warning",
                2 => "fatal",
                _ => "unknown",
            },
            description: registry::alert_description(desc)
                .map_or_else(|| desc.to_string(), String::from),
        },
        None => AlertJson::Encrypted { frame: a.frame, from: from(a.from), encrypted: true },
    }
}

impl<'a> SessionJson<'a> {
    fn new(s: &'a Session, capture_start: Timestamp, checks: Option<Value>) -> Self {
        let ch = s.client_hello.as_deref();
        let c = s.traffic[Dir::ClientToServer];
        let sv = s.traffic[Dir::ServerToClient];
        SessionJson {
            kind: "session",
            session: s.id,
            stream: s.conn,
            index: s.index,
            client: Shown(s.client),
            server: Shown(s.server),
            first_frame: s.first_frame,
            start: s.start.seconds_since(capture_start),
            version: s
                .version()
                .map(|v| registry::version(v).map_or_else(|| format!("{v:#06x}"), String::from)),
            cipher_suite: s.cipher_suite().map(|id| {
                registry::cipher_suite(id)
                    .map_or_else(|| format!("{id:#06x}"), |c| c.name.to_string())
            }),
            cipher_suite_id: s.cipher_suite(),
            server_name: ch
                .and_then(|ch| ch.hello.server_name.as_ref())
                .map(|n| Bytes(n.as_bytes())),
            alpn: s.alpn().map(Bytes),
            alpn_offered: ch
                .map(|ch| ch.hello.alpn.iter().map(|a| Bytes(a)).collect())
                .unwrap_or_default(),
            named_group: s.named_group.map(|g| {
                registry::named_group(g).map_or_else(|| format!("{g:#06x}"), String::from)
            }),
            client_random: ch.map(|ch| hex(&ch.random)),
            server_random: s.server_hello.as_ref().map(|sh| hex(&sh.random)),
            hello_retry: s.hello_retry,
            resumed: s.resumed.is_some(),
            resumption: s.resumed.map(|r| match r {
                Resumption::SessionId => "session_id",
                Resumption::Ticket => "ticket",
                Resumption::Psk => "psk",
            }),
            messages: List(&s.messages, message_json),
            certificates: List(&s.certificates, certificate_json),
            alerts: List(&s.alerts, alert_json),
            application_data: AppDataJson {
                client_records: c.records,
                client_bytes: c.bytes,
                server_records: sv.records,
                server_bytes: sv.bytes,
            },
            decryption: s.decryption.as_ref().map(|d| DecryptionJson {
                status: d.status.as_str(),
                reason: &d.reason,
                client_bytes: d.app_bytes[Dir::ClientToServer],
                server_bytes: d.app_bytes[Dir::ServerToClient],
                records: {
                    let side = |dir: Dir| RecordsJson {
                        encrypted: d.records[dir].0,
                        decrypted: d.records[dir].1,
                        lost: d.lost[dir],
                    };
                    PerDirJson {
                        client: side(Dir::ClientToServer),
                        server: side(Dir::ServerToClient),
                    }
                },
            }),
            http: ExchangesJson(&s.http.exchanges),
            http_not_shown: (s.http.dropped > 0).then_some(s.http.dropped),
            ja3: s.ja3.as_ref().map(|(_, h)| h.as_str()),
            ja3_text: s.ja3.as_ref().map(|(t, _)| t.as_str()),
            ja4: s.ja4.as_deref(),
            diagnostics: List(&s.diagnostics, diag_json),
            diagnostics_not_shown: (s.diagnostics_not_kept > 0).then_some(s.diagnostics_not_kept),
            messages_not_shown: (s.messages_not_listed > 0).then_some(s.messages_not_listed),
            checks,
        }
    }
}

/// Writes the JSON object for a session (without a newline); `checks`
/// (from [`checks`]) is added last when given.
pub fn write_session(
    w: impl std::io::Write,
    s: &Session,
    capture_start: Timestamp,
    checks: Option<Value>,
) -> serde_json::Result<()> {
    serde_json::to_writer(w, &SessionJson::new(s, capture_start, checks))
}

/// A connection that was not TLS, in the order of docs/json.md.
#[derive(Serialize)]
struct FlowJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream: u64,
    client: Shown<std::net::SocketAddr>,
    server: Shown<std::net::SocketAddr>,
    protocol: &'static str,
    first_frame: u64,
    start: f64,
    client_payload_bytes: u64,
    server_payload_bytes: u64,
    client_first_bytes: Bytes<'a>,
    server_first_bytes: Bytes<'a>,
    http: ExchangesJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_not_shown: Option<u64>,
    diagnostics: List<'a, Diagnostic, fn(&Diagnostic) -> DiagJson<'_>>,
}

/// Writes the JSON object for a connection that was not TLS (without a
/// newline), straight from the flow: no copy of its exchanges is made.
pub fn write_flow(
    w: impl std::io::Write,
    f: &Flow,
    capture_start: Timestamp,
) -> serde_json::Result<()> {
    let c = f.info.stats[Dir::ClientToServer];
    let s = f.info.stats[Dir::ServerToClient];
    serde_json::to_writer(
        w,
        &FlowJson {
            kind: "flow",
            stream: f.info.id,
            client: Shown(f.info.client),
            server: Shown(f.info.server),
            protocol: if f.http { "http" } else { "unknown" },
            first_frame: f.info.first_frame,
            start: f.info.start.seconds_since(capture_start),
            client_payload_bytes: c.payload_bytes,
            server_payload_bytes: s.payload_bytes,
            client_first_bytes: Bytes(&f.preview[Dir::ClientToServer]),
            server_first_bytes: Bytes(&f.preview[Dir::ServerToClient]),
            http: ExchangesJson(&f.decoded.exchanges),
            http_not_shown: (f.decoded.dropped > 0).then_some(f.decoded.dropped),
            diagnostics: List(&f.diagnostics, diag_json),
        },
    )
}

/// The checks of a session (`inspect --explain --format json`): one
/// object per check with its stable key, title, result (`ok`, `failed`,
/// `not possible`), reason, frame and the values behind it by key.
pub fn checks(checks: &[tlsscope_scope::verify::Check]) -> Value {
    let list: Vec<Value> = checks
        .iter()
        .map(|c| {
            let details: Map<String, Value> =
                c.details.iter().map(|(k, _, v)| ((*k).to_string(), json!(v))).collect();
            json!({
                "check": c.kind.key(),
                "title": c.title,
                "result": c.outcome.label(),
                "reason": c.outcome.reason(),
                "frame": c.frame,
                "details": details,
            })
        })
        .collect();
    Value::Array(list)
}
