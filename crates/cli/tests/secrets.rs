//! Secrets kept secret, seen from outside: the real binary writing key logs,
//! private keys and recordings (mode 0600, an existing file others can read
//! fixed with a warning, never through a symbolic link) and reading
//! `--rsa-key` (an RSA private key or exit 2 saying what the file is).
//! Loopback only, port 0, temp dirs; every server is killed when its test
//! ends.

mod support_lab;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support_lab::{Server, TempDir, text, tlsscope};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A server on free loopback ports, without a key log of its own.
fn serve() -> Server {
    Server::start(&["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"])
}

#[test]
fn get_appending_to_a_world_readable_key_log_makes_it_0600_and_warns() {
    let dir = TempDir::new("secrets-get-keylog");
    let server = serve();
    let keys = dir.join("sslkeylog.txt");
    std::fs::write(&keys, "# a browser's older lines\n").unwrap();
    chmod(&keys, 0o644);
    let out = tlsscope(&[
        "get",
        "--insecure",
        "--keylog",
        keys.to_str().unwrap(),
        &server.https_url("/"),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "tlsscope: warning: {} was readable by others (0644): now 0600",
            keys.display()
        )),
        "{err}"
    );
    assert_eq!(mode(&keys), 0o600);
    let log = std::fs::read_to_string(&keys).unwrap();
    assert!(log.starts_with("# a browser's older lines\n"), "{log}");
    assert!(log.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET "), "{log}");

    // Once fixed, nothing more to say.
    let out = tlsscope(&[
        "get",
        "--insecure",
        "--keylog",
        keys.to_str().unwrap(),
        &server.https_url("/"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("warning"), "{}", text(&out.stderr));
}

#[test]
fn serve_appending_to_a_0666_key_log_makes_it_0600_and_warns() {
    let dir = TempDir::new("secrets-serve-keylog");
    let keys = dir.join("server.keys");
    std::fs::write(&keys, "").unwrap();
    chmod(&keys, 0o666);
    let server = Server::start(&[
        "--http",
        "none",
        "--https",
        "127.0.0.1:0",
        "--keylog",
        keys.to_str().unwrap(),
    ]);
    let log = server.wait_for_log("was readable by others (0666): now 0600");
    assert!(log.contains(&format!("tlsscope: warning: {} was readable", keys.display())), "{log}");
    assert_eq!(mode(&keys), 0o600);
}

#[test]
fn get_record_over_a_world_readable_capture_makes_it_0600_and_warns() {
    let dir = TempDir::new("secrets-get-record");
    let server = serve();
    let pcap = dir.join("hello.pcapng");
    std::fs::write(&pcap, "an older recording").unwrap();
    chmod(&pcap, 0o644);
    let out = tlsscope(&[
        "get",
        "--insecure",
        "--record",
        pcap.to_str().unwrap(),
        &server.https_url("/"),
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("was readable by others (0644): now 0600"), "{err}");
    assert_eq!(mode(&pcap), 0o600);
    assert!(std::fs::read(&pcap).unwrap().starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]));
}

#[test]
fn cert_key_force_refuses_to_write_through_a_symbolic_link() {
    let dir = TempDir::new("secrets-cert-link");
    let target = dir.join("somewhere-else");
    std::fs::write(&target, "not a key").unwrap();
    chmod(&target, 0o644);
    let link = dir.join("server.key");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = tlsscope(&["cert", "key", "-o", link.to_str().unwrap(), "--force"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "tlsscope: {}: is a symbolic link, and secrets are not written through one\nhint: ",
            link.display()
        )),
        "{err}"
    );
    assert!(err.contains("remove the link"), "{err}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "not a key");
    assert_eq!(mode(&target), 0o644);
}

#[test]
fn cert_key_to_a_device_keeps_its_mode_and_does_not_claim_0600() {
    let before = mode(Path::new("/dev/null"));
    let out = tlsscope(&["cert", "key", "-o", "/dev/null", "--force"]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(said.contains("wrote /dev/null: RSA 2048-bit private key, PKCS#8 PEM\n"), "{said}");
    assert!(!said.contains("0600"), "{said}");
    assert_eq!(mode(Path::new("/dev/null")), before);
    // A file is said to be 0600, and is.
    let dir = TempDir::new("secrets-cert-file");
    let key = dir.join("server.key");
    let out = tlsscope(&["cert", "key", "-o", key.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("PKCS#8 PEM, mode 0600"), "{}", text(&out.stdout));
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn get_refuses_a_key_log_behind_a_symbolic_link() {
    let dir = TempDir::new("secrets-get-link");
    let server = serve();
    let target = dir.join("real.log");
    let link = dir.join("keys.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = tlsscope(&[
        "get",
        "--insecure",
        "--keylog",
        link.to_str().unwrap(),
        &server.https_url("/"),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("keys.log: is a symbolic link"), "{err}");
    assert!(!target.exists(), "the link's target was created");
}

/// The lab's TLS capture (any capture would do: the key is checked first).
fn capture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/captures/tls/lab.pcap")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn report_with_decrypted_data_over_a_world_readable_page_makes_it_0600_and_warns() {
    let dir = TempDir::new("secrets-report");
    let page = dir.join("report.html");
    std::fs::write(&page, "an older page").unwrap();
    chmod(&page, 0o644);
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls/lab.keys");
    let out = tlsscope(&[
        "report",
        &capture(),
        "--keylog",
        keys.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "tlsscope: warning: {} was readable by others (0644): now 0600",
            page.display()
        )),
        "{err}"
    );
    assert_eq!(mode(&page), 0o600);
    assert!(std::fs::read_to_string(&page).unwrap().starts_with("<!DOCTYPE html>"));
}

/// Runs `tlsscope CMD --rsa-key KEY <capture>` (`report` writing to
/// stdout) and insists on exit 2 with `tlsscope: KEY: <message>` before
/// any output; returns stderr.
fn rsa_key_refused(cmd: &str, key: &Path, message: &str) -> String {
    let mut args = vec![cmd, "--rsa-key", key.to_str().unwrap()];
    if cmd == "report" {
        args.extend(["-o", "-"]);
    }
    let capture = capture();
    args.push(&capture);
    let out = tlsscope(&args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
    assert!(err.starts_with(&format!("tlsscope: {}: {message}\n", key.display())), "{cmd}: {err}");
    assert!(text(&out.stdout).is_empty(), "{cmd}: output before the error");
    err
}

#[test]
fn rsa_key_that_is_garbage_a_certificate_or_an_ec_key_is_exit_2_saying_what_it_is() {
    let dir = TempDir::new("secrets-rsa-key");
    let made = tlsscope(&["cert", "new", "--out", dir.path().to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let ec = dir.join("ec.key");
    let made = tlsscope(&["cert", "key", "--key-type", "p256", "-o", ec.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let garbage = dir.join("garbage.key");
    std::fs::write(&garbage, "hello, I am not a key\n").unwrap();

    for cmd in ["inspect", "follow", "report"] {
        let err =
            rsa_key_refused(cmd, &garbage, "is neither PEM nor the DER of a key or certificate");
        assert!(err.contains("hint: --rsa-key takes the server's RSA private key"), "{err}");
    }
    let err =
        rsa_key_refused("inspect", &dir.join("server.crt"), "is a certificate, not a private key");
    assert!(err.contains("such as the server.key made with server.crt"), "{err}");
    let err = rsa_key_refused("inspect", &ec, "is an EC private key, not an RSA one");
    assert!(err.contains("need the secrets from a key log (--keylog)"), "{err}");

    // The server's own RSA key is taken (that it decrypts nothing in a
    // capture of ECDHE sessions is the analysis's to say, not an error).
    let key = dir.join("server.key");
    let out = tlsscope(&["inspect", "--rsa-key", key.to_str().unwrap(), &capture()]);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).is_empty());
}

#[test]
fn rsa_key_report_names_the_certificate_it_is_the_key_of_or_says_it_matches_none() {
    let dir = TempDir::new("secrets-rsa-match");
    let (ours, other) = (dir.join("ours"), dir.join("other"));
    for d in [&ours, &other] {
        let made = tlsscope(&["cert", "new", "--out", d.to_str().unwrap()]);
        assert!(made.status.success(), "{}", text(&made.stderr));
    }
    let (crt, key) = (ours.join("server.crt"), ours.join("server.key"));
    let server = Server::start(&[
        "--http",
        "none",
        "--https",
        "127.0.0.1:0",
        "--cert",
        crt.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let pcap = dir.join("two.pcapng");
    let url = format!("https://localhost:{}/", server.https_port());
    for tls in ["1.2", "1.3"] {
        let got = tlsscope(&[
            "get",
            "--insecure",
            "--tls-max",
            tls,
            "--record",
            pcap.to_str().unwrap(),
            &url,
        ]);
        assert!(got.status.success(), "{}", text(&got.stderr));
    }
    // The server's key: named with the certificate and how many sessions
    // (the one recording kept the last session only: `--record` rewrites).
    let out = tlsscope(&["inspect", "--rsa-key", key.to_str().unwrap(), pcap.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "--rsa-key {}: is the key of the certificate CN=localhost (1 session)",
            key.display()
        )),
        "{err}"
    );
    // Another key: a warning that it is the key of none of them.
    let wrong = other.join("server.key");
    let out = tlsscope(&["inspect", "--rsa-key", wrong.to_str().unwrap(), pcap.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "warning: --rsa-key {}: is the key of none of the 1 server certificate in the capture \
             (CN=localhost): it decrypts none of its sessions",
            wrong.display()
        )),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1), "a key that fits nothing is a problem found");
}
