//! HTTP/1.0 and HTTP/1.1 ([RFC 9112]): messages parsed from each
//! direction's byte stream, requests paired with responses in order
//! (keep-alive and pipelining).
//!
//! Heads are parsed with httparse once complete; bodies are framed here:
//! Content-Length, chunked with trailers, or read until the connection
//! closes ([RFC 9112 §6.3]); HEAD requests and 1xx/204/304 responses have
//! none. CONNECT and accepted upgrades turn the connection into a tunnel
//! (raw bytes), except `Upgrade: h2c`, which continues as HTTP/2.
//!
//! After a gap a length-delimited body just counts the lost bytes; anywhere
//! else the message in progress is reported cut and the direction is
//! searched line by line for the next request or status line.
//!
//! [RFC 9112]: https://www.rfc-editor.org/rfc/rfc9112
//! [RFC 9112 §6.3]: https://www.rfc-editor.org/rfc/rfc9112#section-6.3

use std::collections::VecDeque;

use crate::diag::Severity;
use crate::flow::{Dir, PerDir};
use crate::span::{self, Span};
use crate::time::Timestamp;
use crate::tree::Field;

use super::{
    Body, Cx, Exchange, Headers, HttpEvent, HttpOptions, List, Missing, Verdict, h2, header,
    request_line_verdict, span_u32, text,
};

/// Header slots given to httparse, which parses into a fixed array:
/// 256 slots are 8 KiB of stack; real messages have a few dozen headers.
const MAX_HEADERS: usize = 256;
/// Longest chunk-size line (size and extensions): a hex size is at most 16
/// digits; extensions are rare and short.
const MAX_CHUNK_LINE: usize = 4096;
/// Longest partial line kept while searching for the next message after a
/// gap; longer lines cannot be a request or status line worth finding.
const MAX_RESYNC_LINE: usize = 8192;
/// Chunks listed one by one in a message's field tree; the rest are counted.
const MAX_TREE_CHUNKS: usize = 64;

/// Parse progress of one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Between messages.
    #[default]
    Start,
    /// Reading a head (request/status line and headers) into `buf`.
    Head,
    /// Reading a body.
    Body(Framing),
    /// Client: waiting for the answer to an Upgrade or CONNECT request
    /// before deciding what the following bytes are.
    Held,
    /// Searching for the next message after a gap or a malformed message.
    Resync,
    /// Switched to HTTP/2 (h2c upgrade).
    H2,
    /// A tunnel or another protocol: bytes passed on raw.
    Raw,
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Content-Length: bytes left.
    Length(u64),
    /// Chunked transfer coding.
    Chunked(Chunk),
    /// Until the connection closes.
    Close,
}

/// Where in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The chunk-size line (into `buf`).
    Size,
    /// Chunk data: bytes left.
    Data(u64),
    /// The CRLF after the data; true once the CR was seen.
    DataEnd(bool),
    /// The trailer section after the last chunk (into `buf`).
    Trailers,
}

/// The message being read in one direction.
#[derive(Debug, Default)]
struct Msg {
    /// The pending exchange it belongs to.
    id: u64,
    /// Stream offset of its first byte.
    start: u64,
    /// Head length.
    head_len: u64,
    /// Field tree so far (trees on).
    tree: Vec<Field>,
    /// Chunk fields (trees on).
    chunks: Vec<Field>,
    /// Chunks seen.
    chunk_count: u64,
    /// Offset (in the message) of the current chunk's size line, and its length.
    chunk_start: u64,
    chunk_line: u64,
    /// Informational (1xx) response: the exchange waits for the final one.
    interim: bool,
}

#[derive(Debug, Default)]
struct Side {
    st: St,
    /// Partial head, chunk-size line, trailers or resync line.
    buf: Vec<u8>,
    /// How far `buf` was searched for the end of a head.
    scanned: usize,
    /// Stream offset of the next byte.
    offset: u64,
    msg: Option<Msg>,
    /// Resync: `buf` starts at a line start.
    line_start: bool,
    /// Resync: bytes skipped so far.
    skipped: u64,
    /// Held client bytes, with (end, frame, time) per piece.
    held: Vec<u8>,
    held_pieces: Vec<(usize, u64, Timestamp)>,
}

/// How far a message of an exchange got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Not seen.
    #[default]
    Absent,
    /// Being read.
    Open,
    /// Seen whole.
    Done,
    /// Cut off by a gap, a malformed part or the end of the connection.
    Cut,
}

#[derive(Debug, Default)]
struct Pending {
    id: u64,
    ex: Exchange,
    req: Part,
    resp: Part,
    /// The request was HEAD: the response has no body.
    head: bool,
    /// The request was CONNECT: a 2xx response opens a tunnel.
    connect: bool,
    /// The protocols the request asked to upgrade to (lower case).
    upgrade: Option<String>,
}

impl Pending {
    fn finished(&self) -> bool {
        self.req != Part::Open && matches!(self.resp, Part::Done | Part::Cut)
    }
}

/// The HTTP/1 state of one connection.
#[derive(Debug, Default)]
pub struct Conn {
    sides: PerDir<Side>,
    /// Exchanges in request order; the front is emitted first.
    pending: VecDeque<Pending>,
    next_id: u64,
    /// After an accepted `Upgrade: h2c`.
    h2: Option<Box<h2::Conn>>,
    /// The last capture frame and time seen per direction: where a
    /// message ends when the connection does.
    last: PerDir<(u64, Timestamp)>,
}

/// A parsed head.
struct Head {
    /// Request: method, target. Response: status, reason.
    method: String,
    target: String,
    status: u16,
    reason: String,
    minor: u8,
    headers: Headers,
    tree: Vec<Field>,
}

impl Conn {
    /// A connection in its initial state.
    pub fn new(_opts: &HttpOptions) -> Self {
        Conn::default()
    }

    /// Bytes of its buffers (partial heads, held bytes; the exchanges
    /// count their own).
    pub(crate) fn buffered(&self) -> usize {
        let sides: usize = self
            .sides
            .0
            .iter()
            .map(|s| {
                // An estimate: saturating cannot matter.
                let pieces = s.held_pieces.capacity();
                s.buf
                    .capacity()
                    .saturating_add(s.held.capacity())
                    .saturating_add(pieces.saturating_mul(size_of::<(usize, u64, Timestamp)>()))
            })
            .sum();
        sides
            .saturating_add(self.pending.capacity().saturating_mul(size_of::<Pending>()))
            .saturating_add(self.h2.as_ref().map_or(0, |h| h.buffered()))
    }

    /// Bytes of direction `dir`.
    pub(crate) fn push(&mut self, dir: Dir, mut data: &[u8], cx: &mut Cx<'_>) {
        self.last[dir] = (cx.frame, cx.ts);
        // Every step consumes bytes or changes state; a run of steps that
        // does neither would be a bug, so it is cut short rather than spin.
        let mut idle = 0u32;
        while !data.is_empty() {
            let before = self.sides[dir].st;
            let used = self.step(dir, data, cx).min(data.len());
            let side = &mut self.sides[dir];
            side.offset = side.offset.saturating_add(used as u64);
            data = data.get(used..).unwrap_or_default();
            if used == 0 && self.sides[dir].st == before {
                idle = idle.saturating_add(1);
                if idle > 4 {
                    cx.raw(dir, data);
                    return;
                }
            } else {
                idle = 0;
            }
        }
    }

    fn step(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> usize {
        match self.sides[dir].st {
            St::Start => {
                // RFC 9112 §2.2: empty lines before a message are ignored.
                let n = data.iter().take_while(|&&c| c == b'\r' || c == b'\n').count();
                if n > 0 {
                    return n;
                }
                let side = &mut self.sides[dir];
                side.buf.clear();
                side.scanned = 0;
                side.msg = Some(Msg { start: side.offset, ..Msg::default() });
                side.st = St::Head;
                self.begin_message(dir, cx);
                0
            }
            St::Head => self.head_step(dir, data, cx),
            St::Body(f) => self.body_step(dir, f, data, cx),
            St::Held => {
                let side = &mut self.sides[dir];
                let held = side.held.len().checked_add(data.len());
                if held.is_none_or(|n| n > cx.opts.max_header_bytes) {
                    // The server is not answering: read on as HTTP/1.
                    side.st = St::Start;
                    self.replay_held(dir, cx);
                    return 0;
                }
                side.held.extend_from_slice(data);
                side.held_pieces.push((side.held.len(), cx.frame, cx.ts));
                data.len()
            }
            St::Resync => self.resync_step(dir, data, cx),
            St::H2 => {
                if let Some(h2) = &mut self.h2 {
                    h2.push(dir, data, cx);
                }
                data.len()
            }
            St::Raw => {
                cx.raw(dir, data);
                data.len()
            }
        }
    }

    /// A message starts: the client opens a new exchange; the server
    /// answers the oldest request without a response.
    fn begin_message(&mut self, dir: Dir, cx: &mut Cx<'_>) {
        let id = match dir {
            Dir::ClientToServer => {
                if self.pending.len() >= cx.opts.max_pipeline {
                    let max = cx.opts.max_pipeline;
                    cx.diag(
                        Severity::Warning,
                        "http1.limit",
                        format!("over {max} requests waiting for responses: the oldest is reported without one"),
                    );
                    if let Some(mut p) = self.pending.pop_front() {
                        p.ex.notes.push("no response seen before the pipeline limit".into());
                        if p.resp == Part::Absent || p.resp == Part::Open {
                            p.resp = Part::Cut;
                        }
                        emit(p, cx);
                    }
                }
                let id = self.new_id();
                let ex = Exchange::new(cx);
                self.pending.push_back(Pending { id, ex, req: Part::Open, ..Pending::default() });
                id
            }
            Dir::ServerToClient => {
                match self.pending.iter().find(|p| p.resp == Part::Absent && p.req != Part::Absent)
                {
                    Some(p) => p.id,
                    None => {
                        let id = self.new_id();
                        let mut p = Pending { id, ex: Exchange::new(cx), ..Pending::default() };
                        p.ex.notes.push("response without a request (not captured)".into());
                        self.pending.push_back(p);
                        id
                    }
                }
            }
        };
        if let Some(m) = &mut self.sides[dir].msg {
            m.id = id;
        }
        let frame = cx.frame;
        let ts = cx.ts;
        let start = self.sides[dir].offset;
        if let Some(p) = self.entry(id) {
            match dir {
                Dir::ClientToServer => {
                    p.ex.request_frame = Some(frame);
                    p.ex.request_time = Some(ts);
                    p.ex.request_offset = Some(start);
                }
                Dir::ServerToClient => {
                    p.resp = Part::Open;
                    p.ex.response_frame = Some(frame);
                    p.ex.response_time = Some(ts);
                    p.ex.response_offset = Some(start);
                }
            }
        }
    }

    fn new_id(&mut self) -> u64 {
        self.next_id = self.next_id.saturating_add(1);
        self.next_id
    }

    fn entry(&mut self, id: u64) -> Option<&mut Pending> {
        self.pending.iter_mut().find(|p| p.id == id)
    }

    fn msg_id(&self, dir: Dir) -> u64 {
        self.sides[dir].msg.as_ref().map_or(0, |m| m.id)
    }

    fn head_step(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> usize {
        let limit = cx.opts.max_header_bytes;
        let side = &mut self.sides[dir];
        if side.buf.is_empty() {
            // The common case: the whole head is in this piece; parse it
            // in place.
            if let Some(end) = find_head_end(data, 0)
                && end <= limit
            {
                let head = data.get(..end).unwrap_or_default();
                self.head(dir, head, cx);
                return end;
            }
        }
        let old = side.buf.len();
        let room = limit.saturating_sub(old);
        let take = data.len().min(room);
        side.buf.extend_from_slice(data.get(..take).unwrap_or_default());
        if let Some(end) = find_head_end(&side.buf, side.scanned) {
            let buf = std::mem::take(&mut side.buf);
            let head = buf.get(..end).unwrap_or_default();
            self.head(dir, head, cx);
            let side = &mut self.sides[dir];
            side.buf = buf;
            side.buf.clear();
            return end.saturating_sub(old);
        }
        side.scanned = side.buf.len().saturating_sub(2);
        if side.buf.len() >= limit {
            let at_line_start = side.buf.last() == Some(&b'\n');
            let what = head_name(dir);
            self.cut(dir, cx, format!("{what} is over the limit of {limit} bytes"));
            self.sides[dir].st = St::Resync;
            self.sides[dir].line_start = at_line_start;
            return take;
        }
        take
    }

    /// A complete head: parse it, record it and set up the body.
    fn head(&mut self, dir: Dir, bytes: &[u8], cx: &mut Cx<'_>) {
        let trees = cx.opts.trees;
        let parsed = match dir {
            Dir::ClientToServer => parse_request(bytes, trees),
            Dir::ServerToClient => parse_response(bytes, trees),
        };
        let h = match parsed {
            Ok(h) => h,
            Err(e) => {
                let what = head_name(dir);
                self.cut(dir, cx, format!("malformed {what}: {e}"));
                self.sides[dir].st = St::Resync;
                self.sides[dir].line_start = true;
                return;
            }
        };
        let id = self.msg_id(dir);
        let head_len = bytes.len() as u64;
        let mut h = h;
        if let Some(m) = &mut self.sides[dir].msg {
            m.head_len = head_len;
            m.tree = std::mem::take(&mut h.tree);
        }
        let framing = match dir {
            Dir::ClientToServer => self.request_head(id, h, cx),
            Dir::ServerToClient => self.response_head(id, h, cx),
        };
        match framing {
            Some(Framing::Length(0)) | None => {
                let end =
                    self.sides[dir].msg.as_ref().map_or(0, |m| m.start.saturating_add(head_len));
                self.message_done(dir, end, cx)
            }
            Some(f) => {
                if let Framing::Chunked(_) = f {
                    let start = head_len;
                    if let Some(m) = &mut self.sides[dir].msg {
                        m.chunk_start = start;
                    }
                }
                self.sides[dir].st = St::Body(f);
                self.sides[dir].buf.clear();
            }
        }
    }

    fn request_head(&mut self, id: u64, h: Head, cx: &mut Cx<'_>) -> Option<Framing> {
        let te = header(&h.headers, "transfer-encoding").map(text);
        let framing = match (&te, content_length(&h.headers)) {
            (Some(te), _) => {
                if last_coding_is_chunked(te) {
                    Some(Framing::Chunked(Chunk::Size))
                } else {
                    cx.diag(
                        Severity::Error,
                        "http1.malformed",
                        format!("request Transfer-Encoding {te:?} does not end in chunked: its length cannot be known (RFC 9112 §6.3)"),
                    );
                    Some(Framing::Close)
                }
            }
            (None, Ok(Some(n))) => Some(Framing::Length(n)),
            (None, Ok(None)) => None,
            (None, Err(e)) => {
                cx.diag(Severity::Error, "http1.malformed", format!("request {e}"));
                None
            }
        };
        let upgrade = connection_has(&h.headers, "upgrade")
            .then(|| header(&h.headers, "upgrade").map(|v| text(v).to_ascii_lowercase()))
            .flatten();
        let Some(p) = self.entry(id) else { return framing };
        p.head = h.method == "HEAD";
        p.connect = h.method == "CONNECT";
        p.upgrade = upgrade;
        let ex = &mut p.ex;
        ex.version = if h.minor == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
        ex.authority = header(&h.headers, "host").map(text);
        ex.method = Some(h.method);
        ex.path = Some(h.target);
        ex.request_body.encoding = body_encoding(&h.headers, te.as_deref());
        ex.keep_headers(List::RequestHeaders, h.headers, cx);
        framing
    }

    fn response_head(&mut self, id: u64, h: Head, cx: &mut Cx<'_>) -> Option<Framing> {
        let status = h.status;
        let te = header(&h.headers, "transfer-encoding").map(text);
        let cl = content_length(&h.headers);
        let (head_req, connect) = self.entry(id).map_or((false, false), |p| (p.head, p.connect));
        let interim = (100..200).contains(&status) && status != 101;
        // RFC 9112 §6.3: no body after HEAD, 1xx, 204, 304, or a 2xx to
        // CONNECT (a tunnel starts instead).
        let no_body = head_req
            || (100..200).contains(&status)
            || status == 204
            || status == 304
            || (connect && (200..300).contains(&status));
        let framing = if no_body {
            None
        } else if let Some(te) = &te {
            if last_coding_is_chunked(te) {
                Some(Framing::Chunked(Chunk::Size))
            } else {
                Some(Framing::Close)
            }
        } else {
            match cl {
                Ok(Some(n)) => Some(Framing::Length(n)),
                Ok(None) => Some(Framing::Close),
                Err(e) => {
                    cx.diag(
                        Severity::Error,
                        "http1.malformed",
                        format!("response {e}; reading the body until the connection closes"),
                    );
                    Some(Framing::Close)
                }
            }
        };
        if let Some(m) = &mut self.sides[Dir::ServerToClient].msg {
            m.interim = interim;
        }
        let Some(p) = self.entry(id) else { return framing };
        let ex = &mut p.ex;
        if interim {
            ex.interim.push(status);
            return framing;
        }
        if ex.version.is_empty() {
            ex.version = if h.minor == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
        }
        ex.status = Some(status);
        ex.reason = Some(h.reason);
        ex.response_body.encoding = body_encoding(&h.headers, te.as_deref());
        ex.keep_headers(List::ResponseHeaders, h.headers, cx);
        framing
    }

    fn body_step(&mut self, dir: Dir, f: Framing, data: &[u8], cx: &mut Cx<'_>) -> usize {
        match f {
            Framing::Length(left) => {
                let n = take_len(left, data.len());
                self.body_bytes(dir, data.get(..n).unwrap_or_default(), cx);
                // `n` is at most `left`.
                let left = left.saturating_sub(n as u64);
                self.sides[dir].st = St::Body(Framing::Length(left));
                if left == 0 {
                    let end = self.sides[dir].offset.saturating_add(n as u64);
                    self.message_done(dir, end, cx);
                }
                n
            }
            Framing::Close => {
                self.body_bytes(dir, data, cx);
                data.len()
            }
            Framing::Chunked(Chunk::Data(left)) => {
                let n = take_len(left, data.len());
                self.body_bytes(dir, data.get(..n).unwrap_or_default(), cx);
                let left = left.saturating_sub(n as u64);
                self.sides[dir].st = St::Body(Framing::Chunked(if left == 0 {
                    Chunk::DataEnd(false)
                } else {
                    Chunk::Data(left)
                }));
                n
            }
            Framing::Chunked(Chunk::DataEnd(cr)) => {
                let side = &mut self.sides[dir];
                match (data.first(), cr) {
                    (Some(b'\r'), false) => {
                        side.st = St::Body(Framing::Chunked(Chunk::DataEnd(true)));
                        1
                    }
                    (Some(b'\n'), _) => {
                        let end = side.offset.saturating_add(1);
                        self.chunk_done(dir, end, cx.opts.trees);
                        self.sides[dir].st = St::Body(Framing::Chunked(Chunk::Size));
                        1
                    }
                    _ => {
                        self.cut(dir, cx, "chunk data is not followed by CRLF".into());
                        self.sides[dir].st = St::Resync;
                        self.sides[dir].line_start = false;
                        0
                    }
                }
            }
            Framing::Chunked(Chunk::Size) => self.chunk_size_step(dir, data, cx),
            Framing::Chunked(Chunk::Trailers) => self.trailers_step(dir, data, cx),
        }
    }

    fn body_bytes(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) {
        let id = self.msg_id(dir);
        if let Some(p) = self.entry(id) {
            p.ex.push_body(dir, data, cx);
        }
    }

    fn chunk_size_step(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> usize {
        let side = &mut self.sides[dir];
        if side.buf.is_empty()
            && let Some(m) = &mut side.msg
        {
            m.chunk_start = side.offset.saturating_sub(m.start);
        }
        let used = through_newline(data).len();
        // Read no further than one byte past the limit, so that where the
        // line is cut does not depend on how the bytes came.
        let room = (MAX_CHUNK_LINE + 1).saturating_sub(side.buf.len().min(MAX_CHUNK_LINE));
        let used = used.min(room);
        let line_end = data.get(..used).and_then(<[u8]>::last) == Some(&b'\n');
        side.buf.extend_from_slice(data.get(..used).unwrap_or_default());
        if side.buf.len() > MAX_CHUNK_LINE {
            self.cut(dir, cx, format!("chunk-size line is over {MAX_CHUNK_LINE} bytes"));
            self.sides[dir].st = St::Resync;
            self.sides[dir].line_start = line_end;
            return used;
        }
        if !line_end {
            return used;
        }
        let line = std::mem::take(&mut side.buf);
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, n))) => Some(n),
            _ => None,
        };
        if let Some(m) = &mut side.msg {
            m.chunk_line = line.len() as u64;
        }
        side.buf = line;
        side.buf.clear();
        match size {
            Some(0) => {
                side.st = St::Body(Framing::Chunked(Chunk::Trailers));
            }
            Some(n) => {
                side.st = St::Body(Framing::Chunked(Chunk::Data(n)));
            }
            None => {
                self.cut(dir, cx, "malformed chunk-size line".into());
                self.sides[dir].st = St::Resync;
                self.sides[dir].line_start = true;
            }
        }
        used
    }

    /// Records a chunk in the tree; `end` is the stream offset after it.
    fn chunk_done(&mut self, dir: Dir, end: u64, trees: bool) {
        let Some(m) = &mut self.sides[dir].msg else { return };
        m.chunk_count = m.chunk_count.saturating_add(1);
        if !trees || m.chunks.len() >= MAX_TREE_CHUNKS {
            return;
        }
        let start = m.chunk_start;
        let len = end.saturating_sub(m.start).saturating_sub(start);
        let data_len = len.saturating_sub(m.chunk_line).saturating_sub(2);
        let s = span_u32(start);
        let size_span = Span::new(s, span_u32(m.chunk_line));
        let data_span = Span::new(size_span.end(), span_u32(data_len));
        m.chunks.push(Field {
            key: "chunk",
            label: format!("Chunk: {data_len} bytes"),
            value: String::new(),
            span: Span::new(s, span_u32(len)),
            children: vec![
                leaf("chunk_size", "Chunk size line".into(), size_span, String::new()),
                leaf("chunk_data", "Chunk data".into(), data_span, format!("{data_len} bytes")),
            ],
            notes: Vec::new(),
        });
    }

    fn trailers_step(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> usize {
        let limit = cx.opts.max_header_bytes;
        let side = &mut self.sides[dir];
        let old = side.buf.len();
        let take = data.len().min(limit.saturating_sub(old).max(1));
        side.buf.extend_from_slice(data.get(..take).unwrap_or_default());
        let end = if side.buf.starts_with(b"\r\n") {
            Some(2)
        } else if side.buf.starts_with(b"\n") {
            Some(1)
        } else if side.buf == b"\r" {
            None
        } else {
            find_head_end(&side.buf, old.saturating_sub(2))
        };
        let Some(end) = end else {
            if side.buf.len() >= limit {
                let at_line_start = side.buf.last() == Some(&b'\n');
                self.cut(dir, cx, format!("trailer section is over the limit of {limit} bytes"));
                self.sides[dir].st = St::Resync;
                self.sides[dir].line_start = at_line_start;
            }
            return take;
        };
        let buf = std::mem::take(&mut side.buf);
        let section = buf.get(..end).unwrap_or_default();
        let trailers = if end <= 2 { Ok(Vec::new()) } else { parse_fields(section) };
        // The section started `old` bytes before this piece.
        let section_at = side.offset.saturating_sub(old as u64);
        if let Some(m) = &mut side.msg {
            m.chunk_count = m.chunk_count.saturating_add(1);
            if cx.opts.trees {
                let start = section_at.saturating_sub(m.start);
                let line_start = start.saturating_sub(m.chunk_line);
                m.chunks.push(leaf(
                    "last_chunk",
                    "Last chunk".into(),
                    Span::new(span_u32(line_start), span_u32(m.chunk_line)),
                    String::new(),
                ));
                m.chunks.push(leaf(
                    "trailer_section",
                    "Trailer section".into(),
                    Span::new(span_u32(start), span_u32(end as u64)),
                    String::new(),
                ));
            }
        }
        side.buf = buf;
        side.buf.clear();
        let used = end.saturating_sub(old);
        match trailers {
            Ok(t) => {
                let id = self.msg_id(dir);
                if let Some(p) = self.entry(id) {
                    let which = match dir {
                        Dir::ClientToServer => List::RequestTrailers,
                        Dir::ServerToClient => List::ResponseTrailers,
                    };
                    p.ex.keep_headers(which, t, cx);
                }
            }
            Err(e) => {
                cx.diag(Severity::Error, "http1.malformed", format!("malformed trailers: {e}"))
            }
        }
        self.message_done(dir, section_at.saturating_add(end as u64), cx);
        used
    }

    /// The message in direction `dir` is complete; `end` is the stream
    /// offset after its last byte.
    fn message_done(&mut self, dir: Dir, end: u64, cx: &mut Cx<'_>) {
        let side = &mut self.sides[dir];
        side.st = St::Start;
        side.buf.clear();
        let Some(mut m) = side.msg.take() else { return };
        let len = end.saturating_sub(m.start);
        if cx.opts.trees {
            let body_len = len.saturating_sub(m.head_len);
            let span = Span::new(span_u32(m.head_len), span_u32(body_len));
            if m.chunk_count > 0 {
                let more = m.chunk_count.saturating_sub(m.chunks.len() as u64);
                let mut f = leaf(
                    "body",
                    format!("Chunked body: {} chunks", m.chunk_count),
                    span,
                    String::new(),
                );
                f.children = std::mem::take(&mut m.chunks);
                if more > 0 {
                    f.notes.push(format!("{more} more chunks not listed"));
                }
                m.tree.push(f);
            } else if body_len > 0 {
                m.tree.push(leaf("body", "Body".into(), span, format!("{body_len} bytes")));
            }
        }
        let id = m.id;
        let frame = cx.frame;
        let Some(p) = self.entry(id) else { return };
        if dir == Dir::ClientToServer {
            p.req = Part::Done;
            p.ex.keep_tree(dir, m.tree, cx);
            p.ex.request_end_frame = Some(frame);
            if p.connect || p.upgrade.is_some() {
                self.sides[dir].st = St::Held;
            }
            self.drain(cx);
            return;
        }
        if m.interim {
            // The final response is still to come.
            p.resp = Part::Absent;
            return;
        }
        p.resp = Part::Done;
        p.ex.keep_tree(dir, m.tree, cx);
        p.ex.end_frame = Some(frame);
        let status = p.ex.status.unwrap_or(0);
        let h2c = status == 101
            && p.upgrade.as_deref().is_some_and(|u| u.split(',').any(|t| t.trim() == "h2c"));
        let tunnel = status == 101 || (p.connect && (200..300).contains(&status));
        let asked = p.upgrade.is_some() || p.connect;
        if tunnel && !h2c {
            let note = if status == 101 {
                format!(
                    "switched to {}; its bytes follow raw",
                    p.upgrade.as_deref().unwrap_or("another protocol")
                )
            } else {
                "tunnel opened; its bytes follow raw".to_string()
            };
            p.ex.notes.push(note);
        }
        if h2c {
            self.switch_to_h2(id, cx);
            return;
        }
        let client_held = self.sides[Dir::ClientToServer].st == St::Held;
        if tunnel {
            self.sides[Dir::ServerToClient].st = St::Raw;
            if client_held {
                self.sides[Dir::ClientToServer].st = St::Raw;
                self.replay_held(Dir::ClientToServer, cx);
            }
        } else if asked && client_held {
            // Not accepted: the client's bytes are HTTP/1 after all.
            self.sides[Dir::ClientToServer].st = St::Start;
            self.replay_held(Dir::ClientToServer, cx);
        }
        self.drain(cx);
    }

    /// `Upgrade: h2c` accepted: the request becomes stream 1 of an HTTP/2
    /// connection (RFC 7540 §3.2; RFC 9113 §3.1 deprecates it, peers still
    /// send it).
    fn switch_to_h2(&mut self, id: u64, cx: &mut Cx<'_>) {
        let Some(pos) = self.pending.iter().position(|p| p.id == id) else { return };
        let Some(mut p) = self.pending.remove(pos) else { return };
        // Exchanges before it are done (responses come in order).
        p.ex.interim.push(101);
        p.ex.status = None;
        p.ex.reason = None;
        p.ex.keep_headers(List::ResponseHeaders, Vec::new(), cx);
        p.ex.response_frame = None;
        p.ex.response_time = None;
        p.ex.response_offset = None;
        p.ex.keep_tree(Dir::ServerToClient, Vec::new(), cx);
        p.ex.notes.push("upgraded to HTTP/2 (h2c): the response is on stream 1".into());
        let settings = header(&p.ex.request_headers, "http2-settings").map(<[u8]>::to_vec);
        let h2 = h2::Conn::upgraded(cx.opts, p.ex, settings.as_deref(), cx);
        self.h2 = Some(Box::new(h2));
        self.sides[Dir::ServerToClient].st = St::H2;
        let client = self.sides[Dir::ClientToServer].st;
        if client == St::Held || client == St::Start {
            self.sides[Dir::ClientToServer].st = St::H2;
            self.replay_held(Dir::ClientToServer, cx);
        }
        self.drain(cx);
    }

    /// Feeds the held client bytes through the current state.
    fn replay_held(&mut self, dir: Dir, cx: &mut Cx<'_>) {
        let side = &mut self.sides[dir];
        let held = std::mem::take(&mut side.held);
        let pieces = std::mem::take(&mut side.held_pieces);
        // They were counted when held.
        side.offset = side.offset.saturating_sub(held.len() as u64);
        let (frame, ts) = (cx.frame, cx.ts);
        let last = self.last[dir];
        let mut start = 0;
        for (end, f, t) in pieces {
            cx.frame = f;
            cx.ts = t;
            self.push(dir, held.get(start..end).unwrap_or_default(), cx);
            start = end;
        }
        (cx.frame, cx.ts) = (frame, ts);
        self.last[dir] = last;
    }

    /// Emits finished exchanges from the front.
    fn drain(&mut self, cx: &mut Cx<'_>) {
        while self.pending.front().is_some_and(Pending::finished) {
            if let Some(p) = self.pending.pop_front() {
                emit(p, cx);
            }
        }
    }

    /// The message in progress in `dir` cannot be read further (a
    /// diagnostic says why unless the caller reported it already).
    fn cut(&mut self, dir: Dir, cx: &mut Cx<'_>, why: String) {
        self.cut_quietly(dir, cx, why.clone());
        cx.diag(Severity::Error, "http1.malformed", why);
    }

    fn cut_quietly(&mut self, dir: Dir, cx: &mut Cx<'_>, why: String) {
        let side = &mut self.sides[dir];
        // A head cut short may still show its first line.
        let first_line = if side.st == St::Head {
            side.buf.iter().position(|&c| c == b'\n').and_then(|i| {
                let mut line = side.buf.get(..=i)?.to_vec();
                line.extend_from_slice(b"\r\n");
                match dir {
                    Dir::ClientToServer => parse_request(&line, false).ok(),
                    Dir::ServerToClient => parse_response(&line, false).ok(),
                }
            })
        } else {
            None
        };
        side.buf.clear();
        let Some(m) = side.msg.take() else { return };
        if let Some(h) = first_line {
            self.first_line_only(dir, m.id, h);
        }
        if let Some(p) = self.entry(m.id) {
            p.ex.notes.push(why);
            match dir {
                Dir::ClientToServer => p.req = Part::Cut,
                Dir::ServerToClient => p.resp = Part::Cut,
            }
            p.ex.keep_tree(dir, m.tree, cx);
        }
        self.drain(cx);
    }

    /// Records what the first line of a head cut short says.
    fn first_line_only(&mut self, dir: Dir, id: u64, h: Head) {
        let Some(p) = self.entry(id) else { return };
        let ex = &mut p.ex;
        let version = if h.minor == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
        match dir {
            Dir::ClientToServer => {
                ex.version = version;
                ex.method = Some(h.method);
                ex.path = Some(h.target);
            }
            Dir::ServerToClient => {
                if ex.version.is_empty() {
                    ex.version = version;
                }
                ex.status = Some(h.status);
                ex.reason = Some(h.reason);
            }
        }
    }

    fn resync_step(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> usize {
        let side = &mut self.sides[dir];
        let piece = through_newline(data);
        let (used, line_end) = (piece.len(), piece.last() == Some(&b'\n'));
        if side.line_start {
            if side.buf.len().checked_add(piece.len()).is_some_and(|n| n <= MAX_RESYNC_LINE) {
                side.buf.extend_from_slice(piece);
            } else {
                side.line_start = false;
                side.skipped = side.skipped.saturating_add(side.buf.len() as u64);
                side.buf.clear();
            }
        }
        let verdict = if side.line_start { message_start(dir, &side.buf) } else { Verdict::No };
        match verdict {
            Verdict::Yes => {
                // `buf` holds the start line of the next message.
                let line_len = side.buf.len() as u64;
                let start = side.offset.saturating_add(used as u64).saturating_sub(line_len);
                let skipped = side.skipped;
                side.skipped = 0;
                side.st = St::Head;
                side.scanned = 0;
                let line = std::mem::take(&mut side.buf);
                side.msg = Some(Msg { start, ..Msg::default() });
                // begin_message reads the message start from `offset`.
                let now = side.offset;
                side.offset = start;
                self.begin_message(dir, cx);
                let side = &mut self.sides[dir];
                side.offset = now;
                side.buf = line;
                if skipped > 0 {
                    cx.diag(
                        Severity::Note,
                        "http1.resync",
                        format!(
                            "skipped {skipped} bytes from the {} to the next {}",
                            dir.sender(),
                            match dir {
                                Dir::ClientToServer => "request",
                                Dir::ServerToClient => "response",
                            }
                        ),
                    );
                }
                used
            }
            Verdict::Wait if !line_end => used,
            _ => {
                let skipped = if side.line_start { side.buf.len() } else { used };
                side.skipped = side.skipped.saturating_add(skipped as u64);
                side.buf.clear();
                side.line_start = line_end;
                used
            }
        }
    }

    /// `len` bytes of `dir` were lost (about as many, when `why` says
    /// the length is not exact).
    pub(crate) fn gap(&mut self, dir: Dir, len: u64, why: Missing, cx: &mut Cx<'_>) {
        let sender = dir.sender();
        let st = self.sides[dir].st;
        match st {
            St::Body(Framing::Length(left)) if len <= left && why.exact() => {
                self.lose(dir, len);
                // `len` is at most `left` (the guard).
                let left = left.saturating_sub(len);
                let side = &mut self.sides[dir];
                side.offset = side.offset.saturating_add(len);
                self.sides[dir].st = St::Body(Framing::Length(left));
                cx.diag(Severity::Warning, "http1.gap", why.text(len, " of a body", sender));
                if left == 0 {
                    let end = self.sides[dir].offset;
                    self.message_done(dir, end, cx);
                }
                return;
            }
            St::Body(Framing::Chunked(Chunk::Data(left))) if len <= left && why.exact() => {
                self.lose(dir, len);
                let side = &mut self.sides[dir];
                side.offset = side.offset.saturating_add(len);
                side.st = St::Body(Framing::Chunked(if len == left {
                    Chunk::DataEnd(false)
                } else {
                    // `len` is below `left` (the guard).
                    Chunk::Data(left.saturating_sub(len))
                }));
                cx.diag(Severity::Warning, "http1.gap", why.text(len, " of a chunk", sender));
                return;
            }
            St::Body(Framing::Close) => {
                self.lose(dir, len);
                let side = &mut self.sides[dir];
                side.offset = side.offset.saturating_add(len);
                cx.diag(Severity::Warning, "http1.gap", why.text(len, " of a body", sender));
                return;
            }
            St::H2 => {
                if let Some(h2) = &mut self.h2 {
                    h2.gap(dir, len, why, cx);
                }
                return;
            }
            St::Raw => return,
            St::Start | St::Resync | St::Held => {
                let side = &mut self.sides[dir];
                side.held.clear();
                side.held_pieces.clear();
                cx.diag(
                    Severity::Warning,
                    "http1.gap",
                    format!("{}; looking for the next message", why.text(len, "", sender)),
                );
            }
            St::Head | St::Body(_) => {
                if st != St::Head {
                    self.lose(dir, len);
                }
                let why = format!(
                    "{} inside a message; looking for the next one",
                    why.text(len, "", sender)
                );
                cx.diag(Severity::Warning, "http1.gap", why.clone());
                self.cut_quietly(dir, cx, why);
            }
        }
        let side = &mut self.sides[dir];
        side.offset = side.offset.saturating_add(len);
        side.st = St::Resync;
        side.line_start = true;
        side.buf.clear();
        side.skipped = 0;
    }

    fn lose(&mut self, dir: Dir, len: u64) {
        let id = self.msg_id(dir);
        if let Some(p) = self.entry(id) {
            body_of(p, dir).lose(len);
        }
    }

    /// The connection ended.
    pub(crate) fn finish(&mut self, cx: &mut Cx<'_>) {
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            (cx.frame, cx.ts) = self.last[dir];
            if self.sides[dir].st == St::Held {
                // No answer came: what the client sent after is HTTP/1 or raw;
                // read it as HTTP/1.
                self.sides[dir].st = St::Start;
                self.replay_held(dir, cx);
            }
            match self.sides[dir].st {
                St::Body(Framing::Close) => {
                    let end = self.sides[dir].offset;
                    self.message_done(dir, end, cx)
                }
                St::Head | St::Body(_) => {
                    let what = match dir {
                        Dir::ClientToServer => "request",
                        Dir::ServerToClient => "response",
                    };
                    self.cut(dir, cx, format!("the connection ended inside a {what}"))
                }
                _ => {}
            }
        }
        if let Some(h2) = &mut self.h2 {
            h2.finish(cx);
        }
        while let Some(mut p) = self.pending.pop_front() {
            if p.resp == Part::Absent {
                p.ex.notes.push("no response seen".into());
            }
            emit(p, cx);
        }
    }
}

/// Emits an exchange, deciding whether it is complete.
fn emit(mut p: Pending, cx: &mut Cx<'_>) {
    let ex = &mut p.ex;
    ex.complete = p.req == Part::Done
        && p.resp == Part::Done
        && ex.request_body.missing == 0
        && ex.response_body.missing == 0;
    if ex.version.is_empty() {
        ex.version = "HTTP/1.1";
    }
    ex.finish_bodies(cx);
    cx.emit(HttpEvent::Exchange(Box::new(p.ex)));
}

fn body_of(p: &mut Pending, dir: Dir) -> &mut Body {
    match dir {
        Dir::ClientToServer => &mut p.ex.request_body,
        Dir::ServerToClient => &mut p.ex.response_body,
    }
}

fn head_name(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "request head",
        Dir::ServerToClient => "response head",
    }
}

fn take_len(left: u64, have: usize) -> usize {
    usize::try_from(left).map_or(have, |l| l.min(have))
}

/// Is the line in `b` (so far) the start of a message in `dir`?
fn message_start(dir: Dir, b: &[u8]) -> Verdict {
    match dir {
        Dir::ClientToServer => request_line_verdict(b, MAX_RESYNC_LINE),
        Dir::ServerToClient => {
            // HTTP/1.d SP 3DIGIT
            let pat: &[u8] = b"HTTP/1.";
            for (i, want) in pat.iter().enumerate() {
                match b.get(i) {
                    None => return Verdict::Wait,
                    Some(c) if c == want => {}
                    Some(_) => return Verdict::No,
                }
            }
            let rest = [b.get(7), b.get(8), b.get(9), b.get(10), b.get(11)];
            let ok = [
                |c: u8| c.is_ascii_digit(),
                |c: u8| c == b' ',
                |c: u8| c.is_ascii_digit(),
                |c: u8| c.is_ascii_digit(),
                |c: u8| c.is_ascii_digit(),
            ];
            for (c, f) in rest.iter().zip(ok.iter()) {
                match c {
                    None => return Verdict::Wait,
                    Some(c) if f(**c) => {}
                    Some(_) => return Verdict::No,
                }
            }
            if b.last() == Some(&b'\n') { Verdict::Yes } else { Verdict::Wait }
        }
    }
}

/// End of a head: the index after the empty line that ends it (CRLF CRLF,
/// or bare LFs, which RFC 9112 §2.2 lets a recipient accept). Searches from
/// `from`.
fn find_head_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'\n')) {
        // Indices into `b`: no overflow.
        let nl = i.checked_add(off)?;
        let rest = b.get(nl..).unwrap_or_default();
        if rest.starts_with(b"\n\n") {
            return nl.checked_add(2);
        }
        if rest.starts_with(b"\n\r\n") {
            return nl.checked_add(3);
        }
        i = nl.checked_add(1)?;
    }
    None
}

/// `b` up to and including its first newline; all of it if it has none.
fn through_newline(b: &[u8]) -> &[u8] {
    b.split_inclusive(|&c| c == b'\n').next().unwrap_or_default()
}

fn parser_config() -> httparse::ParserConfig {
    // A dissector reads what peers sent, not what they should have: be
    // lenient where httparse allows it.
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

/// Offset of `part` within `base` (see [`span::offset_in`]); 0 for a part
/// that is not inside it (httparse hands back slices of what it was given).
fn offset_in(base: &[u8], part: &[u8]) -> u32 {
    span::offset_in(base, part).map_or(0, |o| u32::try_from(o).unwrap_or(u32::MAX))
}

fn leaf(key: &'static str, label: String, span: Span, value: String) -> Field {
    Field { key, label, value, span, children: Vec::new(), notes: Vec::new() }
}

/// Header fields as (name, value) and, with trees, their fields.
fn collect_headers(
    base: &[u8],
    hs: &[httparse::Header<'_>],
    trees: bool,
    head_len: u32,
    line_end: u32,
) -> (Headers, Option<Field>) {
    let headers: Headers = hs.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();
    if !trees {
        return (headers, None);
    }
    let mut children = Vec::new();
    for h in hs {
        let start = offset_in(base, h.name.as_bytes());
        let end = offset_in(base, h.value).saturating_add(span_u32(h.value.len() as u64));
        children.push(leaf(
            "header",
            format!("{}: {}", h.name, text(h.value)),
            Span::new(start, end.saturating_sub(start)),
            String::new(),
        ));
    }
    let f = Field {
        key: "headers",
        label: format!("Headers ({})", hs.len()),
        value: String::new(),
        span: Span::new(line_end, head_len.saturating_sub(line_end)),
        children,
        notes: Vec::new(),
    };
    (headers, Some(f))
}

fn first_line_len(b: &[u8]) -> u32 {
    span_u32(through_newline(b).len() as u64)
}

fn parse_request(b: &[u8], trees: bool) -> Result<Head, String> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    match parser_config().parse_request(&mut req, b) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete".into()),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!("over {MAX_HEADERS} header fields"));
        }
        Err(e) => return Err(e.to_string()),
    }
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    let minor = req.version.unwrap_or(1);
    let head_len = span_u32(b.len() as u64);
    let line = first_line_len(b);
    let (headers, hf) = collect_headers(b, req.headers, trees, head_len, line);
    let mut tree = Vec::new();
    if trees {
        let m = Span::new(0, span_u32(method.len() as u64));
        let t = Span::new(offset_in(b, target.as_bytes()), span_u32(target.len() as u64));
        // The version is the line's last 8 bytes before CRLF (or LF).
        let mut content = b.get(..line as usize).unwrap_or_default();
        while let [rest @ .., b'\r' | b'\n'] = content {
            content = rest;
        }
        let content_len = content.len();
        let v = Span::new(span_u32(content_len.saturating_sub(8) as u64), 8);
        tree.push(Field {
            key: "request_line",
            label: format!("Request line: {method} {target} HTTP/1.{minor}"),
            value: String::new(),
            span: Span::new(0, line),
            children: vec![
                leaf("method", "Method".into(), m, method.to_string()),
                leaf("target", "Request target".into(), t, target.to_string()),
                leaf("version", "Version".into(), v, format!("HTTP/1.{minor}")),
            ],
            notes: Vec::new(),
        });
        tree.extend(hf);
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        status: 0,
        reason: String::new(),
        minor,
        headers,
        tree,
    })
}

fn parse_response(b: &[u8], trees: bool) -> Result<Head, String> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    match parser_config().parse_response(&mut resp, b) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete".into()),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(format!("over {MAX_HEADERS} header fields"));
        }
        Err(e) => return Err(e.to_string()),
    }
    let status = resp.code.unwrap_or(0);
    let reason = resp.reason.unwrap_or_default();
    let minor = resp.version.unwrap_or(1);
    let head_len = span_u32(b.len() as u64);
    let line = first_line_len(b);
    let (headers, hf) = collect_headers(b, resp.headers, trees, head_len, line);
    let mut tree = Vec::new();
    if trees {
        // After "HTTP/1.x" and its spaces: within the head.
        let code_at = 8usize.saturating_add(b.iter().skip(8).take_while(|&&c| c == b' ').count());
        let mut children = vec![
            leaf("version", "Version".into(), Span::new(0, 8), format!("HTTP/1.{minor}")),
            leaf(
                "status",
                "Status code".into(),
                Span::new(span_u32(code_at as u64), 3),
                status.to_string(),
            ),
        ];
        if !reason.is_empty() {
            let at = offset_in(b, reason.as_bytes());
            children.push(leaf(
                "reason",
                "Reason phrase".into(),
                Span::new(at, span_u32(reason.len() as u64)),
                reason.to_string(),
            ));
        }
        tree.push(Field {
            key: "status_line",
            label: format!("Status line: HTTP/1.{minor} {status} {reason}"),
            value: String::new(),
            span: Span::new(0, line),
            children,
            notes: Vec::new(),
        });
        tree.extend(hf);
    }
    Ok(Head {
        method: String::new(),
        target: String::new(),
        status,
        reason: reason.to_string(),
        minor,
        headers,
        tree,
    })
}

/// Header fields alone (a trailer section).
fn parse_fields(b: &[u8]) -> Result<Headers, String> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(b, &mut hs) {
        Ok(httparse::Status::Complete((_, hs))) => {
            Ok(hs.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect())
        }
        Ok(httparse::Status::Partial) => Err("incomplete".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Content-Length ([RFC 9110 §8.6](https://www.rfc-editor.org/rfc/rfc9110#section-8.6)):
/// several fields or a list must all agree.
fn content_length(headers: &Headers) -> Result<Option<u64>, String> {
    let mut found: Option<u64> = None;
    for (n, v) in headers {
        if !n.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for part in text(v).split(',') {
            let p = part.trim();
            let n: u64 = p
                .parse()
                .ok()
                .filter(|_| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| format!("Content-Length {p:?} is not a number"))?;
            match found {
                Some(f) if f != n => {
                    return Err(format!("Content-Length values {f} and {n} disagree"));
                }
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

fn last_coding_is_chunked(te: &str) -> bool {
    te.rsplit(',').next().is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
}

/// Whether the Connection header lists `option`.
fn connection_has(headers: &Headers, option: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .any(|(_, v)| text(v).split(',').any(|o| o.trim().eq_ignore_ascii_case(option)))
}

/// Content-Encoding, followed by transfer codings other than chunked
/// (applied after it).
fn body_encoding(headers: &Headers, te: Option<&str>) -> Option<String> {
    let mut codings: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| text(v))
        .collect();
    if let Some(te) = te {
        codings.extend(
            te.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("chunked"))
                .map(str::to_string),
        );
    }
    (!codings.is_empty()).then(|| codings.join(", "))
}
