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
//! - [`frame_decode()`]: one frame; the first byte picks the link type.
//! - [`tcp_reassembly()`]: a script of synthetic TCP segments (see
//!   [`TcpScript`]) fed to a [`Reassembler`] with small [`TCP_LIMITS`],
//!   watched by a [`CheckingSink`].
//! - [`http1`], [`http2`]: a script of stream pieces and gaps (see
//!   [`http_script`]) through an [`HttpConn`] with small [`HTTP_LIMITS`],
//!   whole and byte by byte (the events must not differ).
//! - [`hpack()`]: header blocks through one HPACK decoder, re-encoded and
//!   decoded again; Huffman checked against a bit-by-bit reference.
//! - The TLS layers, from the record deframer to the whole session
//!   pipeline: in `fuzz/tls.rs` (re-exported here), whose module docs
//!   list them.
//!
//! Each body is in a module of its own under `fuzz/` (`frame_decode`,
//! `tcp_reassembly`, `http_targets` for `http1` and `http2`, which share
//! their script, `hpack_target`), re-exported here; this module holds the
//! tests that run them over seeds and mutations.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::diag::Diagnostic;
use crate::flow::{Chunk, ConnInfo, Dir, EndReason, Limits, PerDir, Reassembler, StreamSink};
use crate::frame::{DecodeError, Decoded, Frame, LinkType, TcpFlags, TcpSegment, decode};
use crate::http::{self, HttpConn, HttpEvent, HttpOptions, Protocol, hpack};
use crate::time::Timestamp;

mod frame_decode;
mod hpack_target;
mod http_targets;
mod tcp_reassembly;
mod tls;

pub use frame_decode::*;
pub use hpack_target::*;
pub use http_targets::*;
pub use tcp_reassembly::*;
pub use tls::*;

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
                let f = Frame {
                    number: 1,
                    ts: Timestamp(0),
                    link,
                    data: &s[1..],
                    orig_len: 0,
                    file_offset: None,
                };
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
