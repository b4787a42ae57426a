//! The recorder behind `get --record`: every byte the client sent and
//! received on its TCP socket, with timestamps, turned into a pcapng file
//! that looks like a loopback capture (three-way handshake, MSS-sized
//! segments with correct sequence/ack numbers and checksums, FIN exchange)
//! and carries the session's secrets in a Decryption Secrets Block.
//!
//! API contract (used by `client`): create a [`Recorder`], call
//! [`Recorder::connecting`] right before `TcpStream::connect`,
//! [`Recorder::connected`] right after it returns, wrap the stream with
//! [`Recorder::wrap`], feed key log lines with [`Recorder::keylog_line`], call
//! [`Recorder::closed`] after shutdown, then [`Recorder::write_pcapng`].
//!
//! # What the capture shows, and what is made up
//!
//! The payload bytes and their order are exactly what the socket carried, and
//! each read or write keeps the wall-clock time it completed at. The Ethernet,
//! IP and TCP headers are synthesised, as a Linux host would have sent them on
//! an Ethernet-MTU link: zero MAC addresses (as on `lo`), the real addresses
//! and ports, random initial sequence numbers, SYN options `mss 1460 (1440 for
//! IPv6), nop, nop, sackOK, nop, wscale 7` and no TCP timestamps, every write
//! or read cut at that MSS with PSH on its last segment, and an ACK from the
//! receiver after every second full-sized segment and at the end of each write
//! or read (Linux's quick-ack behaviour at the start of a connection, which is
//! where short exchanges live). We pick an Ethernet MTU rather than `lo`'s 64
//! KiB so the capture shows segmentation and reassembly as on a real network.
//!
//! A FIN is recorded when the client shuts its side down (`poll_shutdown`) or
//! reads end-of-file (the server's FIN); [`Recorder::closed`] supplies FINs for
//! sides that had not sent one. A FIN answered at once by the peer's FIN gives
//! the classic `FIN,ACK / FIN,ACK / ACK` (within Linux's 40 ms delayed-ACK
//! time); otherwise each FIN gets its own ACK.
//! Resets are not modelled. The section comment says all this in the file.
//!
//! # Memory
//!
//! A recording keeps its payload until it is written: at most
//! [`RECORD_LIMIT_BYTES`] (64 MiB) of payload in at most [`RECORD_LIMIT_IOS`]
//! reads and writes. Past either limit the recorder only counts bytes (and
//! FINs); the file's data then stops where the limit was hit, the sequence
//! numbers skip the bytes that were not kept right there (so Wireshark says
//! "previous segment not captured" and "ACKed unseen segment", which is the
//! truth), and comments on the section and on the first segment after the gap
//! say how many bytes are missing each way. Key log text is capped at
//! [`KEYLOG_LIMIT_BYTES`].

use std::fmt;
use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use etherparse::TcpOptionElement::{
    MaximumSegmentSize, Noop, SelectiveAcknowledgementPermitted, WindowScale,
};
use etherparse::{IpHeaders, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder, TcpHeader};
use tlsscope_capture::pcapng::{self, Interface, LinkType, Packet, SecretsType, Section};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{Context, Error, Result};
use crate::files::{self, Mode, ModeFixed};

/// Most payload bytes (both directions together) a recording keeps: enough
/// for any page `get` is meant for, small enough to hold in memory.
pub const RECORD_LIMIT_BYTES: usize = 64 << 20;
/// Most reads and writes a recording keeps: each costs a small allocation
/// beyond its bytes, so a peer trickling single bytes cannot grow memory
/// past roughly 100 MiB.
pub const RECORD_LIMIT_IOS: usize = 1 << 20;
/// Most key log text kept for the Decryption Secrets Block; one session
/// logs a few hundred bytes.
pub const KEYLOG_LIMIT_BYTES: usize = 1 << 20;

/// Largest TCP payload per segment on an Ethernet MTU of 1500 bytes, without
/// TCP options: 1500 - 20 (IPv4) - 20 (TCP).
const MSS_IPV4: usize = 1460;
/// 1500 - 40 (IPv6) - 20 (TCP).
const MSS_IPV6: usize = 1440;
/// Window scale shift Linux advertises with default buffers.
const WINDOW_SCALE: u8 = 7;
/// Window in the SYNs (not scaled, RFC 7323 §2.2): Linux's 44 × 1460.
const SYN_WINDOW: u16 = 64_240;
/// Window after the handshake, scaled by 2^7: 64 256 bytes. Constant, so
/// pure ACKs never look like window updates.
const WINDOW: u16 = 502;
/// Linux's minimum delayed-ACK time (`TCP_DELACK_MIN`): a FIN the peer
/// answers with its own FIN sooner than this shares that segment's ACK.
const DELAYED_ACK: Duration = Duration::from_millis(40);
/// Linux's default TTL / hop limit.
const TTL: u8 = 64;
/// Snap length written in the interface block, as tcpdump's default.
const SNAPLEN: u32 = 262_144;

/// Which end of the connection sent a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// One thing the socket did.
#[derive(Clone, Debug, PartialEq, Eq)]
enum What {
    /// Bytes written (client) or read (server).
    Data(Vec<u8>),
    /// The kept start of a write or read the limit cut short.
    Cut(Vec<u8>),
    /// The limit was reached here: every later byte is only counted.
    Gap,
    /// The side closed its direction.
    Fin,
}

#[derive(Clone, Debug)]
struct Event {
    at: SystemTime,
    from: Side,
    what: What,
}

/// Everything recorded so far (behind the [`Recorder`]'s mutex).
struct State {
    connecting: Option<SystemTime>,
    connected: Option<(SocketAddr, SocketAddr, SystemTime)>,
    events: Vec<Event>,
    /// Payload bytes kept in `events`.
    kept: usize,
    limit_bytes: usize,
    /// Set once a limit was hit: from then on bytes are only counted.
    full: bool,
    /// Bytes not kept, by side.
    missed: [u64; 2],
    /// Whether each side has sent its FIN.
    fin: [bool; 2],
    keylog: String,
    keylog_dropped: usize,
}

impl State {
    fn record(&mut self, from: Side, bytes: &[u8]) {
        if bytes.is_empty() || self.fin[from.index()] {
            return;
        }
        let room = if self.events.len() >= RECORD_LIMIT_IOS {
            0
        } else {
            self.limit_bytes.saturating_sub(self.kept)
        };
        let keep = if self.full { 0 } else { bytes.len().min(room) };
        let at = SystemTime::now();
        if keep > 0 {
            let data = bytes.get(..keep).unwrap_or(bytes).to_vec();
            let what = if keep == bytes.len() { What::Data(data) } else { What::Cut(data) };
            self.events.push(Event { at, from, what });
            self.kept += keep;
        }
        if keep < bytes.len() {
            if !self.full {
                self.full = true;
                self.events.push(Event { at, from, what: What::Gap });
            }
            self.missed[from.index()] += (bytes.len() - keep) as u64;
        }
    }

    fn fin(&mut self, from: Side, at: SystemTime) {
        if !self.fin[from.index()] {
            self.fin[from.index()] = true;
            self.events.push(Event { at, from, what: What::Fin });
        }
    }
}

/// Collects what one TCP connection carried. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Recorder {
    state: Arc<Mutex<State>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl fmt::Debug for Recorder {
    /// Counts only: the payload and the key log are not for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("Recorder")
            .field("connected", &s.connected.map(|(c, s, _)| (c, s)))
            .field("events", &s.events.len())
            .field("kept_bytes", &s.kept)
            .field("missed_bytes", &s.missed)
            .field("keylog_bytes", &s.keylog.len())
            .finish()
    }
}

impl Recorder {
    /// A recorder with nothing recorded yet, keeping up to
    /// [`RECORD_LIMIT_BYTES`] of payload.
    pub fn new() -> Self {
        Recorder::with_limit(RECORD_LIMIT_BYTES)
    }

    /// A recorder keeping at most `limit_bytes` of payload (see the module
    /// doc for what happens past it).
    pub fn with_limit(limit_bytes: usize) -> Self {
        Recorder {
            state: Arc::new(Mutex::new(State {
                connecting: None,
                connected: None,
                events: Vec::new(),
                kept: 0,
                limit_bytes,
                full: false,
                missed: [0; 2],
                fin: [false; 2],
                keylog: String::new(),
                keylog_dropped: 0,
            })),
        }
    }

    /// A panic elsewhere while holding the lock leaves the recording as
    /// consistent as any single push leaves it, so keep going.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client is about to send its SYN.
    pub fn connecting(&self, at: SystemTime) {
        self.lock().connecting = Some(at);
    }

    /// The connection is established between `client` (our local address)
    /// and `server`.
    pub fn connected(&self, client: SocketAddr, server: SocketAddr, at: SystemTime) {
        self.lock().connected = Some((client, server, at));
    }

    /// Wraps the connected stream so every read and write is recorded.
    pub fn wrap<S>(&self, stream: S) -> Recording<S> {
        Recording { inner: stream, recorder: self.clone() }
    }

    /// One NSS key log line (without the newline) for the DSB.
    pub fn keylog_line(&self, line: &str) {
        let line = line.trim_end_matches(['\r', '\n']);
        let mut s = self.lock();
        if s.keylog.len() + line.len() < KEYLOG_LIMIT_BYTES {
            s.keylog.push_str(line);
            s.keylog.push('\n');
        } else {
            s.keylog_dropped += 1;
        }
    }

    /// The connection was closed: sides that have not sent a FIN send one
    /// now, the client first (it is the one closing).
    pub fn closed(&self, at: SystemTime) {
        let mut s = self.lock();
        s.fin(Side::Client, at);
        s.fin(Side::Server, at);
    }

    /// Writes the capture to `path` (replacing the file, as `tcpdump -w`
    /// does). The file holds the session's secrets, so it is created with
    /// mode 0600 like a key log.
    #[must_use = "a fixed mode is a warning to show"]
    pub fn write_pcapng(&self, path: &Path) -> Result<Option<ModeFixed>> {
        write_pcapng_all(std::slice::from_ref(self), path)
    }

    /// The synthesised frames of this connection, with their times and
    /// comments, in order.
    fn frames(&self, path: &Path) -> Result<(Vec<TimedFrame>, bool)> {
        let s = self.lock();
        let (client, server, established) = s.connected.ok_or_else(|| {
            Error::new(format!(
                "{}: nothing to write, the connection was never made",
                path.display()
            ))
        })?;
        let (client_ip, server_ip) = same_family(client.ip(), server.ip()).ok_or_else(|| {
            Error::new(format!("cannot record a connection from {client} to {server}"))
        })?;
        let ends = Ends {
            ip: [client_ip, server_ip],
            port: [client.port(), server.port()],
            isn: [random()?, random()?],
            ip_id: [random()? as u16, random()? as u16],
            flow_label: [random()? & 0xF_FFFF, random()? & 0xF_FFFF],
        };
        let mss = if client_ip.is_ipv4() { MSS_IPV4 } else { MSS_IPV6 };
        let start = s.connecting.unwrap_or(established);
        let segments = plan(start, established, &s.events, s.missed, ends.isn, mss);
        let mut ip_id = ends.ip_id;
        let mut out = Vec::with_capacity(segments.len());
        for seg in &segments {
            let mut frame = Vec::with_capacity(1600);
            ends.frame(seg, &mut ip_id, &mut frame).context(path.display())?;
            out.push((seg.at, frame, seg.comment.clone()));
        }
        let loopback = client_ip.is_loopback() && server_ip.is_loopback();
        Ok((out, loopback))
    }
}

/// A synthesised frame: when, the bytes, and an optional comment.
type TimedFrame = (SystemTime, Vec<u8>, Option<String>);

/// Writes several recorded connections into one capture at `path`, their
/// frames interleaved by time, with every connection's secrets in one
/// Decryption Secrets Block before the first packet. Written as a secret
/// ([`Mode::Secret`]: created 0600, never through a symbolic link; an
/// existing file others could read is made 0600 first, and returned for
/// the caller to warn about).
#[must_use = "a fixed mode is a warning to show"]
pub fn write_pcapng_all(recorders: &[Recorder], path: &Path) -> Result<Option<ModeFixed>> {
    let mut frames = Vec::new();
    let mut loopback = true;
    let mut keylog = String::new();
    let mut comments: Vec<String> = Vec::new();
    for r in recorders {
        let (f, lo) = r.frames(path)?;
        loopback &= lo;
        frames.extend(f);
        let s = r.lock();
        for line in s.keylog.lines() {
            if !keylog.lines().any(|l| l == line) {
                keylog.push_str(line);
                keylog.push('\n');
            }
        }
        let mss =
            if s.connected.is_some_and(|(c, _, _)| c.is_ipv4()) { MSS_IPV4 } else { MSS_IPV6 };
        for c in section(&s, mss).comments {
            if !comments.contains(&c) {
                comments.push(c);
            }
        }
    }
    // Stable: frames of one connection keep their order at equal times.
    frames.sort_by_key(|(at, _, _)| *at);
    let files::Opened { file, mode_fixed } = files::create(path, Mode::Secret, true)?;
    let write = || -> io::Result<()> {
        let sec = Section { comments, ..Section::tlsscope() };
        let mut w = pcapng::Writer::new(BufWriter::new(file), &sec)?;
        let iface = w.add_interface(&Interface {
            name: loopback.then(|| "lo".to_string()),
            description: Some("TCP/IP synthesised by tlsscope from socket I/O".into()),
            ..Interface::new(LinkType::ETHERNET, SNAPLEN)
        })?;
        // Before the first packet, so readers have the keys by the time
        // they meet the handshake.
        if !keylog.is_empty() {
            w.write_secrets(SecretsType::TLS_KEY_LOG, keylog.as_bytes())?;
        }
        for (at, frame, comment) in &frames {
            w.write_packet(&Packet {
                comment: comment.as_deref(),
                ..Packet::new(iface, *at, frame)
            })?;
        }
        w.finish()?;
        Ok(())
    };
    write().context(path.display())?;
    Ok(mode_fixed)
}

/// The comments on the section: how the file was made and what is missing.
fn section(s: &State, mss: usize) -> Section {
    let mut comments = vec![format!(
        "Recorded by tlsscope get --record. TCP payload is exactly what the client's socket \
         sent and received; Ethernet, IP and TCP headers are synthesised (segments of at most \
         {mss} bytes, receiver ACKs as a Linux host would send them)."
    )];
    let [sent, received] = s.missed;
    if sent > 0 || received > 0 {
        comments.push(format!(
            "Recording limit reached ({} bytes in {} reads/writes kept): {sent} bytes sent and \
             {received} bytes received after it are missing from this capture.",
            s.kept,
            s.events.iter().filter(|e| matches!(e.what, What::Data(_) | What::Cut(_))).count(),
        ));
    }
    if !s.fin[0] && !s.fin[1] {
        comments.push("The connection was still open when this file was written.".into());
    }
    if s.keylog_dropped > 0 {
        comments.push(format!(
            "{} key log lines past {KEYLOG_LIMIT_BYTES} bytes were left out.",
            s.keylog_dropped
        ));
    }
    Section { comments, ..Section::tlsscope() }
}

/// Both addresses in one family: a dual-stack socket talking IPv4 reports
/// IPv4-mapped IPv6 addresses, but the wire carries IPv4.
fn same_family(a: IpAddr, b: IpAddr) -> Option<(IpAddr, IpAddr)> {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    match (a, b) {
        (IpAddr::V6(_), IpAddr::V6(_)) if v4(a).is_none() && v4(b).is_none() => Some((a, b)),
        _ => Some((IpAddr::V4(v4(a)?), IpAddr::V4(v4(b)?))),
    }
}

fn random() -> Result<u32> {
    let mut b = [0u8; 4];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::new("the random generator failed"))?;
    Ok(u32::from_be_bytes(b))
}

/// One TCP segment to synthesise.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment<'a> {
    at: SystemTime,
    from: Side,
    seq: u32,
    /// The acknowledgement number, when the ACK flag is set.
    ack: Option<u32>,
    syn: bool,
    psh: bool,
    fin: bool,
    payload: &'a [u8],
    comment: Option<String>,
}

/// One direction's sequence space, counted from its initial sequence number
/// in 64 bits so it cannot wrap; the wire value is the low 32 bits.
#[derive(Clone, Copy)]
struct Flow {
    isn: u32,
    /// Sequence space used so far (SYN, data, FIN), relative to `isn`.
    next: u64,
    /// How much of the peer's sequence space this side has acknowledged.
    acked: u64,
}

impl Flow {
    fn wire(&self, rel: u64) -> u32 {
        // Sequence numbers are modulo 2^32 (RFC 9293 §3.4): truncation is
        // the arithmetic we want.
        self.isn.wrapping_add(rel as u32)
    }
}

/// Builds the segment list of a connection (pure, so tests can check it).
struct Planner<'a> {
    out: Vec<Segment<'a>>,
    flows: [Flow; 2],
    mss: usize,
    now: SystemTime,
    /// A comment for the next segment sent.
    note: Option<String>,
}

impl<'a> Planner<'a> {
    fn flow(&self, side: Side) -> Flow {
        self.flows[side.index()]
    }

    /// Timestamps never go backwards in the file, even if the wall clock did.
    fn advance(&mut self, at: SystemTime) {
        if at > self.now {
            self.now = at;
        }
    }

    fn send(&mut self, from: Side, payload: &'a [u8], syn: bool, psh: bool, fin: bool) {
        let me = self.flow(from);
        let peer = self.flow(from.peer());
        // Only the very first SYN goes without an ACK.
        let ack = (!(syn && from == Side::Client)).then(|| peer.wire(peer.next));
        self.out.push(Segment {
            at: self.now,
            from,
            seq: me.wire(me.next),
            ack,
            syn,
            psh,
            fin,
            payload,
            comment: self.note.take(),
        });
        let used = payload.len() as u64 + u64::from(syn) + u64::from(fin);
        let f = &mut self.flows[from.index()];
        f.next += used;
        if ack.is_some() {
            f.acked = peer.next;
        }
    }

    /// Unacknowledged sequence space `side` has received from its peer.
    fn owed(&self, side: Side) -> u64 {
        self.flow(side.peer()).next.saturating_sub(self.flow(side).acked)
    }

    fn ack_if_owed(&mut self, side: Side) {
        if self.owed(side) > 0 {
            self.send(side, &[], false, false, false);
        }
    }

    /// Segments carrying one write or read; PSH on the last unless the
    /// write went on past the recording limit (`whole` false).
    fn data(&mut self, from: Side, bytes: &'a [u8], whole: bool) {
        let count = bytes.len().div_ceil(self.mss);
        for (i, chunk) in bytes.chunks(self.mss).enumerate() {
            self.send(from, chunk, false, whole && i + 1 == count, false);
            // Linux acknowledges at least every second full-sized segment
            // (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
            if self.owed(from.peer()) >= 2 * self.mss as u64 {
                self.ack_if_owed(from.peer());
            }
        }
        self.ack_if_owed(from.peer());
    }
}

/// The segments of a connection opened at `start` (SYN sent), established
/// at `established` (SYN-ACK received, ACK sent), that carried `events`.
/// `missed` are bytes per side that were not kept; they are skipped in the
/// sequence space at the [`What::Gap`] (after it only FINs are recorded).
fn plan(
    start: SystemTime,
    established: SystemTime,
    events: &[Event],
    missed: [u64; 2],
    isn: [u32; 2],
    mss: usize,
) -> Vec<Segment<'_>> {
    let flow = |isn| Flow { isn, next: 0, acked: 0 };
    let mut p = Planner {
        out: Vec::new(),
        flows: [flow(isn[0]), flow(isn[1])],
        mss,
        now: start,
        note: None,
    };
    p.send(Side::Client, &[], true, false, false);
    p.advance(established);
    p.send(Side::Server, &[], true, false, false);
    p.send(Side::Client, &[], false, false, false);
    for (i, ev) in events.iter().enumerate() {
        p.advance(ev.at);
        match &ev.what {
            What::Data(bytes) => p.data(ev.from, bytes, true),
            What::Cut(bytes) => p.data(ev.from, bytes, false),
            What::Gap => {
                let [client, server] = missed;
                p.flows[Side::Client.index()].next += client;
                p.flows[Side::Server.index()].next += server;
                p.note = Some(format!(
                    "The recording limit was reached before this segment: {client} bytes from \
                     the client and {server} bytes from the server are not in this capture."
                ));
            }
            What::Fin => {
                p.send(ev.from, &[], false, false, true);
                // A peer closing within the delayed-ACK time answers with
                // FIN,ACK; otherwise it acknowledges the FIN on its own.
                let peer_fin_next = events.get(i + 1).is_some_and(|n| {
                    n.from == ev.from.peer()
                        && n.what == What::Fin
                        && n.at.duration_since(p.now).unwrap_or_default() < DELAYED_ACK
                });
                if !peer_fin_next {
                    p.ack_if_owed(ev.from.peer());
                }
            }
        }
    }
    p.out
}

/// Addresses and per-side header values of the synthesised frames.
struct Ends {
    ip: [IpAddr; 2],
    port: [u16; 2],
    isn: [u32; 2],
    ip_id: [u16; 2],
    flow_label: [u32; 2],
}

impl Ends {
    /// Appends `seg` as an Ethernet frame; etherparse fills in lengths and
    /// the IPv4 and TCP checksums.
    fn frame(&self, seg: &Segment<'_>, ip_id: &mut [u16; 2], out: &mut Vec<u8>) -> io::Result<()> {
        let from = seg.from.index();
        let to = seg.from.peer().index();
        let ip = match (self.ip[from], self.ip[to]) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let id = &mut ip_id[from];
                let header = Ipv4Header {
                    identification: *id,
                    dont_fragment: true,
                    time_to_live: TTL,
                    source: src.octets(),
                    destination: dst.octets(),
                    ..Ipv4Header::default()
                };
                *id = id.wrapping_add(1);
                IpHeaders::Ipv4(header, Default::default())
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => IpHeaders::Ipv6(
                Ipv6Header {
                    flow_label: Ipv6FlowLabel::try_new(self.flow_label[from]).unwrap_or_default(),
                    hop_limit: TTL,
                    source: src.octets(),
                    destination: dst.octets(),
                    ..Ipv6Header::default()
                },
                Default::default(),
            ),
            _ => return Err(io::Error::other("mixed IPv4/IPv6 addresses")),
        };
        let window = if seg.syn { SYN_WINDOW } else { WINDOW };
        let mut tcp = TcpHeader::new(self.port[from], self.port[to], seg.seq, window);
        tcp.syn = seg.syn;
        tcp.psh = seg.psh;
        tcp.fin = seg.fin;
        if let Some(ack) = seg.ack {
            tcp.ack = true;
            tcp.acknowledgment_number = ack;
        }
        if seg.syn {
            let mss = if self.ip[from].is_ipv4() { MSS_IPV4 } else { MSS_IPV6 };
            // Linux's order when TCP timestamps are off.
            tcp.set_options(&[
                MaximumSegmentSize(mss as u16),
                Noop,
                Noop,
                SelectiveAcknowledgementPermitted,
                Noop,
                WindowScale(WINDOW_SCALE),
            ])
            .map_err(io::Error::other)?;
        }
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ip(ip)
            .tcp_header(tcp)
            .write_to_vec(out, seg.payload)
            .map_err(io::Error::other)
    }
}

/// A stream whose reads and writes go to a [`Recorder`]. Made by
/// [`Recorder::wrap`].
#[derive(Debug)]
pub struct Recording<S> {
    inner: S,
    recorder: Recorder,
}

impl<S> Recording<S> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the stream; nothing more is recorded.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let had_room = buf.remaining() > 0;
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let got = buf.filled().get(before..).unwrap_or_default();
            let mut s = this.recorder.lock();
            if !got.is_empty() {
                s.record(Side::Server, got);
            } else if had_room {
                // Nothing read into a buffer with room: end of file, the
                // server's FIN.
                s.fin(Side::Server, SystemTime::now());
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.recorder.lock().record(Side::Client, buf.get(..n).unwrap_or(buf));
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        if let Poll::Ready(Ok(())) = poll {
            this.recorder.lock().fin(Side::Client, SystemTime::now());
        }
        poll
    }

    // Vectored writes fall back to `poll_write` (the trait's default), so
    // every byte passes through the recording path above.
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const ISN: [u32; 2] = [1000, 0xFFFF_FF00];

    fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
    }

    fn data(ms: u64, from: Side, len: usize) -> Event {
        Event { at: t(ms), from, what: What::Data(vec![b'x'; len]) }
    }

    fn fin(ms: u64, from: Side) -> Event {
        Event { at: t(ms), from, what: What::Fin }
    }

    /// `(from, seq, ack, flags, len)` with seq/ack relative to each ISN, as
    /// Wireshark shows them.
    fn rel(segs: &[Segment<'_>]) -> Vec<(Side, u32, Option<u32>, &'static str, usize)> {
        segs.iter()
            .map(|s| {
                let (mine, theirs) = match s.from {
                    Side::Client => (ISN[0], ISN[1]),
                    Side::Server => (ISN[1], ISN[0]),
                };
                let flags = match (s.syn, s.fin, s.psh) {
                    (true, _, _) => "S",
                    (_, true, _) => "F",
                    (_, _, true) => "P",
                    _ => ".",
                };
                (
                    s.from,
                    s.seq.wrapping_sub(mine),
                    s.ack.map(|a| a.wrapping_sub(theirs)),
                    flags,
                    s.payload.len(),
                )
            })
            .collect()
    }

    use Side::{Client as C, Server as S};

    #[test]
    fn handshake_opens_with_syn_syn_ack_ack() {
        let segs = plan(t(0), t(5), &[], [0; 2], ISN, MSS_IPV4);
        assert_eq!(
            rel(&segs),
            [(C, 0, None, "S", 0), (S, 0, Some(1), "S", 0), (C, 1, Some(1), ".", 0)]
        );
        assert_eq!(segs[0].seq, 1000);
        assert_eq!(segs[1].seq, 0xFFFF_FF00);
        assert_eq!(segs[0].at, t(0));
        assert_eq!((segs[1].at, segs[2].at), (t(5), t(5)));
    }

    #[test]
    fn five_thousand_byte_write_becomes_four_segments() {
        let events = [data(10, C, 5000)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV4);
        assert_eq!(
            rel(&segs)[3..],
            [
                (C, 1, Some(1), ".", 1460),
                (C, 1461, Some(1), ".", 1460),
                (S, 1, Some(2921), ".", 0), // every second full segment
                (C, 2921, Some(1), ".", 1460),
                (C, 4381, Some(1), "P", 620), // PSH ends the write
                (S, 1, Some(5001), ".", 0),   // end of the write
            ]
        );
        assert!(segs[3..].iter().all(|s| s.at == t(10)));
    }

    #[test]
    fn ipv6_segments_are_cut_at_1440() {
        let events = [data(10, C, 5000)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV6);
        let lens: Vec<usize> =
            segs.iter().filter(|s| s.from == C).map(|s| s.payload.len()).collect();
        assert_eq!(lens, [0, 0, 1440, 1440, 1440, 680]);
    }

    #[test]
    fn ack_numbers_follow_the_peers_bytes() {
        let events = [data(1, C, 100), data(2, S, 300), data(3, C, 7), data(4, S, 1)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV4);
        assert_eq!(
            rel(&segs)[3..],
            [
                (C, 1, Some(1), "P", 100),
                (S, 1, Some(101), ".", 0),
                (S, 1, Some(101), "P", 300),
                (C, 101, Some(301), ".", 0),
                (C, 101, Some(301), "P", 7),
                (S, 301, Some(108), ".", 0),
                (S, 301, Some(108), "P", 1),
                (C, 108, Some(302), ".", 0),
            ]
        );
    }

    #[test]
    fn fin_consumes_one_sequence_number() {
        // Client closes, server answers later: FIN / ACK, FIN / ACK.
        let events = [data(1, C, 10), fin(2, C), fin(100, S)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV4);
        assert_eq!(
            rel(&segs)[5..],
            [
                (C, 11, Some(1), "F", 0),
                (S, 1, Some(12), ".", 0),
                (S, 1, Some(12), "F", 0),
                (C, 12, Some(2), ".", 0),
            ]
        );
    }

    #[test]
    fn fin_answered_at_once_is_fin_ack_fin_ack_ack() {
        let events = [data(1, S, 10), fin(2, S), fin(2, C)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV4);
        assert_eq!(
            rel(&segs)[3..],
            [
                (S, 1, Some(1), "P", 10),
                (C, 1, Some(11), ".", 0),
                (S, 11, Some(1), "F", 0),
                (C, 1, Some(12), "F", 0),
                (S, 12, Some(2), ".", 0),
            ]
        );
    }

    #[test]
    fn sequence_numbers_wrap_modulo_2_pow_32() {
        // The server's ISN is 256 below 2^32: its 300 bytes cross zero.
        let events = [data(1, S, 300), fin(2, S), fin(2, C)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV4);
        let server_fin = segs.iter().find(|s| s.from == S && s.fin).unwrap();
        assert_eq!(server_fin.seq, 0xFFFF_FF00u32.wrapping_add(301));
        assert_eq!(server_fin.seq, 45);
    }

    #[test]
    fn timestamps_never_go_backwards() {
        // Wall clock stepped back between the writes.
        let events = [data(50, C, 1), data(20, S, 1), data(60, C, 1)];
        let segs = plan(t(10), t(5), &events, [0; 2], ISN, MSS_IPV4);
        let times: Vec<SystemTime> = segs.iter().map(|s| s.at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(times[0], t(10));
        assert_eq!(*times.last().unwrap(), t(60));
    }

    #[test]
    fn missed_bytes_are_skipped_at_the_gap_and_said_so() {
        // The client's write was cut after 10 bytes; 5 more from it and 7
        // from the server were only counted.
        let events = [
            Event { at: t(1), from: C, what: What::Cut(vec![b'x'; 10]) },
            Event { at: t(1), from: C, what: What::Gap },
            fin(2, S),
            fin(2, C),
        ];
        let segs = plan(t(0), t(0), &events, [5, 7], ISN, MSS_IPV4);
        assert_eq!(
            rel(&segs)[3..],
            [
                (C, 1, Some(1), ".", 10), // no PSH: the write went on
                (S, 1, Some(11), ".", 0),
                (S, 8, Some(16), "F", 0), // skips 7 own bytes, ACKs 5 unseen
                (C, 16, Some(9), "F", 0),
                (S, 9, Some(17), ".", 0),
            ]
        );
        let note = segs[5].comment.as_deref().unwrap();
        assert!(note.contains("5 bytes from the client and 7 bytes from the server"), "{note}");
        assert!(segs.iter().filter(|s| s.comment.is_some()).count() == 1);
    }

    #[test]
    fn recorder_keeps_bytes_up_to_its_limit_then_counts() {
        let r = Recorder::with_limit(10);
        let mut s = r.lock();
        s.record(Side::Client, b"12345678");
        s.record(Side::Server, b"abcdef");
        s.record(Side::Client, b"z");
        let kept: Vec<&What> = s.events.iter().map(|e| &e.what).collect();
        assert_eq!(
            kept,
            [&What::Data(b"12345678".to_vec()), &What::Cut(b"ab".to_vec()), &What::Gap]
        );
        assert_eq!(s.missed, [1, 4]);
        assert!(s.full);
        assert!(
            section(&s, MSS_IPV4)
                .comments
                .iter()
                .any(|c| c.contains("1 bytes sent and 4 bytes received"))
        );
    }

    #[test]
    fn frames_carry_correct_checksums_and_ids() {
        let events = [data(1, C, 3000), fin(2, C), fin(2, S)];
        let segs = plan(t(0), t(0), &events, [0; 2], ISN, MSS_IPV4);
        let ends = Ends {
            ip: ["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
            port: [40000, 443],
            isn: ISN,
            ip_id: [7, 0xFFFF],
            flow_label: [0; 2],
        };
        let mut ids = ends.ip_id;
        let mut expect_id = ends.ip_id;
        for seg in &segs {
            let mut frame = Vec::new();
            ends.frame(seg, &mut ids, &mut frame).unwrap();
            let p = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
            let Some(etherparse::LinkSlice::Ethernet2(eth)) = p.link else { panic!() };
            assert_eq!((eth.source(), eth.destination()), ([0; 6], [0; 6]));
            let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else { panic!() };
            let iph = ip.header().to_header();
            assert_eq!(iph.header_checksum, iph.calc_header_checksum());
            assert!(iph.dont_fragment);
            assert_eq!(iph.identification, expect_id[seg.from.index()]);
            expect_id[seg.from.index()] = expect_id[seg.from.index()].wrapping_add(1);
            let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else { panic!() };
            let th = tcp.to_header();
            assert_eq!(th.checksum, th.calc_checksum_ipv4(&iph, tcp.payload()).unwrap());
            assert_eq!(tcp.payload(), seg.payload);
            assert_eq!(th.sequence_number, seg.seq);
            if seg.syn {
                assert_eq!(
                    tcp.options(),
                    [2, 4, 0x05, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7],
                    "mss 1460, nop, nop, sackOK, nop, wscale 7"
                );
            }
        }
    }

    #[test]
    fn ipv4_mapped_addresses_become_ipv4() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(same_family(mapped, v4), Some((v4, v4)));
        assert_eq!(same_family(mapped, mapped), Some((v4, v4)));
        assert_eq!(same_family(v6, v6), Some((v6, v6)));
        assert_eq!(same_family(v6, v4), None);
    }

    #[tokio::test]
    async fn recording_stream_records_writes_reads_and_fins_in_order() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let r = Recorder::new();
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let mut client = r.wrap(client);
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(b"world!").await.unwrap();
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"world!");
        client.shutdown().await.unwrap();
        r.closed(SystemTime::now());

        let s = r.lock();
        let what: Vec<(Side, &What)> = s.events.iter().map(|e| (e.from, &e.what)).collect();
        assert_eq!(
            what,
            [
                (C, &What::Data(b"hello".to_vec())),
                (S, &What::Data(b"world!".to_vec())),
                (S, &What::Fin),
                (C, &What::Fin),
            ]
        );
        assert!(s.events.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn writing_without_a_connection_is_an_error() {
        let err = Recorder::new().write_pcapng(Path::new("/nonexistent/x.pcapng")).unwrap_err();
        assert!(err.message().contains("never made"), "{err}");
    }

    #[test]
    fn debug_output_shows_no_secrets() {
        let r = Recorder::new();
        r.keylog_line("CLIENT_RANDOM 0011 deadbeef");
        assert!(!format!("{r:?}").contains("deadbeef"));
    }
}
