//! TLS sessions: the per-connection state machine that turns records and
//! handshake messages into the session model (endpoints, version, suite,
//! SNI, ALPN, group, the messages in order with frames and direction,
//! certificates, alerts, JA3/JA4, resumption), and recognises connections
//! that are not TLS at all.
//!
//! [`Analyzer`] is a [`StreamSink`] for the TCP reassembler; it hands each
//! finished [`Session`] and each plain [`Flow`] to an [`Output`]. A session
//! is finished when its connection ends or a new handshake starts on it, so
//! memory is bounded by open connections, not by the capture, and what they
//! hold is counted against the run's [`Budget`].

use std::net::SocketAddr;

use crate::budget::{Budget, Cut, HeapSize, ITEM_COST, Lease};
use crate::diag::{Diagnostic, Location, Severity};
use crate::flow::{Chunk, ConnInfo, Dir, EndReason, PerDir, StreamSink};
use crate::http::{Exchange, H2FrameInfo, HttpConn, HttpEvent, HttpOptions, Missing, Protocol};
use crate::span::Pieces;
use crate::time::Timestamp;
use crate::tls::crypto::{self, Crypto, Keyring};
use crate::tls::handshake::{
    self, Assembler, Body, ClientHello, Ctx, Message, ServerHello, ServerParams,
};
use crate::tls::record::{self, Deframer, Event, Kind, content};
use crate::tls::{fingerprint, registry, x509};
use crate::tree::Tree;

/// What to keep while analysing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Build field trees for handshake messages (text/HTML output).
    pub trees: bool,
    /// Keep every handshake message's bytes (hex views, verification).
    pub keep_messages: bool,
    /// Decrypt with the secrets in [`Analyzer::keys`] (and any the capture
    /// brings): application data record bodies are kept for it.
    pub decrypt: bool,
    /// Decode HTTP in decrypted application data and in plain flows.
    pub http: bool,
}

/// HTTP exchanges kept per session or flow: a long-lived HTTP/2 connection
/// can carry millions; past this many they are counted, not kept.
pub const MAX_EXCHANGES: usize = 1000;

/// HTTP/2 frames kept per session or flow for display.
pub const MAX_H2_FRAMES: usize = 200;

/// Raw (non-HTTP) decrypted bytes kept per session for display.
pub const MAX_RAW_PREVIEW: usize = 4096;

/// What HTTP decoding found in a session or a plain flow.
#[derive(Clone, Debug, Default)]
pub struct HttpFound {
    /// Request/response pairs (at most [`MAX_EXCHANGES`]).
    pub exchanges: Vec<Exchange>,
    /// Exchanges not kept.
    pub dropped: u64,
    /// The first HTTP/2 frames (at most [`MAX_H2_FRAMES`]).
    pub h2_frames: Vec<H2FrameInfo>,
    /// HTTP/2 frames seen in all.
    pub h2_frame_count: u64,
    /// The first bytes of a protocol that is not HTTP, per direction.
    pub raw: PerDir<Vec<u8>>,
    /// Exchanges not kept because the memory budget was used up (counted
    /// in `dropped` too).
    pub dropped_for_memory: u64,
    /// What the lists hold besides the exchanges (which count their own),
    /// against the run's memory budget.
    held: Lease,
}

impl HttpFound {
    /// Nothing found yet; what will be kept counts against `budget`.
    fn new(budget: &Budget) -> Self {
        HttpFound { held: budget.lease(), ..HttpFound::default() }
    }

    fn event(&mut self, ev: HttpEvent, diags: &mut Vec<Diagnostic>) {
        match ev {
            HttpEvent::Exchange(x) => {
                if self.exchanges.len() >= MAX_EXCHANGES {
                    self.dropped = self.dropped.saturating_add(1);
                } else if self.held.try_grow(ITEM_COST) {
                    self.exchanges.push(*x);
                } else {
                    // Its own bytes are already counted: dropping it is
                    // what frees them.
                    self.dropped = self.dropped.saturating_add(1);
                    self.dropped_for_memory = self.dropped_for_memory.saturating_add(1);
                    self.held.budget().cut(Cut::Exchange);
                    if self.dropped_for_memory == 1 {
                        let frame = x.end_frame.or(x.request_frame).unwrap_or(0);
                        push_capped(
                            diags,
                            budget_diagnostic(self.held.budget(), frame, "HTTP exchanges"),
                        );
                    }
                }
            }
            HttpEvent::H2Frame(mut f) => {
                self.h2_frame_count = self.h2_frame_count.saturating_add(1);
                if self.h2_frames.len() < MAX_H2_FRAMES
                    && self.held.try_grow(ITEM_COST.saturating_add(f.summary.capacity()))
                {
                    if !f.tree.is_empty() && !self.held.try_grow(f.tree.heap_size()) {
                        f.tree = Vec::new();
                        self.held.budget().cut(Cut::Details);
                    }
                    self.h2_frames.push(f);
                }
            }
            HttpEvent::Raw { dir, data, .. } => {
                let r = &mut self.raw[dir];
                let room = MAX_RAW_PREVIEW.saturating_sub(r.len());
                let keep = data.get(..room.min(data.len())).unwrap_or_default();
                if self.held.try_grow(keep.len()) {
                    r.extend_from_slice(keep);
                }
            }
            HttpEvent::Diagnostic(d) => push_capped(diags, d),
        }
    }
}

/// Entries of a session's message list: a real session has a dozen
/// handshake messages and a few alerts; a hostile one can send a record
/// of each kind in every few bytes.
pub const MAX_MESSAGES: usize = 10_000;

/// The heap bytes of a parsed handshake message kept for display: its
/// bytes, field tree and parsed body (estimated as its bytes again).
fn message_size(m: &Message) -> usize {
    std::mem::size_of::<Message>()
        .saturating_add(m.bytes.capacity().saturating_mul(2))
        .saturating_add(m.fields.heap_size())
}

/// Diagnostics kept per session or flow: a hostile capture can make a
/// problem of every record; the first ones say what is wrong.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Adds `d` unless `diags` holds [`MAX_DIAGNOSTICS`] already.
fn push_capped(diags: &mut Vec<Diagnostic>, d: Diagnostic) {
    if diags.len() < MAX_DIAGNOSTICS {
        diags.push(d);
    }
}

/// Says that `what` were not kept because the memory budget is used up.
fn budget_diagnostic(budget: &Budget, frame: u64, what: &str) -> Diagnostic {
    Diagnostic::new(
        Severity::Warning,
        "memory.budget",
        Location::frame(frame),
        format!(
            "from here on {what} are not kept: the memory budget of {} MiB is used up \
             (--max-memory raises it)",
            budget.limit().unwrap_or(0) >> 20
        ),
    )
}

/// How a message in the session's list was carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// In the clear.
    Plain,
    /// Encrypted, and not decrypted.
    Encrypted,
    /// Encrypted, and decrypted.
    Decrypted,
}

/// One entry of a session's message list, in wire order.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The frame with the message's last byte.
    pub frame: u64,
    /// When.
    pub ts: Timestamp,
    /// Who sent it.
    pub from: Dir,
    /// The name: a handshake message type in UpperCamelCase
    /// (`ClientHello`, `HelloRetryRequest`...), `ChangeCipherSpec`,
    /// `Alert`, `EncryptedHandshakeMessage`, `Heartbeat`.
    pub name: &'static str,
    /// Whether it was encrypted.
    pub protection: Protection,
    /// Bytes of the message (or of the record, for encrypted ones).
    pub len: usize,
    /// The parsed handshake message, when kept (trees or bytes wanted).
    pub message: Option<Box<Message>>,
    /// For an alert: level and description.
    pub alert: Option<(u8, u8)>,
    /// The capture ended inside the message: `len` bytes of this many
    /// were seen.
    pub truncated: Option<usize>,
}

impl Entry {
    /// The entry of a whole record from `from` (its length the record
    /// body's).
    fn of_record(
        rec: &record::Record<'_>,
        from: Dir,
        name: &'static str,
        protection: Protection,
    ) -> Entry {
        Entry::new(rec.frame, rec.ts, from, name, protection, usize::from(rec.header.len))
    }

    /// An entry without a parsed message, alert or truncation.
    pub fn new(
        frame: u64,
        ts: Timestamp,
        from: Dir,
        name: &'static str,
        protection: Protection,
        len: usize,
    ) -> Entry {
        Entry {
            frame,
            ts,
            from,
            name,
            protection,
            len,
            message: None,
            alert: None,
            truncated: None,
        }
    }
}

/// An alert seen in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Frame.
    pub frame: u64,
    /// Who sent it.
    pub from: Dir,
    /// Level and description, if it was readable (not encrypted).
    pub level_description: Option<(u8, u8)>,
}

/// Application data counted per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// application_data records.
    pub records: u64,
    /// Their bytes (record bodies, encrypted).
    pub bytes: u64,
}

/// An application data record, for display (the first few per session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppRecord {
    /// The frame with its last byte.
    pub frame: u64,
    /// When.
    pub ts: Timestamp,
    /// Who sent it.
    pub from: Dir,
    /// Body length (ciphertext).
    pub len: u16,
}

/// How many application data records a session keeps for display.
pub const APP_RECORDS_KEPT: usize = 6;

/// How a session was resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumption {
    /// TLS 1.2 abbreviated handshake with the session ID.
    SessionId,
    /// TLS 1.2 abbreviated handshake with a session ticket.
    Ticket,
    /// TLS 1.3 pre-shared key.
    Psk,
}

/// One TLS handshake and what followed it.
#[derive(Clone, Debug)]
pub struct Session {
    /// Number of the session in the capture (from 0).
    pub id: u64,
    /// The TCP connection (tshark's tcp.stream).
    pub conn: u64,
    /// Number of this session on its connection (renegotiations count up).
    pub index: u32,
    /// The client (the side that sent the ClientHello).
    pub client: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// First frame of the session.
    pub first_frame: u64,
    /// When it started.
    pub start: Timestamp,
    /// The ClientHello (the second one after a HelloRetryRequest).
    pub client_hello: Option<Box<ClientHello>>,
    /// JA3 text and hash of the first ClientHello.
    pub ja3: Option<(String, String)>,
    /// JA4 of the first ClientHello.
    pub ja4: Option<String>,
    /// The ServerHello (not the HelloRetryRequest).
    pub server_hello: Option<Box<ServerHello>>,
    /// A HelloRetryRequest came first.
    pub hello_retry: bool,
    /// The key exchange group: from key_share (TLS 1.3) or the
    /// ServerKeyExchange (TLS 1.2).
    pub named_group: Option<u16>,
    /// Certificates the server sent, leaf first.
    pub certificates: Vec<x509::Summary>,
    /// Their DER.
    pub certificate_ders: Vec<Vec<u8>>,
    /// The messages, in wire order (the first [`MAX_MESSAGES`]).
    pub messages: Vec<Entry>,
    /// Messages and records not listed, past [`MAX_MESSAGES`].
    pub messages_not_listed: u64,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// Application data per direction.
    pub traffic: PerDir<Traffic>,
    /// The first application data records (at most [`APP_RECORDS_KEPT`]).
    pub app_records: Vec<AppRecord>,
    /// How it was resumed, if it was.
    pub resumed: Option<Resumption>,
    /// Problems found (the first [`MAX_DIAGNOSTICS`]).
    pub diagnostics: Vec<Diagnostic>,
    /// Problems found past those.
    pub diagnostics_not_kept: u64,
    /// The ALPN protocol from EncryptedExtensions (TLS 1.3, decrypted).
    pub encrypted_extensions_alpn: Option<Vec<u8>>,
    /// How decryption went (set when the session ends).
    pub decryption: Option<Decryption>,
    /// HTTP in the decrypted application data.
    pub http: HttpFound,
    /// The handshake messages so far, in order (for the extended master
    /// secret and the Finished checks); at most [`MAX_TRANSCRIPT`] bytes.
    pub transcript: Vec<Vec<u8>>,
    transcript_bytes: usize,
    master_remembered: bool,
    /// What it holds (messages, certificates, transcript), against the
    /// run's memory budget; its HTTP exchanges count their own.
    held: Lease,
    /// Something was not kept for the memory budget (said once).
    budget_noted: bool,
}

/// Early data bytes held per connection until the ServerHello says how to
/// decrypt them: servers accept at most their max_early_data_size, commonly
/// 16 KiB; more than this is not early data a real server would read.
pub const MAX_EARLY_HELD: usize = 256 << 10;

/// The handshake bytes a session keeps for its transcript: a full
/// handshake is a few KiB; a long certificate chain some tens.
pub const MAX_TRANSCRIPT: usize = 1 << 20;

/// How decryption went for a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decryption {
    /// ok, partial or none.
    pub status: crypto::Status,
    /// Why, when not ok.
    pub reason: Option<String>,
    /// Application data bytes decrypted per direction.
    pub app_bytes: PerDir<u64>,
    /// Protected records and how many were decrypted, per direction.
    pub records: PerDir<(u64, u64)>,
    /// Records lost in gaps of the capture, per direction.
    pub lost: PerDir<u64>,
    /// The TLS 1.2 master secret, when known (for the explain checks).
    pub tls12: Option<crypto::Tls12Keys>,
    /// The TLS 1.3 handshake traffic secrets, when known (for the checks).
    pub tls13: Option<crypto::Tls13Secrets>,
}

impl Session {
    /// Adds an entry to the message list. Its parsed message (bytes,
    /// field tree) is kept as far as the memory budget allows; past
    /// [`MAX_MESSAGES`] entries are counted, not listed.
    fn list(&mut self, mut e: Entry) {
        if self.messages.len() >= MAX_MESSAGES {
            self.messages_not_listed = self.messages_not_listed.saturating_add(1);
            if self.messages_not_listed == 1 {
                self.diag(Diagnostic::new(
                    Severity::Warning,
                    "tls.limit.messages",
                    Location::frame(e.frame),
                    format!(
                        "over {MAX_MESSAGES} handshake messages and other records in one \
                         session: the rest are counted, not listed"
                    ),
                ));
            }
            return;
        }
        if let Some(m) = &e.message
            && !self.held.try_grow(message_size(m))
        {
            e.message = None;
            self.cut(Cut::Details, e.frame, "message details (bytes, field trees)");
        }
        self.held.grow(std::mem::size_of::<Entry>());
        self.messages.push(e);
    }

    /// Something of the session was not kept for the memory budget:
    /// counted, and said once.
    fn cut(&mut self, kind: Cut, frame: u64, what: &str) {
        self.held.budget().cut(kind);
        if !self.budget_noted {
            self.budget_noted = true;
            let d = budget_diagnostic(self.held.budget(), frame, what);
            self.diag(d);
        }
    }

    /// Adds a problem found (past [`MAX_DIAGNOSTICS`], only counted).
    fn diag(&mut self, d: Diagnostic) {
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            self.diagnostics.push(d);
        } else {
            self.diagnostics_not_kept = self.diagnostics_not_kept.saturating_add(1);
        }
    }

    fn diags(&mut self, ds: Vec<Diagnostic>) {
        for d in ds {
            self.diag(d);
        }
    }

    /// The negotiated version, if the ServerHello was seen.
    pub fn version(&self) -> Option<u16> {
        self.server_hello.as_ref().map(|sh| sh.negotiated_version())
    }

    /// The chosen cipher suite.
    pub fn cipher_suite(&self) -> Option<u16> {
        self.server_hello.as_ref().map(|sh| sh.cipher_suite)
    }

    /// server_name from the ClientHello.
    pub fn server_name(&self) -> Option<&str> {
        self.client_hello.as_ref().and_then(|ch| ch.hello.server_name.as_deref())
    }

    /// The ALPN protocol the server chose.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.server_hello
            .as_ref()
            .and_then(|sh| sh.hello.alpn.first().map(Vec::as_slice))
            .or(self.encrypted_extensions_alpn.as_deref())
    }

    /// Whether this is TLS 1.3.
    pub fn is_tls13(&self) -> bool {
        self.version() == Some(0x0304)
    }
}

impl Session {
    fn new(
        id: u64,
        info: &ConnInfo,
        index: u32,
        swapped: bool,
        frame: u64,
        ts: Timestamp,
        budget: &Budget,
    ) -> Self {
        let mut held = budget.lease();
        held.grow(std::mem::size_of::<Session>().saturating_add(ITEM_COST));
        let (client, server) =
            if swapped { (info.server, info.client) } else { (info.client, info.server) };
        Session {
            id,
            conn: info.id,
            index,
            client,
            server,
            first_frame: frame,
            start: ts,
            client_hello: None,
            ja3: None,
            ja4: None,
            server_hello: None,
            hello_retry: false,
            named_group: None,
            certificates: Vec::new(),
            certificate_ders: Vec::new(),
            messages: Vec::new(),
            messages_not_listed: 0,
            alerts: Vec::new(),
            traffic: PerDir::default(),
            app_records: Vec::new(),
            resumed: None,
            diagnostics: Vec::new(),
            diagnostics_not_kept: 0,
            encrypted_extensions_alpn: None,
            decryption: None,
            http: HttpFound::new(budget),
            transcript: Vec::new(),
            transcript_bytes: 0,
            master_remembered: false,
            held,
            budget_noted: false,
        }
    }
}

/// A TCP connection that did not carry TLS.
#[derive(Clone, Debug)]
pub struct Flow {
    /// The TCP connection.
    pub info: ConnInfo,
    /// What each direction started with (up to 64 bytes).
    pub preview: PerDir<Vec<u8>>,
    /// Whether the first bytes look like HTTP.
    pub http: bool,
    /// What HTTP decoding found (with [`Options::http`]).
    pub decoded: HttpFound,
    /// Problems the HTTP decoder reported.
    pub diagnostics: Vec<Diagnostic>,
}

/// Receives what the analyzer finds.
pub trait Output {
    /// A finished TLS session.
    fn session(&mut self, session: Session);
    /// A finished connection that was not TLS.
    fn flow(&mut self, flow: Flow);
    /// A problem not tied to one session.
    fn diagnostic(&mut self, diag: Diagnostic);
    /// A session began: the one that will be reported with this
    /// [`Session::id`] (a connection split over threads numbers its
    /// sessions in the order they began over the whole capture).
    fn session_started(&mut self, _id: u64) {}
    /// The capture's first frame came at `first_frame` (times are shown
    /// relative to it); told before any session or flow.
    fn start(&mut self, _first_frame: Timestamp) {}
    /// Decrypted application data of `session`, from `from`, in order.
    fn plaintext(
        &mut self,
        _session: &Session,
        _from: Dir,
        _data: &[u8],
        _frame: u64,
        _ts: Timestamp,
    ) {
    }
}

/// Where a direction's records stand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Epoch {
    /// Records are in the clear.
    #[default]
    Plain,
    /// Records are encrypted (after ChangeCipherSpec in TLS 1.2, after
    /// the ServerHello in TLS 1.3).
    Encrypted,
}

/// A direction's record and handshake layers.
#[derive(Debug, Default)]
struct Side {
    deframer: Deframer,
    assembler: Assembler,
    /// Handshake messages inside decrypted records.
    decrypted: Assembler,
    epoch: Epoch,
    /// Encrypted records seen in this direction since the epoch changed,
    /// decrypted or not (TLS 1.3 without keys: tells the handshake flight
    /// from application data).
    encrypted_records: u64,
    /// This side's Finished was read (decrypted): what it sends next is
    /// application data, whether or not it can be decrypted.
    finished: bool,
    /// The HTTP decoder was told that this side's application data is
    /// missing from here (records not decrypted), and no decrypted record
    /// came since.
    http_missing: bool,
}

/// Per-connection state, kept by the TCP reassembler.
#[derive(Debug, Default)]
pub struct ConnState {
    sides: PerDir<Side>,
    session: Option<Box<Session>>,
    /// The current session's decryption state.
    crypto: Option<Box<Crypto>>,
    /// HTTP decoding of the decrypted (or plain) application data.
    http: Option<Box<HttpConn>>,
    /// What it found, for a plain flow.
    plain_http: HttpFound,
    plain_diags: Vec<Diagnostic>,
    /// Scratch space for decrypting a record in place: reused, at most a
    /// record.
    scratch: Vec<u8>,
    sessions: u32,
    /// The ClientHello came from the side the TCP layer called server.
    swapped: bool,
    not_tls: bool,
    /// Directions that ended (FIN after all data, or RST).
    ended: PerDir<bool>,
    /// TLS 1.3 0-RTT: the client's records sent before the ServerHello
    /// came, held until the keys are known (at most [`MAX_EARLY_HELD`]).
    early: Vec<(record::Header, Vec<u8>, u64, Timestamp)>,
    early_bytes: usize,
    /// Everything was reported when both directions ended; what comes
    /// after (a late retransmission) is ignored.
    done: bool,
    /// Its buffers (records and messages split over segments, early data,
    /// scratch space), counted against the run's memory budget whatever
    /// the limit: the analysis cannot go on without them.
    held: Lease,
}

impl ConnState {
    /// Bytes of its buffers.
    fn buffered(&self) -> usize {
        let sides: usize = self
            .sides
            .0
            .iter()
            .map(|s| {
                s.deframer
                    .buffered()
                    .saturating_add(s.assembler.buffered())
                    .saturating_add(s.decrypted.buffered())
            })
            .sum();
        std::mem::size_of::<ConnState>()
            .saturating_add(sides)
            .saturating_add(self.early_bytes)
            .saturating_add(self.scratch.capacity())
    }

    /// Brings the count of its buffers up to date.
    fn recount(&mut self) {
        if self.held.budget().limit().is_some() {
            let n = self.buffered();
            self.held.set(n);
        }
    }
}

/// The TLS analysis stage: a sink for TCP reassembly.
pub struct Analyzer<O: Output> {
    opts: Options,
    /// Where results go.
    pub out: O,
    /// Secrets for decryption: key logs, RSA keys, and what earlier sessions
    /// of the capture taught (resumption).
    pub keys: Keyring,
    next_session: u64,
    /// JA3/JA4 of recently seen ClientHello shapes.
    fingerprints: fingerprint::Cache,
    /// Recently seen certificates, decoded: most sessions of a capture
    /// show the same few, and decoding one costs far more than comparing.
    certificates: Vec<(Vec<u8>, x509::Summary)>,
    /// What sessions, connections and HTTP decoders hold counts against
    /// this.
    budget: Budget,
}

/// How many decoded certificates the analyzer remembers.
const CACHED_CERTIFICATES: usize = 16;

impl<O: Output> Analyzer<O> {
    /// An analyzer writing to `out`.
    pub fn new(opts: Options, out: O) -> Self {
        Analyzer {
            opts,
            out,
            keys: Keyring::default(),
            next_session: 0,
            fingerprints: fingerprint::Cache::default(),
            certificates: Vec::new(),
            budget: Budget::unlimited(),
        }
    }

    /// Counts what the analysis holds against `budget` (set before any
    /// connection is opened).
    pub fn with_budget(mut self, budget: &Budget) -> Self {
        self.budget = budget.clone();
        self.keys.keylog.set_budget(budget);
        self
    }

    /// The budget what it holds counts against.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// [`x509::summarize`], remembering the last few certificates.
    fn summarize(&mut self, der: &[u8]) -> Result<x509::Summary, String> {
        if let Some(i) = self.certificates.iter().position(|(d, _)| d.as_slice() == der) {
            let hit = self.certificates.remove(i);
            let sum = hit.1.clone();
            self.certificates.insert(0, hit);
            return Ok(sum);
        }
        let sum = x509::summarize(der)?;
        self.certificates.truncate(CACHED_CERTIFICATES - 1);
        self.certificates.insert(0, (der.to_vec(), sum.clone()));
        Ok(sum)
    }

    /// Sessions started so far.
    pub fn sessions(&self) -> u64 {
        self.next_session
    }

    /// How decryption went for a session that ends: `None` when no
    /// secrets were given at all (no key log, no RSA key, none in the
    /// capture), so nothing was tried.
    fn decryption(&self, c: Option<&Crypto>, s: &Session) -> Option<Decryption> {
        if !self.opts.decrypt && self.keys.is_empty() {
            return None;
        }
        Some(summary(c?, s))
    }

    fn start_session(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        swapped: bool,
        frame: u64,
        ts: Timestamp,
    ) {
        let old_crypto = st.crypto.take();
        if let Some(mut old) = st.session.take() {
            old.decryption = self.decryption(old_crypto.as_deref(), &old);
            if let Some(mut h) = st.http.take() {
                let mut diags = Vec::new();
                let found = &mut old.http;
                h.finish(&mut |ev| found.event(ev, &mut diags));
                old.diags(diags);
            }
            self.out.session(*old);
        }
        // A renegotiation happens under the old keys, which stay in use
        // until the new handshake's ChangeCipherSpec.
        let mut crypto = Box::<Crypto>::default();
        if let Some(mut old) = old_crypto {
            crypto.inherit(&mut old);
        }
        st.crypto = Some(crypto);
        st.swapped = swapped;
        let s =
            Session::new(self.next_session, info, st.sessions, swapped, frame, ts, &self.budget);
        self.out.session_started(self.next_session);
        self.next_session = self.next_session.saturating_add(1);
        st.sessions = st.sessions.saturating_add(1);
        st.session = Some(Box::new(s));
        let carried = st.crypto.as_ref().is_some_and(|c| c.has_keys());
        for side in &mut st.sides.0 {
            if !carried {
                side.epoch = Epoch::Plain;
            }
            side.encrypted_records = 0;
            side.finished = false;
        }
    }

    /// The session records go to; started if there is none yet (the
    /// capture began after the ClientHello).
    fn session<'a>(
        &mut self,
        info: &ConnInfo,
        st: &'a mut ConnState,
        frame: u64,
        ts: Timestamp,
    ) -> &'a mut Session {
        if st.session.is_none() {
            self.start_session(info, st, false, frame, ts);
            if let Some(s) = st.session.as_mut() {
                s.diag(Diagnostic::new(
                    Severity::Warning,
                    "tls.no_client_hello",
                    Location::frame(frame),
                    "the ClientHello is not in the capture: the session's start was missed",
                ));
            }
        }
        st.session.get_or_insert_with(|| {
            Box::new(Session::new(u64::MAX, info, 0, false, frame, ts, &self.budget))
        })
    }

    /// A record from `dir` was cut by a gap: if it was protected, it is
    /// one the decryption status must count as lost.
    fn record_lost(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        dir: Dir,
        header: &record::Header,
        frame: u64,
        ts: Timestamp,
    ) {
        if !Self::protected(st, dir, header.content_type) {
            return;
        }
        let role = Self::role(st, dir);
        self.session(info, st, frame, ts);
        if let Some(c) = st.crypto.as_deref_mut() {
            c.record_cut(role, frame);
        }
    }

    /// Whether a record of `content_type` from `dir` is protected: sent
    /// after the direction switched to encryption, or application data
    /// (encrypted whenever it is sent, so also in a session whose start
    /// the capture missed).
    fn protected(st: &ConnState, dir: Dir, content_type: u8) -> bool {
        content_type != content::CHANGE_CIPHER_SPEC
            && (st.sides[dir].epoch == Epoch::Encrypted
                || content_type == content::APPLICATION_DATA)
    }

    /// The connection ended inside a record of `dir`: a protected one is
    /// lost to decryption; a handshake message in the clear is listed as
    /// truncated (an unfinished ClientHello is still the start of a TLS
    /// session, not "not TLS").
    fn unfinished_record(&mut self, info: &ConnInfo, st: &mut ConnState, dir: Dir) {
        let deframer = std::mem::take(&mut st.sides[dir].deframer);
        if let Some(u) = deframer.unfinished() {
            let (frame, ts) = (info.last_frame, info.last);
            let header = u.header;
            let plain = st.sides[dir].epoch == Epoch::Plain;
            let msg_type = if header.content_type == content::HANDSHAKE && plain {
                u.body.first().copied()
            } else {
                None
            };
            if msg_type == Some(handshake::kind::CLIENT_HELLO) {
                self.start_session(info, st, dir == Dir::ServerToClient, u.first_frame, u.first_ts);
            }
            self.record_lost(info, st, dir, &header, frame, ts);
            let role = Self::role(st, dir);
            let s = self.session(info, st, frame, ts);
            let total = record::HEADER_LEN + usize::from(header.len);
            let seen = record::HEADER_LEN.saturating_add(u.seen);
            if let Some(t) = msg_type {
                let name = registry::handshake_type_camel(t).unwrap_or("HandshakeMessage");
                s.list(Entry {
                    truncated: Some(total),
                    ..Entry::new(u.first_frame, u.first_ts, role, name, Protection::Plain, seen)
                });
            }
            s.diag(Diagnostic::new(
                Severity::Warning,
                "tls.truncated",
                Location::frame(frame),
                format!(
                    "the stream ends inside a {} record from the {} at stream offset {}: only \
                     {seen} of its {total} bytes were captured",
                    registry::content_type(header.content_type).unwrap_or("TLS"),
                    role.sender(),
                    u.offset
                ),
            ));
        }
        st.sides[dir].deframer = deframer;
    }

    /// Which role sent in `dir`, given which side sent the ClientHello.
    fn role(st: &ConnState, dir: Dir) -> Dir {
        if st.swapped { dir.reverse() } else { dir }
    }

    fn record(&mut self, info: &ConnInfo, st: &mut ConnState, dir: Dir, rec: &record::Record<'_>) {
        let role = Self::role(st, dir);
        let from_server = role == Dir::ServerToClient;
        if Self::protected(st, dir, rec.header.content_type) {
            self.session(info, st, rec.frame, rec.ts);
            if let Some(c) = st.crypto.as_deref_mut() {
                c.protected(role);
            }
            if st.sides[dir].epoch == Epoch::Encrypted {
                st.sides[dir].encrypted_records = st.sides[dir].encrypted_records.saturating_add(1);
            }
        }
        if st.sides[dir].epoch == Epoch::Encrypted
            && rec.header.content_type != content::CHANGE_CIPHER_SPEC
            && self.decrypt_record(info, st, dir, rec)
        {
            return;
        }
        // 0-RTT: client records between its ClientHello and the ServerHello
        // are early data; keep them until the keys are known.
        if rec.header.content_type == content::APPLICATION_DATA
            && role == Dir::ClientToServer
            && let Some(body) = rec.body
            && let Some(s) = st.session.as_deref()
            && s.server_hello.is_none()
            && s.client_hello.as_ref().is_some_and(|ch| ch.hello.early_data)
            && st.early_bytes.saturating_add(body.len()) <= MAX_EARLY_HELD
            && (self.opts.decrypt || !self.keys.is_empty())
        {
            st.early_bytes = st.early_bytes.saturating_add(body.len());
            st.early.push((rec.header, body.to_vec(), rec.frame, rec.ts));
            return;
        }
        match rec.header.content_type {
            content::HANDSHAKE => {
                let epoch = st.sides[dir].epoch;
                if epoch == Epoch::Plain {
                    let body = rec.body.unwrap_or_default();
                    let mut msgs: Vec<(Vec<u8>, Pieces)> = Vec::new();
                    let mut too_large = Vec::new();
                    st.sides[dir].assembler.push(
                        body,
                        rec.pieces,
                        record::HEADER_LEN as u32,
                        &mut |m| msgs.push((m.bytes.to_vec(), m.pieces.clone())),
                        &mut |n| too_large.push(n),
                    );
                    for n in too_large {
                        let s = self.session(info, st, rec.frame, rec.ts);
                        s.diag(Diagnostic::new(
                            Severity::Warning,
                            "tls.limit.message",
                            Location::frame(rec.frame),
                            format!("a handshake message of {n} bytes is over the {} byte limit and was skipped", handshake::MAX_MESSAGE),
                        ));
                    }
                    for (bytes, pieces) in msgs {
                        self.message(
                            info,
                            st,
                            dir,
                            bytes,
                            pieces,
                            rec.frame,
                            rec.ts,
                            Protection::Plain,
                        );
                    }
                } else {
                    let s = self.session(info, st, rec.frame, rec.ts);
                    s.list(Entry::of_record(
                        rec,
                        role,
                        "EncryptedHandshakeMessage",
                        Protection::Encrypted,
                    ));
                }
            }
            content::CHANGE_CIPHER_SPEC => {
                let s = self.session(info, st, rec.frame, rec.ts);
                // TLS 1.3's ChangeCipherSpec (also the one a client sends
                // after a HelloRetryRequest) changes nothing.
                let tls13 = s.is_tls13() || (s.hello_retry && s.server_hello.is_none());
                s.list(Entry::of_record(rec, role, "ChangeCipherSpec", Protection::Plain));
                if !tls13 {
                    // TLS 1.2: everything after this is under the new keys.
                    // In TLS 1.3 the record is only for middleboxes.
                    if let Some(c) = st.crypto.as_mut() {
                        c.change_cipher_spec(role);
                    }
                    st.sides[dir].epoch = Epoch::Encrypted;
                    st.sides[dir].encrypted_records = 0;
                    if from_server
                        && let Some(s) = st.session.as_mut()
                        && s.resumed.is_none()
                        && !s
                            .messages
                            .iter()
                            .any(|m| m.from == Dir::ServerToClient && m.name == "Certificate")
                        && !s
                            .messages
                            .iter()
                            .any(|m| m.name == "ServerKeyExchange" || m.name == "ServerHelloDone")
                        && s.server_hello.is_some()
                    {
                        // An abbreviated handshake: the server went straight
                        // from ServerHello to ChangeCipherSpec.
                        let ticket = s
                            .client_hello
                            .as_ref()
                            .is_some_and(|ch| ch.hello.session_ticket.is_some_and(|n| n > 0));
                        s.resumed =
                            Some(if ticket { Resumption::Ticket } else { Resumption::SessionId });
                    }
                }
            }
            content::ALERT => {
                let epoch = st.sides[dir].epoch;
                let s = self.session(info, st, rec.frame, rec.ts);
                let body = rec.body.unwrap_or_default();
                let readable = epoch == Epoch::Plain && body.len() == 2;
                let ld = readable.then(|| {
                    (body.first().copied().unwrap_or(0), body.get(1).copied().unwrap_or(0))
                });
                s.alerts.push(Alert { frame: rec.frame, from: role, level_description: ld });
                s.list(Entry {
                    alert: ld,
                    ..Entry::of_record(
                        rec,
                        role,
                        "Alert",
                        if readable { Protection::Plain } else { Protection::Encrypted },
                    )
                });
            }
            content::APPLICATION_DATA => {
                let s = self.session(info, st, rec.frame, rec.ts);
                let tls13 = s.is_tls13();
                // This record is counted already (see above).
                let side_records = st.sides[dir].encrypted_records.saturating_sub(1);
                let other_records = st.sides[dir.reverse()].encrypted_records;
                let finished = st.sides[dir].finished;
                let s = self.session(info, st, rec.frame, rec.ts);
                // TLS 1.3 without keys: the server's records before the
                // client's first encrypted record are its handshake flight
                // (EncryptedExtensions .. Finished); the client's first one
                // is its Finished. Everything after is application data,
                // and so is everything after a Finished that was read.
                let handshake_flight = tls13
                    && !finished
                    && ((from_server && other_records == 0) || (!from_server && side_records == 0));
                if handshake_flight {
                    s.list(Entry::of_record(
                        rec,
                        role,
                        "EncryptedHandshakeMessage",
                        Protection::Encrypted,
                    ));
                } else {
                    let t = &mut s.traffic[role];
                    t.records = t.records.saturating_add(1);
                    t.bytes = t.bytes.saturating_add(u64::from(rec.header.len));
                    if s.app_records.len() < APP_RECORDS_KEPT {
                        s.app_records.push(AppRecord {
                            frame: rec.frame,
                            ts: rec.ts,
                            from: role,
                            len: rec.header.len,
                        });
                    }
                    self.http_missing(st, dir, rec);
                }
            }
            content::HEARTBEAT => {
                let s = self.session(info, st, rec.frame, rec.ts);
                s.list(Entry::of_record(rec, role, "Heartbeat", Protection::Plain));
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        dir: Dir,
        bytes: Vec<u8>,
        pieces: Pieces,
        frame: u64,
        ts: Timestamp,
        protection: Protection,
    ) {
        let msg_type = bytes.first().copied().unwrap_or(0);
        // A ClientHello starts a session unless it answers a HelloRetryRequest.
        if msg_type == handshake::kind::CLIENT_HELLO {
            let answers_retry = st.session.as_ref().is_some_and(|s| {
                s.hello_retry
                    && s.server_hello.is_none()
                    && s.messages.iter().filter(|m| m.name == "ClientHello").count() == 1
            });
            if !answers_retry {
                self.start_session(info, st, dir == Dir::ServerToClient, frame, ts);
            }
        }
        let role = Self::role(st, dir);
        let s = self.session(info, st, frame, ts);
        let sh = s.server_hello.as_deref();
        let ctx = Ctx {
            from_server: role == Dir::ServerToClient,
            version: sh.map(ServerHello::negotiated_version),
            legacy_version: sh.map(|h| h.version),
            cipher_suite: sh.map(|h| h.cipher_suite),
        };
        let mut tree = if self.opts.trees { Tree::on() } else { Tree::off() };
        let (body, error) = handshake::parse(&bytes, &ctx, &mut tree);
        if let Some(e) = &error {
            let name = registry::handshake_type_camel(msg_type).unwrap_or("handshake message");
            s.diag(Diagnostic::new(
                Severity::Warning,
                "tls.malformed",
                Location::frame(frame),
                format!("malformed {name} from the {}: {e}", role.sender()),
            ));
        }
        let mut tls13_now = false;
        match &body {
            Some(Body::ClientHello(ch)) => {
                if s.ja3.is_none() {
                    let (ja3, ja4) = self.fingerprints.get(ch);
                    s.ja3 = Some(ja3);
                    s.ja4 = Some(ja4);
                }
                s.client_hello = Some(ch.clone());
            }
            Some(Body::ServerHello(h)) => {
                if h.retry {
                    s.hello_retry = true;
                    s.named_group = h.hello.key_shares.first().map(|(g, _)| *g);
                } else {
                    if let Some((g, _)) = h.hello.key_shares.first() {
                        s.named_group = Some(*g);
                    }
                    if h.negotiated_version() == 0x0304 {
                        tls13_now = true;
                        if h.hello.psk_selected.is_some() {
                            s.resumed = Some(Resumption::Psk);
                        }
                    }
                    s.server_hello = Some(h.clone());
                }
            }
            Some(Body::Certificate(ders)) if role == Dir::ServerToClient => {
                if let Some(leaf) = ders.first() {
                    let subject = self.summarize(leaf).map(|sum| sum.subject).unwrap_or_default();
                    self.keys.note_server_certificate(leaf, &subject);
                }
                for der in ders {
                    match self.summarize(der) {
                        Ok(sum) => s.certificates.push(sum),
                        Err(e) => s.diag(Diagnostic::new(
                            Severity::Warning,
                            "tls.certificate",
                            Location::frame(frame),
                            format!(
                                "certificate {} could not be decoded: {e}",
                                s.certificates.len().saturating_add(1)
                            ),
                        )),
                    }
                    // Needed for the checks and the key exchange with an
                    // RSA key: counted whatever the limit (a message is at
                    // most handshake::MAX_MESSAGE bytes).
                    s.held.grow(der.len().saturating_mul(2).saturating_add(ITEM_COST));
                    s.certificate_ders.push(der.clone());
                }
            }
            Some(Body::ServerKeyExchange(ske)) => {
                if let ServerParams::Ecdhe { group, .. } = &ske.params {
                    s.named_group = Some(*group);
                }
            }
            Some(Body::EncryptedExtensions(h)) => {
                if let Some(a) = h.alpn.first() {
                    s.encrypted_extensions_alpn = Some(a.clone());
                }
            }
            _ => {}
        }
        if s.transcript_bytes.saturating_add(bytes.len()) <= MAX_TRANSCRIPT
            && msg_type != handshake::kind::KEY_UPDATE
        {
            s.transcript_bytes = s.transcript_bytes.saturating_add(bytes.len());
            s.held.grow(bytes.len().saturating_add(ITEM_COST));
            s.transcript.push(bytes.clone());
        }
        self.crypto_after_message(st, role, &body, frame);
        if matches!(&body, Some(Body::Finished(_))) {
            st.sides[dir].finished = true;
        }
        if matches!(&body, Some(Body::ServerHello(h)) if !h.retry) && !st.early.is_empty() {
            self.replay_early(info, st);
        }
        let Some(s) = st.session.as_deref_mut() else { return };
        let keep = self.opts.trees || self.opts.keep_messages;
        let len = bytes.len();
        let mut entry = Entry::new(frame, ts, role, "", protection, len);
        let message =
            Message { msg_type, bytes, pieces, frame, ts, body, error, fields: tree.finish() };
        entry.name = message.name();
        if keep {
            entry.message = Some(Box::new(message));
        }
        s.list(entry);
        if tls13_now {
            // From the ServerHello on, TLS 1.3 encrypts both directions.
            for side in &mut st.sides.0 {
                side.epoch = Epoch::Encrypted;
                side.encrypted_records = 0;
            }
        }
    }

    /// What a handshake message means for decryption: keys to look up,
    /// derive, switch or update.
    fn crypto_after_message(
        &mut self,
        st: &mut ConnState,
        role: Dir,
        body: &Option<Body>,
        frame: u64,
    ) {
        let (Some(s), Some(c)) = (st.session.as_deref_mut(), st.crypto.as_deref_mut()) else {
            return;
        };
        let ring = &mut self.keys;
        fn hello(s: &Session) -> Option<(&ClientHello, &ServerHello)> {
            Some((s.client_hello.as_deref()?, s.server_hello.as_deref()?))
        }
        match body {
            Some(Body::ServerHello(h)) if !h.retry => {
                let Some((ch, sh)) = hello(s) else { return };
                let info = crypto_hello(ch, sh);
                c.server_hello(ring, &info);
            }
            Some(Body::ClientKeyExchange(cke)) => {
                let Some((ch, sh)) = hello(s) else { return };
                let info = crypto_hello(ch, sh);
                let rsa = match cke {
                    handshake::ClientKeyExchange::Rsa(enc) => Some(enc.as_slice()),
                    _ => None,
                };
                let leaf = s.certificate_ders.first().map(Vec::as_slice);
                let transcript: Vec<&[u8]> = s.transcript.iter().map(Vec::as_slice).collect();
                c.client_key_exchange(ring, &info, rsa, leaf, &transcript);
            }
            Some(Body::NewSessionTicket { ticket, .. }) if !s.is_tls13() => {
                if let Some(m) = c.master() {
                    ring.remember_ticket(ticket, m);
                }
            }
            Some(Body::Finished(_)) => c.finished(role),
            Some(Body::KeyUpdate(_)) => c.key_update(role, frame),
            Some(Body::EndOfEarlyData) => c.end_of_early_data(),
            _ => {}
        }
        if !s.master_remembered
            && let (Some(m), Some(sh)) = (c.master(), s.server_hello.as_deref())
        {
            ring.remember_session(&sh.session_id, m);
            s.master_remembered = true;
        }
    }

    /// An application data record of `dir` was not decrypted while the
    /// session is being decrypted: the HTTP decoder is told that bytes of
    /// that side are missing, once per run of such records, so that it
    /// neither misreads what follows nor blames the other side for what
    /// it could not see.
    fn http_missing(&mut self, st: &mut ConnState, dir: Dir, rec: &record::Record<'_>) {
        let decrypting = self.opts.decrypt || !self.keys.is_empty();
        if !self.opts.http || !decrypting || st.sides[dir].http_missing {
            return;
        }
        st.sides[dir].http_missing = true;
        let role = Self::role(st, dir);
        let len = st
            .crypto
            .as_deref()
            .map_or(u64::from(rec.header.len), |c| c.plaintext_estimate(rec.header.len));
        let Some(s) = st.session.as_deref_mut() else { return };
        let http = session_http(&mut st.http, s, &self.opts, &self.budget);
        let mut diags = Vec::new();
        let found = &mut s.http;
        let at = (rec.frame, rec.ts);
        http.lose(role, len, Missing::NotDecrypted, at, &mut |ev| found.event(ev, &mut diags));
        s.diags(diags);
    }

    /// Decrypts the early data held until the ServerHello (or shows it as
    /// encrypted if it cannot be).
    fn replay_early(&mut self, info: &ConnInfo, st: &mut ConnState) {
        let held = std::mem::take(&mut st.early);
        st.early_bytes = 0;
        let client_dir = if st.swapped { Dir::ServerToClient } else { Dir::ClientToServer };
        let no_pieces = Pieces::default();
        for (header, body, frame, ts) in held {
            let rec = record::Record {
                header,
                offset: 0,
                body: Some(&body),
                pieces: &no_pieces,
                first_frame: frame,
                frame,
                ts,
            };
            if !self.decrypt_record(info, st, client_dir, &rec) {
                let s = self.session(info, st, frame, ts);
                let t = &mut s.traffic[Dir::ClientToServer];
                t.records = t.records.saturating_add(1);
                t.bytes = t.bytes.saturating_add(u64::from(header.len));
            }
        }
    }

    /// Decrypts a protected record and handles what is inside. False when
    /// it could not be decrypted (the caller shows it as encrypted).
    fn decrypt_record(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        dir: Dir,
        rec: &record::Record<'_>,
    ) -> bool {
        let role = Self::role(st, dir);
        let Some(body) = rec.body else { return false };
        if !st.crypto.as_ref().is_some_and(|c| c.has_keys()) {
            return false;
        }
        let h = rec.header;
        let header = [
            h.content_type,
            (h.version >> 8) as u8,
            h.version as u8,
            (h.len >> 8) as u8,
            h.len as u8,
        ];
        let mut scratch = std::mem::take(&mut st.scratch);
        // Room for the plaintext (at most the body's length), kept between
        // records: the body is decrypted from where it lies, not copied.
        if scratch.len() < body.len() {
            scratch.resize(body.len(), 0);
        }
        let Some(c) = st.crypto.as_deref_mut() else { return false };
        let Some(out) = scratch.get_mut(..body.len()) else { return false };
        let result = c.decrypt(role, &header, out, body, rec.frame);
        let handled = match result {
            None => false,
            Some(Err(e)) => {
                if let Some(s) = st.session.as_deref_mut()
                    && !s.diagnostics.iter().any(|d| d.code == "tls.decrypt")
                {
                    s.diag(Diagnostic::new(
                        Severity::Warning,
                        "tls.decrypt",
                        Location::frame(rec.frame),
                        format!("a record from the {} did not decrypt: {e}", role.sender()),
                    ));
                }
                false
            }
            Some(Ok(pt)) => {
                // The plaintext lies in `scratch`, taken out of `st`: no copy.
                self.plaintext(info, st, dir, role, pt.content_type, pt.data, rec);
                true
            }
        };
        st.scratch = scratch;
        handled
    }

    /// A decrypted record's content.
    #[allow(clippy::too_many_arguments)]
    fn plaintext(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        dir: Dir,
        role: Dir,
        content_type: u8,
        data: &[u8],
        rec: &record::Record<'_>,
    ) {
        match content_type {
            content::HANDSHAKE => {
                let mut msgs: Vec<Vec<u8>> = Vec::new();
                st.sides[dir].decrypted.push(
                    data,
                    &Pieces::default(),
                    0,
                    &mut |m| msgs.push(m.bytes.to_vec()),
                    &mut |_| {},
                );
                for bytes in msgs {
                    self.message(
                        info,
                        st,
                        dir,
                        bytes,
                        Pieces::default(),
                        rec.frame,
                        rec.ts,
                        Protection::Decrypted,
                    );
                }
            }
            content::ALERT => {
                let s = self.session(info, st, rec.frame, rec.ts);
                let ld = (data.len() == 2).then(|| {
                    (data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0))
                });
                s.alerts.push(Alert { frame: rec.frame, from: role, level_description: ld });
                s.list(Entry {
                    alert: ld,
                    ..Entry::new(
                        rec.frame,
                        rec.ts,
                        role,
                        "Alert",
                        Protection::Decrypted,
                        data.len(),
                    )
                });
            }
            content::APPLICATION_DATA => {
                if let Some(c) = st.crypto.as_deref_mut() {
                    c.app_bytes(role, data.len());
                }
                let s = self.session(info, st, rec.frame, rec.ts);
                let t = &mut s.traffic[role];
                t.records = t.records.saturating_add(1);
                t.bytes = t.bytes.saturating_add(u64::from(rec.header.len));
                if s.app_records.len() < APP_RECORDS_KEPT {
                    s.app_records.push(AppRecord {
                        frame: rec.frame,
                        ts: rec.ts,
                        from: role,
                        len: rec.header.len,
                    });
                }
                if let Some(s) = st.session.as_deref() {
                    self.out.plaintext(s, role, data, rec.frame, rec.ts);
                }
                st.sides[dir].http_missing = false;
                if self.opts.http
                    && let Some(s) = st.session.as_deref_mut()
                {
                    let http = session_http(&mut st.http, s, &self.opts, &self.budget);
                    let mut diags = Vec::new();
                    let found = &mut s.http;
                    http.push(role, data, rec.frame, rec.ts, &mut |ev| found.event(ev, &mut diags));
                    s.diags(diags);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, info: &ConnInfo, mut st: ConnState) {
        if !st.not_tls {
            for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                self.unfinished_record(info, &mut st, dir);
            }
        }
        if let Some(mut s) = st.session.take() {
            s.decryption = self.decryption(st.crypto.as_deref(), &s);
            if let Some(mut h) = st.http.take() {
                let mut diags = Vec::new();
                let found = &mut s.http;
                h.finish(&mut |ev| found.event(ev, &mut diags));
                s.diags(diags);
            }
            self.out.session(*s);
        } else if st.not_tls
            || st.sides.0.iter().any(|s| matches!(s.deframer.kind(), Kind::NotTls(_)))
        {
            let preview = PerDir([
                match st.sides[Dir::ClientToServer].deframer.kind() {
                    Kind::NotTls(p) => p.clone(),
                    _ => Vec::new(),
                },
                match st.sides[Dir::ServerToClient].deframer.kind() {
                    Kind::NotTls(p) => p.clone(),
                    _ => Vec::new(),
                },
            ]);
            let http = preview.0.iter().any(|p| looks_like_http(p));
            if let Some(mut h) = st.http.take() {
                let found = &mut st.plain_http;
                let diags = &mut st.plain_diags;
                h.finish(&mut |ev| found.event(ev, diags));
            }
            self.out.flow(Flow {
                info: info.clone(),
                preview,
                http,
                decoded: std::mem::take(&mut st.plain_http),
                diagnostics: std::mem::take(&mut st.plain_diags),
            });
        } else if info.stats.0.iter().any(|s| s.payload_bytes > 0) {
            // Data too short to classify.
            self.out.flow(Flow {
                info: info.clone(),
                preview: PerDir::default(),
                http: false,
                decoded: HttpFound::default(),
                diagnostics: Vec::new(),
            });
        }
    }
}

impl<O: Output> Analyzer<O> {
    /// Feeds a plain (not TLS) connection's bytes to its HTTP decoder.
    fn plain_http(&mut self, st: &mut ConnState, dir: Dir, chunk: &Chunk<'_>) {
        if !self.opts.http {
            return;
        }
        let trees = self.opts.trees;
        let budget = &self.budget;
        let http = st.http.get_or_insert_with(|| {
            Box::new(
                HttpConn::new(HttpOptions { trees, ..HttpOptions::default() }).with_budget(budget),
            )
        });
        let found = &mut st.plain_http;
        let diags = &mut st.plain_diags;
        http.push(dir, chunk.data, chunk.frame, chunk.ts, &mut |ev| found.event(ev, diags));
    }
}

/// The decryption summary of a session's crypto state.
fn summary(c: &Crypto, s: &Session) -> Decryption {
    let seen = crypto::Seen {
        client_hello: s.client_hello.is_some(),
        server_hello: s.server_hello.is_some(),
    };
    let (status, reason) = c.status(&seen);
    Decryption {
        status,
        reason,
        app_bytes: PerDir([
            c.counts[Dir::ClientToServer].app_bytes,
            c.counts[Dir::ServerToClient].app_bytes,
        ]),
        records: PerDir([
            (c.counts[Dir::ClientToServer].records, c.counts[Dir::ClientToServer].decrypted),
            (c.counts[Dir::ServerToClient].records, c.counts[Dir::ServerToClient].decrypted),
        ]),
        lost: PerDir([c.lost_records(Dir::ClientToServer), c.lost_records(Dir::ServerToClient)]),
        tls12: c.tls12_keys(),
        tls13: c.tls13_secrets().cloned(),
    }
}

/// The HTTP decoder of a session's application data, made when first
/// needed (HTTP/2 when ALPN chose it, else recognised from the bytes).
fn session_http<'a>(
    http: &'a mut Option<Box<HttpConn>>,
    s: &Session,
    opts: &Options,
    budget: &Budget,
) -> &'a mut HttpConn {
    http.get_or_insert_with(|| {
        let h = HttpOptions { trees: opts.trees, ..HttpOptions::default() };
        let h2 = s.alpn() == Some(b"h2".as_slice());
        Box::new(
            HttpConn::with_protocol(h, if h2 { Protocol::Http2 } else { Protocol::Detect })
                .with_budget(budget),
        )
    })
}

/// What the key lookup needs from the hellos.
fn crypto_hello<'a>(ch: &'a ClientHello, sh: &'a ServerHello) -> crypto::Hello<'a> {
    crypto::Hello {
        client_random: &ch.random,
        server_random: &sh.random,
        suite: sh.cipher_suite,
        version: sh.negotiated_version(),
        client_session_id: &ch.session_id,
        server_session_id: &sh.session_id,
        client_ticket: (!ch.hello.ticket.is_empty()).then_some(ch.hello.ticket.as_slice()),
        extended_master_secret: ch.hello.extended_master_secret && sh.hello.extended_master_secret,
        encrypt_then_mac: ch.hello.encrypt_then_mac && sh.hello.encrypt_then_mac,
        early_data_offered: ch.hello.early_data,
    }
}

/// Whether bytes look like the start of an HTTP/1.x request or response,
/// or the HTTP/2 connection preface.
pub fn looks_like_http(p: &[u8]) -> bool {
    const STARTS: [&[u8]; 10] = [
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
        b"HTTP/",
        b"PRI * HTTP/2",
    ];
    STARTS.iter().any(|s| p.starts_with(s))
}

impl<O: Output> StreamSink<ConnState> for Analyzer<O> {
    fn open(&mut self, _info: &ConnInfo, st: &mut ConnState) {
        st.held = self.budget.lease();
        st.plain_http = HttpFound::new(&self.budget);
        st.recount();
    }

    fn data(&mut self, info: &ConnInfo, st: &mut ConnState, dir: Dir, chunk: Chunk<'_>) {
        if st.done {
            return;
        }
        self.data_in(info, st, dir, chunk);
        st.recount();
    }

    fn gap(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        dir: Dir,
        offset: u64,
        len: u64,
        frame: u64,
    ) {
        if st.done {
            return;
        }
        self.gap_in(info, st, dir, offset, len, frame);
        st.recount();
    }

    fn end_of_stream(&mut self, info: &ConnInfo, st: &mut ConnState, dir: Dir) {
        st.ended[dir] = true;
        if st.ended.0.iter().all(|e| *e) && !st.done {
            // Report the connection now rather than when the reassembler
            // lets go of it (it lingers for late retransmissions): memory
            // then stays bounded by connections that are really open.
            let taken = std::mem::take(st);
            self.finish(info, taken);
            st.done = true;
        }
    }

    fn close(&mut self, info: &ConnInfo, st: ConnState, _reason: EndReason) {
        if !st.done {
            self.finish(info, st);
        }
    }

    fn user_done(&self, st: &ConnState) -> bool {
        // Reported when both directions ended: a lingering connection
        // need not keep its (empty) state.
        st.done
    }

    fn diagnostic(&mut self, diag: Diagnostic) {
        self.out.diagnostic(diag);
    }
}

impl<O: Output> Analyzer<O> {
    fn data_in(&mut self, info: &ConnInfo, st: &mut ConnState, dir: Dir, chunk: Chunk<'_>) {
        // A connection found not to be TLS: its bytes go to the HTTP
        // decoder (when asked), and are read far enough to keep each
        // direction's first bytes.
        let was_not_tls = st.not_tls;
        if was_not_tls {
            self.plain_http(st, dir, &chunk);
        }
        if st.not_tls && *st.sides[dir].deframer.kind() != Kind::Unknown {
            return;
        }
        let mut deframer = std::mem::take(&mut st.sides[dir].deframer);
        let decrypting = self.opts.decrypt || !self.keys.is_empty();
        let mut keep = |ct: u8| decrypting || ct != content::APPLICATION_DATA;
        deframer.push(&chunk, &mut keep, &mut |ev| match ev {
            Event::Record(_) if st.not_tls => {}
            Event::Record(rec) => self.record(info, st, dir, &rec),
            Event::Sslv2ClientHello { body, pieces, frame, ts } => {
                self.start_session(info, st, dir == Dir::ServerToClient, frame, ts);
                let mut tree = if self.opts.trees { Tree::on() } else { Tree::off() };
                let parsed = handshake::parse_sslv2_client_hello(body, &mut tree);
                let role = Self::role(st, dir);
                let trees = self.opts.trees || self.opts.keep_messages;
                let s = self.session(info, st, frame, ts);
                let (body_parsed, error) = match parsed {
                    Ok(ch) => {
                        s.ja3 = Some(fingerprint::ja3(&ch));
                        s.ja4 = Some(fingerprint::ja4(&ch));
                        s.client_hello = Some(Box::new(ch.clone()));
                        (Some(Body::ClientHello(Box::new(ch))), None)
                    }
                    Err(e) => (None, Some(e)),
                };
                let message = Message {
                    msg_type: handshake::kind::CLIENT_HELLO,
                    bytes: body.to_vec(),
                    pieces: pieces.clone(),
                    frame,
                    ts,
                    body: body_parsed,
                    error,
                    fields: tree.finish(),
                };
                s.list(Entry {
                    message: trees.then(|| Box::new(message)),
                    ..Entry::new(frame, ts, role, "ClientHello", Protection::Plain, body.len().saturating_add(2))
                });
            }
            Event::NotTls { .. } => {
                if st.session.is_none() {
                    st.not_tls = true;
                }
            }
            Event::Desync { offset, frame, header } => {
                let sender = Self::role(st, dir).sender();
                let s = self.session(info, st, frame, chunk.ts);
                s.diag(Diagnostic::new(
                    Severity::Warning,
                    "tls.desync",
                    Location::frame(frame),
                    format!(
                        "the {}'s stream at offset {offset} does not hold a TLS record header (type {}, version {:#06x}, length {}); looking for the next record",
                        sender,
                        header.content_type,
                        header.version,
                        header.len
                    ),
                ));
            }
            Event::Resync { offset, skipped, frame } => {
                let s = self.session(info, st, frame, chunk.ts);
                s.diag(Diagnostic::new(
                    Severity::Note,
                    "tls.resync",
                    Location::frame(frame),
                    format!("records found again at stream offset {offset} after skipping {skipped} bytes"),
                ));
            }
            Event::Lost { offset, header } => {
                self.record_lost(info, st, dir, &header, chunk.frame, chunk.ts);
                let s = self.session(info, st, chunk.frame, chunk.ts);
                s.diag(Diagnostic::new(
                    Severity::Warning,
                    "tls.record_lost",
                    Location::frame(chunk.frame),
                    format!(
                        "a {} record of {} bytes at stream offset {offset} was cut by a gap in the capture",
                        registry::content_type(header.content_type).unwrap_or("TLS"),
                        header.len
                    ),
                ));
            }
        });
        st.sides[dir].deframer = deframer;
        if !was_not_tls && st.not_tls {
            // This chunk showed the connection is not TLS.
            self.plain_http(st, dir, &chunk);
        }
    }

    fn gap_in(
        &mut self,
        info: &ConnInfo,
        st: &mut ConnState,
        dir: Dir,
        offset: u64,
        len: u64,
        frame: u64,
    ) {
        if st.not_tls {
            if let Some(h) = st.http.as_mut() {
                let found = &mut st.plain_http;
                let diags = &mut st.plain_diags;
                h.gap(dir, len, &mut |ev| found.event(ev, diags));
            }
            return;
        }
        // Records after the gap start at unknown sequence numbers.
        let role = Self::role(st, dir);
        if let Some(c) = st.crypto.as_mut() {
            c.gap(role);
        }
        if let Some(h) = st.http.as_mut()
            && let Some(s) = st.session.as_deref_mut()
        {
            let found = &mut s.http;
            let mut diags = Vec::new();
            h.gap(role, len, &mut |ev| found.event(ev, &mut diags));
            s.diags(diags);
        }
        let mut deframer = std::mem::take(&mut st.sides[dir].deframer);
        let mut lost = Vec::new();
        deframer.gap(len, &mut |ev| {
            if let Event::Lost { offset, header } = ev {
                lost.push((offset, header));
            }
        });
        st.sides[dir].deframer = deframer;
        st.sides[dir].assembler.reset();
        if st.session.is_some() || !lost.is_empty() {
            let role = Self::role(st, dir);
            // The gap was decided at the connection's latest frame.
            let ts = info.last;
            for (_, header) in &lost {
                self.record_lost(info, st, dir, header, frame, ts);
            }
            let s = self.session(info, st, frame, ts);
            s.diag(Diagnostic::new(
                Severity::Warning,
                "tls.gap",
                Location::frame(frame),
                format!(
                    "{len} bytes from the {} are missing at stream offset {offset}",
                    role.sender()
                ),
            ));
        }
    }
}
