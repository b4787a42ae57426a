//! `inspect --explain` on captures where one byte was flipped: the
//! signature check that covers that byte says FAILED, the other signature
//! checks pass, the rest of the walkthrough (and the decrypted HTTP) stays
//! as it was, and the exit code says a problem was found (1). Both Finished
//! checks fail too, as they must: the endpoints hashed the handshake as it
//! was sent, and the capture now holds another one. The captures are the checked-in lab capture with one byte
//! changed in the TLS 1.2 ServerKeyExchange signature or in the
//! certificate's signature (both travel in the clear in TLS 1.2).

use std::path::PathBuf;
use std::process::Command;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls").join(name)
}

/// The start of the TLS 1.2 ServerKeyExchange's ECDHE parameters in
/// lab.pcap: curve type named_curve, x25519, a 32-byte key starting
/// ac1168fb (the values `inspect --explain` shows for that capture).
const SKE_PARAMS: [u8; 8] = [0x03, 0x00, 0x1d, 0x20, 0xac, 0x11, 0x68, 0xfb];

fn explain_with_flip(name: &str, at: impl Fn(usize) -> usize) -> (String, Option<i32>) {
    let mut pcap = std::fs::read(testdata("lab.pcap")).unwrap();
    let params = pcap.windows(8).position(|w| w == SKE_PARAMS).expect("the SKE params");
    let i = at(params);
    pcap[i] ^= 0x01;
    let dir = std::env::temp_dir().join(format!("tlsscope-flip-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("flipped.pcap");
    std::fs::write(&path, &pcap).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["inspect", "--explain", "--color", "never", "--lang", "en"])
        .arg(&path)
        .arg("--keylog")
        .arg(testdata("lab.keys"))
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

/// The TLS 1.2 session's part of the output.
fn tls12(text: &str) -> &str {
    let s = text.split("TLS session 0:").nth(1).unwrap();
    s.split("TLS session 1:").next().unwrap()
}

#[test]
fn unchanged_capture_passes_every_check_but_trust() {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["inspect", "--explain", "--color", "never", "--lang", "en"])
        .arg(testdata("lab.pcap"))
        .arg("--keylog")
        .arg(testdata("lab.keys"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text.matches("[FAILED]").count(), 2, "trust, in both sessions: {text}");
    assert_eq!(text.matches("[FAILED] Trust anchor").count(), 2);
}

#[test]
fn flipped_server_key_exchange_signature_fails_only_that_check() {
    // The signature follows the 36 bytes of params, the scheme (2) and
    // its length (2): flip its 11th byte.
    let (text, code) = explain_with_flip("ske", |p| p + 36 + 4 + 10);
    let s = tls12(&text);
    assert!(s.contains("[FAILED] ServerKeyExchange signature"), "{s}");
    assert!(s.contains("[  ok  ] Certificate 1 signature"), "{s}");
    assert!(s.contains("[FAILED] Finished from the client"), "{s}");
    assert!(s.contains("[FAILED] Finished from the server"), "{s}");
    assert!(s.contains("[  ok  ] Key exchange"), "{s}");
    assert_eq!(s.matches("[FAILED]").count(), 4, "SKE, trust, both Finished: {s}");
    // The rest of the walkthrough is there, and the decrypted response.
    assert!(s.contains("(10) Finished"), "{s}");
    assert!(s.contains("body (12 bytes): Hello World!"), "{s}");
    assert_eq!(code, Some(1), "a failed signature is a problem in the capture");
}

#[test]
fn flipped_certificate_signature_fails_only_that_check() {
    // The certificate's signature ends just before the ServerKeyExchange
    // header (type 12 and a 3-byte length) that precedes the params.
    let (text, code) = explain_with_flip("cert", |p| p - 4 - 1);
    let s = tls12(&text);
    assert!(s.contains("[FAILED] Certificate 1 signature"), "{s}");
    assert!(s.contains("hash_a vs hash_b"), "{s}");
    assert!(s.contains("[  ok  ] ServerKeyExchange signature"), "{s}");
    assert!(s.contains("[FAILED] Finished from the server"), "{s}");
    assert_eq!(s.matches("[FAILED]").count(), 4, "certificate, trust, both Finished: {s}");
    assert!(s.contains("body (12 bytes): Hello World!"), "{s}");
    assert_eq!(code, Some(1));
}
