//! Reading capture files: pcap (microsecond and nanosecond, either byte
//! order) and pcapng (several sections and interfaces, enhanced, simple and
//! obsolete packet blocks, per-interface timestamp resolution and offset,
//! comments, interface statistics, Decryption Secrets Blocks), gzip-compressed
//! or not, in one streaming pass with a buffer of bounded size.
//!
//! [`CaptureReader::next`] lends each frame straight out of the read
//! buffer: no copy and no allocation per frame. Nothing here panics on any
//! input. A malformed record or block becomes an [`Event::Problem`] naming
//! the file offset (and the frame number), and the reader looks for the next
//! plausible record or block and goes on.
//!
//! Block framing and the fixed fields of packet blocks are read here (they
//! are on the hot path and are a handful of integers); the section header,
//! interface descriptions and their options, and Decryption Secrets Blocks
//! are decoded with pcap-parser.

use std::fs::File;
use std::io::{self, Read};
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le};
use tlsscope_scope::diag::{Diagnostic, Location, Severity};
use tlsscope_scope::frame::{Frame, LinkType};
use tlsscope_scope::time::Timestamp;

use crate::mapped::Mapping;

/// The largest record or block accepted. Real frames are at most 256 KiB
/// (the largest snapshot length tools use); anything far above that is a
/// corrupt length field, and accepting it would let one bad field make us
/// allocate gigabytes.
pub const MAX_BLOCK: usize = 16 << 20;

/// How far to search for the next plausible record after a corrupt one,
/// before giving up on the rest of the file.
pub const MAX_RESYNC: usize = 64 << 20;

/// Read size for the underlying file. Small enough that the bytes just
/// read are still in the CPU's L2 cache when the frames in them are
/// decoded, reassembled and decrypted (1 MiB reads measured ~8% slower on
/// a 100 MiB capture), large enough that system calls cost nothing.
const READ_CHUNK: usize = 256 << 10;

/// Room kept before the data of each read-ahead chunk for the start of a
/// block that began in the previous chunk, so that the two join with no
/// copy of the chunk. Larger than a loopback frame (64 KiB); a longer block
/// is gathered by copying.
const HEADROOM: usize = 128 << 10;

/// Read size of the read-ahead thread. Large, because each chunk taken
/// wakes the thread when it waits for room, and a wake-up (a futex call,
/// an interrupt to the other CPU) cost as much as analysing tens of
/// kilobytes on a virtual machine: 256 KiB chunks spent 7% of a decrypting
/// run in those wake-ups.
const AHEAD_CHUNK: usize = 1 << 20;

/// How far behind the reader mapped pages are kept in memory: the
/// analysis threads read the bytes of the frames just read (a few MiB at
/// most are on their way to them). Released in steps of this size, so at
/// most twice it is resident.
const RELEASE_LAG: usize = 8 << 20;

/// Chunks read ahead and waiting (about 4.5 MiB).
const AHEAD: usize = 4;

/// The first two bytes of a gzip-compressed file (RFC 1952), which the
/// reader inflates as it reads.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most interface descriptions kept per pcapng section. Real captures
/// describe a handful; each kept one costs a few dozen bytes, and a file of
/// nothing but 20-byte descriptions would otherwise grow the table with its
/// size. 65,536 numbers every interface the obsolete Packet Block (16-bit
/// interface ids) can name. Packets on interfaces past it are skipped, and
/// that is said once per section.
pub const MAX_INTERFACES: usize = 65_536;

/// How many bytes at the reader's new position are prefetched (a mapped
/// file's next block header, and the frame's headers after it).
const PREFETCH_AHEAD: usize = 128;

/// The file read (and decompressed) on a thread of its own while the
/// frames already read are analysed: reading took a tenth of the time of
/// an analysis on one thread, and all of a .gz file's inflating. Each chunk
/// is a buffer with [`HEADROOM`] unused bytes before its data; buffers go
/// back to the thread to be filled again.
struct ReadAhead {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    spare: mpsc::SyncSender<Vec<u8>>,
}

impl ReadAhead {
    fn spawn(mut src: Box<dyn Read + Send>) -> io::Result<ReadAhead> {
        let (tx, chunks) = mpsc::sync_channel(AHEAD);
        let (spare, spares) = mpsc::sync_channel::<Vec<u8>>(AHEAD + 2);
        std::thread::Builder::new().name("capture-read".into()).spawn(move || {
            loop {
                let mut buf = spares.try_recv().unwrap_or_default();
                // A spare comes back at its full length, unless it held the
                // last bytes or grew to gather a long block: then a new one
                // (zeroed memory fresh from the allocator is free; zeroing
                // one in place wrote every byte of the first chunks).
                if buf.len() != HEADROOM + AHEAD_CHUNK
                    || buf.capacity() > 2 * (HEADROOM + AHEAD_CHUNK)
                {
                    buf = vec![0u8; HEADROOM + AHEAD_CHUNK];
                }
                // One read per chunk: a pipe's data is handed on as it
                // comes; a file's reads fill the chunk anyway.
                let read = loop {
                    match src.read(buf.get_mut(HEADROOM..).unwrap_or_default()) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        r => break r,
                    }
                };
                match read {
                    // The end: dropping the sender says so.
                    Ok(0) => return,
                    Ok(n) => {
                        // `n` is at most the chunk's size: no overflow.
                        buf.truncate(HEADROOM.saturating_add(n));
                        if tx.send(Ok(buf)).is_err() {
                            return; // the reader was dropped
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })?;
        Ok(ReadAhead { chunks, spare })
    }
}

/// What the reader yields.
#[derive(Debug)]
pub enum Event<'a> {
    /// A captured frame.
    Frame(Frame<'a>),
    /// A Decryption Secrets Block.
    Secrets {
        /// The secrets type (0x544c534b = TLS key log, 0x57474b4c = WireGuard...).
        kind: u32,
        /// The secrets, as stored.
        data: &'a [u8],
        /// Where `data` starts in the (decompressed) file.
        file_offset: u64,
    },
    /// A comment from a section header or a packet block.
    Comment {
        /// The frame it belongs to, if it came from a packet block.
        frame: Option<u64>,
        /// The text.
        text: &'a str,
    },
    /// Something in the file that could not be read; reading goes on.
    Problem(Diagnostic),
}

/// Secrets type of a TLS key log in a Decryption Secrets Block.
pub use tlsscope_scope::pipeline::SECRETS_TLS_KEY_LOG;

/// Why a capture could not be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Neither pcap nor pcapng (nor gzip of one).
    #[error("not a pcap or pcapng capture (it starts with {0})")]
    NotACapture(String),
    /// Too short to hold a capture header.
    #[error("truncated capture header ({0} bytes)")]
    Truncated(usize),
}

/// The file format, as detected from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap,
    /// pcapng.
    PcapNg,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    units_per_sec: u64,
    offset_secs: i64,
}

/// The interfaces a pcapng section described, as far as they are kept.
#[derive(Debug, Default)]
struct Interfaces {
    /// The first [`MAX_INTERFACES`] described, by number.
    kept: Vec<Interface>,
    /// How many the section described, kept or not.
    described: u64,
    /// Whether a packet on an interface past the limit was reported: once
    /// per section, not once per packet.
    past_limit_reported: bool,
}

impl Interfaces {
    /// The next interface description of the section.
    fn describe(&mut self, i: Interface) {
        self.described = self.described.saturating_add(1);
        if self.kept.len() < MAX_INTERFACES {
            self.kept.push(i);
        }
    }
}

#[derive(Debug)]
enum State {
    Pcap { le: bool, nanos: bool, link: LinkType, snaplen: u32 },
    PcapNg { le: bool, interfaces: Interfaces },
}

/// A bytes counter shared with a progress display.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Bytes of the file read so far (compressed bytes for a .gz file).
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    count: Progress,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Inflated bytes past which a gzip-compressed capture must show it is not
/// a decompression bomb: real captures compress a few times, rarely tens
/// of times; deflate cannot do better than about 1032 to 1.
pub const MAX_INFLATE_FREE: u64 = 32 << 20;

/// The most inflated bytes per compressed byte past [`MAX_INFLATE_FREE`].
pub const MAX_INFLATE_RATIO: u64 = 250;

/// A gzip stream being inflated, stopped with an error when it inflates
/// like a bomb: past [`MAX_INFLATE_FREE`] bytes at more than
/// [`MAX_INFLATE_RATIO`] to 1.
struct Inflating<R> {
    inner: R,
    /// Compressed bytes read so far.
    read: Progress,
    out: u64,
}

impl<R: Read> Read for Inflating<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out = self.out.saturating_add(n as u64);
        let read = NonZeroU64::new(self.read.bytes()).unwrap_or(NonZeroU64::MIN);
        if self.out > MAX_INFLATE_FREE && self.out / read > MAX_INFLATE_RATIO {
            return Err(io::Error::other(format!(
                "the gzip-compressed capture inflated to {} MiB from {} KiB, more than \
                 {MAX_INFLATE_RATIO} to 1: no real capture compresses so well (a decompression \
                 bomb?); if it is real, decompress it first (gunzip) and read that",
                self.out >> 20,
                read.get() >> 10
            )));
        }
        Ok(n)
    }
}

/// A streaming reader over a pcap or pcapng capture.
pub struct CaptureReader {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Consumed up to here.
    start: usize,
    /// Filled up to here.
    end: usize,
    /// File offset (decompressed) of `buf[start]`.
    pos: u64,
    eof: bool,
    read_error: Option<io::Error>,
    state: State,
    format: Format,
    compressed: bool,
    frames: u64,
    /// Last frame time, to judge plausibility while resynchronising.
    last_ts_secs: Option<u32>,
    progress: Progress,
    /// A packet block's comment waiting to be yielded after its frame:
    /// (frame number, where in the data, length).
    pending_comment: Option<(u64, usize, usize)>,
    dropped_by_interface: u64,
    /// Set when the source is read on its own thread (files that cannot
    /// be mapped: compressed ones).
    ahead: Option<ReadAhead>,
    /// The whole file, when it is mapped (`start` and `end` index it).
    map: Option<Arc<Mapping>>,
    /// Mapped bytes before this are released from memory.
    released: usize,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format)
            .field("frames", &self.frames)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

fn u16_of(s: [u8; 2], le: bool) -> u16 {
    if le { u16::from_le_bytes(s) } else { u16::from_be_bytes(s) }
}

fn u32_of(s: [u8; 4], le: bool) -> u32 {
    if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) }
}

fn u16_at(b: &[u8], at: usize, le: bool) -> Option<u16> {
    Some(u16_of(*b.get(at..)?.first_chunk()?, le))
}

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u32> {
    Some(u32_of(*b.get(at..)?.first_chunk()?, le))
}

/// A pcapng block's trailing length: its last four bytes.
fn trailing_len(block: &[u8], le: bool) -> Option<u32> {
    Some(u32_of(*block.last_chunk()?, le))
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const SHB: u32 = 0x0a0d_0d0a;
const BOM: u32 = 0x1a2b_3c4d;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const ISB: u32 = 5;
const EPB: u32 = 6;
const DSB: u32 = 0x0a;
const OPT_COMMENT: u16 = 1;

/// Units per second for a pcapng `if_tsresol` value (power of 10, or of 2
/// with the high bit set). None when it does not fit in 64 bits.
fn ts_units(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(u32::from(tsresol))
    } else {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
    }
}

impl CaptureReader {
    /// Opens a capture file; `.gz` content is detected by its magic, not
    /// its name.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let file = File::open(path)?;
        Self::build(file, true)
    }

    /// [`CaptureReader::open`], with the file mapped into memory and read
    /// in place when it can be (see [`crate::mapped`]): the frames' bytes
    /// then stay readable (through [`CaptureReader::mapping`]) after the
    /// reader has moved on. A compressed file, or one that cannot be
    /// mapped, is read as `open` reads it.
    pub fn open_mapped(path: &Path) -> Result<Self, OpenError> {
        let file = File::open(path)?;
        if let Ok(Some(map)) = Mapping::of(&file)
            && map.bytes().get(..2) != Some(&GZIP_MAGIC[..])
        {
            return Self::build_mapped(map);
        }
        Self::build(file, true)
    }

    fn build_mapped(map: Mapping) -> Result<Self, OpenError> {
        let end = map.bytes().len();
        let mut reader = Self::empty(Box::new(io::empty()), false, Progress::default());
        reader.buf = Vec::new();
        reader.end = end;
        reader.eof = true;
        reader.map = Some(Arc::new(map));
        reader.read_header()?;
        Ok(reader)
    }

    /// The mapped file, when it is read in place: the bytes of every frame
    /// (and of every event's data) lie in it.
    pub fn mapping(&self) -> Option<Arc<Mapping>> {
        self.map.clone()
    }

    /// Reads a capture from any byte source, on the caller's thread.
    pub fn from_reader(r: impl Read + Send + 'static) -> Result<Self, OpenError> {
        Self::build(r, false)
    }

    /// `ahead`: read the source on a thread of its own ([`ReadAhead`]).
    fn build(r: impl Read + Send + 'static, ahead: bool) -> Result<Self, OpenError> {
        let progress = Progress::default();
        let mut counted = Counting { inner: r, count: progress.clone() };
        let mut head = [0u8; 2];
        let n = read_full(&mut counted, &mut head)?;
        let prefix = std::io::Cursor::new(head.get(..n).unwrap_or_default().to_vec());
        let chained = prefix.chain(counted);
        let (src, compressed): (Box<dyn Read + Send>, bool) = if n == 2 && head == GZIP_MAGIC {
            let inflate = flate2::read::MultiGzDecoder::new(chained);
            (Box::new(Inflating { inner: inflate, read: progress.clone(), out: 0 }), true)
        } else {
            (Box::new(chained), false)
        };
        let (src, ahead): (Box<dyn Read + Send>, _) =
            if ahead { (Box::new(io::empty()), Some(ReadAhead::spawn(src)?)) } else { (src, None) };
        let mut reader = Self::empty(src, compressed, progress);
        reader.ahead = ahead;
        reader.read_header()?;
        Ok(reader)
    }

    fn empty(src: Box<dyn Read + Send>, compressed: bool, progress: Progress) -> Self {
        CaptureReader {
            src,
            buf: vec![0; READ_CHUNK.max(64 * 1024)],
            start: 0,
            end: 0,
            pos: 0,
            eof: false,
            read_error: None,
            state: State::Pcap { le: true, nanos: false, link: LinkType::ETHERNET, snaplen: 0 },
            format: Format::Pcap,
            compressed,
            frames: 0,
            last_ts_secs: None,
            progress,
            pending_comment: None,
            dropped_by_interface: 0,
            ahead: None,
            map: None,
            released: 0,
        }
    }

    /// pcap or pcapng.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the file was gzip-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// A handle that reports how many file bytes were read so far.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Frames yielded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Packets the capturing interfaces reported as dropped (pcapng
    /// interface statistics), summed over interfaces.
    pub fn dropped_by_interface(&self) -> u64 {
        self.dropped_by_interface
    }

    /// Bytes read and not consumed yet: `start..end` (`start <= end`
    /// always; were it broken, nothing is buffered rather than a panic).
    fn buffered(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Makes `n` bytes available at `start`. False at end of input.
    fn fill(&mut self, n: usize) -> bool {
        if self.buffered() >= n {
            return true;
        }
        if self.eof {
            return false;
        }
        if self.ahead.is_some() {
            return self.fill_ahead(n);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end = self.buffered();
            self.start = 0;
        }
        if self.buf.len() < n {
            let grown = n.checked_next_power_of_two().unwrap_or(usize::MAX);
            self.buf.resize(grown.min(MAX_BLOCK + 64), 0);
            if self.buf.len() < n {
                return false;
            }
        }
        while let Some(missing) = n.checked_sub(self.end).filter(|&m| m > 0) {
            let Some(room) = self.buf.get_mut(self.end..) else { return false };
            let want = room.len().min(READ_CHUNK.max(missing));
            let Some(dst) = room.get_mut(..want) else { return false };
            match self.src.read(dst) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                // `k` is at most `dst.len()`: `end` stays within the buffer.
                Ok(k) => self.end = self.end.saturating_add(k),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.eof = true;
                    self.read_error = Some(e);
                    return false;
                }
            }
        }
        true
    }

    /// [`CaptureReader::fill`] from the read-ahead thread's chunks.
    fn fill_ahead(&mut self, n: usize) -> bool {
        while self.buffered() < n {
            let Some(ahead) = &self.ahead else { return false };
            let chunk = match ahead.chunks.recv() {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => {
                    self.eof = true;
                    self.read_error = Some(e);
                    return false;
                }
                Err(mpsc::RecvError) => {
                    self.eof = true;
                    return false;
                }
            };
            let left = self.buffered();
            let used = if let Some(at) = HEADROOM.checked_sub(left)
                && chunk.len() > HEADROOM
            {
                // The start of the next block goes just before the chunk's
                // data, and the chunk becomes the buffer.
                let mut chunk = chunk;
                if let (Some(dst), Some(src)) =
                    (chunk.get_mut(at..HEADROOM), self.buf.get(self.start..self.end))
                {
                    dst.copy_from_slice(src);
                }
                self.start = at;
                self.end = chunk.len();
                std::mem::replace(&mut self.buf, chunk)
            } else {
                // A block longer than the headroom spans chunks: gathered
                // in the buffer, which grows at most to the largest block
                // accepted and a chunk.
                let data = chunk.get(HEADROOM..).unwrap_or_default();
                self.buf.copy_within(self.start..self.end, 0);
                self.start = 0;
                self.end = left;
                let Some(need) = left.checked_add(data.len()) else { return false };
                if self.buf.len() < need {
                    self.buf.resize(need, 0);
                }
                if let Some(dst) = self.buf.get_mut(left..need) {
                    dst.copy_from_slice(data);
                }
                self.end = need;
                chunk
            };
            // Back to the thread; dropped when it has enough.
            let _ = ahead.spare.try_send(used);
        }
        true
    }

    /// What `start` and `end` index: the mapped file, or the buffer.
    fn data(&self) -> &[u8] {
        match &self.map {
            Some(m) => m.bytes(),
            None => &self.buf,
        }
    }

    fn avail(&self) -> &[u8] {
        self.data().get(self.start..self.end).unwrap_or_default()
    }

    /// `len` bytes at `at` in [`CaptureReader::data`]; empty if they are not
    /// all there.
    fn bytes_at(&self, at: usize, len: usize) -> &[u8] {
        at.checked_add(len).and_then(|end| self.data().get(at..end)).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buffered());
        // At most `end`, an index into the buffer: no overflow.
        self.start = self.start.saturating_add(n);
        // The file offset of bytes actually read: never near 2^64.
        self.pos = self.pos.saturating_add(n as u64);
        if let Some(m) = &self.map {
            self.progress.0.store(self.pos, Ordering::Relaxed);
            m.prefetch(self.start..self.start.saturating_add(PREFETCH_AHEAD));
            // Pages well behind the reader are dropped from memory (the
            // analysis may still be reading the last few MiB of them).
            if self.start.saturating_sub(self.released) >= 2 * RELEASE_LAG {
                let upto = self.start.saturating_sub(RELEASE_LAG);
                m.release(self.released..upto);
                self.released = upto;
            }
        }
    }

    fn read_header(&mut self) -> Result<(), OpenError> {
        if !self.fill(4) {
            if let Some(e) = self.read_error.take() {
                return Err(OpenError::Io(e));
            }
            return Err(OpenError::Truncated(self.buffered()));
        }
        let a = self.avail();
        let magic_le = u32_at(a, 0, true).unwrap_or(0);
        let magic_be = u32_at(a, 0, false).unwrap_or(0);
        if magic_le == SHB {
            self.format = Format::PcapNg;
            self.state = State::PcapNg { le: true, interfaces: Interfaces::default() };
            return Ok(());
        }
        let (le, nanos) = match (magic_le, magic_be) {
            (PCAP_MAGIC_US, _) => (true, false),
            (PCAP_MAGIC_NS, _) => (true, true),
            (_, PCAP_MAGIC_US) => (false, false),
            (_, PCAP_MAGIC_NS) => (false, true),
            _ => {
                let shown: Vec<String> = a.iter().take(8).map(|b| format!("{b:02x}")).collect();
                return Err(OpenError::NotACapture(shown.join(" ")));
            }
        };
        if !self.fill(24) {
            return Err(OpenError::Truncated(self.buffered()));
        }
        let a = self.avail();
        let snaplen = u32_at(a, 16, le).unwrap_or(0);
        // The upper bits of the link type field carry FCS information.
        let link = LinkType(u32_at(a, 20, le).unwrap_or(0) & 0x0fff_ffff);
        self.state = State::Pcap { le, nanos, link, snaplen };
        self.format = Format::Pcap;
        self.consume(24);
        Ok(())
    }

    fn problem(&self, at: u64, message: String) -> Event<'static> {
        Event::Problem(Diagnostic::new(
            Severity::Error,
            "capture.malformed",
            Location {
                frame: Some(self.frames.saturating_add(1)),
                file_offset: Some(at),
                frame_offset: None,
            },
            message,
        ))
    }

    /// The next event, or None at the end of the file.
    #[allow(clippy::should_implement_trait)] // a lending iterator cannot be an Iterator
    pub fn next(&mut self) -> Option<Event<'_>> {
        if let Some((frame, at, len)) = self.pending_comment.take() {
            let text = std::str::from_utf8(self.bytes_at(at, len)).unwrap_or("");
            return Some(Event::Comment { frame: Some(frame), text });
        }
        let step = match self.state {
            State::Pcap { le, nanos, link, snaplen } => self.step_pcap(le, nanos, link, snaplen),
            State::PcapNg { .. } => self.step_pcapng(),
        };
        match step {
            Step::Frame { at, len, ts, link, orig_len, file_offset } => {
                self.frames = self.frames.saturating_add(1);
                let data = self.bytes_at(at, len);
                let file_offset = Some(file_offset);
                Some(Event::Frame(Frame {
                    number: self.frames,
                    ts,
                    link,
                    data,
                    orig_len,
                    file_offset,
                }))
            }
            Step::Secrets { kind, at, len, file_offset } => {
                let data = self.bytes_at(at, len);
                Some(Event::Secrets { kind, data, file_offset })
            }
            Step::Comment { at, len } => {
                let text = std::str::from_utf8(self.bytes_at(at, len)).unwrap_or("");
                Some(Event::Comment { frame: None, text })
            }
            Step::Problem(e) => Some(e),
            Step::End => {
                if let Some(e) = self.read_error.take() {
                    let at = self.pos;
                    return Some(Event::Problem(Diagnostic::new(
                        Severity::Error,
                        "capture.read",
                        Location { frame: None, file_offset: Some(at), frame_offset: None },
                        format!("reading stopped: {e}"),
                    )));
                }
                None
            }
        }
    }

    fn step_pcap(&mut self, le: bool, nanos: bool, link: LinkType, snaplen: u32) -> Step {
        if !self.fill(16) {
            return self.truncated_tail("pcap record header");
        }
        let h = self.avail();
        let (Some(ts_sec), Some(ts_frac), Some(caplen), Some(orig)) =
            (u32_at(h, 0, le), u32_at(h, 4, le), u32_at(h, 8, le), u32_at(h, 12, le))
        else {
            return Step::End;
        };
        let limit = (snaplen as usize).clamp(262_144, MAX_BLOCK);
        let total = (caplen as usize).checked_add(16).filter(|_| caplen as usize <= limit);
        let Some(total) = total else {
            let at = self.pos;
            let msg = format!(
                "pcap record claims {caplen} captured bytes (the file's snapshot length is {snaplen}); \
                 skipping to the next plausible record"
            );
            let e = self.problem(at, msg);
            self.resync_pcap(le, nanos, snaplen);
            return Step::Problem(e);
        };
        if !self.fill(total) {
            return self.truncated_tail("pcap record");
        }
        // Inside the `total` bytes just filled: no overflow.
        let at = self.start.saturating_add(16);
        let file_offset = self.pos.saturating_add(16);
        self.consume(total);
        self.last_ts_secs = Some(ts_sec);
        let nanos_part = if nanos { ts_frac } else { ts_frac.saturating_mul(1000) };
        let ts = Timestamp::from_parts(i64::from(ts_sec), nanos_part);
        Step::Frame { at, len: caplen as usize, ts, link, orig_len: orig.max(caplen), file_offset }
    }

    /// Looks for the next record header that is plausible and followed by
    /// another plausible header (or the end of the file).
    fn resync_pcap(&mut self, le: bool, nanos: bool, snaplen: u32) {
        let limit = (snaplen as usize).clamp(262_144, MAX_BLOCK) as u32;
        let last = self.last_ts_secs;
        let frac_limit = if nanos { 1_000_000_000 } else { 1_000_000 };
        let plausible = |h: &[u8]| -> Option<usize> {
            let ts = u32_at(h, 0, le)?;
            let frac = u32_at(h, 4, le)?;
            let cap = u32_at(h, 8, le)?;
            let orig = u32_at(h, 12, le)?;
            let near = last.is_none_or(|l| ts.abs_diff(l) < 86_400);
            if !(near && frac < frac_limit && cap <= limit && orig >= cap && cap > 0) {
                return None;
            }
            (cap as usize).checked_add(16)
        };
        self.consume(1);
        for _ in 0..MAX_RESYNC {
            if !self.fill(16) {
                return;
            }
            if let Some(len) = plausible(self.avail()) {
                // Accept a candidate only if another plausible header
                // follows it, or it ends exactly at the end of the file.
                if len.checked_add(16).is_some_and(|next| self.fill(next)) {
                    if plausible(self.avail().get(len..).unwrap_or_default()).is_some() {
                        return;
                    }
                } else if self.buffered() == len {
                    return;
                }
            }
            self.consume(1);
        }
        self.consume(self.buffered());
        self.eof = true;
    }

    fn truncated_tail(&mut self, what: &str) -> Step {
        let left = self.buffered();
        if left == 0 {
            return Step::End;
        }
        let at = self.pos;
        let e = self.problem(at, format!("the file ends inside a {what} ({left} bytes left over)"));
        self.consume(left);
        Step::Problem(e)
    }

    fn step_pcapng(&mut self) -> Step {
        loop {
            if !self.fill(12) {
                return self.truncated_tail("pcapng block");
            }
            let State::PcapNg { le, .. } = self.state else { return Step::End };
            let h = self.avail();
            let btype_le = u32_at(h, 0, true).unwrap_or(0);
            let le = if btype_le == SHB {
                // The section header decides the byte order of its section.
                match u32_at(h, 8, true) {
                    Some(BOM) => true,
                    Some(x) if x == BOM.swap_bytes() => false,
                    _ => {
                        let at = self.pos;
                        let e = self
                            .problem(at, "section header with an unknown byte-order magic".into());
                        self.resync_pcapng(le);
                        return Step::Problem(e);
                    }
                }
            } else {
                le
            };
            let btype = u32_at(h, 0, le).unwrap_or(0);
            let blen = u32_at(h, 4, le).unwrap_or(0) as usize;
            if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_BLOCK {
                let at = self.pos;
                let e = self.problem(
                    at,
                    format!("pcapng block of type {btype:#x} has an impossible length {blen}; skipping to the next block"),
                );
                self.resync_pcapng(le);
                return Step::Problem(e);
            }
            if !self.fill(blen) {
                return self.truncated_tail("pcapng block");
            }
            let block = self.avail().get(..blen).unwrap_or_default();
            if trailing_len(block, le) != Some(blen as u32) {
                let at = self.pos;
                let e = self.problem(
                    at,
                    format!("pcapng block of type {btype:#x}: its trailing length does not match {blen}; skipping to the next block"),
                );
                self.resync_pcapng(le);
                return Step::Problem(e);
            }
            let block_at = self.start;
            let file_offset = self.pos;
            match btype {
                SHB => {
                    self.state = State::PcapNg { le, interfaces: Interfaces::default() };
                    let comment = self.block_comment(le, block_at, blen);
                    self.consume(blen);
                    if let Some((at, len)) = comment {
                        return Step::Comment { at, len };
                    }
                }
                IDB => {
                    let parsed = parse_block(le, self.avail().get(..blen).unwrap_or_default());
                    let iface = match parsed {
                        Some(Block::InterfaceDescription(idb)) => {
                            let units = ts_units(idb.if_tsresol);
                            units.map(|u| Interface {
                                link: LinkType(u32::from(idb.linktype.0 as u16)),
                                snaplen: idb.snaplen,
                                units_per_sec: u,
                                offset_secs: idb.if_tsoffset,
                            })
                        }
                        _ => None,
                    };
                    self.consume(blen);
                    // Unreadable, it still takes its number: a placeholder
                    // whose frames will be reported as unreadable.
                    let placeholder = Interface {
                        link: LinkType(u32::MAX),
                        snaplen: 0,
                        units_per_sec: 1_000_000,
                        offset_secs: 0,
                    };
                    if let State::PcapNg { interfaces, .. } = &mut self.state {
                        interfaces.describe(iface.unwrap_or(placeholder));
                    }
                    if iface.is_none() {
                        return Step::Problem(self.problem(
                            file_offset,
                            "unreadable interface description block".into(),
                        ));
                    }
                }
                EPB | PB => {
                    let b = self.avail().get(..blen).unwrap_or_default();
                    let fields = if btype == EPB {
                        (|| {
                            Some((
                                u32_at(b, 8, le)?,
                                u32_at(b, 12, le)?,
                                u32_at(b, 16, le)?,
                                u32_at(b, 20, le)?,
                                u32_at(b, 24, le)?,
                            ))
                        })()
                    } else {
                        (|| {
                            Some((
                                u32::from(u16_at(b, 8, le)?),
                                u32_at(b, 12, le)?,
                                u32_at(b, 16, le)?,
                                u32_at(b, 20, le)?,
                                u32_at(b, 24, le)?,
                            ))
                        })()
                    };
                    let Some((ifid, ts_hi, ts_lo, caplen, orig)) = fields else {
                        let e = self.problem(file_offset, "packet block too short".into());
                        self.consume(blen);
                        return Step::Problem(e);
                    };
                    // The data ends before the trailing length.
                    let data_end = (caplen as usize)
                        .checked_add(28)
                        .filter(|&end| end <= blen.saturating_sub(4));
                    let Some(data_end) = data_end else {
                        let e = self.problem(
                            file_offset,
                            format!(
                                "packet block claims {caplen} captured bytes but holds only {}",
                                blen.saturating_sub(32)
                            ),
                        );
                        self.consume(blen);
                        return Step::Problem(e);
                    };
                    let Some(iface) = self.interface(ifid) else {
                        let e = self.unknown_interface(ifid, file_offset);
                        self.consume(blen);
                        self.frames = self.frames.saturating_add(1);
                        match e {
                            Some(e) => return Step::Problem(e),
                            // Past the limit, and said already.
                            None => continue,
                        }
                    };
                    let raw = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
                    let mut ts = Timestamp::from_units(raw, iface.units_per_sec);
                    ts.0 = ts.0.saturating_add(iface.offset_secs.saturating_mul(1_000_000_000));
                    if let Some(options_at) = data_end.checked_next_multiple_of(4)
                        && let Some((a, l)) = find_comment(b, options_at, le)
                    {
                        self.pending_comment = block_at
                            .checked_add(a)
                            .map(|at| (self.frames.saturating_add(1), at, l));
                    }
                    self.consume(blen);
                    return Step::Frame {
                        // Inside the block, which is inside the data.
                        at: block_at.saturating_add(28),
                        len: caplen as usize,
                        ts,
                        link: iface.link,
                        orig_len: orig.max(caplen),
                        file_offset: file_offset.saturating_add(28),
                    };
                }
                SPB => {
                    // Type, length, original length, trailing length: at
                    // least 16 bytes. A 12-byte one would take its trailing
                    // length for the original length and its data from the
                    // next block.
                    let Some(room) = blen.checked_sub(16) else {
                        let e = self.problem(file_offset, "simple packet block too short".into());
                        self.consume(blen);
                        return Step::Problem(e);
                    };
                    let b = self.avail().get(..blen).unwrap_or_default();
                    let Some(orig) = u32_at(b, 8, le) else {
                        self.consume(blen);
                        continue;
                    };
                    let Some(iface) = self.interface(0) else {
                        let e = self.problem(
                            file_offset,
                            "simple packet block without an interface description".into(),
                        );
                        self.consume(blen);
                        self.frames = self.frames.saturating_add(1);
                        return Step::Problem(e);
                    };
                    let snap = if iface.snaplen == 0 { u32::MAX } else { iface.snaplen };
                    let caplen = (orig.min(snap) as usize).min(room);
                    self.consume(blen);
                    // Simple packet blocks carry no timestamp.
                    return Step::Frame {
                        // Inside the block, which is inside the data.
                        at: block_at.saturating_add(12),
                        len: caplen,
                        ts: Timestamp(0),
                        link: iface.link,
                        orig_len: orig,
                        file_offset: file_offset.saturating_add(12),
                    };
                }
                ISB => {
                    // isb_ifdrop (option 5): packets the interface dropped.
                    let b = self.avail().get(..blen).unwrap_or_default();
                    if let Some(drops) = find_option(b, 20, le, 5).and_then(|(a, l)| {
                        (l == 8).then(|| {
                            let v: [u8; 8] = *b.get(a..)?.first_chunk()?;
                            Some(if le { u64::from_le_bytes(v) } else { u64::from_be_bytes(v) })
                        })?
                    }) {
                        self.dropped_by_interface = self.dropped_by_interface.saturating_add(drops);
                    }
                    self.consume(blen);
                }
                DSB => {
                    let parsed = parse_block(le, self.avail().get(..blen).unwrap_or_default());
                    let found = match parsed {
                        Some(Block::DecryptionSecrets(dsb)) => {
                            // `data` starts where the format puts it and runs
                            // to the padded end; the secrets are `secrets_len`
                            // bytes of it.
                            let len = (dsb.secrets_len as usize).min(dsb.data.len());
                            let at = block_at.checked_add(DSB_SECRETS_AT);
                            at.map(|at| (dsb.secrets_type.0, at, len))
                        }
                        _ => None,
                    };
                    self.consume(blen);
                    return match found {
                        Some((kind, at, len)) => {
                            let file_offset = file_offset.saturating_add(DSB_SECRETS_AT as u64);
                            Step::Secrets { kind, at, len, file_offset }
                        }
                        None => Step::Problem(
                            self.problem(file_offset, "unreadable decryption secrets block".into()),
                        ),
                    };
                }
                _ => self.consume(blen),
            }
        }
    }

    fn interface(&self, id: u32) -> Option<Interface> {
        match &self.state {
            State::PcapNg { interfaces, .. } => interfaces.kept.get(id as usize).copied(),
            State::Pcap { .. } => None,
        }
    }

    /// What to say about a packet block on interface `id`, which is not
    /// among those kept: either it was never described, or it is past
    /// [`MAX_INTERFACES`], which is said once per section (None after).
    fn unknown_interface(&mut self, id: u32, at: u64) -> Option<Event<'static>> {
        let past_limit = match &mut self.state {
            State::PcapNg { interfaces, .. } if u64::from(id) < interfaces.described => {
                if std::mem::replace(&mut interfaces.past_limit_reported, true) {
                    return None;
                }
                true
            }
            _ => false,
        };
        if !past_limit {
            return Some(
                self.problem(
                    at,
                    format!("packet block for interface {id}, which was not described"),
                ),
            );
        }
        Some(Event::Problem(Diagnostic::new(
            Severity::Warning,
            "capture.limit.interfaces",
            Location {
                frame: Some(self.frames.saturating_add(1)),
                file_offset: Some(at),
                frame_offset: None,
            },
            format!(
                "packet block for interface {id}, past the limit of {MAX_INTERFACES} interfaces \
                 this reader keeps per section: its packets, and those of every other interface \
                 past the limit, are skipped (said once per section)"
            ),
        )))
    }

    fn block_comment(&self, le: bool, block_at: usize, blen: usize) -> Option<(usize, usize)> {
        let b = self.data().get(block_at..block_at.checked_add(blen)?)?;
        // SHB: type, len, BOM, major, minor, section length (8) = 24 bytes.
        let (a, l) = find_comment(b, 24, le)?;
        Some((block_at.checked_add(a)?, l))
    }

    /// Looks for the next block start: 4-byte aligned, a known block type,
    /// a sane length and a matching trailing length.
    fn resync_pcapng(&mut self, le: bool) {
        self.consume(4);
        for _ in (0..MAX_RESYNC).step_by(4) {
            if !self.fill(12) {
                return;
            }
            let h = self.avail();
            let t = u32_at(h, 0, le).unwrap_or(0);
            let known = matches!(t, IDB | PB | SPB | ISB | EPB | DSB | 4)
                || u32_at(h, 0, true) == Some(SHB);
            let blen = u32_at(h, 4, le).unwrap_or(0) as usize;
            if known && blen >= 12 && blen.is_multiple_of(4) && blen <= MAX_BLOCK {
                if !self.fill(blen) {
                    return;
                }
                let block = self.avail().get(..blen).unwrap_or_default();
                if trailing_len(block, le) == Some(blen as u32) {
                    return;
                }
            }
            self.consume(4);
        }
        self.consume(self.buffered());
        self.eof = true;
    }
}

/// Where a Decryption Secrets Block's secrets start within the block: after
/// its type, total length, secrets type and secrets length (pcapng §4.7).
const DSB_SECRETS_AT: usize = 16;

fn parse_block(le: bool, b: &[u8]) -> Option<Block<'_>> {
    let r = if le { parse_block_le(b) } else { parse_block_be(b) };
    r.ok().map(|(_, blk)| blk)
}

/// Finds the first comment option in `block`'s options from `from`.
fn find_comment(block: &[u8], from: usize, le: bool) -> Option<(usize, usize)> {
    find_option(block, from, le, OPT_COMMENT)
}

/// Finds option `code` in the options area of `block` (a whole block),
/// from `from` to its trailing length: (offset, length).
fn find_option(block: &[u8], from: usize, le: bool, code: u16) -> Option<(usize, usize)> {
    let to = block.len().checked_sub(4)?;
    let mut at = from;
    loop {
        // Code and length, then the value, all before the trailing length.
        let value_at = at.checked_add(4).filter(|&v| v <= to)?;
        let [c0, c1, l0, l1] = *block.get(at..)?.first_chunk()?;
        let c = u16_of([c0, c1], le);
        let l = usize::from(u16_of([l0, l1], le));
        if c == 0 {
            return None;
        }
        if value_at.checked_add(l).is_none_or(|end| end > to) {
            return None;
        }
        if c == code {
            return Some((value_at, l));
        }
        // Values are padded to 32 bits.
        at = value_at.checked_add(l.next_multiple_of(4))?;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            // `k` is at most what was left of `buf`: no overflow.
            Ok(k) => n = n.saturating_add(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One step of the reader, as indices into its buffer (so the borrow of
/// the buffer is taken only once, when the event is built).
enum Step {
    /// `at` indexes the buffer; `file_offset` is where the frame's bytes
    /// lie in the (decompressed) file.
    Frame {
        at: usize,
        len: usize,
        ts: Timestamp,
        link: LinkType,
        orig_len: u32,
        file_offset: u64,
    },
    Secrets {
        kind: u32,
        at: usize,
        len: usize,
        file_offset: u64,
    },
    Comment {
        at: usize,
        len: usize,
    },
    Problem(Event<'static>),
    End,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds pcap files byte by byte, in either byte order.
    struct Pcap {
        le: bool,
        out: Vec<u8>,
    }

    impl Pcap {
        fn new(le: bool, nanos: bool, link: u32, snaplen: u32) -> Self {
            let mut p = Pcap { le, out: Vec::new() };
            p.u32(if nanos { PCAP_MAGIC_NS } else { PCAP_MAGIC_US });
            p.u16(2); // version major
            p.u16(4); // version minor
            p.u32(0); // thiszone
            p.u32(0); // sigfigs
            p.u32(snaplen);
            p.u32(link);
            p
        }
        fn u16(&mut self, v: u16) {
            self.out.extend(if self.le { v.to_le_bytes() } else { v.to_be_bytes() });
        }
        fn u32(&mut self, v: u32) {
            self.out.extend(if self.le { v.to_le_bytes() } else { v.to_be_bytes() });
        }
        fn record(&mut self, sec: u32, frac: u32, data: &[u8], orig: u32) {
            self.u32(sec);
            self.u32(frac);
            self.u32(data.len() as u32);
            self.u32(orig);
            self.out.extend_from_slice(data);
        }
    }

    /// Builds pcapng blocks.
    struct Ng {
        le: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn new(le: bool) -> Self {
            let mut n = Ng { le, out: Vec::new() };
            n.shb(None);
            n
        }
        fn w16(&self, v: u16) -> [u8; 2] {
            if self.le { v.to_le_bytes() } else { v.to_be_bytes() }
        }
        fn w32(&self, v: u32) -> [u8; 4] {
            if self.le { v.to_le_bytes() } else { v.to_be_bytes() }
        }
        fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
            body.extend(self.w16(code));
            body.extend(self.w16(value.len() as u16));
            body.extend_from_slice(value);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
        }
        fn block(&mut self, btype: u32, body: &[u8]) {
            let len = 12 + body.len() as u32;
            assert!(len.is_multiple_of(4));
            let (t, l) = (self.w32(btype), self.w32(len));
            self.out.extend(t);
            self.out.extend(l);
            self.out.extend_from_slice(body);
            self.out.extend(l);
        }
        fn shb(&mut self, comment: Option<&str>) {
            let mut body = Vec::new();
            body.extend(self.w32(BOM));
            body.extend(self.w16(1));
            body.extend(self.w16(0));
            body.extend([0xff; 8]); // section length unknown
            if let Some(c) = comment {
                self.option(&mut body, OPT_COMMENT, c.as_bytes());
                body.extend([0; 4]);
            }
            let t = SHB.to_le_bytes(); // the SHB type is a palindrome
            let len = 12 + body.len() as u32;
            let l = self.w32(len);
            self.out.extend(t);
            self.out.extend(l);
            self.out.extend_from_slice(&body);
            self.out.extend(l);
        }
        fn idb(&mut self, link: u16, tsresol: Option<u8>) {
            let mut body = Vec::new();
            body.extend(self.w16(link));
            body.extend(self.w16(0));
            body.extend(self.w32(0)); // snaplen
            if let Some(r) = tsresol {
                self.option(&mut body, 9, &[r]);
                body.extend([0; 4]);
            }
            self.block(IDB, &body);
        }
        fn epb(&mut self, ifid: u32, ts: u64, data: &[u8], comment: Option<&str>) {
            let mut body = Vec::new();
            body.extend(self.w32(ifid));
            body.extend(self.w32((ts >> 32) as u32));
            body.extend(self.w32(ts as u32));
            body.extend(self.w32(data.len() as u32));
            body.extend(self.w32(data.len() as u32 + 10));
            body.extend_from_slice(data);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            if let Some(c) = comment {
                self.option(&mut body, OPT_COMMENT, c.as_bytes());
                body.extend([0; 4]);
            }
            self.block(EPB, &body);
        }
        fn spb(&mut self, data: &[u8]) {
            let mut body = Vec::new();
            body.extend(self.w32(data.len() as u32));
            body.extend_from_slice(data);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            self.block(SPB, &body);
        }
        fn pb(&mut self, ifid: u16, ts: u64, data: &[u8]) {
            let mut body = Vec::new();
            body.extend(self.w16(ifid));
            body.extend(self.w16(0)); // drops
            body.extend(self.w32((ts >> 32) as u32));
            body.extend(self.w32(ts as u32));
            body.extend(self.w32(data.len() as u32));
            body.extend(self.w32(data.len() as u32));
            body.extend_from_slice(data);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            self.block(PB, &body);
        }
        fn dsb(&mut self, secrets: &[u8]) {
            let mut body = Vec::new();
            body.extend(self.w32(SECRETS_TLS_KEY_LOG));
            body.extend(self.w32(secrets.len() as u32));
            body.extend_from_slice(secrets);
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            self.block(DSB, &body);
        }
        fn isb(&mut self, ifid: u32, drops: u64) {
            let mut body = Vec::new();
            body.extend(self.w32(ifid));
            body.extend([0; 8]);
            let v = if self.le { drops.to_le_bytes() } else { drops.to_be_bytes() };
            self.option(&mut body, 5, &v);
            body.extend([0; 4]);
            self.block(ISB, &body);
        }
    }

    #[derive(Debug, PartialEq)]
    enum Seen {
        Frame { n: u64, ts: Timestamp, link: u32, data: Vec<u8>, orig: u32 },
        Secrets(Vec<u8>),
        Comment(Option<u64>, String),
        Problem(String),
    }

    fn read_all(bytes: Vec<u8>) -> Vec<Seen> {
        events(CaptureReader::from_reader(std::io::Cursor::new(bytes)).unwrap())
    }

    /// The events of a file opened by path: read on the read-ahead thread.
    fn read_file(bytes: &[u8], name: &str) -> Vec<Seen> {
        let path =
            std::env::temp_dir().join(format!("tlsscope-read-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let seen = events(CaptureReader::open(&path).unwrap());
        std::fs::remove_file(&path).ok();
        seen
    }

    fn events(mut r: CaptureReader) -> Vec<Seen> {
        let mut out = Vec::new();
        while let Some(ev) = r.next() {
            out.push(match ev {
                Event::Frame(f) => Seen::Frame {
                    n: f.number,
                    ts: f.ts,
                    link: f.link.0,
                    data: f.data.to_vec(),
                    orig: f.orig_len,
                },
                Event::Secrets { data, .. } => Seen::Secrets(data.to_vec()),
                Event::Comment { frame, text } => Seen::Comment(frame, text.to_string()),
                Event::Problem(d) => Seen::Problem(d.to_string()),
            });
        }
        out
    }

    fn frame(n: u64, ts: Timestamp, link: u32, data: &[u8], orig: u32) -> Seen {
        Seen::Frame { n, ts, link, data: data.to_vec(), orig }
    }

    #[test]
    fn read_ahead_yields_what_the_plain_reader_does() {
        // Frames of every size around the chunk and headroom sizes, so that
        // blocks start, end and straddle chunk boundaries at many offsets,
        // and blocks longer than the headroom and than a chunk.
        let sizes = [1, 60, 1514, 9000, 65_535, 65_600, HEADROOM - 20, HEADROOM + 20, 200_000];
        let mut ng = Ng::new(true);
        ng.idb(1, None);
        let mut p = Pcap::new(true, false, 1, 262_144);
        let mut n = 0u32;
        for round in 0..6 {
            for &len in &sizes {
                n += 1;
                let data: Vec<u8> = (0..len).map(|i| (i as u32 ^ n) as u8).collect();
                p.record(n, 0, &data, len as u32);
                ng.epb(0, u64::from(n), &data, None);
            }
            if round == 3 {
                // Longer than a chunk: gathered from several.
                let big: Vec<u8> = (0..AHEAD_CHUNK * 2 + 5).map(|i| i as u8).collect();
                ng.epb(0, 99, &big, Some("a long block"));
                ng.dsb(b"CLIENT_RANDOM 00 11\n");
            }
        }
        for (name, bytes) in [("pcap", p.out), ("pcapng", ng.out)] {
            let want = read_all(bytes.clone());
            assert!(want.len() > 50 && !want.iter().any(|e| matches!(e, Seen::Problem(_))));
            assert!(read_file(&bytes, name) == want, "{name}");
            // Gzip-compressed: inflated on the read-ahead thread.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &bytes).unwrap();
            assert!(read_file(&gz.finish().unwrap(), &format!("{name}.gz")) == want, "{name}.gz");
            // Cut anywhere: the same frames and the same complaint.
            for cut in [bytes.len() / 3, bytes.len() / 2 + 7, bytes.len() - 1] {
                let cut_bytes = bytes.get(..cut).unwrap();
                assert!(
                    read_file(cut_bytes, name) == read_all(cut_bytes.to_vec()),
                    "{name} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn reads_pcap_in_both_byte_orders_and_resolutions() {
        for le in [true, false] {
            for nanos in [false, true] {
                let mut p = Pcap::new(le, nanos, 1, 65535);
                p.record(10, 5, b"abc", 3);
                p.record(11, 0, b"de", 60); // cut by the snapshot length
                let want_ns = if nanos { 5 } else { 5_000 };
                assert_eq!(
                    read_all(p.out),
                    vec![
                        frame(1, Timestamp::from_parts(10, want_ns), 1, b"abc", 3),
                        frame(2, Timestamp::from_parts(11, 0), 1, b"de", 60),
                    ],
                    "le={le} nanos={nanos}"
                );
            }
        }
    }

    #[test]
    fn pcap_link_type_ignores_fcs_bits() {
        let mut p = Pcap::new(true, false, 0x1000_0000 | 113, 65535);
        p.record(1, 0, b"x", 1);
        assert!(matches!(&read_all(p.out)[0], Seen::Frame { link: 113, .. }));
    }

    #[test]
    fn pcap_skips_a_corrupt_record_and_goes_on() {
        let mut p = Pcap::new(true, false, 1, 65535);
        p.record(100, 0, b"one", 3);
        // A record header whose captured length is absurd, then garbage.
        p.u32(100);
        p.u32(0);
        p.u32(0x7fff_ffff);
        p.u32(0x7fff_ffff);
        p.out.extend_from_slice(&[0xee; 7]);
        p.record(101, 0, b"two", 3);
        p.record(102, 0, b"three", 5);
        let seen = read_all(p.out);
        assert_eq!(seen[0], frame(1, Timestamp::from_parts(100, 0), 1, b"one", 3));
        assert!(
            matches!(&seen[1], Seen::Problem(m) if m.contains("frame 2") && m.contains("file offset 43") && m.contains("2147483647 captured bytes")),
            "{seen:?}"
        );
        assert_eq!(seen[2], frame(2, Timestamp::from_parts(101, 0), 1, b"two", 3));
        assert_eq!(seen[3], frame(3, Timestamp::from_parts(102, 0), 1, b"three", 5));
    }

    #[test]
    fn truncated_last_record_is_reported() {
        let mut p = Pcap::new(true, false, 1, 65535);
        p.record(1, 0, b"whole", 5);
        p.record(2, 0, b"cut off here", 12);
        let len = p.out.len();
        p.out.truncate(len - 4);
        let seen = read_all(p.out);
        assert_eq!(seen.len(), 2);
        assert!(matches!(&seen[1], Seen::Problem(m) if m.contains("ends inside a pcap record")));
    }

    #[test]
    fn reads_pcapng_sections_interfaces_and_blocks() {
        for le in [true, false] {
            let mut n = Ng::new(le);
            n.idb(1, None); // microseconds
            n.idb(113, Some(9)); // nanoseconds
            n.idb(101, Some(0x80 | 10)); // 1/1024 s
            n.dsb(b"CLIENT_RANDOM aa bb\n");
            n.epb(0, 1_500_000, b"us", None);
            n.epb(1, 2_000_000_123, b"ns", Some("hello"));
            n.epb(2, 1024 * 3 + 512, b"bin", None);
            n.spb(b"simple");
            n.pb(1, 7, b"old");
            n.isb(0, 42);
            let mut second = Ng::new(!le); // a second section, other byte order
            second.idb(228, None);
            second.epb(0, 1, b"v4", None);
            n.out.extend_from_slice(&second.out);
            let mut r = CaptureReader::from_reader(std::io::Cursor::new(n.out.clone())).unwrap();
            while r.next().is_some() {}
            assert_eq!(r.dropped_by_interface(), 42);
            assert_eq!(
                read_all(n.out),
                vec![
                    Seen::Secrets(b"CLIENT_RANDOM aa bb\n".to_vec()),
                    frame(1, Timestamp(1_500_000_000), 1, b"us", 12),
                    frame(2, Timestamp(2_000_000_123), 113, b"ns", 12),
                    Seen::Comment(Some(2), "hello".into()),
                    frame(3, Timestamp(3_500_000_000), 101, b"bin", 13),
                    frame(4, Timestamp(0), 1, b"simple", 6),
                    frame(5, Timestamp(7), 113, b"old", 3),
                    frame(6, Timestamp(1_000), 228, b"v4", 12),
                ],
                "le={le}"
            );
        }
    }

    #[test]
    fn section_comment_is_reported() {
        let mut n = Ng { le: true, out: Vec::new() };
        n.shb(Some("made by a test"));
        n.idb(1, None);
        n.epb(0, 0, b"x", None);
        let seen = read_all(n.out);
        assert_eq!(seen[0], Seen::Comment(None, "made by a test".into()));
        assert!(matches!(seen[1], Seen::Frame { n: 1, .. }));
    }

    #[test]
    fn pcapng_skips_a_block_with_an_absurd_length() {
        let mut n = Ng::new(true);
        n.idb(1, None);
        n.epb(0, 0, b"first", None);
        let bad_at = n.out.len();
        n.epb(0, 0, b"broken", None);
        n.out[bad_at + 4..bad_at + 8].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
        n.epb(0, 0, b"third", None);
        let seen = read_all(n.out);
        assert!(matches!(&seen[0], Seen::Frame { data, .. } if data == b"first"));
        assert!(
            matches!(&seen[1], Seen::Problem(m) if m.contains("impossible length") && m.contains(&format!("file offset {bad_at}"))),
            "{seen:?}"
        );
        assert!(matches!(&seen[2], Seen::Frame { data, n: 2, .. } if data == b"third"), "{seen:?}");
    }

    #[test]
    fn twelve_byte_simple_packet_block_is_a_problem_not_a_frame() {
        let mut n = Ng::new(true);
        n.idb(1, None);
        n.block(SPB, &[]); // type, length 12, trailing length: no room for a packet
        n.epb(0, 0, b"next", None);
        let seen = read_all(n.out);
        assert!(
            matches!(&seen[0], Seen::Problem(m) if m.contains("simple packet block too short"))
        );
        assert!(matches!(&seen[1], Seen::Frame { n: 1, data, .. } if data == b"next"), "{seen:?}");
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn packet_for_an_undescribed_interface_is_a_problem() {
        let mut n = Ng::new(true);
        n.idb(1, None);
        n.epb(3, 0, b"x", None);
        n.epb(0, 0, b"y", None);
        let seen = read_all(n.out);
        assert!(matches!(&seen[0], Seen::Problem(m) if m.contains("interface 3")));
        assert!(matches!(&seen[1], Seen::Frame { n: 2, .. }));
    }

    #[test]
    fn packets_on_interfaces_past_the_limit_are_skipped_and_said_once_per_section() {
        let mut n = Ng::new(true);
        for _ in 0..MAX_INTERFACES + 3 {
            n.idb(1, None);
        }
        let first_past = MAX_INTERFACES as u32;
        n.epb(0, 0, b"a", None);
        let past_at = n.out.len();
        n.epb(first_past, 0, b"b", None);
        n.epb(first_past + 2, 0, b"c", None);
        n.epb(first_past - 1, 0, b"d", None);
        n.epb(first_past, 0, b"e", None);
        n.epb(first_past + 3, 0, b"f", None);
        // A new section numbers its interfaces afresh.
        n.shb(None);
        n.idb(1, None);
        n.epb(0, 0, b"g", None);
        n.epb(1, 0, b"h", None);
        let seen = read_all(n.out);
        let said = |frame: u64, at: usize| {
            Seen::Problem(format!(
                "warning: frame {frame}, file offset {at}: packet block for interface {first_past}, \
                 past the limit of 65536 interfaces this reader keeps per section: its packets, \
                 and those of every other interface past the limit, are skipped (said once per \
                 section)"
            ))
        };
        let packet = |n, data: &[u8]| frame(n, Timestamp(0), 1, data, data.len() as u32 + 10);
        let mut it = seen.into_iter();
        assert_eq!(it.next(), Some(packet(1, b"a")));
        assert_eq!(it.next(), Some(said(2, past_at)));
        // frame 3 ("c", past the limit too) is skipped without a word.
        assert_eq!(it.next(), Some(packet(4, b"d")));
        // frame 5 ("e") likewise; interface 65539 was never described.
        assert!(matches!(it.next(), Some(Seen::Problem(m)) if m.contains("frame 6")
                && m.contains("interface 65539, which was not described")),);
        assert_eq!(it.next(), Some(packet(7, b"g")));
        assert!(
            matches!(it.next(), Some(Seen::Problem(m)) if m.contains("interface 1, which was not described")),
        );
        assert_eq!(it.next(), None);
    }

    #[test]
    fn reads_gzip_compressed_captures() {
        use std::io::Write;
        let mut p = Pcap::new(true, false, 1, 65535);
        p.record(1, 0, b"zipped", 6);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&p.out).unwrap();
        let bytes = gz.finish().unwrap();
        let mut r = CaptureReader::from_reader(std::io::Cursor::new(bytes)).unwrap();
        assert!(r.is_compressed());
        assert!(matches!(r.next(), Some(Event::Frame(f)) if f.data == b"zipped"));
        assert!(r.next().is_none());
    }

    #[test]
    fn rejects_what_is_not_a_capture() {
        let err = CaptureReader::from_reader(std::io::Cursor::new(b"GET / HTTP/1.1\r\n".to_vec()))
            .unwrap_err();
        assert!(
            err.to_string().contains("not a pcap or pcapng capture (it starts with 47 45 54 20")
        );
        let err = CaptureReader::from_reader(std::io::Cursor::new(vec![0xd4])).unwrap_err();
        assert!(matches!(err, OpenError::Truncated(1)));
    }

    #[test]
    fn every_truncation_and_byte_flip_reads_without_panic() {
        let mut n = Ng::new(true);
        n.idb(1, Some(9));
        n.dsb(b"secret");
        n.epb(0, 5, b"payload", Some("c"));
        n.spb(b"s");
        n.isb(0, 1);
        let mut p = Pcap::new(false, true, 1, 100);
        p.record(1, 2, b"abc", 3);
        p.record(1, 3, b"def", 3);
        for base in [n.out, p.out] {
            for cut in 0..base.len() {
                if let Ok(mut r) =
                    CaptureReader::from_reader(std::io::Cursor::new(base[..cut].to_vec()))
                {
                    while r.next().is_some() {}
                }
            }
            for i in 0..base.len() {
                for v in [0x00, 0xff, 0x80] {
                    let mut b = base.clone();
                    b[i] = v;
                    if let Ok(mut r) = CaptureReader::from_reader(std::io::Cursor::new(b)) {
                        let mut guard = 0;
                        while r.next().is_some() {
                            guard += 1;
                            assert!(guard < 10_000, "reader does not terminate");
                        }
                    }
                }
            }
        }
    }
}
