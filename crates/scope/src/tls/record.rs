//! The TLS record layer over one direction of a reassembled TCP stream.
//!
//! [`Deframer::push`] takes stream chunks as TCP reassembly delivers them
//! and hands out whole records: a record that lies inside one chunk is
//! passed as a borrow of the frame (no copy); one split across segments is
//! collected in a buffer bounded by the largest record the length field can
//! describe. Records whose bodies nobody needs (application data when not
//! decrypting) are counted and skipped without being buffered.
//!
//! The first bytes of a direction decide what it is: TLS records, an
//! SSLv2-compatible ClientHello, or something else (plain HTTP, another
//! protocol), whatever the port. After a gap in the stream the deframer
//! looks for the next plausible record header and says how much it skipped.
//! See [RFC 8446 §5.1](https://www.rfc-editor.org/rfc/rfc8446#section-5.1)
//! and [RFC 5246 §6.2](https://www.rfc-editor.org/rfc/rfc5246#section-6.2).

use crate::flow::Chunk;
use crate::span::{Piece, Pieces};
use crate::time::Timestamp;

/// Record content types.
pub mod content {
    /// change_cipher_spec(20)
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// alert(21)
    pub const ALERT: u8 = 21;
    /// handshake(22)
    pub const HANDSHAKE: u8 = 22;
    /// application_data(23)
    pub const APPLICATION_DATA: u8 = 23;
    /// heartbeat(24)
    pub const HEARTBEAT: u8 = 24;
}

/// Size of a record header: type, version, length.
pub const HEADER_LEN: usize = 5;

/// The largest record body TLS 1.2 allows (2^14 plus 2048 bytes of
/// expansion, RFC 5246 §6.2.3). Longer records are reported but still
/// read, up to the 65535 bytes the length field can say.
pub const MAX_RECORD_BODY: usize = (1 << 14) + 2048;

/// How many bytes are kept to show a non-TLS stream's first bytes.
pub const PREVIEW_LEN: usize = 64;

/// How far past a gap the deframer looks for a record header before it
/// gives up on the direction.
pub const MAX_RESYNC_SCAN: u64 = 1 << 20;

/// The shortest body of an SSLv2-compatible ClientHello (RFC 5246
/// Appendix E.2): msg_type, version and the three 2-byte lengths. A
/// shorter length is not such a hello, and would end inside the five
/// bytes the deframer reads before it knows which kind of record it has.
const SSLV2_MIN_BODY: usize = 9;

/// The body length of an SSLv2-compatible ClientHello starting with
/// `first` (2-byte length with the high bit set); None if the high bit is
/// clear or the length is below [`SSLV2_MIN_BODY`].
fn sslv2_len(first: [u8; 2]) -> Option<usize> {
    let [b0, b1] = first;
    let len = usize::from(u16::from_be_bytes([b0 & 0x7f, b1]));
    (b0 & 0x80 != 0 && len >= SSLV2_MIN_BODY).then_some(len)
}

/// A record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Content type.
    pub content_type: u8,
    /// Legacy record version (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// Body length.
    pub len: u16,
}

impl Header {
    fn parse(b: [u8; HEADER_LEN]) -> Self {
        let [t, v0, v1, l0, l1] = b;
        Header {
            content_type: t,
            version: u16::from_be_bytes([v0, v1]),
            len: u16::from_be_bytes([l0, l1]),
        }
    }

    /// Whether this looks like the header of a real TLS record: a known
    /// content type, major version 3 and a length TLS allows.
    pub fn is_plausible(&self) -> bool {
        (content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&self.content_type)
            && (self.version >> 8) == 3
            && (self.version & 0xff) <= 4
            && usize::from(self.len) <= MAX_RECORD_BODY
            && self.len > 0
    }
}

/// A whole record.
#[derive(Debug)]
pub struct Record<'a> {
    /// Its header.
    pub header: Header,
    /// Stream offset of the header's first byte.
    pub offset: u64,
    /// The body, if it was kept (see the `keep` argument of [`Deframer::push`]).
    pub body: Option<&'a [u8]>,
    /// Where the record's bytes (header and body) were captured, relative
    /// to the header's first byte. Empty when the body was not kept.
    pub pieces: &'a Pieces,
    /// The frame with the header's first byte.
    pub first_frame: u64,
    /// The frame with the record's last byte (where Wireshark shows it).
    pub frame: u64,
    /// When that frame was captured.
    pub ts: Timestamp,
}

/// A record whose end the stream never reached.
#[derive(Debug)]
pub struct Unfinished<'a> {
    /// Its header.
    pub header: Header,
    /// Body bytes seen.
    pub seen: usize,
    /// Those bytes, if the body was wanted.
    pub body: &'a [u8],
    /// Stream offset of the header.
    pub offset: u64,
    /// The frame with the header's first byte.
    pub first_frame: u64,
    /// When it was captured.
    pub first_ts: Timestamp,
}

/// What a direction carries, as decided by its first bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not decided yet (fewer bytes than needed so far).
    Unknown,
    /// TLS records.
    Tls,
    /// Something else; its first bytes.
    NotTls(Vec<u8>),
}

/// What the deframer reports besides records.
#[derive(Debug)]
pub enum Event<'a> {
    /// A whole record.
    Record(Record<'a>),
    /// An SSLv2-compatible ClientHello ([RFC 5246 Appendix E.2](https://www.rfc-editor.org/rfc/rfc5246#appendix-E.2)):
    /// its bytes after the 2-byte length header.
    Sslv2ClientHello {
        /// msg_type, version, lengths, cipher specs, session id, challenge.
        body: &'a [u8],
        /// Where the bytes were captured (the 2-byte header included).
        pieces: &'a Pieces,
        /// The frame with the last byte.
        frame: u64,
        /// When.
        ts: Timestamp,
    },
    /// The direction turned out not to be TLS (decided once).
    NotTls {
        /// The first bytes (up to [`PREVIEW_LEN`]).
        preview: &'a [u8],
        /// The frame that carried them.
        frame: u64,
    },
    /// A record header that is not plausible was found where one was
    /// expected: the deframer now searches for the next one.
    Desync {
        /// Stream offset of the bad header.
        offset: u64,
        /// The frame it is in.
        frame: u64,
        /// The bad header.
        header: Header,
    },
    /// After a gap or a desync, records were found again.
    Resync {
        /// Stream offset of the first record found.
        offset: u64,
        /// Bytes skipped since the last good record ended.
        skipped: u64,
        /// The frame.
        frame: u64,
    },
    /// A record was cut by a gap in the stream.
    Lost {
        /// Stream offset of the lost record's header.
        offset: u64,
        /// Its header.
        header: Header,
    },
}

#[derive(Debug)]
enum State {
    /// At a record boundary, expecting a header (`have` bytes of it so far).
    Header { have: usize },
    /// Inside a record body: `left` bytes to go.
    Body { header: Header, left: usize, keep: bool },
    /// Inside an SSLv2 ClientHello body.
    Sslv2 { left: usize },
    /// Searching for a plausible header after a gap or desync.
    Resync { since: u64 },
    /// The direction is not TLS; everything is ignored.
    Ignore,
}

/// The record layer of one direction.
#[derive(Debug)]
pub struct Deframer {
    kind: Kind,
    state: State,
    hdr: [u8; HEADER_LEN],
    /// Body bytes of a record split across chunks.
    buf: Vec<u8>,
    pieces: Pieces,
    /// Stream offset of the current record's header.
    rec_offset: u64,
    rec_first_frame: u64,
    /// When that frame was captured.
    rec_first_ts: Timestamp,
    /// Next stream offset expected.
    next: u64,
    /// Records seen, for statistics.
    pub records: u64,
    /// Whether anything was delivered yet.
    started: bool,
}

impl Default for Deframer {
    fn default() -> Self {
        Deframer {
            kind: Kind::Unknown,
            state: State::Header { have: 0 },
            hdr: [0; HEADER_LEN],
            buf: Vec::new(),
            pieces: Pieces::default(),
            rec_offset: 0,
            rec_first_frame: 0,
            rec_first_ts: Timestamp::default(),
            next: 0,
            records: 0,
            started: false,
        }
    }
}

/// Moves past the first `n` bytes of a chunk's `data`, and its stream and
/// frame offsets with them. The offsets saturate: a stream offset counts
/// the bytes of one direction of one capture, and a frame offset stays
/// inside one frame, both far from their type's end.
fn advance(data: &mut &[u8], offset: &mut u64, frame_offset: &mut u32, n: usize) {
    *data = data.get(n..).unwrap_or_default();
    *offset = offset.saturating_add(n as u64);
    *frame_offset = frame_offset.saturating_add(n as u32);
}

/// Decides from a direction's first bytes whether it is TLS. None: not
/// enough bytes yet.
fn classify(first: &[u8]) -> Option<bool> {
    let b0 = *first.first()?;
    if (content::CHANGE_CIPHER_SPEC..=content::HEARTBEAT).contains(&b0) {
        let b1 = *first.get(1)?;
        return Some(b1 == 3);
    }
    if b0 & 0x80 != 0 {
        // SSLv2 record header: 2-byte length with the high bit set (long
        // enough for a ClientHello), then msg_type 1 (client_hello), then
        // version 0x0002 or 0x03xx.
        let b1 = *first.get(1)?;
        let t = *first.get(2)?;
        let v = *first.get(3)?;
        return Some(sslv2_len([b0, b1]).is_some() && t == 1 && (v == 0 || v == 3));
    }
    Some(false)
}

impl Deframer {
    /// What the direction carries, as far as known.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// Whether the deframer is at a record boundary with nothing pending.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header { have: 0 })
    }

    /// Bytes held for a record split across chunks.
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// The record the stream stopped inside of, if it did (asked when
    /// the connection ends).
    pub fn unfinished(&self) -> Option<Unfinished<'_>> {
        let State::Body { header, left, keep } = self.state else { return None };
        Some(Unfinished {
            header,
            seen: usize::from(header.len).saturating_sub(left),
            body: if keep { &self.buf } else { &[] },
            offset: self.rec_offset,
            first_frame: self.rec_first_frame,
            first_ts: self.rec_first_ts,
        })
    }

    /// Feeds a chunk of the stream. `keep(content_type)` says whether a
    /// record's body is wanted; `emit` gets every event, in stream order.
    pub fn push<'s>(
        &'s mut self,
        chunk: &Chunk<'_>,
        keep: &mut dyn FnMut(u8) -> bool,
        emit: &mut dyn FnMut(Event<'_>),
    ) {
        if matches!(self.state, State::Ignore) {
            return;
        }
        let mut data = chunk.data;
        let mut offset = chunk.offset;
        let mut frame_offset = chunk.frame_offset;
        if offset != self.next && self.started {
            // The reassembler guarantees order; a jump means a gap we were
            // not told about. Treat it as one.
            self.gap(offset.saturating_sub(self.next), emit);
        }
        self.started = true;

        if self.kind == Kind::Unknown {
            // Decide from the first bytes; they may come in pieces.
            let have = match self.state {
                State::Header { have } => have,
                _ => 0,
            };
            // Up to 4 bytes: the header bytes held, then this chunk's.
            let mut probe = [0u8; 4];
            let known = self.hdr.get(..have).unwrap_or_default().iter().chain(data);
            let filled = probe.iter_mut().zip(known).map(|(dst, src)| *dst = *src).count();
            match classify(probe.get(..filled).unwrap_or_default()) {
                Some(true) => self.kind = Kind::Tls,
                Some(false) => {
                    let mut preview: Vec<u8> = self.hdr.get(..have).unwrap_or_default().to_vec();
                    preview.extend_from_slice(
                        data.get(..PREVIEW_LEN.saturating_sub(have).min(data.len()))
                            .unwrap_or_default(),
                    );
                    emit(Event::NotTls { preview: &preview, frame: chunk.frame });
                    self.kind = Kind::NotTls(preview);
                    self.state = State::Ignore;
                    return;
                }
                None => {}
            }
        }

        while !data.is_empty() {
            match self.state {
                State::Ignore => return,
                State::Header { have } => {
                    if have == 0 && data.len() >= HEADER_LEN {
                        // Fast path: the whole record may be in this chunk.
                        let mut h = [0u8; HEADER_LEN];
                        h.copy_from_slice(data.get(..HEADER_LEN).unwrap_or(&[0; HEADER_LEN]));
                        if self.kind == Kind::Tls
                            && self.records == 0
                            && let Some(len) = sslv2_len([h[0], h[1]])
                        {
                            self.hdr = h;
                            self.pieces.0.clear();
                            self.pieces.0.push(Piece {
                                unit_offset: 0,
                                len: HEADER_LEN as u32,
                                frame: chunk.frame,
                                frame_offset,
                            });
                            self.start_sslv2(len, offset, chunk.frame);
                            advance(&mut data, &mut offset, &mut frame_offset, HEADER_LEN);
                            self.next = offset;
                            continue;
                        }
                        let header = Header::parse(h);
                        if !header.is_plausible() {
                            self.desync(offset, chunk.frame, header, emit);
                            continue;
                        }
                        let total = HEADER_LEN + usize::from(header.len);
                        self.rec_offset = offset;
                        self.rec_first_frame = chunk.frame;
                        self.rec_first_ts = chunk.ts;
                        if data.len() >= total {
                            let body = data.get(HEADER_LEN..total).unwrap_or_default();
                            let wanted = keep(header.content_type);
                            self.pieces.0.clear();
                            if wanted {
                                self.pieces.0.push(Piece {
                                    unit_offset: 0,
                                    len: total as u32,
                                    frame: chunk.frame,
                                    frame_offset,
                                });
                            }
                            self.records = self.records.saturating_add(1);
                            emit(Event::Record(Record {
                                header,
                                offset,
                                body: wanted.then_some(body),
                                pieces: &self.pieces,
                                first_frame: chunk.frame,
                                frame: chunk.frame,
                                ts: chunk.ts,
                            }));
                            advance(&mut data, &mut offset, &mut frame_offset, total);
                            self.next = offset;
                            continue;
                        }
                        // Split: start the body state and fall through.
                        self.hdr = h;
                        let wanted = keep(header.content_type);
                        self.pieces.0.clear();
                        self.buf.clear();
                        if wanted {
                            self.pieces.0.push(Piece {
                                unit_offset: 0,
                                len: HEADER_LEN as u32,
                                frame: chunk.frame,
                                frame_offset,
                            });
                        }
                        self.state =
                            State::Body { header, left: usize::from(header.len), keep: wanted };
                        advance(&mut data, &mut offset, &mut frame_offset, HEADER_LEN);
                        self.next = offset;
                        continue;
                    }
                    // Slow path: collect the header byte by byte (`have`
                    // is below HEADER_LEN in this state).
                    let n = HEADER_LEN.saturating_sub(have).min(data.len());
                    if have == 0 {
                        self.rec_offset = offset;
                        self.rec_first_frame = chunk.frame;
                        self.rec_first_ts = chunk.ts;
                        self.pieces.0.clear();
                    }
                    if let (Some(dst), Some(src)) =
                        (self.hdr.get_mut(have..).and_then(|h| h.get_mut(..n)), data.get(..n))
                    {
                        dst.copy_from_slice(src);
                    }
                    self.pieces.0.push(Piece {
                        unit_offset: have as u32,
                        len: n as u32,
                        frame: chunk.frame,
                        frame_offset,
                    });
                    advance(&mut data, &mut offset, &mut frame_offset, n);
                    self.next = offset;
                    // At most HEADER_LEN.
                    let have = have.saturating_add(n);
                    if have < HEADER_LEN {
                        self.state = State::Header { have };
                        continue;
                    }
                    if self.records == 0
                        && let Some(len) = sslv2_len([self.hdr[0], self.hdr[1]])
                    {
                        self.start_sslv2(len, self.rec_offset, self.rec_first_frame);
                        // The 5 header bytes already read are part of the body.
                        continue;
                    }
                    let header = Header::parse(self.hdr);
                    if !header.is_plausible() {
                        let at = self.rec_offset;
                        self.desync(at, chunk.frame, header, emit);
                        continue;
                    }
                    let wanted = keep(header.content_type);
                    if !wanted {
                        self.pieces.0.clear();
                    }
                    self.buf.clear();
                    self.state =
                        State::Body { header, left: usize::from(header.len), keep: wanted };
                }
                State::Body { header, left, keep: wanted } => {
                    let n = left.min(data.len());
                    if wanted {
                        // Within a record (at most MAX_RECORD_BODY): no overflow.
                        let at = self.buf.len().saturating_add(HEADER_LEN);
                        self.buf.extend_from_slice(data.get(..n).unwrap_or_default());
                        self.pieces.0.push(Piece {
                            unit_offset: at as u32,
                            len: n as u32,
                            frame: chunk.frame,
                            frame_offset,
                        });
                    }
                    advance(&mut data, &mut offset, &mut frame_offset, n);
                    self.next = offset;
                    // `n` is at most `left`.
                    let left = left.saturating_sub(n);
                    if left > 0 {
                        self.state = State::Body { header, left, keep: wanted };
                        continue;
                    }
                    self.records = self.records.saturating_add(1);
                    self.state = State::Header { have: 0 };
                    emit(Event::Record(Record {
                        header,
                        offset: self.rec_offset,
                        body: wanted.then_some(self.buf.as_slice()),
                        pieces: &self.pieces,
                        first_frame: self.rec_first_frame,
                        frame: chunk.frame,
                        ts: chunk.ts,
                    }));
                    // Large one-off buffers are not kept around.
                    if self.buf.capacity() > 4 * MAX_RECORD_BODY {
                        self.buf = Vec::new();
                    }
                }
                State::Sslv2 { left } => {
                    let n = left.min(data.len());
                    // Within an SSLv2 record (15-bit length): no overflow.
                    let at = self.buf.len().saturating_add(2);
                    self.buf.extend_from_slice(data.get(..n).unwrap_or_default());
                    self.pieces.0.push(Piece {
                        unit_offset: at as u32,
                        len: n as u32,
                        frame: chunk.frame,
                        frame_offset,
                    });
                    advance(&mut data, &mut offset, &mut frame_offset, n);
                    self.next = offset;
                    // `n` is at most `left`.
                    let left = left.saturating_sub(n);
                    if left > 0 {
                        self.state = State::Sslv2 { left };
                        continue;
                    }
                    self.records = self.records.saturating_add(1);
                    self.state = State::Header { have: 0 };
                    emit(Event::Sslv2ClientHello {
                        body: &self.buf,
                        pieces: &self.pieces,
                        frame: chunk.frame,
                        ts: chunk.ts,
                    });
                }
                State::Resync { since } => {
                    // Look for a plausible header in this chunk.
                    let found = data.windows(HEADER_LEN).position(|h| {
                        <[u8; HEADER_LEN]>::try_from(h)
                            .is_ok_and(|a| Header::parse(a).is_plausible())
                    });
                    match found {
                        Some(i) => {
                            advance(&mut data, &mut offset, &mut frame_offset, i);
                            emit(Event::Resync {
                                offset,
                                skipped: offset.saturating_sub(since),
                                frame: chunk.frame,
                            });
                            self.next = offset;
                            self.state = State::Header { have: 0 };
                        }
                        None => {
                            // Keep the last 4 bytes' worth of scanning for
                            // a header split across chunks: simplest is to
                            // skip them too and accept missing one header.
                            offset = offset.saturating_add(data.len() as u64);
                            self.next = offset;
                            if offset.saturating_sub(since) > MAX_RESYNC_SCAN {
                                self.state = State::Ignore;
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Starts an SSLv2 ClientHello of `len` body bytes (from
    /// [`sslv2_len`], so at least [`SSLV2_MIN_BODY`]), whose header is in
    /// `hdr`.
    fn start_sslv2(&mut self, len: usize, offset: u64, frame: u64) {
        // The two-byte header gives the length of what follows; the three
        // bytes after it are already in `hdr`.
        self.rec_offset = offset;
        self.rec_first_frame = frame;
        self.buf.clear();
        self.buf.extend_from_slice(self.hdr.get(2..).unwrap_or_default());
        // pieces already describe the 5 header bytes when collected slowly;
        // on the fast path they are not recorded (the body map starts at 2).
        self.state = State::Sslv2 { left: len.saturating_sub(3) };
    }

    fn desync(&mut self, offset: u64, frame: u64, header: Header, emit: &mut dyn FnMut(Event<'_>)) {
        emit(Event::Desync { offset, frame, header });
        self.state = State::Resync { since: offset };
        // Skip the first byte of the bad header so the scan moves on.
        self.next = offset;
    }

    /// `len` bytes of the stream are missing from the capture.
    pub fn gap(&mut self, len: u64, emit: &mut dyn FnMut(Event<'_>)) {
        let at = self.next;
        match self.state {
            State::Ignore => {}
            State::Body { header, .. } => {
                emit(Event::Lost { offset: self.rec_offset, header });
                self.state = State::Resync { since: self.rec_offset };
            }
            State::Header { have } if have > 0 => {
                let header = Header::parse(self.hdr);
                emit(Event::Lost { offset: self.rec_offset, header });
                self.state = State::Resync { since: self.rec_offset };
            }
            State::Sslv2 { .. } => self.state = State::Resync { since: self.rec_offset },
            State::Header { .. } => self.state = State::Resync { since: at },
            State::Resync { .. } => {}
        }
        self.next = at.saturating_add(len);
        self.buf.clear();
        self.pieces.0.clear();
        self.started = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Got {
        Rec {
            ctype: u8,
            offset: u64,
            body: Option<Vec<u8>>,
            first: u64,
            frame: u64,
            pieces: Vec<Piece>,
        },
        V2(Vec<u8>),
        NotTls(Vec<u8>),
        Desync(u64),
        Resync(u64, u64),
        Lost(u64),
    }

    fn feed(d: &mut Deframer, chunks: &[(u64, &[u8])], keep_app: bool) -> Vec<Got> {
        let mut out = Vec::new();
        let mut offset = 0;
        for (frame, data) in chunks {
            let chunk = Chunk {
                offset,
                data,
                frame: *frame,
                frame_offset: 100,
                ts: Timestamp(0),
                file_offset: None,
            };
            offset += data.len() as u64;
            d.push(&chunk, &mut |t| keep_app || t != content::APPLICATION_DATA, &mut |ev| {
                out.push(match ev {
                    Event::Record(r) => Got::Rec {
                        ctype: r.header.content_type,
                        offset: r.offset,
                        body: r.body.map(<[u8]>::to_vec),
                        first: r.first_frame,
                        frame: r.frame,
                        pieces: r.pieces.0.clone(),
                    },
                    Event::Sslv2ClientHello { body, .. } => Got::V2(body.to_vec()),
                    Event::NotTls { preview, .. } => Got::NotTls(preview.to_vec()),
                    Event::Desync { offset, .. } => Got::Desync(offset),
                    Event::Resync { offset, skipped, .. } => Got::Resync(offset, skipped),
                    Event::Lost { offset, .. } => Got::Lost(offset),
                })
            });
        }
        out
    }

    fn rec(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t, 3, 3];
        v.extend((body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn many_records_in_one_chunk_are_borrowed() {
        let mut bytes = rec(22, b"hello");
        bytes.extend(rec(20, &[1]));
        let mut d = Deframer::default();
        let got = feed(&mut d, &[(7, &bytes)], true);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            Got::Rec {
                ctype: 20,
                offset: 10,
                body: Some(vec![1]),
                first: 7,
                frame: 7,
                pieces: vec![Piece { unit_offset: 0, len: 6, frame: 7, frame_offset: 110 }]
            }
        );
        assert_eq!(d.kind(), &Kind::Tls);
    }

    #[test]
    fn record_split_across_chunks_at_every_point() {
        let mut bytes = rec(22, &(0..40).collect::<Vec<u8>>());
        bytes.extend(rec(21, &[2, 40]));
        for cut1 in 1..bytes.len() {
            for cut2 in cut1..bytes.len() {
                let mut d = Deframer::default();
                let got = feed(
                    &mut d,
                    &[(1, &bytes[..cut1]), (2, &bytes[cut1..cut2]), (3, &bytes[cut2..])],
                    true,
                );
                let recs: Vec<&Got> = got.iter().filter(|g| matches!(g, Got::Rec { .. })).collect();
                assert_eq!(recs.len(), 2, "cuts {cut1} {cut2}: {got:?}");
                let Got::Rec { body, pieces, offset, .. } = recs[0] else { unreachable!() };
                assert_eq!(body.as_ref().unwrap().len(), 40);
                assert_eq!(*offset, 0);
                assert_eq!(
                    pieces.iter().map(|p| p.len).sum::<u32>(),
                    45,
                    "pieces cover the record"
                );
                let Got::Rec { body, offset, .. } = recs[1] else { unreachable!() };
                assert_eq!(body.as_deref(), Some(&[2, 40][..]));
                assert_eq!(*offset, 45);
            }
        }
    }

    #[test]
    fn unwanted_bodies_are_skipped_not_buffered() {
        let big = vec![0xee; 16000];
        let bytes = rec(23, &big);
        let mut d = Deframer::default();
        let got = feed(
            &mut d,
            &[(1, &bytes[..1000]), (2, &bytes[1000..9000]), (3, &bytes[9000..])],
            false,
        );
        assert!(matches!(&got[0], Got::Rec { ctype: 23, body: None, first: 1, frame: 3, .. }));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn plain_http_is_not_tls() {
        let mut d = Deframer::default();
        let got = feed(&mut d, &[(1, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")], true);
        assert_eq!(got, vec![Got::NotTls(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())]);
        assert!(matches!(d.kind(), Kind::NotTls(_)));
        assert!(feed(&mut d, &[(2, b"more")], true).is_empty());
    }

    #[test]
    fn one_byte_at_a_time_still_classifies() {
        let bytes = rec(22, b"abc");
        let chunks: Vec<(u64, &[u8])> =
            bytes.chunks(1).enumerate().map(|(i, c)| (i as u64, c)).collect();
        let mut d = Deframer::default();
        let got = feed(&mut d, &chunks, true);
        assert!(matches!(&got[..], [Got::Rec { ctype: 22, .. }]), "{got:?}");
    }

    #[test]
    fn recognises_an_sslv2_client_hello() {
        // 2-byte header (0x80, len), msg_type 1, version 0x0301, lengths, cipher spec, challenge.
        let mut body = vec![1, 3, 1, 0, 3, 0, 0, 0, 16, 0x00, 0x00, 0x2f];
        body.extend([7u8; 16]);
        let mut bytes = vec![0x80, body.len() as u8];
        bytes.extend(&body);
        bytes.extend(rec(21, &[1, 0]));
        let mut d = Deframer::default();
        let got = feed(&mut d, &[(1, &bytes)], true);
        assert_eq!(got[0], Got::V2(body.clone()));
        assert!(matches!(got[1], Got::Rec { ctype: 21, .. }));
    }

    /// Found by fuzzing (tls_record): a header `80 01` announced a 1-byte
    /// SSLv2 hello, which ended inside the five bytes read to recognise
    /// it; the hello's pieces then overlapped, and the two bytes after it
    /// were swallowed. Such a length is no ClientHello: the stream is not
    /// TLS.
    #[test]
    fn an_sslv2_length_shorter_than_a_client_hello_is_not_tls() {
        for len in 0..SSLV2_MIN_BODY as u8 {
            // Length `len`, msg_type 1, version 3.3, then more bytes.
            let bytes = [0x80, len, 1, 3, 3, 0, 0, 0, 0, 0, 0, 0x16, 3, 3, 0, 0];
            for cut in 1..bytes.len() {
                let mut d = Deframer::default();
                let got = feed(&mut d, &[(1, &bytes[..cut]), (2, &bytes[cut..])], true);
                assert!(matches!(&got[..], [Got::NotTls(_)]), "length {len}, cut {cut}: {got:?}");
            }
        }
    }

    /// The shortest SSLv2 hello the deframer takes (its fixed fields
    /// only) ends where its length says, in one chunk or split anywhere.
    #[test]
    fn the_shortest_sslv2_hello_ends_at_its_length() {
        // Length 9: msg_type 1, version 3.1, three zero lengths; then an alert.
        let mut bytes = vec![0x80, 9, 1, 3, 1, 0, 0, 0, 0, 0, 0];
        bytes.extend(rec(21, &[1, 0]));
        for cut in 1..bytes.len() {
            let mut d = Deframer::default();
            let got = feed(&mut d, &[(1, &bytes[..cut]), (2, &bytes[cut..])], true);
            assert_eq!(got.len(), 2, "cut {cut}: {got:?}");
            assert_eq!(got[0], Got::V2(bytes[2..11].to_vec()), "cut {cut}");
            assert!(matches!(got[1], Got::Rec { ctype: 21, offset: 11, .. }), "cut {cut}");
        }
    }

    #[test]
    fn resynchronises_after_a_gap_and_reports_the_lost_record() {
        let mut bytes = rec(23, &[1; 100]);
        bytes.extend(rec(23, &[2; 50]));
        let mut d = Deframer::default();
        let mut out = feed(&mut d, &[(1, &bytes[..30])], true);
        let mut events = Vec::new();
        d.gap(30, &mut |e| events.push(format!("{e:?}")));
        assert!(events[0].starts_with("Lost"));
        // Feed the rest after the gap: garbage tail of record 1, then record 2.
        let chunk = Chunk {
            offset: 60,
            data: &bytes[60..],
            frame: 5,
            frame_offset: 0,
            ts: Timestamp(0),
            file_offset: None,
        };
        d.push(&chunk, &mut |_| true, &mut |ev| {
            out.push(match ev {
                Event::Resync { offset, skipped, .. } => Got::Resync(offset, skipped),
                Event::Record(r) => Got::Rec {
                    ctype: r.header.content_type,
                    offset: r.offset,
                    body: None,
                    first: 0,
                    frame: 0,
                    pieces: vec![],
                },
                _ => Got::Desync(0),
            })
        });
        assert!(out.contains(&Got::Resync(105, 105)), "{out:?}");
        assert!(out.contains(&Got::Rec {
            ctype: 23,
            offset: 105,
            body: None,
            first: 0,
            frame: 0,
            pieces: vec![]
        }));
    }

    #[test]
    fn implausible_header_desyncs() {
        let mut bytes = rec(22, b"ok");
        bytes.extend([22, 3, 3, 0xff, 0xff]); // longer than TLS allows
        bytes.extend(rec(21, &[1, 0]));
        let mut d = Deframer::default();
        let got = feed(&mut d, &[(1, &bytes)], true);
        assert!(got.contains(&Got::Desync(7)), "{got:?}");
        assert!(got.iter().any(|g| matches!(g, Got::Rec { ctype: 21, .. })), "{got:?}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 12345;
        for _ in 0..300 {
            let mut d = Deframer::default();
            let mut data = vec![22u8, 3, 3, 0, 10];
            for _ in 0..500 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                data.push((x % 7) as u8 + 20);
            }
            let mut offset = 0u64;
            for (i, c) in data.chunks((x % 13 + 1) as usize).enumerate() {
                if i % 17 == 3 {
                    d.gap(3, &mut |_| {});
                    offset += 3;
                }
                let chunk = Chunk {
                    offset,
                    data: c,
                    frame: i as u64,
                    frame_offset: 0,
                    ts: Timestamp(0),
                    file_offset: None,
                };
                offset += c.len() as u64;
                d.push(&chunk, &mut |_| true, &mut |_| {});
            }
        }
    }
}
