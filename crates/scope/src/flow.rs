//! TCP connections and stream reassembly, per connection and direction.
//!
//! [`Reassembler::push`] takes decoded TCP segments in capture order and
//! hands each direction's byte stream, in order and exactly once, to a
//! [`StreamSink`]: in-order payload is passed as a borrow of the frame (no
//! copy); only segments that arrive ahead of a hole are copied and held
//! until the hole fills. Every chunk carries the frame it came from and its
//! offset in that frame, so the layers above can map any stream byte back to
//! (frame number, offset in frame).
//!
//! What it handles: client and server from SYN / SYN-ACK (a guess by port
//! when the capture starts mid-connection), 32-bit sequence wrap-around
//! (streams are addressed by 64-bit offsets), out-of-order segments,
//! retransmissions and overlaps (the first copy wins; differing bytes are
//! counted as conflicts), holes (declared as gaps once the peer has
//! acknowledged past them, a limit is hit, or the connection ends), FIN and
//! RST, and port reuse (a SYN with a new initial sequence number on a known
//! 4-tuple starts a new connection).
//!
//! Memory is bounded by open connections: every buffer has a named limit in
//! [`Limits`], and hitting one turns the pending hole into a gap with a
//! diagnostic instead of growing. Nothing here panics on any input.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;

use crate::budget::{Budget, Cut, ITEM_COST, Lease};
use crate::diag::{Diagnostic, Location, Severity};
use crate::frame::{DecodeError, Decoded, Frame, LinkType, TcpSegment, decode};
use crate::time::Timestamp;

/// Buffering limits. Each exists so that a hostile or broken capture can
/// neither exhaust memory nor stall the output.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Out-of-order bytes held per direction of a connection while waiting
    /// for a hole to fill. Real reordering spans a few segments; a hole that
    /// needs more than this to be waited out is treated as lost.
    pub max_buffered_per_direction: usize,
    /// Separate out-of-order segments held per direction (each is a hole's
    /// worth of bookkeeping).
    pub max_segments_per_direction: usize,
    /// Out-of-order bytes held across all connections.
    pub max_buffered_total: usize,
    /// Connections tracked at once. Past it, the longest-idle connections
    /// are ended early (and reported) to make room.
    pub max_connections: usize,
    /// Frames of a connection to wait, after the peer acknowledged data we
    /// never saw, before declaring it lost: captures taken on several CPUs
    /// can record a segment a little after its acknowledgement.
    pub reorder_frames: u32,
    /// How long (capture time) a closed connection is kept so that late
    /// retransmissions and final ACKs still count towards it.
    pub closed_linger_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_buffered_per_direction: 4 << 20,
            max_segments_per_direction: 1024,
            max_buffered_total: 48 << 20,
            max_connections: 200_000,
            reorder_frames: 16,
            closed_linger_ns: 10_000_000_000,
        }
    }
}

/// A direction within a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From the client (the side that sent the SYN) to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Dir {
    /// 0 for client-to-server, 1 for server-to-client.
    pub fn index(self) -> usize {
        match self {
            Dir::ClientToServer => 0,
            Dir::ServerToClient => 1,
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }

    /// `client` or `server`: who sends in this direction.
    pub fn sender(self) -> &'static str {
        match self {
            Dir::ClientToServer => "client",
            Dir::ServerToClient => "server",
        }
    }
}

/// A value per direction, indexed by [`Dir`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerDir<T>(pub [T; 2]);

impl<T> std::ops::Index<Dir> for PerDir<T> {
    type Output = T;
    fn index(&self, dir: Dir) -> &T {
        match dir {
            Dir::ClientToServer => &self.0[0],
            Dir::ServerToClient => &self.0[1],
        }
    }
}

impl<T> std::ops::IndexMut<Dir> for PerDir<T> {
    fn index_mut(&mut self, dir: Dir) -> &mut T {
        match dir {
            Dir::ClientToServer => &mut self.0[0],
            Dir::ServerToClient => &mut self.0[1],
        }
    }
}

/// How the client/server roles of a connection were decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roles {
    /// From the SYN (or SYN-ACK) in the capture.
    Handshake,
    /// Guessed: the capture starts after the handshake. The side with the
    /// lower (service-like) port is taken as the server.
    Guessed,
}

/// Counters for one direction of a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HalfStats {
    /// Frames sent in this direction (every frame, as tshark's conv,tcp counts).
    pub frames: u64,
    /// Bytes of those frames on the wire (frame length), as tshark counts.
    pub bytes: u64,
    /// Distinct stream bytes delivered in order (no retransmitted copies).
    pub payload_bytes: u64,
    /// Segments that carried only bytes already seen, or partly so.
    pub retransmissions: u64,
    /// Retransmitted bytes that differ from the first copy (kept).
    pub conflicting_bytes: u64,
    /// Holes declared lost.
    pub gaps: u64,
    /// Bytes in those holes.
    pub gap_bytes: u64,
}

/// What the layers above know of a connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Connection number, from 0 in order of first frame (tshark's `tcp.stream`).
    pub id: u64,
    /// The side that sent the SYN (or the guessed client).
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// How the roles were decided.
    pub roles: Roles,
    /// First frame of the connection.
    pub first_frame: u64,
    /// Time of the first frame.
    pub start: Timestamp,
    /// Time of the latest frame.
    pub last: Timestamp,
    /// The latest frame.
    pub last_frame: u64,
    /// Counters per direction.
    pub stats: PerDir<HalfStats>,
    /// A FIN was seen in each direction.
    pub fin: PerDir<bool>,
    /// An RST was seen.
    pub rst: bool,
}

impl ConnInfo {
    /// The address that sends in `dir`.
    pub fn sender(&self, dir: Dir) -> SocketAddr {
        match dir {
            Dir::ClientToServer => self.client,
            Dir::ServerToClient => self.server,
        }
    }
}

/// A piece of a reassembled stream, in order.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// Offset of `data` in the direction's stream (0 = first byte after SYN).
    pub offset: u64,
    /// The bytes.
    pub data: &'a [u8],
    /// The frame they were captured in.
    pub frame: u64,
    /// Where `data` starts in that frame.
    pub frame_offset: u32,
    /// When that frame was captured.
    pub ts: Timestamp,
    /// Where `data` lies in the capture file, when the bytes are the
    /// frame's own as read from a file (not a copy the reassembler held).
    pub file_offset: Option<u64>,
}

/// Why a connection is reported as ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Closed (FIN/RST) and no more frames for a while, or its 4-tuple was
    /// reused by a new connection.
    Closed,
    /// The input ended.
    EndOfInput,
    /// Evicted to stay within [`Limits::max_connections`].
    Evicted,
}

/// Receives what the reassembler produces. `U` is the per-connection state
/// the consumer keeps (the reassembler stores it beside the connection, so
/// no second lookup is needed).
pub trait StreamSink<U> {
    /// A new connection was seen.
    fn open(&mut self, _info: &ConnInfo, _user: &mut U) {}
    /// In-order stream bytes.
    fn data(&mut self, info: &ConnInfo, user: &mut U, dir: Dir, chunk: Chunk<'_>);
    /// `len` bytes from `offset` are missing from the capture; the stream
    /// goes on at `offset + len`. `frame` is where the loss was decided.
    fn gap(&mut self, info: &ConnInfo, user: &mut U, dir: Dir, offset: u64, len: u64, frame: u64);
    /// The direction ended with a FIN (after all its data) or an RST.
    fn end_of_stream(&mut self, _info: &ConnInfo, _user: &mut U, _dir: Dir) {}
    /// The connection is done; nothing more will come for it.
    fn close(&mut self, info: &ConnInfo, user: U, reason: EndReason);
    /// Whether the consumer reported everything about a connection already
    /// (when both directions ended) and wants nothing more of it. Asked
    /// when the connection closes: if so, its state is dropped at once and
    /// `close` is not called for it, so that connections waiting out
    /// [`Limits::closed_linger_ns`] cost a few hundred bytes each instead
    /// of the whole per-connection state.
    fn user_done(&self, _user: &U) -> bool {
        false
    }
    /// A problem worth reporting.
    fn diagnostic(&mut self, _diag: Diagnostic) {}
    /// Whether what a connection holds is given back by the time `close`
    /// returns: only then does the reassembler end connections for the
    /// memory budget (a sink whose connections are analysed on other
    /// threads ends its own).
    fn frees_at_once(&self) -> bool {
        true
    }
}

/// A connection key independent of direction: the two endpoints, ordered,
/// as plain integers (an IPv4 address in the low 32 bits, with `v6` telling
/// the families apart). Hashing and comparing it is a few word operations:
/// it is computed for every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    lo: u128,
    hi: u128,
    /// Port of `lo` in the high half, port of `hi` in the low half.
    ports: u32,
    v6: bool,
}

fn endpoint(a: &SocketAddr) -> (u128, u16, bool) {
    match a {
        SocketAddr::V4(v4) => (u128::from(v4.ip().to_bits()), v4.port(), false),
        SocketAddr::V6(v6) => (v6.ip().to_bits(), v6.port(), true),
    }
}

impl Key {
    fn new(a: SocketAddr, b: SocketAddr) -> Self {
        let (a_ip, a_port, a6) = endpoint(&a);
        let (b_ip, b_port, b6) = endpoint(&b);
        let ((lo, lo_port), (hi, hi_port)) = if (a_ip, a_port) <= (b_ip, b_port) {
            ((a_ip, a_port), (b_ip, b_port))
        } else {
            ((b_ip, b_port), (a_ip, a_port))
        };
        Key { lo, hi, ports: (u32::from(lo_port) << 16) | u32::from(hi_port), v6: a6 || b6 }
    }
}

/// A segment held because it arrived ahead of a hole.
struct Pending {
    data: Vec<u8>,
    frame: u64,
    frame_offset: u32,
    ts: Timestamp,
}

/// How many recently delivered segments are remembered (by hash, or by
/// where their bytes lie in the capture) to check retransmissions for
/// changed bytes. Older retransmissions are counted but not compared.
const RECENT: usize = 8;

#[derive(Clone, Copy, Default)]
struct Recent {
    start: u64,
    len: u32,
    first: FirstCopy,
}

/// How a delivered segment's bytes are found again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum FirstCopy {
    /// Not remembered (an empty slot).
    #[default]
    None,
    /// By a checksum of them ([`hash`]).
    Sum(u64),
    /// Where they lie in the capture file the caller keeps whole in memory
    /// (see [`Reassembler::push_frame_in`]): they are compared themselves,
    /// and none is read on the way.
    InFile(usize),
}

/// One direction's reassembly state.
#[derive(Default)]
struct Half {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// The SYN's sequence number, when the SYN was seen.
    isn: Option<u32>,
    /// Next stream offset to deliver.
    next: u64,
    /// Out-of-order segments by stream offset.
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_at: Option<u64>,
    ended: bool,
    /// Highest offset the peer acknowledged, in this direction's space.
    acked: Option<u64>,
    /// Connection frame count when the peer first acknowledged past a hole.
    hole_acked_since: Option<u64>,
    recent: [Recent; RECENT],
    recent_pos: usize,
}

/// A connection still carrying data.
struct Conn<U> {
    info: ConnInfo,
    halves: PerDir<Half>,
    user: U,
    /// Frames seen on this connection (for the reorder window).
    frames: u64,
}

/// A closed connection (both directions ended, or reset) waiting out
/// [`Limits::closed_linger_ns`] so that late retransmissions and final ACKs
/// still count towards it. Only its counters are kept: nothing it carries
/// is delivered any more.
struct Closed<U> {
    info: ConnInfo,
    /// The client's initial sequence number, to tell a retransmitted SYN
    /// from a new connection on the same 4-tuple.
    client_isn: Option<u32>,
    /// The consumer's state; None if it said it was done with the
    /// connection (then `close` is not called).
    user: Option<Box<U>>,
}

/// A tracked connection. Both kinds are boxed so that the table holds a
/// pointer per connection, not the whole state: the table's capacity
/// doubles as it grows, and empty slots should cost little.
enum Slot<U> {
    Open(Box<Conn<U>>),
    Closed(Box<Closed<U>>),
}

impl<U> Slot<U> {
    fn info(&self) -> &ConnInfo {
        match self {
            Slot::Open(c) => &c.info,
            Slot::Closed(c) => &c.info,
        }
    }
}

/// TCP reassembly over all connections of a capture.
pub struct Reassembler<U> {
    limits: Limits,
    conns: HashMap<Key, Slot<U>, foldhash::fast::RandomState>,
    next_id: u64,
    buffered_total: usize,
    /// Closed connections in order of closing, for lingering eviction.
    closed: VecDeque<(Timestamp, Key, u64)>,
    frames_seen: u64,
    eviction_warned: bool,
    /// Link types no frame of which can be decoded: (link type, first
    /// frame, frames). Said once each, with the count at the end, not once
    /// per frame (a whole file of them would repeat one line).
    unsupported_links: Vec<(LinkType, u64, u64)>,
    /// Held segments and the connection table, against the run's memory
    /// budget.
    held: Lease,
}

impl<U: Default> Default for Reassembler<U> {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// A checksum of a delivered segment, to tell whether a later
/// retransmission of it carries the same bytes. Computed over every
/// delivered byte, so it must run at memory speed: Fletcher-style sums over
/// 64-bit words in four independent lanes (the compiler vectorises them),
/// position-dependent through the second sum. Not a cryptographic hash: a
/// collision only means a changed retransmission goes uncounted.
fn hash(data: &[u8]) -> u64 {
    let mut a = [0u64; 4];
    let mut b = [0u64; 4];
    let mut blocks = data.chunks_exact(32);
    for block in &mut blocks {
        for ((w, a), b) in block.chunks_exact(8).zip(&mut a).zip(&mut b) {
            let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
            *a = a.wrapping_add(w);
            *b = b.wrapping_add(*a);
        }
    }
    let mut tail = [0u8; 32];
    let rest = blocks.remainder();
    for (t, r) in tail.iter_mut().zip(rest) {
        *t = *r;
    }
    for ((w, a), b) in tail.chunks_exact(8).zip(&mut a).zip(&mut b) {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        *a = a.wrapping_add(w);
        *b = b.wrapping_add(*a);
    }
    let mut h = data.len() as u64;
    for (x, y) in a.iter().zip(&b) {
        h = (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ y;
    }
    h.wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// Maps a 32-bit sequence number to the 64-bit stream offset closest to `near`.
fn unwrap_seq(base: u32, seq: u32, near: u64) -> Option<u64> {
    let rel = u64::from(seq.wrapping_sub(base));
    let epoch = near & !0xffff_ffff;
    let candidates = [
        epoch.checked_sub(1 << 32).map(|e| e | rel),
        Some(epoch | rel),
        epoch.checked_add(1 << 32).map(|e| e | rel),
    ];
    candidates.into_iter().flatten().min_by_key(|c| c.abs_diff(near))
}

/// Ports that identify a server when the handshake is not in the capture.
fn service_rank(port: u16) -> u32 {
    match port {
        443 | 8443 | 80 | 8080 | 853 | 993 | 995 | 465 | 587 | 636 | 990 | 5061 | 6443 => 0,
        p if p < 1024 => 1,
        p => u32::from(p) + 2,
    }
}

impl<U: Default> Reassembler<U> {
    /// A reassembler with the given limits.
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            conns: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            next_id: 0,
            buffered_total: 0,
            closed: VecDeque::new(),
            frames_seen: 0,
            eviction_warned: false,
            unsupported_links: Vec::new(),
            held: Lease::default(),
        }
    }

    /// Counts held segments against `budget`, and ends the longest-idle
    /// connections early when the run holds more than it allows.
    pub fn with_budget(mut self, budget: &Budget) -> Self {
        self.held = budget.lease();
        self
    }

    /// Brings the count up to date and, when the run holds more than the
    /// budget allows, ends the longest-idle connections (reported as they
    /// stand) until it is [settled](Budget::settled) again. Only when the
    /// sink gives a connection's memory back by the time it is closed
    /// ([`StreamSink::frees_at_once`]); otherwise the sink ends its own.
    fn mind_budget<S: StreamSink<U>>(&mut self, sink: &mut S, now: Timestamp) {
        if self.held.budget().limit().is_none() {
            return;
        }
        let per_conn = std::mem::size_of::<Conn<()>>().saturating_add(ITEM_COST);
        self.held
            .set(self.buffered_total.saturating_add(self.conns.len().saturating_mul(per_conn)));
        if !self.held.budget().over() || !sink.frees_at_once() {
            return;
        }
        let budget = self.held.budget().clone();
        // Sorted once for the batch: longest idle first, ties by number
        // (the table's order is random, and the output must not be).
        let mut by_idle: Vec<(Timestamp, u64, Key)> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, Slot::Open(_)))
            .map(|(k, c)| (c.info().last, c.info().id, *k))
            .collect();
        by_idle.sort_unstable_by_key(|(t, id, _)| (*t, *id));
        // The connection of this frame goes last, if at all.
        for (_, id, key) in by_idle.into_iter().take(self.conns.len().saturating_sub(1)) {
            if budget.settled() {
                break;
            }
            if budget.cut_connection() {
                sink.diagnostic(budget.connection_cut_diagnostic(id, now));
            }
            if let Some(slot) = self.conns.remove(&key) {
                self.finish(sink, slot, EndReason::Evicted);
            }
            self.held
                .set(self.buffered_total.saturating_add(self.conns.len().saturating_mul(per_conn)));
        }
    }

    /// Connections currently tracked (closed ones still lingering included).
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Out-of-order bytes currently held, over all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_total
    }

    /// Feeds one TCP segment from frame `frame` (1-based) captured at `ts`,
    /// whose length on the wire was `frame_len`.
    pub fn push<S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        frame: u64,
        ts: Timestamp,
        frame_len: u32,
        seg: &TcpSegment<'_>,
    ) {
        self.push_in(sink, frame, ts, frame_len, seg, None, &[]);
    }

    /// [`Reassembler::push`] of a segment whose payload lies at
    /// `payload_at` in the capture file, which the caller may hold whole in
    /// `file` (see [`Reassembler::push_frame_in`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_in<S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        frame: u64,
        ts: Timestamp,
        frame_len: u32,
        seg: &TcpSegment<'_>,
        payload_at: Option<u64>,
        file: &[u8],
    ) {
        self.frames_seen = self.frames_seen.saturating_add(1);
        self.expire_closed(sink, ts);
        let key = Key::new(seg.src, seg.dst);
        let is_new_syn = seg.flags.syn() && !seg.flags.ack();

        // Port reuse: a SYN that is not a retransmission of this
        // connection's SYN starts a new connection on the same 4-tuple.
        if is_new_syn {
            let reuse = match self.conns.get(&key) {
                None => false,
                Some(Slot::Closed(c)) => {
                    !(c.info.client == seg.src && c.client_isn == Some(seg.seq))
                }
                Some(Slot::Open(c)) => {
                    let same_client = c.info.client == seg.src;
                    let client_isn = c.halves[Dir::ClientToServer].isn;
                    !(same_client && client_isn == Some(seg.seq))
                        && (client_isn.is_some()
                            || c.info.stats.0.iter().any(|s| s.payload_bytes > 0))
                }
            };
            if reuse && let Some(old) = self.conns.remove(&key) {
                self.finish(sink, old, EndReason::Closed);
            }
        }

        if self.conns.len() >= self.limits.max_connections && !self.conns.contains_key(&key) {
            self.evict_idle(sink, ts);
        }
        // One hash lookup per segment: the entry either exists or is made.
        let limits = self.limits;
        let slot = match self.conns.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let (client, server, roles) = if seg.flags.syn() && !seg.flags.ack() {
                    (seg.src, seg.dst, Roles::Handshake)
                } else if seg.flags.syn() {
                    (seg.dst, seg.src, Roles::Handshake)
                } else if service_rank(seg.src.port()) < service_rank(seg.dst.port()) {
                    (seg.dst, seg.src, Roles::Guessed)
                } else {
                    (seg.src, seg.dst, Roles::Guessed)
                };
                let info = ConnInfo {
                    id: self.next_id,
                    client,
                    server,
                    roles,
                    first_frame: frame,
                    start: ts,
                    last: ts,
                    last_frame: frame,
                    stats: PerDir::default(),
                    fin: PerDir::default(),
                    rst: false,
                };
                self.next_id = self.next_id.saturating_add(1);
                let slot = v.insert(Slot::Open(Box::new(Conn {
                    info,
                    halves: Default::default(),
                    user: U::default(),
                    frames: 0,
                })));
                if let Slot::Open(conn) = slot {
                    sink.open(&conn.info, &mut conn.user);
                }
                slot
            }
        };
        let conn = match slot {
            Slot::Open(conn) => conn,
            Slot::Closed(c) => {
                // Lingering: the frame only counts. (An ended direction
                // delivers nothing, so there is no stream state to update.)
                let dir = if seg.src == c.info.client {
                    Dir::ClientToServer
                } else {
                    Dir::ServerToClient
                };
                count_frame(&mut c.info, dir, frame, ts, frame_len);
                c.info.rst |= seg.flags.rst();
                if seg.flags.fin() {
                    c.info.fin[dir] = true;
                }
                return;
            }
        };
        let dir =
            if seg.src == conn.info.client { Dir::ClientToServer } else { Dir::ServerToClient };
        conn.frames = conn.frames.saturating_add(1);
        count_frame(&mut conn.info, dir, frame, ts, frame_len);

        let mut state = PushState {
            total: &mut self.buffered_total,
            limits: &limits,
            budget: self.held.budget(),
            file,
            payload_at,
            payload_offset: seg.payload_offset,
        };
        state.segment(sink, conn, dir, frame, ts, seg);
        if Self::is_closed(conn) {
            // Closed: what is still held becomes gaps and data now (an RST
            // can close a connection before a direction saw its data), as
            // the end of input would do; nothing is delivered after this.
            for d in [Dir::ClientToServer, Dir::ServerToClient] {
                state.flush(sink, conn, d, frame);
            }
            let id = conn.info.id;
            if let Some(Slot::Open(conn)) = self.conns.remove(&key) {
                let conn = *conn;
                let user = (!sink.user_done(&conn.user)).then(|| Box::new(conn.user));
                let client_isn = conn.halves[Dir::ClientToServer].isn;
                let closed = Closed { info: conn.info, client_isn, user };
                self.conns.insert(key, Slot::Closed(Box::new(closed)));
                self.closed.push_back((ts, key, id));
            }
        }
        self.mind_budget(sink, ts);
    }

    /// Decodes a captured frame and feeds its TCP segment, if it has one.
    /// Frames that cannot be decoded become diagnostics; frames that are
    /// not TCP are skipped. Returns whether the frame held a TCP segment.
    pub fn push_frame<S: StreamSink<U>>(&mut self, sink: &mut S, frame: &Frame<'_>) -> bool {
        self.push_frame_in(sink, frame, &[])
    }

    /// [`Reassembler::push_frame`] of a frame whose bytes lie in `file`, the
    /// whole capture file in memory (mapped): the bytes a retransmission
    /// is compared with are then found in it instead of being summed as
    /// they are delivered. The same `file` for every frame.
    pub fn push_frame_in<S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        frame: &Frame<'_>,
        file: &[u8],
    ) -> bool {
        match decode(frame) {
            Ok(Decoded::Tcp(seg)) => {
                let payload_at =
                    frame.file_offset.and_then(|f| f.checked_add(u64::from(seg.payload_offset)));
                self.push_in(sink, frame.number, frame.ts, frame.orig_len, &seg, payload_at, file);
                true
            }
            Ok(Decoded::Other) => false,
            Ok(Decoded::IpFragment) => {
                sink.diagnostic(Diagnostic::new(
                    Severity::Warning,
                    "ip.fragment",
                    Location::frame(frame.number),
                    "IP fragment: fragmented datagrams are not reassembled; this frame is skipped",
                ));
                false
            }
            Err(DecodeError::UnsupportedLinkType(link)) => {
                if let Some(seen) = self.unsupported_links.iter_mut().find(|(l, ..)| *l == link) {
                    seen.2 = seen.2.saturating_add(1);
                } else if self.unsupported_links.len() < 16 {
                    self.unsupported_links.push((link, frame.number, 1));
                    sink.diagnostic(Diagnostic::new(
                        Severity::Warning,
                        "frame.linktype",
                        Location::frame(frame.number),
                        format!(
                            "unsupported link type {link}: its frames are skipped (supported: \
                             Ethernet, Linux cooked SLL and SLL2, raw IPv4/IPv6, BSD loopback)"
                        ),
                    ));
                }
                false
            }
            Err(e) => {
                let mut loc = Location::frame(frame.number);
                if let DecodeError::Malformed { offset, .. } = &e {
                    loc.frame_offset = Some(*offset);
                }
                let code = match e {
                    DecodeError::UnsupportedLinkType(_) => "frame.linktype",
                    DecodeError::Malformed { .. } => "frame.malformed",
                };
                sink.diagnostic(Diagnostic::new(Severity::Warning, code, loc, e.to_string()));
                false
            }
        }
    }

    fn is_closed(conn: &Conn<U>) -> bool {
        conn.info.rst || (conn.halves.0.iter().all(|h| h.ended))
    }

    /// Ends every connection (end of input): holes become gaps, buffered
    /// data is delivered, and each connection is closed.
    pub fn finish_all<S: StreamSink<U>>(&mut self, sink: &mut S) {
        // Sort the keys, not the connections: those are large to move.
        let mut order: Vec<(u64, Key)> =
            self.conns.iter().map(|(k, c)| (c.info().id, *k)).collect();
        order.sort_unstable_by_key(|(id, _)| *id);
        for (_, key) in order {
            if let Some(slot) = self.conns.remove(&key) {
                self.finish(sink, slot, EndReason::EndOfInput);
            }
        }
        self.closed.clear();
        for (link, first, n) in self.unsupported_links.drain(..) {
            if n > 1 {
                sink.diagnostic(Diagnostic::new(
                    Severity::Warning,
                    "frame.linktype",
                    Location::frame(first),
                    format!("{n} frames of unsupported link type {link} were skipped, from frame {first} on"),
                ));
            }
        }
    }

    fn finish<S: StreamSink<U>>(&mut self, sink: &mut S, slot: Slot<U>, reason: EndReason) {
        match slot {
            Slot::Open(mut conn) => {
                let limits = self.limits;
                let budget = self.held.budget().clone();
                let mut state = PushState {
                    total: &mut self.buffered_total,
                    limits: &limits,
                    budget: &budget,
                    file: &[],
                    payload_at: None,
                    payload_offset: 0,
                };
                for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                    let last_frame = conn.info.last_frame;
                    state.flush(sink, &mut conn, dir, last_frame);
                }
                let conn = *conn;
                sink.close(&conn.info, conn.user, reason);
            }
            Slot::Closed(c) => {
                let c = *c;
                if let Some(user) = c.user {
                    sink.close(&c.info, *user, reason);
                }
            }
        }
    }

    fn expire_closed<S: StreamSink<U>>(&mut self, sink: &mut S, now: Timestamp) {
        while let Some(&(at, key, id)) = self.closed.front() {
            if now.0.saturating_sub(at.0) < self.limits.closed_linger_ns {
                break;
            }
            self.closed.pop_front();
            if self.conns.get(&key).is_some_and(|c| c.info().id == id)
                && let Some(slot) = self.conns.remove(&key)
            {
                self.finish(sink, slot, EndReason::Closed);
            }
        }
    }

    /// Makes room in the connection table: ends the longest-idle quarter.
    fn evict_idle<S: StreamSink<U>>(&mut self, sink: &mut S, now: Timestamp) {
        // Ties (the same last frame time) go by connection number: the
        // table's order is random, and the output must not be.
        let mut by_idle: Vec<(Timestamp, u64, Key)> =
            self.conns.iter().map(|(k, c)| (c.info().last, c.info().id, *k)).collect();
        by_idle.sort_unstable_by_key(|(t, id, _)| (*t, *id));
        let n = (by_idle.len() / 4).max(1);
        if !self.eviction_warned {
            self.eviction_warned = true;
            sink.diagnostic(Diagnostic::new(
                Severity::Warning,
                "tcp.limit.connections",
                Location::default(),
                format!(
                    "more than {} TCP connections open at once (at capture time {now}); \
                     ending the longest-idle ones early",
                    self.limits.max_connections
                ),
            ));
        }
        for (_, _, key) in by_idle.into_iter().take(n) {
            if let Some(slot) = self.conns.remove(&key) {
                self.finish(sink, slot, EndReason::Evicted);
            }
        }
    }
}

/// Counts a frame towards its connection and direction.
fn count_frame(info: &mut ConnInfo, dir: Dir, frame: u64, ts: Timestamp, frame_len: u32) {
    info.last = ts;
    info.last_frame = frame;
    let st = &mut info.stats[dir];
    st.frames = st.frames.saturating_add(1);
    st.bytes = st.bytes.saturating_add(u64::from(frame_len));
}

/// Borrowed pieces of the reassembler that segment handling needs, split
/// off so a connection can be borrowed mutably at the same time.
struct PushState<'a> {
    total: &'a mut usize,
    limits: &'a Limits,
    /// What held segments count against.
    budget: &'a Budget,
    /// The capture file, when the caller holds it whole (else empty).
    file: &'a [u8],
    /// Where the segment's payload lies in the capture file, if known.
    payload_at: Option<u64>,
    /// Where the segment's payload starts in its frame.
    payload_offset: u32,
}

impl PushState<'_> {
    fn segment<U, S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        conn: &mut Conn<U>,
        dir: Dir,
        frame: u64,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
    ) {
        if seg.flags.rst() {
            conn.info.rst = true;
        }

        // The acknowledgement tells what the peer received of the other
        // direction: past a hole, the hole was lost by the capture.
        if seg.flags.ack() {
            let other = &mut conn.halves[dir.reverse()];
            if let Some(base) = other.base {
                let near = other.next;
                if let Some(acked) = unwrap_seq(base, seg.ack, near)
                    && acked <= near.saturating_add(1 << 31)
                {
                    other.acked = Some(other.acked.map_or(acked, |a| a.max(acked)));
                }
            }
        }

        let half = &mut conn.halves[dir];
        // Once a direction has ended (its FIN reached, or an RST), nothing
        // it sends is part of its stream any more: delivering it would
        // break the promise of `end_of_stream` (found by fuzzing).
        let ended = half.ended;
        let payload_start_seq = if seg.flags.syn() {
            half.isn = Some(seg.seq);
            if half.base.is_none() || half.next == 0 && half.pending.is_empty() {
                half.base = Some(seg.seq.wrapping_add(1));
            }
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let has_payload = !seg.payload.is_empty() || seg.payload_missing > 0;
        if half.base.is_none() && (has_payload || seg.flags.fin()) {
            // Mid-stream start: the first byte we see is offset 0.
            half.base = Some(payload_start_seq);
            if conn.info.roles == Roles::Guessed && frame == conn.info.first_frame {
                sink.diagnostic(Diagnostic::new(
                    Severity::Note,
                    "tcp.midstream",
                    Location::frame(frame),
                    format!(
                        "TCP connection {} ({} -> {}) starts mid-stream: its handshake is not in the capture",
                        conn.info.id, conn.info.client, conn.info.server
                    ),
                ));
            }
        }
        let Some(base) = half.base else {
            self.check_holes(sink, conn, dir, frame);
            return;
        };
        let Some(start) = unwrap_seq(base, payload_start_seq, half.next) else { return };
        if start > half.next.saturating_add(1 << 31) {
            // Far ahead or a sequence number from before the stream began:
            // not plausible as part of this stream.
            return;
        }

        let captured = seg.payload.len() as u64;
        let full_len = captured.saturating_add(u64::from(seg.payload_missing));
        if seg.flags.fin() && half.fin_at.is_none() {
            if !ended {
                half.fin_at = Some(start.saturating_add(full_len));
            }
            conn.info.fin[dir] = true;
        }
        // Nothing past the FIN's sequence number is part of the stream
        // (RFC 9293 §3.10.7.4: the FIN is the last byte), even when it is
        // contiguous; tshark's follow stops there too.
        let (payload, full_len) = match half.fin_at {
            Some(fin) if start.saturating_add(full_len) > fin => {
                let keep = fin.saturating_sub(start);
                let cut = usize::try_from(keep.min(captured)).unwrap_or(0);
                (seg.payload.get(..cut).unwrap_or_default(), keep)
            }
            _ => (seg.payload, full_len),
        };

        if full_len > 0 && !ended {
            self.data(sink, conn, dir, start, payload, full_len, frame, seg.payload_offset, ts);
        }
        self.check_holes(sink, conn, dir, frame);
        self.check_end(sink, conn, dir);
        if seg.flags.rst() {
            for d in [Dir::ClientToServer, Dir::ServerToClient] {
                self.flush(sink, conn, d, frame);
            }
        }
    }

    /// Handles the payload of one segment starting at stream offset `start`.
    #[allow(clippy::too_many_arguments)]
    fn data<U, S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        conn: &mut Conn<U>,
        dir: Dir,
        start: u64,
        payload: &[u8],
        full_len: u64,
        frame: u64,
        frame_offset: u32,
        ts: Timestamp,
    ) {
        let next = conn.halves[dir].next;
        let end = start.saturating_add(payload.len() as u64);
        let full_end = start.saturating_add(full_len);

        if full_end <= next {
            // Entirely seen before: a retransmission.
            self.retransmission(conn, dir, start, payload);
            return;
        }
        if start < next {
            // Partly seen: compare nothing (no exact match possible), keep
            // the new tail only.
            conn.info.stats[dir].retransmissions =
                conn.info.stats[dir].retransmissions.saturating_add(1);
            let skip = usize::try_from(next.saturating_sub(start)).unwrap_or(usize::MAX);
            let tail = payload.get(skip..).unwrap_or_default();
            let cut = u64::try_from(skip.min(payload.len())).unwrap_or(0);
            let off = frame_offset.saturating_add(u32::try_from(cut).unwrap_or(u32::MAX));
            let rest = full_end.saturating_sub(next);
            return self.data(sink, conn, dir, next, tail, rest, frame, off, ts);
        }
        if start == next {
            // In order: hand the frame's bytes straight through.
            if !payload.is_empty() {
                deliver(
                    sink,
                    conn,
                    dir,
                    Chunk {
                        offset: start,
                        data: payload,
                        frame,
                        frame_offset,
                        ts,
                        file_offset: self.payload_at.and_then(|at| {
                            at.checked_add(u64::from(
                                frame_offset.checked_sub(self.payload_offset)?,
                            ))
                        }),
                    },
                    self.file,
                );
            }
            if full_end > end {
                // Cut by the snapshot length: these bytes were never captured.
                declare_gap(
                    sink,
                    conn,
                    dir,
                    end,
                    full_end.saturating_sub(end),
                    frame,
                    "cut by the capture's snapshot length",
                );
            }
            self.drain(sink, conn, dir);
            return;
        }

        // Ahead of a hole: hold a copy, unless it is already held.
        let half = &mut conn.halves[dir];
        if payload.is_empty() {
            return;
        }
        if let Some((&s, p)) = half.pending.range(..=start).next_back()
            && s.saturating_add(p.data.len() as u64) >= end
        {
            // Already held in full: compare the overlap.
            let from = usize::try_from(start.saturating_sub(s)).unwrap_or(0);
            let held = p.data.get(from..from.saturating_add(payload.len())).unwrap_or_default();
            conn.info.stats[dir].retransmissions =
                conn.info.stats[dir].retransmissions.saturating_add(1);
            conn.info.stats[dir].conflicting_bytes =
                conn.info.stats[dir].conflicting_bytes.saturating_add(differing(held, payload));
            return;
        }
        let over_segments = half.pending.len() >= self.limits.max_segments_per_direction;
        let over_bytes = half.pending_bytes.saturating_add(payload.len())
            > self.limits.max_buffered_per_direction;
        let over_budget = !self.budget.has_room(payload.len());
        let over_total = (*self.total).saturating_add(payload.len())
            > self.limits.max_buffered_total
            || over_budget;
        half.pending_bytes = half.pending_bytes.saturating_add(payload.len());
        *self.total = (*self.total).saturating_add(payload.len());
        if let Some(old) =
            half.pending.insert(start, Pending { data: payload.to_vec(), frame, frame_offset, ts })
        {
            // A shorter copy at the same offset: keep the longer new one but
            // count the overlap.
            half.pending_bytes = half.pending_bytes.saturating_sub(old.data.len());
            *self.total = (*self.total).saturating_sub(old.data.len());
            conn.info.stats[dir].retransmissions =
                conn.info.stats[dir].retransmissions.saturating_add(1);
            let differ = differing(&old.data, payload.get(..old.data.len()).unwrap_or_default());
            let st = &mut conn.info.stats[dir];
            st.conflicting_bytes = st.conflicting_bytes.saturating_add(differ);
        }
        if over_segments || over_bytes || over_total {
            if over_budget {
                self.budget.cut(Cut::Reassembly);
            }
            let what = if over_budget {
                "the memory budget"
            } else if over_total {
                "the total reassembly buffer limit"
            } else if over_bytes {
                "the per-direction reassembly buffer limit"
            } else {
                "the per-direction out-of-order segment limit"
            };
            sink.diagnostic(Diagnostic::new(
                Severity::Warning,
                "tcp.limit.buffer",
                Location::frame(frame),
                format!(
                    "TCP connection {} ({}): a hole at stream offset {} reached {what}; treating it as lost",
                    conn.info.id,
                    dir.sender(),
                    conn.halves[dir].next
                ),
            ));
            // One skipped hole may not be enough: the held segments can lie
            // behind further holes (found by fuzzing). Each pass delivers at
            // least the first held segment, so this ends.
            loop {
                self.skip_hole(
                    sink,
                    conn,
                    dir,
                    frame,
                    "the reassembly buffer filled up while waiting for it",
                );
                let half = &conn.halves[dir];
                let within = half.pending.len() <= self.limits.max_segments_per_direction
                    && half.pending_bytes <= self.limits.max_buffered_per_direction
                    && *self.total <= self.limits.max_buffered_total;
                if within || half.pending.is_empty() {
                    break;
                }
            }
        }
    }

    fn retransmission<U>(&mut self, conn: &mut Conn<U>, dir: Dir, start: u64, payload: &[u8]) {
        conn.info.stats[dir].retransmissions =
            conn.info.stats[dir].retransmissions.saturating_add(1);
        if payload.is_empty() {
            return;
        }
        let recent = conn.halves[dir]
            .recent
            .iter()
            .find(|r| r.start == start && r.len as usize == payload.len() && r.len > 0);
        let changed = |r: &Recent| match r.first {
            FirstCopy::None => false,
            FirstCopy::Sum(sum) => sum != hash(payload),
            FirstCopy::InFile(at) => {
                self.file.get(at..at.saturating_add(payload.len())) != Some(payload)
            }
        };
        if let Some(r) = recent
            && changed(r)
        {
            // We no longer hold the first copy, only its hash: count the
            // whole segment as conflicting.
            conn.info.stats[dir].conflicting_bytes =
                conn.info.stats[dir].conflicting_bytes.saturating_add(payload.len() as u64);
        }
    }

    /// Delivers held segments that have become contiguous.
    fn drain<U, S: StreamSink<U>>(&mut self, sink: &mut S, conn: &mut Conn<U>, dir: Dir) {
        loop {
            let half = &mut conn.halves[dir];
            let Some(entry) = half.pending.first_entry() else { break };
            let start = *entry.key();
            if start > half.next {
                break;
            }
            let p = entry.remove();
            half.pending_bytes = half.pending_bytes.saturating_sub(p.data.len());
            *self.total = (*self.total).saturating_sub(p.data.len());
            let end = start.saturating_add(p.data.len() as u64);
            if end <= half.next {
                conn.info.stats[dir].retransmissions =
                    conn.info.stats[dir].retransmissions.saturating_add(1);
                continue;
            }
            let skip = usize::try_from(half.next.saturating_sub(start)).unwrap_or(0);
            if skip > 0 {
                conn.info.stats[dir].retransmissions =
                    conn.info.stats[dir].retransmissions.saturating_add(1);
            }
            let data = p.data.get(skip..).unwrap_or_default();
            // Held before the FIN was known: cut at it.
            let data = match half.fin_at {
                Some(fin) => {
                    let room = usize::try_from(fin.saturating_sub(half.next)).unwrap_or(usize::MAX);
                    data.get(..room.min(data.len())).unwrap_or_default()
                }
                None => data,
            };
            if data.is_empty() {
                continue;
            }
            let chunk = Chunk {
                offset: half.next,
                data,
                frame: p.frame,
                frame_offset: p.frame_offset.saturating_add(u32::try_from(skip).unwrap_or(0)),
                ts: p.ts,
                file_offset: None,
            };
            deliver(sink, conn, dir, chunk, &[]);
        }
        let half = &mut conn.halves[dir];
        if half.fin_at.is_some_and(|fin| half.next >= fin) && !half.pending.is_empty() {
            // The FIN is reached: whatever is still held lies past it.
            *self.total = (*self.total).saturating_sub(half.pending_bytes);
            half.pending_bytes = 0;
            half.pending.clear();
        }
        if half.pending.is_empty() {
            half.hole_acked_since = None;
        }
    }

    /// Declares a hole lost when the peer has acknowledged past it and the
    /// reorder window has passed.
    fn check_holes<U, S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        conn: &mut Conn<U>,
        dir: Dir,
        frame: u64,
    ) {
        for d in [dir, dir.reverse()] {
            let frames = conn.frames;
            let half = &mut conn.halves[d];
            let hole_known = !half.pending.is_empty() || half.fin_at.is_some_and(|f| f > half.next);
            let acked_past = half.acked.is_some_and(|a| a > half.next);
            if !(hole_known && acked_past) {
                half.hole_acked_since = None;
                continue;
            }
            let since = *half.hole_acked_since.get_or_insert(frames);
            if frames.saturating_sub(since) >= u64::from(self.limits.reorder_frames) {
                self.skip_hole(
                    sink,
                    conn,
                    d,
                    frame,
                    "the receiver acknowledged it, but it is not in the capture",
                );
                self.check_end(sink, conn, d);
            }
        }
    }

    /// Gives up on the hole at `next`: a gap up to the first held segment
    /// (or the FIN), then whatever is contiguous after it.
    fn skip_hole<U, S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        conn: &mut Conn<U>,
        dir: Dir,
        frame: u64,
        why: &str,
    ) {
        let half = &conn.halves[dir];
        let target = half.pending.keys().next().copied().or(half.fin_at).or(half.acked);
        // Never a gap past the FIN: the stream ends there.
        let target = target.map(|t| half.fin_at.map_or(t, |f| t.min(f)));
        if let Some(t) = target
            && t > half.next
        {
            let next = half.next;
            declare_gap(sink, conn, dir, next, t.saturating_sub(next), frame, why);
        }
        conn.halves[dir].hole_acked_since = None;
        self.drain(sink, conn, dir);
    }

    /// At the end of a connection: every remaining hole becomes a gap.
    fn flush<U, S: StreamSink<U>>(
        &mut self,
        sink: &mut S,
        conn: &mut Conn<U>,
        dir: Dir,
        frame: u64,
    ) {
        let mut guard = 0usize;
        while !conn.halves[dir].pending.is_empty()
            && guard <= self.limits.max_segments_per_direction.saturating_add(1)
        {
            self.skip_hole(sink, conn, dir, frame, "the connection ended before it arrived");
            guard = guard.saturating_add(1);
        }
        let half = &conn.halves[dir];
        if let Some(fin) = half.fin_at
            && fin > half.next
        {
            let next = half.next;
            declare_gap(
                sink,
                conn,
                dir,
                next,
                fin.saturating_sub(next),
                frame,
                "the connection ended before it arrived",
            );
        }
        self.check_end(sink, conn, dir);
    }

    fn check_end<U, S: StreamSink<U>>(&mut self, sink: &mut S, conn: &mut Conn<U>, dir: Dir) {
        let half = &mut conn.halves[dir];
        let fin_reached = half.fin_at.is_some_and(|f| f <= half.next);
        // An RST ends the stream once nothing is left to declare: no held
        // segments and no hole before a FIN (flush declares those first),
        // so that no gap follows `end_of_stream`.
        let reset =
            conn.info.rst && half.pending.is_empty() && half.fin_at.is_none_or(|f| f <= half.next);
        if !half.ended && (fin_reached || reset) {
            half.ended = true;
            // Segments held beyond the FIN are not part of the stream: drop
            // them, or a later flush would deliver them after the end.
            *self.total = (*self.total).saturating_sub(half.pending_bytes);
            half.pending_bytes = 0;
            half.pending.clear();
            sink.end_of_stream(&conn.info, &mut conn.user, dir);
        }
    }
}

fn differing(a: &[u8], b: &[u8]) -> u64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as u64
}

fn deliver<U, S: StreamSink<U>>(
    sink: &mut S,
    conn: &mut Conn<U>,
    dir: Dir,
    chunk: Chunk<'_>,
    file: &[u8],
) {
    let half = &mut conn.halves[dir];
    let len = chunk.data.len() as u64;
    if let Some(slot) = half.recent.get_mut(half.recent_pos) {
        // Where the bytes lie in `file`, if they do and it is held.
        let in_file = chunk.file_offset.and_then(|at| usize::try_from(at).ok()).filter(|&at| {
            !file.is_empty() && at.checked_add(chunk.data.len()).is_some_and(|e| e <= file.len())
        });
        *slot = Recent {
            start: chunk.offset,
            len: u32::try_from(len).unwrap_or(0),
            first: match in_file {
                Some(at) => FirstCopy::InFile(at),
                None => FirstCopy::Sum(hash(chunk.data)),
            },
        };
    }
    half.recent_pos = half.recent_pos.wrapping_add(1) % RECENT;
    half.next = chunk.offset.saturating_add(len);
    conn.info.stats[dir].payload_bytes = conn.info.stats[dir].payload_bytes.saturating_add(len);
    sink.data(&conn.info, &mut conn.user, dir, chunk);
}

fn declare_gap<U, S: StreamSink<U>>(
    sink: &mut S,
    conn: &mut Conn<U>,
    dir: Dir,
    offset: u64,
    len: u64,
    frame: u64,
    why: &str,
) {
    conn.halves[dir].next = offset.saturating_add(len);
    let st = &mut conn.info.stats[dir];
    st.gaps = st.gaps.saturating_add(1);
    st.gap_bytes = st.gap_bytes.saturating_add(len);
    sink.diagnostic(Diagnostic::new(
        Severity::Warning,
        "tcp.gap",
        Location::frame(frame),
        format!(
            "TCP connection {} ({} -> {}): {len} bytes missing at stream offset {offset} ({why})",
            conn.info.id,
            conn.info.sender(dir),
            conn.info.sender(dir.reverse()),
        ),
    ));
    sink.gap(&conn.info, &mut conn.user, dir, offset, len, frame);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::TcpFlags;

    /// Collects every stream and event, for checking.
    #[derive(Default)]
    struct Collect {
        streams: Vec<(u64, [Vec<u8>; 2])>,
        /// Logical length of each stream (bytes plus gaps), to check order
        /// even when a huge gap is not materialised.
        lens: Vec<(u64, [u64; 2])>,
        gaps: Vec<(u64, Dir, u64, u64)>,
        closed: Vec<ConnInfo>,
        chunks: Vec<(u64, Dir, u64, u64, u32)>,
        ends: Vec<(u64, Dir)>,
        diags: Vec<Diagnostic>,
    }

    impl Collect {
        fn stream(&mut self, id: u64) -> (&mut [Vec<u8>; 2], &mut [u64; 2]) {
            let i = match self.streams.iter().position(|(s, _)| *s == id) {
                Some(i) => i,
                None => {
                    self.streams.push((id, Default::default()));
                    self.lens.push((id, [0; 2]));
                    self.streams.len() - 1
                }
            };
            (&mut self.streams[i].1, &mut self.lens[i].1)
        }
    }

    impl StreamSink<()> for Collect {
        fn data(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, chunk: Chunk<'_>) {
            let (s, lens) = self.stream(info.id);
            assert_eq!(lens[dir.index()], chunk.offset, "chunks in order, no overlap");
            lens[dir.index()] += chunk.data.len() as u64;
            if s[dir.index()].len() < 1 << 20 {
                s[dir.index()].extend_from_slice(chunk.data);
            }
            self.chunks.push((info.id, dir, chunk.offset, chunk.frame, chunk.frame_offset));
        }
        fn gap(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, offset: u64, len: u64, _: u64) {
            let (s, lens) = self.stream(info.id);
            assert_eq!(lens[dir.index()], offset);
            lens[dir.index()] += len;
            // Hostile acknowledgement numbers can declare gigabyte gaps:
            // only small ones are materialised.
            if len <= 1 << 16 {
                s[dir.index()].extend(std::iter::repeat_n(b'?', len as usize));
            }
            self.gaps.push((info.id, dir, offset, len));
        }
        fn end_of_stream(&mut self, info: &ConnInfo, _: &mut (), dir: Dir) {
            self.ends.push((info.id, dir));
        }
        fn close(&mut self, info: &ConnInfo, _: (), _: EndReason) {
            self.closed.push(info.clone());
        }
        fn diagnostic(&mut self, d: Diagnostic) {
            self.diags.push(d);
        }
    }

    const C: &str = "10.0.0.1:50000";
    const S: &str = "10.0.0.2:443";

    struct Feed {
        r: Reassembler<()>,
        sink: Collect,
        frame: u64,
        /// The "capture file" payloads may lie in ([`Reassembler::push_frame_in`]).
        file: Vec<u8>,
    }

    impl Feed {
        fn new() -> Self {
            Feed { r: Reassembler::default(), sink: Collect::default(), frame: 0, file: Vec::new() }
        }
        fn seg(&mut self, from: &str, to: &str, seq: u32, ack: u32, flags: u8, payload: &[u8]) {
            self.seg_cut(from, to, seq, ack, flags, payload, 0);
        }
        #[allow(clippy::too_many_arguments)]
        fn seg_cut(
            &mut self,
            from: &str,
            to: &str,
            seq: u32,
            ack: u32,
            flags: u8,
            payload: &[u8],
            missing: u32,
        ) {
            self.frame += 1;
            let seg = TcpSegment {
                src: from.parse().unwrap(),
                dst: to.parse().unwrap(),
                seq,
                ack,
                flags: TcpFlags(flags),
                window: 100,
                payload,
                payload_offset: 54,
                payload_missing: missing,
            };
            let len = 54 + payload.len() as u32 + missing;
            let ts = Timestamp(self.frame as i64 * 1000);
            self.r.push_in(&mut self.sink, self.frame, ts, len, &seg, None, &self.file);
        }
        fn handshake(&mut self, cisn: u32, sisn: u32) {
            self.seg(C, S, cisn, 0, TcpFlags::SYN, b"");
            self.seg(S, C, sisn, cisn.wrapping_add(1), TcpFlags::SYN | TcpFlags::ACK, b"");
            self.seg(C, S, cisn.wrapping_add(1), sisn.wrapping_add(1), TcpFlags::ACK, b"");
        }
        fn done(mut self) -> Collect {
            self.r.finish_all(&mut self.sink);
            self.sink
        }
    }

    const A: u8 = TcpFlags::ACK;
    const PA: u8 = TcpFlags::ACK | TcpFlags::PSH;

    #[test]
    fn in_order_streams_are_passed_through_with_frame_offsets() {
        let mut f = Feed::new();
        f.handshake(100, 5000);
        f.seg(C, S, 101, 5001, PA, b"hello ");
        f.seg(C, S, 107, 5001, PA, b"world");
        f.seg(S, C, 5001, 112, PA, b"hi");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"hello world");
        assert_eq!(out.streams[0].1[1], b"hi");
        assert_eq!(out.chunks[1], (0, Dir::ClientToServer, 6, 5, 54));
        let info = &out.closed[0];
        assert_eq!(info.client, C.parse().unwrap());
        assert_eq!(info.roles, Roles::Handshake);
        assert_eq!(info.stats[Dir::ClientToServer].frames, 4);
        assert_eq!(info.stats[Dir::ServerToClient].frames, 2);
        assert_eq!(info.stats[Dir::ClientToServer].payload_bytes, 11);
        assert!(out.gaps.is_empty());
    }

    #[test]
    fn reorders_out_of_order_segments() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2 + 6, 2, PA, b"world");
        f.seg(C, S, 2 + 11, 2, PA, b"!");
        f.seg(C, S, 2, 2, PA, b"hello ");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"hello world!");
        assert!(out.gaps.is_empty());
        assert_eq!(out.closed[0].stats[Dir::ClientToServer].retransmissions, 0);
    }

    #[test]
    fn keeps_the_first_copy_and_counts_conflicts() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"abcd");
        f.seg(C, S, 2, 2, PA, b"abXd"); // retransmission, one byte differs
        f.seg(C, S, 2, 2, PA, b"abcd"); // faithful retransmission
        f.seg(C, S, 10, 2, PA, b"ijkl"); // ahead of a hole
        f.seg(C, S, 10, 2, PA, b"iJkl"); // conflicting copy of held data
        f.seg(C, S, 6, 2, PA, b"efgh");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcdefghijkl");
        let st = out.closed[0].stats[Dir::ClientToServer];
        assert_eq!(st.retransmissions, 3);
        assert_eq!(st.conflicting_bytes, 4 + 1);
    }

    #[test]
    fn partial_overlap_keeps_only_new_bytes() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"abcd");
        f.seg(C, S, 4, 2, PA, b"cdef");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcdef");
        assert_eq!(out.chunks.last().unwrap().4, 54 + 2, "offset in frame skips the old bytes");
    }

    #[test]
    fn declares_a_gap_once_the_peer_acknowledges_past_it() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"aaaa");
        // 2+4..2+8 lost by the capture
        f.seg(C, S, 10, 2, PA, b"cccc");
        f.seg(S, C, 2, 14, A, b""); // server received everything
        for _ in 0..20 {
            f.seg(S, C, 2, 14, A, b"");
        }
        assert_eq!(f.sink.gaps, vec![(0, Dir::ClientToServer, 4, 4)]);
        assert_eq!(f.sink.streams[0].1[0], b"aaaa????cccc", "delivered before the end");
        let out = f.done();
        assert_eq!(out.closed[0].stats[Dir::ClientToServer].gaps, 1);
        assert_eq!(out.closed[0].stats[Dir::ClientToServer].gap_bytes, 4);
        assert!(out.diags.iter().any(
            |d| d.code == "tcp.gap" && d.message.contains("4 bytes missing at stream offset 4")
        ));
    }

    #[test]
    fn reorder_window_waits_for_a_late_segment() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 10, 2, PA, b"cccc");
        f.seg(S, C, 2, 14, A, b""); // ack captured before the data
        f.seg(C, S, 2, 2, PA, b"aaaabbbb");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"aaaabbbbcccc");
        assert!(out.gaps.is_empty());
    }

    #[test]
    fn missing_segment_without_acks_becomes_a_gap_at_the_end() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"aa");
        f.seg(C, S, 6, 2, PA, b"cc");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"aa??cc");
        assert_eq!(out.gaps, vec![(0, Dir::ClientToServer, 2, 2)]);
    }

    #[test]
    fn survives_sequence_wrap_around() {
        let mut f = Feed::new();
        let isn = u32::MAX - 5;
        f.handshake(isn, 7);
        f.seg(C, S, isn.wrapping_add(1), 8, PA, b"0123");
        f.seg(C, S, isn.wrapping_add(9), 8, PA, b"89ab"); // after the wrap, out of order
        f.seg(C, S, isn.wrapping_add(5), 8, PA, b"4567"); // crosses the wrap
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"0123456789ab");
        assert!(out.gaps.is_empty());
    }

    #[test]
    fn mid_stream_start_guesses_roles_by_port() {
        let mut f = Feed::new();
        f.seg(S, C, 9000, 300, PA, b"response");
        f.seg(C, S, 300, 9008, PA, b"request");
        let out = f.done();
        let info = &out.closed[0];
        assert_eq!(info.roles, Roles::Guessed);
        assert_eq!(info.client, C.parse().unwrap());
        assert_eq!(out.streams[0].1[1], b"response");
        assert_eq!(out.streams[0].1[0], b"request");
        assert!(out.diags.iter().any(|d| d.code == "tcp.midstream"));
    }

    #[test]
    fn fin_ends_each_direction_after_its_data() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 6, 2, TcpFlags::FIN | A, b"!"); // FIN arrives before the data
        assert!(f.sink.ends.is_empty());
        f.seg(C, S, 2, 2, PA, b"abcd");
        assert_eq!(f.sink.ends, vec![(0, Dir::ClientToServer)]);
        f.seg(S, C, 2, 8, TcpFlags::FIN | A, b"");
        f.seg(C, S, 8, 3, A, b"");
        assert_eq!(f.sink.ends.len(), 2);
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcd!");
        assert_eq!(out.closed[0].fin, PerDir([true, true]));
    }

    #[test]
    fn data_past_the_fin_is_cut_even_when_contiguous() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        // The FIN (stream offset 4) is captured before the data, which then
        // arrives in one segment running 4 bytes past it.
        f.seg(C, S, 2 + 4, 2, TcpFlags::FIN | A, b"");
        f.seg(C, S, 2, 2, PA, b"abcdWXYZ");
        assert_eq!(f.sink.ends, vec![(0, Dir::ClientToServer)]);
        // A FIN carrying data, then a contiguous segment after it.
        f.seg(S, C, 2, 7, PA | TcpFlags::FIN, b"ok");
        f.seg(S, C, 4, 7, PA, b"late");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcd");
        assert_eq!(out.streams[0].1[1], b"ok");
        assert!(out.gaps.is_empty(), "{:?}", out.gaps);
        assert_eq!(out.closed[0].stats[Dir::ClientToServer].payload_bytes, 4);
    }

    #[test]
    fn held_segments_are_cut_at_a_fin_that_comes_later() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2 + 2, 2, PA, b"cdXY"); // held: offsets 2..6
        f.seg(C, S, 2 + 8, 2, PA, b"zz"); // held: offsets 8..10, past the FIN
        f.seg(C, S, 2 + 4, 2, TcpFlags::FIN | A, b""); // the FIN is at offset 4
        f.seg(C, S, 2, 2, PA, b"ab"); // fills the hole
        assert_eq!(f.sink.ends, vec![(0, Dir::ClientToServer)]);
        assert_eq!(f.r.buffered_bytes(), 0);
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcd");
        assert!(out.gaps.is_empty(), "{:?}", out.gaps);
    }

    #[test]
    fn a_hole_before_the_fin_is_a_gap_that_stops_at_the_fin() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"ab");
        f.seg(C, S, 2 + 9, 2, PA, b"zz"); // held past the FIN
        f.seg(C, S, 2 + 5, 2, TcpFlags::FIN | A, b""); // FIN at 5: offsets 2..5 lost
        let out = f.done();
        assert_eq!(out.gaps, vec![(0, Dir::ClientToServer, 2, 3)]);
        assert_eq!(out.streams[0].1[0], b"ab???");
    }

    #[test]
    fn a_changed_retransmission_of_a_long_segment_is_a_conflict() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for at in [0, 500, 997, 999] {
            let mut f = Feed::new();
            f.handshake(1, 1);
            f.seg(C, S, 2, 2, PA, &data);
            f.seg(C, S, 2, 2, PA, &data); // the same bytes again
            let mut changed = data.clone();
            changed[at] ^= 1;
            f.seg(C, S, 2, 2, PA, &changed);
            let out = f.done();
            let st = out.closed[0].stats[Dir::ClientToServer];
            assert_eq!(st.retransmissions, 2);
            assert_eq!(st.conflicting_bytes, 1000, "byte {at} changed");
            assert_eq!(out.streams[0].1[0], data, "the first copy is kept");
        }
    }

    #[test]
    fn retransmissions_are_compared_with_the_bytes_in_the_file() {
        // The payloads lie in the "capture file" the caller holds: the
        // first copy is found there, not by its checksum.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for at in [0, 500, 999] {
            let mut changed = data.clone();
            changed[at] ^= 1;
            let mut f = Feed::new();
            f.file = [data.as_slice(), &data, &changed].concat();
            f.handshake(1, 1);
            // The segment whose payload is the file's bytes from `start`,
            // as a mapped capture's frames are.
            let seg = |f: &mut Feed, start: usize| {
                f.frame += 1;
                let seg = TcpSegment {
                    src: C.parse().unwrap(),
                    dst: S.parse().unwrap(),
                    seq: 2,
                    ack: 2,
                    flags: TcpFlags(PA),
                    window: 100,
                    payload: &f.file[start..start + 1000],
                    payload_offset: 54,
                    payload_missing: 0,
                };
                let ts = Timestamp(f.frame as i64 * 1000);
                f.r.push_in(&mut f.sink, f.frame, ts, 1054, &seg, Some(start as u64), &f.file);
            };
            seg(&mut f, 0);
            let recent = f.r.conns.values().find_map(|c| match c {
                Slot::Open(c) => Some(c.halves[Dir::ClientToServer].recent[0]),
                Slot::Closed(_) => None,
            });
            assert!(
                recent.is_some_and(|r| r.first == FirstCopy::InFile(0)),
                "found by where it lies"
            );
            seg(&mut f, 1000); // the same bytes again
            seg(&mut f, 2000); // one byte changed
            let out = f.done();
            let st = out.closed[0].stats[Dir::ClientToServer];
            assert_eq!(st.retransmissions, 2);
            assert_eq!(st.conflicting_bytes, 1000, "byte {at} changed");
            assert_eq!(out.streams[0].1[0], data, "the first copy is kept");
        }
    }

    #[test]
    fn closed_connections_keep_counting_frames_while_they_linger() {
        /// Counts chunks per connection; says it is done with a connection
        /// once it saw `done_after` chunks of it.
        struct Done(Collect, u32);
        impl StreamSink<u32> for Done {
            fn data(&mut self, info: &ConnInfo, u: &mut u32, dir: Dir, chunk: Chunk<'_>) {
                *u += 1;
                self.0.data(info, &mut (), dir, chunk);
            }
            fn gap(&mut self, _: &ConnInfo, _: &mut u32, _: Dir, _: u64, _: u64, _: u64) {}
            fn close(&mut self, info: &ConnInfo, u: u32, _: EndReason) {
                assert_eq!(u, 1, "the state comes back with the connection");
                self.0.closed.push(info.clone());
            }
            fn user_done(&self, u: &u32) -> bool {
                *u >= self.1
            }
        }
        for done_after in [1, 2] {
            let closed = lingering_connection(Done(Collect::default(), done_after));
            if done_after == 1 {
                assert!(closed.is_empty(), "close is not called when the sink was done");
            } else {
                assert_eq!(closed.len(), 1);
                let info = &closed[0];
                assert_eq!(info.stats[Dir::ClientToServer].frames, 4);
                assert_eq!(info.stats[Dir::ClientToServer].bytes, 4 * 60);
                assert_eq!(info.last_frame, 6);
                assert_eq!(info.stats[Dir::ClientToServer].payload_bytes, 2);
                assert!(info.rst, "an RST after the close still counts");
            }
        }

        fn lingering_connection(mut sink: Done) -> Vec<ConnInfo> {
            let mut r: Reassembler<u32> = Reassembler::default();
            let mut n = 0;
            let mut seg =
                |r: &mut Reassembler<u32>, sink: &mut Done, from, to, seq, flags, p, t| {
                    n += 1;
                    let seg = TcpSegment {
                        src: from,
                        dst: to,
                        seq,
                        ack: 0,
                        flags: TcpFlags(flags),
                        window: 1,
                        payload: p,
                        payload_offset: 54,
                        payload_missing: 0,
                    };
                    r.push(sink, n, Timestamp(t), 60, &seg);
                };
            let (c, s) = (C.parse().unwrap(), S.parse().unwrap());
            seg(&mut r, &mut sink, c, s, 1, TcpFlags::SYN, b"", 0);
            seg(&mut r, &mut sink, s, c, 1, TcpFlags::SYN | A, b"", 1);
            seg(&mut r, &mut sink, c, s, 2, PA | TcpFlags::FIN, b"hi", 2);
            seg(&mut r, &mut sink, s, c, 2, A | TcpFlags::FIN, b"", 3);
            assert_eq!(r.open_connections(), 1, "closed, lingering");
            seg(&mut r, &mut sink, c, s, 5, A, b"", 4); // the final ACK
            seg(&mut r, &mut sink, c, s, 2, A | TcpFlags::RST, b"", 5); // a late reset
            assert!(sink.0.closed.is_empty());
            // Ten seconds later another connection's frame lets it go.
            let other = "10.0.0.9:1".parse().unwrap();
            seg(&mut r, &mut sink, other, s, 1, TcpFlags::SYN, b"", 20_000_000_000);
            assert_eq!(r.open_connections(), 1, "only the new one");
            let closed = std::mem::take(&mut sink.0.closed);
            assert_eq!(sink.0.streams[0].1[0], b"hi");
            closed
        }
    }

    #[test]
    fn port_reuse_starts_a_new_connection() {
        let mut f = Feed::new();
        f.handshake(100, 200);
        f.seg(C, S, 101, 201, PA, b"first");
        f.seg(C, S, 106, 201, TcpFlags::FIN | A, b"");
        f.seg(S, C, 201, 107, TcpFlags::FIN | A, b"");
        f.seg(C, S, 107, 202, A, b"");
        f.handshake(9000, 7000);
        f.seg(C, S, 9001, 7001, PA, b"second");
        let out = f.done();
        assert_eq!(out.closed.len(), 2);
        assert_eq!(out.streams[0].1[0], b"first");
        assert_eq!(out.streams[1].1[0], b"second");
        assert_eq!(out.closed[1].id, 1);
    }

    #[test]
    fn syn_retransmission_is_not_a_new_connection() {
        let mut f = Feed::new();
        f.seg(C, S, 100, 0, TcpFlags::SYN, b"");
        f.seg(C, S, 100, 0, TcpFlags::SYN, b"");
        f.seg(S, C, 200, 101, TcpFlags::SYN | A, b"");
        let out = f.done();
        assert_eq!(out.closed.len(), 1);
        assert_eq!(out.closed[0].stats[Dir::ClientToServer].frames, 2);
    }

    #[test]
    fn snaplen_cut_bytes_become_a_gap() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg_cut(C, S, 2, 2, PA, b"abc", 5);
        f.seg(C, S, 10, 2, PA, b"xyz");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abc?????xyz");
        assert_eq!(out.gaps, vec![(0, Dir::ClientToServer, 3, 5)]);
    }

    #[test]
    fn buffer_limit_turns_the_hole_into_a_gap() {
        let mut f = Feed::new();
        f.r = Reassembler::new(Limits { max_buffered_per_direction: 10, ..Limits::default() });
        f.handshake(1, 1);
        f.seg(C, S, 12, 2, PA, b"0123456789");
        f.seg(C, S, 22, 2, PA, b"abcdef"); // over the limit
        assert_eq!(f.r.buffered_bytes(), 0);
        let out = f.done();
        assert_eq!(out.streams[0].1[0].len(), 26);
        assert!(out.diags.iter().any(|d| d.code == "tcp.limit.buffer"));
    }

    #[test]
    fn connection_limit_evicts_idle_connections() {
        let mut f = Feed::new();
        f.r = Reassembler::new(Limits { max_connections: 4, ..Limits::default() });
        for port in 0..10u16 {
            let c = format!("10.0.0.1:{}", 40000 + port);
            f.seg(&c, S, 1, 0, TcpFlags::SYN, b"");
        }
        assert!(f.r.open_connections() <= 4);
        let out = f.done();
        assert_eq!(out.closed.len(), 10);
        assert!(out.diags.iter().any(|d| d.code == "tcp.limit.connections"));
    }

    #[test]
    fn rst_ends_both_directions() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"data");
        f.seg(S, C, 2, 6, TcpFlags::RST | A, b"");
        assert_eq!(f.sink.ends.len(), 2);
        let out = f.done();
        assert!(out.closed[0].rst);
    }

    #[test]
    fn arbitrary_segments_never_panic_and_stay_in_order() {
        // A deterministic pseudo-random storm of segments on a few 4-tuples.
        let mut f = Feed::new();
        f.r = Reassembler::new(Limits {
            max_buffered_total: 4096,
            max_connections: 3,
            ..Limits::default()
        });
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ends = ["1.1.1.1:1", "2.2.2.2:443", "3.3.3.3:3", "4.4.4.4:80"];
        let payload = [0x55u8; 3000];
        for _ in 0..20_000 {
            let a = ends[(rnd() % 4) as usize];
            let b = ends[(rnd() % 4) as usize];
            if a == b {
                continue;
            }
            let seq = if rnd() % 4 == 0 { rnd() as u32 } else { (rnd() % 5000) as u32 };
            let len = (rnd() % 3000) as usize;
            let flags = (rnd() & 0x1f) as u8;
            let missing = if rnd() % 16 == 0 { (rnd() % 100) as u32 } else { 0 };
            f.seg_cut(a, b, seq, rnd() as u32, flags, &payload[..len], missing);
        }
        let out = f.done();
        assert!(!out.closed.is_empty());
    }

    // The three tests below reproduce what the tcp_reassembly fuzz target
    // found (crates/scope/src/fuzz.rs checks the StreamSink contract).

    #[test]
    fn nothing_is_delivered_after_a_direction_ended() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"abcd");
        f.seg(C, S, 6, 2, TcpFlags::FIN | A, b"");
        assert_eq!(f.sink.ends, vec![(0, Dir::ClientToServer)]);
        f.seg(C, S, 7, 2, PA, b"after the FIN");
        f.seg(S, C, 2, 7, PA, b"xy");
        f.seg(S, C, 4, 7, TcpFlags::RST | A, b"");
        f.seg(S, C, 4, 7, PA, b"after the RST");
        f.seg(S, C, 100, 7, TcpFlags::FIN | A, b"");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcd");
        assert_eq!(out.streams[0].1[1], b"xy");
        assert!(out.gaps.is_empty(), "{:?}", out.gaps);
        assert_eq!(out.chunks.len(), 2);
    }

    #[test]
    fn segments_held_beyond_the_fin_are_dropped_when_the_stream_ends() {
        let mut f = Feed::new();
        f.handshake(1, 1);
        f.seg(C, S, 2, 2, PA, b"ab");
        f.seg(C, S, 4, 2, TcpFlags::FIN | A, b"cd"); // FIN after offset 4
        f.seg(C, S, 10, 2, PA, b"zz"); // beyond the FIN: held
        f.seg(C, S, 2, 2, PA, b"ab"); // harmless retransmission
        assert_eq!(f.sink.ends, vec![(0, Dir::ClientToServer)]);
        assert_eq!(f.r.buffered_bytes(), 0, "nothing held after the end");
        let out = f.done();
        assert_eq!(out.streams[0].1[0], b"abcd");
        assert!(out.gaps.is_empty(), "{:?}", out.gaps);
    }

    #[test]
    fn buffer_limit_holds_when_held_segments_lie_behind_several_holes() {
        let mut f = Feed::new();
        let limit = 10;
        f.r = Reassembler::new(Limits { max_buffered_per_direction: limit, ..Limits::default() });
        f.handshake(1, 1);
        f.seg(C, S, 12, 2, PA, b"01234"); // offset 10, behind a hole
        f.seg(C, S, 32, 2, PA, b"abcdefghijkl"); // offset 30: 17 bytes held
        assert!(f.r.buffered_bytes() <= limit, "{} bytes held", f.r.buffered_bytes());
        let out = f.done();
        assert_eq!(
            out.gaps,
            vec![(0, Dir::ClientToServer, 0, 10), (0, Dir::ClientToServer, 15, 15)]
        );
        assert_eq!(out.streams[0].1[0].len(), 42);
    }

    #[test]
    fn an_unsupported_link_type_is_said_once_with_a_count() {
        let mut r: Reassembler<()> = Reassembler::default();
        let mut out = Collect::default();
        let data = [0u8; 40];
        for number in 1..=50 {
            let link = LinkType(if number == 30 { 4243 } else { 4242 });
            let f = Frame {
                number,
                ts: Timestamp::default(),
                link,
                data: &data,
                orig_len: 40,
                file_offset: None,
            };
            assert!(!r.push_frame(&mut out, &f));
        }
        r.finish_all(&mut out);
        let said: Vec<String> = out.diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(said[0].contains("frame 1") && said[0].contains("4242"), "{said:?}");
        assert!(said[1].contains("frame 30") && said[1].contains("4243"), "{said:?}");
        assert!(said[2].contains("49 frames") && said[2].contains("4242"), "{said:?}");
    }
}
