//! TLS dissection checked against tshark, session by session, on captures
//! of real peers (testdata/captures/tls, made by testdata/make-captures.sh:
//! curl, openssl s_client/s_server with TLS 1.2 and 1.3 and many suites,
//! nghttp, our own server). For every TCP stream with TLS, `inspect
//! --format json` must agree with tshark's fields: the handshake messages
//! in the clear and their frames, versions, cipher suites, SNI, ALPN, key
//! exchange group, certificates (by SHA-256 of their DER) and JA3.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn need(tool: &str) {
    let ok = Command::new(tool).arg("-v").output().is_ok_and(|o| o.status.success());
    assert!(ok, "{tool} is needed for this test: install it (apt-get install tshark)");
}

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run testdata/make-captures.sh)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    assert!(v.len() >= 4, "expected the TLS captures in {}", dir.display());
    v
}

/// What tshark says about one TCP stream.
#[derive(Debug, Default)]
struct Theirs {
    /// (frame, handshake type) in order, plaintext messages only.
    messages: Vec<(u64, u8)>,
    /// Per session (split at each ClientHello that does not follow a HelloRetryRequest):
    sessions: Vec<TheirSession>,
}

#[derive(Debug, Default, Clone)]
struct TheirSession {
    server_suite: Option<u16>,
    version: Option<u16>,
    sni: Option<String>,
    alpn_offered: Vec<String>,
    alpn_selected: Option<String>,
    group: Option<u16>,
    ja3: Option<String>,
    cert_sha256: Vec<String>,
    hrr: bool,
}

fn hex16(s: &str) -> u16 {
    u16::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn sha256_hex(hex: &str) -> String {
    use sha2::Digest;
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

const HRR_RANDOM: &str = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c";

fn tshark(file: &Path) -> BTreeMap<u64, Theirs> {
    let fields = [
        "frame.number",
        "tcp.stream",
        "tls.handshake.type",
        "tls.handshake.ciphersuite",
        "tls.handshake.extensions_server_name",
        "tls.handshake.extensions_alpn_str",
        "tls.handshake.ja3",
        "tls.handshake.extensions.supported_version",
        "tls.handshake.version",
        "tls.handshake.extensions_key_share_group",
        "tls.handshake.server_named_curve",
        "tls.handshake.certificate",
        "tls.handshake.random",
    ];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args([
        "-Y",
        "tls.handshake",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut streams: BTreeMap<u64, Theirs> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('|').collect();
        let list = |i: usize| -> Vec<&str> { f[i].split(',').filter(|s| !s.is_empty()).collect() };
        let frame: u64 = f[0].parse().unwrap();
        let stream: u64 = f[1].parse().unwrap();
        let types: Vec<u8> = list(2).iter().map(|t| t.parse().unwrap()).collect();
        let st = streams.entry(stream).or_default();
        let randoms = list(12);
        for (i, t) in types.iter().enumerate() {
            st.messages.push((frame, *t));
            let hrr = *t == 2 && randoms.contains(&HRR_RANDOM);
            if *t == 1 {
                let after_hrr =
                    st.sessions.last().is_some_and(|s| s.hrr && s.server_suite.is_none());
                if !after_hrr {
                    st.sessions.push(TheirSession::default());
                }
                let s = st.sessions.last_mut().unwrap();
                if s.ja3.is_none() {
                    s.ja3 = list(6).first().map(|x| x.to_string());
                }
                s.sni = list(4).first().map(|x| x.to_string());
                s.alpn_offered = list(5).iter().map(|x| x.to_string()).collect();
            }
            if st.sessions.is_empty() {
                st.sessions.push(TheirSession::default());
            }
            let s = st.sessions.last_mut().unwrap();
            if *t == 2 {
                if hrr {
                    s.hrr = true;
                } else {
                    s.server_suite = list(3).first().map(|x| hex16(x));
                    let sv = list(7);
                    s.version =
                        sv.last().map(|x| hex16(x)).or_else(|| list(8).first().map(|x| hex16(x)));
                    s.alpn_selected = list(5).first().map(|x| x.to_string());
                    if let Some(g) = list(9).first() {
                        s.group = Some(g.parse().unwrap());
                    }
                }
            }
            if *t == 12
                && let Some(g) = list(10).first()
            {
                s.group = Some(hex16(g));
            }
            if *t == 11 && i == types.iter().position(|x| *x == 11).unwrap() {
                // Only the server's certificates (the client's come after
                // the server's Finished in TLS 1.2 only with client auth;
                // tell them apart by frame order: the first Certificate).
                if s.cert_sha256.is_empty() {
                    s.cert_sha256 = list(11).iter().map(|h| sha256_hex(h)).collect();
                }
            }
        }
    }
    streams
}

fn ours(file: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["inspect", "--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() <= 1, "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn handshake_type(name: &str) -> Option<u8> {
    Some(match name {
        "HelloRequest" => 0,
        "ClientHello" => 1,
        "ServerHello" | "HelloRetryRequest" => 2,
        "NewSessionTicket" => 4,
        "EndOfEarlyData" => 5,
        "EncryptedExtensions" => 8,
        "Certificate" => 11,
        "ServerKeyExchange" => 12,
        "CertificateRequest" => 13,
        "ServerHelloDone" => 14,
        "CertificateVerify" => 15,
        "ClientKeyExchange" => 16,
        "Finished" => 20,
        "CertificateStatus" => 22,
        "KeyUpdate" => 24,
        _ => return None,
    })
}

#[test]
fn sessions_agree_with_tshark() {
    need("tshark");
    let mut compared = 0;
    for file in captures() {
        let theirs = tshark(&file);
        let mine = ours(&file);
        let sessions: Vec<&Value> = mine.iter().filter(|v| v["type"] == "session").collect();
        let mut by_stream: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
        for s in &sessions {
            by_stream.entry(s["stream"].as_u64().unwrap()).or_default().push(s);
        }
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            by_stream.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "{name}: the TCP streams with TLS handshakes"
        );
        for (stream, their) in &theirs {
            let mine = &by_stream[stream];
            let my_messages: Vec<(u64, u8)> = mine
                .iter()
                .flat_map(|s| s["messages"].as_array().unwrap().iter())
                .filter(|m| m["encrypted"].is_null())
                .filter_map(|m| Some((m["frame"].as_u64()?, handshake_type(m["type"].as_str()?)?)))
                .collect();
            assert_eq!(
                my_messages, their.messages,
                "{name} stream {stream}: handshake messages (frame, type)"
            );
            assert_eq!(mine.len(), their.sessions.len(), "{name} stream {stream}: sessions");
            for (m, t) in mine.iter().zip(&their.sessions) {
                let ctx = format!("{name} stream {stream} session {}", m["session"]);
                assert_eq!(
                    m["cipher_suite_id"].as_u64().map(|v| v as u16),
                    t.server_suite,
                    "{ctx}: cipher suite"
                );
                let version = m["version"].as_str().map(|v| match v {
                    "TLS 1.3" => 0x0304,
                    "TLS 1.2" => 0x0303,
                    "TLS 1.1" => 0x0302,
                    "TLS 1.0" => 0x0301,
                    other => panic!("{other}"),
                });
                assert_eq!(version, t.version, "{ctx}: version");
                assert_eq!(m["server_name"].as_str().map(String::from), t.sni, "{ctx}: SNI");
                let offered: Vec<String> = m["alpn_offered"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(offered, t.alpn_offered, "{ctx}: ALPN offered");
                if t.version == Some(0x0303) {
                    assert_eq!(
                        m["alpn"].as_str().map(String::from),
                        t.alpn_selected,
                        "{ctx}: ALPN selected"
                    );
                }
                assert_eq!(m["ja3"].as_str().map(String::from), t.ja3, "{ctx}: JA3");
                assert_eq!(m["hello_retry"].as_bool(), Some(t.hrr), "{ctx}: HelloRetryRequest");
                if let Some(g) = t.group {
                    let name = m["named_group"].as_str().unwrap_or("");
                    let id = match name {
                        "x25519" => 29,
                        "secp256r1" => 23,
                        "secp384r1" => 24,
                        "secp521r1" => 25,
                        "x448" => 30,
                        "ffdhe2048" => 256,
                        other => panic!("{ctx}: group {other}"),
                    };
                    assert_eq!(id, g, "{ctx}: group");
                }
                let certs: Vec<String> = m["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["sha256"].as_str().unwrap().to_string())
                    .collect();
                if !t.cert_sha256.is_empty() {
                    assert_eq!(
                        &certs[..t.cert_sha256.len().min(certs.len())],
                        &t.cert_sha256[..],
                        "{ctx}: certificates"
                    );
                }
                compared += 1;
            }
        }
    }
    eprintln!("{compared} sessions compared with tshark");
    assert!(compared >= 30, "only {compared} sessions compared");
}

#[test]
fn the_lab_tls12_capture_shows_what_the_walkthrough_shows() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls/lab.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["inspect", "--color", "never"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // The plain HTTP request beside HTTPS.
    assert!(text.contains("not TLS (plain HTTP)"), "{text}");
    assert!(text.contains("GET / HTTP/1.1"));
    // The TLS 1.2 session: the client's suites and random; the chosen
    // suite and its parts; the certificate; the key exchange.
    let tls12 = text.split("TLS session").nth(1).unwrap();
    for want in [
        "TLS 1.2, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (ECDHE / RSA / AES_128_GCM / SHA256)",
        "Cipher Suites (",
        "Cipher Suite: TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 (0xc030)",
        "Random: ",
        "sha256WithRSAEncryption",
        "Named Curve: x25519 (0x001d)",
        "Pubkey: ",
        "Signature Algorithm: ",
        "Signature: ",
        "EC Diffie-Hellman Client Params",
        "(1) frame",
        "ClientHello",
        "ServerHello",
        "Certificate",
        "ServerKeyExchange",
        "ServerHelloDone",
        "ClientKeyExchange",
        "ChangeCipherSpec",
        "EncryptedHandshakeMessage  [encrypted, 40 bytes]",
        "(10) frame",
        "Encrypted Application Data",
    ] {
        assert!(tls12.contains(want), "missing {want:?} in:\n{tls12}");
    }
    // Ladder lines: "(n) frame F  T  client → server  Name  ...".
    let ladder: Vec<&str> =
        tls12.lines().filter(|l| l.trim_start().starts_with('(') && l.contains('→')).collect();
    let names: Vec<&str> = ladder.iter().map(|l| l.split_whitespace().nth(7).unwrap()).collect();
    assert_eq!(
        names,
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
        ],
        "the ten steps of the walkthrough"
    );
}
