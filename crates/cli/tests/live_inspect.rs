//! `inspect -i lo` analyses live traffic, and follows a key log that the
//! client is still writing while the capture runs (SSLKEYLOGFILE of curl).
//! Needs root or CAP_NET_RAW, like the other live capture tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tlsscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsscope"))
}

#[test]
fn live_inspect_decrypts_with_a_growing_key_log() {
    let ok = Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "curl is needed for this test: install it (apt-get install curl)");
    let dir = std::env::temp_dir().join(format!("tlsscope-live-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("curl.keys");
    std::fs::write(&keys, "").unwrap();

    let mut serve = Kill(
        tlsscope()
            .args(["serve", "--http", "none", "--https", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut port = None;
    let stdout = serve.0.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("https://127.0.0.1:").nth(1) {
            port = rest.split(|c: char| !c.is_ascii_digit()).next().map(String::from);
            break;
        }
    }
    let port = port.expect("serve printed its https address");

    let inspect = tlsscope()
        .args([
            "inspect",
            "--color",
            "never",
            "--brief",
            "--duration",
            "4",
            "--port",
            &port,
            "-i",
            "lo",
            "--keylog",
        ])
        .arg(&keys)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    for args in [&["--insecure"][..], &["--insecure", "--tls-max", "1.2"][..]] {
        let st = Command::new("curl")
            .args(["-s", "-o", "/dev/null"])
            .args(args)
            .arg(format!("https://localhost:{port}/"))
            .env("SSLKEYLOGFILE", &keys)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let out = inspect.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("capturing on lo"), "{err}");
    assert_eq!(text.matches("decryption: ok").count(), 2, "{text}\n{err}");
    assert_eq!(text.matches("body (12 bytes): Hello World!").count(), 2, "{text}");
    assert!(text.contains("TLS 1.2") && text.contains("TLS 1.3"), "{text}");
    drop(serve);
    std::fs::remove_dir_all(&dir).ok();
}
