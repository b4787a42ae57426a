//! Spans and the reader that yields them.
//!
//! A [`Span`] says which bytes of a parsed unit (a TLS record, a handshake
//! message, a decrypted plaintext) a field came from: an offset and a length
//! within that unit. The unit itself knows where its bytes lie in the
//! capture (see [`Pieces`]), so every field can be pointed at in a hex view
//! and traced back to (frame, offset in frame).
//!
//! [`Reader`] is a cursor over untrusted bytes in the style of rustls's
//! codec reader: every read is bounds-checked and returns a [`ParseError`]
//! naming the field that did not fit; length-prefixed parts are read with
//! `sub_*`, which yields a reader confined to that part.

use std::fmt;

/// Bytes `start .. start + len` of a parsed unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Span {
    /// Offset of the first byte within the unit.
    pub start: u32,
    /// Number of bytes.
    pub len: u32,
}

impl Span {
    /// A span.
    pub const fn new(start: u32, len: u32) -> Self {
        Span { start, len }
    }

    /// One past the last byte.
    pub fn end(self) -> u32 {
        self.start.saturating_add(self.len)
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        let start = self.start.min(other.start);
        // `start` is at most either end.
        Span { start, len: self.end().max(other.end()).saturating_sub(start) }
    }

    /// Whether `other` lies inside `self`.
    pub fn contains(self, other: Span) -> bool {
        other.start >= self.start && other.end() <= self.end()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end())
    }
}

/// Where a run of a unit's bytes was captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Offset within the unit.
    pub unit_offset: u32,
    /// Number of bytes.
    pub len: u32,
    /// The frame that carried them (1-based).
    pub frame: u64,
    /// Their offset within that frame.
    pub frame_offset: u32,
}

/// The map from a unit's bytes back to frames: a handshake message can
/// span records, and a record can span TCP segments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pieces(pub Vec<Piece>);

impl Pieces {
    /// Frame and frame offset of the unit's byte at `offset`.
    pub fn locate(&self, offset: u32) -> Option<(u64, u32)> {
        self.0
            .iter()
            .find_map(|p| {
                let within = offset.checked_sub(p.unit_offset).filter(|&d| d < p.len)?;
                Some(p.frame_offset.checked_add(within).map(|at| (p.frame, at)))
            })
            .flatten()
    }

    /// The distinct frames that carried `span`, in order.
    pub fn frames(&self, span: Span) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for p in &self.0 {
            let piece = Span::new(p.unit_offset, p.len);
            let overlaps = piece.start < span.end() && span.start < piece.end();
            if overlaps && out.last() != Some(&p.frame) {
                out.push(p.frame);
            }
        }
        out
    }
}

/// Why a field could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes ran out.
    Truncated,
    /// Bytes were left over where a structure should have ended.
    TrailingBytes,
    /// A length or value that the format does not allow.
    Invalid,
    /// A named limit was hit.
    TooLarge,
}

/// A field that could not be read, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The field being read (e.g. `cipher_suites`).
    pub field: &'static str,
    /// What went wrong.
    pub kind: ErrorKind,
    /// Offset within the unit where it went wrong.
    pub at: u32,
    /// Bytes wanted (for `Truncated`) or found (for `TrailingBytes`).
    pub wanted: u32,
    /// Bytes that were there.
    pub have: u32,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Truncated => write!(
                f,
                "{} at byte {}: needs {} bytes, only {} left",
                self.field, self.at, self.wanted, self.have
            ),
            ErrorKind::TrailingBytes => {
                write!(
                    f,
                    "{} at byte {}: {} unexpected bytes left over",
                    self.field, self.at, self.have
                )
            }
            ErrorKind::Invalid => write!(f, "{} at byte {}: invalid value", self.field, self.at),
            ErrorKind::TooLarge => write!(
                f,
                "{} at byte {}: {} bytes is over the limit of {}",
                self.field, self.at, self.have, self.wanted
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// A value with the span it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub v: T,
    /// Where it was.
    pub span: Span,
}

/// A bounds-checked cursor over a unit's bytes. Offsets in spans are
/// relative to the unit, whatever part of it the reader covers.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: u32,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Where `inner` starts within `outer`, when it lies wholly inside it: for
/// the slices a parser of another crate (etherparse, httparse, x509-parser)
/// hands back borrowed from the bytes it was given, which carry no offset
/// of their own. Compares addresses only; no unsafe code.
pub fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let o = outer.as_ptr() as usize;
    let i = (inner.as_ptr() as usize).checked_sub(o)?;
    (i.checked_add(inner.len())? <= outer.len()).then_some(i)
}

impl<'a> Reader<'a> {
    /// A reader over a whole unit.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0, base: 0 }
    }

    /// A reader over bytes that start at `base` within their unit.
    pub fn at(data: &'a [u8], base: u32) -> Self {
        Reader { data, pos: 0, base }
    }

    /// Offset within the unit of the next byte.
    pub fn offset(&self) -> u32 {
        self.base.saturating_add(to_u32(self.pos))
    }

    /// Bytes left.
    pub fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// The span from `start` (an earlier [`Reader::offset`]) to here.
    pub fn span_from(&self, start: u32) -> Span {
        Span::new(start, self.offset().saturating_sub(start))
    }

    fn err(&self, field: &'static str, kind: ErrorKind, wanted: usize) -> ParseError {
        ParseError {
            field,
            kind,
            at: self.offset(),
            wanted: to_u32(wanted),
            have: to_u32(self.left()),
        }
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<Spanned<&'a [u8]>, ParseError> {
        let start = self.offset();
        let end =
            self.pos.checked_add(n).ok_or_else(|| self.err(field, ErrorKind::Truncated, n))?;
        let bytes =
            self.data.get(self.pos..end).ok_or_else(|| self.err(field, ErrorKind::Truncated, n))?;
        self.pos = end;
        Ok(Spanned { v: bytes, span: Span::new(start, to_u32(n)) })
    }

    /// Takes `N` bytes as an array.
    pub fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<Spanned<[u8; N]>, ParseError> {
        let s = self.take(N, field)?;
        let v: [u8; N] = s.v.try_into().map_err(|_| self.err(field, ErrorKind::Truncated, N))?;
        Ok(Spanned { v, span: s.span })
    }

    /// Takes everything left.
    pub fn take_rest(&mut self, field: &'static str) -> Spanned<&'a [u8]> {
        let n = self.left();
        self.take(n, field).unwrap_or(Spanned { v: &[], span: Span::new(self.offset(), 0) })
    }

    /// Reads a u8.
    pub fn u8(&mut self, field: &'static str) -> Result<Spanned<u8>, ParseError> {
        let s = self.array::<1>(field)?;
        Ok(Spanned { v: s.v[0], span: s.span })
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<Spanned<u16>, ParseError> {
        let s = self.array::<2>(field)?;
        Ok(Spanned { v: u16::from_be_bytes(s.v), span: s.span })
    }

    /// Reads a big-endian u24.
    pub fn u24(&mut self, field: &'static str) -> Result<Spanned<u32>, ParseError> {
        let s = self.array::<3>(field)?;
        let [a, b, c] = s.v;
        Ok(Spanned { v: u32::from_be_bytes([0, a, b, c]), span: s.span })
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<Spanned<u32>, ParseError> {
        let s = self.array::<4>(field)?;
        Ok(Spanned { v: u32::from_be_bytes(s.v), span: s.span })
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<Spanned<u64>, ParseError> {
        let s = self.array::<8>(field)?;
        Ok(Spanned { v: u64::from_be_bytes(s.v), span: s.span })
    }

    fn len_prefix(
        &mut self,
        len_bytes: u8,
        field: &'static str,
    ) -> Result<Spanned<u32>, ParseError> {
        match len_bytes {
            1 => self.u8(field).map(|s| Spanned { v: u32::from(s.v), span: s.span }),
            2 => self.u16(field).map(|s| Spanned { v: u32::from(s.v), span: s.span }),
            _ => self.u24(field),
        }
    }

    /// Reads a length-prefixed part whose length is `len_bytes` (1, 2 or 3)
    /// bytes long, returning the length (with its span) and a reader over
    /// the part.
    pub fn sub(
        &mut self,
        len_bytes: u8,
        field: &'static str,
    ) -> Result<(Spanned<u32>, Reader<'a>), ParseError> {
        self.sub_bounded(len_bytes, 0, usize::MAX, field)
    }

    /// Like [`Reader::sub`], but the part must be at least `min` and at
    /// most `max` bytes long. A failed read consumes nothing.
    pub fn sub_bounded(
        &mut self,
        len_bytes: u8,
        min: usize,
        max: usize,
        field: &'static str,
    ) -> Result<(Spanned<u32>, Reader<'a>), ParseError> {
        let before = *self;
        let len = self.len_prefix(len_bytes, field)?;
        let n = len.v as usize;
        if n < min || n > max {
            // `have` stays the bytes there, as for every error: the tree's
            // [Malformed] field spans them. (It was the bad length, and
            // that field ran past the message; found by fuzzing.)
            let e = before.err(field, ErrorKind::Invalid, max);
            *self = before;
            return Err(e);
        }
        let base = self.offset();
        match self.take(n, field) {
            Ok(body) => Ok((len, Reader::at(body.v, base))),
            Err(e) => {
                *self = before;
                Err(e)
            }
        }
    }

    /// Fails unless every byte was read.
    pub fn expect_empty(&self, field: &'static str) -> Result<(), ParseError> {
        if self.is_empty() { Ok(()) } else { Err(self.err(field, ErrorKind::TrailingBytes, 0)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_in_finds_a_slice_inside_and_nothing_outside() {
        let outer = b"0123456789";
        assert_eq!(offset_in(outer, &outer[3..7]), Some(3));
        assert_eq!(offset_in(outer, &outer[10..]), Some(10));
        assert_eq!(offset_in(&outer[2..], &outer[..4]), None, "starts before");
        assert_eq!(offset_in(&outer[..5], &outer[3..7]), None, "ends after");
        assert_eq!(offset_in(outer, b"elsewhere"), None);
    }

    #[test]
    fn reads_fields_with_spans() {
        let bytes = [0x16, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb];
        let mut r = Reader::new(&bytes);
        let t = r.u8("type").unwrap();
        assert_eq!((t.v, t.span), (0x16, Span::new(0, 1)));
        let v = r.u16("version").unwrap();
        assert_eq!((v.v, v.span), (0x0303, Span::new(1, 2)));
        let (len, mut body) = r.sub(2, "fragment").unwrap();
        assert_eq!((len.v, len.span), (2, Span::new(3, 2)));
        assert_eq!(body.offset(), 5);
        let b = body.take(2, "x").unwrap();
        assert_eq!(b.span, Span::new(5, 2));
        assert!(r.is_empty() && body.is_empty());
    }

    #[test]
    fn rejects_truncated_parts_and_names_the_field() {
        let mut r = Reader::new(&[0x00, 0x05, 1, 2]);
        let e = r.sub(2, "cipher_suites").unwrap_err();
        assert_eq!(e.field, "cipher_suites");
        assert_eq!(e.kind, ErrorKind::Truncated);
        assert_eq!(e.to_string(), "cipher_suites at byte 2: needs 5 bytes, only 2 left");
    }

    #[test]
    fn bounded_parts_check_their_length() {
        let mut r = Reader::new(&[33, 0]);
        let e = r.sub_bounded(1, 0, 32, "session_id").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(r.offset(), 0, "a failed read consumes nothing");
        assert_eq!((e.at, e.have), (0, 2), "the bytes there, not the length read");
    }

    #[test]
    fn u24_and_trailing_bytes() {
        let mut r = Reader::at(&[0x01, 0x02, 0x03, 0x04], 10);
        assert_eq!(r.u24("len").unwrap().v, 0x010203);
        let e = r.expect_empty("message").unwrap_err();
        assert_eq!((e.kind, e.at, e.have), (ErrorKind::TrailingBytes, 13, 1));
    }

    #[test]
    fn pieces_locate_bytes_in_frames() {
        let p = Pieces(vec![
            Piece { unit_offset: 0, len: 10, frame: 4, frame_offset: 60 },
            Piece { unit_offset: 10, len: 5, frame: 6, frame_offset: 66 },
        ]);
        assert_eq!(p.locate(3), Some((4, 63)));
        assert_eq!(p.locate(12), Some((6, 68)));
        assert_eq!(p.locate(15), None);
        assert_eq!(p.frames(Span::new(8, 4)), vec![4, 6]);
    }

    #[test]
    fn every_read_on_every_prefix_fails_cleanly() {
        let data: Vec<u8> = (0..40).collect();
        for n in 0..data.len() {
            let mut r = Reader::new(&data[..n]);
            let _ = r.u8("a");
            let _ = r.u16("b");
            let _ = r.u24("c");
            let _ = r.u32("d");
            let _ = r.u64("e");
            let _ = r.sub(1, "f");
            let _ = r.sub(2, "g");
            let _ = r.sub(3, "h");
            let _ = r.take(usize::MAX, "i");
        }
    }
}
