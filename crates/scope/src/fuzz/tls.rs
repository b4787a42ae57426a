//! Fuzz bodies for the TLS layers, and the checks they make: the record
//! deframer ([`tls_record()`]), handshake messages ([`tls_handshake()`]), their
//! reassembly from records ([`tls_assembler()`]), SSLv2-compatible hellos
//! ([`tls_sslv2()`]), extension blocks ([`tls_extensions()`]), certificates
//! ([`x509()`]), key logs ([`keylog()`]), record decryption ([`tls_decrypt()`])
//! and the whole pipeline from TCP segments to decrypted HTTP
//! ([`session_pipeline()`]). Part of [`crate::fuzz`]: the same rules apply
//! (see its module docs and docs/fuzzing.md). [`tls_capture_seeds`] turns
//! real captures and their key logs into seeds for all of them.
//!
//! One module per target, named after it (`keylog_target` and
//! `x509_target`, whose names the parsers' modules have); this module
//! holds what they share: the tree checks, the building blocks of
//! hand-made inputs, the seeds and the tests that run every body over them.

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

mod keylog_target;
mod session_pipeline;
mod tls_assembler;
mod tls_decrypt;
mod tls_extensions;
mod tls_handshake;
mod tls_record;
mod tls_sslv2;
mod x509_target;

pub use keylog_target::*;
pub use session_pipeline::*;
pub use tls_assembler::*;
pub use tls_decrypt::*;
pub use tls_extensions::*;
pub use tls_handshake::*;
pub use tls_record::*;
pub use tls_sslv2::*;
pub use x509_target::*;

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
// Seeds

/// The largest seed made for most TLS targets (scripts/fuzz's default
/// largest input).
pub const TLS_SEED_MAX: usize = 8192;

/// The largest [`session_pipeline()`] seed: a handshake with a certificate
/// chain and the first application data.
pub const PIPELINE_SEED_MAX: usize = 16384;

/// Hand-made [`tls_record()`] inputs: records in one chunk and split, an
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

/// Hand-made [`session_pipeline()`] inputs: plain HTTP, an SSLv2 hello, a
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
    /// [`tls_record()`]: each direction of each connection, chunked as
    /// captured.
    pub tls_record: Vec<Vec<u8>>,
    /// [`tls_handshake()`]: every handshake message (decrypted ones too),
    /// with the context it was parsed in.
    pub tls_handshake: Vec<Vec<u8>>,
    /// [`tls_assembler()`]: each direction's messages, recut into records.
    pub tls_assembler: Vec<Vec<u8>>,
    /// [`tls_extensions()`]: every extension block of those messages.
    pub tls_extensions: Vec<Vec<u8>>,
    /// [`x509`]: every certificate.
    pub x509: Vec<Vec<u8>>,
    /// [`session_pipeline()`]: each connection with the key log lines of its
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
/// [`tls_assembler()`], at most [`TLS_SEED_MAX`] bytes.
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
        crate::frame::Frame::whole(i as u64 + 1, Timestamp(i as i64), link, data)
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
