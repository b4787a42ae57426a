//! Unit tests of the checks' arithmetic and signature handling (the
//! whole checks are tested from outside in tests/verify.rs).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha384};
use x509_parser::asn1_rs::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::*;
use crate::tree::hex;

/// A scratch directory for openssl's files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("tlsscope-verify-{}-{name}", std::process::id()));
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
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key pair made by openssl: the public key as our [`Key`].
fn openssl_key(dir: &TempDir, genpkey: &[&str]) -> Key {
    let mut args = vec!["genpkey", "-out", "key.pem"];
    args.extend_from_slice(genpkey);
    openssl(&dir.0, &args);
    openssl(&dir.0, &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"]);
    let der = std::fs::read(dir.path("pub.der")).unwrap();
    let (_, spki) = SubjectPublicKeyInfo::from_der(&der).unwrap();
    key_of(&spki)
}

/// Signs `data` with openssl (`dgst -sign`, or `pkeyutl` args given).
fn openssl_sign(dir: &TempDir, data: &[u8], args: &[&str]) -> Vec<u8> {
    std::fs::write(dir.path("data.bin"), data).unwrap();
    openssl(&dir.0, args);
    std::fs::read(dir.path("sig.bin")).unwrap()
}

fn detail<'a>(d: &'a Details, key: &str) -> Option<&'a str> {
    d.iter().find(|(k, _, _)| *k == key).map(|(_, _, v)| v.as_str())
}

#[test]
fn pkcs1_type1_block_splits_and_rejects_bad_padding() {
    let mut em = vec![0x00, 0x01];
    em.extend([0xff; 10]);
    em.push(0x00);
    em.extend(b"digest");
    assert_eq!(pkcs1_type1(&em), Ok((10, b"digest".as_slice())));
    let mut bad = em.clone();
    bad[1] = 0x02;
    assert!(pkcs1_type1(&bad).unwrap_err().contains("not 00 01"));
    let mut short = vec![0x00, 0x01, 0xff, 0xff, 0x00];
    short.extend(b"x");
    assert!(pkcs1_type1(&short).unwrap_err().contains("at least 8"));
    let mut no_zero = em.clone();
    no_zero[12] = 0x05;
    assert!(pkcs1_type1(&no_zero).unwrap_err().contains("not followed by 00"));
    for n in 0..em.len() {
        let _ = pkcs1_type1(&em[..n]);
    }
}

/// DigestInfo for SHA-256 (RFC 8017 §9.2 note 1): the 19-byte prefix,
/// then the digest.
const SHA256_DIGEST_INFO_PREFIX: &str = "3031300d060960864801650304020105000420";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn digest_info_reads_the_algorithm_and_digest_and_rejects_truncation() {
    let mut t = unhex(SHA256_DIGEST_INFO_PREFIX);
    t.extend([0xab; 32]);
    let (oid, digest) = digest_info(&t).unwrap();
    assert_eq!(oid, "2.16.840.1.101.3.4.2.1");
    assert_eq!(Hash::from_oid(&oid), Some(Hash::Sha256));
    assert_eq!(digest, vec![0xab; 32]);
    for n in 0..t.len() {
        assert!(digest_info(&t[..n]).is_err(), "a {n}-byte prefix decoded");
    }
    let mut trailing = t.clone();
    trailing.push(0);
    assert!(digest_info(&trailing).is_err());
}

#[test]
fn rsa_recovery_refuses_signatures_not_below_the_modulus_and_huge_exponents() {
    let n = [0x00, 0xc5, 0x01];
    assert!(rsa_recover(&n, &[3], &[0xc5, 0x01]).unwrap_err().contains("not smaller"));
    assert!(rsa_recover(&n, &[1; 9], &[0x01]).unwrap_err().contains("exponent"));
    assert!(rsa_recover(&[], &[3], &[]).is_err());
    // 2^3 mod 0xc501, padded to the modulus length.
    assert_eq!(rsa_recover(&n, &[3], &[2]).unwrap(), vec![0x00, 0x08]);
}

#[test]
fn tls10_rsa_md5_sha1_signature_from_openssl_verifies_by_re_encoding() {
    let dir = TempDir::new("md5sha1");
    let key = openssl_key(&dir, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let data = b"client_random + server_random + params";
    // TLS 1.0/1.1: PKCS#1 type 1 padding around MD5 || SHA-1, no DigestInfo.
    std::fs::write(dir.path("digest.bin"), Hash::Md5Sha1.digest(data)).unwrap();
    openssl(
        &dir.0,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-in",
            "digest.bin",
            "-out",
            "sig.bin",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
    );
    let signature = std::fs::read(dir.path("sig.bin")).unwrap();
    let (scheme, name) = tls_scheme(None, &key).unwrap();
    assert_eq!(scheme, Scheme::RsaPkcs1(Hash::Md5Sha1));
    assert!(name.contains("MD5+SHA-1"));
    let mut d = Vec::new();
    assert_eq!(verify(scheme, &key, data, &signature, "signed data", &mut d), Outcome::Ok);
    assert_eq!(detail(&d, "hashes"), Some("equal"));
    assert_eq!(detail(&d, "hash_a"), detail(&d, "hash_b"));
    assert_eq!(detail(&d, "hash_a").unwrap().len(), 72, "36 bytes: MD5 then SHA-1");
    let mut d = Vec::new();
    let outcome = verify(scheme, &key, b"other data", &signature, "signed data", &mut d);
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    assert_eq!(detail(&d, "hashes"), Some("differ"));
}

#[test]
fn tls12_rsa_pkcs1_signature_shows_hash_a_and_hash_b() {
    let dir = TempDir::new("pkcs1");
    let key = openssl_key(&dir, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let data = b"signed params".repeat(10);
    let sig = openssl_sign(
        &dir,
        &data,
        &["dgst", "-sha384", "-sign", "key.pem", "-out", "sig.bin", "data.bin"],
    );
    let (scheme, name) = tls_scheme(Some(0x0501), &key).unwrap();
    assert_eq!(scheme, Scheme::RsaPkcs1(Hash::Sha384));
    assert_eq!(name, "rsa_pkcs1_sha384 (0x0501)");
    let mut d = Vec::new();
    assert_eq!(verify(scheme, &key, &data, &sig, "signed data", &mut d), Outcome::Ok);
    assert_eq!(detail(&d, "hash_a"), Some(hex(&Sha384::digest(&data)).as_str()));
    assert_eq!(detail(&d, "hash_a"), detail(&d, "hash_b"));
    assert_eq!(detail(&d, "digest_info_alg"), Some("sha384"));
    assert!(detail(&d, "padding").unwrap().starts_with("00 01 FF×"));
    assert_eq!(detail(&d, "verdict"), Some("valid"));
    let mut bad = sig.clone();
    bad[100] ^= 1;
    let mut d = Vec::new();
    let outcome = verify(scheme, &key, &data, &bad, "signed data", &mut d);
    assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    assert_eq!(detail(&d, "verdict"), Some("invalid"));
    // A flipped signature byte scrambles the whole recovered block.
    assert!(detail(&d, "padding").unwrap().starts_with("wrong"), "{d:?}");
}

#[test]
fn tls_rsa_pss_ecdsa_and_ed25519_signatures_from_openssl_verify() {
    let dir = TempDir::new("schemes");
    let data = b"64 spaces, a context string, a zero byte, a transcript hash".to_vec();

    let rsa = openssl_key(&dir, &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let sig = openssl_sign(
        &dir,
        &data,
        &[
            "dgst",
            "-sha256",
            "-sign",
            "key.pem",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
            "-out",
            "sig.bin",
            "data.bin",
        ],
    );
    let (scheme, _) = tls_scheme(Some(0x0804), &rsa).unwrap();
    let mut d = Vec::new();
    assert_eq!(verify(scheme, &rsa, &data, &sig, "signed content", &mut d), Outcome::Ok);
    assert!(detail(&d, "pss_trailer").unwrap().starts_with("bc"));
    // The same signature read as PKCS#1 v1.5 does not verify.
    let mut d = Vec::new();
    let pkcs1 = verify(Scheme::RsaPkcs1(Hash::Sha256), &rsa, &data, &sig, "x", &mut d);
    assert!(matches!(pkcs1, Outcome::Failed(_)));

    let ec = openssl_key(&dir, &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let sig = openssl_sign(
        &dir,
        &data,
        &["dgst", "-sha256", "-sign", "key.pem", "-out", "sig.bin", "data.bin"],
    );
    let (scheme, name) = tls_scheme(Some(0x0403), &ec).unwrap();
    assert_eq!(name, "ecdsa_secp256r1_sha256 (0x0403)");
    let mut d = Vec::new();
    assert_eq!(verify(scheme, &ec, &data, &sig, "signed content", &mut d), Outcome::Ok);
    assert!(detail(&d, "ecdsa_r").is_some() && detail(&d, "ecdsa_s").is_some());
    assert_eq!(detail(&d, "verdict"), Some("valid"));
    let mut d = Vec::new();
    assert!(matches!(verify(scheme, &ec, b"altered", &sig, "x", &mut d), Outcome::Failed(_)));
    // An ECDSA scheme with an RSA key is not possible, not a failure.
    let mut d = Vec::new();
    assert!(matches!(verify(scheme, &rsa, &data, &sig, "x", &mut d), Outcome::NotPossible(_)));

    let ed = openssl_key(&dir, &["-algorithm", "ED25519"]);
    let sig = openssl_sign(
        &dir,
        &data,
        &["pkeyutl", "-sign", "-rawin", "-inkey", "key.pem", "-in", "data.bin", "-out", "sig.bin"],
    );
    let (scheme, _) = tls_scheme(Some(0x0807), &ed).unwrap();
    assert_eq!(scheme, Scheme::Ed25519);
    let mut d = Vec::new();
    assert_eq!(verify(scheme, &ed, &data, &sig, "signed content", &mut d), Outcome::Ok);
    let mut bad = sig.clone();
    bad[0] ^= 0x80;
    let mut d = Vec::new();
    assert!(matches!(verify(scheme, &ed, &data, &bad, "x", &mut d), Outcome::Failed(_)));
}

#[test]
fn unknown_and_unsupported_schemes_are_not_possible() {
    let ed = Key { kind: KeyType::Ed25519, raw: vec![0; 32], desc: "Ed25519".into() };
    assert!(tls_scheme(Some(0x0808), &ed).is_err(), "ed448");
    assert!(tls_scheme(Some(0x1234), &ed).is_err());
    assert!(tls_scheme(None, &ed).is_err(), "TLS 1.0 with an Ed25519 key");
}

#[test]
fn public_keys_of_the_wrong_size_or_form_are_rejected() {
    assert_eq!(check_public(0x001d, &[9; 32]), Some(Ok(())));
    assert!(matches!(check_public(0x001d, &[9; 31]), Some(Err(_))));
    assert!(matches!(check_public(0x0017, &[4; 65]), Some(Err(_))), "not on P-256");
    assert_eq!(check_public(0x11ec, &[0; 1216]), None, "no check for hybrid groups");
}

#[test]
fn a_check_names_its_details_kinds_and_outcomes() {
    let check = Check {
        kind: Kind::Finished { from: Dir::ServerToClient },
        title: "Finished from the server".into(),
        outcome: Outcome::Failed("differs".into()),
        details: vec![("computed", "verify_data computed".into(), "00ff".into())],
        frame: Some(12),
    };
    assert_eq!(check.detail("computed"), Some("00ff"));
    assert_eq!(check.detail("expected"), None);
    assert_eq!(check.outcome.reason(), Some("differs"));
    assert_eq!(Kind::CertificateSignature { index: 2 }.key(), "certificate_signature");
    assert_eq!(Outcome::NotPossible("x".into()).to_string(), "not possible: x");
}
