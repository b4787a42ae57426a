//! Golden files of `inspect --explain` on the lab capture (plain HTTP, TLS
//! 1.2 and TLS 1.3 from curl against our server), in English and in
//! Japanese: the whole walkthrough, every value and check, byte for byte.
//! What depends on this machine or the moment is masked: the wall clock
//! ("now (...)" in the validity check) and the size of the system's root
//! store. The capture and its key log are checked in, so randoms, keys and
//! times in the capture are fixed and stay in the files.
//!
//! After a deliberate change to the output, regenerate with
//! `UPDATE_GOLDEN=1 cargo test --release -p tlsscope --test explain_golden`
//! and review the diff.

use std::path::PathBuf;
use std::process::Command;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls").join(name)
}

/// The lines that depend on this machine or this moment, masked.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("now (") {
            out.push_str(&format!("{indent}now (<masked>): <masked>\n"));
        } else if t.starts_with("trusted roots searched:") {
            out.push_str(&format!("{indent}trusted roots searched: <masked>\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn check(lang: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["inspect", "--explain", "--color", "never", "--lang", lang])
        .arg(testdata("lab.pcap"))
        .arg("--keylog")
        .arg(testdata("lab.keys"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let got = mask(&String::from_utf8_lossy(&out.stdout));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("lab-explain.{lang}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; make it with UPDATE_GOLDEN=1 and review it", path.display())
    });
    if got != want {
        let first = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
        panic!(
            "{} differs from line {}:\n  got:  {:?}\n  want: {:?}\n(UPDATE_GOLDEN=1 regenerates it)",
            path.display(),
            first + 1,
            got.lines().nth(first),
            want.lines().nth(first)
        );
    }
}

#[test]
fn explained_lab_capture_in_english_matches_the_golden_file() {
    check("en");
}

#[test]
fn explained_lab_capture_in_japanese_matches_the_golden_file() {
    check("ja");
}

#[test]
fn masking_hides_only_the_clock_and_the_root_store() {
    let text = "  a\n                 now (2026-11-28T09:28:17Z): valid (364 days left)\n                 trusted roots searched: 145 certificates\n";
    assert_eq!(
        mask(text),
        "  a\n                 now (<masked>): <masked>\n                 trusted roots searched: <masked>\n"
    );
}
