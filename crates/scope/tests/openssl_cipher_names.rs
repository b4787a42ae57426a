//! Cross-checks the cipher suite registry against the OpenSSL installed
//! here: `openssl ciphers -V` prints, for every suite it knows, the id, its
//! OpenSSL name, and its key exchange, authentication, cipher and MAC. Our
//! `openssl_name` table must give the same names for the same ids, and the
//! parts we derive from the IANA names must agree with what OpenSSL says.
//! The test fails (it does not skip) when `openssl` is missing.

use std::collections::BTreeMap;
use std::process::Command;

use tlsscope_scope::tls::registry::{cipher_suite, openssl_name};

/// The command that made `registry/openssl-ciphers.txt`: every TLS 1.2-and-
/// earlier suite OpenSSL has, plus all five TLS 1.3 suites (by default it
/// enables only three).
const TLS13: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

struct Line {
    name: String,
    proto: String,
    kx: String,
    au: String,
    enc: String,
    mac: String,
}

fn openssl_ciphers() -> BTreeMap<u16, Line> {
    let out = Command::new("openssl")
        .args(["ciphers", "-V", "-ciphersuites", TLS13, "ALL:COMPLEMENTOFALL"])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}); install it: apt-get install openssl")
        });
    assert!(
        out.status.success(),
        "openssl ciphers failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("openssl prints ASCII");
    let mut suites = BTreeMap::new();
    for line in text.lines() {
        // 0xC0,0x2F - ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 Kx=ECDH Au=RSA Enc=AESGCM(128) Mac=AEAD
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 8, "unexpected line: {line:?}");
        let (hi, lo) = f[0].split_once(',').expect("id is two bytes");
        let byte = |s: &str| u16::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex byte");
        let field = |s: &str, key: &str| {
            s.strip_prefix(key).unwrap_or_else(|| panic!("{line}: no {key}")).to_string()
        };
        suites.insert(
            byte(hi) << 8 | byte(lo),
            Line {
                name: f[2].to_string(),
                proto: f[3].to_string(),
                kx: field(f[4], "Kx="),
                au: field(f[5], "Au="),
                enc: field(f[6], "Enc="),
                mac: field(f[7], "Mac="),
            },
        );
    }
    assert!(suites.len() > 100, "openssl listed only {} suites", suites.len());
    suites
}

/// OpenSSL's `Enc=` spelling → the IANA cipher part.
fn iana_cipher(enc: &str) -> String {
    let (alg, bits) = match enc.split_once('(') {
        Some((alg, rest)) => (alg, rest.trim_end_matches(')')),
        None => (enc, ""),
    };
    match alg {
        "None" => "NULL".to_string(),
        "AES" => format!("AES_{bits}_CBC"),
        "AESGCM" => format!("AES_{bits}_GCM"),
        "AESCCM" => format!("AES_{bits}_CCM"),
        "AESCCM8" => format!("AES_{bits}_CCM_8"),
        "ARIAGCM" => format!("ARIA_{bits}_GCM"),
        "Camellia" => format!("CAMELLIA_{bits}_CBC"),
        "CHACHA20/POLY1305" => "CHACHA20_POLY1305".to_string(),
        "3DES" => "3DES_EDE_CBC".to_string(),
        "SEED" => "SEED_CBC".to_string(),
        "IDEA" => "IDEA_CBC".to_string(),
        other => panic!("add OpenSSL cipher {other:?} to iana_cipher()"),
    }
}

#[test]
fn openssl_names_match_the_installed_openssl() {
    let suites = openssl_ciphers();
    for (id, line) in &suites {
        assert_eq!(
            openssl_name(*id),
            Some(line.name.as_str()),
            "0x{id:04x}: registry/openssl-ciphers.txt disagrees with this openssl; regenerate it (see registry/README.md)"
        );
    }
    // And the other way round: we name nothing OpenSSL does not list.
    for id in 0..=u16::MAX {
        if let Some(name) = openssl_name(id) {
            assert!(
                suites.contains_key(&id),
                "we name 0x{id:04x} {name}, openssl does not list it"
            );
        }
    }
}

#[test]
fn derived_suite_parts_agree_with_openssl() {
    for (id, line) in openssl_ciphers() {
        let s = cipher_suite(id)
            .unwrap_or_else(|| panic!("0x{id:04x} {} is not in the IANA table", line.name));
        let what = format!("0x{id:04x} {} ({})", s.name, line.name);
        let kx_ok = match line.kx.as_str() {
            "ECDH" => s.kx == "ECDHE" || s.kx == "ECDH",
            "DH" => s.kx == "DHE" || s.kx == "DH",
            "DHEPSK" => s.kx == "DHE_PSK",
            "ECDHEPSK" => s.kx == "ECDHE_PSK",
            "RSAPSK" => s.kx == "RSA_PSK",
            other => s.kx == other,
        };
        assert!(kx_ok, "{what}: key exchange {} vs OpenSSL Kx={}", s.kx, line.kx);
        let au = if line.au == "None" { "anon" } else { line.au.as_str() };
        assert_eq!(s.auth, au, "{what}: authentication");
        assert_eq!(s.cipher, iana_cipher(&line.enc), "{what}: cipher");
        assert_eq!(s.aead, line.mac == "AEAD", "{what}: AEAD");
        if !s.aead {
            let mac = if line.mac == "SHA1" { "SHA" } else { line.mac.as_str() };
            assert_eq!(s.mac, mac, "{what}: MAC");
        }
        assert_eq!(s.tls13, line.proto == "TLSv1.3", "{what}: TLS 1.3");
    }
}
