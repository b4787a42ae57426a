//! Fuzz bodies for the TLS layers, and the checks they make: the record
//! deframer ([`tls_record`]), handshake messages ([`tls_handshake`]), their
//! reassembly from records ([`tls_assembler`]), SSLv2-compatible hellos
//! ([`tls_sslv2`]), extension blocks ([`tls_extensions`]), certificates
//! ([`x509`]), key logs ([`keylog`]), record decryption ([`tls_decrypt`])
//! and the whole pipeline from TCP segments to decrypted HTTP
//! ([`session_pipeline`]). Part of [`crate::fuzz`]: the same rules apply
//! (see its module docs and docs/fuzzing.md). [`tls_capture_seeds`] turns
//! real captures and their key logs into seeds for all of them.

use std::collections::HashMap;
use std::net::SocketAddr;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use cbc::cipher::{Array, KeyInit as CipherKeyInit};
use ccm::aead::AeadInOut;
use ccm::consts::{U8, U12, U16};
use hmac::Hmac;

use super::{HttpStep, http_script, http_script_bytes};
use crate::budget::Budget;
use crate::diag::Diagnostic;
use crate::flow::{Chunk, ConnInfo, Dir, EndReason, Limits, Reassembler, StreamSink};
use crate::frame::{LinkType, TcpFlags, TcpSegment};
use crate::session::{self, Analyzer, ConnState, Flow, Output, Session};
use crate::span::{Piece, Pieces, Reader, Span};
use crate::time::Timestamp;
use crate::tls::decrypt::{Bulk, CipherSpec, Decryptor, Mac, Plaintext, RecordKeys};
use crate::tls::ext::{self, Hello, Where};
use crate::tls::handshake::{self, Body, Ctx, Kx};
use crate::tls::keylog::{self, KeyLog};
use crate::tls::record::{self, Deframer, Event, HEADER_LEN, Header};
use crate::tls::secret::Secret;
use crate::tls::{fingerprint, keys, registry, x509};
use crate::tree::{self, Field, Tree};

/// `n` as a u32 span length (fuzz inputs are far below 4 GiB).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The tree invariants inside `whole`, as an assertion.
fn assert_tree(fields: &[Field], whole: Span, what: &str) {
    let checked = tree::check_invariants(fields, Some(whole));
    assert!(checked.is_ok(), "{what}: {checked:?}");
}

/// Whether any field in the tree has key `key`.
fn has_key(fields: &[Field], key: &str) -> bool {
    fields.iter().any(|f| f.key == key || has_key(&f.children, key))
}

/// The five header bytes of a record.
fn header_bytes(h: Header) -> [u8; HEADER_LEN] {
    let [v0, v1] = h.version.to_be_bytes();
    let [l0, l1] = h.len.to_be_bytes();
    [h.content_type, v0, v1, l0, l1]
}

// ---------------------------------------------------------------------------
// tls_record

/// The most a [`Deframer`] may hold for a record split across chunks: the
/// longest record its header can announce, with the header.
pub const RECORD_BUFFER_LIMIT: usize = u16::MAX as usize + HEADER_LEN;

/// One step of a [`tls_record`] script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordStep {
    /// The next bytes of the stream, in one chunk.
    Data(Vec<u8>),
    /// Bytes of the stream the capture lost.
    Gap(u32),
}

/// Reads a [`tls_record`] script (the input after its first byte): control
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
fn record_ctl(len: usize) -> (u8, usize) {
    if len >= 32 {
        let units = (len / 32).min(64);
        (0x40 | (units - 1) as u8, units * 32)
    } else {
        ((len.max(1) - 1) as u8, len.max(1))
    }
}

/// Writes a [`tls_record`] input: the keep mask (bit `t - 20` keeps the
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

/// Whether the keep mask of a [`tls_record`] input keeps bodies of `t`.
fn keeps(mask: u8, t: u8) -> bool {
    match t {
        20..=24 => mask >> (t - 20) & 1 != 0,
        _ => mask & 0x20 != 0,
    }
}

/// What a record looked like, to compare two runs over the same stream.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Record { offset: u64, header: Header, body: Option<Vec<u8>> },
    Sslv2(Vec<u8>),
}

/// One run of a deframer over a script, and the model it is checked
/// against: the stream as delivered (chunks at their offsets; what lies
/// between them is lost).
#[derive(Default)]
struct DeframerRun {
    /// (stream offset, frame, frame offset, bytes) of every chunk pushed;
    /// chunk `i` is frame `i + 1`.
    chunks: Vec<(u64, u64, u32, Vec<u8>)>,
    /// The stream offset after everything pushed or lost so far.
    end: u64,
    /// Events must not start before this offset (stream order).
    pos: u64,
    seen: Vec<Seen>,
    records: usize,
    not_tls: bool,
    /// No gap, desync or lost record: a second run must see the same.
    clean: bool,
}

impl DeframerRun {
    /// The delivered bytes `start .. start + len`, if none is lost.
    fn stream(&self, start: u64, len: usize) -> Option<Vec<u8>> {
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
    fn frame_of(&self, offset: u64) -> Option<u64> {
        let i = self.chunks.partition_point(|(o, _, _, b)| o + b.len() as u64 <= offset);
        let (o, frame, _, _) = self.chunks.get(i)?;
        (*o <= offset).then_some(*frame)
    }

    /// Checks that `pieces` map the unit starting at stream offset `start`
    /// back to the frames that carried it: contiguous from 0, each piece
    /// the bytes of its frame at its frame offset, `len` bytes in all.
    fn check_pieces(&self, pieces: &Pieces, start: u64, len: u64, what: &str) {
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

    fn event(&mut self, ev: &Event<'_>, mask: u8) {
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
fn run_deframer(mask: u8, steps: &[RecordStep], bytewise: bool) -> DeframerRun {
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

// ---------------------------------------------------------------------------
// Building blocks for hand-made TLS inputs

/// `bytes` behind a big-endian length of `n` bytes (1, 2 or 3).
pub fn vec_n(n: usize, bytes: &[u8]) -> Vec<u8> {
    let len = (bytes.len() as u32).to_be_bytes();
    let mut out = len.get(4 - n..).unwrap_or_default().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A handshake message: type, 24-bit length, body.
pub fn hs_msg(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![msg_type];
    out.extend(vec_n(3, body));
    out
}

/// An extension: type, 16-bit length, body.
pub fn ext_bytes(ext_type: u16, body: &[u8]) -> Vec<u8> {
    let mut out = ext_type.to_be_bytes().to_vec();
    out.extend(vec_n(2, body));
    out
}

/// An extension block: 16-bit length, the extensions.
pub fn ext_block(exts: &[Vec<u8>]) -> Vec<u8> {
    vec_n(2, &exts.concat())
}

/// A record: type, version, 16-bit length, body.
pub fn record_bytes(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type];
    out.extend_from_slice(&version.to_be_bytes());
    out.extend(vec_n(2, body));
    out
}

/// A DER distinguished name `CN=test`.
const DN_TEST: [u8; 17] = [
    0x30, 0x0f, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x04, b't', b'e', b's',
    b't',
];

/// Something shaped like a certificate (a SEQUENCE holding an INTEGER);
/// real ones come from the captures.
const FAKE_DER: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x01];

/// Extension blocks of every kind [`ext::parse_block`] decodes, each with
/// the message it belongs to.
pub fn extension_samples() -> Vec<(Where, Vec<u8>)> {
    let e = ext_bytes;
    let alpn = vec_n(2, &[vec_n(1, b"h2"), vec_n(1, b"http/1.1")].concat());
    let ech_outer = [&[0u8, 0, 1, 0, 1, 7][..], &vec_n(2, &[5; 32]), &vec_n(2, &[6; 48])].concat();
    let client = ext_block(&[
        e(0x0a0a, &[]),
        e(0, &vec_n(2, &[&[0u8][..], &vec_n(2, b"example.com")].concat())),
        e(10, &vec_n(2, &[0x00, 0x1d, 0x00, 0x17, 0x11, 0xec])),
        e(11, &vec_n(1, &[0, 1, 2])),
        e(13, &vec_n(2, &[0x04, 0x03, 0x08, 0x04, 0x04, 0x01])),
        e(50, &vec_n(2, &[0x04, 0x03])),
        e(16, &alpn),
        e(43, &vec_n(1, &[0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03])),
        e(51, &vec_n(2, &[&[0x00u8, 0x1d][..], &vec_n(2, &[9; 32])].concat())),
        e(45, &vec_n(1, &[1])),
        e(42, &[]),
        e(23, &[]),
        e(22, &[]),
        e(49, &[]),
        e(35, &[1, 2, 3, 4]),
        e(0xff01, &vec_n(1, &[])),
        e(5, &[1, 0, 0, 0, 0]),
        e(18, &[]),
        e(21, &[0; 7]),
        e(28, &[0x40, 0x01]),
        e(27, &vec_n(1, &[0, 2, 0, 1])),
        e(44, &vec_n(2, &[3; 10])),
        e(47, &vec_n(2, &vec_n(2, &DN_TEST))),
        e(17613, &vec_n(2, &vec_n(1, b"h2"))),
        e(0xfe0d, &ech_outer),
        e(0x1234, b"unknown"),
        e(
            41,
            &[
                vec_n(2, &[&vec_n(2, &[7; 20])[..], &[0, 0, 1, 0]].concat()),
                vec_n(2, &vec_n(1, &[8; 32])),
            ]
            .concat(),
        ),
    ]);
    let server12 = ext_block(&[
        e(0xff01, &vec_n(1, &[1; 24])),
        e(23, &[]),
        e(11, &vec_n(1, &[0])),
        e(35, &[]),
        e(5, &[]),
        e(16, &vec_n(2, &vec_n(1, b"h2"))),
        e(22, &[]),
        e(18, &vec_n(2, &vec_n(2, &[4; 12]))),
    ]);
    let server13 = ext_block(&[
        e(43, &[3, 4]),
        e(51, &[&[0x00u8, 0x1d][..], &vec_n(2, &[9; 32])].concat()),
        e(41, &[0, 0]),
    ]);
    let retry = ext_block(&[e(43, &[3, 4]), e(51, &[0x00, 0x17]), e(44, &vec_n(2, &[3; 8]))]);
    let encrypted = ext_block(&[
        e(0, &[]),
        e(16, &vec_n(2, &vec_n(1, b"h2"))),
        e(10, &vec_n(2, &[0x00, 0x1d])),
        e(42, &[]),
        e(28, &[0x40, 0x01]),
        e(17513, b"settings"),
        e(0xfe0d, &[1, 2, 3]),
    ]);
    let request = ext_block(&[
        e(13, &vec_n(2, &[0x08, 0x04, 0x04, 0x03])),
        e(47, &vec_n(2, &vec_n(2, &DN_TEST))),
        e(50, &vec_n(2, &[0x04, 0x03])),
        e(5, &[]),
    ]);
    let entry = ext_block(&[
        e(5, &[&[1u8][..], &vec_n(3, &[0x30, 0x00])].concat()),
        e(18, &vec_n(2, &vec_n(2, &[4; 12]))),
    ]);
    let ticket = ext_block(&[e(42, &[0, 0, 0x40, 0])]);
    vec![
        (Where::ClientHello, client),
        (Where::ServerHello, server12),
        (Where::ServerHello, server13),
        (Where::HelloRetryRequest, retry),
        (Where::EncryptedExtensions, encrypted),
        (Where::CertificateRequest, request),
        (Where::Certificate, entry),
        (Where::NewSessionTicket, ticket),
    ]
}

// ---------------------------------------------------------------------------
// tls_handshake, tls_assembler, tls_sslv2

/// Versions [`tls_handshake`] picks from (2 bits of its first byte): not
/// known yet, TLS 1.0, TLS 1.2, TLS 1.3.
pub const HANDSHAKE_VERSIONS: [Option<u16>; 4] = [None, Some(0x0301), Some(0x0303), Some(0x0304)];

/// Cipher suites [`tls_handshake`] picks from (4 bits of its first byte):
/// one per layout of ServerKeyExchange and ClientKeyExchange.
pub const HANDSHAKE_SUITES: [u16; 16] = [
    0xc02f, // ECDHE-RSA: signed ECDHE parameters
    0xc02b, // ECDHE-ECDSA
    0x009e, // DHE-RSA: signed DH parameters
    0x009c, // RSA: no ServerKeyExchange, encrypted premaster
    0x00a8, // PSK: identity hint only
    0x00aa, // DHE-PSK
    0xc035, // ECDHE-PSK
    0x00ac, // RSA-PSK
    0x0034, // DH_anon: unsigned DH parameters
    0xc018, // ECDH_anon
    0xc013, // ECDHE-RSA with CBC (TLS 1.0)
    0x0033, // DHE-RSA with CBC
    0x1301, // TLS 1.3
    0x1302, // TLS 1.3, SHA-384
    0x1303, // TLS 1.3, ChaCha20
    0x0a0a, // GREASE: a suite no one negotiates (key exchange unknown)
];

/// The parsing context a [`tls_handshake`] selector byte stands for: bits
/// 0-1 the version ([`HANDSHAKE_VERSIONS`]), bit 2 sent by the server, bit
/// 3 the suite is known, bits 4-7 which ([`HANDSHAKE_SUITES`]).
pub fn handshake_ctx(sel: u8) -> Ctx {
    let version = HANDSHAKE_VERSIONS.get(usize::from(sel & 3)).copied().flatten();
    let suite = HANDSHAKE_SUITES.get(usize::from(sel >> 4)).copied();
    Ctx {
        from_server: sel & 4 != 0,
        version,
        legacy_version: version.map(|v| v.min(0x0303)),
        cipher_suite: suite.filter(|_| sel & 8 != 0),
    }
}

/// The selector whose context is closest to `ctx`: the same version family
/// and a suite with the same key exchange and authentication.
pub fn handshake_selector(ctx: &Ctx) -> u8 {
    let version = match ctx.version {
        None => 0,
        Some(v) if v <= 0x0302 => 1,
        Some(0x0304) => 3,
        Some(_) => 2,
    };
    let suite = ctx.cipher_suite.map(|id| {
        let info = |id: u16| registry::cipher_suite(id).map(|s| (s.kx, s.auth, s.tls13));
        let want = info(id);
        HANDSHAKE_SUITES
            .iter()
            .position(|&s| s == id)
            .or_else(|| HANDSHAKE_SUITES.iter().position(|&s| want.is_some() && info(s) == want))
            .or_else(|| {
                HANDSHAKE_SUITES.iter().position(|&s| Kx::from_suite(s) == Kx::from_suite(id))
            })
            .unwrap_or(0) as u8
    });
    version | u8::from(ctx.from_server) << 2 | suite.map_or(0, |s| 8 | s << 4)
}

/// A context for hand-made messages: `version` (its legacy version capped
/// at TLS 1.2), who sends, the suite.
fn ctx(version: Option<u16>, from_server: bool, suite: Option<u16>) -> Ctx {
    Ctx {
        from_server,
        version,
        legacy_version: version.map(|v| v.min(0x0303)),
        cipher_suite: suite,
    }
}

/// Hand-made handshake messages, each valid in its context: every type
/// [`handshake::parse`] decodes, and every key exchange layout.
pub fn handshake_samples() -> Vec<(Ctx, Vec<u8>)> {
    let v16 = |b: &[u8]| vec_n(2, b);
    let v8 = |b: &[u8]| vec_n(1, b);
    let v24 = |b: &[u8]| vec_n(3, b);
    let (t10, t12, t13) = (Some(0x0301), Some(0x0303), Some(0x0304));
    let samples = extension_samples();
    let exts = |w: Where| {
        samples.iter().find(|(at, _)| *at == w).map(|(_, b)| b.clone()).unwrap_or_default()
    };
    // Without extensions (as TLS 1.0 clients send it), then with them.
    let client_hello_plain = [
        &[3u8, 3][..],
        &[0x11; 32],
        &v8(&[0x22; 32]),
        &v16(&[0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0x00, 0xff, 0x0a, 0x0a]),
        &v8(&[0]),
    ]
    .concat();
    let client_hello = [client_hello_plain.clone(), exts(Where::ClientHello)].concat();
    let hello = |random: &[u8], suite: [u8; 2], exts: &[u8]| {
        [&[3u8, 3][..], random, &v8(&[0x22; 32]), &suite, &[0], exts].concat()
    };
    // A TLS 1.2 server random with the TLS 1.3 downgrade sentinel.
    let downgrade = [&[0x33u8; 24][..], b"DOWNGRD\x01"].concat();
    let server13 = samples.get(2).map(|(_, b)| b.clone()).unwrap_or_default();
    let sig = |alg: Option<[u8; 2]>| {
        [alg.map(|a| a.to_vec()).unwrap_or_default(), v16(&[0x5a; 64])].concat()
    };
    let dh = [v16(&[0xff; 32]), v16(&[2]), v16(&[0x44; 32])].concat();
    let ecdh = |group: [u8; 2], n: usize| [&[3u8][..], &group, &v8(&vec![4; n])].concat();
    let c = |v, s| ctx(v, false, s);
    let s = |v, s| ctx(v, true, s);
    vec![
        (ctx(None, false, None), hs_msg(1, &client_hello)),
        (ctx(None, false, None), hs_msg(1, &client_hello_plain)),
        (
            ctx(None, true, None),
            hs_msg(2, &hello(&[0x33; 32], [0xc0, 0x2f], &exts(Where::ServerHello))),
        ),
        (ctx(None, true, None), hs_msg(2, &hello(&downgrade, [0x13, 0x01], &server13))),
        (
            ctx(None, true, None),
            hs_msg(
                2,
                &hello(&handshake::HRR_RANDOM, [0x13, 0x01], &exts(Where::HelloRetryRequest)),
            ),
        ),
        (ctx(None, true, None), hs_msg(2, &hello(&[0x33; 32], [0x00, 0x2f], &[]))),
        (s(t12, Some(0xc02f)), hs_msg(4, &[&[0u8, 0, 0x1c, 0x20][..], &v16(&[0x66; 80])].concat())),
        (
            s(t13, Some(0x1301)),
            hs_msg(
                4,
                &[
                    &[0u8, 0, 0x1c, 0x20, 1, 2, 3, 4][..],
                    &v8(&[0, 1]),
                    &v16(&[0x66; 80]),
                    &exts(Where::NewSessionTicket),
                ]
                .concat(),
            ),
        ),
        (s(t13, Some(0x1301)), hs_msg(8, &exts(Where::EncryptedExtensions))),
        (s(t12, Some(0xc02f)), hs_msg(11, &v24(&[v24(&FAKE_DER), v24(&FAKE_DER)].concat()))),
        (
            s(t13, Some(0x1301)),
            hs_msg(
                11,
                &[v8(&[]), v24(&[v24(&FAKE_DER), exts(Where::Certificate)].concat())].concat(),
            ),
        ),
        (c(t13, Some(0x1302)), hs_msg(11, &[v8(&[1, 2, 3, 4]), v24(&[])].concat())),
        (s(t12, Some(0xc02f)), hs_msg(12, &[ecdh([0, 0x1d], 32), sig(Some([8, 4]))].concat())),
        (s(t10, Some(0xc013)), hs_msg(12, &[ecdh([0, 0x17], 65), sig(None)].concat())),
        (s(t12, Some(0x009e)), hs_msg(12, &[dh.clone(), sig(Some([4, 1]))].concat())),
        (s(t12, Some(0x00a8)), hs_msg(12, &v16(b"hint"))),
        (s(t12, Some(0xc035)), hs_msg(12, &[v16(b"hint"), ecdh([0, 0x1d], 32)].concat())),
        (s(t12, Some(0x00aa)), hs_msg(12, &[v16(b"hint"), dh.clone()].concat())),
        (s(t12, Some(0x0034)), hs_msg(12, &dh)),
        (s(t12, None), hs_msg(12, &[0x77; 20])),
        (
            s(t12, Some(0xc02f)),
            hs_msg(13, &[v8(&[1, 64]), v16(&[4, 1, 4, 3]), v16(&v16(&DN_TEST))].concat()),
        ),
        (s(t10, Some(0xc013)), hs_msg(13, &[v8(&[1]), v16(&[])].concat())),
        (s(t13, Some(0x1301)), hs_msg(13, &[v8(&[]), exts(Where::CertificateRequest)].concat())),
        (s(t12, Some(0xc02f)), hs_msg(14, &[])),
        (s(None, None), hs_msg(0, &[])),
        (c(t13, Some(0x1301)), hs_msg(5, &[])),
        (c(t12, Some(0xc02f)), hs_msg(15, &sig(Some([8, 4])))),
        (s(t13, Some(0x1301)), hs_msg(15, &sig(Some([8, 4])))),
        (c(t10, Some(0xc013)), hs_msg(15, &sig(None))),
        (c(t12, Some(0xc02f)), hs_msg(16, &v8(&[4; 65]))),
        (c(t12, Some(0x009e)), hs_msg(16, &v16(&[0x44; 32]))),
        (c(t12, Some(0x009c)), hs_msg(16, &v16(&[0x55; 256]))),
        (c(t12, Some(0x00a8)), hs_msg(16, &v16(b"client1"))),
        (c(t12, Some(0x00ac)), hs_msg(16, &[v16(b"client1"), v16(&[0x55; 128])].concat())),
        (c(t12, Some(0xc035)), hs_msg(16, &[v16(b"client1"), v8(&[4; 32])].concat())),
        (c(t12, Some(0x00aa)), hs_msg(16, &[v16(b"client1"), v16(&[0x44; 32])].concat())),
        (c(None, None), hs_msg(16, &[0x88; 20])),
        (c(t12, Some(0xc02f)), hs_msg(20, &[0x99; 12])),
        (s(t13, Some(0x1302)), hs_msg(20, &[0x99; 48])),
        (
            s(t12, Some(0xc02f)),
            hs_msg(22, &[&[1u8][..], &v24(&[0x30, 0x03, 0x0a, 0x01, 0x00])].concat()),
        ),
        (c(t13, Some(0x1301)), hs_msg(24, &[1])),
        (
            s(t13, Some(0x1301)),
            hs_msg(25, &[&[0u8, 2, 0, 3, 0xe8][..], &v24(&[0x1b; 40])].concat()),
        ),
        (c(None, None), hs_msg(99, b"unknown message")),
        (c(t13, Some(0x1301)), hs_msg(254, &[0x12; 32])),
    ]
}

/// [`handshake_samples`] as [`tls_handshake`] inputs.
pub fn tls_handshake_seeds() -> Vec<Vec<u8>> {
    handshake_samples()
        .into_iter()
        .map(|(c, m)| [vec![handshake_selector(&c)], m].concat())
        .collect()
}

/// Parses one handshake message in `ctx` with the tree on and checks what
/// [`handshake::parse`] promises: the tree's invariants hold and every
/// field lies inside the message; the result is a body or an error (with
/// a `[Malformed]` field), the same with the tree off; a message cut
/// short is never taken for a whole one. Returns the body.
pub fn checked_handshake(msg: &[u8], ctx: &Ctx) -> Option<Body> {
    let mut t = Tree::on();
    let (body, err) = handshake::parse(msg, ctx, &mut t);
    let fields = t.finish();
    assert_tree(&fields, Span::new(0, len32(msg.len())), "handshake message");
    assert_eq!(body.is_some(), err.is_none(), "a body and an error, or neither: {err:?}");
    let (body_off, err_off) = handshake::parse(msg, ctx, &mut Tree::off());
    assert!(body_off == body && err_off == err, "the tree changes the result");
    if let Some(e) = &err {
        assert!(e.at as usize <= msg.len(), "error at {} in {} bytes", e.at, msg.len());
        assert!(!e.to_string().is_empty());
        assert!(has_key(&fields, "malformed"), "an error without a [Malformed] field: {e}");
    }
    match &body {
        Some(Body::ClientHello(ch)) => {
            let _ = fingerprint::ja3(ch);
            let _ = fingerprint::ja4(ch);
        }
        Some(Body::Certificate(ders)) => {
            for d in ders {
                let _ = x509::summarize(d);
            }
        }
        _ => {}
    }
    if body.is_some()
        && let Some(&[_, a, b, c]) = msg.get(..4)
    {
        let full = 4 + u32::from_be_bytes([0, a, b, c]) as usize;
        let mut cuts = vec![full - 1, full / 2, 4, 3, 0];
        cuts.dedup();
        for cut in cuts.into_iter().filter(|&n| n < full) {
            let prefix = msg.get(..cut).unwrap_or_default();
            let (b, e) = handshake::parse(prefix, ctx, &mut Tree::off());
            assert!(
                b.is_none() && e.is_some(),
                "the first {cut} bytes of a {full}-byte message parse as a whole one"
            );
        }
    }
    body
}

/// Fuzz body: one handshake message. Input: a selector byte (the context:
/// version, sender, suite; see [`handshake_ctx`]), then the message,
/// header included. Checks: see [`checked_handshake`].
pub fn tls_handshake(data: &[u8]) {
    let Some((&sel, msg)) = data.split_first() else { return };
    checked_handshake(msg, &handshake_ctx(sel));
}

/// What [`Assembler`](handshake::Assembler) should hand out for a stream
/// of record bodies: each message with the (frame, frame offset) of each
/// of its bytes, and the announced lengths of messages over the limit.
#[derive(Default)]
struct AssemblyModel {
    buf: Vec<u8>,
    at: Vec<(u64, u32)>,
    skip: usize,
    messages: Vec<(Vec<u8>, Pieces)>,
    too_large: Vec<usize>,
}

impl AssemblyModel {
    fn byte(&mut self, b: u8, frame: u64, frame_offset: u32) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.buf.push(b);
        self.at.push((frame, frame_offset));
        let len = match self.buf.get(1..4) {
            Some(&[x, y, z]) => u32::from_be_bytes([0, x, y, z]) as usize,
            _ => return,
        };
        if self.buf.len() == 4 && len > handshake::MAX_MESSAGE {
            self.too_large.push(len);
            self.skip = len;
            self.reset();
        } else if self.buf.len() == 4 + len {
            // One piece per run of bytes from one frame.
            let mut pieces: Vec<Piece> = Vec::new();
            for (i, &(frame, off)) in self.at.iter().enumerate() {
                match pieces.last_mut() {
                    Some(p) if p.frame == frame && p.frame_offset + p.len == off => p.len += 1,
                    _ => pieces.push(Piece {
                        unit_offset: len32(i),
                        len: 1,
                        frame,
                        frame_offset: off,
                    }),
                }
            }
            self.messages.push((std::mem::take(&mut self.buf), Pieces(pieces)));
            self.at.clear();
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.at.clear();
    }
}

/// `pieces` with adjacent runs of one frame joined.
fn merged(pieces: &Pieces) -> Pieces {
    let mut out: Vec<Piece> = Vec::new();
    for p in &pieces.0 {
        match out.last_mut() {
            Some(q)
                if q.frame == p.frame
                    && q.unit_offset + q.len == p.unit_offset
                    && q.frame_offset + q.len == p.frame_offset =>
            {
                q.len += p.len
            }
            _ => out.push(*p),
        }
    }
    Pieces(out)
}

/// Fuzz body: handshake messages reassembled from records. Input: records,
/// each a length byte and that many body bytes (255: a gap, after which the
/// assembler is reset). Each record's first half is carried by one frame,
/// the rest by the next. Checks against a byte-by-byte model: the same
/// messages in the same order, pieces that map every message byte to the
/// frame and offset it came in, the same oversized messages skipped, and
/// `is_pending` at the end.
pub fn tls_assembler(data: &[u8]) {
    let mut asm = handshake::Assembler::default();
    let mut model = AssemblyModel::default();
    let mut got: Vec<(Vec<u8>, Pieces)> = Vec::new();
    let mut too_large = Vec::new();
    let mut rest = data;
    let mut frame = 0u64;
    while let [len, tail @ ..] = rest {
        if *len == 255 {
            asm.reset();
            model.reset();
            model.skip = 0;
            rest = tail;
            continue;
        }
        let n = usize::from(*len).min(tail.len());
        let body = tail.get(..n).unwrap_or_default();
        rest = tail.get(n..).unwrap_or_default();
        // Header and first half in one frame (at offset 100), the rest in
        // the next (at offset 60).
        let half = n / 2;
        frame += 2;
        let (f1, f2) = (frame - 1, frame);
        let pieces = Pieces(vec![
            Piece { unit_offset: 0, len: len32(HEADER_LEN + half), frame: f1, frame_offset: 100 },
            Piece {
                unit_offset: len32(HEADER_LEN + half),
                len: len32(n - half),
                frame: f2,
                frame_offset: 60,
            },
        ]);
        for (i, &b) in body.iter().enumerate() {
            let (f, off) = if i < half {
                (f1, 100 + len32(HEADER_LEN + i))
            } else {
                (f2, 60 + len32(i - half))
            };
            model.byte(b, f, off);
        }
        asm.push(
            body,
            &pieces,
            len32(HEADER_LEN),
            &mut |m| got.push((m.bytes.to_vec(), m.pieces.clone())),
            &mut |n| too_large.push(n),
        );
    }
    assert_eq!(got.len(), model.messages.len(), "message count");
    for (i, ((bytes, pieces), (want, want_pieces))) in got.iter().zip(&model.messages).enumerate() {
        assert_eq!(bytes, want, "message {i}");
        // The assembler may map adjacent bytes of one frame in two pieces.
        assert_eq!(&merged(pieces), want_pieces, "pieces of message {i}");
    }
    assert_eq!(too_large, model.too_large, "oversized messages");
    assert_eq!(asm.is_pending(), !model.buf.is_empty() || model.skip > 0, "is_pending");
}

/// Seeds for [`tls_assembler`]: the handshake samples one after the other,
/// cut into records of changing sizes, with a gap in one of them.
pub fn tls_assembler_seeds() -> Vec<Vec<u8>> {
    let stream: Vec<u8> = handshake_samples().into_iter().flat_map(|(_, m)| m).collect();
    let mut out = Vec::new();
    for (k, sizes) in [[200usize, 3, 90, 1, 254], [17, 254, 64, 5, 128], [254, 254, 254, 254, 254]]
        .iter()
        .enumerate()
    {
        let mut seed = Vec::new();
        let mut rest = stream.as_slice();
        let mut i = 0;
        while !rest.is_empty() && seed.len() < 4096 {
            let n = sizes.get(i % sizes.len()).copied().unwrap_or(1).min(rest.len());
            seed.push(n as u8);
            seed.extend_from_slice(rest.get(..n).unwrap_or_default());
            rest = rest.get(n..).unwrap_or_default();
            i += 1;
            if k == 1 && i == 7 {
                seed.push(255);
            }
        }
        out.push(seed);
    }
    // An announced length over the limit, skipped, then a message.
    out.push([&[8u8, 11, 0x7f, 0xff, 0xff, 1, 2, 3, 4][..], &[6], &hs_msg(14, &[]), &[0]].concat());
    out
}

/// SSLv2-compatible ClientHello bodies (after the 2-byte record length).
pub fn sslv2_samples() -> Vec<Vec<u8>> {
    let hello = |version: [u8; 2], specs: &[[u8; 3]], sid: &[u8], challenge: &[u8]| {
        let specs: Vec<u8> = specs.concat();
        let mut b = vec![1, version[0], version[1]];
        for n in [specs.len(), sid.len(), challenge.len()] {
            b.extend_from_slice(&(n as u16).to_be_bytes());
        }
        [b, specs, sid.to_vec(), challenge.to_vec()].concat()
    };
    vec![
        hello(
            [3, 1],
            &[[0, 0, 0x2f], [0, 0, 0x35], [0x07, 0x00, 0xc0], [0, 0, 0xff]],
            &[],
            &[7; 16],
        ),
        hello([0, 2], &[[0x01, 0x00, 0x80], [0x03, 0x00, 0x80]], &[9; 16], &[7; 32]),
        hello([3, 3], &[[0, 0xc0, 0x2f]], &[], &[1; 20]),
    ]
}

/// Fuzz body: an SSLv2-compatible ClientHello body, parsed with the tree
/// on and off. Checks: the tree's invariants, every field inside the
/// record (whose 2-byte header is at offset 0), the same result with the
/// tree off, and fingerprints of what parses.
pub fn tls_sslv2(data: &[u8]) {
    let mut t = Tree::on();
    let result = handshake::parse_sslv2_client_hello(data, &mut t);
    assert_tree(&t.finish(), Span::new(2, len32(data.len())), "SSLv2 ClientHello");
    let off = handshake::parse_sslv2_client_hello(data, &mut Tree::off());
    assert!(off == result, "the tree changes the result");
    match result {
        Ok(ch) => {
            assert!(ch.sslv2);
            let _ = fingerprint::ja3(&ch);
            let _ = fingerprint::ja4(&ch);
        }
        Err(e) => assert!(e.at as usize <= data.len() + 2, "error at {} of {}", e.at, data.len()),
    }
}

// ---------------------------------------------------------------------------
// tls_extensions

/// The messages an extension block can belong to.
pub const EXTENSION_PLACES: [Where; 7] = [
    Where::ClientHello,
    Where::ServerHello,
    Where::HelloRetryRequest,
    Where::EncryptedExtensions,
    Where::CertificateRequest,
    Where::Certificate,
    Where::NewSessionTicket,
];

/// Where [`checked_extensions`] puts the block in its unit, so that spans
/// relative to the unit are tested, not only those from 0.
const EXT_BASE: u32 = 9;

/// Parses an extension block as found in `at`, with the tree on, and
/// checks: the tree's invariants with every field inside the block; on
/// success one `extensions` field spanning exactly the block, holding its
/// length and one `extension` field per extension type reported; the same
/// result and summary with the tree off.
pub fn checked_extensions(block: &[u8], at: Where) -> Result<Hello, crate::span::ParseError> {
    let mut r = Reader::at(block, EXT_BASE);
    let mut t = Tree::on();
    let mut hello = Hello::default();
    let result = ext::parse_block(&mut r, at, &mut t, &mut hello);
    if let Err(e) = &result {
        // What every caller does with an error it passes on.
        t.malformed(e);
    }
    let fields = t.finish();
    let whole = Span::new(EXT_BASE, len32(block.len()));
    assert_tree(&fields, whole, "extension block");
    let mut hello_off = Hello::default();
    let mut r_off = Reader::at(block, EXT_BASE);
    let result_off = ext::parse_block(&mut r_off, at, &mut Tree::off(), &mut hello_off);
    assert!(result_off == result && hello_off == hello, "the tree changes the result ({at:?})");
    if result.is_ok() {
        let consumed = r.span_from(EXT_BASE);
        let announced =
            block.get(..2).map_or(0, |b| b.iter().fold(0u32, |a, &x| a << 8 | u32::from(x)));
        assert_eq!(consumed.len, 2 + announced, "the block's length");
        assert_eq!(fields.len(), 1, "{at:?}: one field for the block, got {fields:#?}");
        let block_field = fields.first();
        assert!(block_field.is_some_and(|f| f.key == "extensions" && f.span == consumed));
        let children = block_field.map(|f| f.children.as_slice()).unwrap_or_default();
        let exts = children.iter().filter(|f| f.key == "extension").count();
        assert_eq!(exts, hello.extension_types.len(), "{at:?}: extension fields");
        assert_eq!(children.len(), exts + 1, "{at:?}: fields besides the extensions");
    }
    result.map(|()| hello)
}

/// Fuzz body: the input as an extension block of each kind of message
/// ([`EXTENSION_PLACES`]); see [`checked_extensions`].
pub fn tls_extensions(data: &[u8]) {
    for at in EXTENSION_PLACES {
        let _ = checked_extensions(data, at);
    }
}

// ---------------------------------------------------------------------------
// x509

/// Fuzz body: the input as a DER certificate. Checks: the tree has one
/// field and obeys the invariants inside the input; the tree decodes a
/// certificate exactly when [`x509::summarize`] does, and the summary's
/// SHA-256 is the input's; naming the input as a DN does not fail.
pub fn x509(data: &[u8]) {
    let base = 7;
    let summary = x509::summarize(data);
    let mut t = Tree::on();
    x509::tree(data, base, &mut t);
    let fields = t.finish();
    assert_tree(&fields, Span::new(base, len32(data.len())), "certificate");
    assert_eq!(fields.len(), 1, "one field per certificate");
    let decoded = fields.first().is_some_and(|f| f.key == "certificate_der");
    assert_eq!(decoded, summary.is_ok(), "tree and summary disagree: {summary:?}");
    if let Ok(s) = &summary {
        use sha2::Digest;
        assert_eq!(s.sha256, tree::hex(&sha2::Sha256::digest(data)));
    }
    let _ = x509::name_from_der(data);
}

// ---------------------------------------------------------------------------
// keylog

/// Fuzz body: a key log. Input: a byte that sets the chunk size (1..=64
/// bytes), then the text. It is parsed whole ([`KeyLog::from_text`]) and in
/// chunks ([`KeyLog::parse`] per chunk, then [`KeyLog::finish`]). Checks:
/// both give the same diagnostics, statistics and secrets for every client
/// random either reports; every client random reported has at least one
/// secret; an unfinished line never holds more than about
/// 2 × [`keylog::MAX_LINE`] bytes; the text with tabs for spaces (parsed
/// without the usual line's quick path) gives the same.
pub fn keylog(data: &[u8]) {
    let Some((&sel, text)) = data.split_first() else { return };
    let chunk = usize::from(sel % 64) + 1;
    let (whole, whole_diags) = KeyLog::from_text(text, "fuzz.keys");
    let mut inc = KeyLog::new();
    let mut diags = Vec::new();
    for piece in text.chunks(chunk) {
        diags.extend(inc.parse(piece, "fuzz.keys"));
        assert!(
            inc.buffered() <= 2 * keylog::MAX_LINE,
            "{} bytes held for an unfinished line",
            inc.buffered()
        );
    }
    diags.extend(inc.finish());
    assert!(diags == whole_diags, "diagnostics differ when parsed in {chunk}-byte chunks");
    assert_eq!(inc.stats(), whole.stats(), "statistics differ in {chunk}-byte chunks");
    assert_eq!(inc.is_empty(), whole.is_empty());
    let mut randoms: Vec<[u8; 32]> = whole.client_randoms().copied().collect();
    randoms.sort_unstable();
    let mut inc_randoms: Vec<[u8; 32]> = inc.client_randoms().copied().collect();
    inc_randoms.sort_unstable();
    assert_eq!(randoms, inc_randoms, "client randoms differ in {chunk}-byte chunks");
    for cr in &randoms {
        let secrets = whole.lookup(cr);
        assert!(secrets == inc.lookup(cr), "secrets differ in {chunk}-byte chunks");
        assert!(!whole.labels_for(cr).is_empty(), "a client random without secrets");
    }
    for d in &whole_diags {
        assert!(d.message.starts_with("fuzz.keys:"), "diagnostic without its source: {d}");
    }
    // Tabs for spaces: every line then goes the general way (the usual
    // line's quick parse takes single spaces only), and must come out the
    // same.
    let tabs: Vec<u8> = text.iter().map(|&b| if b == b' ' { b'\t' } else { b }).collect();
    let (general, general_diags) = KeyLog::from_text(&tabs, "fuzz.keys");
    let messages =
        |d: &[crate::diag::Diagnostic]| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
    assert_eq!(messages(&general_diags), messages(&whole_diags), "the quick parse said otherwise");
    assert_eq!(general.stats(), whole.stats(), "the quick parse counted otherwise");
    for cr in &randoms {
        assert!(general.lookup(cr) == whole.lookup(cr), "the quick parse stored otherwise");
    }
}

/// Hand-made key logs: every label, the RSA forms, comments, CRLF line
/// ends, blank lines, duplicates, and lines with each kind of mistake.
pub fn keylog_seeds() -> Vec<Vec<u8>> {
    let cr = "ab".repeat(32);
    let s32 = "cd".repeat(32);
    let s48 = "ef".repeat(48);
    let mut good = String::from("# a key log\n\n");
    for label in keylog::Label::ALL {
        let line = match label {
            keylog::Label::Rsa => format!("RSA 0011223344556677 {s48}\n"),
            keylog::Label::RsaSessionId => format!("RSA Session-ID:{s32} Master-Key:{s48}\n"),
            keylog::Label::ClientRandom => format!("CLIENT_RANDOM {cr} {s48}\r\n"),
            l => format!("{}\t{cr}  {s32}\n", l.as_str()),
        };
        good.push_str(&line);
    }
    good.push_str(&format!("CLIENT_RANDOM {cr} {}\n", "12".repeat(48)));
    let bad = format!(
        "CLIENT_RANDOM {cr}\nCLIENT_RANDOM zz {s48}\nCLIENT_RANDOM {} {s48}\nNOPE {cr} {s48}\n\
         CLIENT_RANDOM {cr} {}\nRSA Session-ID: Master-Key:{s48}\n\u{ff}\nCLIENT_RANDOM {cr} abc",
        "ab".repeat(31),
        "ef".repeat(47)
    );
    let long = format!("{}\nCLIENT_RANDOM {cr} {s48}\n", "x".repeat(keylog::MAX_LINE + 10));
    // Chunks of 1, 7 and 64 bytes.
    [(0u8, good), (6, bad), (63, long)]
        .into_iter()
        .map(|(sel, text)| [vec![sel], text.into_bytes()].concat())
        .collect()
}

// ---------------------------------------------------------------------------
// tls_decrypt

/// A way records are protected: suite, version, encrypt-then-MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecryptCase {
    /// Cipher suite.
    pub suite: u16,
    /// Negotiated version.
    pub version: u16,
    /// Encrypt-then-MAC (RFC 7366), for CBC suites.
    pub etm: bool,
}

const fn case(suite: u16, version: u16, etm: bool) -> DecryptCase {
    DecryptCase { suite, version, etm }
}

/// The cases [`tls_decrypt`] picks from with its first byte: every bulk
/// cipher and MAC [`Decryptor`] supports, TLS 1.3 and 1.2 AEADs, and CBC
/// in TLS 1.0 (chained IVs), 1.1 and 1.2, MAC-then-encrypt and
/// encrypt-then-MAC.
pub const DECRYPT_CASES: [DecryptCase; 24] = [
    case(0x1301, 0x0304, false), // AES-128-GCM
    case(0x1302, 0x0304, false), // AES-256-GCM, SHA-384
    case(0x1303, 0x0304, false), // ChaCha20-Poly1305
    case(0x1304, 0x0304, false), // AES-128-CCM
    case(0x1305, 0x0304, false), // AES-128-CCM-8
    case(0xc02f, 0x0303, false), // ECDHE-RSA-AES128-GCM-SHA256
    case(0xc030, 0x0303, false), // ECDHE-RSA-AES256-GCM-SHA384
    case(0xcca8, 0x0303, false), // ECDHE-RSA-CHACHA20-POLY1305
    case(0xc0ac, 0x0303, false), // ECDHE-ECDSA-AES128-CCM
    case(0xc0ad, 0x0303, false), // ECDHE-ECDSA-AES256-CCM
    case(0xc0ae, 0x0303, false), // ECDHE-ECDSA-AES128-CCM8
    case(0x002f, 0x0303, false), // AES128-SHA
    case(0x002f, 0x0303, true),
    case(0x002f, 0x0302, false),
    case(0x002f, 0x0301, false),
    case(0x002f, 0x0301, true),
    case(0x0035, 0x0303, false), // AES256-SHA
    case(0x003c, 0x0303, true),  // AES128-SHA256
    case(0xc028, 0x0303, false), // ECDHE-RSA-AES256-SHA384
    case(0x000a, 0x0301, false), // DES-CBC3-SHA
    case(0x000a, 0x0303, true),
    case(0x0041, 0x0302, false), // CAMELLIA128-SHA
    case(0x0084, 0x0301, true),  // CAMELLIA256-SHA
    case(0x0001, 0x0303, false), // NULL-MD5
];

/// Bytes `0..n` of a key pattern (different per `k`).
fn pattern_key(n: usize, k: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(k)).collect()
}

type Ccm128x16 = ccm::Ccm<aes::Aes128, U16, U12>;
type Ccm128x8 = ccm::Ccm<aes::Aes128, U8, U12>;
type Ccm256x16 = ccm::Ccm<aes::Aes256, U16, U12>;
type Ccm256x8 = ccm::Ccm<aes::Aes256, U8, U12>;

/// AES-CCM sealing in place, the tag appended.
fn ccm_seal<A: AeadInOut + CipherKeyInit>(
    key: &[u8],
    nonce: &[u8; 12],
    aad: &[u8],
    data: &mut Vec<u8>,
) -> Option<()> {
    let a = <A as CipherKeyInit>::new_from_slice(key).ok()?;
    let nonce = <&ccm::aead::Nonce<A>>::try_from(nonce.as_slice()).ok()?;
    let tag = a.encrypt_inout_detached(nonce, aad, data.as_mut_slice().into()).ok()?;
    data.extend_from_slice(&tag);
    Some(())
}

/// CBC encryption of whole blocks in place (RustCrypto, so that the
/// decryptor's aws-lc-rs AES is checked against another implementation).
macro_rules! cbc_encrypt {
    ($cipher:ty, $key:expr, $iv:expr, $data:expr) => {{
        use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
        match cbc::Encryptor::<$cipher>::new_from_slices($key, $iv) {
            Ok(mut enc) => {
                let (blocks, rest) = Array::slice_as_chunks_mut($data);
                enc.encrypt_blocks(blocks);
                rest.is_empty()
            }
            Err(_) => false,
        }
    }};
}

/// `HMAC(key, parts...)` with the suite's MAC hash.
fn hmac_parts(mac: Mac, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<M: hmac::Mac + hmac::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
        let mut m = <M as hmac::KeyInit>::new_from_slice(key).ok()?;
        for p in parts {
            m.update(p);
        }
        Some(m.finalize().into_bytes().to_vec())
    }
    match mac {
        Mac::Md5 => run::<Hmac<md5::Md5>>(key, parts),
        Mac::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Mac::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Mac::Sha384 => run::<Hmac<sha2::Sha384>>(key, parts),
        Mac::Aead => None,
    }
}

/// The sending side of a [`DecryptCase`]: protects records as a TLS
/// sender does, with the same fixed keys the decryptor gets, using the
/// cipher crates directly (aws-lc-rs AEADs, RustCrypto CCM, CBC and HMAC).
pub struct Sealer {
    spec: CipherSpec,
    case: DecryptCase,
    key: Vec<u8>,
    mac_key: Vec<u8>,
    /// Fixed IV, implicit nonce, or (TLS 1.0 CBC) the chained IV.
    iv: Vec<u8>,
    /// TLS 1.3: the traffic secret.
    secret: Vec<u8>,
    seq: u64,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("case", &self.case).field("seq", &self.seq).finish()
    }
}

impl Sealer {
    /// The sender of `case`, with its fixed keys.
    pub fn new(case: DecryptCase) -> Option<Sealer> {
        let spec = CipherSpec::from_suite(case.suite).ok()?;
        let mut s = Sealer {
            spec,
            case,
            key: Vec::new(),
            mac_key: Vec::new(),
            iv: Vec::new(),
            secret: Vec::new(),
            seq: 0,
        };
        if spec.tls13 {
            s.set_secret(pattern_key(spec.hash.output_len(), 4))?;
        } else {
            let (mac, key, iv) = spec.key_block_lengths(case.version);
            (s.key, s.mac_key, s.iv) =
                (pattern_key(key, 1), pattern_key(mac, 2), pattern_key(iv, 3));
        }
        Some(s)
    }

    fn set_secret(&mut self, secret: Vec<u8>) -> Option<()> {
        let k = keys::traffic_keys(self.spec.hash, &secret, self.spec.key_len(), 12).ok()?;
        self.key = k.key.as_bytes().to_vec();
        self.iv = k.iv.as_bytes().to_vec();
        self.secret = secret;
        self.seq = 0;
        Some(())
    }

    /// A decryptor with the same keys, at sequence number 0.
    pub fn decryptor(&self) -> Option<Decryptor> {
        if self.spec.tls13 {
            return Decryptor::tls13(&self.spec, &self.secret).ok();
        }
        let keys = RecordKeys {
            key: Secret::new(&self.key)?,
            mac_key: Secret::new(&self.mac_key)?,
            iv: Secret::new(&self.iv)?,
        };
        Decryptor::new(&self.spec, &keys, self.case.version, self.case.etm).ok()
    }

    /// TLS 1.3 KeyUpdate: the next traffic secret.
    pub fn key_update(&mut self) -> Option<()> {
        let next = keys::next_traffic_secret(self.spec.hash, &self.secret).ok()?;
        self.set_secret(next.as_bytes().to_vec())
    }

    /// The record version on the wire.
    fn record_version(&self) -> u16 {
        self.case.version.min(0x0303)
    }

    /// `iv XOR (0^4 || seq)`.
    fn xor_nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        for (n, i) in nonce.iter_mut().zip(&self.iv) {
            *n = *i;
        }
        for (n, s) in nonce.iter_mut().skip(4).zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        nonce
    }

    fn aead_seal(&self, nonce: [u8; 12], aad: &[u8], data: &mut Vec<u8>) -> Option<()> {
        let alg = match self.spec.bulk {
            Bulk::AesGcm { key_len: 16 } => &aead::AES_128_GCM,
            Bulk::AesGcm { .. } => &aead::AES_256_GCM,
            Bulk::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
            Bulk::AesCcm { key_len: 16, tag_len: 16 } => {
                return ccm_seal::<Ccm128x16>(&self.key, &nonce, aad, data);
            }
            Bulk::AesCcm { key_len: 16, .. } => {
                return ccm_seal::<Ccm128x8>(&self.key, &nonce, aad, data);
            }
            Bulk::AesCcm { tag_len: 16, .. } => {
                return ccm_seal::<Ccm256x16>(&self.key, &nonce, aad, data);
            }
            Bulk::AesCcm { .. } => return ccm_seal::<Ccm256x8>(&self.key, &nonce, aad, data),
            _ => return None,
        };
        let key = LessSafeKey::new(UnboundKey::new(alg, &self.key).ok()?);
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), data).ok()
    }

    fn cbc_encrypt(&self, iv: &[u8], data: &mut [u8]) -> Option<()> {
        let ok = match self.spec.bulk {
            Bulk::AesCbc { key_len: 16 } => cbc_encrypt!(aes::Aes128, &self.key, iv, data),
            Bulk::AesCbc { .. } => cbc_encrypt!(aes::Aes256, &self.key, iv, data),
            Bulk::TripleDesCbc => cbc_encrypt!(des::TdesEde3, &self.key, iv, data),
            Bulk::CamelliaCbc { key_len: 16 } => {
                cbc_encrypt!(camellia::Camellia128, &self.key, iv, data)
            }
            Bulk::CamelliaCbc { .. } => cbc_encrypt!(camellia::Camellia256, &self.key, iv, data),
            _ => false,
        };
        ok.then_some(())
    }

    /// The MAC of a TLS 1.0–1.2 record: over `seq || type || version ||
    /// length || data`.
    fn mac(&self, content_type: u8, data: &[u8]) -> Option<Vec<u8>> {
        let head = [
            &self.seq.to_be_bytes()[..],
            &[content_type],
            &self.record_version().to_be_bytes(),
            &u16::try_from(data.len()).ok()?.to_be_bytes(),
        ]
        .concat();
        hmac_parts(self.spec.mac, &self.mac_key, &[&head, data])
    }

    /// Protects one record: `content` of `content_type` (TLS 1.3: the inner
    /// type, with `padding` zeros after it; CBC: `padding` extra blocks of
    /// padding). Returns the header and the body, and the padding the
    /// decryptor should report.
    pub fn seal(
        &self,
        content_type: u8,
        content: &[u8],
        padding: usize,
    ) -> Option<([u8; 5], Vec<u8>, usize)> {
        let version = self.record_version();
        let header = |len: usize| -> Option<[u8; 5]> {
            let [v0, v1] = version.to_be_bytes();
            let [l0, l1] = u16::try_from(len).ok()?.to_be_bytes();
            let t = if self.spec.tls13 { 23 } else { content_type };
            Some([t, v0, v1, l0, l1])
        };
        let block = self.spec.bulk.block_len();
        let (body, pad) = if self.spec.tls13 {
            let mut inner = [content, &[content_type], &vec![0; padding]].concat();
            let h = header(inner.len() + self.spec.bulk.tag_len())?;
            self.aead_seal(self.xor_nonce(), &h, &mut inner)?;
            (inner, padding)
        } else if self.spec.bulk.is_aead() {
            let aad = [
                &self.seq.to_be_bytes()[..],
                &[content_type],
                &version.to_be_bytes(),
                &u16::try_from(content.len()).ok()?.to_be_bytes(),
            ]
            .concat();
            let mut data = content.to_vec();
            if self.spec.record_iv_len(self.case.version) == 8 {
                // GCM/CCM: salt || explicit nonce (the sequence number, as
                // most senders choose), the explicit part sent first.
                let explicit = self.seq.to_be_bytes();
                let mut nonce = [0u8; 12];
                for (n, b) in nonce.iter_mut().zip(self.iv.iter().chain(&explicit)) {
                    *n = *b;
                }
                self.aead_seal(nonce, &aad, &mut data)?;
                ([&explicit[..], &data].concat(), 0)
            } else {
                self.aead_seal(self.xor_nonce(), &aad, &mut data)?;
                (data, 0)
            }
        } else if block == 0 {
            // NULL cipher: the content and its MAC.
            ([content, &self.mac(content_type, content)?].concat(), 0)
        } else {
            let explicit = self.spec.record_iv_len(self.case.version) > 0;
            let iv = if explicit { pattern_key(block, self.seq as u8) } else { self.iv.clone() };
            let mut plain = content.to_vec();
            if !self.case.etm {
                plain.extend(self.mac(content_type, content)?);
            }
            // Padding: each byte the padding length, the total a whole
            // number of blocks, `padding` blocks more if they fit.
            let mut pad = block - (plain.len() + 1) % block;
            if pad + padding * block < 256 {
                pad += padding * block;
            }
            plain.extend(std::iter::repeat_n(pad as u8, pad + 1));
            self.cbc_encrypt(&iv, &mut plain)?;
            let mut body = if explicit { [iv, plain].concat() } else { plain };
            if self.case.etm {
                let mac = self.mac(content_type, &body)?;
                body.extend(mac);
            }
            (body, pad + 1)
        };
        Some((header(body.len())?, body, pad))
    }

    /// After a record went by (decrypted or not): the next sequence number,
    /// and in TLS 1.0 CBC the next IV, the last ciphertext block of the
    /// record as the receiver got it (RFC 2246 §6.2.3.2).
    fn next(&mut self, delivered: &[u8]) {
        self.seq = self.seq.wrapping_add(1);
        let block = self.spec.bulk.block_len();
        if self.spec.tls13 || block == 0 || self.case.version > 0x0301 {
            return;
        }
        let cipher = if self.case.etm {
            delivered.len().checked_sub(self.spec.mac_len()).and_then(|n| delivered.get(..n))
        } else {
            Some(delivered)
        };
        // The decryptor only sees a chain block in a record long enough
        // (and, with MAC-then-encrypt, whole blocks) to have one.
        let Some(cipher) = cipher else { return };
        let usable = cipher.len() >= block && (self.case.etm || cipher.len() % block == 0);
        if usable && let Some(last) = cipher.get(cipher.len() - block..) {
            self.iv = last.to_vec();
        }
    }
}

/// Reads a [`tls_decrypt`] script: records of a control byte, a 16-bit
/// length and that many bytes (fewer at the end of the input).
fn decrypt_script(data: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        out.push((*ctl, tail.get(..n).unwrap_or_default()));
        rest = tail.get(n..).unwrap_or_default();
    }
    out
}

/// The largest plaintext [`tls_decrypt`] seals (a TLS record's limit).
const MAX_PLAINTEXT: usize = 1 << 14;

/// Fuzz body: record decryption. Input: a byte choosing a
/// [`DecryptCase`], then records (a control byte, a 16-bit length, bytes).
/// Control bits: 0, the bytes are content to seal with the case's keys
/// (else they are sent as ciphertext); 1, damage the sealed record (one
/// bit flipped); 2, a TLS 1.3 KeyUpdate first; 3, content type alert
/// instead of application data; 4-5, (TLS 1.3) handshake or 0-RTT-style
/// inner types; 6-7, padding (TLS 1.3 zeros or CBC blocks).
///
/// Checks: arbitrary bytes fail with an error (never a panic) and leave
/// the sequence number alone; a sealed record decrypts to exactly its
/// content, type and padding and moves the sequence number on; a damaged
/// one fails; after [`Decryptor::skip_record`] the next sealed record
/// decrypts again (in TLS 1.0 CBC too, whose IV chains through the failed
/// record).
pub fn tls_decrypt(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Some(&case) = DECRYPT_CASES.get(usize::from(sel) % DECRYPT_CASES.len()) else { return };
    let sealer = Sealer::new(case);
    assert!(sealer.is_some(), "{case:?}: no keys");
    let Some(mut sealer) = sealer else { return };
    let d = sealer.decryptor();
    assert!(d.is_some(), "{case:?}: no decryptor");
    let Some(mut d) = d else { return };
    // A twin that decrypts out of place (`decrypt_into`, as the analyzer
    // does): it must agree with the in-place one on every record.
    let twin = sealer.decryptor();
    assert!(twin.is_some(), "{case:?}: no decryptor");
    let Some(mut twin) = twin else { return };
    let tls13 = sealer.spec.tls13;
    for (ctl, bytes) in decrypt_script(rest) {
        if ctl & 4 != 0 && tls13 {
            assert!(d.key_update().is_ok() && sealer.key_update().is_some(), "KeyUpdate");
            assert!(twin.key_update().is_ok(), "KeyUpdate");
        }
        let seq = d.seq();
        assert_eq!(seq, sealer.seq, "{case:?}: sequence numbers drifted apart");
        let content_type = match (ctl >> 3 & 7, tls13) {
            (1, _) => 21,
            (2 | 6, true) => 22,
            (4, true) => 24,
            _ => 23,
        };
        let padding = usize::from(ctl >> 6) * if tls13 { 5 } else { 1 };
        let (header, mut body, expect) = if ctl & 1 != 0 {
            let content = bytes.get(..bytes.len().min(MAX_PLAINTEXT)).unwrap_or_default();
            let sealed = sealer.seal(content_type, content, padding);
            assert!(sealed.is_some(), "{case:?}: could not seal {} bytes", content.len());
            let Some((header, mut body, pad)) = sealed else { return };
            let damage = ctl & 2 != 0 && !body.is_empty();
            if damage {
                let at = (usize::from(ctl) * 131 + bytes.len()) % body.len();
                if let Some(b) = body.get_mut(at) {
                    *b ^= 1 << (bytes.len() % 8);
                }
            }
            let expect = (!damage).then(|| (content_type, content.to_vec(), pad));
            (header, body, Some(expect))
        } else {
            let [v0, v1] = sealer.record_version().to_be_bytes();
            let [l0, l1] = (bytes.len() as u16).to_be_bytes();
            let t = if tls13 { 23 } else { content_type };
            ([t, v0, v1, l0, l1], bytes.to_vec(), None)
        };
        let delivered = body.clone();
        let mut out = vec![0x5a; delivered.len()];
        let twin_result = twin
            .decrypt_into(&header, &delivered, &mut out)
            .map(|p| (p.content_type, p.data.to_vec(), p.padding));
        let result = d.decrypt(&header, &mut body);
        assert_eq!(
            twin_result,
            result.as_ref().map(|p| (p.content_type, p.data.to_vec(), p.padding)).map_err(|e| *e),
            "{case:?}: out of place differs from in place"
        );
        assert_eq!(twin.seq(), d.seq(), "{case:?}: out of place moved on differently");
        match &result {
            Ok(p) => {
                assert_eq!(d.seq(), seq.wrapping_add(1), "{case:?}: success did not move on");
                assert!(p.data.len() + p.padding <= delivered.len());
            }
            Err(e) => {
                assert_eq!(d.seq(), seq, "{case:?}: a failure ({e}) moved the sequence number");
                assert!(!e.to_string().is_empty());
            }
        }
        match expect {
            Some(Some((t, content, pad))) => {
                let got =
                    result.as_ref().map(|p: &Plaintext<'_>| (p.content_type, p.data, p.padding));
                assert_eq!(
                    got,
                    Ok((t, content.as_slice(), pad)),
                    "{case:?}: a sealed record of {} bytes",
                    content.len()
                );
            }
            Some(None) => assert!(result.is_err(), "{case:?}: a damaged record decrypted"),
            None => {}
        }
        if result.is_err() {
            d.skip_record();
            twin.skip_record();
        }
        sealer.next(&delivered);
    }
}

/// Seeds for [`tls_decrypt`]: for every case, sealed records of several
/// sizes and types, a damaged one followed by a good one, a raw one, and
/// (TLS 1.3) a KeyUpdate.
pub fn tls_decrypt_seeds() -> Vec<Vec<u8>> {
    let rec =
        |ctl: u8, bytes: &[u8]| [&[ctl][..], &(bytes.len() as u16).to_be_bytes(), bytes].concat();
    (0..DECRYPT_CASES.len())
        .map(|i| {
            [
                vec![i as u8],
                rec(1, b"GET / HTTP/1.1\r\n\r\n"),
                rec(1 | 0x40, &[0x41; 300]),
                rec(1 | 1 << 3, &[1, 0]),
                rec(1 | 2 << 3 | 0x80, b"handshake"),
                rec(3, b"damaged"),
                rec(1, b""),
                rec(0, &[0x17; 40]),
                rec(1 | 4, b"after a key update"),
                rec(1, &[0; 33]),
            ]
            .concat()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// session_pipeline

/// The client and server of [`session_pipeline`]'s connection.
fn pipeline_ends() -> (SocketAddr, SocketAddr) {
    (SocketAddr::from(([10, 0, 0, 1], 40000)), SocketAddr::from(([10, 0, 0, 2], 443)))
}

/// What the analyzer reports, checked as it comes.
#[derive(Default)]
struct PipelineOut {
    sessions: Vec<Session>,
    flows: Vec<Flow>,
    /// Plaintext bytes delivered per (session id, sender).
    plaintext: HashMap<(u64, Dir), u64>,
    /// The highest frame pushed so far.
    last_frame: u64,
}

impl Output for PipelineOut {
    fn session(&mut self, s: Session) {
        self.sessions.push(s);
    }
    fn flow(&mut self, f: Flow) {
        self.flows.push(f);
    }
    fn diagnostic(&mut self, d: Diagnostic) {
        assert!(!d.code.is_empty() && !d.message.is_empty());
    }
    fn plaintext(&mut self, s: &Session, from: Dir, data: &[u8], frame: u64, _ts: Timestamp) {
        assert!(frame <= self.last_frame, "plaintext from frame {frame}, not pushed yet");
        *self.plaintext.entry((s.id, from)).or_default() += data.len() as u64;
    }
}

/// A session without its field trees (what must not depend on them).
fn without_trees(s: &Session) -> Session {
    let mut s = s.clone();
    for m in &mut s.messages {
        if let Some(msg) = m.message.as_deref_mut() {
            msg.fields.clear();
        }
    }
    for x in &mut s.http.exchanges {
        x.request_tree.clear();
        x.response_tree.clear();
    }
    for f in &mut s.http.h2_frames {
        f.tree.clear();
    }
    s
}

/// Checks what the analyzer promises about a finished session.
fn check_session(s: &Session, out: &PipelineOut, started: u64, opts: &session::Options) {
    let id = s.id;
    assert!(id < started, "session {id} of {started}");
    for m in &s.messages {
        assert!(m.frame <= out.last_frame, "session {id}: {} from frame {}", m.name, m.frame);
        if let Some(msg) = m.message.as_deref() {
            // An SSLv2 hello's length counts its 2-byte record header, which
            // its bytes leave out (its spans count from that header).
            let sslv2 =
                msg.msg_type == handshake::kind::CLIENT_HELLO && m.len == msg.bytes.len() + 2;
            assert!(msg.bytes.len() == m.len || sslv2, "session {id}: {} length", m.name);
            if let Some(&t) = msg.bytes.first() {
                assert_eq!(t, msg.msg_type, "session {id}: message type");
            }
            assert_tree(&msg.fields, Span::new(0, len32(m.len)), m.name);
            if !opts.trees {
                assert!(msg.fields.is_empty(), "session {id}: a tree with trees off");
            }
        }
    }
    assert!(s.app_records.len() <= session::APP_RECORDS_KEPT);
    assert!(s.http.exchanges.len() <= session::MAX_EXCHANGES);
    assert!(s.http.h2_frames.len() <= session::MAX_H2_FRAMES);
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        assert!(s.http.raw[dir].len() <= session::MAX_RAW_PREVIEW);
    }
    let transcript: usize = s.transcript.iter().map(Vec::len).sum();
    assert!(transcript <= session::MAX_TRANSCRIPT, "transcript of {transcript} bytes");
    assert_eq!(
        s.ja3.is_some(),
        s.client_hello.is_some(),
        "session {id}: JA3 without a ClientHello"
    );
    if let Some(d) = &s.decryption {
        assert_eq!(d.status == crate::tls::crypto::Status::Ok, d.reason.is_none(), "{d:?}");
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let (records, decrypted) = d.records[dir];
            assert!(decrypted <= records, "session {id}: {decrypted} of {records} records");
            let delivered = out.plaintext.get(&(id, dir)).copied().unwrap_or(0);
            assert_eq!(delivered, d.app_bytes[dir], "session {id} {dir:?}: plaintext delivered");
        }
    } else {
        assert!(!out.plaintext.keys().any(|(s, _)| *s == id), "plaintext without decryption");
    }
}

/// Runs the analyzer over one connection made of `steps`, with `keylog`,
/// and checks every session and flow it reports.
fn run_pipeline(
    opts: session::Options,
    keylog: &[u8],
    steps: &[HttpStep],
    budget: &Budget,
) -> PipelineOut {
    let mut analyzer = Analyzer::new(opts, PipelineOut::default()).with_budget(budget);
    let _ = analyzer.keys.keylog.parse(keylog, "fuzz.keys");
    let _ = analyzer.keys.keylog.finish();
    let mut r = Reassembler::<ConnState>::new(Limits::default()).with_budget(budget);
    let (client, server) = pipeline_ends();
    // Sequence numbers of each side's next byte.
    let mut next = [1000u32, 5000u32];
    let mut frame = 0u64;
    let mut push = |analyzer: &mut Analyzer<PipelineOut>,
                    from: Dir,
                    flags: u8,
                    payload: &[u8],
                    seq: u32,
                    ack: u32| {
        frame += 1;
        let (src, dst) =
            if from == Dir::ClientToServer { (client, server) } else { (server, client) };
        let seg = TcpSegment {
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 512,
            payload,
            payload_offset: 54,
            payload_missing: 0,
        };
        analyzer.out.last_frame = frame;
        r.push(analyzer, frame, Timestamp(frame as i64 * 1000), 54 + len32(payload.len()), &seg);
    };
    let (syn, ack, psh, fin) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::PSH, TcpFlags::FIN);
    push(&mut analyzer, Dir::ClientToServer, syn, &[], 999, 0);
    push(&mut analyzer, Dir::ServerToClient, syn | ack, &[], 4999, 1000);
    push(&mut analyzer, Dir::ClientToServer, ack, &[], 1000, 5000);
    let side = |d: Dir| usize::from(d == Dir::ServerToClient);
    for step in steps {
        match step {
            HttpStep::Data(dir, bytes) => {
                let (me, peer) = (side(*dir), 1 - side(*dir));
                let (seq, ack_no) = (next.get(me).copied(), next.get(peer).copied());
                let (seq, ack_no) = (seq.unwrap_or(0), ack_no.unwrap_or(0));
                push(&mut analyzer, *dir, ack | psh, bytes, seq, ack_no);
                if let Some(n) = next.get_mut(me) {
                    *n = n.wrapping_add(len32(bytes.len()));
                }
            }
            // Bytes never captured: the sender's next segment leaves a
            // hole that the peer's acknowledgements show.
            HttpStep::Gap(dir, len) => {
                if let Some(n) = next.get_mut(side(*dir)) {
                    *n = n.wrapping_add(u32::from(*len));
                }
            }
        }
    }
    let [c, s] = next;
    push(&mut analyzer, Dir::ClientToServer, fin | ack, &[], c, s);
    push(&mut analyzer, Dir::ServerToClient, fin | ack, &[], s, c.wrapping_add(1));
    push(&mut analyzer, Dir::ClientToServer, ack, &[], c.wrapping_add(1), s.wrapping_add(1));
    r.finish_all(&mut analyzer);
    let started = analyzer.sessions();
    let out = analyzer.out;
    assert_eq!(out.sessions.len() as u64, started, "sessions started but never reported");
    let mut ids: Vec<u64> = out.sessions.iter().map(|s| s.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), out.sessions.len(), "a session reported twice");
    for s in &out.sessions {
        check_session(s, &out, started, &opts);
    }
    assert!(out.flows.len() <= 1, "one connection, {} flows", out.flows.len());
    for f in &out.flows {
        assert!(out.sessions.is_empty(), "a flow and sessions for one connection");
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            assert!(f.preview[dir].len() <= record::PREVIEW_LEN);
        }
    }
    out
}

/// Splits a [`session_pipeline`] input into its options, key log and
/// script (see there).
fn pipeline_input(data: &[u8]) -> Option<(u8, &[u8], Vec<HttpStep>)> {
    let (&flags, rest) = data.split_first()?;
    let (keylog, script) = match rest {
        [hi, lo, tail @ ..] => {
            let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
            (tail.get(..n).unwrap_or_default(), tail.get(n..).unwrap_or_default())
        }
        _ => (&[][..], &[][..]),
    };
    Some((flags, keylog, http_script(script)))
}

/// Writes a [`session_pipeline`] input.
pub fn pipeline_input_bytes(flags: u8, keylog: &[u8], steps: &[HttpStep]) -> Vec<u8> {
    let keylog = keylog.get(..keylog.len().min(usize::from(u16::MAX))).unwrap_or_default();
    [&[flags][..], &vec_n(2, keylog), &http_script_bytes(steps)].concat()
}

/// Fuzz body: the whole analysis of one TCP connection. Input: an options
/// byte (bit 0 field trees, bit 1 HTTP decoding, bit 2 decrypt even
/// without keys), a key log (16-bit length, text), then the connection as
/// an HTTP script of stream pieces and gaps (see [`http_script`]), which
/// becomes TCP segments (handshake, data with acknowledgements, FINs)
/// through the reassembler into an [`Analyzer`].
///
/// Checks: every session started is reported once, with frames that were
/// pushed, message bytes and trees that agree, the buffers within their
/// limits, a reason whenever decryption is not ok, no more decrypted
/// records than records, and exactly the plaintext it delivered counted
/// as decrypted application data; and the same analysis (trees aside)
/// with field trees on and off.
pub fn session_pipeline(data: &[u8]) {
    let Some((flags, keylog, steps)) = pipeline_input(data) else { return };
    let opts = |trees: bool| session::Options {
        trees,
        keep_messages: true,
        decrypt: flags & 4 != 0,
        http: flags & 2 != 0,
    };
    // A budget the input cannot reach: the two runs must agree.
    let roomy = [Budget::new(PIPELINE_ROOMY_BUDGET), Budget::new(PIPELINE_ROOMY_BUDGET)];
    let a = run_pipeline(opts(flags & 1 != 0), keylog, &steps, &roomy[0]);
    let b = run_pipeline(opts(flags & 1 == 0), keylog, &steps, &roomy[1]);
    // And one it reaches at once: cuts, connections ended early, and
    // still every session reported once, the plaintext counted exactly.
    let tight = Budget::new(PIPELINE_TIGHT_BUDGET);
    drop(run_pipeline(opts(flags & 1 != 0), keylog, &steps, &tight));
    assert_eq!(tight.used(), 0, "memory still counted when nothing is held any more");
    let digest = |o: &PipelineOut| -> Vec<String> {
        o.sessions.iter().map(|s| format!("{:?}", without_trees(s))).collect()
    };
    let (da, db) = (digest(&a), digest(&b));
    for (x, y) in da.iter().zip(&db) {
        assert!(x == y, "field trees change the analysis:\n{x}\n---\n{y}");
    }
    assert_eq!(da.len(), db.len(), "field trees change the sessions");
    assert_eq!(a.plaintext, b.plaintext, "field trees change the plaintext");
    for r in &roomy {
        assert!(r.cuts().is_empty(), "the roomy budget was reached: {:?}", r.cuts());
    }
    drop((a, b));
    for r in &roomy {
        assert_eq!(r.used(), 0, "memory still counted when nothing is held any more");
    }
}

/// A budget no [`session_pipeline`] input reaches (16 KiB of input, its
/// field trees and decoded HTTP stay far below).
const PIPELINE_ROOMY_BUDGET: usize = 256 << 20;

/// A budget the first sessions of a [`session_pipeline`] input use up.
const PIPELINE_TIGHT_BUDGET: usize = 8 << 10;

// ---------------------------------------------------------------------------
// Seeds

/// The largest seed made for most TLS targets (scripts/fuzz's default
/// largest input).
pub const TLS_SEED_MAX: usize = 8192;

/// The largest [`session_pipeline`] seed: a handshake with a certificate
/// chain and the first application data.
pub const PIPELINE_SEED_MAX: usize = 16384;

/// Hand-made [`tls_record`] inputs: records in one chunk and split, an
/// SSLv2 hello, a gap inside a record, a bad header, plain HTTP.
pub fn tls_record_seeds() -> Vec<Vec<u8>> {
    let hs = record_bytes(22, 0x0301, &hs_msg(1, &[3; 60]));
    let app = record_bytes(23, 0x0303, &[0x42; 300]);
    let alert = record_bytes(21, 0x0303, &[1, 0]);
    let stream = [hs.clone(), record_bytes(20, 0x0303, &[1]), app.clone(), alert.clone()].concat();
    let v2 = sslv2_samples().into_iter().next().unwrap_or_default();
    let sslv2 = [vec_n(2, &v2), hs.clone()].concat();
    let sslv2 =
        [&[0x80 | sslv2.first().copied().unwrap_or(0)][..], sslv2.get(1..).unwrap_or_default()]
            .concat();
    let d = |b: &[u8]| RecordStep::Data(b.to_vec());
    let split: Vec<RecordStep> = stream.chunks(7).map(d).collect();
    vec![
        record_script_bytes(0x3f, &[d(&stream)]),
        record_script_bytes(0x17, &split),
        record_script_bytes(0x3f, &[d(&sslv2)]),
        record_script_bytes(
            0x3f,
            &[
                d(app.get(..100).unwrap_or_default()),
                RecordStep::Gap(150),
                d(app.get(250..).unwrap_or_default()),
                d(&alert),
            ],
        ),
        record_script_bytes(0x3f, &[d(&hs), d(&[22, 3, 3, 0xff, 0xff, 0, 0]), d(&alert)]),
        record_script_bytes(0x3f, &[d(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")]),
    ]
}

/// Hand-made [`session_pipeline`] inputs: plain HTTP, an SSLv2 hello, a
/// ClientHello and a ServerHello with a gap after them.
pub fn session_pipeline_seeds() -> Vec<Vec<u8>> {
    let c = |b: Vec<u8>| HttpStep::Data(Dir::ClientToServer, b);
    let s = |b: Vec<u8>| HttpStep::Data(Dir::ServerToClient, b);
    let samples = handshake_samples();
    let msg = |i: usize| samples.get(i).map(|(_, m)| m.clone()).unwrap_or_default();
    let v2 = sslv2_samples().into_iter().next().unwrap_or_default();
    let v2_record = [&[0x80u8, v2.len() as u8][..], &v2].concat();
    vec![
        pipeline_input_bytes(
            0x03,
            b"",
            &[
                c(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
                s(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec()),
            ],
        ),
        pipeline_input_bytes(0x07, b"", &[c(v2_record)]),
        pipeline_input_bytes(
            0x07,
            format!("CLIENT_RANDOM {} {}\n", "11".repeat(32), "22".repeat(48)).as_bytes(),
            &[
                c(record_bytes(22, 0x0301, &msg(0))),
                s(record_bytes(22, 0x0303, &[msg(2), msg(9), msg(12), msg(23)].concat())),
                c(record_bytes(22, 0x0303, &msg(29))),
                c(record_bytes(20, 0x0303, &[1])),
                c(record_bytes(22, 0x0303, &[0x5c; 40])),
                HttpStep::Gap(Dir::ServerToClient, 6),
                s(record_bytes(20, 0x0303, &[1])),
                s(record_bytes(23, 0x0303, &[0x5d; 40])),
            ],
        ),
    ]
}

/// Seeds for the TLS targets made from real traffic.
#[derive(Debug, Default)]
pub struct TlsSeeds {
    /// [`tls_record`]: each direction of each connection, chunked as
    /// captured.
    pub tls_record: Vec<Vec<u8>>,
    /// [`tls_handshake`]: every handshake message (decrypted ones too),
    /// with the context it was parsed in.
    pub tls_handshake: Vec<Vec<u8>>,
    /// [`tls_assembler`]: each direction's messages, recut into records.
    pub tls_assembler: Vec<Vec<u8>>,
    /// [`tls_extensions`]: every extension block of those messages.
    pub tls_extensions: Vec<Vec<u8>>,
    /// [`x509`]: every certificate.
    pub x509: Vec<Vec<u8>>,
    /// [`session_pipeline`]: each connection with the key log lines of its
    /// client randoms, and without them.
    pub session_pipeline: Vec<Vec<u8>>,
}

/// Collects each connection's stream pieces and gaps.
#[derive(Default)]
struct StepSink {
    done: Vec<Vec<HttpStep>>,
}

impl StreamSink<Vec<HttpStep>> for StepSink {
    fn data(&mut self, _: &ConnInfo, user: &mut Vec<HttpStep>, dir: Dir, chunk: Chunk<'_>) {
        user.push(HttpStep::Data(dir, chunk.data.to_vec()));
    }
    fn gap(&mut self, _: &ConnInfo, user: &mut Vec<HttpStep>, dir: Dir, _: u64, len: u64, _: u64) {
        user.push(HttpStep::Gap(dir, u16::try_from(len).unwrap_or(u16::MAX)));
    }
    fn close(&mut self, _: &ConnInfo, user: Vec<HttpStep>, _: EndReason) {
        self.done.push(user);
    }
}

/// Lower-case or upper-case hex to bytes.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2).map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// The lines of `keylog` whose client random appears in `client_bytes`.
fn keylog_lines_for(keylog: &[u8], client_bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(keylog);
    let mut out = String::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        let (Some(_), Some(cr)) = (fields.next(), fields.next()) else { continue };
        let Some(cr) = unhex(cr).filter(|c| c.len() == 32) else { continue };
        if client_bytes.windows(32).any(|w| w == cr.as_slice()) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// `steps` cut so that their script fits in `max` bytes.
fn steps_within(steps: &[HttpStep], max: usize) -> Vec<HttpStep> {
    let mut out = Vec::new();
    let mut size = 0;
    for s in steps {
        let need = http_script_bytes(std::slice::from_ref(s)).len();
        if size + need <= max {
            size += need;
            out.push(s.clone());
            continue;
        }
        if let HttpStep::Data(dir, bytes) = s
            && size + 3 < max
        {
            let n = (max - size - 3).min(bytes.len());
            out.push(HttpStep::Data(*dir, bytes.get(..n).unwrap_or_default().to_vec()));
        }
        break;
    }
    out
}

/// Records of changing sizes (a length byte each) holding `stream`, for
/// [`tls_assembler`], at most [`TLS_SEED_MAX`] bytes.
fn assembler_input(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = stream;
    let sizes = [254usize, 37, 180, 3, 254, 90];
    let mut i = 0;
    while !rest.is_empty() && out.len() + 255 <= TLS_SEED_MAX {
        let n = sizes.get(i % sizes.len()).copied().unwrap_or(1).min(rest.len());
        out.push(n as u8);
        out.extend_from_slice(rest.get(..n).unwrap_or_default());
        rest = rest.get(n..).unwrap_or_default();
        i += 1;
    }
    out
}

/// Seeds for the TLS targets from one capture's frames and the key log
/// that goes with it (lines for other captures do no harm).
pub fn tls_capture_seeds(frames: &[(LinkType, Vec<u8>)], keylog: &[u8]) -> TlsSeeds {
    let mut seeds = TlsSeeds::default();
    fn frame(i: usize, link: LinkType, data: &[u8]) -> crate::frame::Frame<'_> {
        crate::frame::Frame {
            number: i as u64 + 1,
            ts: Timestamp(i as i64),
            link,
            data,
            orig_len: len32(data.len()),
        }
    }
    // The connections' streams.
    let mut r = Reassembler::<Vec<HttpStep>>::new(Limits::default());
    let mut sink = StepSink::default();
    for (i, (link, data)) in frames.iter().enumerate() {
        r.push_frame(&mut sink, &frame(i, *link, data));
    }
    r.finish_all(&mut sink);
    for steps in &sink.done {
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let rs: Vec<RecordStep> = steps
                .iter()
                .filter_map(|s| match s {
                    HttpStep::Data(d, b) if *d == dir => Some(RecordStep::Data(b.clone())),
                    HttpStep::Gap(d, n) if *d == dir => Some(RecordStep::Gap(u32::from(*n))),
                    _ => None,
                })
                .collect();
            if rs.is_empty() {
                continue;
            }
            for mask in [0x3f, 0x17] {
                let mut input = record_script_bytes(mask, &rs);
                input.truncate(TLS_SEED_MAX);
                seeds.tls_record.push(input);
            }
        }
        let client: Vec<u8> = steps
            .iter()
            .filter_map(|s| match s {
                HttpStep::Data(Dir::ClientToServer, b) => Some(b.as_slice()),
                _ => None,
            })
            .flatten()
            .take(PIPELINE_SEED_MAX)
            .copied()
            .collect();
        let lines = keylog_lines_for(keylog, &client);
        let budget = PIPELINE_SEED_MAX.saturating_sub(lines.len() + 3);
        let cut = steps_within(steps, budget);
        seeds.session_pipeline.push(pipeline_input_bytes(0x07, &lines, &cut));
        seeds.session_pipeline.push(pipeline_input_bytes(0x00, b"", &cut));
    }

    // Every message, decrypted ones included.
    let opts = session::Options { trees: true, keep_messages: true, decrypt: true, http: false };
    let mut analyzer =
        Analyzer::new(opts, PipelineOut { last_frame: u64::MAX, ..PipelineOut::default() });
    let _ = analyzer.keys.keylog.parse(keylog, "seeds.keys");
    let _ = analyzer.keys.keylog.finish();
    let mut r = Reassembler::<ConnState>::new(Limits::default());
    for (i, (link, data)) in frames.iter().enumerate() {
        r.push_frame(&mut analyzer, &frame(i, *link, data));
    }
    r.finish_all(&mut analyzer);
    for s in &analyzer.out.sessions {
        seeds.x509.extend(s.certificate_ders.iter().cloned());
        let mut streams = [Vec::new(), Vec::new()];
        for m in &s.messages {
            let Some(msg) = m.message.as_deref() else { continue };
            if msg.bytes.len() != m.len || msg.bytes.len() + 1 > TLS_SEED_MAX {
                continue; // an SSLv2 hello, or too long
            }
            let c = if matches!(msg.msg_type, 1 | 2) {
                ctx(None, m.from == Dir::ServerToClient, None)
            } else {
                let sh = s.server_hello.as_deref();
                ctx(
                    sh.map(|h| h.negotiated_version()),
                    m.from == Dir::ServerToClient,
                    sh.map(|h| h.cipher_suite),
                )
            };
            seeds.tls_handshake.push([vec![handshake_selector(&c)], msg.bytes.clone()].concat());
            collect_blocks(&msg.fields, &msg.bytes, &mut seeds.tls_extensions);
            if let Some(st) = streams.get_mut(usize::from(m.from == Dir::ServerToClient)) {
                st.extend_from_slice(&msg.bytes);
            }
        }
        for st in streams.iter().filter(|s| !s.is_empty()) {
            seeds.tls_assembler.push(assembler_input(st));
        }
    }
    seeds
}

/// The bytes of every `extensions` field in a message's tree.
fn collect_blocks(fields: &[Field], bytes: &[u8], out: &mut Vec<Vec<u8>>) {
    for f in fields {
        if f.key == "extensions" {
            let range = f.span.start as usize..f.span.end() as usize;
            if let Some(b) = bytes.get(range) {
                out.push(b.to_vec());
            }
        }
        collect_blocks(&f.children, bytes, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::XorShift;

    /// A few thousand mutations of `seeds` through `body`, as a short
    /// fuzzing run would do.
    fn mutate_through(body: fn(&[u8]), seeds: &[Vec<u8>], runs: usize, seed: u64) {
        assert!(!seeds.is_empty());
        let mut rng = XorShift(seed);
        for s in seeds {
            body(s);
        }
        for _ in 0..runs {
            let pick = rng.below(seeds.len());
            let mut input = rng.mutate(&seeds[pick]);
            for _ in 0..rng.below(3) {
                input = rng.mutate(&input);
            }
            let r = std::panic::catch_unwind(|| body(&input));
            assert!(r.is_ok(), "failing input: {}", tree::hex(&input));
        }
    }

    /// One capture's frames and its key log.
    type Capture = (Vec<(LinkType, Vec<u8>)>, Vec<u8>);

    /// The TLS captures in testdata, as frames, and all their key logs.
    fn testdata() -> Vec<Capture> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/captures/tls");
        let mut out = Vec::new();
        let mut paths: Vec<_> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "pcap")) {
            let bytes = std::fs::read(p).unwrap();
            let keys = std::fs::read(p.with_extension("keys")).unwrap_or_default();
            let mut r =
                tlsscope_capture::read::CaptureReader::from_reader(std::io::Cursor::new(bytes))
                    .unwrap();
            let mut frames = Vec::new();
            while let Some(e) = r.next() {
                if let tlsscope_capture::read::Event::Frame(f) = e {
                    frames.push((LinkType(f.link.0), f.data.to_vec()));
                }
            }
            out.push((frames, keys));
        }
        assert!(out.len() >= 4, "TLS captures missing under {dir}");
        out
    }

    fn capture_seeds() -> TlsSeeds {
        let mut all = TlsSeeds::default();
        for (frames, keys) in testdata() {
            let s = tls_capture_seeds(&frames, &keys);
            all.tls_record.extend(s.tls_record);
            all.tls_handshake.extend(s.tls_handshake);
            all.tls_assembler.extend(s.tls_assembler);
            all.tls_extensions.extend(s.tls_extensions);
            all.x509.extend(s.x509);
            all.session_pipeline.extend(s.session_pipeline);
        }
        all
    }

    #[test]
    fn record_scripts_round_trip() {
        let steps = vec![
            RecordStep::Data((0..=255).cycle().take(3000).collect()),
            RecordStep::Gap(5000),
            RecordStep::Data(vec![7; 31]),
        ];
        let bytes = record_script_bytes(0x15, &steps);
        assert_eq!(bytes[0], 0x15);
        let back = record_script(&bytes[1..]);
        let data = |s: &[RecordStep]| -> Vec<u8> {
            s.iter()
                .flat_map(|x| match x {
                    RecordStep::Data(b) => b.clone(),
                    RecordStep::Gap(_) => Vec::new(),
                })
                .collect()
        };
        let gaps = |s: &[RecordStep]| -> u32 {
            s.iter().map(|x| if let RecordStep::Gap(n) = x { *n } else { 0 }).sum()
        };
        assert_eq!(data(&back), data(&steps));
        assert_eq!(gaps(&back), 5000);
    }

    #[test]
    fn tls_record_seeds_and_mutations() {
        let mut seeds = tls_record_seeds();
        seeds.extend(capture_seeds().tls_record);
        mutate_through(tls_record, &seeds, 3000, 0x7ec0_4d00);
    }

    /// Every prefix of a record stream yields only the records it holds
    /// whole (the body checks the rest).
    #[test]
    fn every_prefix_of_a_record_stream_yields_whole_records_only() {
        for seed in tls_record_seeds() {
            for cut in 0..=seed.len() {
                tls_record(&seed[..cut]);
            }
        }
    }

    #[test]
    fn handshake_samples_parse_in_their_context() {
        for (c, m) in handshake_samples() {
            let body = checked_handshake(&m, &c);
            assert!(body.is_some(), "type {} in {c:?} does not parse: {:?}", m[0], {
                handshake::parse(&m, &c, &mut Tree::off()).1
            });
            // The selector finds a context that parses it the same way.
            let again = handshake_ctx(handshake_selector(&c));
            assert_eq!(handshake::parse(&m, &again, &mut Tree::off()).0, body, "{c:?} {again:?}");
        }
    }

    #[test]
    fn every_prefix_of_every_handshake_message_fails_cleanly() {
        for (c, m) in handshake_samples() {
            for n in 0..m.len() {
                let mut t = Tree::on();
                let (body, err) = handshake::parse(&m[..n], &c, &mut t);
                assert!(body.is_none() && err.is_some(), "type {} cut at {n}", m[0]);
                assert_tree(&t.finish(), Span::new(0, n as u32), "prefix");
            }
        }
    }

    #[test]
    fn tls_handshake_seeds_and_mutations() {
        let mut seeds = tls_handshake_seeds();
        seeds.extend(capture_seeds().tls_handshake);
        mutate_through(tls_handshake, &seeds, 5000, 0x4a5d_5ac3);
    }

    #[test]
    fn extension_samples_parse_where_they_belong() {
        for (at, block) in extension_samples() {
            let h = checked_extensions(&block, at);
            assert!(h.is_ok(), "{at:?}: {h:?}");
        }
    }

    #[test]
    fn every_prefix_of_every_extension_block_fails_cleanly() {
        for (at, block) in extension_samples() {
            for n in 0..block.len() {
                for place in EXTENSION_PLACES {
                    let r = checked_extensions(&block[..n], place);
                    assert!(r.is_err(), "{at:?} block cut at {n} parses as {place:?}");
                }
            }
        }
    }

    #[test]
    fn tls_extensions_seeds_and_mutations() {
        let mut seeds: Vec<Vec<u8>> = extension_samples().into_iter().map(|(_, b)| b).collect();
        seeds.extend(capture_seeds().tls_extensions);
        mutate_through(tls_extensions, &seeds, 3000, 0xe47e_0001);
    }

    #[test]
    fn tls_assembler_seeds_and_mutations() {
        let mut seeds = tls_assembler_seeds();
        seeds.extend(capture_seeds().tls_assembler);
        mutate_through(tls_assembler, &seeds, 3000, 0xa55e_b1e5);
    }

    #[test]
    fn sslv2_samples_parse_and_their_prefixes_fail() {
        for s in sslv2_samples() {
            let ch = handshake::parse_sslv2_client_hello(&s, &mut Tree::off());
            assert!(ch.is_ok_and(|c| c.sslv2));
            for n in 0..s.len() {
                assert!(handshake::parse_sslv2_client_hello(&s[..n], &mut Tree::off()).is_err());
                tls_sslv2(&s[..n]);
            }
        }
        mutate_through(tls_sslv2, &sslv2_samples(), 3000, 0x55_1a2);
    }

    #[test]
    fn x509_certificates_from_captures_and_their_mutations() {
        let certs = capture_seeds().x509;
        assert!(certs.len() >= 4, "{} certificates", certs.len());
        for c in &certs {
            assert!(x509::summarize(c).is_ok());
            for n in (0..c.len()).step_by(13) {
                x509(&c[..n]);
            }
        }
        mutate_through(x509, &certs, 1500, 0x0509_0509);
    }

    #[test]
    fn keylog_seeds_and_mutations() {
        let mut seeds = keylog_seeds();
        for (_, keys) in testdata() {
            seeds.push([vec![5], keys].concat());
        }
        mutate_through(keylog, &seeds, 3000, 0x6e71_0600);
    }

    /// Every case seals and opens, so the fuzzer starts from records that
    /// decrypt (the body asserts it for each sealed record).
    #[test]
    fn every_decrypt_case_round_trips() {
        for (i, case) in DECRYPT_CASES.iter().enumerate() {
            let s = Sealer::new(*case).unwrap_or_else(|| panic!("{case:?}"));
            let mut d = s.decryptor().unwrap();
            let (h, mut body, pad) = s.seal(23, b"hello", 0).unwrap();
            let p = d.decrypt(&h, &mut body).unwrap();
            assert_eq!((p.content_type, p.data, p.padding), (23, &b"hello"[..], pad), "{case:?}");
            tls_decrypt(&tls_decrypt_seeds()[i]);
        }
        mutate_through(tls_decrypt, &tls_decrypt_seeds(), 3000, 0xdec0_0001);
    }

    #[test]
    fn pipeline_seeds_decrypt_the_captures() {
        let seeds = capture_seeds().session_pipeline;
        let mut decrypted = 0;
        for s in &seeds {
            session_pipeline(s);
            let (flags, keylog, steps) = pipeline_input(s).unwrap();
            let opts = session::Options {
                trees: true,
                keep_messages: true,
                decrypt: flags & 4 != 0,
                http: true,
            };
            let out = run_pipeline(opts, keylog, &steps, &Budget::unlimited());
            decrypted += out
                .sessions
                .iter()
                .filter(|s| {
                    s.decryption.as_ref().is_some_and(|d| d.records.0.iter().any(|(_, n)| *n > 0))
                })
                .count();
        }
        assert!(decrypted >= 6, "{decrypted} sessions decrypted from {} seeds", seeds.len());
    }

    #[test]
    fn session_pipeline_seeds_and_mutations() {
        let mut seeds = session_pipeline_seeds();
        for s in &seeds {
            session_pipeline(s);
        }
        seeds.extend(capture_seeds().session_pipeline);
        mutate_through(session_pipeline, &seeds, 600, 0x5e55_1011);
    }
}
