//! `inspect -x`: every message's bytes with each field's offsets. The test
//! reads the hex dump back and checks, for every field of every message in
//! the checked-in captures, that the offsets point at the bytes the field
//! shows: hex values (randoms, keys, signatures, shortened or not) equal
//! the dumped bytes at [start..end), and code points shown as `(0x001d)`
//! equal the big-endian number there.

use std::path::PathBuf;
use std::process::Command;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures/tls").join(name)
}

struct Field {
    start: usize,
    end: usize,
    label: String,
    value: String,
}

/// One message: its fields and its bytes from the dump.
struct Msg {
    head: String,
    fields: Vec<Field>,
    bytes: Vec<u8>,
}

fn parse(text: &str) -> Vec<Msg> {
    let mut out: Vec<Msg> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if line.starts_with("  (") && line.contains(" bytes, frame") {
            out.push(Msg { head: line.to_string(), fields: Vec::new(), bytes: Vec::new() });
            continue;
        }
        let Some(m) = out.last_mut() else { continue };
        if let Some(rest) = t.strip_prefix('[')
            && let Some((range, field)) = rest.split_once(']')
            && let Some((a, b)) = range.split_once("..")
            && let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse())
        {
            let (label, value) = field.trim().split_once(": ").unwrap_or((field.trim(), ""));
            m.fields.push(Field { start: a, end: b, label: label.into(), value: value.into() });
        } else if t.len() > 6
            && t.as_bytes()[4] == b' '
            && usize::from_str_radix(&t[..4], 16).is_ok_and(|o| o == m.bytes.len())
        {
            // "0010  15 4f ...  ascii": 16 bytes per line at most.
            let hexpart = t.get(6..6 + 49).unwrap_or(&t[6..]);
            for h in hexpart.split_whitespace().take(16) {
                m.bytes.push(u8::from_str_radix(h, 16).unwrap());
            }
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(2)
        && s.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[test]
fn field_offsets_point_at_the_bytes_they_show() {
    let mut checked_hex = 0;
    let mut checked_codes = 0;
    for name in ["lab", "openssl-tls12", "openssl-tls13", "nghttp"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
            .args(["inspect", "-x", "--color", "never"])
            .arg(testdata(&format!("{name}.pcap")))
            .arg("--keylog")
            .arg(testdata(&format!("{name}.keys")))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let msgs = parse(&text);
        assert!(msgs.len() >= 9, "{name}: {} messages", msgs.len());
        for m in &msgs {
            let len: usize = m
                .head
                .split(", ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap();
            assert_eq!(m.bytes.len(), len, "{name}: {}: the dump has every byte", m.head);
            for f in &m.fields {
                assert!(
                    f.start <= f.end && f.end <= m.bytes.len(),
                    "{name}: {} {}: out of the message",
                    m.head,
                    f.label
                );
                let bytes = &m.bytes[f.start..f.end];
                // A hex value, whole or shortened as head…tail (N bytes).
                let v = f.value.split(" (").next().unwrap_or("");
                if let Some((head, tail)) = v.split_once('…') {
                    if is_hex(head) && is_hex(tail) {
                        let h = hex(bytes);
                        // Within a DER TLV's header (up to 5 bytes) of the start.
                        let near_start = h
                            .get(..(head.len() + 10).min(h.len()))
                            .is_some_and(|p| p.contains(head));
                        assert!(
                            h.ends_with(tail) && near_start,
                            "{name}: {}: {}: {h} vs {v}",
                            m.head,
                            f.label
                        );
                        checked_hex += 1;
                    }
                } else if is_hex(v) && v.len() >= 16 && v.bytes().any(|c| c.is_ascii_alphabetic()) {
                    // (Decimal numbers are all digits too: hex values are
                    // told apart by length and a letter.)
                    // A DER field spans its whole TLV (tag and length, as
                    // Wireshark marks it) and shows the value.
                    let h = hex(bytes);
                    let tlv = h.ends_with(v) && h.len() - v.len() <= 8;
                    assert!(h == v || tlv, "{name}: {}: {}: {h} vs {v}", m.head, f.label);
                    checked_hex += 1;
                }
                // A code point: "x25519 (0x001d)".
                if let Some(code) =
                    f.value.rsplit_once("(0x").and_then(|(_, c)| c.strip_suffix(')'))
                    && let Ok(n) = u64::from_str_radix(code, 16)
                    && bytes.len() == code.len() / 2
                {
                    let got = bytes.iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
                    assert_eq!(got, n, "{name}: {}: {}", m.head, f.label);
                    checked_codes += 1;
                }
            }
        }
    }
    assert!(checked_hex > 100, "{checked_hex} hex fields checked");
    assert!(checked_codes > 200, "{checked_codes} code points checked");
}
