//! `tlsscope get` against real servers: `openssl s_server -www` and
//! `tlsscope serve`; `--record` checked with tshark. Loopback only, port 0,
//! temp dirs; every server is killed when its test ends.

mod support_lab;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support_lab::{Server, TempDir, closed_port, keylog_entries, need, run, text, tlsscope};

fn start_serve(dir: &TempDir, extra: &[&str]) -> Server {
    let keys = dir.join("server.keys");
    let mut args = vec!["--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--keylog"];
    args.push(keys.to_str().unwrap());
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `openssl s_server -www` on a free loopback port, killed on drop.
struct SServer {
    child: Child,
    port: u16,
}

impl SServer {
    fn start(cert: &Path, key: &Path, extra: &[&str]) -> SServer {
        need("openssl", "openssl");
        let port = closed_port();
        let child = Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www", "-quiet"])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl s_server");
        let s = SServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_ok(args: &[&str]) -> (String, String) {
    let out = tlsscope(&[&["get"], args].concat());
    assert!(
        out.status.success(),
        "get {args:?} failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    (text(&out.stdout), text(&out.stderr))
}

fn get_fails(args: &[&str]) -> String {
    let out = tlsscope(&[&["get"], args].concat());
    assert_eq!(out.status.code(), Some(2), "get {args:?}: {}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("tlsscope: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn fetches_from_openssl_s_server_with_tls12_and_tls13() {
    let dir = TempDir::new("get-sserver");
    let (crt, key) = support_lab::make_cert(&dir);
    let s = SServer::start(&crt, &key, &[]);
    let url = format!("https://localhost:{}/", s.port);
    let (out, err) =
        get_ok(&["-i", "-v", "--tls-max", "1.2", "--cacert", crt.to_str().unwrap(), &url]);
    assert!(out.starts_with("HTTP/1.0 200 ok\r\n"), "{out}");
    assert!(out.contains("New, TLSv1.2, Cipher is ECDHE-RSA-AES128-GCM-SHA256"), "{out}");
    assert!(
        err.contains("TLS connection using TLSv1.2 / TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        "{err}"
    );
    assert!(err.contains("certificate verify ok"), "{err}");
    let (out, err) = get_ok(&["-i", "-v", "--tls-min", "1.3", "-k", &url]);
    assert!(out.contains("New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256"), "{out}");
    assert!(err.contains("TLS connection using TLSv1.3 / TLS_AES_128_GCM_SHA256"), "{err}");
    assert!(err.contains("/ x25519"), "{err}");
    // --ciphers with an OpenSSL name and an IANA name.
    let (out, _) = get_ok(&["-k", "--ciphers", "ECDHE-RSA-CHACHA20-POLY1305", &url]);
    assert!(out.contains("New, TLSv1.2, Cipher is ECDHE-RSA-CHACHA20-POLY1305"), "{out}");
    let (out, _) = get_ok(&["-k", "--ciphers", "TLS_AES_256_GCM_SHA384", &url]);
    assert!(out.contains("New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"), "{out}");
}

#[test]
fn fetches_from_serve_in_every_tls_and_http_version() {
    let dir = TempDir::new("get-matrix");
    let server = start_serve(&dir, &[]);
    let expected = support_lab::expected_bytes(100_000);
    for v in ["1.2", "1.3"] {
        for (flag, status_line, alpn) in
            [("--http1.1", "HTTP/1.1 200 OK", "http/1.1"), ("--http2", "HTTP/2 200", "h2")]
        {
            let tls = ["--tls-min", v, "--tls-max", v, flag, "-k"];
            let (out, _) = get_ok(&[&tls[..], &["-i", &server.https_url("/")]].concat());
            assert!(out.starts_with(&format!("{status_line}\r\n")), "{v} {flag}: {out}");
            assert!(out.ends_with("\r\n\r\nHello World!"), "{v} {flag}: {out}");
            let http = if alpn == "h2" { "HTTP/2" } else { "HTTP/1.1" };
            server.wait_for_log(&format!("{http} TLSv{v} "));
            server.wait_for_log(&format!("alpn={alpn} \"GET /\" 200 12"));

            let url = server.https_url("/bytes/100000");
            let out = tlsscope(&[&["get"][..], &tls[..], &[url.as_str()][..]].concat());
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert!(out.stdout == expected, "{v} {flag}: /bytes/100000 differs");

            let (echo, _) =
                get_ok(&[&tls[..], &["-H", "X-Lab: 1", &server.https_url("/echo")]].concat());
            assert!(echo.starts_with(&format!("GET /echo {http}\r\n")), "{echo}");
            assert!(echo.contains("user-agent: tlsscope/"), "{echo}");
            assert!(echo.contains("x-lab: 1\r\n"), "{echo}");
        }
    }
}

#[test]
fn plain_http_in_http1_and_h2c() {
    let dir = TempDir::new("get-plain");
    let server = start_serve(&dir, &[]);
    let (out, _) = get_ok(&["-i", &server.http_url("/")]);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("Hello World!"), "{out}");
    let (out, _) = get_ok(&["-i", "--http2", &server.http_url("/echo")]);
    assert!(out.starts_with("HTTP/2 200\r\n") && out.contains("GET /echo HTTP/2\r\n"), "{out}");
}

#[test]
fn output_file_verbose_story_and_keylog() {
    let dir = TempDir::new("get-out");
    let server = start_serve(&dir, &[]);
    let body = dir.join("body.txt");
    let keys = dir.join("client.keys");
    let (out, err) = get_ok(&[
        "-v",
        "-k",
        "--tls-max",
        "1.2",
        "-o",
        body.to_str().unwrap(),
        "--keylog",
        keys.to_str().unwrap(),
        &server.https_url("/"),
    ]);
    assert_eq!(out, "");
    assert_eq!(std::fs::read_to_string(&body).unwrap(), "Hello World!");
    assert!(err.contains("Connected to localhost (127.0.0.1)"), "{err}");
    assert!(
        err.contains("TLS connection using TLSv1.2 / TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (ECDHE-RSA-AES128-GCM-SHA256) / x25519"),
        "{err}"
    );
    assert!(err.contains("ALPN: server accepted h2"), "{err}");
    assert!(err.contains("subject: CN=localhost"), "{err}");
    assert!(err.contains("> GET / HTTP/2") && err.contains("< HTTP/2 200"), "{err}");
    server.wait_for_log("\"GET /\" 200 12");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600);
    let ours = keylog_entries(&keys);
    let server_keys = keylog_entries(&dir.join("server.keys"));
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0].0, "CLIENT_RANDOM");
    assert!(server_keys.contains(&ours[0]), "client {ours:?} server {server_keys:?}");
}

#[test]
fn sslkeylogfile_is_honoured() {
    let dir = TempDir::new("get-envkeys");
    let server = start_serve(&dir, &[]);
    let keys = dir.join("env.keys");
    let out = run(
        Command::new(support_lab::bin())
            .args(["get", "-k", &server.https_url("/")])
            .env("SSLKEYLOGFILE", &keys),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let labels: Vec<String> = keylog_entries(&keys).into_iter().map(|(l, _)| l).collect();
    assert!(labels.contains(&"CLIENT_TRAFFIC_SECRET_0".to_string()), "{labels:?}");
}

#[test]
fn cacert_trusts_the_servers_certificate_and_nothing_else_does() {
    let dir = TempDir::new("get-cacert");
    let (crt, key) = support_lab::make_cert(&dir);
    let server =
        start_serve(&dir, &["--cert", crt.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    let (out, err) = get_ok(&["-v", "--cacert", crt.to_str().unwrap(), &server.https_url("/")]);
    assert_eq!(out, "Hello World!");
    assert!(err.contains("certificate verify ok"), "{err}");
    // Without --cacert/--insecure: exit 2 and how to trust it.
    let err = get_fails(&[&server.https_url("/")]);
    assert!(err.contains("certificate verification failed"), "{err}");
    assert!(err.contains("--cacert server.crt") && err.contains("--insecure"), "{err}");
    // Another certificate in --cacert does not help.
    let other = TempDir::new("get-cacert2");
    let (other_crt, _) = support_lab::make_cert(&other);
    let err = get_fails(&["--cacert", other_crt.to_str().unwrap(), &server.https_url("/")]);
    assert!(err.contains("certificate verification failed"), "{err}");
}

#[test]
fn openssl_made_v1_certificate_is_trusted_with_cacert() {
    need("openssl", "openssl");
    let dir = TempDir::new("get-v1");
    let key = dir.join("v1.key");
    let csr = dir.join("v1.csr");
    let crt = dir.join("v1.crt");
    let lim = Duration::from_secs(60);
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", text(&out.stderr));
    ok(run(Command::new("openssl").args(["genrsa", "-out"]).arg(&key).arg("2048"), lim));
    ok(run(
        Command::new("openssl")
            .args(["req", "-new", "-subj", "/CN=localhost", "-key"])
            .arg(&key)
            .arg("-out")
            .arg(&csr),
        lim,
    ));
    // The classic lab's self-signing step: an X.509 v1 certificate.
    ok(run(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(&csr)
            .arg("-signkey")
            .arg(&key)
            .arg("-out")
            .arg(&crt),
        lim,
    ));
    let server =
        start_serve(&dir, &["--cert", crt.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    for v in ["1.2", "1.3"] {
        let (out, _) = get_ok(&[
            "--tls-min",
            v,
            "--tls-max",
            v,
            "--cacert",
            crt.to_str().unwrap(),
            &server.https_url("/"),
        ]);
        assert_eq!(out, "Hello World!");
    }
    // The certificate names localhost only (CN, no SAN).
    let err = get_fails(&[
        "--cacert",
        crt.to_str().unwrap(),
        &format!("https://127.0.0.1:{}/", server.https_port()),
    ]);
    assert!(err.contains("NotValidForName"), "{err}");
}

#[test]
fn connection_errors_are_exit_2_with_a_message() {
    let port = closed_port();
    let err = get_fails(&[&format!("http://127.0.0.1:{port}/")]);
    assert!(err.contains(&format!("could not connect to 127.0.0.1:{port}")), "{err}");
    assert!(err.contains("hint: "), "{err}");
    let err = get_fails(&[&format!("https://127.0.0.1:{port}/")]);
    assert!(err.contains("Connection refused") || err.contains("refused"), "{err}");
    let err = get_fails(&["ftp://127.0.0.1/"]);
    assert!(err.contains("unsupported URL scheme"), "{err}");
    let err = get_fails(&["--ciphers", "RC4-MD5", "https://127.0.0.1:1/"]);
    assert!(err.contains("RC4-MD5"), "{err}");
    let err = get_fails(&["--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"]);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn https_url_against_plain_port_and_http_url_against_tls_port_fail_clearly() {
    let dir = TempDir::new("get-wrongport");
    let server = start_serve(&dir, &[]);
    let err = get_fails(&["-k", &format!("https://127.0.0.1:{}/", server.http.unwrap().port())]);
    assert!(err.contains("TLS handshake"), "{err}");
    let err = get_fails(&[&format!("http://127.0.0.1:{}/", server.https_port())]);
    assert!(err.contains("HTTP exchange"), "{err}");
}

/// tshark over a recorded file: no TCP analysis warnings or bad checksums,
/// and the decrypted (from the DSB alone) HTTP carries "Hello World!".
fn check_capture(path: &Path, http2: bool) {
    need("tshark", "tshark");
    let lim = Duration::from_secs(60);
    let out = run(
        Command::new("tshark")
            .arg("-r")
            .arg(path)
            .args(["-o", "tcp.check_checksum:TRUE", "-Y"])
            .arg("tcp.analysis.flags || tcp.checksum.status == \"Bad\""),
        lim,
    );
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "tshark found TCP problems in {}", path.display());
    let filter = if http2 { "http2" } else { "http" };
    let out = run(
        Command::new("tshark")
            .arg("-r")
            .arg(path)
            // No key log file from any preferences: the DSB alone must do.
            .args(["-o", "tls.keylog_file:", "-Y", filter, "-V"]),
        lim,
    );
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    let dump = text(&out.stdout);
    assert!(
        dump.contains("Hello World!"),
        "no decrypted Hello World! in {}:\n{dump}",
        path.display()
    );
}

#[test]
fn record_writes_a_capture_tshark_decrypts() {
    let dir = TempDir::new("get-record");
    let server = start_serve(&dir, &[]);
    for v in ["1.2", "1.3"] {
        for (flag, h2) in [("--http2", true), ("--http1.1", false)] {
            let file = dir.join(&format!("tls{v}{flag}.pcapng"));
            let (out, err) = get_ok(&[
                "-k",
                "--tls-min",
                v,
                "--tls-max",
                v,
                flag,
                "--record",
                file.to_str().unwrap(),
                &server.https_url("/"),
            ]);
            assert_eq!(out, "Hello World!");
            assert!(err.contains("TLS secrets inside"), "{err}");
            check_capture(&file, h2);
        }
    }
    let file = dir.join("plain.pcapng");
    let (out, _) = get_ok(&["--record", file.to_str().unwrap(), &server.http_url("/")]);
    assert_eq!(out, "Hello World!");
    check_capture(&file, false);
}
