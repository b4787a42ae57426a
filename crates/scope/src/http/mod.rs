//! HTTP inside a connection: the application data of a TLS session once
//! decrypted, or a plain TCP stream. [`HttpConn`] is fed each direction's
//! bytes in order, in pieces of any size, with gaps where the capture lost
//! some, and emits [`HttpEvent`]s: request/response [`Exchange`]s, every
//! HTTP/2 frame, raw bytes of other protocols, and diagnostics.
//!
//! - The protocol is recognised from the client's first bytes: the HTTP/2
//!   connection preface ([RFC 9113 §3.4]) means HTTP/2 (prior knowledge, as
//!   after ALPN `h2` or for h2c); a request line means HTTP/1.x; anything
//!   else is passed on as raw bytes. An HTTP/1.1 `Upgrade: h2c` that the
//!   server accepts (101) continues as HTTP/2 on the same connection.
//! - [`h1`]: HTTP/1.0 and 1.1 ([RFC 9112]): keep-alive and pipelining,
//!   Content-Length, chunked bodies with trailers, bodies read until the
//!   connection closes, HEAD and 1xx/204/304 without bodies, CONNECT and
//!   protocol upgrades, resynchronisation after a gap.
//! - [`h2`]: HTTP/2 ([RFC 9113]): every frame type, HEADERS + CONTINUATION
//!   reassembly, padding, HPACK ([`hpack`]) with the table size each side
//!   announced, requests and responses per stream, trailers, server push.
//! - Bodies are kept up to [`HttpOptions::max_body`] bytes (the rest is
//!   counted) and, when they carry a `Content-Encoding` of gzip, deflate or
//!   br, decoded for display up to [`HttpOptions::max_decoded`].
//!
//! Memory is bounded per connection: every buffer has a named limit in
//! [`HttpOptions`], and hitting one is a diagnostic, never unbounded
//! growth. Nothing here panics on any input.
//!
//! [RFC 9112]: https://www.rfc-editor.org/rfc/rfc9112
//! [RFC 9113]: https://www.rfc-editor.org/rfc/rfc9113
//! [RFC 9113 §3.4]: https://www.rfc-editor.org/rfc/rfc9113#section-3.4

pub mod h1;
pub mod h2;
pub mod hpack;

#[cfg(test)]
mod tests;

use std::io::Read;

use crate::budget::{Budget, Cut, HeapSize, ITEM_COST, Lease};
use crate::diag::{Diagnostic, Location, Severity};
use crate::flow::{Dir, PerDir};
use crate::time::Timestamp;
use crate::tree::Field;

/// The HTTP/2 connection preface the client sends first
/// ([RFC 9113 §3.4](https://www.rfc-editor.org/rfc/rfc9113#section-3.4)).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What to keep while decoding, and the limits that bound memory per
/// connection.
#[derive(Clone, Copy, Debug)]
pub struct HttpOptions {
    /// Build a field tree for every HTTP/2 frame and HTTP/1 message (text
    /// and HTML output); off for summaries and benchmarks.
    pub trees: bool,
    /// Bytes of each body kept for display; the rest is counted. Bodies
    /// can be gigabytes; nobody reads more than the start of one in a
    /// dissector.
    pub max_body: usize,
    /// Bytes of a decompressed body kept for display: a few kilobytes of
    /// gzip can inflate to gigabytes (a decompression bomb). Whole bodies
    /// are for exporting to files, not for display.
    pub max_decoded: usize,
    /// Decoded body bytes kept for display over a whole connection: a
    /// connection of a thousand small bombs would otherwise hold (and
    /// print) a thousand times `max_decoded`. Past it bodies are kept as
    /// sent, not decoded.
    pub max_decoded_per_conn: usize,
    /// Bytes of one HTTP/1 message head (request or status line and
    /// headers), of one chunked body's trailers, and of one HTTP/2 header
    /// block (HEADERS or PUSH_PROMISE with its CONTINUATIONs), buffered
    /// until complete. Real heads are a few kilobytes; servers commonly
    /// refuse more than 8-64 KiB.
    pub max_header_bytes: usize,
    /// Decoded size of one HTTP/2 header list (names + values + 32 per
    /// field, as SETTINGS_MAX_HEADER_LIST_SIZE counts): HPACK references
    /// let a small block expand enormously. Fields past it are counted,
    /// not kept.
    pub max_header_list: usize,
    /// Decoded header bytes kept over a whole connection: HPACK lets a
    /// request of a few bytes repeat kilobytes from the dynamic table, so
    /// a thousand requests can make gigabytes of header lists to hold and
    /// print. Past it only the pseudo-headers (method, path, status...)
    /// are kept. A real connection's thousand exchanges take a megabyte
    /// or two.
    pub max_headers_per_conn: usize,
    /// Cap on each HPACK dynamic table: a peer may announce up to 4 GiB;
    /// real ones use 4-64 KiB.
    pub max_hpack_table: usize,
    /// HTTP/2 streams tracked at once per connection. Past it the oldest
    /// open stream is reported incomplete to make room (real peers allow
    /// 100-1000 concurrent streams).
    pub max_streams: usize,
    /// HTTP/1 requests waiting for their responses (pipelining). Past it
    /// the oldest is reported incomplete.
    pub max_pipeline: usize,
    /// Payload of one HTTP/2 frame other than DATA and header blocks
    /// (SETTINGS, GOAWAY debug data, unknown types) kept for decoding;
    /// the rest of such a frame is skipped.
    pub max_frame_buffer: usize,
    /// Bytes of non-HTTP data per connection passed on as
    /// [`HttpEvent::Raw`]; the rest is counted only (see
    /// [`HttpConn::raw_bytes`]).
    pub max_raw: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            trees: false,
            max_body: 64 << 10,
            max_decoded: 64 << 10,
            max_decoded_per_conn: 4 << 20,
            max_header_bytes: 64 << 10,
            max_header_list: 256 << 10,
            max_headers_per_conn: 4 << 20,
            max_hpack_table: 64 << 10,
            max_streams: 1000,
            max_pipeline: 100,
            max_frame_buffer: 64 << 10,
            max_raw: 64 << 10,
        }
    }
}

/// A message body as seen on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The first bytes, up to [`HttpOptions::max_body`], as sent (after
    /// de-chunking and HTTP/2 framing, before content decoding). After a
    /// gap nothing more is kept: the bytes would not be contiguous.
    pub bytes: Vec<u8>,
    /// Total length as sent, including bytes not kept and bytes lost.
    pub len: u64,
    /// `bytes` is not the whole body.
    pub truncated: bool,
    /// Bytes the capture lost (gaps) inside the body.
    pub missing: u64,
    /// The `Content-Encoding` (and any transfer coding other than chunked),
    /// as sent.
    pub encoding: Option<String>,
    /// `bytes` decoded (gzip, deflate, br), for display, at most
    /// [`HttpOptions::max_decoded`] bytes. A prefix when `bytes` was
    /// truncated or when decoding stopped at the limit (`decoded_cut`).
    pub decoded: Option<Vec<u8>>,
    /// Decoding stopped at a limit: `decoded` is the start of more.
    pub decoded_cut: bool,
    /// Why decoding failed or stopped early.
    pub decode_error: Option<String>,
    /// No more bytes are kept: the memory budget refused some (what is
    /// kept must stay contiguous); `truncated` is set too.
    pub full: bool,
}

impl Body {
    /// Appends bytes as sent, keeping up to `max` as far as `held` (the
    /// exchange's lease) may grow. False when the budget refused bytes.
    pub(crate) fn push(&mut self, data: &[u8], max: usize, held: &mut Lease) -> bool {
        self.len = self.len.saturating_add(data.len() as u64);
        if self.missing > 0 || self.full {
            return true;
        }
        let room = max.saturating_sub(self.bytes.len());
        let keep = data.get(..room.min(data.len())).unwrap_or_default();
        if !held.try_grow(keep.len()) {
            self.full = true;
            self.truncated = true;
            return false;
        }
        self.bytes.extend_from_slice(keep);
        if keep.len() < data.len() {
            self.truncated = true;
        }
        true
    }

    /// Counts `n` bytes the capture lost.
    pub(crate) fn lose(&mut self, n: u64) {
        self.len = self.len.saturating_add(n);
        self.missing = self.missing.saturating_add(n);
        self.truncated = true;
    }

    /// Decodes `bytes` by `encoding` for display, at most `max` bytes
    /// (taken from `left`, what the connection may still decode).
    /// The work each decoder does (see [`decoder_work`]) is charged to
    /// `budget`'s allowance; false returned when it was used up before.
    pub(crate) fn decode(&mut self, max: usize, left: &mut usize, budget: &Budget) -> bool {
        let Some(enc) = self.encoding.as_deref() else { return true };
        let codings: Vec<String> = enc
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "identity")
            .collect();
        if codings.is_empty() || self.bytes.is_empty() {
            return true;
        }
        if *left == 0 {
            self.decode_error = Some(
                "not decoded: this connection's bodies already decoded as much as is kept for \
                 display"
                    .into(),
            );
            return true;
        }
        let max = max.min(*left);
        let mut data = self.bytes.clone();
        let mut error = None;
        // Codings are listed in the order they were applied: undo the
        // last first (RFC 9110 §8.4).
        for coding in codings.iter().rev() {
            // Asked before (is anything left?), charged after (what it
            // cost: little for a body that decodes whole, its window for
            // one cut short).
            if !budget.take_decode_work(0) {
                self.decode_error = Some(
                    "not decoded: the run's decoders already did as much work as it allows for \
                     display"
                        .into(),
                );
                return false;
            }
            let (out, err) = match coding.as_str() {
                "gzip" | "x-gzip" => {
                    bounded_read(flate2::read::MultiGzDecoder::new(&data[..]), max)
                }
                "deflate" => {
                    // RFC 9110 says zlib; some servers send raw deflate.
                    let (out, err) = bounded_read(flate2::read::ZlibDecoder::new(&data[..]), max);
                    if err.is_some() && out.is_empty() {
                        bounded_read(flate2::read::DeflateDecoder::new(&data[..]), max)
                    } else {
                        (out, err)
                    }
                }
                "br" => bounded_read(brotli::Decompressor::new(&data[..], 4096), max),
                other => {
                    self.decode_error = Some(format!("content coding {other:?} is not decoded"));
                    return true;
                }
            };
            let work = decoder_work(coding, &data, out.len(), matches!(err, Some(Stop::Limit)));
            budget.take_decode_work(work);
            data = out;
            match err {
                Some(Stop::Limit) => {
                    self.decoded_cut = true;
                    error = Some(format!(
                        "{coding}: decoded to more than the {max} bytes kept for display"
                    ));
                    break;
                }
                Some(Stop::Error(e)) => {
                    error = Some(format!("{coding}: {e}"));
                    break;
                }
                None => {}
            }
        }
        if let Some(e) = &mut error
            && self.truncated
        {
            e.push_str(" (the body was cut short, so only its start could be decoded)");
        }
        *left = left.saturating_sub(data.len());
        self.decode_error = error;
        self.decoded = Some(data);
        true
    }

    /// Whether what is shown of the body (decoded, or as sent) is not all
    /// of it.
    pub fn shown_in_part(&self) -> bool {
        self.truncated || self.decoded_cut
    }
}

/// The work, in bytes passed over, that decoding `data` by `coding` into
/// `out` bytes took: the input and the output, and when it was cut short
/// (more was to come), the decoder's window twice (two reads), which it
/// fills before it gives anything: brotli's size is in the stream's first
/// bits (RFC 7932 §9.1), deflate's is 32 KiB.
///
/// An estimate charged to a budget: it saturates.
fn decoder_work(coding: &str, data: &[u8], out: usize, cut: bool) -> u64 {
    let whole = data.len().saturating_add(out) as u64;
    if !cut {
        return whole;
    }
    let window: u64 = if coding == "br" {
        let b = u16::from_le_bytes([
            data.first().copied().unwrap_or(0),
            data.get(1).copied().unwrap_or(0),
        ]);
        let n = (b >> 1) & 7;
        let m = (b >> 4) & 7;
        let bits = if b & 1 == 0 {
            16
        } else if n != 0 {
            n.saturating_add(17)
        } else if m > 1 {
            m.saturating_add(8)
        } else {
            // 17, or the large-window extension (up to 30), which the
            // decoder refuses: counted as the largest standard window.
            if m == 0 { 17 } else { 24 }
        };
        1 << bits.min(24)
    } else {
        32 << 10
    };
    window.saturating_mul(2).saturating_add(whole)
}

/// Why a decoder stopped before the end.
enum Stop {
    /// At the limit of bytes kept.
    Limit,
    /// The data is not valid in its coding.
    Error(String),
}

/// Reads a decoder to the end or to `max` bytes: (output, why it stopped
/// early).
fn bounded_read(mut r: impl Read, max: usize) -> (Vec<u8>, Option<Stop>) {
    // Read straight into the output, one byte more than is kept (to know
    // whether there is more), in as few calls as it takes: each call can
    // cost a decoder a pass over its window (brotli's ring buffer), so
    // small reads made a bomb's first 64 KiB cost megabytes of work.
    let mut out = vec![0u8; max.saturating_add(1).min(MAX_READ_AHEAD)];
    let mut have = 0;
    loop {
        if have == out.len() {
            if have > max {
                out.truncate(max);
                return (out, Some(Stop::Limit));
            }
            out.resize(have.saturating_mul(2).clamp(1, max.saturating_add(1)), 0);
        }
        match r.read(out.get_mut(have..).unwrap_or_default()) {
            Ok(0) => {
                out.truncate(have.min(max));
                let stop = (have > max).then_some(Stop::Limit);
                return (out, stop);
            }
            // `n` is at most what is left of `out`.
            Ok(n) => have = have.saturating_add(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.truncate(have.min(max));
                return (out, Some(Stop::Error(e.to_string())));
            }
        }
    }
}

/// The most a decoder's output buffer starts at: a body that decodes to a
/// few bytes does not get [`HttpOptions::max_decoded`] of memory at once.
const MAX_READ_AHEAD: usize = 64 << 10;

/// A header list: (name as sent, value).
pub type Headers = Vec<(String, Vec<u8>)>;

/// The bytes of a header list's names and values, as counted against the
/// connection's limit. Saturating: it is compared with that limit.
fn header_list_size(h: &Headers) -> usize {
    h.iter().fold(0usize, |size, (n, v)| size.saturating_add(n.len()).saturating_add(v.len()))
}

/// One of an exchange's header lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum List {
    RequestHeaders,
    ResponseHeaders,
    RequestTrailers,
    ResponseTrailers,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::RequestHeaders => "request headers",
            List::ResponseHeaders => "response headers",
            List::RequestTrailers => "request trailers",
            List::ResponseTrailers => "response trailers",
        }
    }
}

/// One request and its response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    /// `HTTP/1.1`, `HTTP/1.0` (from the request line, or the status line
    /// when the request was not seen) or `HTTP/2`.
    pub version: &'static str,
    /// The HTTP/2 stream.
    pub stream: Option<u32>,
    /// The method (`:method`, or from the request line).
    pub method: Option<String>,
    /// `:scheme` (HTTP/2 only).
    pub scheme: Option<String>,
    /// `:authority`, or the HTTP/1 Host header.
    pub authority: Option<String>,
    /// `:path`, or the HTTP/1 request target.
    pub path: Option<String>,
    /// The final status code.
    pub status: Option<u16>,
    /// The HTTP/1 reason phrase.
    pub reason: Option<String>,
    /// Interim (1xx) status codes before the final one.
    pub interim: Vec<u16>,
    /// Request headers as sent (HTTP/2 pseudo-headers included, in order).
    pub request_headers: Headers,
    /// Response headers as sent.
    pub response_headers: Headers,
    /// Request trailers (chunked trailer section, or HTTP/2 trailing HEADERS).
    pub request_trailers: Headers,
    /// Response trailers.
    pub response_trailers: Headers,
    /// The request body.
    pub request_body: Body,
    /// The response body.
    pub response_body: Body,
    /// The frame that carried the first byte of the request (HTTP/1) or
    /// its HEADERS (HTTP/2).
    pub request_frame: Option<u64>,
    /// The same for the response (the final one, not a 1xx).
    pub response_frame: Option<u64>,
    /// When the request started.
    pub request_time: Option<Timestamp>,
    /// When the response started.
    pub response_time: Option<Timestamp>,
    /// The frame that carried the request's last byte (HTTP/2: its
    /// END_STREAM).
    pub request_end_frame: Option<u64>,
    /// The frame that completed the exchange (the response's last byte,
    /// or the reset).
    pub end_frame: Option<u64>,
    /// HTTP/1: offset of the request's first byte in the client's stream
    /// (what the spans of `request_tree` count from).
    pub request_offset: Option<u64>,
    /// HTTP/1: offset of the response's first byte in the server's stream.
    pub response_offset: Option<u64>,
    /// HTTP/1, with trees on: the request's fields, spans relative to
    /// `request_offset`.
    pub request_tree: Vec<Field>,
    /// HTTP/1, with trees on: the response's fields.
    pub response_tree: Vec<Field>,
    /// Both messages were seen whole: nothing lost, nothing cut off by the
    /// end of the connection or a reset.
    pub complete: bool,
    /// HTTP/2: the stream was reset (RST_STREAM) with this error code.
    pub reset: Option<u32>,
    /// HTTP/2: the request came in a PUSH_PROMISE from the server.
    pub pushed: bool,
    /// Why the exchange is incomplete, and other things worth knowing.
    pub notes: Vec<String>,
    /// What it holds, counted against the run's memory budget.
    pub held: Lease,
}

impl Exchange {
    /// A new exchange whose holdings count against the connection's
    /// budget: the exchange itself always (the decoder cannot go on
    /// without it), what it keeps as far as the budget allows.
    pub(crate) fn new(cx: &Cx<'_>) -> Exchange {
        let mut held = cx.budget.lease();
        held.grow(const { size_of::<Exchange>() + ITEM_COST });
        Exchange { held, ..Exchange::default() }
    }

    /// What to call it in messages: `GET /path` or `stream 5`.
    fn describe(&self) -> String {
        match (&self.method, &self.path, self.stream) {
            (Some(m), Some(p), _) => format!("{m} {p}"),
            (_, _, Some(s)) => format!("stream {s}"),
            _ => "an exchange".into(),
        }
    }

    /// Keeps `h` as the list `which`, if the memory budget allows; else
    /// keeps none of it and says so.
    pub(crate) fn keep_headers(&mut self, which: List, h: Headers, cx: &mut Cx<'_>) {
        let h = cx.within_header_limit(h, || self.describe(), which);
        let slot = match which {
            List::RequestHeaders => &mut self.request_headers,
            List::ResponseHeaders => &mut self.response_headers,
            List::RequestTrailers => &mut self.request_trailers,
            List::ResponseTrailers => &mut self.response_trailers,
        };
        self.held.shrink(slot.heap_size());
        if self.held.try_grow(h.heap_size()) {
            *slot = h;
        } else {
            slot.clear();
            let what = format!("the {} of {}", which.name(), self.describe());
            cx.cut(Cut::Headers, &what);
            self.notes.push(format!("{} not kept: the memory budget is used up", which.name()));
        }
    }

    /// Keeps the field tree of the request (`dir` client) or response.
    pub(crate) fn keep_tree(&mut self, dir: Dir, tree: Vec<Field>, cx: &mut Cx<'_>) {
        let slot = match dir {
            Dir::ClientToServer => &mut self.request_tree,
            Dir::ServerToClient => &mut self.response_tree,
        };
        self.held.shrink(slot.heap_size());
        if self.held.try_grow(tree.heap_size()) {
            *slot = tree;
        } else {
            slot.clear();
            let what = format!("the field tree of {}", self.describe());
            cx.cut(Cut::Details, &what);
        }
    }

    /// Appends bytes of the request (`dir` client) or response body.
    pub(crate) fn push_body(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) {
        let body = match dir {
            Dir::ClientToServer => &mut self.request_body,
            Dir::ServerToClient => &mut self.response_body,
        };
        if !body.push(data, cx.opts.max_body, &mut self.held) {
            let what = format!("the {} body of {}", dir_part(dir), self.describe());
            cx.cut(Cut::Body, &what);
        }
    }

    /// Decodes both bodies for display (done once, when the exchange is
    /// emitted), within what the connection may still decode; says when
    /// a body decoded to more than is kept, and when the connection's
    /// decoding stops.
    pub(crate) fn finish_bodies(&mut self, cx: &mut Cx<'_>) {
        let max = cx.opts.max_decoded;
        let mut left = cx.opts.max_decoded_per_conn.saturating_sub(cx.shown.decoded);
        let before = left;
        let what = self.describe();
        for (name, b) in
            [("request", &mut self.request_body), ("response", &mut self.response_body)]
        {
            if !b.decode(max, &mut left, cx.budget) && !cx.shown.work_noted {
                cx.shown.work_noted = true;
                cx.diag(
                    Severity::Note,
                    "http.decode_work",
                    format!(
                        "the {name} body of {what} and later ones are shown as sent, not \
                         decoded: this run's decoders did as much work as it allows for display \
                         (decompression bombs cost their whole window each)"
                    ),
                );
            }
            if let Some(d) = &b.decoded
                && !self.held.try_grow(d.capacity())
            {
                b.decoded = None;
                b.decoded_cut = false;
                b.decode_error = Some("not decoded: the memory budget is used up".into());
                cx.cut(Cut::Body, &format!("the decoded {name} body of {what}"));
            }
            if b.decoded_cut {
                let what = self.path.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
                let msg = format!(
                    "a {name} body{what} decodes to more than the {max} bytes kept for display: \
                     only its start is shown (truncated)"
                );
                cx.diag(Severity::Note, "http.body_limit", msg);
            }
        }
        // `left` only went down from `before`.
        cx.shown.decoded = cx.shown.decoded.saturating_add(before.saturating_sub(left));
        let per_conn = cx.opts.max_decoded_per_conn;
        if left == 0 && !cx.shown.decoded_noted {
            cx.shown.decoded_noted = true;
            cx.diag(
                Severity::Note,
                "http.decode_limit",
                format!(
                    "this connection's bodies decoded to {per_conn} bytes, as much as is kept for \
                     display: later ones are kept as sent, not decoded"
                ),
            );
        }
    }
}

/// Header lookup: the first value of `name` (ASCII case-insensitive).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// One HTTP/2 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2FrameInfo {
    /// Who sent it.
    pub dir: Dir,
    /// The capture frame that carried its last byte.
    pub frame: u64,
    /// The capture frame that carried its first byte.
    pub first_frame: u64,
    /// When its last byte came.
    pub ts: Timestamp,
    /// Offset of its first byte in the sender's HTTP/2 byte stream (the
    /// connection preface included).
    pub offset: u64,
    /// The frame type code.
    pub kind: u8,
    /// The type's name as in RFC 9113 (`DATA`, `HEADERS`...), or `unknown`.
    pub name: &'static str,
    /// The flags byte.
    pub flags: u8,
    /// The stream identifier.
    pub stream: u32,
    /// The payload length.
    pub length: u32,
    /// A one-line summary, e.g. `SETTINGS: MAX_CONCURRENT_STREAMS=100`.
    pub summary: String,
    /// With trees on: the frame's fields, spans relative to its first byte.
    pub tree: Vec<Field>,
}

/// What [`HttpConn`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpEvent {
    /// A request/response pair is complete (or, at the end, incomplete).
    Exchange(Box<Exchange>),
    /// An HTTP/2 frame.
    H2Frame(H2FrameInfo),
    /// Bytes of a protocol that is not HTTP (or of a tunnel/upgraded
    /// connection), in order per direction. Only the first
    /// [`HttpOptions::max_raw`] bytes of a connection are passed on.
    Raw {
        /// Who sent them.
        dir: Dir,
        /// The bytes.
        data: Vec<u8>,
        /// The capture frame they came in.
        frame: u64,
    },
    /// A problem in the input.
    Diagnostic(Diagnostic),
}

/// Why bytes of a direction are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A hole in the capture: exactly the bytes said.
    NotCaptured,
    /// Records that could not be decrypted: about as many bytes as said
    /// (the plaintext's exact length is not known).
    NotDecrypted,
}

impl Missing {
    /// `len` bytes from `sender` and what happened to them, for messages:
    /// "120 bytes from the server were not captured".
    pub(crate) fn text(self, len: u64, what: &str, sender: &str) -> String {
        match self {
            Missing::NotCaptured => {
                format!("{len} bytes{what} from the {sender} were not captured")
            }
            Missing::NotDecrypted => {
                format!(
                    "a record{what} from the {sender} could not be decrypted (about {len} bytes)"
                )
            }
        }
    }

    /// Whether the length is exact (a body can go on after the loss).
    pub(crate) fn exact(self) -> bool {
        self == Missing::NotCaptured
    }
}

/// Which protocol a connection speaks, as far as known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Not known yet: waiting for the client's first bytes.
    Detect,
    /// HTTP/1.x.
    Http1,
    /// HTTP/2 (prior knowledge; h2c upgrades show as [`Protocol::Http1`]
    /// until the switch).
    Http2,
    /// Something else: passed on as raw bytes.
    Raw,
}

/// What a connection has passed on for display, against its limits:
/// raw (non-HTTP) bytes and decoded body bytes.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    passed: usize,
    total: PerDir<u64>,
    noted: bool,
    /// Body bytes decoded for display.
    decoded: usize,
    decoded_noted: bool,
    /// A cut for the memory budget was said.
    budget_noted: bool,
    /// Header bytes kept in exchanges.
    headers: usize,
    headers_noted: bool,
    /// The run's decoding allowance was said to be used up.
    work_noted: bool,
}

/// "request" or "response", by who sends it.
fn dir_part(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "request",
        Dir::ServerToClient => "response",
    }
}

/// What the decoders need to report: the options, the memory budget, the
/// event sink and the current capture frame.
pub(crate) struct Cx<'a> {
    pub opts: &'a HttpOptions,
    pub budget: &'a Budget,
    pub out: &'a mut dyn FnMut(HttpEvent),
    shown: &'a mut Shown,
    pub frame: u64,
    pub ts: Timestamp,
}

impl Cx<'_> {
    pub fn emit(&mut self, e: HttpEvent) {
        (self.out)(e);
    }

    pub fn diag(&mut self, severity: Severity, code: &'static str, message: String) {
        let d = Diagnostic::new(severity, code, Location::frame(self.frame), message);
        (self.out)(HttpEvent::Diagnostic(d));
    }

    /// Something was not kept because the memory budget is used up:
    /// counted, and said once per connection (the run's closing
    /// diagnostic gives the totals).
    pub fn cut(&mut self, kind: Cut, what: &str) {
        self.budget.cut(kind);
        if !self.shown.budget_noted {
            self.shown.budget_noted = true;
            let limit = self.budget.limit().unwrap_or(0);
            self.diag(
                Severity::Warning,
                "memory.budget",
                format!(
                    "{what} not kept: the memory budget of {} MiB is used up (--max-memory \
                     raises it); more of this connection may be cut",
                    limit >> 20
                ),
            );
        }
    }

    /// `h` as far as the connection may still keep header bytes: whole,
    /// or past [`HttpOptions::max_headers_per_conn`] its pseudo-headers
    /// only (said once per connection).
    fn within_header_limit(
        &mut self,
        mut h: Headers,
        what: impl FnOnce() -> String,
        which: List,
    ) -> Headers {
        let size = header_list_size(&h);
        let max = self.opts.max_headers_per_conn;
        if self.shown.headers.saturating_add(size) > max {
            h.retain(|(n, _)| n.starts_with(':'));
            h.shrink_to_fit();
            if !self.shown.headers_noted {
                self.shown.headers_noted = true;
                self.diag(
                    Severity::Note,
                    "http.header_limit",
                    format!(
                        "this connection's header lists reached the {max} bytes kept per \
                         connection at the {} of {}: from there on only pseudo-headers \
                         (:method, :path, :status...) are kept",
                        which.name(),
                        what()
                    ),
                );
            }
        }
        self.shown.headers = self.shown.headers.saturating_add(header_list_size(&h));
        h
    }

    /// Passes raw bytes on, within the connection's budget.
    pub fn raw(&mut self, dir: Dir, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let t = &mut self.shown.total[dir];
        *t = t.saturating_add(data.len() as u64);
        let room = self.opts.max_raw.saturating_sub(self.shown.passed);
        let pass = data.get(..room.min(data.len())).unwrap_or_default();
        if !pass.is_empty() {
            self.shown.passed = self.shown.passed.saturating_add(pass.len());
            let e = HttpEvent::Raw { dir, data: pass.to_vec(), frame: self.frame };
            (self.out)(e);
        }
        if pass.len() < data.len() && !self.shown.noted {
            self.shown.noted = true;
            let max = self.opts.max_raw;
            self.diag(
                Severity::Note,
                "http.raw_limit",
                format!("only the first {max} raw bytes of this connection are shown; the rest is counted"),
            );
        }
    }
}

/// Bytes held while the protocol is not known yet, with where each piece
/// came from, so they can be replayed with their own frame numbers.
#[derive(Debug, Default)]
struct Held {
    bytes: PerDir<Vec<u8>>,
    /// (direction, end offset in `bytes[dir]`, frame, time), in arrival order.
    pieces: Vec<(Dir, usize, u64, Timestamp)>,
}

#[derive(Debug)]
enum State {
    Detect(Held),
    H1(Box<h1::Conn>),
    H2(Box<h2::Conn>),
    Raw,
    Done,
}

/// The HTTP decoder of one connection.
#[derive(Debug)]
pub struct HttpConn {
    opts: HttpOptions,
    state: State,
    shown: Shown,
    /// What exchanges and header lists are counted against.
    budget: Budget,
    /// The decoder's own buffers (bytes held until a message or frame is
    /// whole, the HPACK tables), counted against the budget.
    held: Lease,
    /// The last capture frame and time seen per direction: gaps and the
    /// end of the connection are reported there.
    last: PerDir<(u64, Timestamp)>,
}

/// What the client's first bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Wait,
    Yes,
    No,
}

/// Is `b` (so far) an HTTP/1 request line? `METHOD SP target SP
/// HTTP/1.d CRLF` ([RFC 9112 §3](https://www.rfc-editor.org/rfc/rfc9112#section-3)).
pub(crate) fn request_line_verdict(b: &[u8], max: usize) -> Verdict {
    // Methods are short words: a longer token is not one. Every check is
    // made per byte, so that a prefix of a line gets the line's answer.
    const MAX_METHOD: usize = 32;
    // Each byte with its offset in `b`.
    let mut bytes = b.iter().copied().enumerate();
    let method_end = loop {
        match bytes.next() {
            None => return Verdict::Wait,
            Some((i, b' ')) => break i,
            Some((i, c)) if !is_tchar(c) || i >= MAX_METHOD => return Verdict::No,
            Some(_) => {}
        }
    };
    if method_end == 0 {
        return Verdict::No;
    }
    let mut target_empty = true;
    loop {
        match bytes.next() {
            None => return Verdict::Wait,
            Some((_, b' ')) => break,
            // Past `max` it is no request line we could read, however it
            // ends (checked per byte, so that any prefix gets the same
            // answer).
            Some((i, c)) if c < 0x21 || c == 0x7f || i > max => return Verdict::No,
            Some(_) => target_empty = false,
        }
    }
    if target_empty {
        return Verdict::No;
    }
    for want in *b"HTTP/1." {
        match bytes.next() {
            None => return Verdict::Wait,
            Some((_, c)) if c == want => {}
            Some(_) => return Verdict::No,
        }
    }
    match bytes.next() {
        None => return Verdict::Wait,
        Some((_, c)) if c.is_ascii_digit() => {}
        Some(_) => return Verdict::No,
    }
    match (bytes.next().map(|(_, c)| c), bytes.next().map(|(_, c)| c)) {
        (None, _) => Verdict::Wait,
        (Some(b'\n'), _) => Verdict::Yes,
        (Some(b'\r'), None) => Verdict::Wait,
        (Some(b'\r'), Some(b'\n')) => Verdict::Yes,
        _ => Verdict::No,
    }
}

/// A token character ([RFC 9110 §5.6.2](https://www.rfc-editor.org/rfc/rfc9110#section-5.6.2)).
pub(crate) fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Could the server's first bytes (before the client said anything) be
/// HTTP? An HTTP/2 server may send its SETTINGS first; an HTTP/1 response
/// before its request means the request was lost.
fn server_first_verdict(b: &[u8]) -> Verdict {
    let http1 = b"HTTP/1.";
    let h1 = b.iter().zip(http1.iter()).all(|(a, w)| a == w);
    // An HTTP/2 frame header of a SETTINGS frame on stream 0.
    let h2 = b.get(3).is_none_or(|&t| t == 0x4)
        && b.iter().skip(5).take(4).all(|&x| x == 0)
        && b.first().is_none_or(|&x| x == 0);
    if (h1 && b.len() >= http1.len()) || (h2 && b.len() >= 9) {
        Verdict::Yes
    } else if h1 || h2 {
        Verdict::Wait
    } else {
        Verdict::No
    }
}

impl HttpConn {
    /// A decoder that recognises the protocol from the client's first bytes.
    pub fn new(opts: HttpOptions) -> Self {
        Self::with_protocol(opts, Protocol::Detect)
    }

    /// A decoder for a connection known to speak `protocol` (from ALPN, or
    /// for tests): HTTP/2 still expects the client's connection preface.
    /// [`Protocol::Detect`] is the same as [`HttpConn::new`].
    pub fn with_protocol(opts: HttpOptions, protocol: Protocol) -> Self {
        let state = match protocol {
            Protocol::Detect => State::Detect(Held::default()),
            Protocol::Http1 => State::H1(Box::new(h1::Conn::new(&opts))),
            Protocol::Http2 => State::H2(Box::new(h2::Conn::new(&opts))),
            Protocol::Raw => State::Raw,
        };
        HttpConn {
            opts,
            state,
            shown: Shown::default(),
            budget: Budget::unlimited(),
            held: Lease::default(),
            last: PerDir::default(),
        }
    }

    /// Counts what the decoder holds against `budget` (from the start:
    /// call before any bytes).
    pub fn with_budget(mut self, budget: &Budget) -> Self {
        self.budget = budget.clone();
        self.held = budget.lease();
        self.held.grow(const { size_of::<HttpConn>() + ITEM_COST });
        self
    }

    /// Bytes of its own buffers (not the exchanges it hands on).
    fn buffered(&self) -> usize {
        // An estimate: saturating cannot matter.
        let state = match &self.state {
            State::Detect(h) => {
                let pieces = h.pieces.capacity();
                h.bytes.0.iter().map(Vec::capacity).sum::<usize>().saturating_add(
                    pieces.saturating_mul(size_of::<(Dir, usize, u64, Timestamp)>()),
                )
            }
            State::H1(c) => c.buffered(),
            State::H2(c) => c.buffered(),
            State::Raw | State::Done => 0,
        };
        size_of::<HttpConn>().saturating_add(state)
    }

    /// Brings the count of its buffers up to date (they are needed to
    /// decode at all: counted whatever the limit).
    fn recount(&mut self) {
        if self.budget.limit().is_some() {
            let n = self.buffered();
            self.held.set(n);
        }
    }

    /// The protocol, as far as known.
    pub fn protocol(&self) -> Protocol {
        match &self.state {
            State::Detect(_) => Protocol::Detect,
            State::H1(_) => Protocol::Http1,
            State::H2(_) => Protocol::Http2,
            State::Raw | State::Done => Protocol::Raw,
        }
    }

    /// Raw (non-HTTP) bytes seen per direction, including those not passed on.
    pub fn raw_bytes(&self, dir: Dir) -> u64 {
        self.shown.total[dir]
    }

    /// The next bytes of direction `dir`, carried by capture frame `frame`.
    pub fn push(
        &mut self,
        dir: Dir,
        data: &[u8],
        frame: u64,
        ts: Timestamp,
        out: &mut dyn FnMut(HttpEvent),
    ) {
        if data.is_empty() {
            return;
        }
        self.last[dir] = (frame, ts);
        if let State::Detect(held) = &mut self.state {
            let b = &mut held.bytes[dir];
            b.extend_from_slice(data);
            held.pieces.push((dir, b.len(), frame, ts));
            self.detect(out);
        } else {
            let mut cx = Cx {
                opts: &self.opts,
                budget: &self.budget,
                out,
                shown: &mut self.shown,
                frame,
                ts,
            };
            match &mut self.state {
                State::Detect(_) => {}
                State::H1(c) => c.push(dir, data, &mut cx),
                State::H2(c) => c.push(dir, data, &mut cx),
                State::Raw => cx.raw(dir, data),
                State::Done => {}
            }
        }
        self.recount();
    }

    /// `len` bytes of direction `dir` were lost (a hole in the capture).
    pub fn gap(&mut self, dir: Dir, len: u64, out: &mut dyn FnMut(HttpEvent)) {
        self.lose(dir, len, Missing::NotCaptured, self.last[dir], out);
    }

    /// About `len` bytes of direction `dir` are missing, for the reason
    /// `why` (a hole in the capture, records not decrypted), at capture
    /// frame `at` (its number and time): the frame of the record that could
    /// not be decrypted, or the last frame seen before a hole.
    pub fn lose(
        &mut self,
        dir: Dir,
        len: u64,
        why: Missing,
        at: (u64, Timestamp),
        out: &mut dyn FnMut(HttpEvent),
    ) {
        let (frame, ts) = at;
        let mut cx =
            Cx { opts: &self.opts, budget: &self.budget, out, shown: &mut self.shown, frame, ts };
        match &mut self.state {
            State::Detect(held) => {
                // What was held from this direction is now of no use to
                // recognise the protocol: pass it on raw.
                let pieces = std::mem::take(&mut held.pieces);
                let bytes = std::mem::take(&mut held.bytes[dir]);
                let mut start = 0;
                for (d, end, frame, ts) in pieces {
                    if d == dir {
                        cx.frame = frame;
                        cx.ts = ts;
                        cx.raw(dir, bytes.get(start..end).unwrap_or_default());
                        start = end;
                    } else {
                        held.pieces.push((d, end, frame, ts));
                    }
                }
                (cx.frame, cx.ts) = (frame, ts);
                cx.diag(
                    Severity::Warning,
                    "http.gap",
                    format!(
                        "{} before the protocol was recognised",
                        why.text(len, "", dir.sender())
                    ),
                );
            }
            State::H1(c) => c.gap(dir, len, why, &mut cx),
            State::H2(c) => c.gap(dir, len, why, &mut cx),
            State::Raw => {
                let t = &mut cx.shown.total[dir];
                *t = t.saturating_add(len);
            }
            State::Done => {}
        }
        self.recount();
    }

    /// The connection ended: flushes what is pending, incomplete exchanges
    /// marked so. Later calls do nothing.
    pub fn finish(&mut self, out: &mut dyn FnMut(HttpEvent)) {
        let state = std::mem::replace(&mut self.state, State::Done);
        let (frame, ts) = self.last[Dir::ClientToServer].max(self.last[Dir::ServerToClient]);
        let mut cx =
            Cx { opts: &self.opts, budget: &self.budget, out, shown: &mut self.shown, frame, ts };
        match state {
            State::Detect(held) => {
                // Too little to tell: show it as it is.
                replay_raw(held, &mut cx);
            }
            State::H1(mut c) => c.finish(&mut cx),
            State::H2(mut c) => c.finish(&mut cx),
            State::Raw | State::Done => {}
        }
        self.recount();
    }

    /// Decides the protocol if the held bytes allow, and replays them.
    fn detect(&mut self, out: &mut dyn FnMut(HttpEvent)) {
        let State::Detect(held) = &self.state else { return };
        let client = &held.bytes[Dir::ClientToServer];
        let server = &held.bytes[Dir::ServerToClient];
        let max = self.opts.max_header_bytes;
        let preface = client.iter().zip(PREFACE.iter()).all(|(a, b)| a == b);
        let verdict = if !client.is_empty() {
            if preface && client.len() >= PREFACE.len() {
                Some(Protocol::Http2)
            } else if preface {
                None
            } else {
                match request_line_verdict(client, max) {
                    Verdict::Yes => Some(Protocol::Http1),
                    Verdict::No => Some(Protocol::Raw),
                    Verdict::Wait => None,
                }
            }
        } else {
            match server_first_verdict(server) {
                Verdict::No => Some(Protocol::Raw),
                Verdict::Yes | Verdict::Wait => None,
            }
        };
        let too_much = client.len().max(server.len()) > max;
        let verdict = match verdict {
            None if too_much => Some(Protocol::Raw),
            v => v,
        };
        let Some(protocol) = verdict else { return };
        let State::Detect(held) = std::mem::replace(&mut self.state, State::Done) else { return };
        let mut cx = Cx {
            opts: &self.opts,
            budget: &self.budget,
            out,
            shown: &mut self.shown,
            frame: 0,
            ts: Timestamp::default(),
        };
        match protocol {
            Protocol::Http1 | Protocol::Http2 => {
                let mut state = if protocol == Protocol::Http1 {
                    State::H1(Box::new(h1::Conn::new(&self.opts)))
                } else {
                    State::H2(Box::new(h2::Conn::new(&self.opts)))
                };
                // The client's bytes first: the server's can only be
                // answers to them.
                for want in [Dir::ClientToServer, Dir::ServerToClient] {
                    let mut start = 0;
                    for &(d, end, frame, ts) in &held.pieces {
                        if d != want {
                            continue;
                        }
                        cx.frame = frame;
                        cx.ts = ts;
                        let piece = held.bytes[d].get(start..end).unwrap_or_default();
                        match &mut state {
                            State::H1(c) => c.push(d, piece, &mut cx),
                            State::H2(c) => c.push(d, piece, &mut cx),
                            _ => {}
                        }
                        start = end;
                    }
                }
                self.state = state;
            }
            Protocol::Raw | Protocol::Detect => {
                replay_raw(held, &mut cx);
                self.state = State::Raw;
            }
        }
    }
}

/// Passes held bytes on raw, in the order they came.
fn replay_raw(held: Held, cx: &mut Cx<'_>) {
    let mut starts = PerDir([0usize, 0usize]);
    for (d, end, frame, ts) in held.pieces {
        cx.frame = frame;
        cx.ts = ts;
        cx.raw(d, held.bytes[d].get(starts[d]..end).unwrap_or_default());
        starts[d] = end;
    }
}

/// Spans count u32 bytes: longer messages saturate.
pub(crate) fn span_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Bytes as text for summaries and trees: UTF-8 shown as is (control
/// characters escaped), anything else lossily.
pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().flat_map(|c| c.escape_debug()).collect::<String>()
}
