//! HTTP/2 ([RFC 9113]): frames read from each direction's byte stream,
//! header blocks decoded with one HPACK decoder per direction, and
//! requests and responses assembled per stream.
//!
//! DATA payloads are streamed: each byte is looked at once and at most
//! [`HttpOptions::max_body`] bytes per body are copied. Other frames are
//! buffered whole (header blocks up to [`HttpOptions::max_header_bytes`],
//! the rest up to [`HttpOptions::max_frame_buffer`]) and parsed with
//! [`Reader`], so every field of every frame has a span for the tree.
//!
//! Connection errors (RFC 9113 §5.4.1) are reported as diagnostics and
//! decoding goes on where it still makes sense. After a gap a direction can
//! only go on if the gap fell inside a DATA frame (the bytes are counted as
//! missing); otherwise frame boundaries and the HPACK table are lost and
//! the rest of that direction is not decoded (said once).
//!
//! [RFC 9113]: https://www.rfc-editor.org/rfc/rfc9113

use std::collections::{BTreeMap, VecDeque};

use crate::budget::ITEM_COST;
use crate::diag::Severity;
use crate::flow::{Dir, PerDir};
use crate::span::{ParseError, Reader, Span};
use crate::tree::{Tree, hex_short};

use super::hpack::{self, Item};
use super::{
    Cx, Exchange, H2FrameInfo, Headers, HttpEvent, HttpOptions, List, Missing, PREFACE, header,
    text,
};

/// Frame types ([RFC 9113 §6](https://www.rfc-editor.org/rfc/rfc9113#section-6)).
pub mod kind {
    /// DATA (§6.1).
    pub const DATA: u8 = 0x0;
    /// HEADERS (§6.2).
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (§6.3).
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM (§6.4).
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS (§6.5).
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING (§6.7).
    pub const PING: u8 = 0x6;
    /// GOAWAY (§6.8).
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION (§6.10).
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    /// END_STREAM on DATA and HEADERS; ACK on SETTINGS and PING.
    pub const END_STREAM: u8 = 0x1;
    /// ACK on SETTINGS and PING.
    pub const ACK: u8 = 0x1;
    /// END_HEADERS on HEADERS, PUSH_PROMISE, CONTINUATION.
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED on DATA, HEADERS, PUSH_PROMISE.
    pub const PADDED: u8 = 0x8;
    /// PRIORITY on HEADERS.
    pub const PRIORITY: u8 = 0x20;
}

/// Bytes in a frame header.
pub const FRAME_HEADER: usize = 9;

/// SETTINGS_MAX_FRAME_SIZE until a peer announces another (§6.5.2).
const DEFAULT_MAX_FRAME: u32 = 16_384;

/// SETTINGS frames of one side kept while waiting for their ACK. Peers
/// acknowledge at once; a peer that does not is reported, and its oldest
/// unacknowledged SETTINGS forgotten, rather than queued without end.
const MAX_PENDING_SETTINGS: usize = 16;

/// The frame type's name as RFC 9113 writes it (and the registered
/// extension types), or `unknown`.
pub fn frame_type_name(t: u8) -> &'static str {
    match t {
        kind::DATA => "DATA",
        kind::HEADERS => "HEADERS",
        kind::PRIORITY => "PRIORITY",
        kind::RST_STREAM => "RST_STREAM",
        kind::SETTINGS => "SETTINGS",
        kind::PUSH_PROMISE => "PUSH_PROMISE",
        kind::PING => "PING",
        kind::GOAWAY => "GOAWAY",
        kind::WINDOW_UPDATE => "WINDOW_UPDATE",
        kind::CONTINUATION => "CONTINUATION",
        0xa => "ALTSVC",
        0xc => "ORIGIN",
        0x10 => "PRIORITY_UPDATE",
        _ => "unknown",
    }
}

/// Error code names ([RFC 9113 §7](https://www.rfc-editor.org/rfc/rfc9113#section-7)).
pub fn error_code_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "unknown",
    }
}

/// Setting names ([RFC 9113 §6.5.2](https://www.rfc-editor.org/rfc/rfc9113#section-6.5.2),
/// RFC 8441, RFC 9218).
pub fn setting_name(id: u16) -> &'static str {
    match id {
        0x1 => "HEADER_TABLE_SIZE",
        0x2 => "ENABLE_PUSH",
        0x3 => "MAX_CONCURRENT_STREAMS",
        0x4 => "INITIAL_WINDOW_SIZE",
        0x5 => "MAX_FRAME_SIZE",
        0x6 => "MAX_HEADER_LIST_SIZE",
        0x8 => "ENABLE_CONNECT_PROTOCOL",
        0x9 => "NO_RFC7540_PRIORITIES",
        _ => "unknown",
    }
}

/// The names of the flags set, for a frame type.
pub fn flag_names(t: u8, flags: u8) -> Vec<&'static str> {
    let mut out = Vec::new();
    let known: &[(u8, &str)] = match t {
        kind::DATA => &[(flag::END_STREAM, "END_STREAM"), (flag::PADDED, "PADDED")],
        kind::HEADERS => &[
            (flag::END_STREAM, "END_STREAM"),
            (flag::END_HEADERS, "END_HEADERS"),
            (flag::PADDED, "PADDED"),
            (flag::PRIORITY, "PRIORITY"),
        ],
        kind::SETTINGS | kind::PING => &[(flag::ACK, "ACK")],
        kind::PUSH_PROMISE => &[(flag::END_HEADERS, "END_HEADERS"), (flag::PADDED, "PADDED")],
        kind::CONTINUATION => &[(flag::END_HEADERS, "END_HEADERS")],
        _ => &[],
    };
    for &(bit, name) in known {
        if flags & bit != 0 {
            out.push(name);
        }
    }
    out
}

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hdr {
    len: u32,
    kind: u8,
    flags: u8,
    stream: u32,
    /// The reserved bit before the stream identifier.
    reserved: bool,
}

impl Hdr {
    fn parse(b: &[u8; FRAME_HEADER]) -> Hdr {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *b;
        let id = u32::from_be_bytes([s0, s1, s2, s3]);
        Hdr {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind,
            flags,
            stream: id & 0x7fff_ffff,
            reserved: id & 0x8000_0000 != 0,
        }
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn is_block(&self) -> bool {
        matches!(self.kind, kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION)
    }
}

/// Parse progress of one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// Client: bytes of the connection preface matched so far.
    Preface(usize),
    /// Reading a frame header.
    Header,
    /// Buffering the payload of a frame other than DATA.
    Buffer(Hdr),
    /// Streaming a DATA payload: bytes read, pad length (when PADDED and
    /// read).
    Data(Hdr, u32, u8),
    /// Frame boundaries are lost (a gap): nothing more is decoded.
    Lost,
}

/// A header block being reassembled from HEADERS/PUSH_PROMISE and
/// CONTINUATION frames.
#[derive(Debug)]
struct Block {
    stream: u32,
    /// HEADERS or PUSH_PROMISE.
    kind: u8,
    end_stream: bool,
    promised: u32,
    bytes: Vec<u8>,
    frames: u32,
    first_frame: u64,
    /// Went over the limit: not decodable.
    over: bool,
}

/// What a SETTINGS frame changes once acknowledged.
#[derive(Clone, Copy, Debug, Default)]
struct Announced {
    header_table_size: Option<u32>,
    max_frame_size: Option<u32>,
}

#[derive(Debug)]
struct Side {
    st: St,
    hdr: [u8; FRAME_HEADER],
    hdr_len: usize,
    /// Payload of the frame being buffered (at most the frame's limit).
    buf: Vec<u8>,
    /// Payload bytes of that frame read so far (kept or not).
    got: u32,
    /// Bytes of it lost in a gap.
    lost: u32,
    /// Stream offset of the next byte.
    offset: u64,
    /// Where the current frame started, and the capture frame of its first byte.
    frame_start: u64,
    first_frame: u64,
    /// Decodes the header blocks this side sends.
    decoder: hpack::Decoder,
    /// The HPACK state was lost (an undecodable block) at this capture frame.
    hpack_lost: Option<u64>,
    block: Option<Block>,
    /// Largest payload this side may send (the peer's acknowledged
    /// SETTINGS_MAX_FRAME_SIZE).
    max_frame: u32,
    /// SETTINGS this side sent that the peer has not acknowledged yet.
    unacked: VecDeque<Announced>,
    /// Frames read.
    frames: u64,
    /// Bytes of this side were missing (not captured, not decrypted):
    /// frames it sent may not have been seen.
    missed: bool,
}

impl Side {
    fn new(opts: &HttpOptions, st: St) -> Self {
        Side {
            st,
            hdr: [0; FRAME_HEADER],
            hdr_len: 0,
            buf: Vec::new(),
            got: 0,
            lost: 0,
            offset: 0,
            frame_start: 0,
            first_frame: 0,
            decoder: hpack::Decoder::new(opts.max_hpack_table, opts.max_header_list),
            hpack_lost: None,
            block: None,
            max_frame: DEFAULT_MAX_FRAME,
            unacked: VecDeque::new(),
            missed: false,
            frames: 0,
        }
    }
}

/// One stream's exchange in progress.
#[derive(Debug, Default)]
struct Stream {
    ex: Exchange,
    req_headers: bool,
    resp_final: bool,
    req_end: bool,
    resp_end: bool,
    /// Something of it was not decoded (a lost header block).
    damaged: bool,
}

/// The HTTP/2 state of one connection.
#[derive(Debug)]
pub struct Conn {
    sides: PerDir<Side>,
    streams: BTreeMap<u32, Stream>,
    streams_noted: bool,
}

/// What a header block gave, for the frame summary and the stream.
struct Decoded {
    fields: Option<hpack::Block>,
    why_not: Option<String>,
}

impl Conn {
    /// Bytes of its buffers: frames and header blocks being read, the
    /// HPACK tables, the streams' bookkeeping (their exchanges count
    /// their own).
    pub(crate) fn buffered(&self) -> usize {
        let sides: usize = self
            .sides
            .0
            .iter()
            .map(|s| {
                // An estimate: saturating cannot matter.
                s.buf
                    .capacity()
                    .saturating_add(s.block.as_ref().map_or(0, |b| b.bytes.capacity()))
                    .saturating_add(s.decoder.heap_size())
                    .saturating_add(s.unacked.capacity().saturating_mul(size_of::<Announced>()))
            })
            .sum();
        sides.saturating_add(self.streams.len().saturating_mul(ITEM_COST))
    }

    /// A connection whose client starts with the connection preface.
    pub fn new(opts: &HttpOptions) -> Self {
        Conn {
            sides: PerDir([Side::new(opts, St::Preface(0)), Side::new(opts, St::Header)]),
            streams: BTreeMap::new(),
            streams_noted: false,
        }
    }

    /// A connection upgraded from HTTP/1.1 (`Upgrade: h2c` answered by 101,
    /// [RFC 7540 §3.2](https://www.rfc-editor.org/rfc/rfc7540#section-3.2)):
    /// the request is stream 1, half-closed by the client; the client's
    /// `HTTP2-Settings` (base64url of a SETTINGS payload) holds its settings.
    pub(crate) fn upgraded(
        opts: &HttpOptions,
        mut ex: Exchange,
        settings: Option<&[u8]>,
        cx: &mut Cx<'_>,
    ) -> Self {
        let mut c = Conn::new(opts);
        ex.version = "HTTP/2";
        ex.stream = Some(1);
        c.streams.insert(1, Stream { ex, req_headers: true, req_end: true, ..Stream::default() });
        if let Some(s) = settings {
            use base64::Engine as _;
            let s = text(s);
            let t = s.trim().trim_end_matches('=');
            match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t) {
                Ok(payload) => {
                    // They apply to what the server sends from now on.
                    let server = &mut c.sides[Dir::ServerToClient];
                    for pair in payload.chunks_exact(6) {
                        let &[i0, i1, v0, v1, v2, v3] = pair else { continue };
                        let id = u16::from_be_bytes([i0, i1]);
                        let v = u32::from_be_bytes([v0, v1, v2, v3]);
                        match id {
                            0x1 => server.decoder.set_limit(v as usize),
                            0x5 => server.max_frame = v,
                            _ => {}
                        }
                    }
                }
                Err(e) => cx.diag(
                    Severity::Warning,
                    "http2.protocol",
                    format!("HTTP2-Settings header is not base64url: {e}"),
                ),
            }
        }
        c
    }

    /// Bytes of direction `dir`.
    pub(crate) fn push(&mut self, dir: Dir, mut data: &[u8], cx: &mut Cx<'_>) {
        while !data.is_empty() {
            let used = self.step(dir, data, cx).clamp(1, data.len());
            let side = &mut self.sides[dir];
            side.offset = side.offset.saturating_add(used as u64);
            data = data.get(used..).unwrap_or_default();
        }
    }

    /// Consumes some of `data` (at least one byte).
    fn step(&mut self, dir: Dir, data: &[u8], cx: &mut Cx<'_>) -> usize {
        let side = &mut self.sides[dir];
        match side.st {
            St::Preface(got) => {
                let want = PREFACE.get(got..).unwrap_or_default();
                let n = want.len().min(data.len());
                if data.get(..n) != want.get(..n) {
                    side.st = St::Lost;
                    cx.diag(
                        Severity::Error,
                        "http2.protocol",
                        "the client did not start with the HTTP/2 connection preface; its bytes are not decoded".into(),
                    );
                    return data.len();
                }
                // At most the preface's length.
                let got = got.saturating_add(n);
                side.st = if got == PREFACE.len() { St::Header } else { St::Preface(got) };
                n
            }
            St::Header => {
                if side.hdr_len == 0 {
                    side.frame_start = side.offset;
                    side.first_frame = cx.frame;
                }
                // `hdr_len` is below FRAME_HEADER here, and stays at most that.
                let n = FRAME_HEADER.saturating_sub(side.hdr_len).min(data.len());
                if let (Some(dst), Some(src)) =
                    (side.hdr.get_mut(side.hdr_len..).and_then(|h| h.get_mut(..n)), data.get(..n))
                {
                    dst.copy_from_slice(src);
                }
                side.hdr_len = side.hdr_len.saturating_add(n);
                if side.hdr_len == FRAME_HEADER {
                    side.hdr_len = 0;
                    let hdr = Hdr::parse(&side.hdr);
                    self.frame_header(dir, hdr, cx);
                }
                n
            }
            St::Buffer(hdr) => {
                // `got` counts up to `hdr.len`, never past.
                let left = hdr.len.saturating_sub(side.got);
                let n = (left as usize).min(data.len());
                let chunk = data.get(..n).unwrap_or_default();
                let keep = if hdr.is_block() {
                    cx.opts.max_header_bytes
                } else {
                    cx.opts.max_frame_buffer
                };
                if side.got == 0 && n == hdr.len as usize && n <= keep {
                    // The whole payload is here: parse it in place.
                    side.st = St::Header;
                    self.frame(dir, hdr, chunk, 0, cx);
                    return n;
                }
                let room = keep.saturating_sub(side.buf.len());
                side.buf.extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
                side.got = side.got.saturating_add(n as u32);
                if side.got == hdr.len {
                    side.st = St::Header;
                    let buf = std::mem::take(&mut side.buf);
                    // What was not kept of the payload.
                    let cut = hdr.len.saturating_sub(buf.len() as u32);
                    self.frame(dir, hdr, &buf, cut, cx);
                    let side = &mut self.sides[dir];
                    side.buf = buf;
                    side.buf.clear();
                }
                n
            }
            St::Data(hdr, pos, pad) => self.data_step(dir, hdr, pos, pad, data, cx),
            St::Lost => data.len(),
        }
    }

    /// A frame header was read: checks it and sets up reading the payload.
    fn frame_header(&mut self, dir: Dir, hdr: Hdr, cx: &mut Cx<'_>) {
        let side = &mut self.sides[dir];
        side.frames = side.frames.saturating_add(1);
        side.got = 0;
        side.lost = 0;
        side.buf.clear();
        if hdr.len > side.max_frame {
            let max = side.max_frame;
            cx.diag(
                Severity::Error,
                "http2.frame_size",
                format!(
                    "FRAME_SIZE_ERROR: {} frame of {} bytes from the {}, over the {max} bytes allowed (RFC 9113 §4.2)",
                    frame_type_name(hdr.kind),
                    hdr.len,
                    dir.sender()
                ),
            );
        }
        if side.frames == 1 && hdr.kind != kind::SETTINGS {
            cx.diag(
                Severity::Warning,
                "http2.protocol",
                format!(
                    "the {}'s first frame is {}, not SETTINGS (RFC 9113 §3.4)",
                    dir.sender(),
                    frame_type_name(hdr.kind)
                ),
            );
        }
        side.st = if hdr.kind == kind::DATA { St::Data(hdr, 0, 0) } else { St::Buffer(hdr) };
        if hdr.len == 0 {
            side.st = St::Header;
            if hdr.kind == kind::DATA {
                self.data_done(dir, hdr, 0, cx);
            } else {
                self.frame(dir, hdr, &[], 0, cx);
            }
        }
    }

    fn data_step(
        &mut self,
        dir: Dir,
        hdr: Hdr,
        mut pos: u32,
        mut pad: u8,
        data: &[u8],
        cx: &mut Cx<'_>,
    ) -> usize {
        // `pos` counts up to `hdr.len`, never past.
        let n = (hdr.len.saturating_sub(pos) as usize).min(data.len());
        let mut chunk = data.get(..n).unwrap_or_default();
        let padded = hdr.has(flag::PADDED);
        if padded && pos == 0 {
            pad = chunk.first().copied().unwrap_or(0);
            chunk = chunk.get(1..).unwrap_or_default();
            pos = 1;
        }
        let start = u32::from(padded);
        // A pad length beyond the payload is a PROTOCOL_ERROR; read the
        // payload as all padding then (reported when the frame ends).
        let data_end = hdr.len.checked_sub(u32::from(pad)).filter(|&e| e >= start).unwrap_or(start);
        let in_data = data_end.saturating_sub(pos).min(chunk.len() as u32) as usize;
        if in_data > 0
            && let Some(s) = self.streams.get_mut(&hdr.stream)
        {
            s.ex.push_body(dir, chunk.get(..in_data).unwrap_or_default(), cx);
        }
        pos = pos.saturating_add(chunk.len() as u32);
        let side = &mut self.sides[dir];
        if pos >= hdr.len {
            side.st = St::Header;
            self.data_done(dir, hdr, pad, cx);
        } else {
            side.st = St::Data(hdr, pos, pad);
        }
        n
    }

    /// A DATA frame ended.
    fn data_done(&mut self, dir: Dir, hdr: Hdr, pad: u8, cx: &mut Cx<'_>) {
        let padded = hdr.has(flag::PADDED);
        let start = u32::from(padded);
        // The payload less the pad length byte and the padding: none left
        // is a pad length beyond the payload.
        let data_len = hdr.len.checked_sub(start).and_then(|n| n.checked_sub(u32::from(pad)));
        let bad_pad = padded && data_len.is_none();
        let data_len = data_len.unwrap_or(0);
        let lost = self.sides[dir].lost;
        if bad_pad {
            cx.diag(
                Severity::Error,
                "http2.protocol",
                format!(
                    "PROTOCOL_ERROR: DATA frame padding of {pad} bytes is longer than its payload (RFC 9113 §6.1)"
                ),
            );
        }
        let known = self.streams.contains_key(&hdr.stream);
        if hdr.stream == 0 {
            cx.diag(
                Severity::Error,
                "http2.protocol",
                "PROTOCOL_ERROR: DATA frame on stream 0 (RFC 9113 §6.1)".into(),
            );
        } else if !known {
            cx.diag(
                Severity::Warning,
                "http2.protocol",
                format!(
                    "DATA frame on stream {} which is not open; its {data_len} bytes are not part of any exchange",
                    hdr.stream
                ),
            );
        }
        let mut summary = format!("DATA stream {}: {data_len} bytes", hdr.stream);
        if padded {
            summary.push_str(&format!(", {pad} bytes of padding"));
        }
        if lost > 0 {
            summary.push_str(&format!(", {lost} bytes not captured"));
        }
        push_flags(&mut summary, hdr);
        let mut t = tree(cx.opts.trees);
        header_fields(&mut t, hdr);
        if t.is_on() {
            let mut at = 9u32;
            if padded && hdr.len > 0 {
                t.leaf("pad_length", || "Pad Length".into(), Span::new(9, 1), || pad.to_string());
                at = 10;
            }
            t.leaf(
                "data",
                || "Data".into(),
                Span::new(at, data_len),
                || format!("{data_len} bytes"),
            );
            if padded && !bad_pad {
                let pad_span = Span::new(at.saturating_add(data_len), u32::from(pad));
                t.leaf("padding", || "Padding".into(), pad_span, || format!("{pad} bytes"));
            }
        }
        self.emit_frame(dir, hdr, summary, t, cx);
        if hdr.has(flag::END_STREAM) && hdr.stream != 0 {
            self.end_stream(dir, hdr.stream, cx);
        }
    }

    /// A complete frame other than DATA. `cut` bytes of its payload were not
    /// kept (over the buffer limit).
    fn frame(&mut self, dir: Dir, hdr: Hdr, payload: &[u8], cut: u32, cx: &mut Cx<'_>) {
        let mut t = tree(cx.opts.trees);
        header_fields(&mut t, hdr);
        // A header block must not be interrupted (RFC 9113 §6.10).
        if hdr.kind != kind::CONTINUATION
            && let Some(b) = self.sides[dir].block.take()
        {
            self.protocol_error(
                dir,
                format!(
                    "{} frame where a CONTINUATION of stream {} was expected (RFC 9113 §6.10)",
                    frame_type_name(hdr.kind),
                    b.stream
                ),
                cx,
            );
            self.lose_hpack(dir, "a header block was interrupted".into(), cx);
        }
        let lost = self.sides[dir].lost;
        if cut > 0 || lost > 0 {
            let summary = format!(
                "{}{}: {} bytes, {} not decoded ({})",
                frame_type_name(hdr.kind),
                stream_part(hdr),
                hdr.len,
                cut.saturating_add(lost),
                if lost > 0 { "not captured" } else { "over the buffer limit" }
            );
            if hdr.is_block() {
                self.lose_hpack(
                    dir,
                    format!("a header block of {} bytes could not be read whole", hdr.len),
                    cx,
                );
                self.sides[dir].block = None;
            }
            t.leaf("payload", || "Payload".into(), Span::new(9, hdr.len), || summary.clone());
            self.emit_frame(dir, hdr, summary, t, cx);
            return;
        }
        let r = Reader::at(payload, FRAME_HEADER as u32);
        let result = match hdr.kind {
            kind::HEADERS | kind::PUSH_PROMISE => self.headers(dir, hdr, r, &mut t, cx),
            kind::CONTINUATION => self.continuation(dir, hdr, r, &mut t, cx),
            kind::PRIORITY => priority(hdr, r, &mut t).map(|s| (s, None)),
            kind::RST_STREAM => rst_stream(hdr, r, &mut t).map(|s| (s, None)),
            kind::SETTINGS => self.settings(dir, hdr, r, &mut t, cx).map(|s| (s, None)),
            kind::PING => ping(hdr, r, &mut t).map(|s| (s, None)),
            kind::GOAWAY => goaway(hdr, r, &mut t).map(|s| (s, None)),
            kind::WINDOW_UPDATE => window_update(hdr, r, &mut t).map(|s| (s, None)),
            _ => {
                let mut r = r;
                let p = r.take_rest("payload");
                t.leaf("payload", || "Payload".into(), p.span, || hex_short(p.v, 32));
                Ok((
                    format!("{}{}: {} bytes", frame_type_name(hdr.kind), stream_part(hdr), hdr.len),
                    None,
                ))
            }
        };
        match result {
            Ok((summary, effect)) => {
                let rst = (hdr.kind == kind::RST_STREAM && hdr.stream != 0)
                    .then(|| payload.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()))
                    .flatten()
                    .map(u32::from_be_bytes);
                self.check_stream_id(dir, hdr, cx);
                self.emit_frame(dir, hdr, summary, t, cx);
                if let Some(effect) = effect {
                    self.apply(dir, effect, cx);
                }
                if let Some(code) = rst {
                    self.reset(hdr.stream, code, cx);
                }
            }
            Err((e, why)) => {
                t.malformed(&e);
                let summary =
                    format!("{}{}: malformed: {why}", frame_type_name(hdr.kind), stream_part(hdr));
                self.protocol_error(dir, format!("{} frame: {why}", frame_type_name(hdr.kind)), cx);
                if hdr.is_block() {
                    self.lose_hpack(
                        dir,
                        "a malformed frame held part of a header block".into(),
                        cx,
                    );
                    self.sides[dir].block = None;
                }
                self.emit_frame(dir, hdr, summary, t, cx);
            }
        }
    }

    /// Stream identifier rules that do not depend on the payload.
    fn check_stream_id(&mut self, dir: Dir, hdr: Hdr, cx: &mut Cx<'_>) {
        let on_zero = matches!(hdr.kind, kind::SETTINGS | kind::PING | kind::GOAWAY);
        let on_stream = matches!(
            hdr.kind,
            kind::HEADERS
                | kind::PRIORITY
                | kind::RST_STREAM
                | kind::PUSH_PROMISE
                | kind::CONTINUATION
        );
        if on_zero && hdr.stream != 0 {
            self.protocol_error(
                dir,
                format!("{} frame on stream {} (must be 0)", frame_type_name(hdr.kind), hdr.stream),
                cx,
            );
        } else if on_stream && hdr.stream == 0 {
            self.protocol_error(
                dir,
                format!("{} frame on stream 0", frame_type_name(hdr.kind)),
                cx,
            );
        }
    }

    fn protocol_error(&mut self, dir: Dir, what: String, cx: &mut Cx<'_>) {
        cx.diag(
            Severity::Error,
            "http2.protocol",
            format!("PROTOCOL_ERROR from the {}: {what}", dir.sender()),
        );
    }

    /// Header blocks from `dir` can no longer be decoded.
    fn lose_hpack(&mut self, dir: Dir, why: String, cx: &mut Cx<'_>) {
        let side = &mut self.sides[dir];
        if side.hpack_lost.is_some() {
            return;
        }
        side.hpack_lost = Some(cx.frame);
        cx.diag(
            Severity::Error,
            "http2.hpack",
            format!(
                "COMPRESSION_ERROR: {why}; the {}'s later header blocks cannot be decoded (the HPACK table is unknown)",
                dir.sender()
            ),
        );
    }

    /// HEADERS or PUSH_PROMISE.
    fn headers(
        &mut self,
        dir: Dir,
        hdr: Hdr,
        mut r: Reader<'_>,
        t: &mut Tree,
        cx: &mut Cx<'_>,
    ) -> Result<(String, Option<Effect>), (ParseError, String)> {
        let bad = |e: ParseError| (e, e.to_string());
        let pad = if hdr.has(flag::PADDED) {
            let p = r.u8("pad_length").map_err(bad)?;
            t.leaf("pad_length", || "Pad Length".into(), p.span, || p.v.to_string());
            p.v
        } else {
            0
        };
        let mut promised = 0;
        let mut prio = String::new();
        if hdr.kind == kind::PUSH_PROMISE {
            let p = r.u32("promised_stream_id").map_err(bad)?;
            promised = p.v & 0x7fff_ffff;
            t.leaf(
                "promised_stream_id",
                || "Promised Stream ID".into(),
                p.span,
                || promised.to_string(),
            );
        } else if hdr.has(flag::PRIORITY) {
            let d = r.u32("stream_dependency").map_err(bad)?;
            let w = r.u8("weight").map_err(bad)?;
            let exclusive = d.v & 0x8000_0000 != 0;
            let dep = d.v & 0x7fff_ffff;
            t.leaf(
                "exclusive",
                || "Exclusive".into(),
                Span::new(d.span.start, 0),
                || exclusive.to_string(),
            );
            t.leaf("stream_dependency", || "Stream Dependency".into(), d.span, || dep.to_string());
            t.leaf("weight", || "Weight".into(), w.span, || (u16::from(w.v) + 1).to_string());
            prio = format!(
                ", depends on {dep}{}, weight {}",
                if exclusive { " (exclusive)" } else { "" },
                u16::from(w.v) + 1
            );
        }
        let pad_len = usize::from(pad);
        let Some(frag_len) = r.left().checked_sub(pad_len) else {
            let e = ParseError {
                field: "padding",
                kind: crate::span::ErrorKind::Invalid,
                at: r.offset(),
                wanted: u32::from(pad),
                have: r.left() as u32,
            };
            return Err((
                e,
                format!("padding of {pad} bytes is longer than what is left of the payload"),
            ));
        };
        let frag = r.take(frag_len, "header_block_fragment").map_err(bad)?;
        let padding = r.take_rest("padding");
        let end_headers = hdr.has(flag::END_HEADERS);
        let block = Block {
            stream: hdr.stream,
            kind: hdr.kind,
            end_stream: hdr.kind == kind::HEADERS && hdr.has(flag::END_STREAM),
            promised,
            bytes: Vec::new(),
            frames: 1,
            first_frame: self.sides[dir].first_frame,
            over: false,
        };
        let what = if hdr.kind == kind::PUSH_PROMISE {
            format!("PUSH_PROMISE stream {}: promises stream {promised}", hdr.stream)
        } else {
            format!("HEADERS stream {}", hdr.stream)
        };
        let (summary, effect) = if end_headers {
            let decoded = self.decode(dir, frag.v, frag.span.start, cx);
            block_fields(t, frag.span, &decoded, 1);
            let summary = format!("{what}{}{prio}", describe(&block, &decoded));
            (summary, Some(Effect { block, decoded }))
        } else {
            let mut block = block;
            self.grow_block(&mut block, frag.v, cx);
            t.leaf(
                "header_block_fragment",
                || "Header Block Fragment".into(),
                frag.span,
                || format!("{} bytes (continued in CONTINUATION)", frag.v.len()),
            );
            self.sides[dir].block = Some(block);
            (format!("{what}: header block continues{prio}"), None)
        };
        if pad > 0 || hdr.has(flag::PADDED) {
            t.leaf("padding", || "Padding".into(), padding.span, || format!("{pad} bytes"));
        }
        let mut summary = summary;
        push_flags(&mut summary, hdr);
        Ok((summary, effect))
    }

    fn continuation(
        &mut self,
        dir: Dir,
        hdr: Hdr,
        mut r: Reader<'_>,
        t: &mut Tree,
        cx: &mut Cx<'_>,
    ) -> Result<(String, Option<Effect>), (ParseError, String)> {
        let frag = r.take_rest("header_block_fragment");
        let Some(mut block) = self.sides[dir].block.take().filter(|b| b.stream == hdr.stream)
        else {
            self.protocol_error(
                dir,
                format!(
                    "CONTINUATION on stream {} with no header block to continue (RFC 9113 §6.10)",
                    hdr.stream
                ),
                cx,
            );
            self.lose_hpack(dir, "a CONTINUATION frame came out of place".into(), cx);
            t.leaf(
                "header_block_fragment",
                || "Header Block Fragment".into(),
                frag.span,
                || format!("{} bytes, not decoded", frag.v.len()),
            );
            let mut s = format!("CONTINUATION stream {}: out of place, not decoded", hdr.stream);
            push_flags(&mut s, hdr);
            return Ok((s, None));
        };
        block.frames = block.frames.saturating_add(1);
        self.grow_block(&mut block, frag.v, cx);
        let mut summary = if hdr.has(flag::END_HEADERS) {
            let decoded = if block.over {
                self.lose_hpack(dir, "a header block went over the size limit".into(), cx);
                Decoded { fields: None, why_not: Some("over the size limit".into()) }
            } else {
                let bytes = std::mem::take(&mut block.bytes);
                self.decode(dir, &bytes, 0, cx)
            };
            block_fields(t, frag.span, &decoded, block.frames);
            let what = if block.kind == kind::PUSH_PROMISE {
                format!("promise of stream {}", block.promised)
            } else {
                "end of header block".to_string()
            };
            let mut s =
                format!("CONTINUATION stream {}: {what}{}", hdr.stream, describe(&block, &decoded));
            push_flags(&mut s, hdr);
            return Ok((s, Some(Effect { block, decoded })));
        } else {
            t.leaf(
                "header_block_fragment",
                || "Header Block Fragment".into(),
                frag.span,
                || format!("{} bytes (continued)", frag.v.len()),
            );
            self.sides[dir].block = Some(block);
            format!("CONTINUATION stream {}: header block continues", hdr.stream)
        };
        push_flags(&mut summary, hdr);
        Ok((summary, None))
    }

    fn grow_block(&mut self, block: &mut Block, frag: &[u8], cx: &mut Cx<'_>) {
        let max = cx.opts.max_header_bytes;
        if block.over {
            return;
        }
        if block.bytes.len().checked_add(frag.len()).is_none_or(|n| n > max) {
            block.over = true;
            block.bytes = Vec::new();
            cx.diag(
                Severity::Warning,
                "http2.limit",
                format!(
                    "a header block on stream {} is over the limit of {max} bytes",
                    block.stream
                ),
            );
            return;
        }
        block.bytes.extend_from_slice(frag);
    }

    /// Decodes a complete header block sent by `dir`.
    fn decode(&mut self, dir: Dir, block: &[u8], base: u32, cx: &mut Cx<'_>) -> Decoded {
        let side = &mut self.sides[dir];
        if let Some(f) = side.hpack_lost {
            return Decoded {
                fields: None,
                why_not: Some(format!("not decoded: the HPACK state was lost at frame {f}")),
            };
        }
        match side.decoder.decode(block, base) {
            Ok(b) => {
                for n in &b.notes {
                    cx.diag(
                        Severity::Warning,
                        "http2.hpack",
                        format!("HPACK from the {}: {n}", dir.sender()),
                    );
                }
                Decoded { fields: Some(b), why_not: None }
            }
            Err(e) => {
                let why = e.to_string();
                self.lose_hpack(dir, why.clone(), cx);
                Decoded { fields: None, why_not: Some(format!("not decoded: {why}")) }
            }
        }
    }

    fn settings(
        &mut self,
        dir: Dir,
        hdr: Hdr,
        mut r: Reader<'_>,
        t: &mut Tree,
        cx: &mut Cx<'_>,
    ) -> Result<String, (ParseError, String)> {
        if hdr.has(flag::ACK) {
            if hdr.len != 0 {
                let e = invalid(&r, "settings", "SETTINGS ACK with a payload (FRAME_SIZE_ERROR)");
                return Err(e);
            }
            // The peer's oldest unacknowledged SETTINGS now apply to what
            // this side sends (RFC 9113 §6.5.3, RFC 7541 §4.2).
            let peer = dir.reverse();
            match self.sides[peer].unacked.pop_front() {
                Some(a) => {
                    let side = &mut self.sides[dir];
                    if let Some(n) = a.header_table_size {
                        side.decoder.set_limit(n as usize);
                    }
                    if let Some(n) = a.max_frame_size {
                        side.max_frame = n;
                    }
                }
                // The peer's SETTINGS may be in what is missing of it.
                None if self.sides[peer].missed => {}
                None => cx.diag(
                    Severity::Note,
                    "http2.protocol",
                    format!(
                        "SETTINGS ACK from the {} with no SETTINGS seen to acknowledge",
                        dir.sender()
                    ),
                ),
            }
            return Ok("SETTINGS: ACK".into());
        }
        if !r.left().is_multiple_of(6) {
            return Err(invalid(
                &r,
                "settings",
                "length is not a multiple of 6 (FRAME_SIZE_ERROR)",
            ));
        }
        let mut parts = Vec::new();
        let mut a = Announced::default();
        while !r.is_empty() {
            let start = r.offset();
            let id = r.u16("identifier").map_err(|e| (e, e.to_string()))?;
            let v = r.u32("value").map_err(|e| (e, e.to_string()))?;
            let name = setting_name(id.v);
            let label = if name == "unknown" {
                format!("unknown (0x{:x})", id.v)
            } else {
                name.to_string()
            };
            match id.v {
                0x1 => a.header_table_size = Some(v.v),
                0x5 => {
                    if !(16_384..=16_777_215).contains(&v.v) {
                        cx.diag(
                            Severity::Error,
                            "http2.protocol",
                            format!("PROTOCOL_ERROR: SETTINGS_MAX_FRAME_SIZE {} is out of range (RFC 9113 §6.5.2)", v.v),
                        );
                    } else {
                        a.max_frame_size = Some(v.v);
                    }
                }
                0x2 if v.v > 1 => cx.diag(
                    Severity::Error,
                    "http2.protocol",
                    format!("PROTOCOL_ERROR: SETTINGS_ENABLE_PUSH {} is not 0 or 1", v.v),
                ),
                0x4 if v.v > 0x7fff_ffff => cx.diag(
                    Severity::Error,
                    "http2.protocol",
                    format!(
                        "FLOW_CONTROL_ERROR: SETTINGS_INITIAL_WINDOW_SIZE {} is over 2^31-1",
                        v.v
                    ),
                ),
                _ => {}
            }
            t.open("setting", || format!("{label} = {}", v.v), start);
            t.leaf(
                "identifier",
                || "Identifier".into(),
                id.span,
                || format!("{label} (0x{:x})", id.v),
            );
            t.leaf("value", || "Value".into(), v.span, || v.v.to_string());
            t.close(r.span_from(start));
            parts.push(format!(
                "{}={}",
                if name == "unknown" { format!("0x{:x}", id.v) } else { name.to_string() },
                v.v
            ));
        }
        let side = &mut self.sides[dir];
        if side.unacked.len() >= MAX_PENDING_SETTINGS {
            side.unacked.pop_front();
            cx.diag(
                Severity::Warning,
                "http2.protocol",
                format!(
                    "the {} has over {MAX_PENDING_SETTINGS} SETTINGS frames not acknowledged",
                    dir.sender()
                ),
            );
        }
        side.unacked.push_back(a);
        Ok(if parts.is_empty() {
            "SETTINGS: (no parameters)".to_string()
        } else {
            format!("SETTINGS: {}", parts.join(", "))
        })
    }

    fn emit_frame(&mut self, dir: Dir, hdr: Hdr, summary: String, t: Tree, cx: &mut Cx<'_>) {
        let side = &self.sides[dir];
        let info = H2FrameInfo {
            dir,
            frame: cx.frame,
            first_frame: side.first_frame,
            ts: cx.ts,
            offset: side.frame_start,
            kind: hdr.kind,
            name: frame_type_name(hdr.kind),
            flags: hdr.flags,
            stream: hdr.stream,
            length: hdr.len,
            summary,
            tree: t.finish(),
        };
        cx.emit(HttpEvent::H2Frame(info));
    }

    /// Applies a complete header block to its stream.
    fn apply(&mut self, dir: Dir, effect: Effect, cx: &mut Cx<'_>) {
        let Effect { block, decoded } = effect;
        let headers: Option<Headers> = decoded.fields.as_ref().map(|b| {
            b.fields()
                .map(|f| (String::from_utf8_lossy(&f.name).into_owned(), f.value.clone()))
                .collect()
        });
        let frame = block.first_frame;
        let ts = cx.ts;
        if block.kind == kind::PUSH_PROMISE {
            if dir == Dir::ClientToServer {
                self.protocol_error(dir, "PUSH_PROMISE from the client (RFC 9113 §8.4)".into(), cx);
            }
            let Some(s) = self.stream(block.promised, cx) else { return };
            s.ex.pushed = true;
            s.req_headers = true;
            s.req_end = true;
            s.ex.request_frame = Some(frame);
            s.ex.request_time = Some(ts);
            match headers {
                Some(h) => set_request(&mut s.ex, h, cx),
                None => {
                    s.damaged = true;
                    s.ex.notes.push(format!("promised request headers {}", why(&decoded)));
                }
            }
            return;
        }
        let id = block.stream;
        if id == 0 {
            return;
        }
        let Some(s) = self.stream(id, cx) else { return };
        match dir {
            Dir::ClientToServer => {
                if !s.req_headers {
                    s.req_headers = true;
                    s.ex.request_frame = Some(frame);
                    s.ex.request_time = Some(ts);
                    match headers {
                        Some(h) => set_request(&mut s.ex, h, cx),
                        None => {
                            s.damaged = true;
                            s.ex.notes.push(format!("request headers {}", why(&decoded)));
                        }
                    }
                } else {
                    if !block.end_stream {
                        s.ex.notes
                            .push("request trailers without END_STREAM (RFC 9113 §8.1)".into());
                    }
                    match headers {
                        Some(h) => add_headers(&mut s.ex, List::RequestTrailers, h, cx),
                        None => s.damaged = true,
                    }
                }
            }
            Dir::ServerToClient => {
                let status = headers
                    .as_ref()
                    .and_then(|h| header(h, ":status"))
                    .and_then(|v| std::str::from_utf8(v).ok().and_then(|s| s.parse::<u16>().ok()));
                if !s.resp_final {
                    match (headers, status) {
                        (Some(_), Some(st)) if (100..200).contains(&st) => s.ex.interim.push(st),
                        (Some(h), st) => {
                            s.resp_final = true;
                            if st.is_none() {
                                // RFC 9113 §8.3.2: a response must have one.
                                s.damaged = true;
                                s.ex.notes.push("malformed response: no valid :status".into());
                            }
                            s.ex.status = st;
                            s.ex.response_frame = Some(frame);
                            s.ex.response_time = Some(ts);
                            s.ex.response_body.encoding = header(&h, "content-encoding").map(text);
                            s.ex.keep_headers(List::ResponseHeaders, h, cx);
                        }
                        (None, _) => {
                            s.resp_final = true;
                            s.damaged = true;
                            s.ex.response_frame = Some(frame);
                            s.ex.notes.push(format!("response headers {}", why(&decoded)));
                        }
                    }
                } else {
                    match headers {
                        Some(h) => add_headers(&mut s.ex, List::ResponseTrailers, h, cx),
                        None => s.damaged = true,
                    }
                }
            }
        }
        if block.end_stream {
            self.end_stream(dir, id, cx);
        }
    }

    /// The stream's exchange, opened if new. At the stream limit the
    /// oldest open stream is flushed to make room.
    fn stream(&mut self, id: u32, cx: &mut Cx<'_>) -> Option<&mut Stream> {
        if !self.streams.contains_key(&id) && self.streams.len() >= cx.opts.max_streams.max(1) {
            if !self.streams_noted {
                self.streams_noted = true;
                let max = cx.opts.max_streams;
                cx.diag(
                    Severity::Warning,
                    "http2.limit",
                    format!("over {max} streams open at once: the oldest are reported incomplete to make room"),
                );
            }
            if let Some((_, mut s)) = self.streams.pop_first() {
                s.ex.notes.push("evicted: too many streams open at once".into());
                emit(s, cx);
            }
        }
        let s = self
            .streams
            .entry(id)
            .or_insert_with(|| Stream { ex: Exchange::new(cx), ..Stream::default() });
        if s.ex.stream.is_none() {
            s.ex.stream = Some(id);
            s.ex.version = "HTTP/2";
        }
        Some(s)
    }

    /// END_STREAM from `dir` on stream `id`.
    fn end_stream(&mut self, dir: Dir, id: u32, cx: &mut Cx<'_>) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        match dir {
            Dir::ClientToServer => {
                s.req_end = true;
                s.ex.request_end_frame = Some(cx.frame);
            }
            Dir::ServerToClient => {
                s.resp_end = true;
                s.ex.end_frame = Some(cx.frame);
            }
        }
        if s.req_end
            && s.resp_end
            && let Some(s) = self.streams.remove(&id)
        {
            emit(s, cx);
        }
    }

    fn reset(&mut self, id: u32, code: u32, cx: &mut Cx<'_>) {
        if let Some(mut s) = self.streams.remove(&id) {
            s.ex.reset = Some(code);
            s.ex.end_frame = Some(cx.frame);
            s.ex.notes.push(format!("reset with {} (0x{code:x})", error_code_name(code)));
            emit(s, cx);
        }
    }

    /// `len` bytes of `dir` were lost.
    pub(crate) fn gap(&mut self, dir: Dir, len: u64, why: Missing, cx: &mut Cx<'_>) {
        let sender = dir.sender();
        self.sides[dir].missed = true;
        let st = self.sides[dir].st;
        match st {
            // Inside a DATA payload whose data/padding split is known: the
            // frame goes on, the body misses the bytes.
            St::Data(hdr, pos, pad)
                if why.exact()
                    && hdr.len.checked_sub(pos).is_some_and(|left| len <= u64::from(left))
                    && (!hdr.has(flag::PADDED) || pos > 0) =>
            {
                let l = len as u32;
                let data_end = hdr.len.saturating_sub(u32::from(pad));
                let in_data = data_end.saturating_sub(pos).min(l);
                let side = &mut self.sides[dir];
                // `l` is at most what is left of the frame (the guard).
                side.lost = side.lost.saturating_add(l);
                side.offset = side.offset.saturating_add(len);
                let pos = pos.saturating_add(l);
                if in_data > 0
                    && let Some(s) = self.streams.get_mut(&hdr.stream)
                {
                    match dir {
                        Dir::ClientToServer => s.ex.request_body.lose(u64::from(in_data)),
                        Dir::ServerToClient => s.ex.response_body.lose(u64::from(in_data)),
                    }
                }
                cx.diag(
                    Severity::Warning,
                    "http2.gap",
                    format!(
                        "{len} bytes of a DATA frame on stream {} from the {sender} were not captured",
                        hdr.stream
                    ),
                );
                if pos >= hdr.len {
                    self.sides[dir].st = St::Header;
                    self.data_done(dir, hdr, pad, cx);
                } else {
                    self.sides[dir].st = St::Data(hdr, pos, pad);
                }
            }
            // Inside a frame that holds no header block: it is reported
            // undecoded, and the next frame starts where it ends.
            St::Buffer(hdr)
                if why.exact()
                    && !hdr.is_block()
                    && hdr
                        .len
                        .checked_sub(self.sides[dir].got)
                        .is_some_and(|left| len <= u64::from(left)) =>
            {
                let l = len as u32;
                let side = &mut self.sides[dir];
                side.lost = side.lost.saturating_add(l);
                side.got = side.got.saturating_add(l);
                side.offset = side.offset.saturating_add(len);
                cx.diag(
                    Severity::Warning,
                    "http2.gap",
                    format!(
                        "{len} bytes of a {} frame from the {sender} were not captured",
                        frame_type_name(hdr.kind)
                    ),
                );
                if side.got == hdr.len {
                    side.st = St::Header;
                    self.frame(dir, hdr, &[], 0, cx);
                }
            }
            St::Lost => {
                let side = &mut self.sides[dir];
                side.offset = side.offset.saturating_add(len);
            }
            _ => {
                let side = &mut self.sides[dir];
                side.st = St::Lost;
                side.offset = side.offset.saturating_add(len);
                side.block = None;
                cx.diag(
                    Severity::Warning,
                    "http2.gap",
                    format!(
                        "{}: HTTP/2 frame boundaries and the HPACK table are lost, so the rest of what the {sender} sent is not decoded",
                        why.text(len, "", sender)
                    ),
                );
            }
        }
    }

    /// The connection ended: open streams are reported incomplete.
    pub(crate) fn finish(&mut self, cx: &mut Cx<'_>) {
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let side = &self.sides[dir];
            let inside = match side.st {
                St::Header => side.hdr_len > 0,
                St::Buffer(_) | St::Data(..) => true,
                St::Preface(n) => n > 0,
                St::Lost => false,
            };
            if inside {
                cx.diag(
                    Severity::Warning,
                    "http2.truncated",
                    format!("the connection ended inside a frame from the {}", dir.sender()),
                );
            }
            if let Some(b) = &side.block {
                let stream = b.stream;
                cx.diag(
                    Severity::Warning,
                    "http2.truncated",
                    format!("the connection ended inside a header block on stream {stream}"),
                );
            }
        }
        while let Some((_, mut s)) = self.streams.pop_first() {
            s.ex.notes.push("the connection ended before the stream did".into());
            emit(s, cx);
        }
    }
}

/// A decoded header block waiting to be applied to its stream (after the
/// frame's event).
struct Effect {
    block: Block,
    decoded: Decoded,
}

fn emit(mut s: Stream, cx: &mut Cx<'_>) {
    let ex = &mut s.ex;
    ex.complete = s.req_end
        && s.resp_end
        && s.req_headers
        && s.resp_final
        && !s.damaged
        && ex.reset.is_none()
        && ex.request_body.missing == 0
        && ex.response_body.missing == 0;
    ex.finish_bodies(cx);
    cx.emit(HttpEvent::Exchange(Box::new(s.ex)));
}

/// Adds trailers (a stream may send more than one block of them).
fn add_headers(ex: &mut Exchange, which: List, h: Headers, cx: &mut Cx<'_>) {
    let mut all = match which {
        List::RequestTrailers => std::mem::take(&mut ex.request_trailers),
        _ => std::mem::take(&mut ex.response_trailers),
    };
    all.extend(h);
    ex.keep_headers(which, all, cx);
}

fn set_request(ex: &mut Exchange, h: Headers, cx: &mut Cx<'_>) {
    let get = |n: &str| header(&h, n).map(text);
    ex.method = get(":method");
    ex.scheme = get(":scheme");
    ex.authority = get(":authority").or_else(|| get("host"));
    ex.path = get(":path");
    ex.request_body.encoding = get("content-encoding");
    ex.keep_headers(List::RequestHeaders, h, cx);
}

fn why(d: &Decoded) -> String {
    d.why_not.clone().unwrap_or_else(|| "not decoded".into())
}

/// What a decoded block says, for the summary: `: GET /path`, `: 200`.
fn describe(block: &Block, d: &Decoded) -> String {
    let Some(b) = &d.fields else {
        return format!(": headers {}", d.why_not.as_deref().unwrap_or("not decoded"));
    };
    let get = |n: &[u8]| b.fields().find(|f| f.name == n).map(|f| text(&f.value));
    let n = b.fields().count();
    if let Some(m) = get(b":method") {
        let path = get(b":path").unwrap_or_default();
        format!(": {m} {path}")
    } else if let Some(st) = get(b":status") {
        format!(": {st}")
    } else if block.kind == kind::HEADERS {
        format!(": {n} fields (trailers)")
    } else {
        format!(": {n} fields")
    }
}

fn tree(on: bool) -> Tree {
    if on { Tree::on() } else { Tree::off() }
}

fn stream_part(hdr: Hdr) -> String {
    if hdr.stream == 0 { String::new() } else { format!(" stream {}", hdr.stream) }
}

fn push_flags(s: &mut String, hdr: Hdr) {
    let names = flag_names(hdr.kind, hdr.flags);
    if hdr.kind != kind::SETTINGS && hdr.kind != kind::PING && !names.is_empty() {
        s.push_str(&format!(" [{}]", names.join(", ")));
    }
}

/// The frame header's fields.
fn header_fields(t: &mut Tree, hdr: Hdr) {
    if !t.is_on() {
        return;
    }
    t.leaf("length", || "Length".into(), Span::new(0, 3), || hdr.len.to_string());
    t.leaf(
        "type",
        || "Type".into(),
        Span::new(3, 1),
        || format!("{} (0x{:x})", frame_type_name(hdr.kind), hdr.kind),
    );
    t.leaf(
        "flags",
        || "Flags".into(),
        Span::new(4, 1),
        || {
            let names = flag_names(hdr.kind, hdr.flags);
            if names.is_empty() {
                format!("0x{:02x}", hdr.flags)
            } else {
                format!("0x{:02x} ({})", hdr.flags, names.join(", "))
            }
        },
    );
    t.leaf("stream_id", || "Stream Identifier".into(), Span::new(5, 4), || hdr.stream.to_string());
    if hdr.reserved {
        t.note(true, || "reserved bit set (must be ignored)".into());
    }
}

/// The decoded fields of a header block in the tree: with spans when the
/// block was in one frame, listed at the fragment otherwise.
fn block_fields(t: &mut Tree, frag: Span, d: &Decoded, frames: u32) {
    if !t.is_on() {
        return;
    }
    t.open(
        "header_block_fragment",
        || {
            if frames > 1 {
                format!("Header Block Fragment (end of a block of {frames} frames)")
            } else {
                "Header Block Fragment".into()
            }
        },
        frag.start,
    );
    match &d.fields {
        Some(b) => {
            t.set_value(|| format!("{} fields, {} bytes", b.fields().count(), frag.len));
            for item in &b.items {
                let span = |s: Span| if frames > 1 { Span::new(frag.start, 0) } else { s };
                match item {
                    Item::Field(f) => t.leaf(
                        "header",
                        || format!("{}: {}", text(&f.name), text(&f.value)),
                        span(f.span),
                        || f.repr.describe(),
                    ),
                    Item::SizeUpdate { size, span: s } => t.leaf(
                        "size_update",
                        || "Dynamic Table Size Update".into(),
                        span(*s),
                        || size.to_string(),
                    ),
                }
            }
            for n in &b.notes {
                t.note(false, || n.clone());
            }
        }
        None => {
            t.set_value(|| d.why_not.clone().unwrap_or_default());
        }
    }
    t.close(frag);
}

fn invalid(r: &Reader<'_>, field: &'static str, why: &str) -> (ParseError, String) {
    let e = ParseError {
        field,
        kind: crate::span::ErrorKind::Invalid,
        at: r.offset(),
        wanted: 0,
        have: r.left() as u32,
    };
    (e, why.to_string())
}

/// Requires exactly `n` payload bytes.
fn exact(r: &Reader<'_>, n: usize, name: &str) -> Result<(), (ParseError, String)> {
    if r.left() == n {
        Ok(())
    } else {
        let e = ParseError {
            field: "payload",
            kind: crate::span::ErrorKind::Invalid,
            at: r.offset(),
            wanted: n as u32,
            have: r.left() as u32,
        };
        Err((e, format!("{name} payload is {} bytes, not {n} (FRAME_SIZE_ERROR)", r.left())))
    }
}

fn priority(hdr: Hdr, mut r: Reader<'_>, t: &mut Tree) -> Result<String, (ParseError, String)> {
    exact(&r, 5, "PRIORITY")?;
    let bad = |e: ParseError| (e, e.to_string());
    let d = r.u32("stream_dependency").map_err(bad)?;
    let w = r.u8("weight").map_err(bad)?;
    let exclusive = d.v & 0x8000_0000 != 0;
    let dep = d.v & 0x7fff_ffff;
    t.leaf(
        "exclusive",
        || "Exclusive".into(),
        Span::new(d.span.start, 0),
        || exclusive.to_string(),
    );
    t.leaf("stream_dependency", || "Stream Dependency".into(), d.span, || dep.to_string());
    t.leaf("weight", || "Weight".into(), w.span, || (u16::from(w.v) + 1).to_string());
    Ok(format!(
        "PRIORITY stream {}: depends on {dep}{}, weight {}",
        hdr.stream,
        if exclusive { " (exclusive)" } else { "" },
        u16::from(w.v) + 1
    ))
}

fn rst_stream(hdr: Hdr, mut r: Reader<'_>, t: &mut Tree) -> Result<String, (ParseError, String)> {
    exact(&r, 4, "RST_STREAM")?;
    let c = r.u32("error_code").map_err(|e| (e, e.to_string()))?;
    t.leaf(
        "error_code",
        || "Error Code".into(),
        c.span,
        || format!("{} (0x{:x})", error_code_name(c.v), c.v),
    );
    Ok(format!("RST_STREAM stream {}: {} (0x{:x})", hdr.stream, error_code_name(c.v), c.v))
}

fn ping(hdr: Hdr, mut r: Reader<'_>, t: &mut Tree) -> Result<String, (ParseError, String)> {
    exact(&r, 8, "PING")?;
    let d = r.take(8, "opaque_data").map_err(|e| (e, e.to_string()))?;
    t.leaf("opaque_data", || "Opaque Data".into(), d.span, || crate::tree::hex(d.v));
    let ack = if hdr.has(flag::ACK) { " ACK" } else { "" };
    Ok(format!("PING{ack}: {}", crate::tree::hex(d.v)))
}

fn goaway(_hdr: Hdr, mut r: Reader<'_>, t: &mut Tree) -> Result<String, (ParseError, String)> {
    let bad = |e: ParseError| (e, e.to_string());
    let last = r.u32("last_stream_id").map_err(bad)?;
    let code = r.u32("error_code").map_err(bad)?;
    let debug = r.take_rest("additional_debug_data");
    let last_id = last.v & 0x7fff_ffff;
    t.leaf("last_stream_id", || "Last-Stream-ID".into(), last.span, || last_id.to_string());
    t.leaf(
        "error_code",
        || "Error Code".into(),
        code.span,
        || format!("{} (0x{:x})", error_code_name(code.v), code.v),
    );
    let mut s =
        format!("GOAWAY: last stream {last_id}, {} (0x{:x})", error_code_name(code.v), code.v);
    if !debug.v.is_empty() {
        t.leaf(
            "additional_debug_data",
            || "Additional Debug Data".into(),
            debug.span,
            || text(debug.v),
        );
        let shown: String = text(debug.v).chars().take(80).collect();
        s.push_str(&format!(", debug data \"{shown}\""));
    }
    Ok(s)
}

fn window_update(
    hdr: Hdr,
    mut r: Reader<'_>,
    t: &mut Tree,
) -> Result<String, (ParseError, String)> {
    exact(&r, 4, "WINDOW_UPDATE")?;
    let w = r.u32("window_size_increment").map_err(|e| (e, e.to_string()))?;
    let inc = w.v & 0x7fff_ffff;
    t.leaf("window_size_increment", || "Window Size Increment".into(), w.span, || inc.to_string());
    if inc == 0 {
        t.note(true, || "an increment of 0 is a PROTOCOL_ERROR (RFC 9113 §6.9)".into());
        return Ok(format!("WINDOW_UPDATE{}: +0 (PROTOCOL_ERROR)", stream_part(hdr)));
    }
    Ok(format!("WINDOW_UPDATE{}: +{inc}", stream_part(hdr)))
}
