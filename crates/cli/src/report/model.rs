//! The report's data: one [`Report`] built from the sessions and flows of a
//! capture by a [`Builder`] that keeps memory and page size bounded (the
//! first sessions in full detail, the next ones as table rows, the rest
//! counted). The page embeds it as JSON and renders its static parts from
//! it, so what the page shows and what the golden-file tests compare is the
//! same data.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde::Serialize;
use tlsscope_scope::diag::Diagnostic;
use tlsscope_scope::explain::{self, Lang, Text};
use tlsscope_scope::flow::Dir;
use tlsscope_scope::http::{Body, Exchange, Headers};
use tlsscope_scope::session::{Flow, HttpFound, Protection, Resumption, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::registry;
use tlsscope_scope::tree::Field;
use tlsscope_scope::verify::{self, Trust};

/// The data format's name and version, the first keys of the JSON.
pub const FORMAT: &str = "tlsscope-report";
/// Bumped when a key changes meaning or goes away.
pub const FORMAT_VERSION: u32 = 1;

/// How much of a capture the page shows. The defaults are documented in
/// docs/report.md; together they bound the page at a few MiB whatever the
/// capture's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Sessions shown in full: ladder, explanations, checks, field trees,
    /// hex, HTTP. The first ones of the capture (lowest session numbers).
    pub detailed_sessions: usize,
    /// The JSON of all details (sessions, and plain connections' HTTP)
    /// together stays under this; what would go past it is listed without
    /// details.
    pub detail_bytes: usize,
    /// Sessions listed in the summary table (the first ones).
    pub listed_sessions: usize,
    /// Plain (not TLS) connections listed.
    pub listed_flows: usize,
    /// Plain connections shown with their HTTP exchanges.
    pub detailed_flows: usize,
    /// A handshake message longer than this is shown as a field tree
    /// without its bytes.
    pub message_bytes: usize,
    /// HTTP exchanges shown per session or connection.
    pub exchanges: usize,
    /// Bytes of each HTTP body shown.
    pub body_bytes: usize,
    /// Diagnostics shown per session, and for the capture.
    pub diagnostics: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            detailed_sessions: 50,
            detail_bytes: 8 << 20,
            listed_sessions: 10_000,
            listed_flows: 2_000,
            detailed_flows: 50,
            message_bytes: 64 << 10,
            exchanges: 20,
            body_bytes: 16 << 10,
            diagnostics: 100,
        }
    }
}

/// Distinct values counted per statistic (server names can be many);
/// past it they count as "other".
const STATS_KEYS: usize = 1000;
/// Values shown per statistic, most frequent first.
const STATS_SHOWN: usize = 20;

/// What the report is made with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Language of the page.
    pub lang: Lang,
    /// What the certificate checks judge against.
    pub trust: Trust,
    /// The capture's name, shown in the title.
    pub capture: String,
    /// Size limits.
    pub limits: Limits,
    /// Sessions to show in detail whatever their place (`--session`);
    /// empty: the first [`Limits::detailed_sessions`].
    pub only: Vec<u64>,
}

/// The whole page's data.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: &'static str,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// `tlsscope 0.1.0`.
    pub generator: String,
    /// When the page was made (UTC, RFC 3339): the only value that
    /// depends on the wall clock, with the checks' "now" details.
    pub generated: String,
    /// `en` or `ja`.
    pub lang: &'static str,
    /// The capture's name.
    pub capture: String,
    /// The first frame's time (UTC, RFC 3339); times elsewhere are
    /// seconds since it.
    pub capture_start: Option<String>,
    /// The limits in force.
    pub limits: Limits,
    /// How many of everything there were, and how many are shown.
    pub totals: Totals,
    /// Counts over all sessions, listed or not.
    pub stats: Stats,
    /// Labels the script needs, in the page's language.
    pub ui: BTreeMap<&'static str, String>,
    /// Explanation texts by key, shared by the sessions' steps, suites and
    /// checks.
    pub texts: BTreeMap<String, TextOut>,
    /// The listed sessions, by session number.
    pub sessions: Vec<SessionRow>,
    /// The listed plain connections, by TCP stream.
    pub flows: Vec<FlowRow>,
    /// The detailed sessions, by session number.
    pub details: Vec<SessionDetail>,
    /// The plain connections shown with their HTTP.
    pub flow_details: Vec<FlowDetail>,
    /// Problems not tied to a session (the first [`Limits::diagnostics`]).
    pub diagnostics: Vec<DiagOut>,
}

/// Totals, and what the page left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// TLS sessions in the capture.
    pub sessions: u64,
    /// Plain connections.
    pub flows: u64,
    /// Sessions listed in the table.
    pub listed_sessions: u64,
    /// Sessions shown in detail.
    pub detailed_sessions: u64,
    /// Plain connections listed.
    pub listed_flows: u64,
    /// Plain connections shown with their HTTP.
    pub detailed_flows: u64,
    /// Sessions past the details limit or budget: listed, not detailed.
    pub sessions_without_details: u64,
    /// Sessions not listed at all (counted in the statistics only).
    pub sessions_not_listed: u64,
    /// Plain connections not listed.
    pub flows_not_listed: u64,
    /// Whether [`Limits::detail_bytes`] stopped details before
    /// [`Limits::detailed_sessions`] did.
    pub detail_budget_reached: bool,
    /// Capture-wide diagnostics not shown.
    pub diagnostics_not_shown: u64,
    /// Sessions with every record decrypted.
    pub decrypted: u64,
}

/// How often each value occurred.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    /// By TLS version.
    pub versions: Vec<Count>,
    /// By cipher suite.
    pub suites: Vec<Count>,
    /// By server name (SNI).
    pub server_names: Vec<Count>,
    /// By decryption status.
    pub decryption: Vec<Count>,
}

/// One value and how often it occurred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value.
    pub name: String,
    /// How many sessions had it.
    pub count: u64,
}

/// An explanation text.
#[derive(Clone, Debug, Serialize)]
pub struct TextOut {
    /// Heading.
    pub title: String,
    /// Paragraphs.
    pub paragraphs: Vec<String>,
}

impl From<Text> for TextOut {
    fn from(t: Text) -> Self {
        TextOut { title: t.title, paragraphs: t.paragraphs }
    }
}

/// A session in the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct SessionRow {
    /// Session number (from 0).
    pub id: u64,
    /// TCP stream.
    pub stream: u64,
    /// Handshake number on its connection (renegotiations count up).
    pub index: u32,
    /// Client address.
    pub client: String,
    /// Server address.
    pub server: String,
    /// First frame.
    pub first_frame: u64,
    /// Seconds since the capture's start.
    pub start: String,
    /// Negotiated version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Chosen cipher suite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Server name (SNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocol chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// Key exchange group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `ok`, `partial`, `none` or `no keys` (no secret was given).
    pub decryption: &'static str,
    /// Why not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decryption_reason: Option<String>,
    /// `session_id`, `ticket`, `psk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<&'static str>,
    /// Messages in the ladder.
    pub messages: usize,
    /// Alerts.
    pub alerts: usize,
    /// Diagnostics of warning level or worse.
    pub problems: usize,
    /// Whether the page has its details.
    pub detailed: bool,
}

/// A plain connection in the table.
#[derive(Clone, Debug, Serialize)]
pub struct FlowRow {
    /// TCP stream.
    pub stream: u64,
    /// Client address.
    pub client: String,
    /// Server address.
    pub server: String,
    /// `http` or `unknown`.
    pub protocol: &'static str,
    /// First frame.
    pub first_frame: u64,
    /// Seconds since the capture's start.
    pub start: String,
    /// Payload bytes the client sent.
    pub client_bytes: u64,
    /// Payload bytes the server sent.
    pub server_bytes: u64,
    /// HTTP exchanges found.
    pub exchanges: usize,
    /// Whether the page shows its HTTP.
    pub detailed: bool,
}

/// A detailed session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionDetail {
    /// Session number.
    pub id: u64,
    /// Text key of the overview.
    pub overview: String,
    /// The cipher suite explained.
    pub suite: Option<SuiteOut>,
    /// The messages in wire order: the ladder's steps.
    pub steps: Vec<StepOut>,
    /// The first application data records.
    pub app_data: Vec<AppOut>,
    /// Application data per direction.
    pub traffic: TrafficOut,
    /// Every check made, in handshake order.
    pub checks: Vec<CheckOut>,
    /// Checks that belong to no step shown.
    pub unplaced_checks: Vec<usize>,
    /// The server's certificates, leaf first.
    pub certificates: Vec<CertOut>,
    /// Decrypted HTTP exchanges (at most [`Limits::exchanges`]).
    pub http: Vec<ExchangeOut>,
    /// Exchanges not shown.
    pub http_not_shown: u64,
    /// JA3 hash.
    pub ja3: Option<String>,
    /// JA4.
    pub ja4: Option<String>,
    /// Problems found in the session.
    pub diagnostics: Vec<DiagOut>,
}

/// A cipher suite and its parts.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteOut {
    /// IANA name.
    pub name: String,
    /// Text key of the introduction.
    pub text: String,
    /// Key exchange, authentication, cipher, hash.
    pub parts: Vec<PartOut>,
}

/// One part of a suite.
#[derive(Clone, Debug, Serialize)]
pub struct PartOut {
    /// As the name spells it.
    pub part: String,
    /// Text key.
    pub text: String,
}

/// One message of the ladder.
#[derive(Clone, Debug, Serialize)]
pub struct StepOut {
    /// Number in the ladder, from 1.
    pub n: usize,
    /// Frame with its last byte.
    pub frame: u64,
    /// Seconds since the capture's start.
    pub time: String,
    /// `client` or `server`: who sent it.
    pub from: &'static str,
    /// Message name (alerts with their description).
    pub name: String,
    /// `plain`, `encrypted` or `decrypted`.
    pub protection: &'static str,
    /// Bytes.
    pub len: usize,
    /// Text key of its explanation.
    pub text: String,
    /// The values that matter.
    pub values: Vec<ValueOut>,
    /// Indices into the session's checks.
    pub checks: Vec<usize>,
    /// Bytes and field tree, when the message was parsed.
    pub message: Option<MessageOut>,
}

/// A labelled value.
#[derive(Clone, Debug, Serialize)]
pub struct ValueOut {
    /// Stable key.
    pub key: String,
    /// Label in the page's language.
    pub label: String,
    /// Value.
    pub value: String,
}

/// A handshake message's bytes and fields.
#[derive(Clone, Debug, Serialize)]
pub struct MessageOut {
    /// Its length, header included.
    pub length: usize,
    /// Base64 of the bytes; None past [`Limits::message_bytes`].
    pub bytes: Option<String>,
    /// Whether it came out of decrypted records (frame offsets then count
    /// in the plaintext, not in the frame).
    pub decrypted: bool,
    /// The field tree; spans count from the message's first byte.
    pub fields: Vec<Field>,
    /// Where its bytes were captured: `[offset in the message, frame,
    /// offset in the frame, length]`.
    pub pieces: Vec<[u64; 4]>,
}

/// An application data record.
#[derive(Clone, Debug, Serialize)]
pub struct AppOut {
    /// Frame.
    pub frame: u64,
    /// Seconds since the capture's start.
    pub time: String,
    /// Sender.
    pub from: &'static str,
    /// Ciphertext length.
    pub len: u16,
    /// Whether this direction's records were decrypted.
    pub decrypted: bool,
}

/// Application data counters.
#[derive(Clone, Debug, Serialize)]
pub struct TrafficOut {
    /// Records the client sent.
    pub client_records: u64,
    /// Their bytes.
    pub client_bytes: u64,
    /// Records the server sent.
    pub server_records: u64,
    /// Their bytes.
    pub server_bytes: u64,
    /// Plaintext bytes decrypted from the client.
    pub client_decrypted: u64,
    /// From the server.
    pub server_decrypted: u64,
}

/// A check.
#[derive(Clone, Debug, Serialize)]
pub struct CheckOut {
    /// Stable key of its kind (`certificate_signature`, `finished`...).
    pub kind: &'static str,
    /// Text key of what this kind of check is.
    pub text: String,
    /// Title.
    pub title: String,
    /// `ok`, `failed` or `not possible`.
    pub result: &'static str,
    /// The result in the page's language.
    pub result_label: String,
    /// Why it failed or could not be made.
    pub reason: Option<String>,
    /// The message's frame.
    pub frame: Option<u64>,
    /// The values behind it (`hash_a`, `hash_b`, `computed`, `sent`...).
    pub details: Vec<ValueOut>,
}

/// A certificate.
#[derive(Clone, Debug, Serialize)]
pub struct CertOut {
    /// Subject.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Validity start.
    pub not_before: String,
    /// Validity end.
    pub not_after: String,
    /// subjectAltName entries.
    pub san: Vec<String>,
    /// Key type and size.
    pub public_key: String,
    /// Signature algorithm.
    pub signature_algorithm: String,
    /// SHA-256 of the DER.
    pub sha256: String,
}

/// Bytes for display: text when they are printable UTF-8, else hex.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DataOut {
    /// As text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// As lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl DataOut {
    /// Text when `b` is UTF-8 without control characters other than tab,
    /// CR and LF; hex otherwise.
    pub fn of(b: &[u8]) -> Self {
        match std::str::from_utf8(b) {
            Ok(s) if !s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n')) => {
                DataOut { text: Some(s.to_string()), hex: None }
            }
            _ => DataOut { text: None, hex: Some(tlsscope_scope::tree::hex(b)) },
        }
    }
}

/// A header.
#[derive(Clone, Debug, Serialize)]
pub struct HeaderOut {
    /// Name.
    pub name: String,
    /// Value.
    pub value: DataOut,
}

/// An HTTP body.
#[derive(Clone, Debug, Serialize)]
pub struct BodyOut {
    /// Length as sent.
    pub length: u64,
    /// Content-Encoding.
    pub encoding: Option<String>,
    /// Whether what is shown was decoded (gzip, br...).
    pub decoded: bool,
    /// Bytes shown.
    pub shown: usize,
    /// Whether the body is longer than what is shown.
    pub cut: bool,
    /// What is shown.
    pub data: DataOut,
}

/// An HTTP request and its response.
#[derive(Clone, Debug, Serialize)]
pub struct ExchangeOut {
    /// `HTTP/1.1`, `HTTP/2`...
    pub version: &'static str,
    /// HTTP/2 stream.
    pub stream: Option<u32>,
    /// Method.
    pub method: Option<String>,
    /// Host or :authority.
    pub authority: Option<String>,
    /// Path.
    pub path: Option<String>,
    /// Status code.
    pub status: Option<u16>,
    /// Reason phrase (HTTP/1).
    pub reason: Option<String>,
    /// Frame of the request's first byte.
    pub request_frame: Option<u64>,
    /// Frame of the response's first byte.
    pub response_frame: Option<u64>,
    /// Both messages seen whole.
    pub complete: bool,
    /// Request headers.
    pub request_headers: Vec<HeaderOut>,
    /// Response headers.
    pub response_headers: Vec<HeaderOut>,
    /// Request body.
    pub request_body: BodyOut,
    /// Response body.
    pub response_body: BodyOut,
    /// Notes (why incomplete...).
    pub notes: Vec<String>,
}

/// A plain connection with its HTTP.
#[derive(Clone, Debug, Serialize)]
pub struct FlowDetail {
    /// TCP stream.
    pub stream: u64,
    /// What the client sent first.
    pub client_first: DataOut,
    /// What the server sent first.
    pub server_first: DataOut,
    /// HTTP exchanges.
    pub http: Vec<ExchangeOut>,
    /// Exchanges not shown.
    pub http_not_shown: u64,
    /// Problems.
    pub diagnostics: Vec<DiagOut>,
}

/// A diagnostic.
#[derive(Clone, Debug, Serialize)]
pub struct DiagOut {
    /// `error`, `warning`, `info`...
    pub severity: &'static str,
    /// Stable code.
    pub code: &'static str,
    /// Message.
    pub message: String,
    /// Frame.
    pub frame: Option<u64>,
}

impl From<&Diagnostic> for DiagOut {
    fn from(d: &Diagnostic) -> Self {
        DiagOut {
            severity: d.severity.as_str(),
            code: d.code,
            message: d.message.clone(),
            frame: d.location.frame,
        }
    }
}

/// Labels the script uses (`report.js.*` keys of the text tables).
const SCRIPT_LABELS: &[&str] = &[
    "report.js.select",
    "report.js.fields",
    "report.js.no_bytes",
    "report.js.too_long",
    "report.js.encrypted",
    "report.js.span",
    "report.js.frame",
    "report.js.frame_decrypted",
    "report.js.shown",
];

fn secs(t: Timestamp, start: Timestamp) -> String {
    format!("{:.6}", t.seconds_since(start))
}

fn from(d: Dir) -> &'static str {
    d.sender()
}

fn protection(p: Protection) -> &'static str {
    match p {
        Protection::Plain => "plain",
        Protection::Encrypted => "encrypted",
        Protection::Decrypted => "decrypted",
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// RFC 3339 (UTC, seconds) of a capture or wall-clock time.
pub fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.secs())
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

fn version_name(v: u16) -> String {
    registry::version(v).map_or_else(|| format!("{v:#06x}"), str::to_string)
}

fn suite_name(id: u16) -> String {
    registry::cipher_suite(id).map_or_else(|| format!("{id:#06x}"), |c| c.name.to_string())
}

/// The name of a message in the ladder: alerts with level and description.
fn step_name(name: &str, alert: Option<(u8, u8)>) -> String {
    match alert {
        Some((level, desc)) => format!(
            "Alert ({} {})",
            registry::alert_level(level).unwrap_or("?"),
            registry::alert_description(desc).unwrap_or("unknown")
        ),
        None => name.to_string(),
    }
}

fn decryption(s: &Session) -> (&'static str, Option<String>) {
    match &s.decryption {
        Some(d) => (d.status.as_str(), d.reason.clone()),
        None => ("no keys", None),
    }
}

/// The summary row of a session.
fn row(s: &Session, start: Timestamp) -> SessionRow {
    let (status, reason) = decryption(s);
    SessionRow {
        id: s.id,
        stream: s.conn,
        index: s.index,
        client: s.client.to_string(),
        server: s.server.to_string(),
        first_frame: s.first_frame,
        start: secs(s.start, start),
        version: s.version().map(version_name),
        suite: s.cipher_suite().map(suite_name),
        sni: s.server_name().map(str::to_string),
        alpn: s.alpn().map(lossy),
        group: s
            .named_group
            .map(|g| registry::named_group(g).map_or_else(|| format!("{g:#06x}"), str::to_string)),
        decryption: status,
        decryption_reason: reason,
        resumed: s.resumed.map(|r| match r {
            Resumption::SessionId => "session_id",
            Resumption::Ticket => "ticket",
            Resumption::Psk => "psk",
        }),
        messages: s.messages.len(),
        alerts: s.alerts.len(),
        problems: s
            .diagnostics
            .iter()
            .filter(|d| d.severity >= tlsscope_scope::diag::Severity::Warning)
            .count(),
        detailed: false,
    }
}

fn headers(h: &Headers) -> Vec<HeaderOut> {
    h.iter().map(|(n, v)| HeaderOut { name: n.clone(), value: DataOut::of(v) }).collect()
}

fn body(b: &Body, max: usize) -> BodyOut {
    let all = b.decoded.as_deref().unwrap_or(&b.bytes);
    let shown = all.get(..max.min(all.len())).unwrap_or_default();
    // Cutting may split a UTF-8 character: step back to a boundary so a
    // text body stays text.
    let shown = match std::str::from_utf8(shown) {
        Err(e) if e.error_len().is_none() && all.len() > shown.len() => {
            shown.get(..e.valid_up_to()).unwrap_or_default()
        }
        _ => shown,
    };
    BodyOut {
        length: b.len,
        encoding: b.encoding.clone(),
        decoded: b.decoded.is_some(),
        shown: shown.len(),
        cut: b.shown_in_part() || shown.len() < all.len(),
        data: DataOut::of(shown),
    }
}

fn exchange(x: &Exchange, limits: &Limits) -> ExchangeOut {
    ExchangeOut {
        version: x.version,
        stream: x.stream,
        method: x.method.clone(),
        authority: x.authority.clone(),
        path: x.path.clone(),
        status: x.status,
        reason: x.reason.clone(),
        request_frame: x.request_frame,
        response_frame: x.response_frame,
        complete: x.complete,
        request_headers: headers(&x.request_headers),
        response_headers: headers(&x.response_headers),
        request_body: body(&x.request_body, limits.body_bytes),
        response_body: body(&x.response_body, limits.body_bytes),
        notes: x.notes.clone(),
    }
}

fn http(found: &HttpFound, limits: &Limits) -> (Vec<ExchangeOut>, u64) {
    let shown: Vec<ExchangeOut> =
        found.exchanges.iter().take(limits.exchanges).map(|x| exchange(x, limits)).collect();
    let not_shown = found.dropped + (found.exchanges.len() - shown.len()) as u64;
    (shown, not_shown)
}

/// A counter with a bounded number of distinct keys.
#[derive(Debug, Default)]
struct Counter(HashMap<String, u64>);

impl Counter {
    fn add(&mut self, key: &str) {
        if let Some(n) = self.0.get_mut(key) {
            *n += 1;
        } else if self.0.len() < STATS_KEYS {
            self.0.insert(key.to_string(), 1);
        } else {
            *self.0.entry("(other)".to_string()).or_default() += 1;
        }
    }

    fn top(&self) -> Vec<Count> {
        let mut v: Vec<Count> =
            self.0.iter().map(|(k, &n)| Count { name: k.clone(), count: n }).collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        v.truncate(STATS_SHOWN);
        v
    }
}

/// Builds a [`Report`] from sessions and flows as the analysis hands them
/// over, keeping at most the limits' worth: the lowest-numbered sessions
/// (and streams) win, whatever order connections end in.
#[derive(Debug)]
pub struct Builder {
    settings: Settings,
    start: Option<Timestamp>,
    rows: BTreeMap<u64, SessionRow>,
    details: BTreeMap<u64, (usize, SessionDetail)>,
    detail_bytes: usize,
    budget_reached: bool,
    flows: BTreeMap<u64, FlowRow>,
    flow_details: BTreeMap<u64, (usize, FlowDetail)>,
    texts: BTreeMap<String, TextOut>,
    diagnostics: Vec<DiagOut>,
    diagnostics_seen: u64,
    sessions: u64,
    flows_seen: u64,
    decrypted: u64,
    versions: Counter,
    suites: Counter,
    names: Counter,
    status: Counter,
    decrypted_content: bool,
}

impl Builder {
    /// A builder with nothing in it yet.
    pub fn new(settings: Settings) -> Self {
        Builder {
            settings,
            start: None,
            rows: BTreeMap::new(),
            details: BTreeMap::new(),
            detail_bytes: 0,
            budget_reached: false,
            flows: BTreeMap::new(),
            flow_details: BTreeMap::new(),
            texts: BTreeMap::new(),
            diagnostics: Vec::new(),
            diagnostics_seen: 0,
            sessions: 0,
            flows_seen: 0,
            decrypted: 0,
            versions: Counter::default(),
            suites: Counter::default(),
            names: Counter::default(),
            status: Counter::default(),
            decrypted_content: false,
        }
    }

    /// Sets the capture's start (its first frame's time), which times on
    /// the page count from. Set it before the first session.
    pub fn set_start(&mut self, t: Timestamp) {
        self.start = Some(t);
    }

    fn start(&self) -> Timestamp {
        self.start.unwrap_or_default()
    }

    /// Whether the page holds decrypted content (HTTP bodies, decrypted
    /// handshake messages): the file is then written owner-only.
    pub fn has_decrypted_content(&self) -> bool {
        self.decrypted_content
    }

    /// Adds a finished session.
    pub fn session(&mut self, s: &Session) {
        self.sessions += 1;
        let row = row(s, self.start());
        self.versions.add(row.version.as_deref().unwrap_or("(no ServerHello)"));
        self.suites.add(row.suite.as_deref().unwrap_or("(none)"));
        self.names.add(row.sni.as_deref().unwrap_or("(no SNI)"));
        self.status.add(row.decryption);
        if row.decryption == "ok" {
            self.decrypted += 1;
        }
        let limits = self.settings.limits;
        // Keep the lowest session numbers: a later one replaces the
        // highest kept when it is lower (connections end out of order).
        if self.rows.len() < limits.listed_sessions {
            self.rows.insert(s.id, row);
        } else if let Some((&max, _)) = self.rows.last_key_value()
            && s.id < max
        {
            self.rows.remove(&max);
            if let Some((n, _)) = self.details.remove(&max) {
                self.detail_bytes -= n;
            }
            self.rows.insert(s.id, row);
        } else {
            return;
        }
        let wanted = if self.settings.only.is_empty() {
            self.details.len() < limits.detailed_sessions
                || self.details.last_key_value().is_some_and(|(&max, _)| s.id < max)
        } else {
            self.settings.only.contains(&s.id)
        };
        if !wanted {
            return;
        }
        let detail = self.detail(s);
        let size = serde_json::to_string(&detail).map_or(usize::MAX, |j| j.len());
        // Make room: drop higher-numbered details until it fits the count
        // and the byte budget.
        while self.details.len() >= limits.detailed_sessions
            || self.detail_bytes.saturating_add(size) > limits.detail_bytes
        {
            match self.details.last_key_value() {
                Some((&max, _)) if max > s.id => {
                    if let Some((n, _)) = self.details.remove(&max) {
                        self.detail_bytes -= n;
                    }
                    if self.detail_bytes.saturating_add(size) > limits.detail_bytes {
                        self.budget_reached = true;
                    }
                }
                _ => {
                    if self.detail_bytes.saturating_add(size) > limits.detail_bytes {
                        self.budget_reached = true;
                    }
                    return;
                }
            }
        }
        if detail.steps.iter().any(|st| st.protection == "decrypted") || !detail.http.is_empty() {
            self.decrypted_content = true;
        }
        self.detail_bytes += size;
        self.details.insert(s.id, (size, detail));
    }

    fn text(&mut self, key: &str) -> String {
        if !self.texts.contains_key(key) {
            self.texts.insert(key.to_string(), explain::text(self.settings.lang, key).into());
        }
        key.to_string()
    }

    /// The full detail of a session: its explanation, checks, messages
    /// with bytes and fields, HTTP.
    fn detail(&mut self, s: &Session) -> SessionDetail {
        let lang = self.settings.lang;
        let limits = self.settings.limits;
        let start = self.start();
        let checks = verify::check_session(s, &self.settings.trust);
        let x = explain::explain(s, checks, lang);
        let overview = match (s.resumed.is_some(), s.is_tls13()) {
            (true, _) => "overview.resumed",
            (false, true) => "overview.tls13",
            (false, false) => "overview.tls12",
        };
        let overview = self.text(overview);
        let suite = x.suite.as_ref().map(|(name, _, parts)| SuiteOut {
            name: name.clone(),
            text: "suite".to_string(),
            parts: parts
                .iter()
                .map(|p| PartOut { part: p.part.clone(), text: String::new() })
                .collect(),
        });
        // Part texts: explain resolved them (key exchange, authentication,
        // cipher, hash, in that order); keep them under one key per kind
        // and part so that sessions share them.
        let suite = suite.map(|mut out| {
            self.text("suite");
            if let Some((_, _, parts)) = &x.suite {
                let kinds = ["kx", "auth", "cipher", "hash"];
                for ((o, p), kind) in out.parts.iter_mut().zip(parts).zip(kinds) {
                    let key = format!("suite_part.{kind}.{}", p.part);
                    self.texts.entry(key.clone()).or_insert_with(|| p.text.clone().into());
                    o.text = key;
                }
            }
            out
        });
        let mut steps = Vec::with_capacity(x.steps.len());
        for st in &x.steps {
            let entry = s.messages.get(st.entry);
            let text = self.text(st.text_key);
            let message = entry.and_then(|e| e.message.as_deref()).map(|m| MessageOut {
                length: m.bytes.len(),
                bytes: (m.bytes.len() <= limits.message_bytes)
                    .then(|| base64::engine::general_purpose::STANDARD.encode(&m.bytes)),
                decrypted: st.protection == Protection::Decrypted,
                fields: m.fields.clone(),
                pieces: m
                    .pieces
                    .0
                    .iter()
                    .map(|p| {
                        [
                            u64::from(p.unit_offset),
                            p.frame,
                            u64::from(p.frame_offset),
                            u64::from(p.len),
                        ]
                    })
                    .collect(),
            });
            steps.push(StepOut {
                n: st.number,
                frame: st.frame,
                time: secs(st.ts, start),
                from: from(st.from),
                name: step_name(st.name, entry.and_then(|e| e.alert)),
                protection: protection(st.protection),
                len: st.len,
                text,
                values: st
                    .values
                    .iter()
                    .map(|v| ValueOut {
                        key: v.key.to_string(),
                        label: v.label.clone(),
                        value: v.value.clone(),
                    })
                    .collect(),
                checks: st.checks.clone(),
                message,
            });
        }
        let placed: Vec<usize> = x.steps.iter().flat_map(|st| st.checks.iter().copied()).collect();
        let checks: Vec<CheckOut> = x
            .checks
            .iter()
            .map(|c| {
                let key = format!("check.{}", c.kind.key());
                let text = self.text(&key);
                CheckOut {
                    kind: c.kind.key(),
                    text,
                    title: c.title.clone(),
                    result: c.outcome.label(),
                    result_label: explain::outcome_label(&c.outcome, lang),
                    reason: c.outcome.reason().map(str::to_string),
                    frame: c.frame,
                    details: c
                        .details
                        .iter()
                        .map(|(k, l, v)| ValueOut {
                            key: (*k).to_string(),
                            label: l.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        let unplaced_checks = (0..checks.len()).filter(|i| !placed.contains(i)).collect();
        let decrypted_dir = |d: Dir| s.decryption.as_ref().is_some_and(|x| x.records[d].1 > 0);
        let app_data = s
            .app_records
            .iter()
            .map(|r| AppOut {
                frame: r.frame,
                time: secs(r.ts, start),
                from: from(r.from),
                len: r.len,
                decrypted: decrypted_dir(r.from),
            })
            .collect();
        let app_bytes = |d: Dir| s.decryption.as_ref().map_or(0, |x| x.app_bytes[d]);
        let traffic = TrafficOut {
            client_records: s.traffic[Dir::ClientToServer].records,
            client_bytes: s.traffic[Dir::ClientToServer].bytes,
            server_records: s.traffic[Dir::ServerToClient].records,
            server_bytes: s.traffic[Dir::ServerToClient].bytes,
            client_decrypted: app_bytes(Dir::ClientToServer),
            server_decrypted: app_bytes(Dir::ServerToClient),
        };
        let (http, http_not_shown) = http(&s.http, &limits);
        SessionDetail {
            id: s.id,
            overview,
            suite,
            steps,
            app_data,
            traffic,
            checks,
            unplaced_checks,
            certificates: s
                .certificates
                .iter()
                .map(|c| CertOut {
                    subject: c.subject.clone(),
                    issuer: c.issuer.clone(),
                    not_before: c.not_before.clone(),
                    not_after: c.not_after.clone(),
                    san: c.san.clone(),
                    public_key: c.public_key.clone(),
                    signature_algorithm: c.signature_algorithm.clone(),
                    sha256: c.sha256.clone(),
                })
                .collect(),
            http,
            http_not_shown,
            ja3: s.ja3.as_ref().map(|(_, h)| h.clone()),
            ja4: s.ja4.clone(),
            diagnostics: s.diagnostics.iter().take(limits.diagnostics).map(DiagOut::from).collect(),
        }
    }

    /// Adds a finished connection that was not TLS.
    pub fn flow(&mut self, f: &Flow) {
        let id = f.info.id;
        // A connection is reported once; should one come again, the first
        // report stands.
        if self.flows.contains_key(&id) {
            return;
        }
        self.flows_seen += 1;
        let limits = self.settings.limits;
        let row = FlowRow {
            stream: id,
            client: f.info.client.to_string(),
            server: f.info.server.to_string(),
            protocol: if f.http { "http" } else { "unknown" },
            first_frame: f.info.first_frame,
            start: secs(f.info.start, self.start()),
            client_bytes: f.info.stats[Dir::ClientToServer].payload_bytes,
            server_bytes: f.info.stats[Dir::ServerToClient].payload_bytes,
            exchanges: f.decoded.exchanges.len(),
            detailed: false,
        };
        if self.flows.len() < limits.listed_flows {
            self.flows.insert(id, row);
        } else if let Some((&max, _)) = self.flows.last_key_value()
            && id < max
        {
            self.flows.remove(&max);
            if let Some((n, _)) = self.flow_details.remove(&max) {
                self.detail_bytes -= n;
            }
            self.flows.insert(id, row);
        } else {
            return;
        }
        if self.flow_details.len() >= limits.detailed_flows {
            match self.flow_details.last_key_value() {
                Some((&max, _)) if id < max => {
                    if let Some((n, _)) = self.flow_details.remove(&max) {
                        self.detail_bytes -= n;
                    }
                }
                _ => return,
            }
        }
        let (http, http_not_shown) = http(&f.decoded, &limits);
        let detail = FlowDetail {
            stream: id,
            client_first: DataOut::of(&f.preview[Dir::ClientToServer]),
            server_first: DataOut::of(&f.preview[Dir::ServerToClient]),
            http,
            http_not_shown,
            diagnostics: f.diagnostics.iter().take(limits.diagnostics).map(DiagOut::from).collect(),
        };
        // Plain connections' HTTP shares the sessions' budget.
        let size = serde_json::to_string(&detail).map_or(usize::MAX, |j| j.len());
        if self.detail_bytes.saturating_add(size) > limits.detail_bytes {
            self.budget_reached = true;
            return;
        }
        self.detail_bytes += size;
        self.flow_details.insert(id, (size, detail));
    }

    /// Adds a problem not tied to a session.
    pub fn diagnostic(&mut self, d: &Diagnostic) {
        self.diagnostics_seen += 1;
        if self.diagnostics.len() < self.settings.limits.diagnostics {
            self.diagnostics.push(d.into());
        }
    }

    /// The report, made at wall-clock time `now`.
    pub fn finish(mut self, now: Timestamp) -> Report {
        let lang = self.settings.lang;
        let mut rows: Vec<SessionRow> = self.rows.into_values().collect();
        for r in &mut rows {
            r.detailed = self.details.contains_key(&r.id);
        }
        // A connection that carried TLS is a session, not an "other
        // connection", should the analysis also report it as a flow.
        let tls_streams: std::collections::HashSet<u64> = rows.iter().map(|r| r.stream).collect();
        let before = self.flows.len();
        self.flows.retain(|id, _| !tls_streams.contains(id));
        self.flow_details.retain(|id, _| !tls_streams.contains(id));
        self.flows_seen -= (before - self.flows.len()) as u64;
        let mut flows: Vec<FlowRow> = self.flows.into_values().collect();
        for f in &mut flows {
            f.detailed = self.flow_details.contains_key(&f.stream);
        }
        let details: Vec<SessionDetail> = self.details.into_values().map(|(_, d)| d).collect();
        let flow_details: Vec<FlowDetail> =
            self.flow_details.into_values().map(|(_, d)| d).collect();
        let totals = Totals {
            sessions: self.sessions,
            flows: self.flows_seen,
            listed_sessions: rows.len() as u64,
            detailed_sessions: details.len() as u64,
            listed_flows: flows.len() as u64,
            detailed_flows: flow_details.len() as u64,
            sessions_without_details: (rows.len() - details.len()) as u64,
            sessions_not_listed: self.sessions - rows.len() as u64,
            flows_not_listed: self.flows_seen - flows.len() as u64,
            detail_budget_reached: self.budget_reached,
            diagnostics_not_shown: self.diagnostics_seen - self.diagnostics.len() as u64,
            decrypted: self.decrypted,
        };
        let ui = SCRIPT_LABELS.iter().map(|&k| (k, explain::label(lang, k))).collect();
        Report {
            format: FORMAT,
            version: FORMAT_VERSION,
            generator: format!("tlsscope {}", env!("CARGO_PKG_VERSION")),
            generated: rfc3339(now),
            lang: lang.code(),
            capture: self.settings.capture,
            capture_start: self.start.map(rfc3339),
            limits: self.settings.limits,
            totals,
            stats: Stats {
                versions: self.versions.top(),
                suites: self.suites.top(),
                server_names: self.names.top(),
                decryption: self.status.top(),
            },
            ui,
            texts: self.texts,
            sessions: rows,
            flows,
            details,
            flow_details,
            diagnostics: self.diagnostics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_text_when_printable_and_hex_otherwise() {
        assert_eq!(DataOut::of(b"Hello World!\r\n").text.as_deref(), Some("Hello World!\r\n"));
        assert_eq!(DataOut::of(b"\x00\x01").hex.as_deref(), Some("0001"));
        assert_eq!(DataOut::of(b"\xff").hex.as_deref(), Some("ff"));
        assert_eq!(DataOut::of(b"a\x1bb").hex.as_deref(), Some("611b62"));
        assert_eq!(DataOut::of("日本".as_bytes()).text.as_deref(), Some("日本"));
    }

    #[test]
    fn a_cut_body_stays_text_at_a_character_boundary() {
        let b = Body { bytes: "aé".repeat(10).into_bytes(), len: 30, ..Body::default() };
        let out = body(&b, 2);
        assert_eq!(out.data.text.as_deref(), Some("a"));
        assert_eq!(out.shown, 1);
        assert!(out.cut);
        let whole = body(&b, 100);
        assert!(!whole.cut);
        assert_eq!(whole.shown, 30);
    }

    #[test]
    fn counters_keep_a_bounded_number_of_keys() {
        let mut c = Counter::default();
        for i in 0..STATS_KEYS + 50 {
            c.add(&format!("k{i}"));
        }
        c.add("k0");
        assert_eq!(c.0.len(), STATS_KEYS + 1);
        let top = c.top();
        assert_eq!(top.len(), STATS_SHOWN);
        assert_eq!(top[0], Count { name: "(other)".into(), count: 50 });
        assert_eq!(top[1], Count { name: "k0".into(), count: 2 });
    }
}
