//! `tlsscope cert` against openssl: what we make, openssl accepts, and what
//! openssl makes (the classic lab's genrsa / req -new / x509 -req -signkey,
//! plus EC and Ed25519 keys, PEM and DER), we accept. Runs the real binary in
//! temp dirs. These tests fail, not skip, when openssl is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_tlsscope");

/// A temp dir removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("tlsscope-cert-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl_present() {
    let ok = Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "openssl is needed for these tests: install it (apt-get install openssl)");
}

/// Runs tlsscope in `dir` and returns its output (any exit code).
fn tlsscope(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).env("NO_COLOR", "1").output().unwrap()
}

/// Runs tlsscope and insists on exit 0; returns stdout.
fn tlsscope_ok(dir: &Path, args: &[&str]) -> String {
    let out = tlsscope(dir, args);
    assert!(
        out.status.success(),
        "tlsscope {args:?} failed ({:?}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs openssl in `dir`, insists on success, returns stdout + stderr.
fn openssl(dir: &Path, args: &[&str]) -> String {
    openssl_present();
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The colon-hex lines below `label:` in `text`, joined, without colons.
fn hex_block(text: &str, label: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim() != label);
    assert!(lines.next().is_some(), "no {label} in:\n{text}");
    lines
        .take_while(|l| {
            let t = l.trim();
            !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
        })
        .map(|l| l.trim().replace(':', ""))
        .collect()
}

#[test]
fn new_makes_key_csr_and_cert_that_openssl_accepts() {
    let d = TempDir::new("new");
    let out = tlsscope_ok(&d.0, &["cert", "new", "--out", "lab"]);
    for f in ["server.key", "server.csr", "server.crt"] {
        assert!(out.contains(&format!("lab/{f}")), "{out}");
    }
    assert!(out.contains("SHA-256 fingerprint: "), "{out}");
    let lab = d.join("lab");

    let text = openssl(&lab, &["x509", "-in", "server.crt", "-noout", "-text"]);
    assert!(
        text.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"),
        "{text}"
    );
    assert!(text.contains("Subject: CN = localhost"), "{text}");
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"), "{text}");
    let verify = openssl(&lab, &["req", "-in", "server.csr", "-noout", "-verify"]);
    assert!(verify.contains("verify OK"), "{verify}");
    let verify = openssl(&lab, &["verify", "-CAfile", "server.crt", "server.crt"]);
    assert!(verify.contains("server.crt: OK"), "{verify}");
    openssl(&lab, &["pkey", "-in", "server.key", "-noout"]);
    assert_eq!(mode(&lab.join("server.key")), 0o600);
    let key = std::fs::read_to_string(lab.join("server.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8 PEM: {key}");
    // The certificate was signed from that CSR: same subject, same key.
    let csr_pub = openssl(&lab, &["req", "-in", "server.csr", "-noout", "-pubkey"]);
    let crt_pub = openssl(&lab, &["x509", "-in", "server.crt", "-noout", "-pubkey"]);
    assert_eq!(csr_pub, crt_pub);
}

#[test]
fn new_refuses_to_overwrite_without_force() {
    let d = TempDir::new("force");
    tlsscope_ok(&d.0, &["cert", "new"]);
    let before = std::fs::read(d.join("server.crt")).unwrap();
    let out = tlsscope(&d.0, &["cert", "new"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(d.join("server.crt")).unwrap(), before);

    // One of the three present is enough to refuse, and nothing is written.
    let d2 = TempDir::new("force2");
    std::fs::write(d2.join("server.crt"), b"mine").unwrap();
    let out = tlsscope(&d2.0, &["cert", "new"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!d2.join("server.key").exists());
    assert_eq!(std::fs::read(d2.join("server.crt")).unwrap(), b"mine");

    // --force replaces all three, and the key stays 0600.
    std::fs::set_permissions(
        d.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    tlsscope_ok(&d.0, &["cert", "new", "--force"]);
    assert_ne!(std::fs::read(d.join("server.crt")).unwrap(), before);
    assert_eq!(mode(&d.join("server.key")), 0o600);
    let verify = openssl(&d.0, &["verify", "-CAfile", "server.crt", "server.crt"]);
    assert!(verify.contains("OK"), "{verify}");
}

#[test]
fn every_key_type_round_trips_through_openssl() {
    let d = TempDir::new("types");
    for (kind, expect) in [
        ("rsa2048", "Public-Key: (2048 bit)"),
        ("rsa3072", "Public-Key: (3072 bit)"),
        ("rsa4096", "Public-Key: (4096 bit)"),
        ("p256", "NIST CURVE: P-256"),
        ("p384", "NIST CURVE: P-384"),
        ("ed25519", "Public Key Algorithm: ED25519"),
    ] {
        let out = d.join(kind);
        let args = ["cert", "new", "--key-type", kind, "--out", out.to_str().unwrap()];
        tlsscope_ok(&d.0, &args);
        let text = openssl(&out, &["x509", "-in", "server.crt", "-noout", "-text"]);
        assert!(text.contains(expect), "{kind}: {text}");
        let verify = openssl(&out, &["verify", "-CAfile", "server.crt", "server.crt"]);
        assert!(verify.contains("server.crt: OK"), "{kind}: {verify}");
        let verify = openssl(&out, &["req", "-in", "server.csr", "-noout", "-verify"]);
        assert!(verify.contains("verify OK"), "{kind}: {verify}");
        openssl(&out, &["pkey", "-in", "server.key", "-noout"]);
        // And our own show agrees that it verifies.
        let shown = tlsscope_ok(&out, &["cert", "show", "server.crt"]);
        assert!(shown.contains("Signature: ok (self-signed"), "{kind}: {shown}");
    }
}

#[test]
fn new_takes_cn_san_and_days() {
    let d = TempDir::new("names");
    tlsscope_ok(
        &d.0,
        &[
            "cert",
            "new",
            "--cn",
            "lab.test",
            "--san",
            "DNS:lab.test,DNS:*.lab.test,IP:10.0.0.7",
            "--days",
            "7",
        ],
    );
    let text = openssl(&d.0, &["x509", "-in", "server.crt", "-noout", "-text"]);
    assert!(text.contains("Subject: CN = lab.test"), "{text}");
    assert!(text.contains("DNS:lab.test, DNS:*.lab.test, IP Address:10.0.0.7"), "{text}");
    // openssl -checkend: still valid in 6 days, no longer in 8.
    openssl(&d.0, &["x509", "-in", "server.crt", "-noout", "-checkend", &(6 * 86400).to_string()]);
    let out = Command::new("openssl")
        .args(["x509", "-in", "server.crt", "-noout", "-checkend", &(8 * 86400).to_string()])
        .current_dir(&d.0)
        .output()
        .unwrap();
    assert!(!out.status.success(), "should expire within 8 days");

    let out = tlsscope(&d.0, &["cert", "new", "--out", "x", "--san", "URI:http://nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DNS:name or IP:address"));
}

#[test]
fn the_three_steps_one_at_a_time_with_default_names() {
    let d = TempDir::new("steps");
    let out = tlsscope_ok(&d.0, &["cert", "key", "--key-type", "p256"]);
    assert!(out.contains("server.key") && out.contains("ECDSA P-256"), "{out}");
    assert_eq!(mode(&d.join("server.key")), 0o600);
    tlsscope_ok(&d.0, &["cert", "csr", "--key", "server.key"]);
    let out = tlsscope_ok(&d.0, &["cert", "sign", "--csr", "server.csr", "--key", "server.key"]);
    assert!(out.contains("DNS:localhost, IP:127.0.0.1, IP:::1 (as the CSR asks)"), "{out}");
    let verify = openssl(&d.0, &["verify", "-CAfile", "server.crt", "server.crt"]);
    assert!(verify.contains("OK"), "{verify}");

    for args in [
        &["cert", "key"][..],
        &["cert", "csr", "--key", "server.key"],
        &["cert", "sign", "--csr", "server.csr", "--key", "server.key"],
    ] {
        let out = tlsscope(&d.0, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("already exists") && err.contains("hint: pass --force"), "{err}");
    }
    tlsscope_ok(&d.0, &["cert", "key", "--force", "-o", "server.key"]);
    assert_eq!(mode(&d.join("server.key")), 0o600);
}

/// The classic lab, step by step with openssl: our sign and show take its files.
#[test]
fn openssl_lab_files_are_accepted_by_sign_and_show() {
    let d = TempDir::new("lab");
    let dir = &d.0;
    openssl(dir, &["genrsa", "-out", "k", "2048"]);
    openssl(dir, &["req", "-new", "-key", "k", "-subj", "/CN=localhost", "-out", "c"]);
    std::fs::write(d.join("san.txt"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &["x509", "-req", "-in", "c", "-signkey", "k", "-extfile", "san.txt", "-out", "crt"],
    );

    let shown = tlsscope_ok(dir, &["cert", "show", "crt"]);
    assert!(shown.contains("DNS:localhost, IP Address:127.0.0.1"), "{shown}");
    assert!(shown.contains("Signature: ok (self-signed"), "{shown}");
    let shown = tlsscope_ok(dir, &["cert", "show", "c"]);
    assert!(shown.starts_with("Certificate Request:"), "{shown}");
    assert!(shown.contains("Signature: ok (made with the key in this request)"), "{shown}");
    let shown = tlsscope_ok(dir, &["cert", "show", "k"]);
    assert!(shown.starts_with("RSA Private-Key: (2048 bit, 2 primes)"), "{shown}");

    // Our `cert sign` does what `openssl x509 -req -signkey -extfile` did.
    let out = tlsscope_ok(
        dir,
        &[
            "cert",
            "sign",
            "--csr",
            "c",
            "--key",
            "k",
            "--san",
            "DNS:localhost,IP:127.0.0.1",
            "-o",
            "ours.crt",
        ],
    );
    assert!(out.contains("ours.crt"), "{out}");
    let text = openssl(dir, &["x509", "-in", "ours.crt", "-noout", "-text"]);
    assert!(text.contains("DNS:localhost, IP Address:127.0.0.1"), "{text}");
    assert!(text.contains("Issuer: CN = localhost"), "{text}");
    assert!(openssl(dir, &["verify", "-CAfile", "ours.crt", "ours.crt"]).contains("OK"));

    // Without --san and a CSR that asks for none: signed, with a warning.
    let out = tlsscope(dir, &["cert", "sign", "--csr", "c", "--key", "k", "-o", "nosan.crt"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no subjectAltName"));
}

#[test]
fn openssl_keys_of_every_form_are_accepted() {
    let d = TempDir::new("forms");
    let dir = &d.0;
    openssl(dir, &["genrsa", "-out", "rsa8.pem", "2048"]);
    openssl(dir, &["rsa", "-in", "rsa8.pem", "-traditional", "-out", "rsa1.pem"]);
    openssl(dir, &["pkey", "-in", "rsa8.pem", "-outform", "DER", "-out", "rsa.der"]);
    openssl(dir, &["ecparam", "-genkey", "-name", "prime256v1", "-out", "ec.pem"]);
    openssl(dir, &["ecparam", "-genkey", "-name", "secp384r1", "-noout", "-out", "ec384.pem"]);
    openssl(
        dir,
        &["pkcs8", "-topk8", "-nocrypt", "-in", "ec.pem", "-outform", "DER", "-out", "ec8.der"],
    );
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
    let cases = [
        ("rsa8.pem", "PKCS#8", "RSA Private-Key: (2048 bit"),
        ("rsa1.pem", "PKCS#1", "RSA Private-Key: (2048 bit"),
        ("rsa.der", "DER", "RSA Private-Key: (2048 bit"),
        ("ec.pem", "SEC1", "EC Private-Key: (256 bit)"),
        ("ec384.pem", "SEC1", "EC Private-Key: (384 bit)"),
        ("ec8.der", "PKCS#8", "EC Private-Key: (256 bit)"),
        ("ed.pem", "PKCS#8", "ED25519 Private-Key:"),
    ];
    for (key, form, head) in cases {
        let shown = tlsscope_ok(dir, &["cert", "show", key]);
        assert!(shown.contains(head) && shown.contains(form), "{key}: {shown}");
        // Our CSR from their key, openssl checks it.
        let csr = format!("{key}.csr");
        tlsscope_ok(dir, &["cert", "csr", "--key", key, "-o", &csr]);
        assert!(openssl(dir, &["req", "-in", &csr, "-noout", "-verify"]).contains("verify OK"));
        // Their CSR (PEM and DER) from their key, our signature, openssl checks it.
        let theirs = format!("{key}.their.csr");
        openssl(
            dir,
            &["req", "-new", "-key", key, "-subj", "/O=Lab/CN=localhost", "-out", &theirs],
        );
        let theirs_der = format!("{key}.their.csr.der");
        openssl(dir, &["req", "-in", &theirs, "-outform", "DER", "-out", &theirs_der]);
        for csr in [&theirs, &theirs_der] {
            let crt = format!("{csr}.crt");
            tlsscope_ok(
                dir,
                &["cert", "sign", "--csr", csr, "--key", key, "--san", "localhost", "-o", &crt],
            );
            let verify = openssl(dir, &["verify", "-CAfile", &crt, &crt]);
            assert!(verify.contains(": OK"), "{key}: {verify}");
            let text = openssl(dir, &["x509", "-in", &crt, "-noout", "-subject", "-issuer"]);
            assert!(text.contains("subject=O = Lab, CN = localhost"), "{text}");
            assert!(text.contains("issuer=O = Lab, CN = localhost"), "{text}");
        }
    }
}

#[test]
fn show_agrees_with_openssl_on_fingerprint_and_modulus() {
    let d = TempDir::new("fp");
    tlsscope_ok(&d.0, &["cert", "new"]);
    let shown = tlsscope_ok(&d.0, &["cert", "show", "server.crt"]);
    let ours = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256 Fingerprint: "))
        .expect("fingerprint line")
        .to_string();
    let theirs = openssl(&d.0, &["x509", "-in", "server.crt", "-noout", "-fingerprint", "-sha256"]);
    assert_eq!(theirs.trim(), format!("sha256 Fingerprint={ours}"));

    let modulus = hex_block(&shown, "Modulus:").to_uppercase();
    let theirs = openssl(&d.0, &["x509", "-in", "server.crt", "-noout", "-modulus"]);
    assert_eq!(theirs.trim(), format!("Modulus={}", modulus.trim_start_matches("00")));
    assert_eq!(modulus.len(), 2 * 257, "2048-bit modulus with its leading 00");

    // From stdin too.
    let mut child = Command::new(BIN)
        .args(["cert", "show", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pem = std::fs::read(d.join("server.crt")).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &pem).unwrap();
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success());
    assert!(
        String::from_utf8_lossy(&piped.stdout).contains(&format!("SHA-256 Fingerprint: {ours}"))
    );

    // The DER form shows the same.
    openssl(&d.0, &["x509", "-in", "server.crt", "-outform", "DER", "-out", "server.der"]);
    let der_shown = tlsscope_ok(&d.0, &["cert", "show", "server.der"]);
    assert!(der_shown.contains(&format!("SHA-256 Fingerprint: {ours}")));
}

#[test]
fn private_numbers_only_with_private_and_they_match_openssl() {
    let d = TempDir::new("priv");
    tlsscope_ok(&d.0, &["cert", "key", "-o", "k.pem"]);
    let shown = tlsscope_ok(&d.0, &["cert", "show", "k.pem"]);
    for word in ["privateExponent", "prime1", "prime2", "exponent1", "coefficient"] {
        assert!(!shown.contains(word), "{word} without --private:\n{shown}");
    }
    assert!(shown.contains("--private"), "{shown}");
    let private = tlsscope_ok(&d.0, &["cert", "show", "--private", "k.pem"]);
    let theirs = openssl(&d.0, &["pkey", "-in", "k.pem", "-noout", "-text"]);
    for label in ["modulus:", "privateExponent:", "prime1:", "prime2:", "coefficient:"] {
        let ours = hex_block(&private, label);
        assert!(ours.len() > 200, "{label}: {private}");
        assert_eq!(ours, hex_block(&theirs, label), "{label}");
    }

    openssl(&d.0, &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
    let shown = tlsscope_ok(&d.0, &["cert", "show", "ed.pem"]);
    assert!(!shown.contains("priv:"), "{shown}");
    let private = tlsscope_ok(&d.0, &["cert", "show", "ed.pem", "--private"]);
    let theirs = openssl(&d.0, &["pkey", "-in", "ed.pem", "-noout", "-text"]);
    assert_eq!(hex_block(&private, "priv:"), hex_block(&theirs, "priv:"));
    assert_eq!(hex_block(&private, "pub:"), hex_block(&theirs, "pub:"));
}

#[test]
fn bad_inputs_are_exit_2_with_the_file_named() {
    let d = TempDir::new("bad");
    let mut junk = Vec::new();
    for i in 0u32..300 {
        junk.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    std::fs::write(d.join("junk.bin"), &junk).unwrap();
    std::fs::write(d.join("cut.pem"), "-----BEGIN CERTIFICATE-----\nMIIBszCCAV").unwrap();
    std::fs::write(d.join("empty"), "").unwrap();
    for file in ["junk.bin", "cut.pem", "empty", "missing.pem"] {
        let out = tlsscope(&d.0, &["cert", "show", file]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(&format!("tlsscope: {file}: ")), "{file}: {err}");
    }
    let out = tlsscope(&d.0, &["cert", "sign", "--csr", "junk.bin", "--key", "junk.bin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.bin"));
    assert!(!d.join("server.crt").exists());

    // A passphrase-protected key: a clear message and how to decrypt it.
    openssl(
        &d.0,
        &["genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:secret", "-out", "enc.pem"],
    );
    for args in [&["cert", "show", "enc.pem"][..], &["cert", "csr", "--key", "enc.pem"]] {
        let out = tlsscope(&d.0, args);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("encrypted private keys are not supported"), "{err}");
        assert!(err.contains("openssl pkey -in enc.pem -out"), "{err}");
    }
}

#[test]
fn sign_refuses_a_key_that_is_not_the_csrs() {
    let d = TempDir::new("wrongkey");
    tlsscope_ok(&d.0, &["cert", "key", "-o", "a.key", "--key-type", "p256"]);
    tlsscope_ok(&d.0, &["cert", "key", "-o", "b.key", "--key-type", "p256"]);
    tlsscope_ok(&d.0, &["cert", "csr", "--key", "a.key", "-o", "a.csr"]);
    let out = tlsscope(&d.0, &["cert", "sign", "--csr", "a.csr", "--key", "b.key"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a.csr: the CSR was made for a different key"), "{err}");
    assert!(!d.join("server.crt").exists());

    // A CSR changed after signing is refused too.
    let pem = std::fs::read_to_string(d.join("a.csr")).unwrap();
    openssl(&d.0, &["req", "-in", "a.csr", "-outform", "DER", "-out", "a.der"]);
    let mut der = std::fs::read(d.join("a.der")).unwrap();
    let pos = der.windows(9).position(|w| w == b"localhost").unwrap();
    der[pos] = b'X';
    std::fs::write(d.join("bad.der"), der).unwrap();
    let out = tlsscope(&d.0, &["cert", "sign", "--csr", "bad.der", "--key", "a.key"]);
    assert_eq!(out.status.code(), Some(2), "{pem}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("signature does not verify"));
    let shown = tlsscope(&d.0, &["cert", "show", "bad.der"]);
    assert_eq!(shown.status.code(), Some(1), "a failed signature is a problem found");
    assert!(String::from_utf8_lossy(&shown.stdout).contains("Signature: FAILED"));
}

#[test]
fn show_checks_signatures_of_other_algorithms_or_says_it_cannot() {
    let d = TempDir::new("algs");
    let dir = &d.0;
    let x509 = |out: &str, extra: &[&str]| {
        let mut args = vec!["req", "-x509", "-nodes", "-subj", "/CN=alg", "-days", "2"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-out", out]);
        openssl(dir, &args);
    };
    // RSASSA-PSS with a salt as long as the hash: aws-lc-rs checks it.
    x509(
        "pss.crt",
        &[
            "-newkey",
            "rsa-pss",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-keyout",
            "pss.key",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ],
    );
    // openssl's default PSS salt (as long as fits) cannot be checked: said so, not FAILED.
    x509(
        "pssmax.crt",
        &["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048", "-keyout", "pssmax.key"],
    );
    x509(
        "p521.crt",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521", "-keyout", "p521.key"],
    );
    x509("old.crt", &["-newkey", "rsa:1024", "-sha1", "-keyout", "old.key"]);
    for (file, expect) in [
        ("pss.crt", "Signature: ok (self-signed"),
        (
            "pssmax.crt",
            "Signature: not checked (tlsscope cannot check rsassaPss with SHA-256 and a",
        ),
        ("p521.crt", "Signature: ok (self-signed"),
        ("old.crt", "Signature: ok (self-signed"),
    ] {
        let shown = tlsscope_ok(dir, &["cert", "show", file]);
        assert!(shown.contains(expect), "{file}: {shown}");
    }
    let shown = tlsscope_ok(dir, &["cert", "show", "p521.crt"]);
    assert!(shown.contains("Public-Key: (521 bit)") && shown.contains("NIST CURVE: P-521"));
    let shown = tlsscope_ok(dir, &["cert", "show", "old.crt"]);
    assert!(shown.contains("Public-Key: (1024 bit)") && shown.contains("sha1WithRSAEncryption"));
}
