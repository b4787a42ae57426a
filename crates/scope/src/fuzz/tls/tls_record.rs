//! `tls_record`: the record deframer over one direction of a stream.

use super::*;

/// The most a [`Deframer`] may hold for a record split across chunks: the
/// longest record its header can announce, with the header.
pub const RECORD_BUFFER_LIMIT: usize = u16::MAX as usize + HEADER_LEN;

/// One step of a [`tls_record()`] script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordStep {
    /// The next bytes of the stream, in one chunk.
    Data(Vec<u8>),
    /// Bytes of the stream the capture lost.
    Gap(u32),
}

/// Reads a [`tls_record()`] script (the input after its first byte): control
/// bytes, each followed by the chunk it announces. Bit 7: a gap instead of
/// data; bit 6: the length counts in units of 32; bits 0-5: the length
/// minus one (so 1..=64 bytes, or 32..=2048). A chunk cut short by the end
/// of the input keeps what it has.
pub fn record_script(data: &[u8]) -> Vec<RecordStep> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [ctl, tail @ ..] = rest {
        let unit = if ctl & 0x40 != 0 { 32 } else { 1 };
        let n = (usize::from(ctl & 0x3f) + 1) * unit;
        if ctl & 0x80 != 0 {
            out.push(RecordStep::Gap(len32(n)));
            rest = tail;
            continue;
        }
        let n = n.min(tail.len());
        if n == 0 {
            break;
        }
        out.push(RecordStep::Data(tail.get(..n).unwrap_or_default().to_vec()));
        rest = tail.get(n..).unwrap_or_default();
    }
    out
}

/// The control byte for `len` bytes (as much of them as one control byte
/// can say), and how many that is.
pub(super) fn record_ctl(len: usize) -> (u8, usize) {
    if len >= 32 {
        let units = (len / 32).min(64);
        (0x40 | (units - 1) as u8, units * 32)
    } else {
        ((len.max(1) - 1) as u8, len.max(1))
    }
}

/// Writes a [`tls_record()`] input: the keep mask (bit `t - 20` keeps the
/// bodies of content type `t`, bit 5 those of other types), then the steps;
/// long chunks and gaps become several.
pub fn record_script_bytes(keep: u8, steps: &[RecordStep]) -> Vec<u8> {
    let mut out = vec![keep];
    for s in steps {
        match s {
            RecordStep::Data(bytes) => {
                let mut rest = bytes.as_slice();
                while !rest.is_empty() {
                    let (ctl, n) = record_ctl(rest.len());
                    out.push(ctl);
                    out.extend_from_slice(rest.get(..n).unwrap_or(rest));
                    rest = rest.get(n..).unwrap_or_default();
                }
            }
            RecordStep::Gap(len) => {
                let mut left = *len as usize;
                while left > 0 {
                    let (ctl, n) = record_ctl(left);
                    out.push(0x80 | ctl);
                    left = left.saturating_sub(n);
                }
            }
        }
    }
    out
}

/// Whether the keep mask of a [`tls_record()`] input keeps bodies of `t`.
pub(super) fn keeps(mask: u8, t: u8) -> bool {
    match t {
        20..=24 => mask >> (t - 20) & 1 != 0,
        _ => mask & 0x20 != 0,
    }
}

/// What a record looked like, to compare two runs over the same stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    Record { offset: u64, header: Header, body: Option<Vec<u8>> },
    Sslv2(Vec<u8>),
}

/// One run of a deframer over a script, and the model it is checked
/// against: the stream as delivered (chunks at their offsets; what lies
/// between them is lost).
#[derive(Default)]
pub(super) struct DeframerRun {
    /// (stream offset, frame, frame offset, bytes) of every chunk pushed;
    /// chunk `i` is frame `i + 1`.
    pub(super) chunks: Vec<(u64, u64, u32, Vec<u8>)>,
    /// The stream offset after everything pushed or lost so far.
    pub(super) end: u64,
    /// Events must not start before this offset (stream order).
    pub(super) pos: u64,
    pub(super) seen: Vec<Seen>,
    pub(super) records: usize,
    pub(super) not_tls: bool,
    /// No gap, desync or lost record: a second run must see the same.
    pub(super) clean: bool,
}

impl DeframerRun {
    /// The delivered bytes `start .. start + len`, if none is lost.
    pub(super) fn stream(&self, start: u64, len: usize) -> Option<Vec<u8>> {
        let end = start.checked_add(len as u64)?;
        let mut out = Vec::with_capacity(len);
        // The first chunk that ends after `start` (chunks are in order).
        let first = self.chunks.partition_point(|(o, _, _, b)| o + b.len() as u64 <= start);
        let mut at = start;
        for (o, _, _, b) in self.chunks.get(first..).unwrap_or_default() {
            if at >= end {
                break;
            }
            if *o > at {
                return None; // a gap
            }
            let from = usize::try_from(at - o).ok()?;
            let to = usize::try_from(end.min(o + b.len() as u64) - o).ok()?;
            out.extend_from_slice(b.get(from..to)?);
            at = o + to as u64;
        }
        (at == end).then_some(out)
    }

    /// The frame that delivered stream byte `offset`.
    pub(super) fn frame_of(&self, offset: u64) -> Option<u64> {
        let i = self.chunks.partition_point(|(o, _, _, b)| o + b.len() as u64 <= offset);
        let (o, frame, _, _) = self.chunks.get(i)?;
        (*o <= offset).then_some(*frame)
    }

    /// Checks that `pieces` map the unit starting at stream offset `start`
    /// back to the frames that carried it: contiguous from 0, each piece
    /// the bytes of its frame at its frame offset, `len` bytes in all.
    pub(super) fn check_pieces(&self, pieces: &Pieces, start: u64, len: u64, what: &str) {
        let mut at = 0u32;
        for p in &pieces.0 {
            assert_eq!(p.unit_offset, at, "{what}: pieces are not contiguous: {pieces:?}");
            let chunk =
                usize::try_from(p.frame).ok().and_then(|f| self.chunks.get(f.checked_sub(1)?));
            assert!(chunk.is_some(), "{what}: a piece names frame {}, never pushed", p.frame);
            let Some((offset, _, frame_offset, _)) = chunk else { return };
            let in_chunk = p.frame_offset.checked_sub(*frame_offset);
            assert!(in_chunk.is_some(), "{what}: piece before its frame's payload: {p:?}");
            let stream_at = offset + u64::from(in_chunk.unwrap_or(0));
            assert_eq!(
                stream_at,
                start + u64::from(p.unit_offset),
                "{what}: piece {p:?} points at stream offset {stream_at}"
            );
            at = at.saturating_add(p.len);
        }
        assert_eq!(u64::from(at), len, "{what}: pieces cover {at} bytes of {len}");
    }

    pub(super) fn event(&mut self, ev: &Event<'_>, mask: u8) {
        assert!(!self.not_tls, "an event after the stream was found not to be TLS: {ev:?}");
        match ev {
            Event::Record(r) => {
                let h = r.header;
                assert!(h.is_plausible(), "a record with an implausible header {h:?}");
                assert!(
                    r.offset >= self.pos,
                    "record at {} before the end of what came before ({})",
                    r.offset,
                    self.pos
                );
                let total = (HEADER_LEN + usize::from(h.len)) as u64;
                let end = r.offset + total;
                assert!(end <= self.end, "record ends at {end}, past the stream ({})", self.end);
                let bytes = self.stream(r.offset, total as usize);
                assert!(bytes.is_some(), "record at {} spans a gap", r.offset);
                let bytes = bytes.unwrap_or_default();
                assert_eq!(bytes.get(..HEADER_LEN), Some(&header_bytes(h)[..]), "header bytes");
                assert_eq!(Some(r.first_frame), self.frame_of(r.offset), "first_frame");
                assert_eq!(Some(r.frame), self.frame_of(end - 1), "frame of the last byte");
                match r.body {
                    Some(body) => {
                        assert!(keeps(mask, h.content_type), "a body kept that was not wanted");
                        assert_eq!(
                            Some(body),
                            bytes.get(HEADER_LEN..),
                            "record body at {}",
                            r.offset
                        );
                        self.check_pieces(r.pieces, r.offset, total, "record");
                    }
                    None => {
                        assert!(!keeps(mask, h.content_type), "a wanted body was not kept");
                        assert!(r.pieces.0.is_empty(), "pieces for a body not kept");
                    }
                }
                self.pos = end;
                self.records += 1;
                self.seen.push(Seen::Record {
                    offset: r.offset,
                    header: h,
                    body: r.body.map(<[u8]>::to_vec),
                });
            }
            Event::Sslv2ClientHello { body, pieces, .. } => {
                assert!(self.seen.is_empty(), "an SSLv2 hello after other records");
                // Only the stream's first bytes can be one.
                let len = self.stream(0, 2).map(|b| match b.as_slice() {
                    [a, b] => usize::from(u16::from_be_bytes([a & 0x7f, *b])),
                    _ => 0,
                });
                assert_eq!(len, Some(body.len()), "SSLv2 body length");
                assert_eq!(self.stream(2, body.len()).as_deref(), Some(*body), "SSLv2 body");
                // The pieces include the 5 bytes read as a header even when
                // the length is shorter.
                let covered = pieces.0.iter().map(|p| u64::from(p.len)).sum::<u64>();
                self.check_pieces(pieces, 0, covered, "SSLv2 hello");
                assert!(covered >= 2 + body.len() as u64, "SSLv2 pieces cover {covered} bytes");
                self.pos = 2 + body.len() as u64;
                self.records += 1;
                self.seen.push(Seen::Sslv2(body.to_vec()));
            }
            Event::NotTls { preview, .. } => {
                assert_eq!(self.records, 0, "not TLS after records");
                assert!(preview.len() <= record::PREVIEW_LEN, "preview of {} bytes", preview.len());
                self.not_tls = true;
            }
            Event::Desync { offset, header, .. } => {
                assert!(*offset >= self.pos, "desync at {offset} before {}", self.pos);
                assert!(!header.is_plausible(), "desync on a plausible header {header:?}");
                assert_eq!(
                    self.stream(*offset, HEADER_LEN),
                    Some(header_bytes(*header).to_vec()),
                    "desync header bytes at {offset}"
                );
                self.pos = offset + 1;
                self.clean = false;
            }
            Event::Resync { offset, skipped, .. } => {
                assert!(*offset >= self.pos, "resync at {offset} before {}", self.pos);
                assert!(*skipped <= *offset, "skipped {skipped} bytes before offset {offset}");
                let h = self.stream(*offset, HEADER_LEN).and_then(|b| <[u8; 5]>::try_from(b).ok());
                let plausible = h.is_some_and(|[t, v0, v1, l0, l1]| {
                    Header {
                        content_type: t,
                        version: u16::from_be_bytes([v0, v1]),
                        len: u16::from_be_bytes([l0, l1]),
                    }
                    .is_plausible()
                });
                assert!(plausible, "resync at {offset}, not at a plausible header");
                self.pos = *offset;
                self.clean = false;
            }
            Event::Lost { offset, .. } => {
                assert!(*offset >= self.pos, "lost record at {offset} before {}", self.pos);
                self.pos = offset + 1;
                self.clean = false;
            }
        }
    }
}

/// Runs a deframer over `steps`, one chunk per data step or (`bytewise`)
/// per byte, checking every event against the stream and the buffer
/// against [`RECORD_BUFFER_LIMIT`].
pub(super) fn run_deframer(mask: u8, steps: &[RecordStep], bytewise: bool) -> DeframerRun {
    let mut d = Deframer::default();
    let mut run = DeframerRun { clean: true, ..DeframerRun::default() };
    for step in steps {
        match step {
            RecordStep::Gap(len) => {
                run.clean = false;
                d.gap(u64::from(*len), &mut |ev| run.event(&ev, mask));
                run.end += u64::from(*len);
            }
            RecordStep::Data(bytes) => {
                let pieces: Vec<&[u8]> =
                    if bytewise { bytes.chunks(1).collect() } else { vec![bytes.as_slice()] };
                for piece in pieces {
                    let frame = run.chunks.len() as u64 + 1;
                    // A frame offset that differs between frames, as real
                    // headers do.
                    let frame_offset = 54 + (frame % 7) as u32;
                    run.chunks.push((run.end, frame, frame_offset, piece.to_vec()));
                    let chunk = Chunk {
                        offset: run.end,
                        data: piece,
                        frame,
                        frame_offset,
                        ts: Timestamp(frame as i64),
                        file_offset: None,
                    };
                    run.end += piece.len() as u64;
                    d.push(&chunk, &mut |t| keeps(mask, t), &mut |ev| run.event(&ev, mask));
                    assert!(
                        d.buffered() <= RECORD_BUFFER_LIMIT,
                        "the deframer holds {} bytes, over {RECORD_BUFFER_LIMIT}",
                        d.buffered()
                    );
                }
            }
        }
    }
    if run.records > 0 {
        assert_eq!(d.kind(), &record::Kind::Tls, "records from a stream not taken for TLS");
    }
    if run.not_tls {
        assert!(matches!(d.kind(), record::Kind::NotTls(_)));
    }
    run
}

/// Fuzz body: the TLS record layer of one direction. Input: a keep mask
/// byte (which content types' bodies are wanted, see
/// [`record_script_bytes`]), then a script of chunks and gaps (see
/// [`record_script`]) fed to a [`Deframer`]. Checks: events come in stream
/// order; every record is the stream's bytes at its offset, never across a
/// gap, with a plausible header; a kept body has the header's length and
/// its pieces map exactly header and body back to the frames that carried
/// them; an unwanted body is neither kept nor mapped; the buffer stays
/// within [`RECORD_BUFFER_LIMIT`]; and when nothing was lost, feeding the
/// stream one byte at a time yields the same records.
pub fn tls_record(data: &[u8]) {
    let Some((&mask, rest)) = data.split_first() else { return };
    let steps = record_script(rest);
    let whole = run_deframer(mask, &steps, false);
    if whole.clean && whole.end <= 4096 {
        let bytewise = run_deframer(mask, &steps, true);
        assert!(whole.seen == bytewise.seen, "records differ when the stream comes byte by byte");
    }
}
