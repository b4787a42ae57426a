//! `inspect --threads N`: a capture analysed on several threads writes
//! exactly what one thread writes (standard output, diagnostics on
//! standard error, exit status), whatever N, on every capture of testdata,
//! with and without key logs and --explain; and resumption learned in one
//! thread's connections decrypts a session resumed in another's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tlsscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsscope"))
}

fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures");
    let mut v: Vec<PathBuf> = ["tls", "tcp"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d)).expect("run testdata/make-captures.sh"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    assert!(v.len() >= 9, "{v:?}");
    v
}

fn inspect(pcap: &Path, threads: u32, extra: &[&str]) -> Output {
    tlsscope()
        .args(["--color", "never", "inspect", "--format", "json", "--threads"])
        .arg(threads.to_string())
        .args(extra)
        .arg(pcap)
        .output()
        .unwrap()
}

fn same(a: &Output, b: &Output, what: &str) {
    assert_eq!(a.status.code(), b.status.code(), "{what}: exit status");
    assert!(a.stdout == b.stdout, "{what}: standard output differs");
    assert_eq!(String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr), "{what}");
}

#[test]
fn every_thread_count_writes_what_one_thread_writes() {
    for pcap in captures() {
        let keys = pcap.with_extension("keys");
        let keys = keys.display().to_string();
        let mut variants: Vec<Vec<&str>> = vec![vec![], vec!["--explain"]];
        if Path::new(&keys).exists() {
            variants.push(vec!["--keylog", &keys]);
            variants.push(vec!["--keylog", &keys, "--explain"]);
        }
        for extra in variants {
            let one = inspect(&pcap, 1, &extra);
            assert!(!one.stdout.is_empty(), "{}: nothing written", pcap.display());
            for n in [2, 3, 5] {
                let what = format!("{} {extra:?} --threads {n}", pcap.display());
                same(&one, &inspect(&pcap, n, &extra), &what);
            }
        }
    }
}

/// The sessions of `json` (JSON Lines) as (session, resumed, client
/// random, decryption status).
fn sessions(json: &[u8]) -> Vec<(u64, bool, String, String)> {
    String::from_utf8_lossy(json)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "session")
        .map(|v| {
            (
                v["session"].as_u64().unwrap(),
                v["resumed"].as_bool().unwrap(),
                v["client_random"].as_str().unwrap_or_default().to_string(),
                v["decryption"]["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn resumption_is_shared_between_threads() {
    // The TLS 1.2 interop capture resumes sessions by ID and by ticket.
    // Without the key log lines of the resumed sessions, their master
    // secret can only come from the session they resume, which another
    // thread may have analysed.
    let dir = tls_captures();
    let pcap = dir.join("openssl-tls12.pcap");
    let full = dir.join("openssl-tls12.keys");
    let with_all = inspect(&pcap, 1, &["--keylog", full.to_str().unwrap()]);
    let resumed: Vec<String> = sessions(&with_all.stdout)
        .into_iter()
        .filter(|(_, r, _, st)| *r && st == "ok")
        .map(|(_, _, cr, _)| cr)
        .collect();
    assert!(resumed.len() >= 2, "no resumed sessions to test with");
    let text = std::fs::read_to_string(&full).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !resumed.iter().any(|cr| l.to_ascii_lowercase().contains(cr.as_str())))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(kept.len() < text.len());
    let tmp = std::env::temp_dir().join(format!("tlsscope-threads-{}.keys", std::process::id()));
    std::fs::write(&tmp, kept).unwrap();
    let k = tmp.to_str().unwrap();
    let one = inspect(&pcap, 1, &["--keylog", k]);
    // One thread decrypts them through the sessions they resume...
    let got = sessions(&one.stdout);
    for cr in &resumed {
        assert!(
            got.iter().any(|(_, r, c, st)| *r && c == cr && st == "ok"),
            "resumed session {cr} not decrypted without its key log line"
        );
    }
    // ... and so does every split, with the same output.
    for n in [2, 3, 4] {
        same(&one, &inspect(&pcap, n, &["--keylog", k]), &format!("--threads {n}"));
    }
    let _ = std::fs::remove_file(&tmp);
}

fn tls_captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls")
}

/// Writes `out`: `pcap` with the key log `keys` in a Decryption Secrets
/// Block (editcap --inject-secrets, as Wireshark makes them).
fn inject_secrets(pcap: &Path, keys: &Path, out: &Path) {
    let ok = Command::new("editcap").arg("-v").output().is_ok_and(|o| o.status.success());
    assert!(ok, "editcap is needed for this test: install it (apt-get install tshark)");
    let st = Command::new("editcap")
        .args(["--inject-secrets", &format!("tls,{}", keys.display())])
        .arg(pcap)
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "editcap --inject-secrets {}", keys.display());
}

#[test]
fn secrets_inside_the_capture_reach_every_thread() {
    // A pcapng with the key log in a Decryption Secrets Block (editcap
    // --inject-secrets, as Wireshark makes them): every thread reads it.
    let dir = tls_captures();
    let out = std::env::temp_dir().join(format!("tlsscope-threads-{}.pcapng", std::process::id()));
    for name in ["openssl-tls13", "openssl-tls12"] {
        inject_secrets(&dir.join(format!("{name}.pcap")), &dir.join(format!("{name}.keys")), &out);
        let one = inspect(&out, 1, &[]);
        let got = sessions(&one.stdout);
        assert!(!got.is_empty() && got.iter().all(|(_, _, _, st)| st == "ok"), "{name}: {got:?}");
        for n in [2, 3] {
            same(
                &one,
                &inspect(&out, n, &[]),
                &format!("{name} with its secrets inside, --threads {n}"),
            );
        }
    }
    let _ = std::fs::remove_file(&out);
}

/// The key logs are read while the capture is: what is wrong in them is
/// still said first (before what the capture's own secrets have wrong,
/// with the same ones kept when there are too many of a kind), and a key
/// log that cannot be read stops the analysis as it did before.
#[test]
fn key_log_problems_are_reported_as_one_thread_does() {
    let dir = tls_captures();
    let tmp = std::env::temp_dir().join(format!("tlsscope-threads-kl-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let real = std::fs::read_to_string(dir.join("openssl-tls13.keys")).unwrap();
    let bad = |n: usize, what: &str| (0..n).map(|i| format!("{what}{i} zz\n")).collect::<String>();
    // 15 bad lines in the file, 10 in the capture: 20 of a kind are shown.
    let file = tmp.join("file.keys");
    std::fs::write(&file, format!("{}{real}", bad(15, "FILE_LABEL"))).unwrap();
    let inside = tmp.join("inside.keys");
    std::fs::write(&inside, format!("{}{real}", bad(10, "DSB_LABEL"))).unwrap();
    let pcapng = tmp.join("with-secrets.pcapng");
    inject_secrets(&dir.join("openssl-tls13.pcap"), &inside, &pcapng);
    let file_arg = file.display().to_string();
    let one = inspect(&pcapng, 1, &["--keylog", &file_arg]);
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(err.contains("FILE_LABEL14") && err.contains("DSB_LABEL4"), "{err}");
    assert!(!err.contains("DSB_LABEL5"), "{err}");
    for n in [2, 3] {
        same(&one, &inspect(&pcapng, n, &["--keylog", &file_arg]), &format!("--threads {n}"));
    }
    // Opens, then fails to read (reading /proc/self/mem at 0 is EIO).
    if cfg!(target_os = "linux") {
        let one = inspect(&pcapng, 1, &["--keylog", "/proc/self/mem"]);
        assert!(one.stdout.is_empty() && one.status.code() == Some(2), "{one:?}");
        assert!(String::from_utf8_lossy(&one.stderr).contains("cannot read the key log"));
        same(&one, &inspect(&pcapng, 2, &["--keylog", "/proc/self/mem"]), "unreadable key log");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
