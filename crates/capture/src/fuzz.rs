//! Fuzz body for reading captures, and the seed corpus of every fuzz target
//! made from real captures and their key logs. Not part of the API (hidden
//! from the docs).
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` only call these functions
//! (the bodies of the scope targets are in `tlsscope_scope::fuzz`), the
//! `fuzz_seeds` example writes [`seeds`] into `fuzz/corpus/TARGET/`, and
//! the unit tests below run every body over the same seeds and over
//! mutations of them, so a regression shows in `cargo test` too. See
//! docs/fuzzing.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tlsscope_scope::flow::{Limits, Reassembler};
use tlsscope_scope::frame::LinkType;
use tlsscope_scope::fuzz::{
    CheckingSink, ConnCheck, FrameRecord, TlsSeeds, checked_decode, extension_samples,
    frame_decode_input, frame_decode_seeds, hpack_seeds, http_capture_seeds, http1_seeds,
    http2_seeds, keylog_seeds, session_pipeline_seeds, sslv2_samples, tcp_reassembly_seeds,
    tls_assembler_seeds, tls_capture_seeds, tls_decrypt_seeds, tls_handshake_seeds,
    tls_record_seeds,
};

use crate::pcapng::{Interface, Packet, SecretsType, Section, Writer};
use crate::read::{CaptureReader, Event, MAX_BLOCK, SECRETS_TLS_KEY_LOG};

/// Every fuzz target, by the name of its file in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 15] = [
    "capture_read",
    "frame_decode",
    "tcp_reassembly",
    "http1",
    "http2",
    "hpack",
    "tls_record",
    "tls_handshake",
    "tls_assembler",
    "tls_sslv2",
    "tls_extensions",
    "x509",
    "keylog",
    "tls_decrypt",
    "session_pipeline",
];

/// What seeds are made from: a capture file and the key log that goes
/// with it, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeedCapture {
    /// The file (pcap, pcapng, or gzip of either).
    pub bytes: Vec<u8>,
    /// Its key log (NSS format), if there is one.
    pub keylog: Option<Vec<u8>>,
}

/// Reads every `.pcap` and `.pcapng` under `dir` (its subdirectories
/// too), sorted by path, each with the key log of the same name beside it
/// (`lab.pcap` and `lab.keys`) when there is one.
pub fn read_captures(dir: &Path) -> std::io::Result<Vec<(PathBuf, SeedCapture)>> {
    let mut paths = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path)?;
        let keys = path.with_extension("keys");
        let keylog = if keys.is_file() { Some(std::fs::read(&keys)?) } else { None };
        out.push((path, SeedCapture { bytes, keylog }));
    }
    Ok(out)
}

/// The reassembly limits of [`capture_read`]: small, so that inputs of a
/// few dozen frames reach them.
pub const CAPTURE_LIMITS: Limits = Limits {
    max_buffered_per_direction: 8 << 10,
    max_segments_per_direction: 16,
    max_buffered_total: 16 << 10,
    max_connections: 8,
    reorder_frames: 16,
    closed_linger_ns: 60_000_000_000,
};

/// Fuzz body: reads `data` as a capture file (pcap, pcapng, gzip of
/// either) to the end, decodes every frame and reassembles its TCP, with
/// the checks of `tlsscope_scope::fuzz` (the stream-sink contract, the
/// decoder's promises, the buffer limits) and the reader's own: frame
/// numbers increase, nothing is larger than [`MAX_BLOCK`], and a frame is
/// never longer than its length on the wire.
pub fn capture_read(data: &[u8]) {
    let Ok(mut reader) = CaptureReader::from_reader(std::io::Cursor::new(data.to_vec())) else {
        return;
    };
    let limits = CAPTURE_LIMITS;
    let mut r = Reassembler::<ConnCheck>::new(limits);
    let mut sink = CheckingSink::default();
    let mut last = 0u64;
    // Where the reader says the bytes of a frame or a secrets block lie in
    // the file, they lie (in a file read as it is, not inflated).
    let compressed = reader.is_compressed();
    let lies_at = |what: &str, at: Option<u64>, bytes: &[u8]| {
        if compressed {
            return;
        }
        let at = at.and_then(|a| usize::try_from(a).ok());
        let found = at.and_then(|a| data.get(a..a.checked_add(bytes.len())?));
        assert_eq!(found, Some(bytes), "{what} not at its file offset {at:?}");
    };
    while let Some(event) = reader.next() {
        match event {
            Event::Frame(frame) => {
                assert!(frame.number > last, "frame {} after frame {last}", frame.number);
                last = frame.number;
                assert!(frame.data.len() <= MAX_BLOCK, "frame of {} bytes", frame.data.len());
                assert!(
                    frame.orig_len as usize >= frame.data.len(),
                    "frame {}: {} bytes captured of {} on the wire",
                    frame.number,
                    frame.data.len(),
                    frame.orig_len
                );
                lies_at("frame", frame.file_offset, frame.data);
                let seg = checked_decode(&frame);
                sink.record_frame(frame.number, seg.as_ref().map(|s| FrameRecord::of(s, frame.ts)));
                let tcp = r.push_frame(&mut sink, &frame);
                assert_eq!(tcp, seg.is_some(), "push_frame and decode disagree");
                sink.check_bounds(&r, &limits);
            }
            Event::Secrets { data: secrets, file_offset, .. } => {
                assert!(secrets.len() <= MAX_BLOCK);
                lies_at("secrets", Some(file_offset), secrets);
            }
            Event::Comment { text, .. } => assert!(text.len() <= MAX_BLOCK),
            Event::Problem(d) => assert!(!d.to_string().is_empty()),
        }
    }
    assert!(reader.frames() >= last, "frames() below the last frame number");
    r.finish_all(&mut sink);
    sink.check_finished(&r);
}

/// Packet records (pcap) or blocks (pcapng) per `capture_read` seed: small
/// seeds keep the fuzzer fast, and real conversations are only a few dozen
/// frames anyway.
const PIECE_RECORDS: usize = 8;

/// Whole captures up to this size are seeds as well.
const WHOLE_CAPTURE_MAX: usize = 64 << 10;

/// Bytes of one connection's script in an `http1`/`http2` seed: the
/// fuzzer's inputs are 8 KiB at most (scripts/fuzz), and the start of a
/// conversation is what matters.
const HTTP_SEED_MAX: usize = 4096;

/// Frames per capture whose datagram is also re-wrapped in every other
/// link type for `frame_decode`.
const REWRAPPED_FRAMES: usize = 8;

/// The seed corpus of fuzz target `target` (one of [`TARGETS`]) made from
/// the given captures and their key logs; None for an unknown target.
///
/// - `capture_read`: each capture cut into pieces of a few records (each
///   piece with its file header, or its section header and interface
///   descriptions), whole small captures, a gzip-compressed piece, and a
///   pcapng written by [`crate::pcapng::Writer`] (secrets, comments).
/// - `frame_decode`: every frame, and the first frames re-wrapped in every
///   other link type.
/// - `tcp_reassembly`: hand-made scripts (captures do not translate into
///   its input).
/// - `http1`, `http2`: hand-made conversations, and each TCP connection of
///   the captures as a script (HTTP/2 ones for `http2`, the rest for
///   `http1`), cut at [`HTTP_SEED_MAX`] bytes.
/// - `hpack`: the RFC 7541 Appendix C blocks.
/// - `tls_record`, `tls_handshake`, `tls_assembler`, `tls_extensions`,
///   `session_pipeline`: the hand-made seeds of `tlsscope_scope::fuzz`,
///   and what `tls_capture_seeds` makes of each capture with its key log
///   (the one beside it and any in its Decryption Secrets Blocks): each
///   direction's stream, every handshake message (decrypted ones too),
///   its extension blocks, each connection with and without its keys.
/// - `x509`: every certificate in the captures.
/// - `tls_sslv2`: the hand-made hellos, and every ClientHello of the
///   captures rewritten as an SSLv2-compatible one (real cipher lists).
/// - `keylog`: the hand-made key logs, and each capture's key log read in
///   chunks of several sizes.
/// - `tls_decrypt`: hand-made records for every cipher suite it knows
///   (its keys are its own, so captures cannot help).
pub fn seeds(target: &str, captures: &[SeedCapture]) -> Option<Vec<Vec<u8>>> {
    let tls = |hand: Vec<Vec<u8>>, pick: fn(TlsSeeds) -> Vec<Vec<u8>>| {
        let mut out = hand;
        for c in captures {
            out.extend(pick(capture_tls_seeds(c)));
        }
        out
    };
    let mut out = match target {
        "capture_read" => {
            let mut out = Vec::new();
            for c in captures.iter().map(|c| &c.bytes) {
                let pieces = pieces(c, PIECE_RECORDS);
                if let Some(first) = pieces.first() {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    if gz.write_all(first).is_ok()
                        && let Ok(z) = gz.finish()
                    {
                        out.push(z);
                    }
                }
                out.extend(pieces);
                if c.len() <= WHOLE_CAPTURE_MAX {
                    out.push(c.clone());
                }
            }
            out.extend(written_pcapng(captures));
            for le in [true, false] {
                out.extend(hand_pcapng(captures, le));
            }
            out
        }
        "frame_decode" => {
            let mut out = Vec::new();
            for c in captures {
                for_each_frame(&c.bytes, |i, link, data| {
                    if i < REWRAPPED_FRAMES {
                        out.extend(frame_decode_seeds(link, data));
                    } else {
                        out.extend(frame_decode_input(link, data));
                    }
                });
            }
            out
        }
        "tcp_reassembly" => tcp_reassembly_seeds(),
        "http1" | "http2" => {
            let h2 = target == "http2";
            let mut out = if h2 { http2_seeds() } else { http1_seeds() };
            for c in captures {
                let mut frames = Vec::new();
                for_each_frame(&c.bytes, |_, link, data| frames.push((link, data.to_vec())));
                out.extend(http_capture_seeds(&frames, h2, HTTP_SEED_MAX));
            }
            out
        }
        "hpack" => hpack_seeds(),
        "tls_record" => tls(tls_record_seeds(), |s| s.tls_record),
        "tls_handshake" => tls(tls_handshake_seeds(), |s| s.tls_handshake),
        "tls_assembler" => tls(tls_assembler_seeds(), |s| s.tls_assembler),
        "tls_extensions" => {
            tls(extension_samples().into_iter().map(|(_, b)| b).collect(), |s| s.tls_extensions)
        }
        "x509" => tls(Vec::new(), |s| s.x509),
        "session_pipeline" => tls(session_pipeline_seeds(), |s| s.session_pipeline),
        "tls_sslv2" => {
            let hellos = tls(Vec::new(), |s| s.tls_handshake);
            // A tls_handshake seed is a selector byte, then the message.
            let v2 = hellos.iter().filter_map(|h| sslv2_from_client_hello(h.get(1..)?));
            sslv2_samples().into_iter().chain(v2).collect()
        }
        "keylog" => {
            let mut out = keylog_seeds();
            for c in captures {
                let (_, keylog) = frames_and_keylog(c);
                if !keylog.is_empty() {
                    // Chunks of 1, 5 and 64 bytes (the first byte's value + 1).
                    out.extend([0u8, 4, 63].map(|sel| [&[sel][..], &keylog].concat()));
                }
            }
            out
        }
        "tls_decrypt" => tls_decrypt_seeds(),
        _ => return None,
    };
    out.sort();
    out.dedup();
    Some(out)
}

/// A capture's frames, and its key log: the file beside it, then the TLS
/// key logs of its Decryption Secrets Blocks.
fn frames_and_keylog(c: &SeedCapture) -> (Vec<(LinkType, Vec<u8>)>, Vec<u8>) {
    let mut frames = Vec::new();
    let mut keylog = c.keylog.clone().unwrap_or_default();
    let Ok(mut reader) = CaptureReader::from_reader(std::io::Cursor::new(c.bytes.clone())) else {
        return (frames, keylog);
    };
    while let Some(event) = reader.next() {
        match event {
            Event::Frame(frame) => frames.push((frame.link, frame.data.to_vec())),
            Event::Secrets { kind: SECRETS_TLS_KEY_LOG, data, .. } => {
                if !keylog.is_empty() && !keylog.ends_with(b"\n") {
                    keylog.push(b'\n');
                }
                keylog.extend_from_slice(data);
            }
            _ => {}
        }
    }
    (frames, keylog)
}

/// The TLS targets' seeds from one capture and its key log.
fn capture_tls_seeds(c: &SeedCapture) -> TlsSeeds {
    let (frames, keylog) = frames_and_keylog(c);
    tls_capture_seeds(&frames, &keylog)
}

/// A TLS ClientHello message (header included) rewritten as the body of an
/// SSLv2-compatible ClientHello (RFC 5246 Appendix E.2): the same version,
/// each cipher suite as a 3-byte spec `00 XX YY`, the session id, and the
/// random as the 32-byte challenge. None if `msg` is not a ClientHello.
fn sslv2_from_client_hello(msg: &[u8]) -> Option<Vec<u8>> {
    // type (1), length (3), version (2), random (32), session id (u8 length).
    let (&[1, _, _, _, v0, v1], rest) = msg.split_first_chunk::<6>()? else { return None };
    let (random, rest) = rest.split_first_chunk::<32>()?;
    let (&sid_len, rest) = rest.split_first()?;
    let sid = rest.get(..usize::from(sid_len))?;
    let rest = rest.get(usize::from(sid_len)..)?;
    let (&suites_len, rest) = rest.split_first_chunk::<2>()?;
    let suites = rest.get(..usize::from(u16::from_be_bytes(suites_len)))?;
    let mut specs = Vec::new();
    for suite in suites.chunks_exact(2) {
        specs.push(0);
        specs.extend_from_slice(suite);
    }
    let mut out = vec![1, v0, v1];
    for n in [specs.len(), sid.len(), random.len()] {
        out.extend_from_slice(&u16::try_from(n).ok()?.to_be_bytes());
    }
    out.extend([specs.as_slice(), sid, random].concat());
    Some(out)
}

/// Calls `f(index, link, bytes)` for every frame of a capture.
fn for_each_frame(capture: &[u8], mut f: impl FnMut(usize, LinkType, &[u8])) {
    let Ok(mut reader) = CaptureReader::from_reader(std::io::Cursor::new(capture.to_vec())) else {
        return;
    };
    let mut i = 0;
    while let Some(event) = reader.next() {
        if let Event::Frame(frame) = event {
            f(i, frame.link, frame.data);
            i = i.saturating_add(1);
        }
    }
}

/// A pcapng made by our own writer from the first frames of `captures`:
/// a section comment, a Decryption Secrets Block, packet comments and
/// direction flags, which the captures in testdata may lack.
fn written_pcapng(captures: &[SeedCapture]) -> Option<Vec<u8>> {
    let mut frames = Vec::new();
    for c in captures {
        for_each_frame(&c.bytes, |i, link, data| {
            if i < 4 {
                frames.push((link, data.to_vec()));
            }
        });
    }
    let section = Section { comments: vec!["fuzz seed".into()], ..Section::tlsscope() };
    let mut w = Writer::new(Vec::new(), &section).ok()?;
    w.write_secrets(SecretsType::TLS_KEY_LOG, b"CLIENT_RANDOM 00 11\n").ok()?;
    let mut ids = Vec::new();
    for (n, (link, data)) in frames.iter().enumerate() {
        let id = match ids.iter().find(|(l, _)| l == link) {
            Some((_, id)) => *id,
            None => {
                let id = w.add_interface(&Interface::new(*link, 0)).ok()?;
                ids.push((*link, id));
                id
            }
        };
        let millis = 1_700_000_000_000u64.saturating_add(n as u64);
        let ts = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(millis))?;
        let mut p = Packet::new(id, ts, data);
        p.comment = (n % 3 == 0).then_some("a packet comment");
        p.direction = Some(crate::pcapng::Direction::Inbound);
        w.write_packet(&p).ok()?;
    }
    w.finish().ok()
}

/// A pcapng built block by block in either byte order, with the blocks
/// our writer does not make: simple and obsolete packet blocks (the first
/// frame of `captures`), interface statistics, an interface with a
/// nanosecond `if_tsresol`, and a second section.
fn hand_pcapng(captures: &[SeedCapture], le: bool) -> Option<Vec<u8>> {
    let mut frame = None;
    for c in captures {
        for_each_frame(&c.bytes, |i, link, data| {
            if i == 0 && frame.is_none() {
                frame = Some((link, data.to_vec()));
            }
        });
    }
    let (link, data) = frame?;
    let w16 = |v: u16| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let w32 = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
    let padded = |b: &[u8]| {
        let mut v = b.to_vec();
        v.resize(b.len().next_multiple_of(4), 0);
        v
    };
    let block = |kind: u32, body: &[u8]| {
        let total = body.len().checked_add(12).and_then(|l| u32::try_from(l).ok());
        let len = w32(total.unwrap_or(0));
        [&w32(kind)[..], &len, body, &len].concat()
    };
    let link16 = w16(u16::try_from(link.0).ok()?);
    let len32 = w32(u32::try_from(data.len()).ok()?);
    // Section header: byte-order magic, version 1.0, unknown section length.
    let shb = block(0x0a0d_0d0a, &[&w32(0x1a2b_3c4d)[..], &w16(1), &w16(0), &[0xff; 8]].concat());
    // Interface: link type, reserved, snaplen 0, option if_tsresol (9) = 9, end.
    let idb_body =
        [&link16[..], &w16(0), &w32(0), &w16(9), &w16(1), &[9, 0, 0, 0], &w16(0), &w16(0)];
    let idb = block(1, &idb_body.concat());
    let spb = block(3, &[&len32[..], &padded(&data)].concat());
    let pb_head = [&w16(0)[..], &w16(0), &w32(0), &w32(1_000_000), &len32, &len32].concat();
    let pb = block(2, &[&pb_head[..], &padded(&data)].concat());
    // Interface statistics: interface 0, timestamp, isb_ifdrop (5) = 3, end.
    let drops = if le { 3u64.to_le_bytes() } else { 3u64.to_be_bytes() };
    let isb = block(5, &[&w32(0)[..], &[0; 8], &w16(5), &w16(8), &drops, &[0; 4]].concat());
    let section = [shb, idb, spb, pb, isb].concat();
    Some([section.as_slice(), &section].concat())
}

/// A part of a capture file, for cutting it into pieces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Starts a section: the pcap file header, or a pcapng section header.
    Start,
    /// Needed by the records after it: a pcapng interface description.
    Context,
    /// A packet record or any other block.
    Record,
}

/// Splits a pcap or pcapng file into its parts, in order, up to the first
/// part that does not fit. Empty for anything else (gzip included).
fn parts(c: &[u8]) -> Vec<(Part, &[u8])> {
    // The u32 `off` bytes into the part at `at`.
    let u32_at = |at: usize, off: usize, le: bool| -> Option<u32> {
        let b: [u8; 4] = *c.get(at..)?.get(off..)?.first_chunk()?;
        Some(if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let mut out = Vec::new();
    let pcap_le = match c.get(..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]) => Some(true),
        Some([0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]) => Some(false),
        _ => None,
    };
    if let Some(le) = pcap_le {
        let Some(header) = c.get(..24) else { return out };
        out.push((Part::Start, header));
        let mut at = 24;
        while let Some(caplen) = u32_at(at, 8, le) {
            let Some(end) = at.checked_add(16).and_then(|e| e.checked_add(caplen as usize)) else {
                break;
            };
            let Some(record) = c.get(at..end) else { break };
            out.push((Part::Record, record));
            at = end;
        }
        return out;
    }
    // pcapng: the section header's byte-order magic sets each section's order.
    let mut at = 0;
    let mut le = true;
    while let Some(kind) = u32_at(at, 0, true) {
        if kind == 0x0a0d_0d0a {
            le = match u32_at(at, 8, true) {
                Some(0x1a2b_3c4d) => true,
                Some(0x4d3c_2b1a) => false,
                _ => break,
            };
        } else if out.is_empty() {
            break; // not pcapng
        }
        let Some(len) = u32_at(at, 4, le).map(|l| l as usize) else { break };
        if len < 12 {
            break;
        }
        let Some(end) = at.checked_add(len) else { break };
        let Some(block) = c.get(at..end) else { break };
        let part = match u32_at(at, 0, le) {
            Some(0x0a0d_0d0a) => Part::Start,
            Some(1) => Part::Context,
            _ => Part::Record,
        };
        out.push((part, block));
        at = end;
    }
    out
}

/// Cuts a capture into valid smaller captures of up to `per_piece` records
/// each, every piece starting with the headers its records need.
fn pieces(c: &[u8], per_piece: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut context: Vec<u8> = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut n = 0usize;
    for (part, bytes) in parts(c) {
        if part != Part::Record && n > 0 {
            out.push([context.as_slice(), &body].concat());
            body.clear();
            n = 0;
        }
        match part {
            Part::Start => {
                context.clear();
                context.extend_from_slice(bytes);
            }
            Part::Context => context.extend_from_slice(bytes),
            Part::Record => {
                body.extend_from_slice(bytes);
                n = n.saturating_add(1);
                if n == per_piece {
                    out.push([context.as_slice(), &body].concat());
                    body.clear();
                    n = 0;
                }
            }
        }
    }
    if n > 0 {
        out.push([context.as_slice(), &body].concat());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlsscope_scope::fuzz::{XorShift, frame_decode, tcp_reassembly};

    /// The captures in testdata/captures (every set), with their key logs.
    fn testdata() -> Vec<(PathBuf, SeedCapture)> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/captures");
        let out = read_captures(Path::new(root)).unwrap();
        assert!(out.len() >= 9, "testdata captures missing under {root}");
        out
    }

    /// The capture files in testdata/captures, by name.
    fn testdata_captures() -> Vec<(String, Vec<u8>)> {
        testdata().into_iter().map(|(p, c)| (p.display().to_string(), c.bytes)).collect()
    }

    fn corpus(target: &str) -> Vec<Vec<u8>> {
        let captures: Vec<SeedCapture> = testdata().into_iter().map(|(_, c)| c).collect();
        seeds(target, &captures).unwrap()
    }

    fn body(target: &str) -> fn(&[u8]) {
        match target {
            "capture_read" => capture_read,
            "frame_decode" => frame_decode,
            "tcp_reassembly" => tcp_reassembly,
            "http1" => tlsscope_scope::fuzz::http1,
            "http2" => tlsscope_scope::fuzz::http2,
            "hpack" => tlsscope_scope::fuzz::hpack,
            "tls_record" => tlsscope_scope::fuzz::tls_record,
            "tls_handshake" => tlsscope_scope::fuzz::tls_handshake,
            "tls_assembler" => tlsscope_scope::fuzz::tls_assembler,
            "tls_sslv2" => tlsscope_scope::fuzz::tls_sslv2,
            "tls_extensions" => tlsscope_scope::fuzz::tls_extensions,
            "x509" => tlsscope_scope::fuzz::x509,
            "keylog" => tlsscope_scope::fuzz::keylog,
            "tls_decrypt" => tlsscope_scope::fuzz::tls_decrypt,
            "session_pipeline" => tlsscope_scope::fuzz::session_pipeline,
            _ => panic!("no body for {target}"),
        }
    }

    #[test]
    fn every_testdata_capture_reads_clean_under_the_checks() {
        for (name, c) in testdata_captures() {
            let mut r = CaptureReader::from_reader(std::io::Cursor::new(c.clone())).unwrap();
            let mut frames = 0;
            while let Some(e) = r.next() {
                assert!(!matches!(e, Event::Problem(_)), "{name}: {e:?}");
                frames += u32::from(matches!(e, Event::Frame(_)));
            }
            assert!(frames > 10, "{name}");
            capture_read(&c);
        }
    }

    #[test]
    fn pieces_are_valid_captures_holding_every_record_once() {
        for (name, c) in testdata_captures() {
            let count = |bytes: &[u8]| {
                let mut r = CaptureReader::from_reader(std::io::Cursor::new(bytes.to_vec()))
                    .unwrap_or_else(|e| panic!("{name}: a piece does not open: {e}"));
                let mut n = 0;
                while let Some(e) = r.next() {
                    assert!(!matches!(e, Event::Problem(_)), "{name}: {e:?}");
                    n += usize::from(matches!(e, Event::Frame(_)));
                }
                n
            };
            let pieces = pieces(&c, PIECE_RECORDS);
            assert!(pieces.len() > 1, "{name}");
            let in_pieces: usize = pieces.iter().map(|p| count(p)).sum();
            assert_eq!(in_pieces, count(&c), "{name}");
        }
    }

    #[test]
    fn seeds_exist_for_every_target_and_run_clean() {
        for target in TARGETS {
            let corpus = corpus(target);
            // x509 has only the captures' certificates (four different ones).
            let least = if target == "x509" { 4 } else { 10 };
            assert!(corpus.len() >= least, "{target}: {} seeds", corpus.len());
            for seed in &corpus {
                body(target)(seed);
            }
        }
        assert!(seeds("no_such_target", &[]).is_none());
    }

    #[test]
    fn every_tls_capture_comes_with_its_key_log() {
        let all = testdata();
        let tls: Vec<_> =
            all.iter().filter(|(p, _)| p.parent().is_some_and(|d| d.ends_with("tls"))).collect();
        assert!(tls.len() >= 4);
        for (path, c) in tls {
            let keys =
                c.keylog.as_deref().unwrap_or_else(|| panic!("{}: no key log", path.display()));
            assert!(
                keys.starts_with(b"CLIENT_")
                    || keys.starts_with(b"SERVER_")
                    || keys.starts_with(b"#"),
                "{}",
                path.display()
            );
        }
        assert!(all.iter().any(|(_, c)| c.keylog.is_none()), "the tcp captures have no key log");
    }

    /// What a capture's key log gives the seeds (the client randoms' lines
    /// in the session_pipeline seeds) it gives as well from a Decryption
    /// Secrets Block inside the capture.
    #[test]
    fn a_key_log_inside_the_capture_serves_like_one_beside_it() {
        let (path, beside) =
            testdata().into_iter().find(|(p, _)| p.ends_with("tls/lab.pcap")).unwrap();
        let keys = beside.keylog.clone().unwrap();
        let (frames, _) = frames_and_keylog(&beside);
        let mut w = Writer::new(Vec::new(), &Section::tlsscope()).unwrap();
        w.write_secrets(SecretsType::TLS_KEY_LOG, &keys).unwrap();
        let id = w.add_interface(&Interface::new(frames[0].0, 0)).unwrap();
        for (n, (_, data)) in frames.iter().enumerate() {
            let ts = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + n as u64);
            w.write_packet(&Packet::new(id, ts, data)).unwrap();
        }
        let inside = SeedCapture { bytes: w.finish().unwrap(), keylog: None };
        let (_, found) = frames_and_keylog(&inside);
        assert_eq!(found, keys, "{}", path.display());
        let with_keys = seeds("session_pipeline", std::slice::from_ref(&beside)).unwrap();
        assert_eq!(seeds("session_pipeline", &[inside]).unwrap(), with_keys);
        // And the keys matter: without them the seeds differ.
        let bare = SeedCapture { keylog: None, ..beside };
        assert_ne!(seeds("session_pipeline", &[bare]).unwrap(), with_keys);
    }

    #[test]
    fn client_hellos_of_the_captures_become_sslv2_hellos_with_their_suites() {
        let captures: Vec<SeedCapture> = testdata().into_iter().map(|(_, c)| c).collect();
        let mut made = 0;
        for c in &captures {
            for seed in capture_tls_seeds(c).tls_handshake {
                let msg = &seed[1..];
                let Some(v2) = sslv2_from_client_hello(msg) else {
                    assert_ne!(msg[0], 1, "a ClientHello not rewritten");
                    continue;
                };
                let ch = tlsscope_scope::tls::handshake::parse_sslv2_client_hello(
                    &v2,
                    &mut tlsscope_scope::tree::Tree::off(),
                )
                .unwrap();
                let suites_len = usize::from(u16::from_be_bytes([
                    msg[39 + usize::from(msg[38])],
                    msg[40 + usize::from(msg[38])],
                ]));
                assert_eq!(ch.cipher_suites.len(), suites_len / 2);
                made += 1;
            }
        }
        assert!(made >= 4, "{made} SSLv2 hellos from the captures");
        assert!(corpus("tls_sslv2").len() >= made + sslv2_samples().len() - 1);
    }

    #[test]
    fn capture_read_seeds_reach_gzip_secrets_and_comments() {
        let mut gz = false;
        let mut secrets = false;
        let mut comments = false;
        for seed in corpus("capture_read") {
            let mut r = CaptureReader::from_reader(std::io::Cursor::new(seed)).unwrap();
            gz |= r.is_compressed();
            while let Some(e) = r.next() {
                secrets |= matches!(e, Event::Secrets { .. });
                comments |= matches!(e, Event::Comment { frame: Some(_), .. });
            }
        }
        assert!(gz && secrets && comments, "gzip {gz}, secrets {secrets}, comments {comments}");
    }

    #[test]
    fn hand_built_pcapng_seeds_read_without_problems() {
        let captures: Vec<SeedCapture> = testdata().into_iter().map(|(_, c)| c).collect();
        for le in [true, false] {
            let seed = hand_pcapng(&captures, le).unwrap();
            let mut r = CaptureReader::from_reader(std::io::Cursor::new(seed)).unwrap();
            let mut frames = Vec::new();
            while let Some(e) = r.next() {
                match e {
                    Event::Frame(f) => frames.push((f.data.len(), f.ts)),
                    other => panic!("le {le}: {other:?}"),
                }
            }
            assert_eq!(frames.len(), 4, "le {le}");
            assert!(frames.iter().all(|&(len, _)| len == frames[0].0 && len > 0));
            // The obsolete packet block's timestamp is in nanoseconds.
            assert_eq!(frames[1].1.0, 1_000_000);
            assert_eq!(r.dropped_by_interface(), 6);
        }
    }

    /// What a short fuzzing run does, in miniature and deterministic: a
    /// few thousand mutations of the seeds through every body.
    #[test]
    fn every_body_survives_mutated_seeds() {
        let mut rng = XorShift(0xf022_5eed);
        for (target, runs) in [
            ("capture_read", 1500),
            ("frame_decode", 3000),
            ("tcp_reassembly", 3000),
            ("http1", 1500),
            ("http2", 1500),
            ("hpack", 3000),
            ("tls_record", 1500),
            ("tls_handshake", 3000),
            ("tls_assembler", 1500),
            ("tls_sslv2", 3000),
            ("tls_extensions", 1500),
            ("x509", 1500),
            ("keylog", 1500),
            ("tls_decrypt", 1500),
            ("session_pipeline", 300),
        ] {
            let corpus = corpus(target);
            for _ in 0..runs {
                let pick = rng.below(corpus.len());
                let mut input = rng.mutate(&corpus[pick]);
                for _ in 0..rng.below(3) {
                    input = rng.mutate(&input);
                }
                body(target)(&input);
            }
        }
    }
}
