//! `tlsscope serve` against real clients: curl, openssl s_client, nghttp.
//! Loopback only, port 0, temp dirs; every server is killed when its test
//! ends, passed or failed.

mod support_lab;

use std::process::Command;
use std::time::Duration;

use support_lab::{Server, TempDir, keylog_entries, need, run, text, tlsscope};

const LIMIT: Duration = Duration::from_secs(30);

fn curl(args: &[&str]) -> std::process::Output {
    need("curl", "curl");
    run(
        Command::new("curl").args(["--silent", "--show-error", "--max-time", "20"]).args(args),
        LIMIT,
    )
}

fn start(dir: &TempDir, extra: &[&str]) -> Server {
    let keys = dir.join("server.keys");
    let mut args = vec!["--http", "127.0.0.1:0", "--https", "127.0.0.1:0", "--keylog"];
    args.push(keys.to_str().unwrap());
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn plain_http_answers_hello_world_to_curl() {
    let dir = TempDir::new("serve-plain");
    let server = start(&dir, &[]);
    let out = curl(&["-i", &server.http_url("/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = text(&out.stdout);
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert!(body.ends_with("\r\n\r\nHello World!"), "{body}");
    server.wait_for_log("HTTP/1.1 plain - - alpn=- \"GET /\" 200 12");
}

#[test]
fn curl_tls12_negotiates_the_classic_lab_suite_with_h2() {
    let dir = TempDir::new("serve-tls12");
    let server = start(&dir, &[]);
    let curl_keys = dir.join("curl.keys");
    need("curl", "curl");
    let out = run(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .args(["--tls-max", "1.2", "--insecure", "-i", &server.https_url("/")])
            .env("SSLKEYLOGFILE", &curl_keys),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = text(&out.stdout);
    assert!(body.starts_with("HTTP/2 200"), "{body}");
    assert!(body.ends_with("Hello World!"), "{body}");
    let log = server.wait_for_log("\"GET /\" 200 12");
    assert!(
        log.contains(
            "HTTP/2 TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 x25519 alpn=h2 \"GET /\""
        ),
        "{log}"
    );
    // Both ends logged the same session: the same client random.
    let ours = keylog_entries(&dir.join("server.keys"));
    let theirs = keylog_entries(&curl_keys);
    let theirs_cr: Vec<&String> =
        theirs.iter().filter(|(l, _)| l == "CLIENT_RANDOM").map(|(_, r)| r).collect();
    assert_eq!(theirs_cr.len(), 1, "curl's key log: {theirs:?}");
    assert!(
        ours.iter().any(|(l, r)| l == "CLIENT_RANDOM" && r == theirs_cr[0]),
        "ours {ours:?} vs curl's {theirs:?}"
    );
}

#[test]
fn openssl_s_client_tls12_sees_aes128_gcm_and_x25519() {
    need("openssl", "openssl");
    let dir = TempDir::new("serve-sclient");
    let server = start(&dir, &[]);
    let out = run(
        Command::new("openssl").args([
            "s_client",
            "-connect",
            &server.https.unwrap().to_string(),
            "-tls1_2",
            "-servername",
            "localhost",
        ]),
        LIMIT,
    );
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("Cipher is ECDHE-RSA-AES128-GCM-SHA256"), "{all}");
    // OpenSSL 3.0 says "Server Temp Key", 3.2 and later "Peer Temp Key".
    assert!(
        all.contains("Server Temp Key: X25519") || all.contains("Peer Temp Key: X25519"),
        "{all}"
    );
    assert!(all.contains("Protocol  : TLSv1.2"), "{all}");
}

#[test]
fn default_curl_gets_tls13() {
    let dir = TempDir::new("serve-tls13");
    let server = start(&dir, &[]);
    let out = curl(&["-v", "--insecure", &server.https_url("/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("SSL connection using TLSv1.3 / TLS_AES_128_GCM_SHA256"), "{err}");
    assert!(err.contains("ALPN: server accepted h2"), "{err}");
    assert_eq!(text(&out.stdout), "Hello World!");
    server.wait_for_log("HTTP/2 TLSv1.3 TLS_AES_128_GCM_SHA256 x25519 alpn=h2 \"GET /\" 200 12");
}

#[test]
fn nghttp_fetches_over_h2() {
    need("nghttp", "nghttp2-client");
    let dir = TempDir::new("serve-nghttp");
    let server = start(&dir, &[]);
    let url = format!("https://127.0.0.1:{}/", server.https_port());
    let out = run(Command::new("nghttp").args(["-v", "-t", "20", &url]), LIMIT);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let all = text(&out.stdout);
    assert!(all.contains("The negotiated protocol: h2"), "{all}");
    assert!(all.contains(":status: 200"), "{all}");
    assert!(all.contains("Hello World!"), "{all}");
}

#[test]
fn curl_http2_prior_knowledge_works_on_plain_http() {
    let dir = TempDir::new("serve-h2c");
    let server = start(&dir, &[]);
    let out = curl(&["-i", "--http2-prior-knowledge", &server.http_url("/echo")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = text(&out.stdout);
    assert!(body.starts_with("HTTP/2 200"), "{body}");
    assert!(body.contains("GET /echo HTTP/2\r\n"), "{body}");
    assert!(body.contains("user-agent: curl/"), "{body}");
}

#[test]
fn key_log_is_private_and_has_tls12_and_tls13_secrets() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("serve-keylog");
    let server = start(&dir, &[]);
    for v in ["1.2", "1.3"] {
        let out = curl(&["--insecure", "--tls-max", v, &server.https_url("/")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    server.wait_for_log("TLSv1.3");
    let path = dir.join("server.keys");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let labels: Vec<String> = keylog_entries(&path).into_iter().map(|(l, _)| l).collect();
    for want in [
        "CLIENT_RANDOM",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ] {
        assert!(labels.iter().any(|l| l == want), "no {want} in {labels:?}");
    }
    // Every line is LABEL <64 hex> <hex>.
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 3, "{line}");
        assert_eq!(f[1].len(), 64, "{line}");
        assert!(f[2].len() >= 64 && f[2].bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    }
}

#[test]
fn sslkeylogfile_is_honoured_without_keylog() {
    let dir = TempDir::new("serve-envkeys");
    let keys = dir.join("env.keys");
    let mut cmd = Command::new(support_lab::bin());
    cmd.args(["serve", "--http", "none", "--https", "127.0.0.1:0"]).env("SSLKEYLOGFILE", &keys);
    // Start through the helper's guard by hand: the env var must reach serve.
    let server = Server::start_command(cmd);
    let out = curl(&["--insecure", &format!("https://127.0.0.1:{}/", server.https_port())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    server.wait_for_log("\"GET /\" 200");
    assert!(keylog_entries(&keys).iter().any(|(l, _)| l == "SERVER_TRAFFIC_SECRET_0"));
}

#[test]
fn bytes_and_echo_and_errors() {
    let dir = TempDir::new("serve-routes");
    let server = start(&dir, &[]);
    let out = curl(&["--insecure", &server.https_url("/bytes/100000")]);
    assert!(out.status.success());
    assert_eq!(out.stdout, support_lab::expected_bytes(100_000));
    let out = curl(&["-H", "X-Lab: yes", &server.http_url("/echo?a=1")]);
    let body = text(&out.stdout);
    assert!(body.starts_with("GET /echo?a=1 HTTP/1.1\r\n"), "{body}");
    assert!(body.contains("x-lab: yes\r\n"), "{body}");
    let code = |url: &str| {
        let out = curl(&["--insecure", "-o", "/dev/null", "-w", "%{http_code}", url]);
        text(&out.stdout)
    };
    assert_eq!(code(&server.https_url("/nope")), "404");
    assert_eq!(code(&server.https_url("/bytes/67108865")), "400");
    assert_eq!(code(&server.https_url("/bytes/x")), "400");
    assert_eq!(code(&server.https_url("/bytes/0")), "200");
}

#[test]
fn sigterm_and_sigint_stop_it_with_exit_0() {
    for sig in ["TERM", "INT"] {
        let dir = TempDir::new("serve-stop");
        let server = start(&dir, &[]);
        let out = curl(&["--insecure", &server.https_url("/")]);
        assert!(out.status.success());
        let status = server.stop_with(sig);
        assert_eq!(status.code(), Some(0), "SIG{sig}");
    }
}

#[test]
fn quiet_prints_no_line_per_request_or_failed_handshake() {
    for quiet in [false, true] {
        let dir = TempDir::new("serve-quiet");
        let server = start(&dir, if quiet { &["--quiet"] } else { &[] });
        let out = curl(&["--insecure", &server.https_url("/")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = curl(&[&server.http_url("/echo")]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        // Plain HTTP to the TLS port: a handshake that fails.
        let out = curl(&[&format!("http://127.0.0.1:{}/", server.https_port())]);
        assert!(!out.status.success());
        let (status, log) = server.stop_and_log("TERM");
        assert_eq!(status.code(), Some(0), "{log}");
        // What scripts wait for is there either way.
        assert!(log.contains("listening on https://127.0.0.1:"), "{log}");
        assert!(log.ends_with("stopped\n"), "{log}");
        // Without --quiet the same run logs each; with it, none.
        for line in ["\"GET /\" 200 12", "\"GET /echo\" 200", "TLS handshake failed"] {
            assert_eq!(log.contains(line), !quiet, "quiet={quiet}, {line:?}:\n{log}");
        }
    }
}

#[test]
fn accept_failures_are_warnings_on_stderr_even_when_quiet() {
    // Few file descriptors: the server runs out of them after a few
    // connections, and accepting the next one fails (EMFILE).
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=24", support_lab::bin(), "serve", "--quiet"])
        .args(["--http", "127.0.0.1:0", "--https", "none"])
        .env_remove("SSLKEYLOGFILE");
    let server = Server::start_command(cmd);
    let addr = server.http.expect("http listener");
    let held: Vec<std::net::TcpStream> =
        (0..40).filter_map(|_| std::net::TcpStream::connect(addr).ok()).collect();
    assert!(!held.is_empty());
    let log = server.wait_for_log("tlsscope: warning: accept failed: ");
    assert!(log.contains("Too many open files"), "{log}");
    drop(held);
    let (status, log) = server.stop_and_log("TERM");
    assert_eq!(status.code(), Some(0), "{log}");
}

#[test]
fn tls13_only_server_refuses_a_tls12_client() {
    let dir = TempDir::new("serve-min13");
    let server = start(&dir, &["--tls-min", "1.3"]);
    let out = curl(&["--insecure", "--tls-max", "1.2", &server.https_url("/")]);
    assert!(!out.status.success());
    server.wait_for_log("TLS handshake failed");
    let out = curl(&["--insecure", &server.https_url("/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn post_quantum_group_only_on_request() {
    let dir = TempDir::new("serve-pq");
    let server = start(&dir, &["--groups", "X25519MLKEM768:x25519"]);
    let out = tlsscope(&["get", "-k", "--groups", "X25519MLKEM768,x25519", &server.https_url("/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    server.wait_for_log("TLSv1.3 TLS_AES_128_GCM_SHA256 X25519MLKEM768 alpn=h2");
}

#[test]
fn serves_a_given_certificate_and_key() {
    let dir = TempDir::new("serve-cert");
    let (crt, key) = support_lab::make_cert(&dir);
    let server = start(&dir, &["--cert", crt.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    let out = curl(&["--cacert", crt.to_str().unwrap(), &server.https_url("/")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello World!");
    assert!(server.log().contains("certificate: subject CN=localhost"), "{}", server.log());
}

fn serve_fails(args: &[&str]) -> String {
    let out = tlsscope(&[&["serve"], args].concat());
    assert_eq!(out.status.code(), Some(2), "{}{}", text(&out.stdout), text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.starts_with("tlsscope: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn port_in_use_is_exit_2_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = serve_fails(&["--http", "none", "--https", &addr]);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(err.contains("hint: ") && err.contains("port 0"), "{err}");
    let err = serve_fails(&["--http", &addr, "--https", "none"]);
    assert!(err.contains("--http ADDR"), "{err}");
}

#[test]
fn bad_certificates_and_keys_are_exit_2() {
    let dir = TempDir::new("serve-bad");
    let (crt, key) = support_lab::make_cert(&dir);
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let other = TempDir::new("serve-bad2");
    let (_, other_key) = support_lab::make_cert(&other);
    let base = ["--http", "none", "--https", "127.0.0.1:0"];
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let err = serve_fails(&[&base[..], &["--cert", &s(&garbage), "--key", &s(&key)]].concat());
    assert!(err.contains("garbage.pem: no certificate found"), "{err}");
    let err = serve_fails(&[&base[..], &["--cert", &s(&crt), "--key", &s(&garbage)]].concat());
    assert!(err.contains("no private key found"), "{err}");
    let err = serve_fails(&[&base[..], &["--cert", &s(&crt), "--key", &s(&other_key)]].concat());
    assert!(err.contains("does not match the certificate"), "{err}");
    let err = serve_fails(
        &[&base[..], &["--cert", &s(&dir.join("missing.crt")), "--key", &s(&key)]].concat(),
    );
    assert!(err.contains("missing.crt"), "{err}");
    let err = serve_fails(&["--https", "nonsense"]);
    assert!(err.contains("bad listen address"), "{err}");
    let err = serve_fails(&["--tls-max", "1.1"]);
    assert!(err.contains("not supported"), "{err}");
}
