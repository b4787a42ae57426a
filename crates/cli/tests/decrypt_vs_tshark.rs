//! Decryption checked against tshark on captures of real peers
//! (testdata/captures/tls, each with the key log of its sessions): every
//! session tshark decrypts, we decrypt, and the decrypted application data
//! of each TCP stream and direction is byte for byte what `tshark -z
//! follow,tls,raw` gives. Wrong or missing secrets give reasons, never
//! garbage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tlsscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsscope"))
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls")
}

fn captures() -> Vec<(PathBuf, PathBuf)> {
    let mut v: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(dir())
        .expect("run testdata/make-captures.sh")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| {
            let k = p.with_extension("keys");
            (p, k)
        })
        .filter(|(_, k)| k.exists())
        .collect();
    v.sort();
    assert!(v.len() >= 4);
    v
}

/// tshark on `pcap` with `keys` as its key log and `args` after; its
/// standard output.
fn tshark(pcap: &Path, keys: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", &format!("tls.keylog_file:{}", keys.display())])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn need_tshark() {
    let ok = Command::new("tshark").arg("-v").output().is_ok_and(|o| o.status.success());
    assert!(ok, "tshark is needed for this test: install it (apt-get install tshark)");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// Parses `follow ... raw` output: per stream, [node 0 bytes, node 1 bytes]
/// and node 0's address.
fn parse(text: &str, default: u64, out: &mut BTreeMap<u64, (String, [Vec<u8>; 2])>) {
    let mut stream = default;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Stream: ") {
            stream = n.trim().parse().unwrap();
        } else if let Some(f) = line.strip_prefix("Filter: tcp.stream eq ") {
            stream = f.trim().parse().unwrap();
        } else if let Some(a) = line.strip_prefix("Node 0: ") {
            out.entry(stream).or_default().0 = a.trim().to_string();
        } else if line.starts_with("Node 1: ")
            || line.starts_with("Follow: ")
            || line.starts_with("Session: ")
            || line.starts_with("Filter: ")
            || line.starts_with("=====")
            || line.trim().is_empty()
        {
        } else {
            let server = line.starts_with('\t');
            out.entry(stream).or_default().1[usize::from(server)].extend(hex(line.trim()));
        }
    }
}

#[test]
fn decrypted_bytes_equal_tshark_follow_tls() {
    need_tshark();
    let mut compared = 0;
    for (pcap, keys) in captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        let out = tlsscope()
            .args(["follow", "--format", "raw", "--keylog"])
            .arg(&keys)
            .arg(&pcap)
            .output()
            .unwrap();
        assert!(out.status.code() == Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let mut ours = BTreeMap::new();
        parse(&String::from_utf8(out.stdout).unwrap(), 0, &mut ours);

        // Every TCP stream with TLS application data, as tshark sees it.
        let streams =
            tshark(&pcap, &keys, &["-Y", "tls.app_data", "-T", "fields", "-e", "tcp.stream"]);
        let mut ids: Vec<u64> = streams.lines().filter_map(|l| l.trim().parse().ok()).collect();
        ids.sort();
        ids.dedup();
        assert!(!ids.is_empty(), "{name}: tshark found no TLS application data");
        for id in ids {
            let t = tshark(&pcap, &keys, &["-q", "-z", &format!("follow,tls,raw,{id}")]);
            let mut theirs = BTreeMap::new();
            parse(&t, id, &mut theirs);
            let Some((node0, their)) = theirs.get(&id) else { continue };
            if their.iter().all(Vec::is_empty) {
                continue; // tshark decrypted nothing here
            }
            let (client, mine) = ours
                .get(&id)
                .unwrap_or_else(|| panic!("{name}: stream {id}: tshark decrypts it, we do not"));
            // tshark's node 0 is the first to send application data; ours
            // is the client.
            let their = if node0 == client || node0.is_empty() {
                their.clone()
            } else {
                [their[1].clone(), their[0].clone()]
            };
            for d in 0..2 {
                assert!(
                    mine[d] == their[d],
                    "{name}: stream {id} direction {d}: ours {} bytes, tshark {} bytes, first difference at {:?}",
                    mine[d].len(),
                    their[d].len(),
                    mine[d].iter().zip(&their[d]).position(|(a, b)| a != b)
                );
            }
            compared += 1;
        }
    }
    eprintln!("{compared} TLS streams decrypted identically to tshark");
    assert!(compared >= 30, "only {compared} streams compared");
}

#[test]
fn every_session_is_decrypted_with_its_key_log() {
    for (pcap, keys) in captures() {
        let out = tlsscope()
            .args(["inspect", "--format", "json", "--keylog"])
            .arg(&keys)
            .arg(&pcap)
            .output()
            .unwrap();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["type"] != "session" {
                continue;
            }
            let d = &v["decryption"];
            assert_eq!(d["status"], "ok", "{}: session {}: {d}", pcap.display(), v["session"]);
        }
    }
}

#[test]
fn wrong_or_missing_secrets_give_reasons_not_garbage() {
    let pcap = dir().join("lab.pcap");
    // No secrets at all.
    let out = tlsscope().args(["inspect", "--format", "json"]).arg(&pcap).output().unwrap();
    let sessions: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "session")
        .collect();
    for s in &sessions {
        // Nothing was tried: null, as docs/json.md says, not "none" or "ok".
        assert!(s["decryption"].is_null(), "{}", s["decryption"]);
        assert_eq!(s["http"].as_array().unwrap().len(), 0);
    }

    let tmp = std::env::temp_dir().join(format!("tlsscope-badkeys-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let good = std::fs::read_to_string(dir().join("lab.keys")).unwrap();

    // Wrong secrets: every hex digit of every secret flipped.
    let wrong: String = good
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() == 3 {
                let flipped: String =
                    f[2].chars().map(|c| if c == '0' { '1' } else { '0' }).collect();
                format!("{} {} {flipped}\n", f[0], f[1])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let wrong_path = tmp.join("wrong.keys");
    std::fs::write(&wrong_path, wrong).unwrap();
    let out = tlsscope()
        .args(["inspect", "--format", "json", "--keylog"])
        .arg(&wrong_path)
        .arg(&pcap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "problems found: exit 1");
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "session" {
            continue;
        }
        let d = &v["decryption"];
        assert_eq!(d["status"], "none", "{d}");
        let reason = d["reason"].as_str().unwrap();
        assert!(
            reason.contains("failed: authentication tag mismatch")
                && reason.contains("wrong secrets"),
            "{reason}"
        );
        assert_eq!(v["http"].as_array().unwrap().len(), 0, "no garbage decoded as HTTP");
    }

    // A TLS 1.3 session with only CLIENT_RANDOM lines: the labels it needs are named.
    let tls13_random =
        sessions.iter().find(|s| s["version"] == "TLS 1.3").unwrap()["client_random"]
            .as_str()
            .unwrap()
            .to_string();
    let only_cr = format!("CLIENT_RANDOM {tls13_random} {}\n", "ab".repeat(48));
    let cr_path = tmp.join("cr-only.keys");
    std::fs::write(&cr_path, only_cr).unwrap();
    let out = tlsscope()
        .args(["inspect", "--format", "json", "--keylog"])
        .arg(&cr_path)
        .arg(&pcap)
        .output()
        .unwrap();
    let reason = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["version"] == "TLS 1.3")
        .unwrap()["decryption"]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains("only CLIENT_RANDOM") && reason.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        "{reason}"
    );

    // A malformed key log line is reported with its line number.
    let bad_path = tmp.join("bad.keys");
    std::fs::write(&bad_path, format!("{good}CLIENT_RANDOM nothex 1234\n")).unwrap();
    let out = tlsscope()
        .args(["inspect", "--format", "json", "--keylog"])
        .arg(&bad_path)
        .arg(&pcap)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    let line_no = good.lines().count() + 1;
    assert!(err.contains(&format!("bad.keys:{line_no}: CLIENT_RANDOM")), "{err}");
    std::fs::remove_dir_all(&tmp).ok();
}

/// The HTTP/2 frames `inspect` lists under each session are the frames
/// tshark decodes from the decrypted data: the same capture frames, frame
/// types and stream identifiers, in the same order.
#[test]
fn http2_frames_equal_tshark() {
    need_tshark();
    const NAMES: [&str; 10] = [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
    ];
    let mut compared = 0;
    for (pcap, keys) in captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        let out = tlsscope()
            .args(["inspect", "--brief", "--color", "never", "--keylog"])
            .arg(&keys)
            .arg(&pcap)
            .output()
            .unwrap();
        // 1: problems found in the capture (it still prints everything).
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // "        frame 23     client → server  HEADERS stream 1: GET / [...]"
        let mut ours: Vec<(u64, String, u64)> = Vec::new();
        let mut in_list = false;
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            if line == "  HTTP/2 frames" {
                in_list = true;
                continue;
            }
            if !in_list {
                continue;
            }
            let Some(rest) = line.strip_prefix("        frame ") else {
                in_list = line.starts_with("        ") || line.starts_with("          ");
                continue;
            };
            assert!(!rest.contains(" more frames "), "{name}: a list was cut: {line}");
            let mut words = rest.split_whitespace();
            let frame: u64 = words.next().unwrap().parse().unwrap();
            // The direction: "client → server".
            let words: Vec<&str> = words.skip(3).collect();
            let kind = words[0].trim_end_matches(':').to_string();
            let stream = match (words.get(1), words.get(2)) {
                (Some(&"stream"), Some(n)) => n.trim_end_matches(':').parse().unwrap(),
                _ => 0,
            };
            ours.push((frame, kind, stream));
        }

        let fields =
            ["-T", "fields", "-e", "frame.number", "-e", "http2.type", "-e", "http2.streamid"];
        let t = tshark(&pcap, &keys, &[&["-Y", "http2.type"][..], &fields].concat());
        let mut theirs: Vec<(u64, String, u64)> = Vec::new();
        for line in t.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let frame: u64 = f[0].parse().unwrap();
            for (kind, stream) in f[1].split(',').zip(f[2].split(',')) {
                let kind: usize = kind.parse().unwrap();
                let kind = NAMES.get(kind).copied().unwrap_or("unknown").to_string();
                theirs.push((frame, kind, stream.parse().unwrap()));
            }
        }
        // tshark lists a frame's HTTP/2 frames in wire order, we list them
        // per session in the order they were decoded: compare as sets of
        // (capture frame, type, stream) with their counts.
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{name}: HTTP/2 frames differ from tshark's");
        compared += ours.len();
    }
    assert!(compared >= 20, "too few HTTP/2 frames compared: {compared}");
}

/// The key log without the lines `drop` picks (label, line number).
fn keylog_without(keys: &Path, out: &Path, drop: impl Fn(&str, usize) -> bool) -> PathBuf {
    let text = std::fs::read_to_string(keys).unwrap();
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, l)| !drop(l.split(' ').next().unwrap_or(""), *i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(out, kept).unwrap();
    out.to_path_buf()
}

/// Decrypted application data bytes per TCP stream, [client, server], as
/// tshark's `follow,tls,raw` gives them (one pass over the capture);
/// `streams` maps each stream to its client's address.
fn tshark_follow_bytes(
    pcap: &Path,
    keys: &Path,
    streams: &BTreeMap<u64, String>,
) -> BTreeMap<u64, [usize; 2]> {
    let mut args = vec!["-q".to_string()];
    for s in streams.keys() {
        args.extend(["-z".to_string(), format!("follow,tls,raw,{s}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut theirs = BTreeMap::new();
    parse(&tshark(pcap, keys, &args), 0, &mut theirs);
    // tshark's node 0 is the first to send application data.
    theirs
        .into_iter()
        .map(|(id, (node0, b))| {
            let swap = !node0.is_empty() && streams.get(&id).is_some_and(|c| *c != node0);
            (id, if swap { [b[1].len(), b[0].len()] } else { [b[0].len(), b[1].len()] })
        })
        .collect()
}

/// Per TCP stream, the TLS 1.3 records tshark could not decrypt: those
/// that show only their outer type (a TLS 1.2 record shows its type in the
/// clear, decrypted or not: its bytes tell instead).
fn tshark_undecrypted_records(pcap: &Path, keys: &Path) -> BTreeMap<u64, usize> {
    let fields = [
        "-Y",
        "tls",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "tls.record.length",
        "-e",
        "tls.record.content_type",
    ];
    let mut per = BTreeMap::new();
    for line in tshark(pcap, keys, &fields).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let count =
            |i: usize| f.get(i).map_or(0, |v| v.split(',').filter(|x| !x.is_empty()).count());
        let Some(id) = f.first().and_then(|s| s.parse().ok()) else { continue };
        *per.entry(id).or_insert(0) += count(1).saturating_sub(count(2));
    }
    per
}

/// Per TCP stream: decrypted bytes [client, server] summed over its
/// sessions, whether every session's status is ok (else one that is not),
/// and the client's address.
fn ours_per_stream(pcap: &Path, keys: &Path) -> BTreeMap<u64, ([u64; 2], bool, String, String)> {
    let out = tlsscope()
        .args(["inspect", "--format", "json", "--keylog"])
        .arg(keys)
        .arg(pcap)
        .output()
        .unwrap();
    let mut per = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "session" {
            continue;
        }
        let d = &v["decryption"];
        let client = v["client"].as_str().unwrap().to_string();
        let e = per.entry(v["stream"].as_u64().unwrap()).or_insert((
            [0u64; 2],
            true,
            String::new(),
            client,
        ));
        e.0[0] += d["client_bytes"].as_u64().unwrap();
        e.0[1] += d["server_bytes"].as_u64().unwrap();
        if d["status"] != "ok" {
            e.1 = false;
            e.2 = format!("{d}");
        }
    }
    per
}

#[test]
fn status_and_bytes_agree_with_tshark_for_every_key_log_with_lines_missing() {
    // With lines of the key log left out, tshark decrypts what it still
    // can. Per TCP stream and direction our decrypted bytes equal its; a
    // stream we call "ok" everywhere is one tshark decrypts as fully as
    // with the whole key log, and one tshark decrypts as fully is "ok".
    need_tshark();
    let tmp = std::env::temp_dir().join(format!("tlsscope-partial-keys-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    type Drop = fn(&str, usize) -> bool;
    let variants: [(&str, Drop); 5] = [
        ("whole", |_, _| false),
        ("no SERVER_TRAFFIC_SECRET_0", |l, _| l == "SERVER_TRAFFIC_SECRET_0"),
        ("no CLIENT_TRAFFIC_SECRET_0", |l, _| l == "CLIENT_TRAFFIC_SECRET_0"),
        ("no CLIENT_RANDOM", |l, _| l == "CLIENT_RANDOM"),
        ("every third line", |_, i| i % 3 == 1),
    ];
    let (mut compared, mut partial, mut not_ok) = (0, 0, 0);
    for (pcap, keys) in captures() {
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        let whole = ours_per_stream(&pcap, &keys);
        let streams: BTreeMap<u64, String> =
            whole.iter().map(|(id, (_, _, _, client))| (*id, client.clone())).collect();
        let full = tshark_follow_bytes(&pcap, &keys, &streams);
        for (what, drop) in variants {
            let k = keylog_without(&keys, &tmp.join(format!("{name}.keys")), drop);
            let ours = ours_per_stream(&pcap, &k);
            let theirs = tshark_follow_bytes(&pcap, &k, &streams);
            let undecrypted = tshark_undecrypted_records(&pcap, &k);
            for (id, (bytes, ok, why, _)) in &ours {
                let t = theirs.get(id).copied().unwrap_or_default();
                let f = full.get(id).copied().unwrap_or_default();
                let at = format!("{name} ({what}): stream {id}");
                assert_eq!(
                    [bytes[0] as usize, bytes[1] as usize],
                    t,
                    "{at}: decrypted bytes [client, server], ours then tshark's"
                );
                let tshark_as_full = t == f && undecrypted.get(id).copied().unwrap_or(0) == 0;
                if *ok {
                    assert!(tshark_as_full, "{at}: ok, but tshark decrypts {t:?} of {f:?}");
                } else {
                    not_ok += 1;
                    assert!(
                        !tshark_as_full || f == [0, 0],
                        "{at}: tshark decrypts it fully ({t:?}), we say {why}"
                    );
                }
                partial += usize::from(!*ok && t != [0, 0]);
                compared += 1;
            }
        }
    }
    eprintln!("{compared} streams compared, {not_ok} not ok ({partial} of them partly decrypted)");
    assert!(compared >= 150 && not_ok >= 40 && partial >= 10, "{compared} {not_ok} {partial}");
}
