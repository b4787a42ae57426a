//! Helpers for the report tests: running `tlsscope report`, reading the
//! data a page embeds, and synthesising a capture of many sessions from
//! the lab capture.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The checked-in captures.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls").join(name)
}

/// A fresh temporary directory under target/tmp.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `tlsscope report ARGS -o OUT` and returns the page.
pub fn report(args: &[&str], out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .arg("report")
        .args(args)
        .arg("-o")
        .arg(out)
        .env("LANG", "C")
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "tlsscope report {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

/// The JSON embedded in a page.
pub fn data(page: &str) -> Value {
    let open = "<script id=\"report-data\" type=\"application/json\">";
    let start = page.find(open).expect("the page embeds its data") + open.len();
    let len = page[start..].find("</script>").expect("the data script ends");
    serde_json::from_str(&page[start..start + len]).expect("the data is JSON")
}

/// The detail of the session with this version (`TLS 1.2`).
pub fn session_with_version<'a>(d: &'a Value, version: &str) -> (&'a Value, &'a Value) {
    let row = d["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["version"] == version)
        .unwrap_or_else(|| panic!("no {version} session"));
    let detail = d["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == row["id"])
        .unwrap_or_else(|| panic!("the {version} session has no details"));
    (row, detail)
}

/// The first field with `key` in a field tree, depth first.
pub fn find_field<'a>(fields: &'a Value, key: &str) -> Option<&'a Value> {
    for f in fields.as_array()? {
        if f["key"] == key {
            return Some(f);
        }
        if let Some(x) = find_field(&f["children"], key) {
            return Some(x);
        }
    }
    None
}

/// A pcap record: its 16-byte header and the frame.
type Record = ([u8; 16], Vec<u8>);

/// The file header and the records of a classic pcap file.
fn pcap_frames(bytes: &[u8]) -> (Vec<u8>, Vec<Record>) {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a little-endian microsecond pcap");
    let header = bytes[..24].to_vec();
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let rec: [u8; 16] = bytes[at..at + 16].try_into().unwrap();
        let caplen = u32::from_le_bytes(rec[8..12].try_into().unwrap()) as usize;
        frames.push((rec, bytes[at + 16..at + 16 + caplen].to_vec()));
        at += 16 + caplen;
    }
    (header, frames)
}

/// TCP ports of an Ethernet/IPv4/TCP frame, and where they are.
fn tcp_ports(frame: &[u8]) -> Option<(usize, u16, u16)> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] || frame[23] != 6 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let at = 14 + ihl;
    let src = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
    let dst = u16::from_be_bytes(frame.get(at + 2..at + 4)?.try_into().ok()?);
    Some((at, src, dst))
}

/// Writes a capture of `copies` × the lab capture's TLS connections (one
/// TLS 1.2 and one TLS 1.3 session each), each copy from its own client
/// ports and 50 ms after the previous one, so `copies` = 5000 gives 10,000
/// sessions; lab.keys decrypts them all (the copies share their randoms).
pub fn many_sessions(copies: u32, out: &Path) {
    let lab = std::fs::read(testdata("lab.pcap")).unwrap();
    let (header, frames) = pcap_frames(&lab);
    // The TLS server's port: the destination of the first ClientHello
    // (a TCP payload starting 16 03).
    let tls_port = frames
        .iter()
        .find_map(|(_, f)| {
            let (at, _, dst) = tcp_ports(f)?;
            let off = at + usize::from(f[at + 12] >> 4) * 4;
            (f.get(off..off + 2) == Some(&[0x16, 0x03])).then_some(dst)
        })
        .expect("lab.pcap has a ClientHello");
    let tls: Vec<&Record> = frames
        .iter()
        .filter(|(_, f)| tcp_ports(f).is_some_and(|(_, s, d)| s == tls_port || d == tls_port))
        .collect();
    let mut client_ports: Vec<u16> = tls
        .iter()
        .filter_map(|(_, f)| tcp_ports(f).map(|(_, s, d)| if s == tls_port { d } else { s }))
        .collect();
    client_ports.sort_unstable();
    client_ports.dedup();
    assert_eq!(client_ports.len(), 2, "lab.pcap has two TLS connections");
    let t0 = |rec: &[u8; 16]| {
        u64::from(u32::from_le_bytes(rec[0..4].try_into().unwrap())) * 1_000_000
            + u64::from(u32::from_le_bytes(rec[4..8].try_into().unwrap()))
    };
    let base = t0(&tls[0].0);
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    use std::io::Write;
    w.write_all(&header).unwrap();
    for k in 0..copies {
        for (rec, f) in &tls {
            let mut f = f.clone();
            let (at, src, dst) = tcp_ports(&f).unwrap();
            let remap = |p: u16| {
                let i = client_ports.iter().position(|&c| c == p).unwrap() as u32;
                u16::try_from(10_000 + k * 2 + i).unwrap()
            };
            if src == tls_port {
                f[at + 2..at + 4].copy_from_slice(&remap(dst).to_be_bytes());
            } else {
                f[at..at + 2].copy_from_slice(&remap(src).to_be_bytes());
            }
            let t = base + u64::from(k) * 50_000 + (t0(rec) - base);
            let mut rec = *rec;
            rec[0..4].copy_from_slice(&u32::try_from(t / 1_000_000).unwrap().to_le_bytes());
            rec[4..8].copy_from_slice(&u32::try_from(t % 1_000_000).unwrap().to_le_bytes());
            w.write_all(&rec).unwrap();
            w.write_all(&f).unwrap();
        }
    }
    w.flush().unwrap();
}

/// Markup in a capture (SNI, HTTP path, headers, body) that would run if
/// the page did not escape it.
pub const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\">";

/// Writes a pcap (Ethernet) of `segments`: (from the client?, TCP flags
/// syn/fin, payload) on one connection per distinct `conn` number.
fn write_pcap(path: &Path, segments: &[(u16, bool, u8, &[u8])]) {
    use etherparse::PacketBuilder;
    use std::collections::HashMap;
    let mut out = Vec::new();
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut seq: HashMap<(u16, bool), u32> = HashMap::new();
    for (i, &(port, from_client, flags, payload)) in segments.iter().enumerate() {
        let (sp, dp, src, dst) = if from_client {
            (port, 443, [10, 0, 0, 1], [10, 0, 0, 2])
        } else {
            (443, port, [10, 0, 0, 2], [10, 0, 0, 1])
        };
        let my = *seq.entry((port, from_client)).or_insert(1000);
        let their = *seq.entry((port, !from_client)).or_insert(1000);
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sp, dp, my, 65535);
        let syn = flags & 1 != 0;
        let fin = flags & 2 != 0;
        if syn {
            b = b.syn();
        }
        if fin {
            b = b.fin();
        }
        if !(syn && from_client) {
            b = b.ack(their);
        }
        let mut frame = Vec::new();
        b.write(&mut frame, payload).unwrap();
        let advance = payload.len() as u32 + u32::from(syn) + u32::from(fin);
        seq.insert((port, from_client), my + advance);
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// A TLS 1.2 ClientHello record with this server_name.
fn client_hello(sni: &[u8]) -> Vec<u8> {
    let mut ext = Vec::new();
    let name_list_len = (sni.len() + 3) as u16;
    ext.extend_from_slice(&[0x00, 0x00]); // server_name
    ext.extend_from_slice(&(name_list_len + 2).to_be_bytes());
    ext.extend_from_slice(&name_list_len.to_be_bytes());
    ext.push(0); // host_name
    ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    ext.extend_from_slice(sni);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session_id
    body.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2f]); // one suite
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![0x01, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A capture with markup in every place a page shows capture content: a
/// plain HTTP exchange (path, Host, a header, the body) and a TLS
/// ClientHello whose server_name is [`HOSTILE`].
pub fn hostile_capture(pcap: &Path) {
    let request = format!(
        "GET /</script><script>document.title='pwned'</script> HTTP/1.1\r\nHost: {HOSTILE}\r\nX-Evil: </style><b>\r\n\r\n"
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/html\r\n\r\n{HOSTILE}",
        HOSTILE.len()
    );
    let hello = client_hello(HOSTILE.as_bytes());
    write_pcap(
        pcap,
        &[
            (40000, true, 1, b""),
            (40000, false, 1, b""),
            (40000, true, 0, request.as_bytes()),
            (40000, false, 0, response.as_bytes()),
            (40000, true, 2, b""),
            (40000, false, 2, b""),
            (40001, true, 1, b""),
            (40001, false, 1, b""),
            (40001, true, 0, &hello),
            (40001, true, 2, b""),
            (40001, false, 2, b""),
        ],
    );
}
