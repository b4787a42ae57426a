//! TCP reassembly checked against tshark: for every stream of every
//! capture, `tlsscope follow --tcp --format raw` must give the same bytes in
//! each direction as `tshark -q -z follow,tcp,raw,N`, and `tlsscope flows`
//! the same frame and byte counts as `tshark -q -z conv,tcp`.
//!
//! The captures are the real loopback ones under testdata/captures/tcp
//! (made by testdata/make-captures.sh with tcpdump and dumpcap) and
//! hand-built ones for the awkward cases, written here frame by frame.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use etherparse::PacketBuilder;

fn tlsscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsscope"))
}

fn need(tool: &str) {
    let ok = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "{tool} is needed for this test: install it (apt-get install tshark)");
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tlsscope-tcp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One direction of a followed stream.
#[derive(Clone, Default, Debug)]
struct Side {
    /// The bytes, with gaps filled with zeros.
    bytes: Vec<u8>,
    /// The bytes without the gaps.
    captured: Vec<u8>,
    /// Bytes reported missing.
    gap_bytes: usize,
}

/// Per stream: (client address, [client side, server side]).
type Streams = BTreeMap<u64, (String, [Side; 2])>;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

/// Parses `follow ... raw` output (ours or tshark's; one or many streams).
/// Gap markers become zero bytes, which the hand-built tests account for.
fn parse_follow(text: &str, streams: &mut Streams, default_stream: u64) {
    let mut current = default_stream;
    let mut node0 = String::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("Stream: ") {
            current = n.trim().parse().unwrap();
        } else if let Some(f) = line.strip_prefix("Filter: tcp.stream eq ") {
            current = f.trim().parse().unwrap();
        } else if let Some(a) = line.strip_prefix("Node 0: ") {
            node0 = a.trim().to_string();
            streams.entry(current).or_insert_with(|| (node0.clone(), Default::default())).0 =
                node0.clone();
        } else if line.starts_with("Node 1: ")
            || line.starts_with("Follow: ")
            || line.starts_with("=====")
            || line.is_empty()
        {
        } else {
            let server = line.starts_with('\t');
            let body = line.trim_start_matches('\t');
            let entry =
                streams.entry(current).or_insert_with(|| (node0.clone(), Default::default()));
            let side = &mut entry.1[usize::from(server)];
            let gap = if let Some(rest) = body.strip_prefix('[') {
                Ok(rest.split(' ').next().unwrap().parse::<usize>().unwrap())
            } else {
                let bytes = hex(body);
                // tshark writes a gap as the text "[N bytes missing in
                // capture file]\0" inside the raw data; make it a gap.
                let text = String::from_utf8_lossy(&bytes);
                match text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(" bytes missing in capture file]\0"))
                {
                    Some(n) => Ok(n.parse().unwrap()),
                    None => Err(bytes),
                }
            };
            match gap {
                Ok(n) => {
                    side.bytes.extend(std::iter::repeat_n(0u8, n));
                    side.gap_bytes += n;
                }
                Err(bytes) => {
                    side.bytes.extend(&bytes);
                    side.captured.extend(bytes);
                }
            }
        }
    }
}

fn ours(file: &Path) -> Streams {
    let out = tlsscope().args(["follow", "--tcp", "--format", "raw"]).arg(file).output().unwrap();
    assert!(out.status.code().unwrap() <= 1, "{}", String::from_utf8_lossy(&out.stderr));
    let mut s = Streams::new();
    parse_follow(&String::from_utf8(out.stdout).unwrap(), &mut s, 0);
    s
}

fn tshark_follow(file: &Path, n: u64) -> Streams {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-q", "-z", &format!("follow,tcp,raw,{n}")])
        .output()
        .unwrap();
    // tshark exits 2 on a file cut short but still prints what it read.
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Follow: tcp,raw"), "tshark: {}", String::from_utf8_lossy(&out.stderr));
    let mut s = Streams::new();
    parse_follow(&text, &mut s, n);
    s
}

/// Compares every stream; returns how many were compared.
fn compare_with_tshark(file: &Path) -> usize {
    let mine = ours(file);
    assert!(!mine.is_empty(), "{}: no streams", file.display());
    for (&n, (client, sides)) in &mine {
        let theirs = tshark_follow(file, n);
        let (node0, their_sides) = theirs.get(&n).cloned().unwrap_or_default();
        // tshark's node 0 is the side that sent the first segment with data;
        // ours is the client. Line the directions up by address.
        let their = if node0 == *client || node0.is_empty() {
            their_sides
        } else {
            let [a, b] = their_sides;
            [b, a]
        };
        for d in 0..2 {
            // tshark marks segments it never saw as missing, but not bytes
            // cut by the snapshot length; we mark both. Where tshark marks
            // no gap, compare the captured bytes only.
            let (a, b) = if their[d].gap_bytes > 0 {
                (&sides[d].bytes, &their[d].bytes)
            } else {
                (&sides[d].captured, &their[d].bytes)
            };
            assert!(
                a == b,
                "{}: stream {n} direction {d}: ours {} bytes, tshark {} bytes; first difference at {:?}",
                file.display(),
                a.len(),
                b.len(),
                a.iter().zip(b).position(|(x, y)| x != y)
            );
        }
    }
    mine.len()
}

/// `flows --format json` against tshark's per-frame fields, summed per
/// connection and direction exactly as `tshark -q -z conv,tcp` sums them
/// (conv,tcp itself rounds byte counts past 10 kB): the same connection
/// numbers (tcp.stream), endpoints, frames and frame bytes each way.
fn compare_conversations(file: &Path) {
    let out = tlsscope().args(["flows", "--format", "json"]).arg(file).output().unwrap();
    // stream -> (client, server, [client frames, client bytes, server frames, server bytes])
    let mut mine = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let counts = [
            v["client_frames"].as_u64().unwrap(),
            v["client_bytes"].as_u64().unwrap(),
            v["server_frames"].as_u64().unwrap(),
            v["server_bytes"].as_u64().unwrap(),
        ];
        let ends =
            (v["client"].as_str().unwrap().to_string(), v["server"].as_str().unwrap().to_string());
        mine.insert(v["stream"].as_u64().unwrap(), (ends, counts));
    }
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "tcp.stream",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "tcp.srcport",
            "-e",
            "frame.len",
        ])
        .output()
        .unwrap();
    let mut theirs: BTreeMap<u64, BTreeMap<String, [u64; 2]>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split('|').collect();
        let stream: u64 = f[0].parse().unwrap();
        let addr = if f[1].is_empty() {
            format!("[{}]:{}", f[2], f[3])
        } else {
            format!("{}:{}", f[1], f[3])
        };
        let e = theirs.entry(stream).or_default().entry(addr).or_insert([0; 2]);
        e[0] += 1;
        e[1] += f[4].parse::<u64>().unwrap();
    }
    assert_eq!(
        mine.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{}: connection numbers",
        file.display()
    );
    for (stream, ((client, server), got)) in &mine {
        let t = &theirs[stream];
        let c = t.get(client).copied().unwrap_or_default();
        let s = t.get(server).copied().unwrap_or_default();
        assert_eq!(
            *got,
            [c[0], c[1], s[0], s[1]],
            "{}: stream {stream} {client} -> {server}",
            file.display()
        );
    }
}

#[test]
fn real_loopback_captures_match_tshark() {
    need("tshark");
    let dir = repo().join("testdata/captures/tcp");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run testdata/make-captures.sh)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "expected the checked-in captures in {}", dir.display());
    for f in files {
        let n = compare_with_tshark(&f);
        assert!(n >= 1);
        compare_conversations(&f);
    }
}

// ---------------------------------------------------------------- hand-built

const C: ([u8; 4], u16) = ([10, 0, 0, 1], 51000);
const S: ([u8; 4], u16) = ([10, 0, 0, 2], 443);

struct Seg {
    from_client: bool,
    seq: u32,
    ack: u32,
    syn: bool,
    fin: bool,
    payload: Vec<u8>,
    /// Bytes of the frame to keep (snapshot length), if cut.
    caplen: Option<usize>,
    port: u16,
}

fn seg(from_client: bool, seq: u32, ack: u32, payload: &[u8]) -> Seg {
    Seg {
        from_client,
        seq,
        ack,
        syn: false,
        fin: false,
        payload: payload.to_vec(),
        caplen: None,
        port: C.1,
    }
}

/// Writes a little-endian microsecond pcap of Ethernet frames.
fn write_pcap(path: &Path, segs: &[Seg], truncate_file_by: usize) {
    let mut out = Vec::new();
    for v in [0xa1b2c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend(v.to_le_bytes());
    }
    // (version is two u16s: 2, 4 — written above as one LE u32)
    out[4..8].copy_from_slice(&[2, 0, 4, 0]);
    for (i, s) in segs.iter().enumerate() {
        let (src, dst) = if s.from_client { ((C.0, s.port), S) } else { (S, (C.0, s.port)) };
        let mut b = PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src.0, dst.0, 64)
            .tcp(src.1, dst.1, s.seq, 65535);
        if s.syn {
            b = b.syn();
        }
        if s.fin {
            b = b.fin();
        }
        if !(s.syn && s.from_client) {
            b = b.ack(s.ack);
        }
        let mut frame = Vec::new();
        b.write(&mut frame, &s.payload).unwrap();
        let orig = frame.len();
        if let Some(c) = s.caplen {
            frame.truncate(c);
        }
        let ts = 1_700_000_000u32;
        out.extend(ts.to_le_bytes());
        out.extend((i as u32 * 1000).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend((orig as u32).to_le_bytes());
        out.extend(frame);
    }
    out.truncate(out.len() - truncate_file_by);
    std::fs::write(path, out).unwrap();
}

fn handshake(cisn: u32, sisn: u32, port: u16) -> Vec<Seg> {
    let mut syn = seg(true, cisn, 0, b"");
    syn.syn = true;
    syn.port = port;
    let mut synack = seg(false, sisn, cisn.wrapping_add(1), b"");
    synack.syn = true;
    synack.port = port;
    let mut ack = seg(true, cisn.wrapping_add(1), sisn.wrapping_add(1), b"");
    ack.port = port;
    vec![syn, synack, ack]
}

fn data(n: usize, tag: u8) -> Vec<u8> {
    (0..n).map(|i| tag.wrapping_add((i % 251) as u8)).collect()
}

#[test]
fn hand_built_awkward_captures_match_tshark() {
    need("tshark");
    let dir = tmpdir("hand");
    let a = data(1000, 1);
    let b = data(1000, 2);
    let c = data(500, 3);
    let resp = data(700, 9);
    let mut cases: Vec<(&str, Vec<Seg>, usize)> = Vec::new();

    // Out of order: the second segment arrives before the first.
    let mut s = handshake(1000, 5000, C.1);
    s.push(seg(true, 2001, 5001, &b));
    s.push(seg(true, 1001, 5001, &a));
    s.push(seg(true, 3001, 5001, &c));
    s.push(seg(false, 5001, 3501, &resp));
    cases.push(("out-of-order", s, 0));

    // Retransmission with different bytes: the first copy counts.
    let mut s = handshake(1000, 5000, C.1);
    s.push(seg(true, 1001, 5001, &a));
    let mut changed = a.clone();
    changed[10] ^= 0xff;
    s.push(seg(true, 1001, 5001, &changed));
    s.push(seg(true, 2001, 5001, &b));
    s.push(seg(false, 5001, 3001, &resp));
    cases.push(("retransmitted-different", s, 0));

    // Sequence numbers wrap around inside the stream.
    let isn = u32::MAX - 1500;
    let mut s = handshake(isn, 7, C.1);
    s.push(seg(true, isn.wrapping_add(1), 8, &a));
    s.push(seg(true, isn.wrapping_add(1001), 8, &b));
    s.push(seg(true, isn.wrapping_add(2001), 8, &c));
    s.push(seg(false, 8, isn.wrapping_add(2501), &resp));
    cases.push(("sequence-wrap", s, 0));

    // The capture starts after the handshake.
    let s =
        vec![seg(true, 1001, 5001, &a), seg(false, 5001, 2001, &resp), seg(true, 2001, 5701, &b)];
    cases.push(("mid-stream", s, 0));

    // Port reuse: two connections on the same 4-tuple.
    let mut s = handshake(1000, 5000, C.1);
    s.push(seg(true, 1001, 5001, &a));
    let mut fin = seg(true, 2001, 5001, b"");
    fin.fin = true;
    s.push(fin);
    let mut fin = seg(false, 5001, 2002, b"");
    fin.fin = true;
    s.push(fin);
    s.push(seg(true, 2002, 5002, b""));
    s.extend(handshake(90_000, 70_000, C.1));
    s.push(seg(true, 90_001, 70_001, &b));
    s.push(seg(false, 70_001, 91_001, &resp));
    cases.push(("port-reuse", s, 0));

    // The last packet is cut short by the end of the file.
    let mut s = handshake(1000, 5000, C.1);
    s.push(seg(true, 1001, 5001, &a));
    s.push(seg(false, 5001, 2001, &resp));
    s.push(seg(true, 2001, 5701, &b));
    cases.push(("truncated-last-packet", s, 300));

    for (name, segs, cut) in cases {
        let f = dir.join(format!("{name}.pcap"));
        write_pcap(&f, &segs, cut);
        let n = compare_with_tshark(&f);
        assert!(n >= 1, "{name}");
        compare_conversations(&f);
    }

    // What the comparisons above cannot show: conflicting bytes are
    // counted, and connection numbers follow port reuse.
    let out = tlsscope()
        .args(["flows", "--format", "json"])
        .arg(dir.join("retransmitted-different.pcap"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["retransmissions"], 1);
    assert_eq!(v["conflicting_bytes"], 1000, "the whole differing segment is counted");
    let out = tlsscope()
        .args(["flows", "--format", "json"])
        .arg(dir.join("port-reuse.pcap"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

/// Where tshark and we differ on purpose: a missing segment. tshark's
/// follow skips it silently; we say how many bytes are missing and where.
#[test]
fn missing_segment_is_reported_as_a_gap() {
    let dir = tmpdir("gap");
    let a = data(1000, 1);
    let c = data(500, 3);
    let mut s = handshake(1000, 5000, C.1);
    s.push(seg(true, 1001, 5001, &a));
    // 1000 bytes at 2001 never captured; the server acknowledges them.
    s.push(seg(true, 3001, 5001, &c));
    for _ in 0..20 {
        s.push(seg(false, 5001, 3501, b""));
    }
    let f = dir.join("missing.pcap");
    write_pcap(&f, &s, 0);
    let out = tlsscope().args(["follow", "--tcp", "--format", "raw"]).arg(&f).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[1000 bytes missing in capture at offset 1000]"), "{text}");
    assert_eq!(out.status.code(), Some(1), "a gap is a problem found: exit 1");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("1000 bytes missing at stream offset 1000"), "{stderr}");
    assert!(stderr.contains("frame "), "the diagnostic names a frame: {stderr}");
    let mine = ours(&f);
    assert_eq!(mine[&0].1[0].bytes.len(), 2500);
    assert_eq!(mine[&0].1[0].gap_bytes, 1000);
    assert_eq!(&mine[&0].1[0].bytes[2000..], &c[..]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn snaplen_cut_frames_are_gaps_not_garbage() {
    let dir = tmpdir("snap");
    let a = data(1000, 1);
    let b = data(1000, 2);
    let mut s = handshake(1000, 5000, C.1);
    let mut cut = seg(true, 1001, 5001, &a);
    cut.caplen = Some(14 + 20 + 20 + 100); // headers + 100 payload bytes
    s.push(cut);
    s.push(seg(true, 2001, 5001, &b));
    let f = dir.join("snaplen.pcap");
    write_pcap(&f, &s, 0);
    let mine = ours(&f);
    let client = &mine[&0].1[0].bytes;
    assert_eq!(client.len(), 2000);
    assert_eq!(&client[..100], &a[..100]);
    assert!(client[100..1000].iter().all(|&x| x == 0), "the cut bytes are a gap");
    assert_eq!(&client[1000..], &b[..]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_names_the_file_and_exits_2() {
    let dir = tmpdir("bad");
    let f = dir.join("not-a-capture.txt");
    std::fs::write(&f, "hello, I am not a capture").unwrap();
    let out = tlsscope().arg("flows").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("not-a-capture.txt") && e.contains("not a pcap or pcapng capture"), "{e}");
    let out = tlsscope().arg("flows").arg(dir.join("missing.pcap")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A corrupt record in the middle: reported with its frame and offset,
    // and the frames after it are still read.
    let mut s = handshake(1000, 5000, C.1);
    s.push(seg(true, 1001, 5001, &data(10, 1)));
    let f = dir.join("corrupt.pcap");
    write_pcap(&f, &s, 0);
    let mut bytes = std::fs::read(&f).unwrap();
    let good = bytes.clone();
    // Make the second record's captured length absurd.
    let second = 24 + 16 + 54;
    bytes[second + 8..second + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    bytes.extend_from_slice(&good[24..]); // the same frames again after the damage
    std::fs::write(&f, &bytes).unwrap();
    let out = tlsscope().args(["flows", "--format", "json"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("frame 2") && e.contains(&format!("file offset {second}")), "{e}");
    assert!(!out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}
