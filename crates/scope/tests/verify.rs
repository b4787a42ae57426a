//! The verification checks (`tlsscope_scope::verify`) on real captures:
//!
//! * the checked-in captures of curl, openssl and nghttp against
//!   `tlsscope serve` and openssl s_server (testdata/captures/tls, made by
//!   testdata/make-captures.sh): every check that applies passes, the
//!   ones that cannot be made say why (resumed sessions, missing secrets);
//! * the same captures with a byte flipped in the certificate signature,
//!   the ServerKeyExchange signature or a Finished message (decrypted,
//!   flipped and sealed again with the session's keys): that check fails
//!   and the others keep their verdicts;
//! * hash_a and hash_b of the lab's RSA certificate equal what the openssl
//!   CLI computes (`asn1parse` + `dgst`, `pkeyutl -verifyrecover`);
//! * chains made with openssl (RSA PKCS#1, RSA-PSS, ECDSA and Ed25519
//!   signatures; roots trusted or not; a missing intermediate; expiry;
//!   wildcard and IP names), put into a real session in place of its
//!   certificates.
//!
//! The openssl tests fail (they do not skip) when openssl is missing.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use tlsscope_capture::read::{CaptureReader, Event};
use tlsscope_scope::diag::Diagnostic;
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, StreamSink};
use tlsscope_scope::pipeline::{Input, Pipeline, Stage};
use tlsscope_scope::session::{Flow, Options, Output, Resumption, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::decrypt::{Bulk, CipherSpec, Decryptor, RecordKeys, Side};
use tlsscope_scope::verify::{Check, Kind, Outcome, Trust, check_session};

/// The checks as text, for failure messages: one line per check (`ok`,
/// `FAILED`, `n/a`), then its reason and details indented.
fn render_text(checks: &[Check]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for c in checks {
        let mark = match c.outcome {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "FAILED",
            Outcome::NotPossible(_) => "n/a",
        };
        let frame = c.frame.map(|f| format!("  (frame {f})")).unwrap_or_default();
        let _ = writeln!(s, "[{mark:^6}] {}{frame}", c.title);
        if let Some(r) = c.outcome.reason() {
            let why = if matches!(c.outcome, Outcome::Failed(_)) { "why" } else { "not possible" };
            let _ = writeln!(s, "         {why}: {r}");
        }
        for (_, label, value) in &c.details {
            let _ = writeln!(s, "         {label}: {value}");
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Captures in, sessions out

fn testdata(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[derive(Default)]
struct Found(Vec<Session>);

impl Output for Found {
    fn session(&mut self, s: Session) {
        self.0.push(s);
    }
    fn flow(&mut self, _: Flow) {}
    fn diagnostic(&mut self, _: Diagnostic) {}
}

/// The TLS sessions of a capture (bytes, as a test may have altered
/// them), decrypted with `keys`, in order of their first frame.
fn analyse(pcap: &[u8], keys: Option<&[u8]>) -> Vec<Session> {
    let mut reader = CaptureReader::from_reader(Cursor::new(pcap.to_vec())).unwrap();
    let opts = Options { trees: false, keep_messages: true, decrypt: true, http: false };
    let mut analysis = Pipeline::analysis(opts, Found::default());
    if let Some(k) = keys {
        assert!(analysis.keys().keylog.parse(k, "test.keys").is_empty());
        analysis.keys().keylog.finish();
    }
    while let Some(ev) = reader.next() {
        if let Event::Frame(f) = ev {
            analysis.push(Input::Frame(f));
        }
    }
    let mut sessions = analysis.finish().out.0;
    sessions.sort_by_key(|s| s.first_frame);
    sessions
}

fn capture(name: &str) -> (Vec<u8>, Vec<u8>) {
    (testdata(&format!("{name}.pcap")), testdata(&format!("{name}.keys")))
}

fn trust_at(s: &Session) -> Trust {
    Trust { roots: Vec::new(), now: s.start, host: None }
}

fn get(checks: &[Check], kind: Kind) -> &Check {
    checks.iter().find(|c| c.kind == kind).unwrap_or_else(|| {
        panic!("no {kind:?} check in:\n{}", render_text(checks));
    })
}

fn has(checks: &[Check], kind: Kind) -> bool {
    checks.iter().any(|c| c.kind == kind)
}

fn reason(c: &Check) -> &str {
    c.outcome.reason().unwrap_or("")
}

/// Every check is Ok except the trust anchor (the captures' certificates
/// are self-signed and no roots are given) and those listed as
/// not possible.
fn assert_all_ok(s: &Session, checks: &[Check], not_possible: &[Kind]) {
    let text = render_text(checks);
    for c in checks {
        match (&c.outcome, c.kind) {
            (Outcome::Ok, _) => {}
            (Outcome::Failed(why), Kind::TrustAnchor) => {
                assert!(why.contains("--insecure"), "session {}: {why}", s.id)
            }
            (Outcome::NotPossible(_), k) if not_possible.contains(&k) => {}
            (o, k) => panic!("session {} (conn {}): {k:?} is {o:?}\n{text}", s.id, s.conn),
        }
    }
}

fn suite_name(s: &Session) -> &'static str {
    s.cipher_suite()
        .and_then(tlsscope_scope::tls::registry::cipher_suite)
        .map(|c| c.name)
        .unwrap_or("?")
}

// ---------------------------------------------------------------------------
// Real peers

#[test]
fn lab_capture_curl_against_our_server_passes_every_check() {
    let (pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    assert_eq!(sessions.len(), 2, "TLS 1.2 and TLS 1.3");
    for s in &sessions {
        let checks = check_session(s, &trust_at(s));
        assert_all_ok(s, &checks, &[]);
        for k in [
            Kind::CertificateSignature { index: 0 },
            Kind::CertificateValidity { index: 0 },
            Kind::NameMatch,
            Kind::TrustAnchor,
            Kind::KeyExchange,
            Kind::Finished { from: Dir::ClientToServer },
            Kind::Finished { from: Dir::ServerToClient },
        ] {
            assert!(has(&checks, k), "{k:?} missing");
        }
        let sig = get(&checks, Kind::CertificateSignature { index: 0 });
        assert!(sig.title.contains("CN=localhost, self-signed"), "{}", sig.title);
        assert_eq!(sig.detail("algorithm"), Some("sha256WithRSAEncryption"));
        assert_eq!(sig.detail("issuer_found"), Some("itself (self-signed)"));
        assert_eq!(sig.detail("hashes"), Some("equal"));
        assert_eq!(sig.detail("hash_a"), sig.detail("hash_b"));
        assert_eq!(sig.detail("digest_info_alg"), Some("sha256"));
        let name = get(&checks, Kind::NameMatch);
        assert_eq!(name.detail("match"), Some("DNS:localhost"));
        let trust = get(&checks, Kind::TrustAnchor);
        assert!(reason(trust).starts_with("self-signed certificate not in the trusted roots"));
        let kx = get(&checks, Kind::KeyExchange);
        assert!(kx.detail("shared_secret").unwrap().contains("never crosses the wire"));
        assert!(kx.detail("validated").unwrap().contains("client and server"));
        // Trusting the lab's certificate makes the trust check pass.
        let trusted = Trust { roots: vec![s.certificate_ders[0].clone()], ..trust_at(s) };
        let checks = check_session(s, &trusted);
        assert!(get(&checks, Kind::TrustAnchor).outcome.is_ok());
        if s.is_tls13() {
            assert!(!has(&checks, Kind::ServerKeyExchange));
            let cv = get(&checks, Kind::CertificateVerify { from: Dir::ServerToClient });
            assert!(cv.outcome.is_ok());
            assert_eq!(cv.detail("context"), Some("TLS 1.3, server CertificateVerify"));
            assert!(cv.detail("transcript_hash").is_some());
            // The server's Finished comes first in TLS 1.3.
            assert_eq!(checks.last().unwrap().kind, Kind::Finished { from: Dir::ClientToServer });
        } else {
            let ske = get(&checks, Kind::ServerKeyExchange);
            assert!(ske.outcome.is_ok());
            assert!(
                ske.detail("signed_data")
                    .unwrap()
                    .starts_with("client_random (32) + server_random (32)")
            );
            assert!(!has(&checks, Kind::CertificateVerify { from: Dir::ServerToClient }));
            assert_eq!(checks.last().unwrap().kind, Kind::Finished { from: Dir::ServerToClient });
        }
    }
}

#[test]
fn without_secrets_finished_and_tls13_certificates_are_not_possible() {
    let (pcap, _) = capture("lab");
    for s in analyse(&pcap, None) {
        let checks = check_session(&s, &trust_at(&s));
        for from in [Dir::ClientToServer, Dir::ServerToClient] {
            let f = get(&checks, Kind::Finished { from });
            assert!(matches!(f.outcome, Outcome::NotPossible(_)), "{f:?}");
            assert!(reason(f).contains("no secrets"), "{}", reason(f));
        }
        if s.is_tls13() {
            for k in [Kind::CertificateSignature { index: 0 }, Kind::NameMatch, Kind::TrustAnchor] {
                let c = get(&checks, k);
                assert!(reason(c).contains("encrypted (TLS 1.3)"), "{c:?}");
            }
            let cv = get(&checks, Kind::CertificateVerify { from: Dir::ServerToClient });
            assert!(reason(cv).contains("encrypted"), "{cv:?}");
            // The key exchange is in the clear.
            assert!(get(&checks, Kind::KeyExchange).outcome.is_ok());
        } else {
            // TLS 1.2 signatures are in the clear and need no secret.
            assert!(get(&checks, Kind::CertificateSignature { index: 0 }).outcome.is_ok());
            assert!(get(&checks, Kind::ServerKeyExchange).outcome.is_ok());
        }
    }
}

#[test]
fn openssl_tls12_suites_resumption_ecdsa_and_client_certificates_pass() {
    let (pcap, keys) = capture("openssl-tls12");
    let sessions = analyse(&pcap, Some(&keys));
    assert!(sessions.len() >= 15, "{} sessions", sessions.len());
    let (mut ecdhe_rsa, mut dhe, mut static_rsa, mut ecdsa, mut resumed, mut client_cert) =
        (0, 0, 0, 0, 0, 0);
    for s in &sessions {
        let checks = check_session(s, &trust_at(s));
        let suite = suite_name(s);
        if let Some(r) = s.resumed {
            resumed += 1;
            assert_all_ok(
                s,
                &checks,
                &[
                    Kind::CertificateSignature { index: 0 },
                    Kind::CertificateValidity { index: 0 },
                    Kind::NameMatch,
                    Kind::TrustAnchor,
                    Kind::ServerKeyExchange,
                    Kind::KeyExchange,
                ],
            );
            let c = get(&checks, Kind::CertificateSignature { index: 0 });
            assert!(reason(c).contains("resumed"), "{r:?}: {}", reason(c));
            assert!(reason(get(&checks, Kind::KeyExchange)).contains("resumed"));
        } else if suite.starts_with("TLS_RSA_") {
            static_rsa += 1;
            assert_all_ok(s, &checks, &[Kind::KeyExchange]);
            assert!(!has(&checks, Kind::ServerKeyExchange));
            let kx = get(&checks, Kind::KeyExchange);
            assert_eq!(kx.title, "Key exchange: static RSA");
            assert!(reason(kx).contains("no forward secrecy"));
        } else {
            assert_all_ok(s, &checks, &[]);
            let ske = get(&checks, Kind::ServerKeyExchange);
            let kx = get(&checks, Kind::KeyExchange);
            if suite.starts_with("TLS_DHE_") {
                dhe += 1;
                assert!(kx.title.starts_with("Key exchange: DHE"), "{}", kx.title);
            } else {
                assert!(kx.title.starts_with("Key exchange: ECDHE"), "{}", kx.title);
            }
            if suite.contains("ECDSA") {
                ecdsa += 1;
                let cert = get(&checks, Kind::CertificateSignature { index: 0 });
                assert_eq!(cert.detail("algorithm"), Some("ecdsa-with-SHA256"));
                assert!(ske.detail("scheme").unwrap().starts_with("ecdsa_"), "{ske:?}");
                assert!(ske.detail("ecdsa_r").is_some());
            } else if suite.starts_with("TLS_ECDHE_RSA") {
                ecdhe_rsa += 1;
            }
        }
        if let Some(cv) =
            checks.iter().find(|c| c.kind == Kind::CertificateVerify { from: Dir::ClientToServer })
        {
            client_cert += 1;
            assert!(cv.outcome.is_ok(), "{}", render_text(&checks));
            assert!(cv.detail("signed_data").unwrap().contains("CertificateRequest"), "{cv:?}");
        }
        for from in [Dir::ClientToServer, Dir::ServerToClient] {
            assert!(get(&checks, Kind::Finished { from }).outcome.is_ok(), "{suite}");
        }
    }
    assert!(
        ecdhe_rsa >= 5 && dhe >= 2 && static_rsa >= 4 && ecdsa >= 2,
        "{ecdhe_rsa} {dhe} {static_rsa} {ecdsa}"
    );
    assert!(resumed >= 2, "session ID and ticket resumption");
    assert_eq!(client_cert, 1);
}

#[test]
fn openssl_tls13_suites_hrr_psk_early_data_and_client_certificates_pass() {
    let (pcap, keys) = capture("openssl-tls13");
    let sessions = analyse(&pcap, Some(&keys));
    assert!(sessions.len() >= 10, "{} sessions", sessions.len());
    let (mut hrr, mut psk, mut client_cert) = (0, 0, 0);
    for s in &sessions {
        let checks = check_session(s, &trust_at(s));
        if s.resumed == Some(Resumption::Psk) {
            psk += 1;
            assert_all_ok(
                s,
                &checks,
                &[
                    Kind::CertificateSignature { index: 0 },
                    Kind::CertificateValidity { index: 0 },
                    Kind::NameMatch,
                    Kind::TrustAnchor,
                    Kind::CertificateVerify { from: Dir::ServerToClient },
                ],
            );
            let cv = get(&checks, Kind::CertificateVerify { from: Dir::ServerToClient });
            assert!(reason(cv).contains("pre-shared key"), "{}", reason(cv));
        } else {
            assert_all_ok(s, &checks, &[]);
            assert!(
                get(&checks, Kind::CertificateVerify { from: Dir::ServerToClient }).outcome.is_ok()
            );
        }
        if s.hello_retry {
            hrr += 1;
            let cv = get(&checks, Kind::CertificateVerify { from: Dir::ServerToClient });
            let th = &cv.details.iter().find(|d| d.0 == "transcript_hash").unwrap().1;
            assert!(
                th.contains("message_hash(ClientHello1), HelloRetryRequest, ClientHello"),
                "{th}"
            );
            assert!(get(&checks, Kind::KeyExchange).title.contains("secp256r1"));
        }
        if let Some(cv) =
            checks.iter().find(|c| c.kind == Kind::CertificateVerify { from: Dir::ClientToServer })
        {
            client_cert += 1;
            assert!(cv.outcome.is_ok());
            assert_eq!(cv.detail("context"), Some("TLS 1.3, client CertificateVerify"));
        }
        for from in [Dir::ClientToServer, Dir::ServerToClient] {
            assert!(
                get(&checks, Kind::Finished { from }).outcome.is_ok(),
                "{}",
                render_text(&checks)
            );
        }
    }
    assert_eq!(hrr, 1);
    assert!(psk >= 2, "PSK and 0-RTT resumptions: {psk}");
    assert_eq!(client_cert, 1);
}

#[test]
fn nghttp_capture_passes_every_check() {
    let (pcap, keys) = capture("nghttp");
    let sessions = analyse(&pcap, Some(&keys));
    assert!(!sessions.is_empty());
    for s in &sessions {
        // nghttp connected to 127.0.0.1: no SNI, so the name comes from
        // the URL the client was given.
        let checks = check_session(s, &trust_at(s));
        assert_all_ok(s, &checks, &[Kind::NameMatch]);
        assert!(reason(get(&checks, Kind::NameMatch)).contains("no server_name"));
        let host = Trust { host: Some("127.0.0.1".into()), ..trust_at(s) };
        let checks = check_session(s, &host);
        assert_all_ok(s, &checks, &[]);
        assert_eq!(get(&checks, Kind::NameMatch).detail("match"), Some("IP:127.0.0.1"));
    }
}

// ---------------------------------------------------------------------------
// Tampering

/// Replaces every occurrence of `find` in `hay` by `with` (same length);
/// the count.
fn replace_all(hay: &mut [u8], find: &[u8], with: &[u8]) -> usize {
    assert_eq!(find.len(), with.len());
    let mut n = 0;
    let mut i = 0;
    while i + find.len() <= hay.len() {
        if &hay[i..i + find.len()] == find {
            hay[i..i + find.len()].copy_from_slice(with);
            n += 1;
            i += find.len();
        } else {
            i += 1;
        }
    }
    n
}

/// The verdicts of every check of every session, to compare before and
/// after tampering.
fn verdicts(sessions: &[Session]) -> Vec<Vec<(Kind, &'static str)>> {
    sessions
        .iter()
        .map(|s| {
            check_session(s, &trust_at(s)).iter().map(|c| (c.kind, c.outcome.label())).collect()
        })
        .collect()
}

/// Asserts that only `changed` (in session `idx`) went from ok to failed.
fn assert_only(
    before: &[Vec<(Kind, &'static str)>],
    after: &[Vec<(Kind, &'static str)>],
    idx: usize,
    changed: &[Kind],
) {
    assert_eq!(before.len(), after.len(), "the session count changed");
    for (i, (b, a)) in before.iter().zip(after).enumerate() {
        assert_eq!(b.len(), a.len(), "session {i}: the set of checks changed");
        for ((kb, ob), (ka, oa)) in b.iter().zip(a) {
            assert_eq!(kb, ka);
            if i == idx && changed.contains(kb) {
                assert_eq!((*ob, *oa), ("ok", "failed"), "session {i} {kb:?}");
            } else {
                assert_eq!(ob, oa, "session {i} {kb:?} changed");
            }
        }
    }
}

#[test]
fn flipped_certificate_signature_byte_fails_that_check() {
    let (mut pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    let before = verdicts(&sessions);
    let idx = sessions.iter().position(|s| !s.is_tls13()).unwrap();
    // The last bytes of the DER are the signature value (TCP checksums are
    // not verified by the reader, so the frame still counts).
    let der = &sessions[idx].certificate_ders[0];
    let tail = der[der.len() - 24..].to_vec();
    let mut flipped = tail.clone();
    flipped[10] ^= 0x01;
    assert_eq!(replace_all(&mut pcap, &tail, &flipped), 1, "the TLS 1.3 copy is encrypted");
    let after_sessions = analyse(&pcap, Some(&keys));
    let after = verdicts(&after_sessions);
    // The certificate is part of the transcript, so both Finished
    // messages no longer match what the peers computed over the original.
    assert_only(
        &before,
        &after,
        idx,
        &[
            Kind::CertificateSignature { index: 0 },
            Kind::Finished { from: Dir::ClientToServer },
            Kind::Finished { from: Dir::ServerToClient },
        ],
    );
    let s = &after_sessions[idx];
    let checks = check_session(s, &trust_at(s));
    let c = get(&checks, Kind::CertificateSignature { index: 0 });
    assert!(c.detail("hashes").unwrap().starts_with("differ"), "{}", render_text(&checks));
    assert!(c.detail("padding").unwrap().starts_with("wrong"));
    assert!(reason(c).contains("does not verify"));
    // The ServerKeyExchange signature does not cover the certificate.
    assert!(get(&checks, Kind::ServerKeyExchange).outcome.is_ok());
}

#[test]
fn flipped_tbs_certificate_byte_makes_hash_a_differ_from_hash_b() {
    let (mut pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    let before = verdicts(&sessions);
    let idx = sessions.iter().position(|s| !s.is_tls13()).unwrap();
    let c0 = get(
        &check_session(&sessions[idx], &trust_at(&sessions[idx])),
        Kind::CertificateSignature { index: 0 },
    )
    .clone();
    // Bytes 15..31 of the DER are the serial number, inside the signed
    // tbsCertificate.
    let der = &sessions[idx].certificate_ders[0];
    let serial = der[15..31].to_vec();
    let mut flipped = serial.clone();
    flipped[3] ^= 0x01;
    assert_eq!(replace_all(&mut pcap, &serial, &flipped), 1);
    let after_sessions = analyse(&pcap, Some(&keys));
    assert_only(
        &before,
        &verdicts(&after_sessions),
        idx,
        &[
            Kind::CertificateSignature { index: 0 },
            Kind::Finished { from: Dir::ClientToServer },
            Kind::Finished { from: Dir::ServerToClient },
        ],
    );
    let s = &after_sessions[idx];
    let c = get(&check_session(s, &trust_at(s)), Kind::CertificateSignature { index: 0 }).clone();
    // The signature is intact, so hash_b is still the original hash of
    // the tbsCertificate; hash_a is the hash of the altered one.
    assert_eq!(c.detail("hashes"), Some("differ"));
    assert_eq!(c.detail("hash_b"), c0.detail("hash_a"));
    assert_ne!(c.detail("hash_a"), c0.detail("hash_a"));
    assert!(c.detail("padding").unwrap().contains("as it should be"));
}

#[test]
fn flipped_server_key_exchange_signature_byte_fails_that_check() {
    let (mut pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    let before = verdicts(&sessions);
    let idx = sessions.iter().position(|s| !s.is_tls13()).unwrap();
    let ske = sessions[idx]
        .messages
        .iter()
        .find_map(|m| m.message.as_deref().filter(|_| m.name == "ServerKeyExchange"))
        .unwrap();
    let sig = &ske.bytes[ske.bytes.len() - 32..];
    let mut flipped = sig.to_vec();
    flipped[5] ^= 0x40;
    assert_eq!(replace_all(&mut pcap, sig, &flipped), 1);
    let after_sessions = analyse(&pcap, Some(&keys));
    assert_only(
        &before,
        &verdicts(&after_sessions),
        idx,
        &[
            Kind::ServerKeyExchange,
            Kind::Finished { from: Dir::ClientToServer },
            Kind::Finished { from: Dir::ServerToClient },
        ],
    );
    let s = &after_sessions[idx];
    let checks = check_session(s, &trust_at(s));
    let c = get(&checks, Kind::ServerKeyExchange);
    assert_eq!(c.detail("verdict"), Some("invalid"), "{}", render_text(&checks));
    assert!(get(&checks, Kind::CertificateSignature { index: 0 }).outcome.is_ok());
}

/// One TCP connection's two byte streams, client first.
#[derive(Default)]
struct Streams(BTreeMap<u64, [Vec<u8>; 2]>);

impl StreamSink<()> for Streams {
    fn data(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, chunk: Chunk<'_>) {
        self.0.entry(info.id).or_default()[dir.index()].extend_from_slice(chunk.data);
    }
    fn gap(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, _: u64, len: u64, _: u64) {
        panic!("stream {} {dir:?}: a gap of {len} bytes", info.id);
    }
    fn close(&mut self, _: &ConnInfo, _: (), _: EndReason) {}
}

impl Stage<()> for Streams {}

fn streams(pcap: &[u8]) -> BTreeMap<u64, [Vec<u8>; 2]> {
    let mut reader = CaptureReader::from_reader(Cursor::new(pcap.to_vec())).unwrap();
    let mut streams = Pipeline::new(Streams::default());
    while let Some(ev) = reader.next() {
        if let Event::Frame(f) = ev {
            streams.push(Input::Frame(f));
        }
    }
    streams.finish().0
}

/// The TLS records of a stream: header and body.
fn records(stream: &[u8]) -> Vec<([u8; 5], Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 5 {
        let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
        out.push((rest[..5].try_into().unwrap(), rest[5..5 + len].to_vec()));
        rest = &rest[5 + len..];
    }
    out
}

fn aead_key(spec: &CipherSpec, key: &[u8]) -> LessSafeKey {
    let alg = match spec.bulk {
        Bulk::AesGcm { key_len: 16 } => &aead::AES_128_GCM,
        Bulk::AesGcm { key_len: 32 } => &aead::AES_256_GCM,
        Bulk::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        other => panic!("the test seals AES-GCM and ChaCha20 only, not {other:?}"),
    };
    LessSafeKey::new(UnboundKey::new(alg, key).unwrap())
}

/// Decrypts `body` (sequence number 0) with `dec`, flips a byte of the
/// Finished's verify_data, and seals it again with the same key, nonce
/// and additional data: a record the reader decrypts to a wrong Finished.
fn reseal_with_flipped_verify_data(
    spec: &CipherSpec,
    keys: &RecordKeys,
    mut dec: Decryptor,
    header: [u8; 5],
    body: &[u8],
) -> Vec<u8> {
    let mut buf = body.to_vec();
    let pt = dec.decrypt(&header, &mut buf).unwrap();
    assert_eq!(pt.content_type, 22, "a handshake record");
    assert_eq!(pt.data[0], 20, "a Finished message");
    let mut plain = pt.data.to_vec();
    plain[4 + 3] ^= 0x01;
    let key = aead_key(spec, keys.key.as_bytes());
    let tag_len = key.algorithm().tag_len();
    if spec.tls13 {
        // RFC 8446 §5.2: inner plaintext = content || type (no padding
        // here); nonce = iv XOR seq (0); the record header is the AAD.
        plain.push(22);
        assert_eq!(plain.len() + tag_len, body.len(), "the record had padding");
        let nonce = Nonce::try_assume_unique_for_key(keys.iv.as_bytes()).unwrap();
        key.seal_in_place_append_tag(nonce, Aad::from(header), &mut plain).unwrap();
        plain
    } else {
        // RFC 5288 §3: nonce = salt || explicit nonce; AAD = seq || type ||
        // version || plaintext length.
        let explicit = &body[..8];
        let mut nonce = keys.iv.as_bytes().to_vec();
        nonce.extend_from_slice(explicit);
        let mut aad = vec![0u8; 8];
        aad.extend_from_slice(&header[..3]);
        aad.extend_from_slice(&(plain.len() as u16).to_be_bytes());
        let nonce = Nonce::try_assume_unique_for_key(&nonce).unwrap();
        key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut plain).unwrap();
        let mut out = explicit.to_vec();
        out.extend_from_slice(&plain);
        out
    }
}

#[test]
fn flipped_tls12_server_finished_fails_only_that_check() {
    let (mut pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    let before = verdicts(&sessions);
    let idx = sessions.iter().position(|s| !s.is_tls13()).unwrap();
    let s = &sessions[idx];
    let k = s.decryption.as_ref().unwrap().tls12.as_ref().unwrap();
    let spec = CipherSpec::from_suite(s.cipher_suite().unwrap()).unwrap();
    let ch = s.client_hello.as_ref().unwrap();
    let sh = s.server_hello.as_ref().unwrap();
    let kb = spec.key_block(0x0303, k.master.as_bytes(), &ch.random, &sh.random).unwrap();
    let rk = RecordKeys::from_key_block(&kb, Side::Server);
    let dec = Decryptor::new(&spec, &rk, 0x0303, false).unwrap();
    // The server's last handshake message, Finished, is its first record
    // after ChangeCipherSpec; nothing after it covers it.
    let conns = streams(&pcap);
    let recs = records(&conns[&s.conn][1]);
    let ccs = recs.iter().position(|(h, _)| h[0] == 20).unwrap();
    let (header, body) = &recs[ccs + 1];
    assert_eq!(header[0], 22);
    let sealed = reseal_with_flipped_verify_data(&spec, &rk, dec, *header, body);
    assert_eq!(replace_all(&mut pcap, body, &sealed), 1);
    let after_sessions = analyse(&pcap, Some(&keys));
    assert_only(
        &before,
        &verdicts(&after_sessions),
        idx,
        &[Kind::Finished { from: Dir::ServerToClient }],
    );
    let s = &after_sessions[idx];
    let c =
        get(&check_session(s, &trust_at(s)), Kind::Finished { from: Dir::ServerToClient }).clone();
    assert_ne!(c.detail("computed"), c.detail("sent"));
    assert!(reason(&c).contains("differs"));
}

#[test]
fn flipped_tls13_client_finished_fails_only_that_check() {
    let (mut pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    let before = verdicts(&sessions);
    let idx = sessions.iter().position(|s| s.is_tls13()).unwrap();
    let s = &sessions[idx];
    let secrets = s.decryption.as_ref().unwrap().tls13.as_ref().unwrap();
    let spec = CipherSpec::from_suite(s.cipher_suite().unwrap()).unwrap();
    let rk = RecordKeys::from_traffic_secret(&spec, secrets.client_handshake.as_bytes()).unwrap();
    let dec = Decryptor::tls13(&spec, secrets.client_handshake.as_bytes()).unwrap();
    // The client's first protected record is its Finished (no client
    // certificate, no early data), the last message of the handshake.
    let conns = streams(&pcap);
    let recs = records(&conns[&s.conn][0]);
    let (header, body) = recs.iter().find(|(h, _)| h[0] == 23).unwrap();
    let sealed = reseal_with_flipped_verify_data(&spec, &rk, dec, *header, body);
    assert_eq!(replace_all(&mut pcap, body, &sealed), 1);
    let after_sessions = analyse(&pcap, Some(&keys));
    assert_only(
        &before,
        &verdicts(&after_sessions),
        idx,
        &[Kind::Finished { from: Dir::ClientToServer }],
    );
}

// ---------------------------------------------------------------------------
// openssl as the oracle

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("tlsscope-verify-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs openssl in `dir`; fails (does not skip) when it is missing.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("openssl is needed by this test ({e}): install it (apt-get install openssl)")
    });
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

#[test]
fn hash_a_and_hash_b_of_the_lab_certificate_equal_openssls() {
    let (pcap, keys) = capture("lab");
    let sessions = analyse(&pcap, Some(&keys));
    let s = sessions.iter().find(|s| !s.is_tls13()).unwrap();
    let checks = check_session(s, &trust_at(s));
    let c = get(&checks, Kind::CertificateSignature { index: 0 });
    let dir = TempDir::new("lab-cert");
    std::fs::write(dir.path("cert.pem"), pem(&s.certificate_ders[0])).unwrap();

    // hash_a: the tbsCertificate (the SEQUENCE at offset 4) and its SHA-256.
    openssl(
        &dir.0,
        &["asn1parse", "-in", "cert.pem", "-strparse", "4", "-out", "tbs.der", "-noout"],
    );
    let dgst = String::from_utf8(openssl(&dir.0, &["dgst", "-sha256", "-r", "tbs.der"])).unwrap();
    let hash_a = dgst.split_whitespace().next().unwrap();
    assert_eq!(c.detail("hash_a"), Some(hash_a));

    // hash_b: the signature BIT STRING (the last element at depth 1),
    // opened with the public key: the DigestInfo, whose last 32 bytes are
    // the digest.
    let listing = String::from_utf8(openssl(&dir.0, &["asn1parse", "-in", "cert.pem"])).unwrap();
    let line = listing.lines().rfind(|l| l.contains("d=1") && l.contains("BIT STRING")).unwrap();
    let offset = line.split(':').next().unwrap().trim().to_string();
    openssl(
        &dir.0,
        &["asn1parse", "-in", "cert.pem", "-strparse", &offset, "-out", "sig.bin", "-noout"],
    );
    let public = openssl(&dir.0, &["x509", "-in", "cert.pem", "-noout", "-pubkey"]);
    std::fs::write(dir.path("pub.pem"), public).unwrap();
    let digest_info = openssl(
        &dir.0,
        &[
            "pkeyutl",
            "-verifyrecover",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-in",
            "sig.bin",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
    );
    assert_eq!(digest_info.len(), 19 + 32, "a SHA-256 DigestInfo");
    assert_eq!(c.detail("digest_info"), Some(hex(&digest_info).as_str()));
    assert_eq!(c.detail("hash_b"), Some(hex(&digest_info[19..]).as_str()));
    assert_eq!(c.detail("hash_a"), c.detail("hash_b"));
}

/// A chain made by openssl: root (RSA, self-signed, sha256WithRSA) →
/// intermediate (P-256, signed RSA-PSS) → sub-intermediate (Ed25519, signed
/// ecdsa-with-SHA256) → leaf (P-384, signed Ed25519), the leaf for
/// `*.example.com` and 192.0.2.7. DERs, leaf first.
fn openssl_chain(dir: &TempDir) -> Vec<Vec<u8>> {
    let ca_ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
    std::fs::write(dir.path("ca.ext"), ca_ext).unwrap();
    std::fs::write(
        dir.path("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:*.example.com,IP:192.0.2.7\n",
    )
    .unwrap();
    let d = &dir.0;
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Test Root",
            "-days",
            "30",
            "-sha256",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    let sign =
        |name: &str, subject: &str, newkey: &[&str], issuer: &str, ext: &str, extra: &[&str]| {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let mut args = vec!["genpkey", "-out", key.as_str()];
            args.extend_from_slice(newkey);
            openssl(d, &args);
            openssl(d, &["req", "-new", "-key", &key, "-out", &csr, "-subj", subject]);
            let (ca, ca_key) = (format!("{issuer}.pem"), format!("{issuer}.key"));
            let out = format!("{name}.pem");
            let mut args = vec![
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-set_serial",
                "7",
                "-days",
                "30",
                "-out",
                &out,
                "-extfile",
                ext,
            ];
            args.extend_from_slice(extra);
            openssl(d, &args);
        };
    sign(
        "int",
        "/CN=Test Intermediate",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "root",
        "ca.ext",
        &["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"],
    );
    sign("sub", "/CN=Test Sub", &["-algorithm", "ED25519"], "int", "ca.ext", &["-sha256"]);
    sign(
        "leaf",
        "/CN=www.example.com",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "sub",
        "leaf.ext",
        &[],
    );
    ["leaf", "sub", "int", "root"]
        .iter()
        .map(|n| openssl(d, &["x509", "-in", &format!("{n}.pem"), "-outform", "DER"]))
        .collect()
}

/// The lab's TLS 1.2 session with another chain, SNI and time.
fn session_with(chain: &[Vec<u8>], sni: Option<&str>, start: Timestamp) -> Session {
    let (pcap, keys) = capture("lab");
    let mut s = analyse(&pcap, Some(&keys)).into_iter().find(|s| !s.is_tls13()).unwrap();
    s.certificate_ders = chain.to_vec();
    s.client_hello.as_mut().unwrap().hello.server_name = sni.map(String::from);
    s.start = start;
    s
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Timestamp::from_parts(d.as_secs() as i64, 0)
}

#[test]
fn openssl_chains_verify_link_by_link_and_end_at_a_root() {
    let dir = TempDir::new("chain");
    let chain = openssl_chain(&dir);
    let root = chain[3].clone();
    let t = now();
    let s = session_with(&chain, Some("www.example.com"), t);
    let untrusted = Trust { roots: Vec::new(), now: t, host: None };
    let checks = check_session(&s, &untrusted);
    let text = render_text(&checks);
    let expect = [
        (0, "Ed25519", "certificate 2 in the chain (CN=Test Sub)"),
        (1, "ecdsa-with-SHA256", "certificate 3 in the chain (CN=Test Intermediate)"),
        (
            2,
            "RSASSA-PSS (SHA-256, MGF1, salt length 32)",
            "certificate 4 in the chain (CN=Test Root)",
        ),
        (3, "sha256WithRSAEncryption", "itself (self-signed)"),
    ];
    for (i, alg, issuer) in expect {
        let c = get(&checks, Kind::CertificateSignature { index: i });
        assert!(c.outcome.is_ok(), "{text}");
        assert_eq!(c.detail("algorithm"), Some(alg), "{text}");
        assert_eq!(c.detail("issuer_found"), Some(issuer), "{text}");
        assert!(get(&checks, Kind::CertificateValidity { index: i }).outcome.is_ok());
    }
    assert_eq!(
        get(&checks, Kind::CertificateSignature { index: 3 }).detail("hashes"),
        Some("equal")
    );
    assert_eq!(get(&checks, Kind::NameMatch).detail("match"), Some("DNS:*.example.com"));
    let trust = get(&checks, Kind::TrustAnchor);
    assert!(
        reason(trust).contains("chain ends at the self-signed CN=Test Root (certificate 4)"),
        "{text}"
    );
    assert_eq!(
        trust.detail("path"),
        Some(
            "certificate 1 (CN=www.example.com) ← issued by certificate 2 (CN=Test Sub) ← issued by certificate 3 (CN=Test Intermediate) ← issued by certificate 4 (CN=Test Root)"
        )
    );

    // The root trusted, and not sent: the intermediate's issuer is found
    // among the roots and its signature checked with the root's key.
    let trusted = Trust { roots: vec![root.clone()], now: t, host: None };
    let s3 = session_with(&chain[..3], Some("www.example.com"), t);
    let checks = check_session(&s3, &trusted);
    let int = get(&checks, Kind::CertificateSignature { index: 2 });
    assert!(int.outcome.is_ok());
    assert_eq!(int.detail("issuer_found"), Some("a trusted root (CN=Test Root)"));
    assert!(get(&checks, Kind::TrustAnchor).outcome.is_ok(), "{}", render_text(&checks));
    // Sent and trusted.
    assert!(get(&check_session(&s, &trusted), Kind::TrustAnchor).outcome.is_ok());

    // A missing intermediate: that link cannot be checked and the chain
    // cannot be completed.
    let gap = vec![chain[0].clone(), chain[2].clone(), chain[3].clone()];
    let checks = check_session(&session_with(&gap, Some("www.example.com"), t), &trusted);
    let leaf = get(&checks, Kind::CertificateSignature { index: 0 });
    assert!(matches!(leaf.outcome, Outcome::NotPossible(_)));
    assert!(reason(leaf).contains("neither in the chain"));
    let trust = get(&checks, Kind::TrustAnchor);
    assert!(matches!(trust.outcome, Outcome::Failed(_)));
    assert!(reason(trust).contains("cannot be completed"));

    // The wrong issuer: the sub-intermediate replaced by another Ed25519
    // CA of the same name fails the leaf's signature.
    let other = TempDir::new("chain-other");
    let chain2 = openssl_chain(&other);
    let mixed = vec![chain[0].clone(), chain2[1].clone(), chain[2].clone(), chain[3].clone()];
    let checks = check_session(&session_with(&mixed, Some("www.example.com"), t), &untrusted);
    assert!(matches!(
        get(&checks, Kind::CertificateSignature { index: 0 }).outcome,
        Outcome::Failed(_)
    ));
    // ... and that one's own signature, by another intermediate, too.
    assert!(matches!(
        get(&checks, Kind::CertificateSignature { index: 1 }).outcome,
        Outcome::Failed(_)
    ));
    assert!(get(&checks, Kind::CertificateSignature { index: 2 }).outcome.is_ok());
}

#[test]
fn validity_and_names_are_judged_at_the_capture_time_and_against_the_san() {
    let dir = TempDir::new("names");
    let chain = openssl_chain(&dir);
    let t = now();
    let trust = Trust { roots: Vec::new(), now: t, host: None };
    // 60 days later every certificate (30 days) has expired at the time
    // of the capture; "now" is reported separately.
    let late = Timestamp::from_parts(t.secs() + 60 * 86_400, 0);
    let checks = check_session(&session_with(&chain, Some("www.example.com"), late), &trust);
    let v = get(&checks, Kind::CertificateValidity { index: 0 });
    assert!(reason(v).contains("expired on"), "{v:?}");
    assert!(v.detail("now").unwrap().starts_with("valid"), "{v:?}");
    let early = Timestamp::from_parts(t.secs() - 86_400, 0);
    let checks = check_session(&session_with(&chain, Some("www.example.com"), early), &trust);
    assert!(
        reason(get(&checks, Kind::CertificateValidity { index: 0 })).contains("not valid before")
    );

    let name = |sni: Option<&str>, host: Option<&str>| {
        let trust = Trust { roots: Vec::new(), now: t, host: host.map(String::from) };
        get(&check_session(&session_with(&chain, sni, t), &trust), Kind::NameMatch).clone()
    };
    assert!(name(Some("WWW.Example.com"), None).outcome.is_ok());
    let c = name(Some("example.com"), None);
    assert!(reason(&c).contains("matches no subjectAltName"), "{c:?}");
    assert_eq!(c.detail("san"), Some("DNS:*.example.com, IP:192.0.2.7"));
    assert!(matches!(name(Some("a.b.example.com"), None).outcome, Outcome::Failed(_)));
    let c = name(None, Some("192.0.2.7"));
    assert_eq!(c.detail("match"), Some("IP:192.0.2.7"));
    assert!(c.detail("host").unwrap().contains("the host name given"));
    assert!(matches!(name(None, Some("192.0.2.8")).outcome, Outcome::Failed(_)));
    assert!(reason(&name(None, None)).contains("no server_name"));
}

#[test]
fn undecodable_certificates_are_reported_not_panicked_on() {
    let (pcap, keys) = capture("lab");
    let s = analyse(&pcap, Some(&keys)).into_iter().find(|s| !s.is_tls13()).unwrap();
    let der = s.certificate_ders[0].clone();
    for n in (0..der.len()).step_by(7) {
        let mut t = s.clone();
        t.certificate_ders = vec![der[..n].to_vec(), der.clone()];
        let checks = check_session(&t, &trust_at(&t));
        let c = get(&checks, Kind::CertificateSignature { index: 0 });
        assert!(matches!(c.outcome, Outcome::NotPossible(_)), "prefix {n}: {c:?}");
        assert!(matches!(get(&checks, Kind::NameMatch).outcome, Outcome::NotPossible(_)));
        assert!(get(&checks, Kind::CertificateSignature { index: 1 }).outcome.is_ok());
    }
    // A flipped byte anywhere in the DER: never a panic; and never "ok"
    // for a byte of the signed tbsCertificate (the SEQUENCE after the
    // 4-byte certificate header), of the signature algorithm (checked
    // against its signed copy) or of the signature.
    let tbs_end = 8 + u16::from_be_bytes([der[6], der[7]]) as usize;
    let sig_start = der.len() - 256;
    for i in 0..der.len() {
        let mut t = s.clone();
        let mut d = der.clone();
        d[i] ^= 0x20;
        t.certificate_ders = vec![d];
        let checks = check_session(&t, &trust_at(&t));
        let c = get(&checks, Kind::CertificateSignature { index: 0 });
        let covered =
            (4..tbs_end).contains(&i) || (tbs_end + 2..tbs_end + 15).contains(&i) || i >= sig_start;
        if covered {
            assert!(!c.outcome.is_ok(), "byte {i} flipped and the signature still verified");
        }
    }
}
