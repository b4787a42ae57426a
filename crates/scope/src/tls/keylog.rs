//! NSS key log files (`SSLKEYLOGFILE`): parsing, and lookup of the secrets
//! of a TLS session by its client random, session ID or encrypted premaster.
//!
//! The format is the one of
//! [draft-ietf-tls-keylogfile](https://www.ietf.org/archive/id/draft-ietf-tls-keylogfile-02.html)
//! with the labels Wireshark also accepts: one entry per line,
//! `LABEL <client random hex> <secret hex>`, plus the two older RSA forms
//! (`RSA <first 8 bytes of the encrypted premaster> <premaster>` and
//! `RSA Session-ID:<hex> Master-Key:<hex>`). Lines starting with `#` and
//! blank lines are skipped; CRLF line ends and runs of spaces or tabs
//! between fields are accepted; hex is case-insensitive.
//!
//! A line that cannot be used is never dropped silently: [`KeyLog::parse`]
//! returns a [`Diagnostic`] naming the source, the line number and what is
//! wrong (bad hex, wrong length, unknown label), and goes on with the next
//! line. When the same entry appears twice the **last one wins** (a key
//! log that grows while it is read ends with the newest value); a
//! duplicate with a *different* value is reported as a note.
//!
//! Parsing is incremental: `parse` can be called again with more bytes of
//! a growing file; a trailing line without its newline is kept until the
//! next call or [`KeyLog::finish`]. Memory is bounded by what the key log
//! holds: each line is at most [`MAX_LINE`] bytes, each secret at most
//! [`Secret::MAX_LEN`].
//!
//! No function here can panic.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use foldhash::fast::RandomState;

use crate::budget::{Budget, Cut, Lease};
use crate::diag::{Diagnostic, Location, Severity};

pub use super::secret::Secret;

/// The longest line accepted. An `ECH_CONFIG` line of a [`Secret::MAX_LEN`]
/// byte ECHConfig is about 4200 characters; anything longer is not a key
/// log line (and must not make the partial-line buffer grow without end).
pub const MAX_LINE: usize = 8192;

/// A key log label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// `CLIENT_RANDOM <cr> <master secret>` (TLS 1.0–1.2).
    ClientRandom,
    /// `RSA <first 8 bytes of the encrypted premaster> <premaster>`.
    Rsa,
    /// `RSA Session-ID:<session id> Master-Key:<master secret>`.
    RsaSessionId,
    /// `PMS_CLIENT_RANDOM <cr> <premaster secret>`.
    PmsClientRandom,
    /// `CLIENT_EARLY_TRAFFIC_SECRET` (TLS 1.3 0-RTT).
    ClientEarlyTrafficSecret,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    ClientHandshakeTrafficSecret,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    ServerHandshakeTrafficSecret,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    ClientTrafficSecret0,
    /// `SERVER_TRAFFIC_SECRET_0`.
    ServerTrafficSecret0,
    /// `EXPORTER_SECRET`.
    ExporterSecret,
    /// `EARLY_EXPORTER_SECRET`.
    EarlyExporterSecret,
    /// `ECH_SECRET` (the HPKE shared secret of Encrypted Client Hello).
    EchSecret,
    /// `ECH_CONFIG` (the ECHConfig that was used).
    EchConfig,
    /// `CLIENT_TRAFFIC_SECRET_N`: OpenSSL 3 writes the client's traffic
    /// secret after each KeyUpdate under this label, with a literal `N`.
    ClientTrafficSecretN,
    /// `SERVER_TRAFFIC_SECRET_N`: the same for the server.
    ServerTrafficSecretN,
}

impl Label {
    /// Every label, in the order [`KeyLog::stats`] reports them.
    pub const ALL: [Label; 15] = [
        Label::ClientRandom,
        Label::Rsa,
        Label::RsaSessionId,
        Label::PmsClientRandom,
        Label::ClientEarlyTrafficSecret,
        Label::ClientHandshakeTrafficSecret,
        Label::ServerHandshakeTrafficSecret,
        Label::ClientTrafficSecret0,
        Label::ServerTrafficSecret0,
        Label::ExporterSecret,
        Label::EarlyExporterSecret,
        Label::EchSecret,
        Label::EchConfig,
        Label::ClientTrafficSecretN,
        Label::ServerTrafficSecretN,
    ];

    /// The label as written in the file (`RSA Session-ID` for the
    /// session-ID form).
    pub fn as_str(self) -> &'static str {
        match self {
            Label::ClientRandom => "CLIENT_RANDOM",
            Label::Rsa => "RSA",
            Label::RsaSessionId => "RSA Session-ID",
            Label::PmsClientRandom => "PMS_CLIENT_RANDOM",
            Label::ClientEarlyTrafficSecret => "CLIENT_EARLY_TRAFFIC_SECRET",
            Label::ClientHandshakeTrafficSecret => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Label::ServerHandshakeTrafficSecret => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            Label::ClientTrafficSecret0 => "CLIENT_TRAFFIC_SECRET_0",
            Label::ServerTrafficSecret0 => "SERVER_TRAFFIC_SECRET_0",
            Label::ExporterSecret => "EXPORTER_SECRET",
            Label::EarlyExporterSecret => "EARLY_EXPORTER_SECRET",
            Label::EchSecret => "ECH_SECRET",
            Label::EchConfig => "ECH_CONFIG",
            Label::ClientTrafficSecretN => "CLIENT_TRAFFIC_SECRET_N",
            Label::ServerTrafficSecretN => "SERVER_TRAFFIC_SECRET_N",
        }
    }

    /// The label of a `<label> <client random> <secret>` line.
    fn by_client_random(s: &str) -> Option<Label> {
        Label::ALL
            .into_iter()
            .filter(|l| !matches!(l, Label::Rsa | Label::RsaSessionId))
            .find(|l| l.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The secret lengths this label allows, as a check and as the words
    /// of the diagnostic.
    fn secret_len(self) -> (fn(usize) -> bool, &'static str) {
        match self {
            Label::ClientRandom | Label::Rsa | Label::RsaSessionId => {
                (|n| n == 48, "48 (a TLS 1.0–1.2 master secret or RSA premaster)")
            }
            // RSA premasters are 48 bytes, (EC)DHE ones the size of the
            // group's field: up to 1024 bytes for ffdhe8192.
            Label::PmsClientRandom => (|n| (1..=1024).contains(&n), "1 to 1024"),
            Label::ClientEarlyTrafficSecret
            | Label::ClientHandshakeTrafficSecret
            | Label::ServerHandshakeTrafficSecret
            | Label::ClientTrafficSecret0
            | Label::ServerTrafficSecret0
            | Label::ClientTrafficSecretN
            | Label::ServerTrafficSecretN
            | Label::ExporterSecret
            | Label::EarlyExporterSecret => {
                (|n| n == 32 || n == 48, "32 or 48 (the hash length of a TLS 1.3 cipher suite)")
            }
            Label::EchSecret => (|n| (1..=64).contains(&n), "1 to 64"),
            Label::EchConfig => (|n| (1..=Secret::MAX_LEN).contains(&n), "1 to 2048"),
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secrets a key log holds for one client random (one TLS session, or
/// one handshake of it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    /// `CLIENT_RANDOM`: the 48-byte master secret (TLS 1.0–1.2).
    pub master_secret: Option<Secret>,
    /// `PMS_CLIENT_RANDOM`: the premaster secret (TLS 1.0–1.2).
    pub premaster: Option<Secret>,
    /// `CLIENT_EARLY_TRAFFIC_SECRET`.
    pub client_early: Option<Secret>,
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_handshake: Option<Secret>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_handshake: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    pub client_app0: Option<Secret>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_app0: Option<Secret>,
    /// `EXPORTER_SECRET`.
    pub exporter: Option<Secret>,
    /// `EARLY_EXPORTER_SECRET`.
    pub early_exporter: Option<Secret>,
    /// `ECH_SECRET`.
    pub ech_secret: Option<Secret>,
    /// `ECH_CONFIG` (not secret itself, but kept with the rest).
    pub ech_config: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_N` lines (OpenSSL, after each KeyUpdate), in
    /// file order: the client's traffic secrets 1, 2, ...
    pub client_app_updates: Vec<Secret>,
    /// `SERVER_TRAFFIC_SECRET_N` lines, in file order.
    pub server_app_updates: Vec<Secret>,
}

impl Secrets {
    fn slot(&mut self, label: Label) -> Option<&mut Option<Secret>> {
        Some(match label {
            Label::ClientRandom => &mut self.master_secret,
            Label::PmsClientRandom => &mut self.premaster,
            Label::ClientEarlyTrafficSecret => &mut self.client_early,
            Label::ClientHandshakeTrafficSecret => &mut self.client_handshake,
            Label::ServerHandshakeTrafficSecret => &mut self.server_handshake,
            Label::ClientTrafficSecret0 => &mut self.client_app0,
            Label::ServerTrafficSecret0 => &mut self.server_app0,
            Label::ExporterSecret => &mut self.exporter,
            Label::EarlyExporterSecret => &mut self.early_exporter,
            Label::EchSecret => &mut self.ech_secret,
            Label::EchConfig => &mut self.ech_config,
            Label::Rsa
            | Label::RsaSessionId
            | Label::ClientTrafficSecretN
            | Label::ServerTrafficSecretN => return None,
        })
    }

    /// The labels present, in [`Label::ALL`] order.
    pub fn labels(&self) -> Vec<Label> {
        let present = [
            (Label::ClientRandom, &self.master_secret),
            (Label::PmsClientRandom, &self.premaster),
            (Label::ClientEarlyTrafficSecret, &self.client_early),
            (Label::ClientHandshakeTrafficSecret, &self.client_handshake),
            (Label::ServerHandshakeTrafficSecret, &self.server_handshake),
            (Label::ClientTrafficSecret0, &self.client_app0),
            (Label::ServerTrafficSecret0, &self.server_app0),
            (Label::ExporterSecret, &self.exporter),
            (Label::EarlyExporterSecret, &self.early_exporter),
            (Label::EchSecret, &self.ech_secret),
            (Label::EchConfig, &self.ech_config),
        ];
        let mut labels: Vec<Label> =
            present.into_iter().filter(|(_, s)| s.is_some()).map(|(l, _)| l).collect();
        if !self.client_app_updates.is_empty() {
            labels.push(Label::ClientTrafficSecretN);
        }
        if !self.server_app_updates.is_empty() {
            labels.push(Label::ServerTrafficSecretN);
        }
        labels
    }

    /// True if the TLS 1.3 traffic secrets needed to read both directions
    /// after the handshake are all there.
    pub fn has_tls13_traffic(&self) -> bool {
        self.client_handshake.is_some()
            && self.server_handshake.is_some()
            && self.client_app0.is_some()
            && self.server_app0.is_some()
    }
}

/// How many entries of each label a key log holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `(label, entries)` for every label with at least one entry, in
    /// [`Label::ALL`] order. Duplicates count once per line.
    pub per_label: Vec<(Label, u64)>,
    /// Lines that were skipped with a diagnostic.
    pub rejected_lines: u64,
}

impl Stats {
    /// Entries of `label`.
    pub fn count(&self, label: Label) -> u64 {
        self.per_label.iter().find(|(l, _)| *l == label).map_or(0, |(_, n)| *n)
    }
}

/// The secrets of one client random packed into one allocation of exactly
/// their size: a record per secret (label index, length as a little-endian
/// `u16`, the bytes), in the order the lines came. A key log holds an entry
/// per session of the capture; as a [`Secrets`] (thirteen slots, a heap
/// allocation per secret) one took four times the memory. Zeroed when
/// dropped or replaced, as a [`Secret`] is.
#[derive(Clone, Default, PartialEq, Eq)]
struct Packed(Box<[u8]>);

impl Drop for Packed {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

impl Packed {
    /// The records: (label, secret bytes).
    fn records(&self) -> impl Iterator<Item = (Label, &[u8])> {
        let mut rest: &[u8] = &self.0;
        std::iter::from_fn(move || {
            let (&tag, after) = rest.split_first()?;
            let len = usize::from(u16::from_le_bytes([*after.first()?, *after.get(1)?]));
            let bytes = after.get(2..2 + len)?;
            rest = after.get(2 + len..).unwrap_or_default();
            Some((*Label::ALL.get(usize::from(tag))?, bytes))
        })
    }

    fn unpack(&self) -> Secrets {
        let mut s = Secrets::default();
        for (label, bytes) in self.records() {
            let Some(secret) = Secret::new(bytes) else { continue };
            match label {
                Label::ClientTrafficSecretN => s.client_app_updates.push(secret),
                Label::ServerTrafficSecretN => s.server_app_updates.push(secret),
                _ => {
                    if let Some(slot) = s.slot(label) {
                        *slot = Some(secret);
                    }
                }
            }
        }
        s
    }

    /// Stores a secret as [`Secrets`] would: one per label (a different one
    /// replaces it), except the `_N` labels, which keep every update in
    /// order (a repeated line is not a new update).
    fn add(&mut self, label: Label, secret: &[u8]) -> Added {
        let list = matches!(label, Label::ClientTrafficSecretN | Label::ServerTrafficSecretN);
        let found = if list {
            self.records().filter(|(l, _)| *l == label).last().map(|(_, b)| b)
        } else {
            self.records().find(|(l, _)| *l == label).map(|(_, b)| b)
        };
        let added = match found {
            Some(old) if old == secret => return Added::Same,
            Some(_) if !list => Added::Replaced,
            _ => Added::New,
        };
        let (Ok(tag), Ok(len)) = (u8::try_from(label.index()), u16::try_from(secret.len())) else {
            return Added::Same;
        };
        // A hint only: a secret is at most 64 KiB (checked above).
        let mut out =
            Vec::with_capacity(self.0.len().saturating_add(3).saturating_add(secret.len()));
        for (l, b) in self.records() {
            if !(added == Added::Replaced && l == label) {
                push_record(&mut out, l, b);
            }
        }
        out.push(tag);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(secret);
        // The old allocation is zeroed as it is dropped.
        *self = Packed(out.into_boxed_slice());
        added
    }
}

fn push_record(out: &mut Vec<u8>, label: Label, bytes: &[u8]) {
    if let (Ok(tag), Ok(len)) = (u8::try_from(label.index()), u16::try_from(bytes.len())) {
        out.push(tag);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(bytes);
    }
}

/// A parsed key log: every secret by the value that finds its session.
///
/// A clone shares the secrets read so far (the analyses of one capture
/// split over threads each hold one); lines parsed into a clone later are
/// its own.
#[derive(Clone, Default)]
pub struct KeyLog {
    tables: Arc<Tables>,
    counts: [u64; Label::ALL.len()],
    rejected: u64,
    /// The source of the lines being read (for diagnostics).
    source: String,
    /// Lines of `source` read so far.
    line: u64,
    /// An unfinished last line.
    partial: Vec<u8>,
    /// The current line is longer than [`MAX_LINE`]: its bytes are dropped
    /// up to the next newline (and reported once).
    overlong: bool,
    /// The memory budget was used up: no more lines are read.
    full: bool,
    /// Lines not read for the memory budget.
    not_kept: u64,
}

/// What one stored line costs besides its secret, roughly: its share of a
/// hash table entry (the client random, the packed secrets' box) and the
/// allocator's bookkeeping.
const LINE_COST: usize = 96;

/// What a line is counted against the budget: [`LINE_COST`] and its secret
/// (half its hex digits, at most). An estimate: saturating cannot matter.
fn line_cost(line: &[u8]) -> usize {
    LINE_COST.saturating_add(line.len() / 2)
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLog")
            .field("client_randoms", &self.tables.by_random.len())
            .field("session_ids", &self.tables.by_session_id.len())
            .field("rsa_premasters", &self.tables.by_rsa_prefix.len())
            .field("source", &self.source)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// The secrets, by what finds their session.
#[derive(Clone, Default)]
struct Tables {
    by_random: HashMap<[u8; 32], Packed, RandomState>,
    by_session_id: HashMap<Box<[u8]>, Secret, RandomState>,
    by_rsa_prefix: HashMap<[u8; 8], Secret, RandomState>,
    /// What they hold, against the run's memory budget (a copy made for a
    /// clone that adds lines counts again: it is one).
    held: Lease,
}

/// What [`KeyLog::add`] did with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Added {
    New,
    Same,
    Replaced,
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> Self {
        KeyLog::default()
    }

    /// Parses and finishes one complete text: [`KeyLog::parse`] then
    /// [`KeyLog::finish`].
    pub fn from_text(text: &[u8], source: &str) -> (KeyLog, Vec<Diagnostic>) {
        let mut k = KeyLog::new();
        let mut d = k.parse(text, source);
        d.extend(k.finish());
        (k, d)
    }

    /// Makes room for the sessions of a key log of `bytes` bytes about to
    /// be parsed, rather than growing the table by doubling as it is read:
    /// a line is 100 to 200 bytes, a session has 1 to 5 lines. At most
    /// [`KeyLog::RESERVE_MAX`] sessions' room, whatever the file's size (a
    /// huge file of something else must not allocate for it up front).
    pub fn reserve_for_bytes(&mut self, bytes: u64) {
        let sessions = usize::try_from(bytes / 256).unwrap_or(usize::MAX).min(Self::RESERVE_MAX);
        self.tables_mut().by_random.reserve(sessions);
    }

    /// The most sessions [`KeyLog::reserve_for_bytes`] makes room for
    /// (a 64 MiB key log).
    pub const RESERVE_MAX: usize = 1 << 18;

    /// Parses the complete lines of `text` from `source` (a file name, used
    /// in diagnostics). Can be called again with the next bytes of the same
    /// source: a last line without its newline is kept until then, or until
    /// [`KeyLog::finish`]. A call with a different source first finishes the
    /// previous one and numbers lines from 1 again.
    ///
    /// Returns a diagnostic for every line that could not be used.
    pub fn parse(&mut self, text: &[u8], source: &str) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        if source != self.source {
            diags.extend(self.finish());
            self.source = source.to_string();
            self.line = 0;
        }
        let mut rest = text;
        while !rest.is_empty() {
            let (piece, newline, after) =
                match memchr::memchr(b'\n', rest).and_then(|i| rest.split_at_checked(i)) {
                    // `tail` starts with the newline.
                    Some((line, tail)) => (line, true, tail.get(1..).unwrap_or_default()),
                    None => (rest, false, &[][..]),
                };
            rest = after;
            if newline && self.partial.is_empty() && !self.overlong && piece.len() <= MAX_LINE {
                // A whole line in this text: parsed where it lies, not copied.
                self.line = self.line.saturating_add(1);
                self.line_done(piece, &mut diags);
                continue;
            }
            if !self.overlong {
                if self.partial.len().checked_add(piece.len()).is_none_or(|n| n > MAX_LINE) {
                    self.overlong = true;
                    self.partial.clear();
                } else {
                    self.partial.extend_from_slice(piece);
                }
            }
            if newline {
                self.end_line(&mut diags);
            }
        }
        diags
    }

    /// Parses a last line that had no newline. Call at the end of a file
    /// (or when a growing file is known to be complete).
    pub fn finish(&mut self) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        if !self.partial.is_empty() || self.overlong {
            self.end_line(&mut diags);
        }
        diags
    }

    fn end_line(&mut self, diags: &mut Vec<Diagnostic>) {
        self.line = self.line.saturating_add(1);
        let line = std::mem::take(&mut self.partial);
        if std::mem::take(&mut self.overlong) {
            self.reject(
                diags,
                "keylog.line_too_long",
                format!("line longer than {MAX_LINE} bytes"),
            );
            return;
        }
        self.line_done(&line, diags);
        // Reuse the buffer for the next line; its old content was a secret.
        let mut line = line;
        line.iter_mut().for_each(|b| *b = 0);
        line.clear();
        self.partial = line;
    }

    /// Parses line number `self.line` and reports what became of it.
    fn line_done(&mut self, line: &[u8], diags: &mut Vec<Diagnostic>) {
        if self.full {
            self.not_kept = self.not_kept.saturating_add(1);
            return;
        }
        // Every line may store a secret: counted before it is read (a
        // line that stores nothing costs little; the count is an estimate).
        if !self.tables_mut().held.try_grow(line_cost(line)) {
            self.full = true;
            self.not_kept = self.not_kept.saturating_add(1);
            let held = self.tables.held.budget().clone();
            held.cut(Cut::Secrets);
            diags.push(self.diagnostic(
                Severity::Warning,
                "memory.budget",
                format!(
                    "the memory budget of {} MiB is used up: this line and the rest of the key \
                     logs are not read (--max-memory raises it)",
                    held.limit().unwrap_or(0) >> 20
                ),
            ));
            return;
        }
        let parsed = self.parse_line(line);
        if !matches!(parsed, Ok(Some((_, Added::New)))) {
            // Nothing new stored: nothing to count.
            self.tables_mut().held.shrink(line_cost(line));
        }
        match parsed {
            Ok(Some((label, Added::Replaced))) => diags.push(self.diagnostic(
                Severity::Note,
                "keylog.replaced",
                format!("{label}: replaces a different secret given earlier for the same session (the last one is used)"),
            )),
            Ok(_) => {}
            Err((code, message)) => self.reject(diags, code, message),
        }
    }

    fn reject(&mut self, diags: &mut Vec<Diagnostic>, code: &'static str, message: String) {
        self.rejected = self.rejected.saturating_add(1);
        diags.push(self.diagnostic(Severity::Warning, code, format!("{message}; line skipped")));
    }

    fn diagnostic(&self, severity: Severity, code: &'static str, message: String) -> Diagnostic {
        Diagnostic::new(
            severity,
            code,
            Location::default(),
            format!("{}:{}: {message}", self.source, self.line),
        )
    }

    /// Parses one line (without its `\n`). `Ok(None)` for a comment or a
    /// blank line.
    fn parse_line(
        &mut self,
        line: &[u8],
    ) -> Result<Option<(Label, Added)>, (&'static str, String)> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(("keylog.malformed", "not text (invalid UTF-8)".to_string()));
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            return Ok(None);
        }
        if let Some(done) = self.parse_usual(text) {
            return Ok(Some(done));
        }
        let split = Fields::split(text);
        let fields = split.as_slice();
        let n = split.count;
        let Some(&label_text) = fields.first() else {
            return Ok(None);
        };

        if label_text == "RSA" {
            if fields.get(1).is_some_and(|f| f.starts_with("Session-ID:")) {
                return self.parse_rsa_session_id(fields, n).map(Some);
            }
            let [_, prefix, premaster] = fields else {
                return Err(field_count(
                    "RSA",
                    n,
                    "RSA <encrypted premaster, first 8 bytes> <premaster>",
                ));
            };
            let prefix: [u8; 8] = fixed(Label::Rsa, "encrypted premaster prefix", prefix)?;
            let secret = secret(Label::Rsa, premaster)?;
            let added = insert(&mut self.tables_mut().by_rsa_prefix, prefix, secret);
            return Ok(Some(self.count(Label::Rsa, added)));
        }

        let Some(label) = Label::by_client_random(label_text) else {
            return Err(("keylog.unknown_label", unknown_label(label_text)));
        };
        let [_, random, value] = fields else {
            return Err(field_count(label.as_str(), n, "<label> <client random> <secret>"));
        };
        let random: [u8; 32] = fixed(label, "client random", random)?;
        let secret = secret(label, value)?;
        // A repeated line (two programs logging the same session) is not a
        // new secret nor a new update.
        let added =
            self.tables_mut().by_random.entry(random).or_default().add(label, secret.as_bytes());
        Ok(Some(self.count(label, added)))
    }

    /// The line almost every key log is made of, `<label> <client random>
    /// <secret>` with single spaces and a secret of at most 64 bytes,
    /// parsed without allocating. `None` for anything else, or anything
    /// wrong with it: the general path then parses the line again and says
    /// what is wrong. Nothing is stored unless the whole line is good.
    fn parse_usual(&mut self, text: &str) -> Option<(Label, Added)> {
        let (label_text, rest) = text.split_once(' ')?;
        let (random, value) = rest.split_once(' ')?;
        let label = Label::by_client_random(label_text)?;
        let mut r = [0u8; 32];
        // 32 bytes, two hex digits each.
        if random.len() != 64 || unhex_into(random.as_bytes(), &mut r).is_err() {
            return None;
        }
        let mut buf = zeroize::Zeroizing::new([0u8; 64]);
        let n = value.len() / 2;
        let secret = buf.get_mut(..n).filter(|_| value.len() % 2 == 0)?;
        unhex_into(value.as_bytes(), secret).ok()?;
        if !(label.secret_len().0)(n) {
            return None;
        }
        let added = self.tables_mut().by_random.entry(r).or_default().add(label, secret);
        Some(self.count(label, added))
    }

    fn parse_rsa_session_id(
        &mut self,
        fields: &[&str],
        n: usize,
    ) -> Result<(Label, Added), (&'static str, String)> {
        const FORM: &str = "RSA Session-ID:<hex> Master-Key:<hex>";
        let label = Label::RsaSessionId;
        let [_, sid, master] = fields else {
            return Err(field_count(label.as_str(), n, FORM));
        };
        let (Some(sid), Some(master)) =
            (sid.strip_prefix("Session-ID:"), master.strip_prefix("Master-Key:"))
        else {
            return Err(("keylog.malformed", format!("RSA Session-ID: expected {FORM}")));
        };
        let sid = unhex(label, "session ID", sid)?;
        if sid.is_empty() || sid.len() > 32 {
            return Err((
                "keylog.bad_length",
                format!("{label}: the session ID is {} bytes, expected 1 to 32", sid.len()),
            ));
        }
        let secret = secret(label, master)?;
        let added = insert(&mut self.tables_mut().by_session_id, sid.into_boxed_slice(), secret);
        Ok(self.count(label, added))
    }

    /// The tables, to change: copied first if a clone still shares them.
    fn tables_mut(&mut self) -> &mut Tables {
        Arc::make_mut(&mut self.tables)
    }

    fn count(&mut self, label: Label, added: Added) -> (Label, Added) {
        if let Some(n) = self.counts.get_mut(label.index()) {
            *n = n.saturating_add(1);
        }
        (label, added)
    }

    /// The secrets logged for the session with this client random.
    pub fn lookup(&self, client_random: &[u8; 32]) -> Option<Secrets> {
        self.tables.by_random.get(client_random).map(Packed::unpack)
    }

    /// The master secret logged for a TLS 1.0–1.2 session ID
    /// (`RSA Session-ID:... Master-Key:...`).
    pub fn by_session_id(&self, sid: &[u8]) -> Option<&Secret> {
        self.tables.by_session_id.get(sid)
    }

    /// The premaster secret logged for an RSA key exchange, found by the
    /// first 8 bytes of the encrypted premaster in the ClientKeyExchange
    /// (`RSA <prefix> <premaster>`).
    pub fn rsa_premaster(&self, encrypted_prefix: &[u8; 8]) -> Option<&Secret> {
        self.tables.by_rsa_prefix.get(encrypted_prefix)
    }

    /// The labels logged for this client random, to explain a session that
    /// cannot be decrypted ("the key log has only CLIENT_RANDOM for this
    /// TLS 1.3 session"). Empty if the client random is not in the log.
    pub fn labels_for(&self, client_random: &[u8; 32]) -> Vec<&'static str> {
        self.lookup(client_random)
            .map(|s| s.labels().into_iter().map(Label::as_str).collect())
            .unwrap_or_default()
    }

    /// Entries per label, and how many lines were rejected.
    pub fn stats(&self) -> Stats {
        Stats {
            per_label: Label::ALL.into_iter().zip(self.counts).filter(|(_, n)| *n > 0).collect(),
            rejected_lines: self.rejected,
        }
    }

    /// Counts the secrets against `budget` (those read so far, and those
    /// read from now on).
    pub fn set_budget(&mut self, budget: &Budget) {
        let t = self.tables_mut();
        let n = t.held.bytes();
        t.held = budget.lease();
        t.held.grow(n);
    }

    /// Lines that were not read because the memory budget was used up.
    pub fn not_kept(&self) -> u64 {
        self.not_kept
    }

    /// True if no secret was read.
    pub fn is_empty(&self) -> bool {
        self.tables.by_random.is_empty()
            && self.tables.by_session_id.is_empty()
            && self.tables.by_rsa_prefix.is_empty()
    }

    /// Client randoms with at least one secret, in no particular order.
    pub fn client_randoms(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.tables.by_random.keys()
    }

    /// Bytes held for an unfinished last line: below 2 × [`MAX_LINE`]
    /// (the line itself is at most [`MAX_LINE`]; its buffer may have grown
    /// past it by doubling).
    pub fn buffered(&self) -> usize {
        self.partial.capacity()
    }
}

fn insert<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Secret, RandomState>,
    key: K,
    value: Secret,
) -> Added {
    match map.insert(key, value.clone()) {
        None => Added::New,
        Some(old) if old == value => Added::Same,
        Some(_) => Added::Replaced,
    }
}

fn unknown_label(label: &str) -> String {
    let mut shown: String = label.chars().take(40).collect();
    if shown.len() < label.len() {
        shown.push('…');
    }
    let known: Vec<&str> = Label::ALL.iter().map(|l| l.as_str()).collect();
    format!("unknown label {shown:?} (known: {})", known.join(", "))
}

fn field_count(label: &str, got: usize, form: &str) -> (&'static str, String) {
    ("keylog.malformed", format!("{label}: {got} fields, expected 3: {form}"))
}

/// Decodes hex, or says where it is not hex.
fn unhex(label: Label, what: &str, s: &str) -> Result<Vec<u8>, (&'static str, String)> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err((
            "keylog.bad_hex",
            format!("{label}: the {what} has an odd number of hex digits ({})", bytes.len()),
        ));
    }
    let mut out = vec![0u8; bytes.len() / 2];
    if unhex_into(bytes, &mut out).is_err() {
        // The pairs before the bad one are all hex digits: the bad digit
        // is the first that is not one.
        let at = bytes.iter().position(|c| !c.is_ascii_hexdigit()).unwrap_or(0);
        let c = s.get(at..).and_then(|t| t.chars().next()).unwrap_or('?');
        out.iter_mut().for_each(|b| *b = 0);
        return Err((
            "keylog.bad_hex",
            format!("{label}: the {what} is not hex ({c:?} at digit {})", at.saturating_add(1)),
        ));
    }
    Ok(out)
}

/// Decodes the first `2 * out.len()` hex digits of `bytes` into `out`, or
/// says which pair of digits is not hex. A table lookup per digit (a key
/// log is mostly hex: the branchy decoding was a third of reading one).
fn unhex_into(bytes: &[u8], out: &mut [u8]) -> Result<(), usize> {
    for (i, (o, pair)) in out.iter_mut().zip(bytes.chunks_exact(2)).enumerate() {
        let [a, b] = *pair else { return Err(i) };
        let value = |c: u8| HEX_VALUE.get(usize::from(c)).copied().unwrap_or(NOT_HEX);
        let (hi, lo) = (value(a), value(b));
        if hi > 15 || lo > 15 {
            return Err(i);
        }
        *o = hi << 4 | lo;
    }
    Ok(())
}

/// [`HEX_VALUE`] of a byte that is not a hex digit.
const NOT_HEX: u8 = 0xff;

/// The value of each byte as a hex digit, [`NOT_HEX`] if it is not one.
// Indexing in a constant's evaluation cannot fail at run time: out of
// bounds would not compile.
#[allow(clippy::indexing_slicing)]
const HEX_VALUE: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0u8;
    while i < 10 {
        t[(b'0' + i) as usize] = i;
        i += 1;
    }
    let mut i = 0u8;
    while i < 6 {
        t[(b'a' + i) as usize] = 10 + i;
        t[(b'A' + i) as usize] = 10 + i;
        i += 1;
    }
    t
};

/// The whitespace-separated fields of a line, without allocating: the
/// first [`Fields::MAX`] and how many there were in all (a line with more
/// is malformed, and says how many it had).
struct Fields<'a> {
    items: [&'a str; Fields::MAX],
    count: usize,
}

impl<'a> Fields<'a> {
    const MAX: usize = 4;

    fn split(text: &'a str) -> Fields<'a> {
        let mut f = Fields { items: [""; Fields::MAX], count: 0 };
        for (i, field) in text.split_ascii_whitespace().enumerate() {
            if let Some(slot) = f.items.get_mut(i) {
                *slot = field;
            }
            f.count = i.saturating_add(1);
        }
        f
    }

    /// The first fields, at most [`Fields::MAX`] (`count` says how many
    /// there were in all).
    fn as_slice(&self) -> &[&'a str] {
        self.items.get(..self.count.min(Fields::MAX)).unwrap_or_default()
    }
}

/// A fixed-length hex field (client random, RSA prefix).
fn fixed<const N: usize>(
    label: Label,
    what: &str,
    s: &str,
) -> Result<[u8; N], (&'static str, String)> {
    let v = unhex(label, what, s)?;
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| {
        ("keylog.bad_length", format!("{label}: the {what} is {} bytes, expected {N}", v.len()))
    })
}

/// The secret field of `label`, with its length checked.
fn secret(label: Label, s: &str) -> Result<Secret, (&'static str, String)> {
    let v = unhex(label, "secret", s)?;
    let (ok, expected) = label.secret_len();
    if !ok(v.len()) {
        let n = v.len();
        drop(Secret::from_vec(v));
        return Err((
            "keylog.bad_length",
            format!("{label}: the secret is {n} bytes, expected {expected}"),
        ));
    }
    Secret::from_vec(v).ok_or_else(|| {
        (
            "keylog.bad_length",
            format!("{label}: the secret is longer than {} bytes", Secret::MAX_LEN),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: &str = "f8f89fb560a32f3f42b9b0e0f321b0fae56cd8764e77344d9b5d9a41a03780b9";

    fn cr() -> [u8; 32] {
        <[u8; 32]>::try_from(unhex(Label::ClientRandom, "", CR).unwrap().as_slice()).unwrap()
    }

    fn h(n: usize, byte: u8) -> String {
        format!("{byte:02x}").repeat(n)
    }

    #[test]
    fn parses_every_label() {
        let text = format!(
            "# SSL/TLS secrets log file, generated by OpenSSL\n\
             CLIENT_RANDOM {CR} {m}\n\
             PMS_CLIENT_RANDOM {CR} {p}\n\
             CLIENT_EARLY_TRAFFIC_SECRET {CR} {s1}\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {s2}\n\
             SERVER_HANDSHAKE_TRAFFIC_SECRET {CR} {s3}\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {s4}\n\
             SERVER_TRAFFIC_SECRET_0 {CR} {s5}\n\
             EXPORTER_SECRET {CR} {s6}\n\
             EARLY_EXPORTER_SECRET {CR} {s7}\n\
             ECH_SECRET {CR} {s8}\n\
             ECH_CONFIG {CR} {cfg}\n\
             RSA 0102030405060708 {m}\n\
             RSA Session-ID:{sid} Master-Key:{m}\n\
             CLIENT_TRAFFIC_SECRET_N {CR} {s4}\n\
             CLIENT_TRAFFIC_SECRET_N {CR} {s4}\n\
             CLIENT_TRAFFIC_SECRET_N {CR} {s5}\n\
             SERVER_TRAFFIC_SECRET_N {CR} {s5}\n",
            m = h(48, 0x11),
            p = h(256, 0x22),
            s1 = h(32, 1),
            s2 = h(32, 2),
            s3 = h(32, 3),
            s4 = h(48, 4),
            s5 = h(48, 5),
            s6 = h(32, 6),
            s7 = h(32, 7),
            s8 = h(32, 8),
            cfg = h(70, 9),
            sid = h(32, 0xaa),
        );
        let (k, d) = KeyLog::from_text(text.as_bytes(), "keys.log");
        assert!(d.is_empty(), "{d:?}");
        let s = k.lookup(&cr()).unwrap();
        assert_eq!(s.master_secret.as_ref().unwrap().as_bytes(), &[0x11; 48]);
        assert_eq!(s.premaster.as_ref().unwrap().len(), 256);
        assert_eq!(s.client_early.as_ref().unwrap().as_bytes(), &[1; 32]);
        assert_eq!(s.client_handshake.as_ref().unwrap().as_bytes(), &[2; 32]);
        assert_eq!(s.server_handshake.as_ref().unwrap().as_bytes(), &[3; 32]);
        assert_eq!(s.client_app0.as_ref().unwrap().as_bytes(), &[4; 48]);
        assert_eq!(s.server_app0.as_ref().unwrap().as_bytes(), &[5; 48]);
        assert_eq!(s.exporter.as_ref().unwrap().as_bytes(), &[6; 32]);
        assert_eq!(s.early_exporter.as_ref().unwrap().as_bytes(), &[7; 32]);
        assert_eq!(s.ech_secret.as_ref().unwrap().as_bytes(), &[8; 32]);
        assert_eq!(s.ech_config.as_ref().unwrap().as_bytes(), &[9; 70]);
        assert!(s.has_tls13_traffic());
        assert_eq!(k.rsa_premaster(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap().as_bytes(), &[0x11; 48]);
        assert_eq!(k.by_session_id(&[0xaa; 32]).unwrap().as_bytes(), &[0x11; 48]);
        assert!(k.by_session_id(&[0xaa; 31]).is_none());
        assert_eq!(s.client_app_updates.len(), 2, "a repeated line is one update");
        assert_eq!(s.server_app_updates.len(), 1);
        assert_eq!(k.labels_for(&cr()).len(), 13);
        let stats = k.stats();
        assert_eq!(stats.per_label.len(), 15);
        assert_eq!(stats.count(Label::ClientTrafficSecretN), 3);
        assert_eq!(stats.count(Label::Rsa), 1);
        assert_eq!(stats.rejected_lines, 0);
        assert!(!k.is_empty());
    }

    /// Every line parsed as the usual `<label> <random> <secret>` form
    /// (single spaces) must come out as the general parser makes it of the
    /// same line separated by tabs (which the usual form does not take):
    /// the same secrets, counts and diagnostics, good lines and bad alike.
    #[test]
    fn usual_lines_parse_as_the_general_path_does() {
        let lines = [
            format!("CLIENT_RANDOM {CR} {}", h(48, 0x11)),
            format!("CLIENT_RANDOM {CR} {}", h(48, 0x12)),
            format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}", h(32, 2)),
            format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}", h(32, 2)),
            format!("SERVER_TRAFFIC_SECRET_0 {CR} {}", h(48, 5).to_uppercase()),
            format!("CLIENT_TRAFFIC_SECRET_N {CR} {}", h(32, 4)),
            format!("CLIENT_TRAFFIC_SECRET_N {CR} {}", h(32, 4)),
            format!("ECH_SECRET {CR} {}", h(64, 8)),
            format!("ECH_SECRET {CR} {}", h(65, 8)),
            format!("PMS_CLIENT_RANDOM {CR} {}", h(256, 0x22)),
            format!("CLIENT_RANDOM {CR} {}", h(47, 0x11)),
            format!("CLIENT_RANDOM {CR} {}0", h(48, 0x11)),
            format!("CLIENT_RANDOM {CR} {}zz", h(47, 0x11)),
            format!("CLIENT_RANDOM {} {}", &CR[2..], h(48, 0x11)),
            format!("CLIENT_RANDOM {CR}x {}", h(48, 0x11)),
            format!("CLIENT_RANDOM {CR} {} extra", h(48, 0x11)),
            format!("CLIENT_RANDOMX {CR} {}", h(48, 0x11)),
            format!("RSA 0102030405060708 {}", h(48, 0x11)),
            format!("EXPORTER_SECRET {} {}", CR.replace('f', "e"), h(32, 6)),
        ];
        let single = lines.join("\n");
        let tabs = lines.iter().map(|l| l.replace(' ', "\t")).collect::<Vec<_>>().join("\n");
        let (a, da) = KeyLog::from_text(single.as_bytes(), "keys.log");
        let (b, db) = KeyLog::from_text(tabs.as_bytes(), "keys.log");
        let shown = |d: &[Diagnostic]| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
        assert_eq!(shown(&da), shown(&db));
        assert_eq!(da.len(), 9, "{:?}", shown(&da));
        assert_eq!(a.stats(), b.stats());
        assert!(a.tables.by_random.len() == 2 && b.tables.by_random.len() == 2);
        for (random, packed) in &a.tables.by_random {
            assert!(b.tables.by_random.get(random) == Some(packed));
        }
        assert_eq!(
            a.rsa_premaster(&[1, 2, 3, 4, 5, 6, 7, 8]),
            b.rsa_premaster(&[1, 2, 3, 4, 5, 6, 7, 8])
        );
    }

    #[test]
    fn accepts_crlf_uppercase_hex_and_extra_spaces() {
        let text = format!(
            "  CLIENT_RANDOM \t{}  {}\r\n\r\n",
            CR.to_uppercase(),
            h(48, 0xab).to_uppercase()
        );
        let (k, d) = KeyLog::from_text(text.as_bytes(), "k");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            k.lookup(&cr()).unwrap().master_secret.as_ref().unwrap().as_bytes(),
            &[0xab; 48]
        );
        assert_eq!(k.labels_for(&cr()), vec!["CLIENT_RANDOM"]);
    }

    #[test]
    fn reports_every_malformed_line_with_file_and_line_number() {
        let bad = format!("{}zz", h(47, 1));
        let text = format!(
            "# comment\n\
             CLIENT_RANDOM {CR} {short}\n\
             CLIENT_RANDOM {CR} {bad}\n\
             CLIENT_RANDOM {cr_short} {m}\n\
             SERVER_SECRET {CR} {m}\n\
             CLIENT_RANDOM {CR}\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {odd}\n\
             RSA 01020304 {m}\n\
             RSA Session-ID: Master-Key:{m}\n\
             CLIENT_TRAFFIC_SECRET_0 {CR} {s40}\n\
             \u{00e9}\n\
             CLIENT_RANDOM {CR} {m} {m} x y\n",
            short = h(47, 1),
            cr_short = h(31, 1),
            m = h(48, 1),
            odd = "abc",
            s40 = h(40, 1),
        );
        let (k, d) = KeyLog::from_text(text.as_bytes(), "keys.log");
        let got: Vec<(&str, &str)> = d.iter().map(|d| (d.code, d.message.as_str())).collect();
        let expect = [
            ("keylog.bad_length", "keys.log:2: CLIENT_RANDOM: the secret is 47 bytes, expected 48"),
            (
                "keylog.bad_hex",
                "keys.log:3: CLIENT_RANDOM: the secret is not hex ('z' at digit 95)",
            ),
            (
                "keylog.bad_length",
                "keys.log:4: CLIENT_RANDOM: the client random is 31 bytes, expected 32",
            ),
            ("keylog.unknown_label", "keys.log:5: unknown label \"SERVER_SECRET\""),
            ("keylog.malformed", "keys.log:6: CLIENT_RANDOM: 2 fields, expected 3"),
            (
                "keylog.bad_hex",
                "keys.log:7: CLIENT_TRAFFIC_SECRET_0: the secret has an odd number of hex digits (3)",
            ),
            (
                "keylog.bad_length",
                "keys.log:8: RSA: the encrypted premaster prefix is 4 bytes, expected 8",
            ),
            ("keylog.bad_length", "keys.log:9: RSA Session-ID: the session ID is 0 bytes"),
            (
                "keylog.bad_length",
                "keys.log:10: CLIENT_TRAFFIC_SECRET_0: the secret is 40 bytes, expected 32 or 48",
            ),
            ("keylog.unknown_label", "keys.log:11: unknown label \"é\""),
            ("keylog.malformed", "keys.log:12: CLIENT_RANDOM: 6 fields, expected 3"),
        ];
        assert_eq!(got.len(), expect.len(), "{got:#?}");
        for ((code, msg), (ecode, eprefix)) in got.iter().zip(expect) {
            assert_eq!(*code, ecode, "{msg}");
            assert!(msg.starts_with(eprefix), "{msg:?} does not start with {eprefix:?}");
            assert!(msg.ends_with("; line skipped"), "{msg}");
        }
        assert!(d.iter().all(|d| d.severity == Severity::Warning));
        assert!(k.is_empty());
        assert_eq!(k.stats().rejected_lines, 11);
        assert!(k.stats().per_label.is_empty());
    }

    #[test]
    fn incremental_parse_keeps_the_partial_last_line() {
        let line = format!("CLIENT_RANDOM {CR} {}\n", h(48, 7));
        let bytes = line.as_bytes();
        let mut k = KeyLog::new();
        for split in 0..bytes.len() {
            let mut k2 = KeyLog::new();
            let (a, b) = bytes.split_at(split);
            assert!(k2.parse(a, "grow.log").is_empty());
            assert!(k2.parse(b, "grow.log").is_empty());
            assert!(k2.lookup(&cr()).is_some(), "split at {split}");
        }
        // Without a newline the line waits for finish().
        assert!(k.parse(line.trim_end().as_bytes(), "grow.log").is_empty());
        assert!(k.lookup(&cr()).is_none());
        assert!(k.finish().is_empty());
        assert!(k.lookup(&cr()).is_some());
        // Line numbers go on across calls.
        let d = k.parse(b"\nbogus\n", "grow.log");
        assert!(d[0].message.starts_with("grow.log:3: "), "{d:?}");
    }

    #[test]
    fn a_new_source_finishes_the_old_one_and_restarts_numbering() {
        let mut k = KeyLog::new();
        assert!(k.parse(b"# a\nbogus", "a.log").is_empty());
        let d = k.parse(b"bogus\n", "b.log");
        assert_eq!(d.len(), 2);
        assert!(d[0].message.starts_with("a.log:2: "), "{d:?}");
        assert!(d[1].message.starts_with("b.log:1: "), "{d:?}");
    }

    #[test]
    fn duplicates_last_one_wins_and_a_change_is_noted() {
        let a = format!("CLIENT_RANDOM {CR} {}\n", h(48, 1));
        let b = format!("CLIENT_RANDOM {CR} {}\n", h(48, 2));
        let text = format!("{a}{a}{b}");
        let (k, d) = KeyLog::from_text(text.as_bytes(), "k");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, Severity::Note);
        assert_eq!(d[0].code, "keylog.replaced");
        assert!(d[0].message.starts_with("k:3: CLIENT_RANDOM"));
        assert_eq!(k.lookup(&cr()).unwrap().master_secret.as_ref().unwrap().as_bytes(), &[2; 48]);
        assert_eq!(k.stats().count(Label::ClientRandom), 3);
    }

    #[test]
    fn secrets_of_a_session_pack_and_unpack_in_any_order() {
        let lines = [
            format!("SERVER_TRAFFIC_SECRET_N {CR} {}", h(32, 7)),
            format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}", h(32, 1)),
            format!("SERVER_TRAFFIC_SECRET_N {CR} {}", h(32, 7)), // repeated: not an update
            format!("CLIENT_TRAFFIC_SECRET_0 {CR} {}", h(48, 3)),
            format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}", h(32, 2)), // replaces
            format!("SERVER_TRAFFIC_SECRET_N {CR} {}", h(32, 8)),
            format!("CLIENT_HANDSHAKE_TRAFFIC_SECRET {CR} {}", h(32, 2)), // the same again
        ];
        let text = lines.join("\n");
        let (k, d) = KeyLog::from_text(text.as_bytes(), "k");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, "keylog.replaced");
        let s = k.lookup(&cr()).unwrap();
        assert_eq!(s.client_handshake.as_ref().unwrap().as_bytes(), &[2; 32]);
        assert_eq!(s.client_app0.as_ref().unwrap().as_bytes(), &[3; 48]);
        let updates: Vec<&[u8]> = s.server_app_updates.iter().map(Secret::as_bytes).collect();
        assert_eq!(updates, [&[7; 32][..], &[8; 32][..]]);
        assert!(s.server_handshake.is_none() && s.client_app_updates.is_empty());
        assert_eq!(
            s.labels(),
            [
                Label::ClientHandshakeTrafficSecret,
                Label::ClientTrafficSecret0,
                Label::ServerTrafficSecretN
            ]
        );
    }

    #[test]
    fn overlong_lines_are_bounded_and_reported_once() {
        let mut k = KeyLog::new();
        let long = vec![b'A'; MAX_LINE * 3];
        let mut d = Vec::new();
        for chunk in long.chunks(1000) {
            d.extend(k.parse(chunk, "big"));
            assert!(k.partial.len() <= MAX_LINE);
        }
        d.extend(k.parse(format!("\nCLIENT_RANDOM {CR} {}\n", h(48, 1)).as_bytes(), "big"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].code, "keylog.line_too_long");
        assert!(d[0].message.starts_with("big:1: "));
        assert!(k.lookup(&cr()).is_some());
    }

    #[test]
    fn debug_shows_no_secret() {
        let (k, _) =
            KeyLog::from_text(format!("CLIENT_RANDOM {CR} {}\n", h(48, 0xee)).as_bytes(), "k");
        let all = format!("{k:?} {:?}", k.lookup(&cr()));
        assert!(!all.contains("eeee") && !all.contains("238"), "{all}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic fuzz: every byte value at every position of a valid line.
        let line = format!("RSA Session-ID:{} Master-Key:{}\n", h(4, 1), h(48, 2));
        for pos in 0..line.len() {
            for b in [0u8, b' ', b'\n', b'\r', b'#', b':', b'g', 0xff] {
                let mut v = line.clone().into_bytes();
                v[pos] = b;
                let (_k, _d) = KeyLog::from_text(&v, "fuzz");
            }
        }
    }
}
