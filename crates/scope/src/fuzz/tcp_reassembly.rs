//! `tcp_reassembly`: a script of synthetic TCP segments through a
//! reassembler with small limits, watched by a checking sink.

use super::*;

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
    pub(super) id: Option<u64>,
    /// Stream offset the next chunk or gap must start at.
    pub(super) next: PerDir<u64>,
    /// Bytes delivered, gap bytes and gaps.
    pub(super) delivered: PerDir<u64>,
    pub(super) gap_bytes: PerDir<u64>,
    pub(super) gaps: PerDir<u64>,
    /// `end_of_stream` seen.
    pub(super) ended: PerDir<bool>,
    /// Sequence number of stream offset 0, as implied by the first chunk.
    pub(super) base: PerDir<Option<u32>>,
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
    pub(super) frames: HashMap<u64, FrameRecord>,
    /// Highest frame number pushed so far.
    pub(super) last_frame: u64,
    pub(super) opened: u64,
    pub(super) closed: HashSet<u64>,
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

    pub(super) fn live(&self, info: &ConnInfo, user: &ConnCheck, what: &str) {
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

/// The limits [`tcp_reassembly()`] runs with: small, so that inputs of a few
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

/// Bytes per segment record in a [`tcp_reassembly()`] input.
pub const TCP_RECORD: usize = 12;

/// The 4-tuples the script chooses from: two connections sharing a server
/// port, one over IPv6, and one between two high ports (roles guessed).
pub(super) fn tuple(i: usize) -> (SocketAddr, SocketAddr) {
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
pub(super) const START_SEQ: [[u32; 2]; 4] =
    [[1000, 5000], [2000, u32::MAX - 300], [7, 9], [0x8000_0000, 42]];

/// Time between frames, chosen by 3 bits of a record: mostly small, one
/// step past [`TCP_LIMITS`]'s linger, one backwards (captures merged from
/// several sources are not always in time order).
pub(super) const TIME_STEPS_NS: [i64; 8] =
    [0, 1_000, 1_000_000, 1_000_000, 100_000_000, 1_000_000_000, 11_000_000_000, -1_000_000_000];

/// Bytes a segment carries at sequence number `seq`: a pattern, so that
/// retransmissions of the same range are byte-identical unless the record
/// asks for a conflicting copy.
pub(super) fn pattern(seq: u32) -> u8 {
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

/// Builds [`tcp_reassembly()`] inputs. Each segment is a 12-byte record:
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

/// [`tcp_reassembly()`] one way (`in_file`: payloads handed as slices of one
/// buffer the reassembler is told about), returning the sink to look at
/// what happened.
pub(super) fn run_script(data: &[u8], in_file: bool) -> CheckingSink {
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
        let start = bytes.start;
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
        let (at, file) = if in_file { (Some(start as u64), &file[..]) } else { (None, none) };
        r.push_in(&mut sink, frame, ts, frame_len, &seg, at, file);
        sink.check_bounds(&r, &limits);
    }
    r.finish_all(&mut sink);
    sink.check_finished(&r);
    sink
}

/// Hand-made [`tcp_reassembly()`] inputs, one per behaviour the reassembler
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
