//! Decrypts real TLS sessions with the scope's key log parser, key
//! schedules and record decryption, and checks every record against what
//! real peers and tshark say.
//!
//! * `checked_in_captures_decrypt_like_tshark`: the captures under
//!   testdata/captures/tls (made by testdata/make-captures.sh with openssl
//!   s_client/s_server, curl, nghttp and `tlsscope serve`: TLS 1.2 GCM,
//!   ChaCha20, CBC with SHA-1/256/384 with and without encrypt-then-MAC,
//!   DHE, static RSA, resumption; TLS 1.3 every suite incl. CCM and CCM_8,
//!   HelloRetryRequest, PSK, 0-RTT, KeyUpdate, client certificates) are
//!   read with tlsscope-capture, reassembled with the scope's flow module,
//!   and every encrypted record of every session must decrypt (good tag or
//!   MAC and padding), every Finished must verify, and the application data
//!   of each stream must equal what `tshark -z follow,tls,raw` decrypts.
//! * `openssl_peers_through_a_relay`: what the captures lack — TLS 1.0
//!   (chained CBC IVs) and 1.1, Camellia, AES-CCM in TLS 1.2, NULL
//!   encryption, static RSA decrypted with the server's private key — from
//!   openssl s_client and s_server talking through a recording relay on
//!   loopback (no root needed).
//! * `rsa_premaster_from_openssl_pkeyutl`: RSA PKCS#1 v1.5 decryption of a
//!   premaster encrypted by `openssl pkeyutl`.
//!
//! The interop tests fail (they do not skip) when openssl or tshark is
//! missing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tlsscope_capture::read::{CaptureReader, Event};
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, Limits, Reassembler, StreamSink};
use tlsscope_scope::tls::decrypt::{CipherSpec, DecryptError, Decryptor, RecordKeys, Side};
use tlsscope_scope::tls::keylog::{KeyLog, Secret};
use tlsscope_scope::tls::keys::{self, HashAlg, Prf};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls")
}

fn need(program: &str) {
    let ok = Command::new(program)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(ok, "{program} is needed by this test: install it (apt-get install {program})");
}

// ---------------------------------------------------------------------------
// Streams out of a capture

#[derive(Default)]
struct Streams {
    conns: BTreeMap<u64, [Vec<u8>; 2]>,
    clients: BTreeMap<u64, std::net::SocketAddr>,
}

impl StreamSink<()> for Streams {
    fn data(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, chunk: Chunk<'_>) {
        self.clients.insert(info.id, info.client);
        self.conns.entry(info.id).or_default()[dir.index()].extend_from_slice(chunk.data);
    }
    fn gap(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, offset: u64, len: u64, _: u64) {
        panic!("stream {} {dir:?}: gap of {len} bytes at {offset}", info.id);
    }
    fn close(&mut self, _: &ConnInfo, _: (), _: EndReason) {}
}

type Conns = (BTreeMap<u64, [Vec<u8>; 2]>, BTreeMap<u64, std::net::SocketAddr>);

fn streams(capture: &Path) -> Conns {
    let mut reader = CaptureReader::open(capture).unwrap();
    let mut r = Reassembler::<()>::new(Limits::default());
    let mut sink = Streams::default();
    while let Some(event) = reader.next() {
        if let Event::Frame(frame) = event {
            r.push_frame(&mut sink, &frame);
        }
    }
    r.finish_all(&mut sink);
    (sink.conns, sink.clients)
}

// ---------------------------------------------------------------------------
// A small TLS walker (test code: it trusts its input)

fn records(stream: &[u8]) -> Vec<([u8; 5], Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 5 {
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            break;
        }
        out.push((rest[..5].try_into().unwrap(), rest[5..5 + len].to_vec()));
        rest = &rest[5 + len..];
    }
    out
}

/// Splits handshake messages (with their 4-byte headers) out of a buffer,
/// leaving an incomplete one in it.
fn take_messages(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 4 {
            return out;
        }
        let len = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]) as usize;
        if buf.len() < 4 + len {
            return out;
        }
        out.push(buf.drain(..4 + len).collect());
    }
}

struct Hello {
    random: [u8; 32],
    suite: u16,
    extensions: Vec<(u16, Vec<u8>)>,
}

impl Hello {
    /// Parses a ClientHello (`client`) or ServerHello message.
    fn parse(msg: &[u8], client: bool) -> Hello {
        let b = &msg[4..];
        let random: [u8; 32] = b[2..34].try_into().unwrap();
        let sid_len = b[34] as usize;
        let mut p = 35 + sid_len;
        let suite;
        if client {
            let n = u16::from_be_bytes([b[p], b[p + 1]]) as usize;
            suite = 0;
            p += 2 + n;
            p += 1 + b[p] as usize;
        } else {
            suite = u16::from_be_bytes([b[p], b[p + 1]]);
            p += 3;
        }
        let mut extensions = Vec::new();
        if p + 2 <= b.len() {
            let end = p + 2 + u16::from_be_bytes([b[p], b[p + 1]]) as usize;
            p += 2;
            while p + 4 <= end {
                let t = u16::from_be_bytes([b[p], b[p + 1]]);
                let n = u16::from_be_bytes([b[p + 2], b[p + 3]]) as usize;
                extensions.push((t, b[p + 4..p + 4 + n].to_vec()));
                p += 4 + n;
            }
        }
        Hello { random, suite, extensions }
    }

    fn has(&self, ext: u16) -> bool {
        self.extensions.iter().any(|(t, _)| *t == ext)
    }

    fn ext(&self, ext: u16) -> Option<&[u8]> {
        self.extensions.iter().find(|(t, _)| *t == ext).map(|(_, v)| v.as_slice())
    }
}

/// The random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

#[derive(Debug, Default)]
struct Outcome {
    version: u16,
    suite: &'static str,
    /// Decrypted application data per direction (client→server, server→client).
    app: [Vec<u8>; 2],
    /// Encrypted records decrypted per direction.
    decrypted: [usize; 2],
    finished_verified: usize,
    key_updates: usize,
    /// KeyUpdates whose new secret was also in the key log (OpenSSL's `_N` lines).
    updates_in_log: usize,
    early_records: usize,
    /// TLS 1.2: the master secret was also recovered from the RSA key.
    rsa_master_matches: bool,
}

/// Decrypts one TLS session from its two streams.
fn decrypt_session(
    streams: &[Vec<u8>; 2],
    log: &KeyLog,
    rsa_key: Option<&[u8]>,
) -> Result<Outcome, String> {
    let recs = [records(&streams[0]), records(&streams[1])];
    // The plaintext handshake: client records until its first encrypted
    // one, server records likewise.
    let mut plain: [Vec<Vec<u8>>; 2] = Default::default();
    let mut first_encrypted = [usize::MAX; 2];
    // TLS 1.3 if the first ServerHello (or HelloRetryRequest) selects it.
    let tls13 = recs[1]
        .first()
        .filter(|(h, body)| h[0] == 22 && body.first() == Some(&2))
        .map(|(_, body)| Hello::parse(body, false).ext(43) == Some(&[3, 4]))
        .ok_or("the server's first record is not a ServerHello")?;
    for d in [1, 0] {
        let mut buf = Vec::new();
        for (i, (h, body)) in recs[d].iter().enumerate() {
            // TLS 1.3: application_data records are encrypted (a
            // ChangeCipherSpec is only for middleboxes); TLS 1.2: the
            // records after ChangeCipherSpec.
            if tls13 && h[0] == 23 {
                first_encrypted[d] = i;
                break;
            }
            if !tls13 && h[0] == 20 {
                first_encrypted[d] = i + 1;
                break;
            }
            if h[0] == 22 {
                buf.extend_from_slice(body);
                plain[d].extend(take_messages(&mut buf));
            }
        }
    }
    let ch = plain[0].first().filter(|m| m[0] == 1).ok_or("no ClientHello")?;
    let client_hello = Hello::parse(ch, true);
    let sh_msgs: Vec<&Vec<u8>> = plain[1].iter().filter(|m| m[0] == 2).collect();
    let server_hello = Hello::parse(sh_msgs.last().unwrap(), false);
    let spec = CipherSpec::from_suite(server_hello.suite).map_err(|e| e.to_string())?;
    let secrets = log.lookup(&client_hello.random).ok_or("client random not in the key log")?;
    let mut out = Outcome { suite: spec.name, ..Outcome::default() };

    if tls13 {
        out.version = 0x0304;
        let hrr = sh_msgs.len() == 2 && Hello::parse(sh_msgs[0], false).random == HRR_RANDOM;
        let get =
            |s: &Option<Secret>, what: &str| s.clone().ok_or(format!("no {what} in the key log"));
        let c_hs = get(&secrets.client_handshake, "CLIENT_HANDSHAKE_TRAFFIC_SECRET")?;
        let s_hs = get(&secrets.server_handshake, "SERVER_HANDSHAKE_TRAFFIC_SECRET")?;
        let c_ap = get(&secrets.client_app0, "CLIENT_TRAFFIC_SECRET_0")?;
        let s_ap = get(&secrets.server_app0, "SERVER_TRAFFIC_SECRET_0")?;
        // The transcript so far: [message_hash(CH1), HRR,] CH, SH.
        let mut transcript: Vec<Vec<u8>> = Vec::new();
        if hrr {
            transcript.push(keys::message_hash(spec.hash, &plain[0][0]));
            transcript.push(sh_msgs[0].clone());
            transcript.push(plain[0][1].clone());
        } else {
            transcript.push(plain[0][0].clone());
        }
        transcript.push(sh_msgs.last().unwrap().to_vec());

        // Server: handshake keys until its Finished, then application keys.
        let mut dec = Decryptor::tls13(&spec, s_hs.as_bytes()).unwrap();
        let mut app_phase = false;
        let mut buf = Vec::new();
        let mut server_finished = None;
        let mut server_updates = 0;
        for (h, body) in recs[1].iter().skip(first_encrypted[1]) {
            if h[0] != 23 {
                continue; // compatibility ChangeCipherSpec
            }
            let mut body = body.clone();
            let p = dec.decrypt(h, &mut body).map_err(|e| format!("server record: {e}"))?;
            out.decrypted[1] += 1;
            match p.content_type {
                23 => out.app[1].extend_from_slice(p.data),
                22 => {
                    buf.extend_from_slice(p.data);
                    for m in take_messages(&mut buf) {
                        if !app_phase && m[0] == 20 {
                            let th = hash_all(spec.hash, &transcript);
                            let want = keys::finished_verify_data(spec.hash, s_hs.as_bytes(), &th)
                                .unwrap();
                            assert_eq!(&m[4..], want.as_bytes(), "server Finished");
                            out.finished_verified += 1;
                            transcript.push(m.clone());
                            server_finished = Some(transcript.clone());
                            app_phase = true;
                            dec = Decryptor::tls13(&spec, s_ap.as_bytes()).unwrap();
                        } else if !app_phase {
                            transcript.push(m);
                        } else if m[0] == 24 {
                            dec.key_update().unwrap();
                            // OpenSSL logs the new secret as SERVER_TRAFFIC_SECRET_N.
                            let n = server_updates;
                            if let Some(logged) = secrets.server_app_updates.get(n) {
                                assert_eq!(
                                    dec.traffic_secret(),
                                    Some(logged),
                                    "server KeyUpdate {n}"
                                );
                                out.updates_in_log += 1;
                            }
                            server_updates += 1;
                            out.key_updates += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        let mut transcript = server_finished.ok_or("no server Finished")?;

        // Client: early keys (0-RTT) until EndOfEarlyData or the first
        // record they do not open, handshake keys until its Finished, then
        // application keys.
        let mut client_updates = 0;
        let offered_early = client_hello.has(42) && secrets.client_early.is_some();
        let mut phase = if offered_early { 0 } else { 1 };
        let mut dec = match &secrets.client_early {
            Some(e) if offered_early => Decryptor::tls13(&spec, e.as_bytes()).unwrap(),
            _ => Decryptor::tls13(&spec, c_hs.as_bytes()).unwrap(),
        };
        let mut buf = Vec::new();
        for (h, body) in recs[0].iter().skip(first_encrypted[0]) {
            if h[0] != 23 {
                continue;
            }
            let mut copy = body.clone();
            let p = match dec.decrypt(h, &mut copy) {
                Ok(p) => p,
                Err(DecryptError::TagMismatch) if phase == 0 => {
                    // Early data the server rejected: it ends where the
                    // handshake keys start.
                    phase = 1;
                    dec = Decryptor::tls13(&spec, c_hs.as_bytes()).unwrap();
                    copy = body.clone();
                    dec.decrypt(h, &mut copy).map_err(|e| format!("client record: {e}"))?
                }
                Err(e) => return Err(format!("client record (phase {phase}): {e}")),
            };
            out.decrypted[0] += 1;
            if phase == 0 {
                out.early_records += 1;
            }
            match p.content_type {
                23 => out.app[0].extend_from_slice(p.data),
                22 => {
                    buf.extend_from_slice(p.data);
                    for m in take_messages(&mut buf) {
                        match (phase, m[0]) {
                            (0, 5) => {
                                transcript.push(m);
                                phase = 1;
                                dec = Decryptor::tls13(&spec, c_hs.as_bytes()).unwrap();
                            }
                            (1, 20) => {
                                let th = hash_all(spec.hash, &transcript);
                                let want =
                                    keys::finished_verify_data(spec.hash, c_hs.as_bytes(), &th)
                                        .unwrap();
                                assert_eq!(&m[4..], want.as_bytes(), "client Finished");
                                out.finished_verified += 1;
                                phase = 2;
                                dec = Decryptor::tls13(&spec, c_ap.as_bytes()).unwrap();
                            }
                            (1, _) => transcript.push(m),
                            (2, 24) => {
                                dec.key_update().unwrap();
                                let n = client_updates;
                                if let Some(logged) = secrets.client_app_updates.get(n) {
                                    assert_eq!(
                                        dec.traffic_secret(),
                                        Some(logged),
                                        "client KeyUpdate {n}"
                                    );
                                    out.updates_in_log += 1;
                                }
                                client_updates += 1;
                                out.key_updates += 1;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        return Ok(out);
    }

    // TLS 1.0 – 1.2
    let version = u16::from_be_bytes([sh_msgs[0][4], sh_msgs[0][5]]);
    out.version = version;
    let prf = spec.prf(version);
    let master = secrets.master_secret.clone().ok_or("no CLIENT_RANDOM in the key log")?;
    let ems = server_hello.has(23);
    let etm = server_hello.has(22);
    let abbreviated = !plain[1].iter().any(|m| m[0] == 14);
    // Handshake messages in protocol order.
    let server_before_nst: Vec<Vec<u8>> = plain[1].iter().filter(|m| m[0] != 4).cloned().collect();
    let nst: Vec<Vec<u8>> = plain[1].iter().filter(|m| m[0] == 4).cloned().collect();
    let client_after_ch: Vec<Vec<u8>> = plain[0][1..].to_vec();

    if let Some(key) = rsa_key {
        // Static RSA: the premaster from the ClientKeyExchange.
        let cke = client_after_ch.iter().find(|m| m[0] == 16).ok_or("no ClientKeyExchange")?;
        let n = u16::from_be_bytes([cke[4], cke[5]]) as usize;
        let premaster =
            keys::rsa_decrypt_premaster(key, &cke[6..6 + n]).map_err(|e| e.to_string())?;
        let derived = if ems {
            let mut upto: Vec<&[u8]> = vec![&plain[0][0]];
            upto.extend(server_before_nst.iter().map(|m| m.as_slice()));
            for m in &client_after_ch {
                upto.push(m);
                if m[0] == 16 {
                    break;
                }
            }
            let session_hash = prf.transcript_hash(&upto);
            keys::extended_master_secret(prf, premaster.as_bytes(), &session_hash).unwrap()
        } else {
            let sr = server_hello.random;
            keys::master_secret(prf, premaster.as_bytes(), &client_hello.random, &sr).unwrap()
        };
        out.rsa_master_matches = derived == master;
    }

    let kb = spec
        .key_block(version, master.as_bytes(), &client_hello.random, &server_hello.random)
        .unwrap();
    let mut decs = [
        Decryptor::new(&spec, &RecordKeys::from_key_block(&kb, Side::Client), version, etm)
            .unwrap(),
        Decryptor::new(&spec, &RecordKeys::from_key_block(&kb, Side::Server), version, etm)
            .unwrap(),
    ];
    let mut finished: [Option<Vec<u8>>; 2] = [None, None];
    for d in 0..2 {
        for (h, body) in recs[d].iter().skip(first_encrypted[d]) {
            let mut body = body.clone();
            let p = decs[d]
                .decrypt(h, &mut body)
                .map_err(|e| format!("{} record: {e}", ["client", "server"][d]))?;
            out.decrypted[d] += 1;
            match p.content_type {
                23 => out.app[d].extend_from_slice(p.data),
                22 if finished[d].is_none() => finished[d] = Some(p.data.to_vec()),
                _ => {}
            }
        }
    }
    // Finished: full handshake CH, server..SHD, client..CKE/CV, client
    // Finished, [NST,] server Finished; abbreviated CH, SH, [NST,] server
    // Finished, client Finished.
    let (cf, sf) = (
        finished[0].clone().ok_or("no client Finished")?,
        finished[1].clone().ok_or("no server Finished")?,
    );
    let mut t: Vec<Vec<u8>> = vec![plain[0][0].clone()];
    if abbreviated {
        t.extend(server_before_nst.iter().cloned());
        t.extend(nst.iter().cloned());
        let th = prf.transcript_hash(&t.iter().map(|m| m.as_slice()).collect::<Vec<_>>());
        assert_eq!(
            &sf[4..],
            keys::verify_data(prf, master.as_bytes(), false, &th).unwrap().as_bytes()
        );
        t.push(sf.clone());
        let th = prf.transcript_hash(&t.iter().map(|m| m.as_slice()).collect::<Vec<_>>());
        assert_eq!(
            &cf[4..],
            keys::verify_data(prf, master.as_bytes(), true, &th).unwrap().as_bytes()
        );
    } else {
        t.extend(server_before_nst.iter().cloned());
        t.extend(client_after_ch.iter().cloned());
        let th = prf.transcript_hash(&t.iter().map(|m| m.as_slice()).collect::<Vec<_>>());
        assert_eq!(
            &cf[4..],
            keys::verify_data(prf, master.as_bytes(), true, &th).unwrap().as_bytes()
        );
        t.push(cf.clone());
        t.extend(nst.iter().cloned());
        let th = prf.transcript_hash(&t.iter().map(|m| m.as_slice()).collect::<Vec<_>>());
        assert_eq!(
            &sf[4..],
            keys::verify_data(prf, master.as_bytes(), false, &th).unwrap().as_bytes()
        );
    }
    out.finished_verified = 2;

    // Damage: on the first encrypted record of each direction, every
    // flipped byte and every truncation must fail cleanly.
    for d in 0..2 {
        let Some((h, body)) = recs[d].get(first_encrypted[d]) else { continue };
        let fresh = || {
            let mut kb2 = Decryptor::new(
                &spec,
                &RecordKeys::from_key_block(&kb, if d == 0 { Side::Client } else { Side::Server }),
                version,
                etm,
            )
            .unwrap();
            kb2.set_seq(0);
            kb2
        };
        let mut dec = fresh();
        assert!(dec.decrypt(h, &mut body.clone()).is_ok());
        for i in 0..body.len() {
            let mut b = body.clone();
            b[i] ^= 0x80;
            let mut dec = fresh();
            assert!(
                dec.decrypt(h, &mut b).is_err(),
                "flipped byte {i} of a {} record decrypted",
                spec.name
            );
            assert_eq!(dec.seq(), 0);
        }
        for n in 0..body.len() {
            let mut dec = fresh();
            assert!(dec.decrypt(h, &mut body[..n].to_vec()).is_err(), "{n}-byte prefix decrypted");
        }
        // Keys of the other direction.
        let mut other = Decryptor::new(
            &spec,
            &RecordKeys::from_key_block(&kb, if d == 0 { Side::Server } else { Side::Client }),
            version,
            etm,
        )
        .unwrap();
        let e = other.decrypt(h, &mut body.clone()).unwrap_err();
        assert!(
            matches!(
                e,
                DecryptError::TagMismatch | DecryptError::BadMac | DecryptError::BadPadding
            ),
            "{e:?}"
        );
    }
    Ok(out)
}

fn hash_all(h: HashAlg, msgs: &[Vec<u8>]) -> Vec<u8> {
    h.hash(&msgs.iter().map(|m| m.as_slice()).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------
// tshark as the oracle

/// `tshark -z follow,tls,raw,N`: the application data of stream `n`,
/// (client→server, server→client). tshark prints node 1's data indented by
/// a tab; node 0 is the address on the "Node 0:" line.
fn tshark_follow(
    capture: &Path,
    keylog: &Path,
    n: u64,
    client: std::net::SocketAddr,
) -> [Vec<u8>; 2] {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keylog.display()))
        .args(["-q", "-z", &format!("follow,tls,raw,{n}")])
        .output()
        .expect("tshark is needed by this test: install it (apt-get install tshark)");
    assert!(out.status.success(), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut data: [Vec<u8>; 2] = Default::default();
    let mut node0_is_client = true;
    let mut in_body = false;
    for line in text.lines() {
        if let Some(addr) = line.strip_prefix("Node 0: ") {
            node0_is_client = addr.trim() == client.to_string();
            continue;
        }
        if line.starts_with("Node 1:") {
            in_body = true;
            continue;
        }
        if line.starts_with("=====") {
            in_body = false;
            continue;
        }
        if !in_body || line.trim().is_empty() {
            continue;
        }
        let (node, hex) = match line.strip_prefix('\t') {
            Some(h) => (1, h),
            None => (0, line),
        };
        let d = if (node == 0) == node0_is_client { 0 } else { 1 };
        let hex = hex.trim();
        data[d].extend(
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()),
        );
    }
    data
}

fn same(what: &str, ours: &[u8], tshark: &[u8]) {
    if ours != tshark {
        let at = ours
            .iter()
            .zip(tshark)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(tshark.len()));
        panic!(
            "{what}: we decrypted {} bytes, tshark {} bytes, first difference at byte {at}: ours {:?}, tshark {:?}",
            ours.len(),
            tshark.len(),
            String::from_utf8_lossy(&ours[at.min(ours.len())..(at + 40).min(ours.len())]),
            String::from_utf8_lossy(&tshark[at.min(tshark.len())..(at + 40).min(tshark.len())]),
        );
    }
}

fn check_capture(name: &str, expect: impl Fn(&BTreeMap<u64, Outcome>)) {
    let dir = testdata();
    let capture = dir.join(format!("{name}.pcap"));
    let keylog_path = dir.join(format!("{name}.keys"));
    let (log, diags) = KeyLog::from_text(
        &std::fs::read(&keylog_path).unwrap(),
        &keylog_path.display().to_string(),
    );
    assert!(diags.is_empty(), "{diags:?}");
    let mut outcomes = BTreeMap::new();
    let (conns, clients) = streams(&capture);
    for (id, s) in conns {
        // Plain HTTP streams of the lab capture have no TLS.
        if s[0].first() != Some(&22) {
            continue;
        }
        let o =
            decrypt_session(&s, &log, None).unwrap_or_else(|e| panic!("{name} stream {id}: {e}"));
        let recs = [records(&s[0]).len(), records(&s[1]).len()];
        assert!(
            o.decrypted[0] > 0 && o.decrypted[1] > 0,
            "{name} stream {id}: {o:?} of {recs:?} records"
        );
        let tshark = tshark_follow(&capture, &keylog_path, id, clients[&id]);
        same(&format!("{name} stream {id} ({}) client data", o.suite), &o.app[0], &tshark[0]);
        same(&format!("{name} stream {id} ({}) server data", o.suite), &o.app[1], &tshark[1]);
        outcomes.insert(id, o);
    }
    expect(&outcomes);
}

#[test]
fn checked_in_captures_decrypt_like_tshark() {
    need("tshark");
    check_capture("openssl-tls12", |o| {
        assert!(o.len() >= 19, "{} sessions", o.len());
        let suites: Vec<&str> = o.values().map(|o| o.suite).collect();
        for s in [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
            "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_RSA_WITH_AES_256_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ] {
            assert!(suites.contains(&s), "{s} not in {suites:?}");
        }
        assert!(o.values().all(|o| o.version == 0x0303 && o.finished_verified == 2));
        assert!(
            o.values().all(|o| o.app[1].starts_with(b"HTTP/1.0 200 ok")),
            "s_server -www answers"
        );
    });
    check_capture("openssl-tls13", |o| {
        let suites: Vec<&str> = o.values().map(|o| o.suite).collect();
        for s in [
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_AES_128_CCM_SHA256",
            "TLS_AES_128_CCM_8_SHA256",
        ] {
            assert!(suites.contains(&s), "{s} not in {suites:?}");
        }
        assert!(o.values().all(|o| o.version == 0x0304 && o.finished_verified == 2), "{o:?}");
        assert!(
            o.values().map(|o| o.key_updates).sum::<usize>() >= 2,
            "KeyUpdate in both directions"
        );
        // The capture holds no accepted 0-RTT data (the recipe's early-data
        // connection did not produce any), so 0-RTT records are covered by
        // the RFC 8448 §4 records in the unit tests.
        // s_client logs its own new secret after a KeyUpdate
        // (CLIENT_TRAFFIC_SECRET_N); ours must be the same.
        assert!(
            o.values().map(|o| o.updates_in_log).sum::<usize>() >= 1,
            "KeyUpdate secret checked"
        );
    });
    check_capture("lab", |o| assert_eq!(o.len(), 2, "TLS 1.2 and TLS 1.3 sessions"));
    check_capture("nghttp", |o| assert!(!o.is_empty()));
}

// ---------------------------------------------------------------------------
// openssl through a recording relay

static SEQ: AtomicU32 = AtomicU32::new(0);

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "tlsscope-decrypt-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed by this test: install it (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed RSA-2048 certificate and its PKCS#8 key in `dir`.
fn make_cert(dir: &Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
        ],
        dir,
    );
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies `from` to `to`, keeping a copy of every byte.
fn pump(mut from: TcpStream, mut to: TcpStream) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 16384];
        from.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        seen
    })
}

/// One HTTP/1.0 request from openssl s_client to openssl s_server -www,
/// through a relay that records both directions. Returns the streams
/// (client→server, server→client) and the key log text.
fn relay_session(
    dir: &Path,
    server_args: &[&str],
    client_args: &[&str],
) -> ([Vec<u8>; 2], Vec<u8>) {
    let mut server = KillOnDrop(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-cert",
                "cert.pem",
                "-key",
                "key.pem",
                "-www",
            ])
            .args(server_args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is needed by this test: install it (apt-get install openssl)"),
    );
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("s_server exited").unwrap();
        if let Some(addr) = line.strip_prefix("ACCEPT ") {
            break addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        }
    };
    // Keep draining s_server's output so it never blocks on a full pipe.
    thread::spawn(move || for _ in lines {});

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = listener.local_addr().unwrap().port();
    let relay = thread::spawn(move || {
        let (c, _) = listener.accept().unwrap();
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let up = pump(c.try_clone().unwrap(), s.try_clone().unwrap());
        let down = pump(s, c);
        [up.join().unwrap(), down.join().unwrap()]
    });
    let keylog = dir.join(format!("client-{}.keys", SEQ.fetch_add(1, Ordering::SeqCst)));
    let mut client = KillOnDrop(
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{relay_port}"),
                "-quiet",
                "-keylogfile",
            ])
            .arg(&keylog)
            .args(client_args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    client.0.stdin.take().unwrap().write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let start = Instant::now();
    while client.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(30), "s_client {client_args:?} hangs");
        thread::sleep(Duration::from_millis(20));
    }
    let streams = relay.join().unwrap();
    drop(server);
    (streams, std::fs::read(&keylog).unwrap_or_default())
}

#[test]
fn openssl_peers_through_a_relay() {
    need("openssl");
    let dir = TempDir::new();
    make_cert(&dir.0);
    let key = std::fs::read(dir.0.join("key.pem")).unwrap();
    let cert = std::fs::read(dir.0.join("cert.pem")).unwrap();
    let cert_der = x509_der(&cert);
    assert!(keys::rsa_public_key_matches(&key, &cert_der));

    // (protocol flag, cipher, extra client flags, static RSA?)
    let cases: &[(&str, &str, &[&str], bool)] = &[
        ("-tls1", "AES128-SHA", &[], true),
        ("-tls1", "AES256-SHA", &["-no_etm"], true),
        ("-tls1", "ECDHE-RSA-AES128-SHA", &[], false),
        ("-tls1_1", "AES256-SHA", &[], true),
        ("-tls1_1", "CAMELLIA128-SHA", &["-no_etm"], true),
        ("-tls1_2", "CAMELLIA256-SHA256", &[], true),
        ("-tls1_2", "AES128-CCM8", &[], true),
        ("-tls1_2", "AES256-CCM", &[], true),
        ("-tls1_2", "NULL-SHA256", &[], true),
        ("-tls1_2", "AES128-GCM-SHA256", &[], true),
        ("-tls1_2", "ECDHE-RSA-AES256-SHA384", &["-no_etm"], false),
    ];
    for (proto, cipher, extra, static_rsa) in cases {
        let cipher_arg = format!("{cipher}:@SECLEVEL=0");
        let server_args = [*proto, "-cipher", &cipher_arg];
        let mut client_args = vec![*proto, "-cipher", &cipher_arg];
        client_args.extend_from_slice(extra);
        let (streams, keylog) = relay_session(&dir.0, &server_args, &client_args);
        let (log, diags) = KeyLog::from_text(&keylog, "s_client key log");
        assert!(diags.is_empty(), "{diags:?}");
        assert!(!log.is_empty(), "{proto} {cipher}: s_client logged no keys");
        let o = decrypt_session(&streams, &log, static_rsa.then_some(key.as_slice()))
            .unwrap_or_else(|e| panic!("{proto} {cipher}: {e}"));
        let want_version = match *proto {
            "-tls1" => 0x0301,
            "-tls1_1" => 0x0302,
            _ => 0x0303,
        };
        assert_eq!(o.version, want_version, "{cipher}");
        assert_eq!(o.app[0], b"GET / HTTP/1.0\r\n\r\n", "{proto} {cipher}");
        assert!(
            o.app[1].starts_with(b"HTTP/1.0 200 ok\r\n"),
            "{proto} {cipher}: {:?}",
            String::from_utf8_lossy(&o.app[1])
        );
        assert_eq!(o.finished_verified, 2);
        if *static_rsa {
            assert!(
                o.rsa_master_matches,
                "{proto} {cipher}: the premaster from the RSA key gives another master secret"
            );
        }
    }
}

fn x509_der(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pem);
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

#[test]
fn rsa_premaster_from_openssl_pkeyutl() {
    need("openssl");
    let dir = TempDir::new();
    make_cert(&dir.0);
    let d = &dir.0;
    // A premaster as a TLS 1.2 client makes it: version, then 46 random bytes.
    let mut premaster = vec![3u8, 3];
    premaster.extend((0..46u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    std::fs::write(d.join("pm.bin"), &premaster).unwrap();
    openssl(
        &[
            "pkeyutl",
            "-encrypt",
            "-inkey",
            "key.pem",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            "pm.bin",
            "-out",
            "ct.bin",
        ],
        d,
    );
    openssl(&["rsa", "-in", "key.pem", "-traditional", "-out", "key-pkcs1.pem"], d);
    openssl(&["pkey", "-in", "key.pem", "-outform", "DER", "-out", "key.der"], d);
    openssl(
        &["rsa", "-in", "key.pem", "-traditional", "-outform", "DER", "-out", "key-pkcs1.der"],
        d,
    );
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.pem",
            "-out",
            "other.crt",
            "-subj",
            "/CN=other",
            "-days",
            "1",
        ],
        d,
    );
    let ct = std::fs::read(d.join("ct.bin")).unwrap();
    for name in ["key.pem", "key-pkcs1.pem", "key.der", "key-pkcs1.der"] {
        let key = std::fs::read(d.join(name)).unwrap();
        assert!(
            String::from_utf8_lossy(&key).contains("BEGIN RSA PRIVATE KEY")
                == (name == "key-pkcs1.pem")
        );
        let got = keys::rsa_decrypt_premaster(&key, &ct).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.as_bytes(), premaster.as_slice(), "{name}");
        assert!(
            keys::rsa_public_key_matches(
                &key,
                &x509_der(&std::fs::read(d.join("cert.pem")).unwrap())
            ),
            "{name}"
        );
        assert!(
            !keys::rsa_public_key_matches(
                &key,
                &x509_der(&std::fs::read(d.join("other.crt")).unwrap())
            ),
            "{name}"
        );
    }
    let other = std::fs::read(d.join("other.pem")).unwrap();
    assert_eq!(keys::rsa_decrypt_premaster(&other, &ct), Err(keys::RsaError::DecryptFailed));
    let mut bad = ct.clone();
    bad[10] ^= 1;
    assert!(keys::rsa_decrypt_premaster(&std::fs::read(d.join("key.pem")).unwrap(), &bad).is_err());
    assert!(matches!(
        keys::rsa_decrypt_premaster(b"not a key", &ct),
        Err(keys::RsaError::NotAKey(_))
    ));
    assert!(!keys::rsa_public_key_matches(b"not a key", b"not a cert"));
    // A truncated ciphertext is an error, never a panic.
    for n in [0, 1, ct.len() - 1] {
        assert!(
            keys::rsa_decrypt_premaster(&std::fs::read(d.join("key.pem")).unwrap(), &ct[..n])
                .is_err()
        );
    }
}

#[test]
fn prf_for_tls12_with_a_sha384_suite_is_p_sha384() {
    let spec = CipherSpec::from_suite(0xc030).unwrap();
    assert_eq!(spec.prf(0x0303), Prf::Tls12(HashAlg::Sha384));
    assert_eq!(spec.prf(0x0301), Prf::Tls10);
}
