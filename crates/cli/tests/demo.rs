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
    // TLS 1.2: the ten steps in order.
    let tls12 = text.split("HTTPS with TLS 1.2").nth(1).unwrap();
    let tls12 = tls12.split("HTTPS with TLS 1.3").next().unwrap();
    let steps: Vec<&str> = tls12
        .lines()
        .filter(|l| l.trim_start().starts_with('(') && l.contains('→'))
        .map(|l| l.split_whitespace().nth(7).unwrap())
        .collect();
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
            "EncryptedHandshakeMessage",
            "ChangeCipherSpec",
            "EncryptedHandshakeMessage"
        ]
    );
    assert!(tls12.contains(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (ECDHE / RSA / AES_128_GCM / SHA256), group x25519"
    ));
    // TLS 1.3.
    let tls13 = text.split("HTTPS with TLS 1.3").nth(1).unwrap();
    assert!(tls13.contains("TLS 1.3, TLS_AES_128_GCM_SHA256"), "{tls13}");
    assert!(tls13.contains("HTTP/2 200 over TLSv1.3"));

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
