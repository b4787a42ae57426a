//! `tlsscope demo` from start to end, as a new user runs it: it finishes,
//! leaves the files it promises (secrets mode 0600), shows the plain HTTP
//! bytes, the TLS 1.2 walkthrough's ten steps and the TLS 1.3 handshake,
//! and tshark decrypts its capture with no option at all.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn demo_runs_the_whole_lab() {
    let dir = std::env::temp_dir().join(format!("tlsscope-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["demo", "--color", "never", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));

    for (file, mode) in [
        ("server.key", 0o600),
        ("server.csr", 0o644),
        ("server.crt", 0o644),
        ("demo.pcapng", 0o600),
        ("sslkeylog.txt", 0o600),
    ] {
        let m = std::fs::metadata(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(m.permissions().mode() & 0o777, mode, "{file}");
    }

    // Plain HTTP, readable on the wire.
    assert!(text.contains("HTTP/1.1 200 OK  →  Hello World!"), "{text}");
    assert!(text.contains("server HTTP/1.1 200 OK"), "{text}");
    // "Hello World!" three times as a decoded body: plain HTTP, and
    // decrypted from TLS 1.2 and from TLS 1.3.
    assert_eq!(text.matches("body (12 bytes): Hello World!").count(), 3, "{text}");

    // TLS 1.2: first as a capture without keys shows it, then the ten
    // steps explained, with their checks.
    let tls12 = text.split("HTTPS with TLS 1.2").nth(1).unwrap();
    let tls12 = tls12.split("HTTPS with TLS 1.3").next().unwrap();
    let (bare, keyed) = tls12.split_once("every step explained and checked").unwrap();
    assert_eq!(bare.matches("EncryptedHandshakeMessage [enc]").count(), 2, "{bare}");
    assert!(bare.contains("bytes [enc] ════▶ │"), "{bare}");
    assert!(bare.contains("│ ◀════ Application data: "), "{bare}");
    assert!(bare.contains("client → server  170303"), "ciphertext shown: {bare}");
    // The client's close_notify is recorded or not depending on when the
    // connection closes against the end of the recording: a trailing Alert
    // is not one of the ten steps.
    let mut steps = explained_steps(keyed);
    let alert = steps.len() == 11 && steps.last().is_some_and(|s| s == "Alert");
    if alert {
        steps.pop();
    }
    assert_eq!(
        steps,
        [
            "ClientHello",
            "ServerHello",
            "Certificate",
            "ServerKeyExchange",
            "ServerHelloDone",
            "ClientKeyExchange",
            "ChangeCipherSpec",
            "Finished",
            "ChangeCipherSpec",
            "Finished"
        ]
    );
    // Each step says what it is for (the recorded Alert too).
    let explained = 10 + usize::from(alert);
    assert_eq!(keyed.matches("What it is for").count(), explained, "{keyed}");
    assert!(keyed.contains(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (ECDHE / RSA / AES_128_GCM / SHA256), group x25519"
    ));
    for check in [
        "[  ok  ] Certificate 1 signature (CN=localhost, self-signed)",
        "hash_a vs hash_b: equal",
        "[  ok  ] ServerKeyExchange signature",
        "[  ok  ] Key exchange: ECDHE x25519",
        "[  ok  ] Finished from the client",
        "[  ok  ] Finished from the server",
        "[FAILED] Trust anchor",
    ] {
        assert!(keyed.contains(check), "{check}: {keyed}");
    }
    assert!(!keyed.contains("[FAILED] Finished") && !keyed.contains("n/a"), "{keyed}");

    // TLS 1.3: only the hellos in the clear without keys; all decrypted.
    let tls13 = text.split("HTTPS with TLS 1.3").nth(1).unwrap();
    let (bare, keyed) = tls13.split_once("every step explained and checked").unwrap();
    assert!(bare.contains("everything after the ServerHello is encrypted"), "{bare}");
    assert!(!bare.contains("Certificate"), "{bare}");
    assert!(keyed.contains("TLS 1.3, TLS_AES_128_GCM_SHA256"), "{keyed}");
    assert!(tls13.contains("HTTP/2 200 over TLSv1.3"));
    let steps = explained_steps(keyed);
    for name in ["EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"] {
        assert!(steps.contains(&name.to_string()), "{name}: {steps:?}");
    }
    for check in [
        "[  ok  ] CertificateVerify",
        "[  ok  ] Finished from the server",
        "[  ok  ] Finished from the client",
    ] {
        assert!(keyed.contains(check), "{check}: {keyed}");
    }

    // The capture carries its keys: tshark decrypts every Hello World.
    let t = Command::new("tshark")
        .arg("-r")
        .arg(dir.join("demo.pcapng"))
        .args([
            "-Y",
            "http2.type == 0 || http.response",
            "-T",
            "fields",
            "-e",
            "http2.data.data",
            "-e",
            "http.file_data",
        ])
        .output()
        .expect("tshark is needed for this test: install it (apt-get install tshark)");
    let fields = String::from_utf8_lossy(&t.stdout);
    let hello_hex = "48656c6c6f20576f726c6421";
    assert_eq!(fields.matches(hello_hex).count(), 2, "two decrypted HTTP/2 bodies: {fields}");
    assert_eq!(fields.matches("Hello World!").count(), 1, "one plain HTTP body: {fields}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The names of the explained steps: `  (3) Certificate  server → client, ...`.
fn explained_steps(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("  (") && l.contains(", frame "))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn demo_speaks_japanese_with_lang_ja() {
    let dir = std::env::temp_dir().join(format!("tlsscope-demo-ja-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["demo", "--color", "never", "--tls", "1.3", "--lang", "ja", "--out"])
        .arg(&dir)
        .env("LANG", "C")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for ja in [
        "ステップ 4",
        "何のためのものか",
        "このキャプチャでは",
        "TLS 1.3 のハンドシェイク",
        "クライアントがハンドシェイクを始めます",
        "キーログで復号",
    ] {
        assert!(text.contains(ja), "{ja}: {text}");
    }
    assert!(!text.contains("What it is for"), "{text}");
    assert!(text.contains("body (12 bytes): Hello World!"), "{text}");
    // LANG picks the language when --lang is not given.
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["demo", "--color", "never", "--tls", "1.2", "--out"])
        .arg(&dir)
        .env("LANG", "ja_JP.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("何のためのものか"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn demo_report_writes_the_visual_report() {
    let dir = std::env::temp_dir().join(format!("tlsscope-demo-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["demo", "--color", "never", "--lang", "en", "--report", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("report.html    the visual report"), "{text}");
    let path = dir.join("report.html");
    // It holds decrypted traffic: owner only, like the key log.
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.to_ascii_lowercase().contains(" src="), "self-contained");
    // Both sessions with their ladders, the TLS 1.2 one with the ten steps
    // and the field trees the page's hex view needs; the decrypted bodies.
    assert_eq!(page.matches("<svg class=\"ladder\"").count(), 2);
    assert!(page.contains(">(10) Finished [dec]</text>"));
    assert!(page.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
    assert!(page.contains("TLS_AES_128_GCM_SHA256"));
    assert!(page.contains("\"named_curve\""), "field trees");
    assert!(
        page.matches("<pre class=\"body text\">Hello World!</pre>").count() >= 3,
        "plain, 1.2, 1.3"
    );
    // Without --report, no report is announced.
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["demo", "--color", "never", "--lang", "en", "--tls", "1.3", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("report.html"));
    std::fs::remove_dir_all(&dir).ok();
}
