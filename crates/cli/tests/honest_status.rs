//! The decryption status says what was done and no more: the cases where
//! "ok" used to be said unearned (a key log without one side's secret, a
//! capture cut by its snapshot length, a session picked up mid-stream, one
//! bad record among good ones) and an unfinished ClientHello, each made
//! from the checked-in captures of real peers (with editcap) or crafted
//! here; tshark is the oracle where it has something to say.

mod craft;
mod support_lab;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support_lab::{TempDir, need, text, tlsscope};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls").join(name)
}

/// `tlsscope inspect --format json ARGS`: the objects it wrote.
fn inspect(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["inspect", "--format", "json"];
    all.extend(args);
    let out = tlsscope(&all);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn sessions(v: &[Value]) -> Vec<&Value> {
    v.iter().filter(|o| o["type"] == "session").collect()
}

fn editcap(args: &[&str]) {
    need("editcap", "tshark");
    let out = Command::new("editcap").args(args).output().unwrap();
    assert!(out.status.success(), "editcap {args:?}: {}", text(&out.stderr));
}

fn tshark(args: &[&str]) -> String {
    need("tshark", "tshark");
    let out = Command::new("tshark").args(args).output().unwrap();
    assert!(out.status.success(), "tshark {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A key log without the lines of `label`.
fn keys_without(dir: &TempDir, keys: &str, label: &str) -> PathBuf {
    let text = std::fs::read_to_string(testdata(keys)).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| l.split(' ').next() != Some(label))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.join(&format!("without-{label}.keys"));
    std::fs::write(&path, kept).unwrap();
    path
}

#[test]
fn a_tls13_key_log_without_the_servers_traffic_secret_is_partial_and_says_which() {
    let dir = TempDir::new("status-tls13");
    let keys = keys_without(&dir, "nghttp.keys", "SERVER_TRAFFIC_SECRET_0");
    let pcap = testdata("nghttp.pcap");
    let all = inspect(&["--keylog", keys.to_str().unwrap(), pcap.to_str().unwrap()]);
    let s = sessions(&all)[0];
    let d = &s["decryption"];
    assert_eq!(d["status"], "partial", "{d}");
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("of the server's") && reason.contains("lacks SERVER_TRAFFIC_SECRET_0"),
        "{reason}"
    );
    let r = &d["records"];
    assert_eq!(r["client"]["encrypted"], r["client"]["decrypted"], "{r}");
    assert!(r["server"]["decrypted"].as_u64() < r["server"]["encrypted"].as_u64(), "{r}");
    // The server's handshake was read; what it sent after its Finished is
    // application data, not more handshake messages.
    let types: Vec<&str> =
        s["messages"].as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert!(!types.contains(&"EncryptedHandshakeMessage"), "{types:?}");
    let server_port = s["server"].as_str().unwrap().rsplit(':').next().unwrap().to_string();
    // tshark shows those records as application data it cannot read.
    let theirs = tshark(&[
        "-r",
        pcap.to_str().unwrap(),
        "-o",
        &format!("tls.keylog_file:{}", keys.display()),
        "-Y",
        &format!(
            "tcp.srcport == {server_port} && tls.record.opaque_type == 23 && !tls.record.content_type"
        ),
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tls.record.opaque_type",
    ]);
    // "frame<TAB>23,23": a frame and the records it ends.
    let rows: Vec<(u64, usize)> = theirs
        .lines()
        .map(|l| {
            let (frame, types) = l.split_once('\t').unwrap();
            (frame.parse().unwrap(), types.split(',').count())
        })
        .collect();
    let undecrypted: usize = rows.iter().map(|r| r.1).sum();
    assert_eq!(s["application_data"]["server_records"].as_u64(), Some(undecrypted as u64));
    assert_eq!(
        r["server"]["encrypted"].as_u64().unwrap() - r["server"]["decrypted"].as_u64().unwrap(),
        undecrypted as u64
    );
    // HTTP/2 does not blame the client for what the server's lost bytes held.
    let notes = s["diagnostics"].to_string();
    assert!(!notes.contains("SETTINGS ACK from the client"), "{notes}");
    // The note is at the first record it could not read, as tshark finds it.
    let lost = s["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("could not be decrypted"))
        .unwrap_or_else(|| panic!("no note of the records not decrypted: {notes}"));
    assert_eq!(lost["frame"].as_u64(), Some(rows[0].0), "{lost}");
}

#[test]
fn a_capture_cut_by_a_200_byte_snapshot_length_decrypts_nothing_and_says_why() {
    let dir = TempDir::new("status-snaplen");
    let cut = dir.join("snap200.pcap");
    editcap(&["-s", "200", testdata("lab.pcap").to_str().unwrap(), cut.to_str().unwrap()]);
    let keys = testdata("lab.keys");
    let all = inspect(&["--keylog", keys.to_str().unwrap(), cut.to_str().unwrap()]);
    let tls = sessions(&all);
    assert_eq!(tls.len(), 2);
    for s in &tls {
        let d = &s["decryption"];
        assert_eq!(d["status"], "none", "{d}");
        assert!(
            d["reason"].as_str().unwrap().contains("the ClientHello is not in the capture"),
            "{d}"
        );
        assert!(s["client_random"].is_null());
    }
    // Times count from the capture's first frame: never negative.
    for o in &all {
        assert!(o["start"].as_f64().unwrap() >= 0.0, "{o}");
    }
}

#[test]
fn a_session_picked_up_mid_stream_is_null_without_secrets_and_none_with_them() {
    let dir = TempDir::new("status-midstream");
    let pcap = testdata("lab.pcap");
    // The first TLS session's ClientHello: dropped with every frame before it.
    let first_hello = tshark(&[
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        "tls.handshake.type == 1",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    let n: u64 = first_hello.lines().next().unwrap().trim().parse().unwrap();
    let mid = dir.join("mid.pcap");
    editcap(&[pcap.to_str().unwrap(), mid.to_str().unwrap(), &format!("1-{n}")]);
    for s in sessions(&inspect(&[mid.to_str().unwrap()])) {
        assert!(s["decryption"].is_null(), "no secrets given: {}", s["decryption"]);
    }
    let keys = testdata("lab.keys");
    let with = inspect(&["--keylog", keys.to_str().unwrap(), mid.to_str().unwrap()]);
    let tls = sessions(&with);
    let picked_up = tls.iter().find(|s| s["client_random"].is_null()).unwrap();
    let d = &picked_up["decryption"];
    assert_eq!(d["status"], "none", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("ClientHello is not in the capture"), "{d}");
    assert!(d["records"]["client"]["encrypted"].as_u64().unwrap() > 0);
    // The session that starts whole is decrypted whole.
    assert!(tls.iter().any(|s| s["decryption"]["status"] == "ok"));
}

/// The capture with the last byte of frame `n` changed (a pcap of
/// little-endian records).
fn with_frame_changed(pcap: &Path, n: usize, out: &Path) {
    let mut b = std::fs::read(pcap).unwrap();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a little-endian pcap");
    let mut at = 24;
    for i in 1.. {
        let len = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        if i == n {
            b[at + 16 + len - 1] ^= 0xff;
            break;
        }
        at += 16 + len;
    }
    std::fs::write(out, b).unwrap();
}

#[test]
fn one_bad_record_among_good_ones_is_partial_and_the_later_records_count() {
    let dir = TempDir::new("status-bad-record");
    let pcap = testdata("lab.pcap");
    let keys = testdata("lab.keys");
    let k = keys.to_str().unwrap();
    let whole = inspect(&["--keylog", k, pcap.to_str().unwrap()]);
    let s12 = sessions(&whole).into_iter().find(|s| s["version"] == "TLS 1.2").unwrap();
    assert_eq!(s12["decryption"]["status"], "ok");
    let stream = s12["stream"].as_u64().unwrap();
    let server_port = s12["server"].as_str().unwrap().rsplit(':').next().unwrap().to_string();
    // A frame holding exactly one application data record from the
    // server, not the last one it sent: its last byte is the record's tag.
    let frames = tshark(&[
        "-r",
        pcap.to_str().unwrap(),
        "-Y",
        &format!(
            "tcp.stream == {stream} && tcp.srcport == {server_port} && tls.record.content_type == 23"
        ),
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tcp.len",
        "-e",
        "tls.record.length",
    ]);
    let rows: Vec<Vec<&str>> = frames.lines().map(|l| l.split('\t').collect()).collect();
    let frame = rows[..rows.len() - 1]
        .iter()
        .find(|r| {
            !r[2].contains(',')
                && r[1].parse::<u64>().ok() == r[2].parse::<u64>().ok().map(|l| l + 5)
        })
        .map(|r| r[0].parse::<u64>().unwrap())
        .expect("a frame of one record from the server, with more after it");
    let bad = dir.join("bad.pcap");
    with_frame_changed(&pcap, frame as usize, &bad);
    let all = inspect(&["--keylog", k, bad.to_str().unwrap()]);
    let s = sessions(&all).into_iter().find(|s| s["stream"] == stream).unwrap();
    let d = &s["decryption"];
    assert_eq!(d["status"], "partial", "{d}");
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("1 of the server's")
            && reason.contains(&format!(
                "the record at frame {frame} failed: authentication tag mismatch"
            ))
            && reason.contains("after it decrypted"),
        "{reason}"
    );
    assert!(!reason.contains("wrong secrets"), "{reason}");
    let r = &d["records"]["server"];
    assert_eq!(r["encrypted"].as_u64().unwrap() - r["decrypted"].as_u64().unwrap(), 1, "{r}");
}

#[test]
fn an_unfinished_client_hello_is_a_truncated_tls_message_not_another_protocol() {
    let dir = TempDir::new("status-unfinished");
    let mut p = craft::Pcap::new();
    let mut c = p.connect(40000, 443);
    // A 1501-byte ClientHello record of which 600 bytes were sent.
    let mut body = vec![0x01, 0x00, 0x05, 0xd4, 0x03, 0x03];
    body.resize(1496, 0);
    let mut record = vec![0x16, 0x03, 0x01, 0x05, 0xd8];
    record.extend(&body);
    p.send(&mut c, true, &record[..600]);
    p.close(&mut c);
    let file = dir.join("unfinished.pcap");
    p.write(&file);
    let all = inspect(&[file.to_str().unwrap()]);
    assert_eq!(all.len(), 1);
    let s = &all[0];
    assert_eq!(s["type"], "session", "{s}");
    let m = &s["messages"][0];
    assert_eq!(m["type"], "ClientHello");
    assert_eq!(m["truncated"], serde_json::json!({"seen": 600, "length": 1501}));
    let d = s["diagnostics"].to_string();
    assert!(
        d.contains("tls.truncated") && d.contains("only 600 of its 1501 bytes were captured"),
        "{d}"
    );
    let out = tlsscope(&["inspect", file.to_str().unwrap()]);
    let t = text(&out.stdout);
    assert!(
        t.contains("ClientHello  [truncated: only 600 of its 1501 bytes were captured]"),
        "{t}"
    );
}
