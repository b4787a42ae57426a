//! Fuzz bodies for this crate's untrusted entry points, and the checks they
//! make. Not part of the API (hidden from the docs).
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` only call these functions,
//! and unit tests run them over seeds and pseudo-random inputs, so a
//! regression shows in `cargo test` as well (rustls keeps its fuzz bodies in
//! the library for the same reason). A body panics when the code under test
//! breaks a promise it makes, not only when it crashes: that is how the
//! fuzzer finds logic bugs. See docs/fuzzing.md for running them and adding
//! a target.
//!
//! Targets here:
//! - [`frame_decode`]: one frame; the first byte picks the link type.
//! - [`tcp_reassembly`]: a script of synthetic TCP segments (see
//!   [`TcpScript`]) fed to a [`Reassembler`] with small [`TCP_LIMITS`],
//!   watched by a [`CheckingSink`].
//! - [`http1`], [`http2`]: a script of stream pieces and gaps (see
//!   [`http_script`]) through an [`HttpConn`] with small [`HTTP_LIMITS`],
//!   whole and byte by byte (the events must not differ).
//! - [`hpack`]: header blocks through one HPACK decoder, re-encoded and
//!   decoded again; Huffman checked against a bit-by-bit reference.
//! - The TLS layers, from the record deframer to the whole session
//!   pipeline: in `fuzz/tls.rs` (re-exported here), whose module docs
//!   list them.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::diag::Diagnostic;
use crate::flow::{Chunk, ConnInfo, Dir, EndReason, Limits, PerDir, Reassembler, StreamSink};
use crate::frame::{DecodeError, Decoded, Frame, LinkType, TcpFlags, TcpSegment, decode};
use crate::time::Timestamp;

mod tls;
pub use tls::*;

// ---------------------------------------------------------------------------
// frame_decode

/// The link types [`frame_decode`] picks from with its first input byte
/// (modulo the length): every type [`decode`] reads, and one it does not.
pub const FRAME_LINK_TYPES: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147), // LINKTYPE_USER0: unsupported
];

/// Fuzz body: decodes one frame. Input: a link type selector byte (an
/// index into [`FRAME_LINK_TYPES`]), then the frame.
pub fn frame_decode(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let Some(&link) = FRAME_LINK_TYPES.get(usize::from(sel) % FRAME_LINK_TYPES.len()) else {
        return;
    };
    let frame = Frame {
        number: 1,
        ts: Timestamp(0),
        link,
        data: bytes,
        orig_len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
    };
    checked_decode(&frame);
}

/// The input for [`frame_decode`] that decodes `frame` as `link`, if `link`
/// is one of [`FRAME_LINK_TYPES`].
pub fn frame_decode_input(link: LinkType, frame: &[u8]) -> Option<Vec<u8>> {
    let sel = FRAME_LINK_TYPES.iter().position(|l| *l == link)?;
    let mut out = vec![u8::try_from(sel).ok()?];
    out.extend_from_slice(frame);
    Some(out)
}

/// Seeds for [`frame_decode`] from one captured frame: the frame itself
/// and, for an Ethernet frame holding IPv4 or IPv6, the same datagram under
/// every other link type `decode` reads, so each link parser starts from
/// real traffic.
pub fn frame_decode_seeds(link: LinkType, frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = frame_decode_input(link, frame).into_iter().collect();
    if link != LinkType::ETHERNET {
        return out;
    }
    // Untagged Ethernet II only: 14 bytes, EtherType last.
    let (Some(&[t0, t1]), Some(ip)) = (frame.get(12..14), frame.get(14..)) else { return out };
    let (ethertype, v6) = match [t0, t1] {
        [0x08, 0x00] => ([t0, t1], false),
        [0x86, 0xdd] => ([t0, t1], true),
        _ => return out,
    };
    let with = |head: &[u8]| -> Vec<u8> { [head, ip].concat() };
    let family: u32 = if v6 { 10 } else { 2 }; // AF_INET6 (Linux) / AF_INET
    let variants = [
        (LinkType::RAW, ip.to_vec()),
        (LinkType::RAW_BSD12, ip.to_vec()),
        (LinkType::RAW_BSD14, ip.to_vec()),
        (if v6 { LinkType::IPV6 } else { LinkType::IPV4 }, ip.to_vec()),
        (LinkType::NULL, with(&family.to_le_bytes())),
        (LinkType::NULL, with(&(if v6 { 30u32 } else { 2 }).to_be_bytes())),
        (LinkType::LOOP, with(&(if v6 { 24u32 } else { 2 }).to_be_bytes())),
        // SLL: packet type, ARPHRD_ETHER, address length 6, 8 address bytes, protocol.
        (
            LinkType::LINUX_SLL,
            with(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0, 0, 0, ethertype[0], ethertype[1]]),
        ),
        // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type,
        // address length, 8 address bytes.
        (
            LinkType::LINUX_SLL2,
            with(&[
                ethertype[0],
                ethertype[1],
                0,
                0,
                0,
                0,
                0,
                1,
                0,
                1,
                0,
                6,
                2,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ]),
        ),
    ];
    for (l, f) in variants {
        out.extend(frame_decode_input(l, &f));
    }
    out
}

/// Decodes `frame` and checks what [`decode`] promises about the result:
/// the payload is the frame's own bytes at `payload_offset`, addresses are
/// of one family, error offsets lie inside the frame, and only unsupported
/// link types are reported as such. Returns the segment, if any.
pub fn checked_decode<'a>(frame: &Frame<'a>) -> Option<TcpSegment<'a>> {
    let result = decode(frame);
    match &result {
        Ok(Decoded::Tcp(seg)) => {
            let off = seg.payload_offset as usize;
            let inside = frame.data.get(off..off + seg.payload.len());
            assert!(
                inside.is_some_and(|s| std::ptr::eq(s.as_ptr(), seg.payload.as_ptr())),
                "payload is not the frame's bytes at payload_offset {off} \
                 (payload {} bytes, frame {} bytes)",
                seg.payload.len(),
                frame.data.len()
            );
            assert_eq!(seg.src.is_ipv4(), seg.dst.is_ipv4(), "mixed address families");
        }
        Ok(Decoded::IpFragment | Decoded::Other) => {}
        Err(DecodeError::UnsupportedLinkType(l)) => {
            assert_eq!(*l, frame.link);
            assert!(!l.is_supported(), "{l} is supported but was reported as not");
        }
        Err(DecodeError::Malformed { offset, .. }) => {
            assert!(
                *offset as usize <= frame.data.len(),
                "error offset {offset} beyond the frame ({} bytes)",
                frame.data.len()
            );
        }
    }
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    match result {
        Ok(Decoded::Tcp(seg)) => Some(seg),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The checking sink

/// What the sink remembers of a frame that held a TCP segment, to check
/// every chunk against the bytes it claims to come from.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    /// When the frame was captured.
    pub ts: Timestamp,
    /// Where the payload starts in the frame.
    pub payload_offset: u32,
    /// The captured payload.
    pub payload: Vec<u8>,
    /// Sequence number of the first payload byte (the segment's sequence
    /// number, plus one for a SYN).
    pub seq: u32,
}

impl FrameRecord {
    /// The record for `seg`, captured at `ts`.
    pub fn of(seg: &TcpSegment<'_>, ts: Timestamp) -> Self {
        FrameRecord {
            ts,
            payload_offset: seg.payload_offset,
            payload: seg.payload.to_vec(),
            seq: seg.seq.wrapping_add(u32::from(seg.flags.syn())),
        }
    }
}

/// Per-connection state of the [`CheckingSink`], kept by the reassembler
/// beside each connection (so it also checks that the reassembler hands
/// every event the state of the right connection).
#[derive(Debug, Default)]
pub struct ConnCheck {
    /// The connection id given at `open`.
    id: Option<u64>,
    /// Stream offset the next chunk or gap must start at.
    next: PerDir<u64>,
    /// Bytes delivered, gap bytes and gaps.
    delivered: PerDir<u64>,
    gap_bytes: PerDir<u64>,
    gaps: PerDir<u64>,
    /// `end_of_stream` seen.
    ended: PerDir<bool>,
    /// Sequence number of stream offset 0, as implied by the first chunk.
    base: PerDir<Option<u32>>,
}

/// A [`StreamSink`] that panics when the reassembler breaks its contract:
///
/// - every connection is opened once, with ids 0, 1, 2... in order, and
///   closed exactly once; nothing comes for it after `close`;
/// - per direction, chunks and gaps are contiguous and in order from
///   offset 0, chunks are non-empty, and nothing comes after
///   `end_of_stream` (a FIN ends the stream "after all its data");
/// - every chunk is the bytes of the frame it names, at the offset it
///   names, with that frame's timestamp, and sits at the stream offset its
///   sequence number implies (one base per direction);
/// - the statistics at `close` match what was delivered.
///
/// Frames must be registered with [`CheckingSink::record_frame`] before
/// they are pushed.
#[derive(Debug, Default)]
pub struct CheckingSink {
    frames: HashMap<u64, FrameRecord>,
    /// Highest frame number pushed so far.
    last_frame: u64,
    opened: u64,
    closed: HashSet<u64>,
    /// Chunks, gaps and diagnostics seen (for tests that want to know the
    /// input did something).
    pub chunks: u64,
    /// Gaps seen.
    pub gaps: u64,
    /// Diagnostics seen.
    pub diagnostics: u64,
    /// Each closed connection's counters, in the order they closed.
    pub closed_stats: Vec<(u64, crate::flow::PerDir<crate::flow::HalfStats>)>,
}

impl CheckingSink {
    /// Registers a frame about to be pushed (`None` if it holds no TCP).
    pub fn record_frame(&mut self, number: u64, record: Option<FrameRecord>) {
        assert!(number > self.last_frame, "frame numbers must increase");
        self.last_frame = number;
        if let Some(r) = record {
            self.frames.insert(number, r);
        }
    }

    /// Checks the reassembler's own bounds after a push.
    pub fn check_bounds<U: Default>(&self, r: &Reassembler<U>, limits: &Limits) {
        assert!(
            r.buffered_bytes() <= limits.max_buffered_total,
            "{} bytes buffered, over the limit of {}",
            r.buffered_bytes(),
            limits.max_buffered_total
        );
        assert!(
            r.open_connections() <= limits.max_connections,
            "{} connections open, over the limit of {}",
            r.open_connections(),
            limits.max_connections
        );
    }

    /// Checks the end state after `finish_all`.
    pub fn check_finished<U: Default>(&self, r: &Reassembler<U>) {
        assert_eq!(r.open_connections(), 0, "connections left after finish_all");
        assert_eq!(r.buffered_bytes(), 0, "bytes left buffered after finish_all");
        assert_eq!(self.closed.len() as u64, self.opened, "connections opened but never closed");
    }

    fn live(&self, info: &ConnInfo, user: &ConnCheck, what: &str) {
        assert_eq!(
            user.id,
            Some(info.id),
            "{what} for connection {} with another's state",
            info.id
        );
        assert!(!self.closed.contains(&info.id), "{what} for connection {} after close", info.id);
    }
}

impl StreamSink<ConnCheck> for CheckingSink {
    fn open(&mut self, info: &ConnInfo, user: &mut ConnCheck) {
        assert!(user.id.is_none(), "connection {} opened twice", info.id);
        assert_eq!(info.id, self.opened, "connection ids out of order");
        user.id = Some(info.id);
        self.opened += 1;
    }

    fn data(&mut self, info: &ConnInfo, user: &mut ConnCheck, dir: Dir, chunk: Chunk<'_>) {
        self.live(info, user, "data");
        let d = dir;
        let id = info.id;
        assert!(!user.ended[d], "connection {id} {dir:?}: data after end_of_stream");
        assert!(!chunk.data.is_empty(), "connection {id} {dir:?}: empty chunk");
        assert_eq!(
            chunk.offset, user.next[d],
            "connection {id} {dir:?}: chunk at offset {} but the stream is at {}",
            chunk.offset, user.next[d]
        );
        assert!(chunk.frame <= self.last_frame, "chunk from a frame not pushed yet");
        let rec = self.frames.get(&chunk.frame);
        assert!(
            rec.is_some(),
            "connection {id} {dir:?}: chunk from frame {}, which held no TCP",
            chunk.frame
        );
        let Some(rec) = rec else { return };
        assert_eq!(chunk.ts, rec.ts, "chunk timestamp differs from its frame's");
        let in_payload = chunk.frame_offset.checked_sub(rec.payload_offset).map(|o| o as usize);
        let bytes = in_payload.and_then(|o| rec.payload.get(o..o + chunk.data.len()));
        assert!(
            bytes == Some(chunk.data),
            "connection {id} {dir:?}: chunk of {} bytes is not frame {}'s payload at offset {}",
            chunk.data.len(),
            chunk.frame,
            chunk.frame_offset
        );
        // The stream offset must be where the chunk's sequence number says.
        let seq = rec.seq.wrapping_add(in_payload.unwrap_or(0) as u32);
        let base = seq.wrapping_sub(chunk.offset as u32);
        let first = *user.base[d].get_or_insert(base);
        assert_eq!(
            first, base,
            "connection {id} {dir:?}: chunk at offset {} has sequence number {seq}, \
             which puts offset 0 at {base}, not {first}",
            chunk.offset
        );
        let len = chunk.data.len() as u64;
        user.next[d] += len;
        user.delivered[d] += len;
        self.chunks += 1;
    }

    fn gap(
        &mut self,
        info: &ConnInfo,
        user: &mut ConnCheck,
        dir: Dir,
        offset: u64,
        len: u64,
        frame: u64,
    ) {
        self.live(info, user, "gap");
        let d = dir;
        let id = info.id;
        assert!(!user.ended[d], "connection {id} {dir:?}: gap after end_of_stream");
        assert!(len > 0, "connection {id} {dir:?}: empty gap");
        assert_eq!(
            offset, user.next[d],
            "connection {id} {dir:?}: gap at offset {offset} but the stream is at {}",
            user.next[d]
        );
        assert!(frame <= self.last_frame, "gap decided at a frame not pushed yet");
        user.next[d] += len;
        user.gap_bytes[d] += len;
        user.gaps[d] += 1;
        self.gaps += 1;
    }

    fn end_of_stream(&mut self, info: &ConnInfo, user: &mut ConnCheck, dir: Dir) {
        self.live(info, user, "end_of_stream");
        let d = dir;
        assert!(!user.ended[d], "connection {} {dir:?}: ended twice", info.id);
        user.ended[d] = true;
    }

    fn close(&mut self, info: &ConnInfo, user: ConnCheck, _reason: EndReason) {
        self.live(info, &user, "close");
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let (d, st) = (dir, &info.stats[dir]);
            let id = info.id;
            assert_eq!(
                st.payload_bytes, user.delivered[d],
                "connection {id} {dir:?}: payload_bytes"
            );
            assert_eq!(st.gap_bytes, user.gap_bytes[d], "connection {id} {dir:?}: gap_bytes");
            assert_eq!(st.gaps, user.gaps[d], "connection {id} {dir:?}: gaps");
        }
        self.closed.insert(info.id);
        self.closed_stats.push((info.id, info.stats));
    }

    fn diagnostic(&mut self, diag: Diagnostic) {
        assert!(!diag.code.is_empty() && !diag.message.is_empty());
        let _ = diag.to_string();
        self.diagnostics += 1;
    }
}

// ---------------------------------------------------------------------------
// tcp_reassembly

/// The limits [`tcp_reassembly`] runs with: small, so that inputs of a few
/// kilobytes reach every one of them (4 connections for 3 slots, buffers
/// smaller than a few long segments, a short reorder window and linger).
pub const TCP_LIMITS: Limits = Limits {
    max_buffered_per_direction: 1024,
    max_segments_per_direction: 6,
    max_buffered_total: 1536,
    max_connections: 3,
    reorder_frames: 3,
    closed_linger_ns: 10_000_000_000,
};

/// Bytes per segment record in a [`tcp_reassembly`] input.
pub const TCP_RECORD: usize = 12;

/// The 4-tuples the script chooses from: two connections sharing a server
/// port, one over IPv6, and one between two high ports (roles guessed).
fn tuple(i: usize) -> (SocketAddr, SocketAddr) {
    let v4 = |a, b, c, d, port| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port);
    let v6 = |last, port| {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)), port)
    };
    match i % 4 {
        0 => (v4(10, 0, 0, 1, 40000), v4(10, 0, 0, 2, 443)),
        1 => (v4(10, 0, 0, 1, 40001), v4(10, 0, 0, 2, 443)),
        2 => (v6(1, 50000), v6(2, 80)),
        _ => (v4(192, 0, 2, 1, 9999), v4(192, 0, 2, 2, 1234)),
    }
}

/// Initial sequence numbers the relative encoding starts from, per tuple
/// and side; one sits just below the 32-bit wrap.
const START_SEQ: [[u32; 2]; 4] = [[1000, 5000], [2000, u32::MAX - 300], [7, 9], [0x8000_0000, 42]];

/// Time between frames, chosen by 3 bits of a record: mostly small, one
/// step past [`TCP_LIMITS`]'s linger, one backwards (captures merged from
/// several sources are not always in time order).
const TIME_STEPS_NS: [i64; 8] =
    [0, 1_000, 1_000_000, 1_000_000, 100_000_000, 1_000_000_000, 11_000_000_000, -1_000_000_000];

/// Bytes a segment carries at sequence number `seq`: a pattern, so that
/// retransmissions of the same range are byte-identical unless the record
/// asks for a conflicting copy.
fn pattern(seq: u32) -> u8 {
    (seq ^ (seq >> 8) ^ (seq >> 16)) as u8
}

/// How a [`TcpScript`] record gives a sequence or acknowledgement number.
#[derive(Clone, Copy, Debug)]
pub enum SeqNum {
    /// Relative to where the sender's (for `ack`: the peer's) previous
    /// segment ended: 0 is in order, positive leaves a hole, negative
    /// retransmits.
    Rel(i32),
    /// This exact number.
    Abs(u32),
}

/// One segment of a [`TcpScript`].
#[derive(Clone, Copy, Debug)]
pub struct ScriptSeg {
    /// Which 4-tuple (0..4).
    pub tuple: u8,
    /// Sent by the tuple's second endpoint.
    pub reverse: bool,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgement number.
    pub ack: SeqNum,
    /// TCP flags ([`TcpFlags`] bits).
    pub flags: u8,
    /// Captured payload bytes (0..=255; ×8 with `long`).
    pub len: u8,
    /// Payload multiplied by 8 (up to 2040 bytes).
    pub long: bool,
    /// Payload bytes cut by the snapshot length (0..64).
    pub missing: u8,
    /// The payload differs from earlier copies of the same range.
    pub corrupt: bool,
    /// Index into the time steps (0..8); 2 is 1 ms.
    pub time: u8,
}

impl ScriptSeg {
    /// An in-order segment of `len` bytes with ACK set, acknowledging
    /// everything the peer sent.
    pub fn data(tuple: u8, reverse: bool, len: u8) -> Self {
        ScriptSeg {
            tuple,
            reverse,
            seq: SeqNum::Rel(0),
            ack: SeqNum::Rel(0),
            flags: TcpFlags::ACK | TcpFlags::PSH,
            len,
            long: false,
            missing: 0,
            corrupt: false,
            time: 2,
        }
    }

    /// The same with other flags.
    pub fn flags(mut self, flags: u8) -> Self {
        self.flags = flags;
        self
    }

    /// The same at another sequence number.
    pub fn seq(mut self, seq: SeqNum) -> Self {
        self.seq = seq;
        self
    }

    /// The same with another acknowledgement number.
    pub fn ack(mut self, ack: SeqNum) -> Self {
        self.ack = ack;
        self
    }
}

/// Builds [`tcp_reassembly`] inputs. Each segment is a 12-byte record:
///
/// ```text
/// 0     bits 0-1 tuple, bit 2 reverse, bit 3 absolute seq, bit 4 absolute
///       ack, bits 5-7 time step
/// 1     TCP flags
/// 2..6  seq, big-endian (relative: an i32 offset)
/// 6..10 ack, big-endian (relative: an i32 offset)
/// 10    payload length
/// 11    bits 0-5 bytes cut by the snapshot length, bit 6 conflicting
///       content, bit 7 payload length ×8
/// ```
#[derive(Clone, Debug, Default)]
pub struct TcpScript(Vec<u8>);

impl TcpScript {
    /// An empty script.
    pub fn new() -> Self {
        TcpScript::default()
    }

    /// Appends a segment.
    pub fn push(&mut self, s: ScriptSeg) -> &mut Self {
        let num = |n: SeqNum| match n {
            SeqNum::Rel(r) => (false, r as u32),
            SeqNum::Abs(a) => (true, a),
        };
        let (seq_abs, seq) = num(s.seq);
        let (ack_abs, ack) = num(s.ack);
        self.0.push(
            (s.tuple & 3)
                | u8::from(s.reverse) << 2
                | u8::from(seq_abs) << 3
                | u8::from(ack_abs) << 4
                | (s.time & 7) << 5,
        );
        self.0.push(s.flags);
        self.0.extend_from_slice(&seq.to_be_bytes());
        self.0.extend_from_slice(&ack.to_be_bytes());
        self.0.push(s.len);
        self.0.push((s.missing & 0x3f) | u8::from(s.corrupt) << 6 | u8::from(s.long) << 7);
        self
    }

    /// A SYN, SYN-ACK, ACK handshake on `tuple`.
    pub fn handshake(&mut self, tuple: u8) -> &mut Self {
        let syn = ScriptSeg::data(tuple, false, 0).flags(TcpFlags::SYN).ack(SeqNum::Abs(0));
        self.push(syn)
            .push(ScriptSeg::data(tuple, true, 0).flags(TcpFlags::SYN | TcpFlags::ACK))
            .push(ScriptSeg::data(tuple, false, 0).flags(TcpFlags::ACK))
    }

    /// The input bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Fuzz body: TCP reassembly of a script of synthetic segments (see
/// [`TcpScript`] for the format), checked by a [`CheckingSink`] and against
/// [`TCP_LIMITS`] after every segment.
pub fn tcp_reassembly(data: &[u8]) {
    // Twice: retransmissions compared by checksum, then with the first
    // copy's bytes where they lie in the "capture file" (as a mapped file's
    // are): the same counters either way.
    let summed = run_script(data, false);
    let in_file = run_script(data, true);
    assert_eq!(summed.closed_stats, in_file.closed_stats, "the two retransmission checks differ");
}

/// [`tcp_reassembly`] one way (`in_file`: payloads handed as slices of one
/// buffer the reassembler is told about), returning the sink to look at
/// what happened.
fn run_script(data: &[u8], in_file: bool) -> CheckingSink {
    let limits = TCP_LIMITS;
    let mut r = Reassembler::<ConnCheck>::new(limits);
    let mut sink = CheckingSink::default();
    // Where each side's previous segment ended, for relative numbers.
    let mut next = START_SEQ;
    let mut ts = Timestamp(1_700_000_000_000_000_000);
    // Every segment's payload, one after another, as in a capture file.
    let mut file = Vec::new();
    let mut segs = Vec::new();
    for (i, rec) in data.chunks_exact(TCP_RECORD).enumerate() {
        let &[b0, flags, s0, s1, s2, s3, a0, a1, a2, a3, len, extra] = rec else { continue };
        let t = usize::from(b0 & 3);
        let side = usize::from(b0 >> 2 & 1);
        let (a, b) = tuple(t);
        let (src, dst) = if side == 0 { (a, b) } else { (b, a) };
        let seq_field = u32::from_be_bytes([s0, s1, s2, s3]);
        let ack_field = u32::from_be_bytes([a0, a1, a2, a3]);
        let sent = next.get(t).copied().unwrap_or_default();
        let (mine, peer) = (sent.get(side).copied(), sent.get(1 - side).copied());
        let (mine, peer) = (mine.unwrap_or_default(), peer.unwrap_or_default());
        let seq = if b0 & 0x08 != 0 { seq_field } else { mine.wrapping_add(seq_field) };
        let ack = if b0 & 0x10 != 0 { ack_field } else { peer.wrapping_add(ack_field) };
        let len = usize::from(len) * if extra & 0x80 != 0 { 8 } else { 1 };
        let missing = u32::from(extra & 0x3f);
        let flip = if extra & 0x40 != 0 { 0xff } else { 0 };
        let flags = TcpFlags(flags);
        let first = seq.wrapping_add(u32::from(flags.syn()));
        let at = file.len();
        file.extend((0..len as u32).map(|k| pattern(first.wrapping_add(k)) ^ flip));
        let step = TIME_STEPS_NS.get(usize::from(b0 >> 5)).copied().unwrap_or(0);
        ts = Timestamp(ts.0.saturating_add(step));
        let end = first
            .wrapping_add(len as u32)
            .wrapping_add(missing)
            .wrapping_add(u32::from(flags.fin()));
        if let Some(s) = next.get_mut(t).and_then(|s| s.get_mut(side)) {
            *s = end;
        }
        segs.push((i, src, dst, seq, ack, flags, at..at + len, missing, ts));
    }
    let none: &[u8] = &[];
    for (i, src, dst, seq, ack, flags, bytes, missing, ts) in segs {
        let len = bytes.len();
        let seg = TcpSegment {
            src,
            dst,
            seq,
            ack,
            flags,
            window: 512,
            payload: file.get(bytes).unwrap_or_default(),
            payload_offset: 54,
            payload_missing: missing,
        };
        let frame = i as u64 + 1;
        sink.record_frame(frame, Some(FrameRecord::of(&seg, ts)));
        let frame_len = 54 + len as u32 + missing;
        r.push_in(&mut sink, frame, ts, frame_len, &seg, if in_file { &file } else { none });
        sink.check_bounds(&r, &limits);
    }
    r.finish_all(&mut sink);
    sink.check_finished(&r);
    sink
}

/// Hand-made [`tcp_reassembly`] inputs, one per behaviour the reassembler
/// handles, for the fuzzer to start from.
pub fn tcp_reassembly_seeds() -> Vec<Vec<u8>> {
    use SeqNum::{Abs, Rel};
    const A: u8 = TcpFlags::ACK;
    const FA: u8 = TcpFlags::FIN | TcpFlags::ACK;
    const RA: u8 = TcpFlags::RST | TcpFlags::ACK;
    let d = ScriptSeg::data;
    let mut seeds = Vec::new();
    let mut add = |build: &dyn Fn(&mut TcpScript)| {
        let mut s = TcpScript::new();
        build(&mut s);
        seeds.push(s.into_bytes());
    };
    // A whole conversation: handshake, request, response, FIN both ways.
    add(&|s| {
        s.handshake(0).push(d(0, false, 40)).push(d(0, true, 200)).push(d(0, true, 100));
        s.push(d(0, false, 0).flags(FA)).push(d(0, true, 0).flags(FA)).push(d(0, false, 0));
    });
    // Out of order: the second segment first, then the hole filled.
    add(&|s| {
        s.handshake(1).push(d(1, false, 30).seq(Rel(20))).push(d(1, false, 20).seq(Rel(-50)));
    });
    // Retransmissions, one with conflicting bytes, one partly overlapping.
    add(&|s| {
        s.handshake(0).push(d(0, false, 50)).push(d(0, false, 50).seq(Rel(-50)));
        let mut c = d(0, false, 50).seq(Rel(-50));
        c.corrupt = true;
        s.push(c).push(d(0, false, 50).seq(Rel(-25)));
    });
    // A hole the peer acknowledges past: a gap after the reorder window.
    add(&|s| {
        s.handshake(2).push(d(2, false, 10)).push(d(2, false, 10).seq(Rel(10)));
        for _ in 0..5 {
            s.push(d(2, true, 0).flags(A));
        }
    });
    // Mid-stream start (no handshake), roles guessed by port, then RST.
    add(&|s| {
        s.push(d(3, true, 100)).push(d(3, false, 20)).push(d(3, true, 0).flags(RA));
    });
    // Port reuse: a closed connection, then a new SYN on the same tuple.
    add(&|s| {
        s.handshake(0).push(d(0, false, 5)).push(d(0, false, 0).flags(FA));
        s.push(d(0, true, 0).flags(FA)).push(d(0, false, 0));
        let syn = d(0, false, 0).flags(TcpFlags::SYN).seq(Abs(123_456)).ack(Abs(0));
        s.push(syn).push(d(0, true, 0).flags(TcpFlags::SYN | A)).push(d(0, false, 7));
    });
    // Sequence numbers wrapping past 2^32 (tuple 1's server side starts
    // just below it).
    add(&|s| {
        s.handshake(1);
        for _ in 0..3 {
            s.push(d(1, true, 200));
        }
    });
    // Bytes cut by the snapshot length.
    add(&|s| {
        let mut cut = d(0, false, 20);
        cut.missing = 30;
        s.handshake(0).push(cut).push(d(0, false, 10));
    });
    // Every tuple at once, past the connection limit, and a pause longer
    // than the linger time after a close.
    add(&|s| {
        for t in 0..4 {
            s.handshake(t).push(d(t, false, 3));
        }
        s.push(d(0, false, 0).flags(RA));
        let mut late = d(1, false, 1);
        late.time = 6;
        s.push(late);
    });
    // Buffer limits: long out-of-order segments behind a hole.
    add(&|s| {
        s.handshake(0);
        let mut long = d(0, false, 100).seq(Rel(10));
        long.long = true;
        s.push(long).push(long).push(long);
    });
    // A FIN ahead of its data.
    add(&|s| {
        s.handshake(2)
            .push(d(2, false, 0).flags(FA).seq(Rel(10)))
            .push(d(2, false, 10).seq(Rel(-11)));
    });
    seeds
}

// ---------------------------------------------------------------------------
// http1, http2, hpack

use crate::http::{self, HttpConn, HttpEvent, HttpOptions, Protocol, hpack};

/// Small limits for the HTTP fuzz bodies, so that short inputs reach them.
pub const HTTP_LIMITS: HttpOptions = HttpOptions {
    trees: true,
    max_body: 64,
    max_decoded: 256,
    max_decoded_per_conn: 1024,
    max_header_bytes: 256,
    max_header_list: 512,
    max_headers_per_conn: 2048,
    max_hpack_table: 256,
    max_streams: 4,
    max_pipeline: 4,
    max_frame_buffer: 128,
    max_raw: 64,
};

/// One step of an HTTP script: bytes from one side, or a gap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpStep {
    /// Bytes from a side, carried by one capture frame.
    Data(Dir, Vec<u8>),
    /// Bytes of a side the capture lost.
    Gap(Dir, u16),
}

/// Reads an HTTP script: records of a control byte (bit 0: the server
/// sends; bit 1: a gap), a big-endian u16 length, then that many bytes
/// (none for a gap). A record cut short ends the script.
pub fn http_script(data: &[u8]) -> Vec<HttpStep> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let dir = if ctl & 1 == 0 { Dir::ClientToServer } else { Dir::ServerToClient };
        let len = u16::from_be_bytes([*hi, *lo]);
        if ctl & 2 != 0 {
            out.push(HttpStep::Gap(dir, len));
            rest = tail;
            continue;
        }
        let n = usize::from(len).min(tail.len());
        out.push(HttpStep::Data(dir, tail.get(..n).unwrap_or_default().to_vec()));
        rest = tail.get(n..).unwrap_or_default();
    }
    out
}

/// Writes an HTTP script (see [`http_script`]); long pieces become several
/// records.
pub fn http_script_bytes(steps: &[HttpStep]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            HttpStep::Data(dir, bytes) => {
                let ctl = u8::from(*dir == Dir::ServerToClient);
                for piece in bytes.chunks(usize::from(u16::MAX)) {
                    out.push(ctl);
                    out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
                    out.extend_from_slice(piece);
                }
            }
            HttpStep::Gap(dir, len) => {
                out.push(2 | u8::from(*dir == Dir::ServerToClient));
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
    }
    out
}

/// Fuzz body: an HTTP script (see [`http_script`]) through a connection
/// that recognises the protocol itself (HTTP/1, raw, h2c upgrades).
pub fn http1(data: &[u8]) {
    checked_http(Protocol::Detect, &http_script(data));
}

/// Fuzz body: an HTTP script through an HTTP/2 connection; the client's
/// connection preface is sent first, so the script starts with frames.
pub fn http2(data: &[u8]) {
    let mut steps = vec![HttpStep::Data(Dir::ClientToServer, http::PREFACE.to_vec())];
    steps.extend(http_script(data));
    checked_http(Protocol::Http2, &steps);
}

fn run_http(protocol: Protocol, steps: &[HttpStep], bytewise: bool) -> Vec<HttpEvent> {
    let mut conn = HttpConn::with_protocol(HTTP_LIMITS, protocol);
    let mut events = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (frame, ts) = (i as u64 + 1, Timestamp(i as i64));
        match step {
            HttpStep::Data(dir, bytes) if bytewise => {
                for b in bytes.chunks(1) {
                    conn.push(*dir, b, frame, ts, &mut |e| events.push(e));
                }
            }
            HttpStep::Data(dir, bytes) => {
                conn.push(*dir, bytes, frame, ts, &mut |e| events.push(e))
            }
            HttpStep::Gap(dir, len) => conn.gap(*dir, u64::from(*len), &mut |e| events.push(e)),
        }
    }
    conn.finish(&mut |e| events.push(e));
    // Nothing comes after the end.
    conn.finish(&mut |e| events.push(e));
    conn.push(Dir::ClientToServer, b"GET / HTTP/1.1\r\n\r\n", 0, Timestamp(0), &mut |e| {
        events.push(e)
    });
    merge_raw(events)
}

/// Raw events of one direction and frame merged (how a piece is split
/// changes how its raw bytes are cut, nothing else).
fn merge_raw(events: Vec<HttpEvent>) -> Vec<HttpEvent> {
    let mut out: Vec<HttpEvent> = Vec::new();
    for e in events {
        if let HttpEvent::Raw { dir, data, frame } = &e
            && let Some(HttpEvent::Raw { dir: d, data: prev, frame: f }) = out.last_mut()
            && d == dir
            && f == frame
        {
            prev.extend_from_slice(data);
            continue;
        }
        out.push(e);
    }
    out
}

/// Runs `steps` and checks what [`HttpConn`] promises: bodies and raw
/// bytes within their limits, trees that hold their invariants, frame
/// numbers that were given, and the same events whether each piece comes
/// whole or byte by byte.
pub fn checked_http(protocol: Protocol, steps: &[HttpStep]) {
    let events = run_http(protocol, steps, false);
    let frames = steps.len() as u64;
    let lim = HTTP_LIMITS;
    let mut raw = 0usize;
    for e in &events {
        match e {
            HttpEvent::Exchange(x) => {
                for b in [&x.request_body, &x.response_body] {
                    assert!(b.bytes.len() <= lim.max_body, "body over max_body");
                    assert!(b.bytes.len() as u64 <= b.len, "body bytes over its length");
                    assert!(
                        b.truncated || b.bytes.len() as u64 == b.len,
                        "short body not truncated"
                    );
                    assert!(b.missing <= b.len);
                    assert!(b.decoded.as_ref().is_none_or(|d| d.len() <= lim.max_decoded));
                }
                assert!(!x.complete || x.status.is_some(), "complete without a status");
                for f in [x.request_frame, x.response_frame, x.end_frame].into_iter().flatten() {
                    assert!(f <= frames, "frame {f} of {frames}");
                }
                let t = crate::tree::check_invariants(&x.request_tree, None);
                assert!(t.is_ok(), "request tree: {t:?}");
                let t = crate::tree::check_invariants(&x.response_tree, None);
                assert!(t.is_ok(), "response tree: {t:?}");
            }
            HttpEvent::H2Frame(f) => {
                assert!(f.first_frame <= f.frame && f.frame <= frames);
                assert_eq!(f.name, http::h2::frame_type_name(f.kind));
                let t = crate::tree::check_invariants(&f.tree, None);
                assert!(t.is_ok(), "{}: {t:?}", f.summary);
                let end = f.tree.iter().map(|t| t.span.end()).max().unwrap_or(0);
                assert!(end <= 9 + f.length, "{}: tree past the frame", f.summary);
            }
            HttpEvent::Raw { data, frame, .. } => {
                raw += data.len();
                assert!(*frame <= frames);
            }
            HttpEvent::Diagnostic(d) => {
                assert!(d.location.frame.is_none_or(|f| f <= frames));
            }
        }
    }
    assert!(raw <= lim.max_raw, "{raw} raw bytes passed");
    let bytewise = run_http(protocol, steps, true);
    assert!(events == bytewise, "events differ when fed byte by byte");
}

/// Seeds for [`http1`]: HTTP/1 conversations (keep-alive, chunked with
/// trailers, compressed bodies, HEAD, 1xx, pipelining, CONNECT, an h2c
/// upgrade, a gap) and a raw one.
pub fn http1_seeds() -> Vec<Vec<u8>> {
    let c = |b: &[u8]| HttpStep::Data(Dir::ClientToServer, b.to_vec());
    let s = |b: &[u8]| HttpStep::Data(Dir::ServerToClient, b.to_vec());
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        let _ = e.write_all(b"hello hello hello hello");
        let _ = e.finish();
    }
    let mut gz_resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    gz_resp.extend_from_slice(&gz);
    let scripts: Vec<Vec<HttpStep>> = vec![
        vec![
            c(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            c(b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\n\r\n"),
        ],
        vec![c(b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n"), s(&gz_resp)],
        vec![
            c(b"HEAD / HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\nPUT /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"),
            c(b"ab"),
            s(b"HTTP/1.0 201 Created\r\n\r\nuntil close"),
        ],
        vec![
            c(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03"),
            c(b"\x16\x03\x01"),
        ],
        vec![
            c(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"),
            s(&[&b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"[..], &h2_frame(4, 0, 0, &[]), &h2_frame(1, 4, 1, &[0x88]), &h2_frame(0, 1, 1, b"hi")].concat()),
            c(&[&http::PREFACE[..], &h2_frame(4, 0, 0, &[])].concat()),
        ],
        vec![
            c(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01"),
            HttpStep::Gap(Dir::ServerToClient, 3),
            s(b"56789"),
            HttpStep::Gap(Dir::ClientToServer, 7),
            c(b"\r\nGET /b HTTP/1.1\r\n\r\n"),
            s(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        ],
        vec![s(b"220 mail ESMTP\r\n"), c(b"EHLO x\r\n")],
    ];
    scripts.iter().map(|s| http_script_bytes(s)).collect()
}

/// An HTTP/2 frame.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Seeds for [`http2`] (the preface is added by the body): every frame
/// type, CONTINUATION, padding, push, trailers, a reset, a gap.
pub fn http2_seeds() -> Vec<Vec<u8>> {
    let mut req = Vec::new();
    hpack::encode_indexed(2, &mut req);
    hpack::encode_indexed(7, &mut req);
    hpack::encode_literal(b":path", b"/index.html", hpack::Indexing::Incremental, true, &mut req);
    hpack::encode_literal(
        b":authority",
        b"example.com",
        hpack::Indexing::Incremental,
        false,
        &mut req,
    );
    let (first, rest) = req.split_at(6);
    let mut padded = vec![2, 0x80, 0, 0, 0, 15];
    padded.extend_from_slice(first);
    padded.extend_from_slice(&[0, 0]);
    let settings = h2_frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0, 0, 3, 0, 0, 0, 100]);
    let ack = h2_frame(4, 1, 0, &[]);
    let mut resp = Vec::new();
    hpack::encode_indexed(8, &mut resp);
    hpack::encode_literal(
        b"content-type",
        b"text/plain",
        hpack::Indexing::Incremental,
        true,
        &mut resp,
    );
    let mut push = 2u32.to_be_bytes().to_vec();
    push.extend_from_slice(&req);
    let c = |b: Vec<u8>| HttpStep::Data(Dir::ClientToServer, b);
    let s = |b: Vec<u8>| HttpStep::Data(Dir::ServerToClient, b);
    let scripts: Vec<Vec<HttpStep>> = vec![
        vec![
            c([
                settings.clone(),
                h2_frame(8, 0, 0, &[0, 1, 0, 0]),
                h2_frame(1, 0x29, 1, &padded),
                h2_frame(9, 4, 1, rest),
            ]
            .concat()),
            s([
                settings.clone(),
                ack.clone(),
                h2_frame(5, 4, 1, &push),
                h2_frame(1, 4, 1, &resp),
                h2_frame(0, 0, 1, b"hello"),
                h2_frame(1, 5, 1, &[0x40, 1, b'x', 1, b'y']),
            ]
            .concat()),
            s([
                h2_frame(1, 4, 2, &[0x88]),
                h2_frame(0, 9, 2, &[3, b'a', b'b', 0, 0, 0]),
                h2_frame(3, 0, 1, &[0, 0, 0, 8]),
            ]
            .concat()),
            c([
                ack.clone(),
                h2_frame(2, 0, 3, &[0, 0, 0, 1, 9]),
                h2_frame(6, 0, 0, b"pingpong"),
                h2_frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0, b'b', b'y', b'e']),
                h2_frame(0x42, 0, 0, b"?"),
            ]
            .concat()),
        ],
        vec![
            c([settings.clone(), h2_frame(1, 5, 1, &req)].concat()),
            s([settings, h2_frame(1, 4, 1, &resp), h2_frame(0, 0, 1, &[b'z'; 40])].concat()),
            HttpStep::Gap(Dir::ServerToClient, 10),
            s(h2_frame(0, 1, 1, b"end")),
            HttpStep::Gap(Dir::ClientToServer, 4),
            c(h2_frame(6, 0, 0, b"pingpong")),
        ],
    ];
    let mut out: Vec<Vec<u8>> = scripts.iter().map(|s| http_script_bytes(s)).collect();
    // One small seed per frame type, after the client's SETTINGS.
    let empty = h2_frame(4, 0, 0, &[]);
    let one = |frames: Vec<Vec<u8>>| {
        http_script_bytes(&[HttpStep::Data(
            Dir::ClientToServer,
            [vec![empty.clone()], frames].concat().concat(),
        )])
    };
    out.extend([
        one(vec![h2_frame(0, 9, 1, &[1, b'd', 0])]),
        one(vec![h2_frame(1, 0x25, 1, &[[0, 0, 0, 0, 7].as_slice(), &req].concat())]),
        one(vec![h2_frame(2, 0, 3, &[0x80, 0, 0, 1, 255])]),
        one(vec![h2_frame(3, 0, 1, &[0, 0, 0, 1])]),
        one(vec![h2_frame(4, 0, 0, &[0, 1, 0, 0, 0, 0, 0, 5, 0, 0, 0x40, 0])]),
        one(vec![h2_frame(5, 0xc, 1, &[[1u8, 0, 0, 0, 2].as_slice(), &req, &[0]].concat())]),
        one(vec![h2_frame(6, 1, 0, b"12345678")]),
        one(vec![h2_frame(7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 1])]),
        one(vec![h2_frame(8, 0, 1, &[0, 0, 0, 0])]),
        one(vec![h2_frame(1, 0, 1, first), h2_frame(9, 0, 1, &[]), h2_frame(9, 4, 1, rest)]),
    ]);
    out
}

/// Fuzz body: HPACK. The first byte picks the agreed table size (times
/// 16); then header blocks, each a u8 length and the block. Checks: a
/// decoded block's representations tile it, the table stays within its
/// maximum and our cap, decoded fields re-encoded as plain literals
/// decode to the same list, and the Huffman decoder agrees with a
/// bit-by-bit reference on the block's bytes.
pub fn hpack(data: &[u8]) {
    let Some((&size, mut rest)) = data.split_first() else { return };
    let cap = 1024;
    let mut d = hpack::Decoder::new(cap, 4096).with_table_size(usize::from(size) * 16);
    while let [len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let block = tail.get(..n).unwrap_or_default();
        rest = tail.get(n..).unwrap_or_default();
        let mut out = Vec::new();
        let ours = hpack::huffman_decode(block, &mut out).ok().map(|_| out);
        assert_eq!(ours, huffman_reference(block), "Huffman decoders disagree");
        let Ok(b) = d.decode(block, 7) else { continue };
        assert!(d.size() <= d.max_size() && d.max_size() <= cap, "table over its limits");
        if b.dropped == 0 {
            let mut end = 7;
            for item in &b.items {
                let span = match item {
                    hpack::Item::Field(f) => f.span,
                    hpack::Item::SizeUpdate { span, .. } => *span,
                };
                assert_eq!(span.start, end, "representations do not tile the block");
                end = span.end();
            }
            assert_eq!(end as usize, 7 + block.len());
        }
        let mut again = Vec::new();
        for (i, f) in b.fields().enumerate() {
            let idx = if i % 3 == 0 { hpack::Indexing::Never } else { hpack::Indexing::Without };
            hpack::encode_literal(&f.name, &f.value, idx, i % 2 == 0, &mut again);
        }
        let re = hpack::Decoder::new(cap, 1 << 20).decode(&again, 0);
        let re = re.unwrap_or_default();
        let pairs = |b: &hpack::Block| -> Vec<(Vec<u8>, Vec<u8>)> {
            b.fields().map(|f| (f.name.clone(), f.value.clone())).collect()
        };
        assert_eq!(pairs(&re), pairs(&b), "re-encoded fields decode differently");
    }
}

/// Huffman decoding bit by bit against the code table (slow, obviously
/// right): the reference for [`hpack::huffman_decode`].
pub fn huffman_reference(src: &[u8]) -> Option<Vec<u8>> {
    // (length, code) -> symbol, straight from the table.
    static CODES: std::sync::OnceLock<HashMap<(u8, u32), usize>> = std::sync::OnceLock::new();
    let codes = CODES.get_or_init(|| {
        hpack::HUFFMAN_CODE.iter().enumerate().map(|(sym, &(c, l))| ((l, c), sym)).collect()
    });
    let mut out = Vec::new();
    let (mut code, mut len) = (0u32, 0u8);
    for byte in src {
        for i in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> i) & 1);
            len += 1;
            if len > 30 {
                return None;
            }
            if let Some(&sym) = codes.get(&(len, code)) {
                if sym == 256 {
                    return None;
                }
                out.push(sym as u8);
                (code, len) = (0, 0);
            }
        }
    }
    (len < 8 && code == (1u32 << len) - 1).then_some(out)
}

/// Seeds for [`hpack`]: the RFC 7541 Appendix C blocks, in sequence.
pub fn hpack_seeds() -> Vec<Vec<u8>> {
    let unhex = |s: &str| -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
            .collect()
    };
    let seq = |size: u8, blocks: &[&str]| -> Vec<u8> {
        let mut out = vec![size];
        for b in blocks {
            let b = unhex(b);
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
        out
    };
    let mut out = vec![
        seq(
            255,
            &[
                "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
                "040c2f73616d706c652f70617468",
                "100870617373776f726406736563726574",
                "82",
            ],
        ),
        seq(
            255,
            &[
                "828684410f7777772e6578616d706c652e636f6d",
                "828684be58086e6f2d6361636865",
                "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
            ],
        ),
        seq(
            255,
            &[
                "828684418cf1e3c2e5f23a6ba0ab90f4ff",
                "828684be5886a8eb10649cbf",
                "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
            ],
        ),
        seq(
            16,
            &[
                "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
                "4883640effc1c0bf",
                "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
            ],
        ),
    ];
    // Each block alone too, on a fresh table (most then fail on their
    // dynamic references, which is worth fuzzing as well).
    let singles: Vec<Vec<u8>> = out
        .iter()
        .flat_map(|s| {
            let mut blocks = Vec::new();
            let mut rest = s.get(1..).unwrap_or_default();
            while let [len, tail @ ..] = rest {
                let n = usize::from(*len).min(tail.len());
                let mut one = vec![255, *len];
                one.extend_from_slice(tail.get(..n).unwrap_or_default());
                blocks.push(one);
                rest = tail.get(n..).unwrap_or_default();
            }
            blocks
        })
        .collect();
    out.extend(singles);
    out
}

/// Seeds for [`http1`] (`h2` false) or [`http2`] (`h2` true) from one
/// capture's frames: each TCP connection's two streams as a script of at
/// most `max` bytes. For `http2` only connections whose client starts with
/// the connection preface are taken (the preface itself left out, as the
/// body adds it); for `http1` the others.
pub fn http_capture_seeds(frames: &[(LinkType, Vec<u8>)], h2: bool, max: usize) -> Vec<Vec<u8>> {
    #[derive(Default)]
    struct Collect {
        done: Vec<Vec<HttpStep>>,
    }
    impl StreamSink<Vec<HttpStep>> for Collect {
        fn data(&mut self, _: &ConnInfo, user: &mut Vec<HttpStep>, dir: Dir, chunk: Chunk<'_>) {
            user.push(HttpStep::Data(dir, chunk.data.to_vec()));
        }
        fn gap(
            &mut self,
            _: &ConnInfo,
            user: &mut Vec<HttpStep>,
            dir: Dir,
            _: u64,
            len: u64,
            _: u64,
        ) {
            user.push(HttpStep::Gap(dir, u16::try_from(len).unwrap_or(u16::MAX)));
        }
        fn close(&mut self, _: &ConnInfo, user: Vec<HttpStep>, _: EndReason) {
            self.done.push(user);
        }
    }
    let mut r = Reassembler::<Vec<HttpStep>>::new(Limits::default());
    let mut sink = Collect::default();
    for (i, (link, data)) in frames.iter().enumerate() {
        let f = Frame {
            number: i as u64 + 1,
            ts: Timestamp(i as i64),
            link: *link,
            data,
            orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
        };
        r.push_frame(&mut sink, &f);
    }
    r.finish_all(&mut sink);
    let mut out = Vec::new();
    for mut steps in sink.done {
        let client: Vec<u8> = steps
            .iter()
            .filter_map(|s| match s {
                HttpStep::Data(Dir::ClientToServer, b) => Some(b.as_slice()),
                _ => None,
            })
            .take(4)
            .flatten()
            .copied()
            .collect();
        if client.is_empty() || client.starts_with(http::PREFACE) != h2 {
            continue;
        }
        if h2 {
            // Drop the preface from the client's first bytes.
            let mut skip = http::PREFACE.len();
            for s in &mut steps {
                if let HttpStep::Data(Dir::ClientToServer, b) = s {
                    let n = skip.min(b.len());
                    b.drain(..n);
                    skip -= n;
                    if skip == 0 {
                        break;
                    }
                }
            }
        }
        let mut script = Vec::new();
        for s in steps {
            let bytes = http_script_bytes(&[s]);
            if script.len() + bytes.len() > max {
                break;
            }
            script.extend(bytes);
        }
        out.push(script);
    }
    out
}

/// A small xorshift generator for the pseudo-random inputs of the tests
/// (deterministic, so a failure reproduces).
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A mutation of `input` like the fuzzer's: flipped, inserted or
    /// removed bytes, a copied range, or a truncation.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let n = out.len();
            match self.below(5) {
                0 if n > 0 => {
                    let i = self.below(n);
                    if let Some(b) = out.get_mut(i) {
                        *b ^= 1 << self.below(8);
                    }
                }
                1 => {
                    let i = self.below(n + 1);
                    out.insert(i, self.next_u64() as u8);
                }
                2 if n > 0 => {
                    out.remove(self.below(n));
                }
                3 if n > 1 => {
                    let (from, to) = (self.below(n), self.below(n));
                    let len = self.below(n - from.max(to)).min(64);
                    let piece: Vec<u8> = out.get(from..from + len).unwrap_or_default().to_vec();
                    out.splice(to..to + piece.len().min(n - to), piece);
                }
                _ => out.truncate(self.below(n + 1)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn ethernet_tcp(v6: bool, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6]);
        let b = if v6 {
            b.ipv6([1; 16], [2; 16], 64)
        } else {
            b.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        };
        let b = b.tcp(40000, 443, 7, 512).ack(9).psh();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn frame_decode_seeds_decode_as_tcp_under_every_link_type() {
        for v6 in [false, true] {
            let seeds = frame_decode_seeds(LinkType::ETHERNET, &ethernet_tcp(v6, b"hello"));
            assert_eq!(seeds.len(), 10);
            for s in &seeds {
                let link = FRAME_LINK_TYPES[usize::from(s[0]) % FRAME_LINK_TYPES.len()];
                let f = Frame { number: 1, ts: Timestamp(0), link, data: &s[1..], orig_len: 0 };
                let seg = checked_decode(&f).unwrap_or_else(|| panic!("{link} (v6 {v6})"));
                assert_eq!(seg.payload, b"hello", "{link}");
                frame_decode(s);
            }
        }
    }

    #[test]
    fn frame_decode_survives_truncations_and_random_frames() {
        let mut rng = XorShift(0x5eed_f00d);
        let mut seeds = frame_decode_seeds(LinkType::ETHERNET, &ethernet_tcp(false, b"abc"));
        seeds.extend(frame_decode_seeds(LinkType::ETHERNET, &ethernet_tcp(true, &[7; 300])));
        for s in &seeds {
            for cut in 0..=s.len() {
                frame_decode(&s[..cut]);
            }
        }
        for i in 0..5000 {
            let input = if i % 2 == 0 {
                let pick = rng.below(seeds.len());
                rng.mutate(&seeds[pick])
            } else {
                let len = rng.below(120);
                rng.bytes(len)
            };
            frame_decode(&input);
        }
    }

    #[test]
    fn tcp_reassembly_seeds_reach_every_event() {
        let mut total = CheckingSink::default();
        for seed in tcp_reassembly_seeds() {
            assert_eq!(seed.len() % TCP_RECORD, 0);
            let sink = run_script(&seed, true);
            assert!(sink.opened > 0, "a seed that opens no connection");
            total.chunks += sink.chunks;
            total.gaps += sink.gaps;
            total.diagnostics += sink.diagnostics;
        }
        assert!(total.chunks > 10 && total.gaps > 0 && total.diagnostics > 0);
    }

    /// capture_read found a frame from 127.0.0.1:0 to itself: a TCP
    /// self-connection (both ends one socket) is one connection whose
    /// segments all go one way; the contract must hold for it too.
    #[test]
    fn a_connection_to_itself_keeps_the_contract() {
        let me: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut r = Reassembler::<ConnCheck>::new(TCP_LIMITS);
        let mut sink = CheckingSink::default();
        let (syn, ack) = (TcpFlags::SYN, TcpFlags::ACK | TcpFlags::PSH);
        let segs: [(u32, u8, &[u8]); 5] = [
            (1, syn, b""),
            (1, syn | ack, b""),
            (2, ack, b"ping"),
            (6, ack, b"pong"),
            (99, ack, b"?"),
        ];
        for (i, (seq, flags, payload)) in segs.into_iter().enumerate() {
            let seg = TcpSegment {
                src: me,
                dst: me,
                seq,
                ack: seq,
                flags: TcpFlags(flags),
                window: 1,
                payload,
                payload_offset: 40,
                payload_missing: 0,
            };
            let (frame, ts) = (i as u64 + 1, Timestamp(i as i64));
            sink.record_frame(frame, Some(FrameRecord::of(&seg, ts)));
            r.push(&mut sink, frame, ts, 40 + payload.len() as u32, &seg);
            sink.check_bounds(&r, &TCP_LIMITS);
        }
        r.finish_all(&mut sink);
        sink.check_finished(&r);
        assert_eq!(sink.opened, 1);
        assert!(sink.chunks >= 2);
    }

    #[test]
    fn tcp_reassembly_survives_random_scripts() {
        let mut rng = XorShift(0x00dd_ba11);
        let seeds = tcp_reassembly_seeds();
        for i in 0..4000 {
            let input = if i % 2 == 0 {
                let pick = rng.below(seeds.len());
                rng.mutate(&seeds[pick])
            } else {
                // Random records, but mostly small relative numbers so the
                // segments land near the stream.
                let mut s = Vec::new();
                for _ in 0..rng.below(40) {
                    let mut rec = rng.bytes(TCP_RECORD);
                    if rng.below(4) != 0 {
                        rec[0] &= !0x18;
                        let rel = (rng.below(200) as i32 - 100) as u32;
                        rec[2..6].copy_from_slice(&rel.to_be_bytes());
                        rec[6..10].copy_from_slice(&(rng.below(64) as u32).to_be_bytes());
                        rec[11] &= 0xc0 | rng.below(2) as u8;
                    }
                    s.extend(rec);
                }
                s
            };
            tcp_reassembly(&input);
        }
    }
    #[test]
    fn http_scripts_round_trip() {
        let steps = vec![
            HttpStep::Data(Dir::ClientToServer, b"abc".to_vec()),
            HttpStep::Gap(Dir::ServerToClient, 300),
            HttpStep::Data(Dir::ServerToClient, vec![7; 70_000]),
        ];
        let bytes = http_script_bytes(&steps);
        let back = http_script(&bytes);
        assert_eq!(back.len(), 4, "the long piece is two records");
        assert_eq!(back[0], steps[0]);
        assert_eq!(back[1], steps[1]);
        // A record cut short still gives what it has.
        assert_eq!(
            http_script(&bytes[..5]),
            vec![HttpStep::Data(Dir::ClientToServer, b"ab".to_vec())]
        );
    }

    #[test]
    fn http_seeds_reach_exchanges_frames_and_raw() {
        let (mut exchanges, mut frames, mut raw, mut gaps) = (0, 0, 0, 0);
        for (protocol, seeds) in
            [(Protocol::Detect, http1_seeds()), (Protocol::Http2, http2_seeds())]
        {
            for seed in &seeds {
                let mut steps = http_script(seed);
                if protocol == Protocol::Http2 {
                    steps.insert(
                        0,
                        HttpStep::Data(Dir::ClientToServer, crate::http::PREFACE.to_vec()),
                    );
                }
                for e in run_http(protocol, &steps, false) {
                    match e {
                        HttpEvent::Exchange(_) => exchanges += 1,
                        HttpEvent::H2Frame(_) => frames += 1,
                        HttpEvent::Raw { .. } => raw += 1,
                        HttpEvent::Diagnostic(d) if d.code.ends_with("gap") => gaps += 1,
                        HttpEvent::Diagnostic(_) => {}
                    }
                }
            }
        }
        assert!(
            exchanges >= 12 && frames >= 20 && raw >= 3 && gaps >= 3,
            "{exchanges} {frames} {raw} {gaps}"
        );
    }

    #[test]
    fn http_bodies_survive_truncations_and_mutations() {
        let mut rng = XorShift(0x4177_9000);
        for (body, seeds) in [(http1 as fn(&[u8]), http1_seeds()), (http2, http2_seeds())] {
            for s in &seeds {
                for cut in (0..=s.len()).step_by(7) {
                    body(&s[..cut]);
                }
            }
            for _ in 0..1500 {
                let pick = rng.below(seeds.len());
                let mut input = rng.mutate(&seeds[pick]);
                if rng.below(3) == 0 {
                    input = rng.mutate(&input);
                }
                body(&input);
            }
        }
    }

    #[test]
    fn hpack_body_survives_seeds_and_mutations() {
        let seeds = hpack_seeds();
        for s in &seeds {
            hpack(s);
            for cut in 0..=s.len() {
                hpack(&s[..cut]);
            }
        }
        let mut rng = XorShift(0x4a11_5eed);
        for i in 0..5000 {
            let input = if i % 2 == 0 {
                let pick = rng.below(seeds.len());
                rng.mutate(&seeds[pick])
            } else {
                let len = rng.below(64);
                rng.bytes(len)
            };
            hpack(&input);
        }
    }

    #[test]
    fn http_capture_seeds_come_from_real_captures() {
        // A capture of its own: one HTTP/1 and one HTTP/2 connection.
        let seg = |sport: u16, seq: u32, payload: &[u8]| -> (LinkType, Vec<u8>) {
            let b = PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(sport, 80, seq, 512)
                .psh();
            let mut out = Vec::new();
            b.write(&mut out, payload).unwrap();
            (LinkType::ETHERNET, out)
        };
        let mut h2 = crate::http::PREFACE.to_vec();
        h2.extend(h2_frame(4, 0, 0, &[]));
        let frames = vec![seg(40000, 1, b"GET / HTTP/1.1\r\n\r\n"), seg(40001, 1, &h2)];
        let one = http_capture_seeds(&frames, false, 4096);
        assert_eq!(one.len(), 1);
        assert!(
            matches!(&http_script(&one[0])[0], HttpStep::Data(_, b) if b.starts_with(b"GET /"))
        );
        let two = http_capture_seeds(&frames, true, 4096);
        assert_eq!(two.len(), 1);
        assert_eq!(
            http_script(&two[0])[0],
            HttpStep::Data(Dir::ClientToServer, h2_frame(4, 0, 0, &[]))
        );
    }
}
