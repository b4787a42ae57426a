//! Client fingerprints computed from a ClientHello: JA3 (Salesforce) and
//! JA4 (FoxIO, the client part only). GREASE values are left out of both,
//! as both specifications say.

use md5::Digest as _;

use crate::tls::handshake::ClientHello;
use crate::tls::registry::is_grease;

fn join<T: std::fmt::Display>(v: impl Iterator<Item = T>, sep: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (i, x) in v.enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let _ = write!(out, "{x}");
    }
    out
}

/// A value as 4 lower-case hex digits.
struct Hex4(u16);

impl std::fmt::Display for Hex4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}", self.0)
    }
}

/// JA3: the text `version,ciphers,extensions,curves,point_formats`
/// (decimal values joined by `-`) and its MD5.
pub fn ja3(ch: &ClientHello) -> (String, String) {
    let h = &ch.hello;
    let text = format!(
        "{},{},{},{},{}",
        ch.version,
        join(ch.cipher_suites.iter().filter(|c| !is_grease(**c)), "-"),
        join(h.extension_types.iter().filter(|e| !is_grease(**e)), "-"),
        join(h.groups.iter().filter(|g| !is_grease(**g)), "-"),
        join(h.ec_point_formats.iter(), "-"),
    );
    let hash = crate::tree::hex(&md5::Md5::digest(text.as_bytes()));
    (text, hash)
}

fn sha256_12(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    crate::tree::hex(d.get(..6).unwrap_or_default())
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn alpn_code(alpn: Option<&[u8]>) -> String {
    let Some(a) = alpn.filter(|a| !a.is_empty()) else { return "00".into() };
    let (first, last) = (a.first().copied().unwrap_or(0), a.last().copied().unwrap_or(0));
    if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
        format!("{}{}", char::from(first), char::from(last))
    } else {
        // Non-alphanumeric: the first and last characters of the hex of
        // the value instead.
        let h = crate::tree::hex(a);
        let c = h.chars();
        format!("{}{}", c.clone().next().unwrap_or('0'), c.last().unwrap_or('0'))
    }
}

/// The parts of JA4 before hashing (JA4_r), useful to show what went in.
pub fn ja4_raw(ch: &ClientHello) -> (String, String, String) {
    let h = &ch.hello;
    let version = h
        .supported_versions
        .iter()
        .filter(|v| !is_grease(**v))
        .max()
        .copied()
        .unwrap_or(ch.version);
    let ciphers: Vec<u16> = ch.cipher_suites.iter().copied().filter(|c| !is_grease(*c)).collect();
    let exts: Vec<u16> = h.extension_types.iter().copied().filter(|e| !is_grease(*e)).collect();
    let a = format!(
        "t{}{}{:02}{:02}{}",
        version_code(version),
        if h.server_name.is_some() || exts.contains(&0) { "d" } else { "i" },
        ciphers.len().min(99),
        exts.len().min(99),
        alpn_code(h.alpn.first().map(Vec::as_slice)),
    );
    let mut sorted = ciphers;
    sorted.sort_unstable();
    let b = join(sorted.iter().map(|c| Hex4(*c)), ",");
    let mut sorted_exts: Vec<u16> =
        exts.into_iter().filter(|e| *e != 0x0000 && *e != 0x0010).collect();
    sorted_exts.sort_unstable();
    let mut c = join(sorted_exts.iter().map(|e| Hex4(*e)), ",");
    let sigs: Vec<u16> =
        h.signature_algorithms.iter().copied().filter(|s| !is_grease(*s)).collect();
    if !sigs.is_empty() {
        c.push('_');
        c.push_str(&join(sigs.iter().map(|s| Hex4(*s)), ","));
    }
    (a, b, c)
}

/// JA4 of a ClientHello over TCP, e.g. `t13d1516h2_8daaf6152771_d8a2da3f94cd`.
pub fn ja4(ch: &ClientHello) -> String {
    let (a, b, c) = ja4_raw(ch);
    let hb = if b.is_empty() { "000000000000".to_string() } else { sha256_12(&b) };
    let hc = if c.is_empty() { "000000000000".to_string() } else { sha256_12(&c) };
    format!("{a}_{hb}_{hc}")
}

/// What JA3 and JA4 are computed from: two ClientHellos with the same
/// shape have the same fingerprints.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Shape {
    version: u16,
    cipher_suites: Vec<u16>,
    extension_types: Vec<u16>,
    groups: Vec<u16>,
    ec_point_formats: Vec<u8>,
    supported_versions: Vec<u16>,
    server_name: bool,
    alpn: Option<Vec<u8>>,
    signature_algorithms: Vec<u16>,
}

impl Shape {
    fn of(ch: &ClientHello) -> Shape {
        let h = &ch.hello;
        Shape {
            version: ch.version,
            cipher_suites: ch.cipher_suites.clone(),
            extension_types: h.extension_types.clone(),
            groups: h.groups.clone(),
            ec_point_formats: h.ec_point_formats.clone(),
            supported_versions: h.supported_versions.clone(),
            server_name: h.server_name.is_some(),
            alpn: h.alpn.first().cloned(),
            signature_algorithms: h.signature_algorithms.clone(),
        }
    }

    fn matches(&self, ch: &ClientHello) -> bool {
        let h = &ch.hello;
        self.version == ch.version
            && self.cipher_suites == ch.cipher_suites
            && self.extension_types == h.extension_types
            && self.groups == h.groups
            && self.ec_point_formats == h.ec_point_formats
            && self.supported_versions == h.supported_versions
            && self.server_name == h.server_name.is_some()
            && self.alpn.as_deref() == h.alpn.first().map(Vec::as_slice)
            && self.signature_algorithms == h.signature_algorithms
    }
}

/// How many distinct ClientHello shapes [`Cache`] remembers.
const CACHED_SHAPES: usize = 16;

/// The fingerprints of the last few distinct ClientHello shapes. A
/// capture's sessions come from a handful of clients, each sending hellos
/// of the same shape, and computing JA3 and JA4 (text, MD5, two SHA-256)
/// costs microseconds per session, which adds up over many.
#[derive(Debug, Default)]
pub struct Cache {
    /// Most recently used first.
    entries: Vec<(Shape, (String, String), String)>,
}

impl Cache {
    /// JA3 (text and hash) and JA4 of `ch`, as [`ja3`] and [`ja4`] give them.
    pub fn get(&mut self, ch: &ClientHello) -> ((String, String), String) {
        if let Some(i) = self.entries.iter().position(|(s, _, _)| s.matches(ch)) {
            let hit = self.entries.remove(i);
            let out = (hit.1.clone(), hit.2.clone());
            self.entries.insert(0, hit);
            return out;
        }
        let (j3, j4) = (ja3(ch), ja4(ch));
        self.entries.truncate(CACHED_SHAPES - 1);
        self.entries.insert(0, (Shape::of(ch), j3.clone(), j4.clone()));
        (j3, j4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::ext::Hello;

    /// Chrome 143's ClientHello as a public fingerprinting service
    /// reported it, with the JA3 and JA4 it computed: the values below are
    /// its "ja3_text", "ja4_ro" (original order) and the published hashes.
    fn chrome() -> ClientHello {
        let exts = [45, 51, 16, 65037, 23, 17613, 0, 11, 10, 43, 65281, 35, 18, 5, 13, 27];
        ClientHello {
            version: 771,
            cipher_suites: vec![
                0x0a0a, 4865, 4866, 4867, 49195, 49199, 49196, 49200, 52393, 52392, 49171, 49172,
                156, 157, 47, 53,
            ],
            has_extensions: true,
            hello: Hello {
                extension_types: std::iter::once(0x1a1a)
                    .chain(exts)
                    .chain(std::iter::once(0x2a2a))
                    .collect(),
                server_name: Some("tls-outer.browserleaks.com".into()),
                alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                supported_versions: vec![0x3a3a, 0x0304, 0x0303],
                groups: vec![0x4a4a, 4588, 29, 23, 24],
                ec_point_formats: vec![0],
                signature_algorithms: vec![
                    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
                ],
                ..Hello::default()
            },
            ..ClientHello::default()
        }
    }

    #[test]
    fn ja3_matches_the_published_value() {
        let (text, hash) = ja3(&chrome());
        assert_eq!(
            text,
            "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
             45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
        );
        assert_eq!(hash, "98487aa16281980e7d1120d399efb6a4");
    }

    #[test]
    fn ja4_matches_the_published_value() {
        let ch = chrome();
        let (a, b, c) = ja4_raw(&ch);
        assert_eq!(a, "t13d1516h2");
        assert_eq!(b, "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9");
        assert_eq!(
            c,
            "0005,000a,000b,000d,0012,0017,001b,0023,002b,002d,0033,44cd,fe0d,ff01_\
             0403,0804,0401,0503,0805,0501,0806,0601"
        );
        assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn cache_gives_what_the_functions_give() {
        let mut cache = Cache::default();
        let a = chrome();
        let mut b = chrome();
        b.hello.alpn = vec![b"http/1.1".to_vec()];
        let mut c = chrome();
        c.cipher_suites.pop();
        for _ in 0..2 {
            for ch in [&a, &b, &c, &a] {
                assert_eq!(cache.get(ch), (ja3(ch), ja4(ch)));
            }
        }
        assert_eq!(cache.entries.len(), 3);
        for n in 0..(CACHED_SHAPES as u16 + 4) {
            let mut d = chrome();
            d.cipher_suites.push(n);
            assert_eq!(cache.get(&d), (ja3(&d), ja4(&d)));
        }
        assert_eq!(cache.entries.len(), CACHED_SHAPES);
    }

    #[test]
    fn ja4_edge_cases() {
        let ch = ClientHello { version: 0x0303, ..ClientHello::default() };
        assert_eq!(ja4(&ch), "t12i000000_000000000000_000000000000");
        assert_eq!(alpn_code(Some(&[0xab, 0x01])), "a1");
        assert_eq!(alpn_code(Some(b"http/1.1")), "h1");
    }
}
