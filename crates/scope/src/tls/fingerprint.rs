//! Client fingerprints computed from a ClientHello: JA3 (Salesforce) and
//! JA4 (FoxIO, the client part only). GREASE values are left out of both,
//! as both specifications say.

use md5::Digest as _;

use crate::tls::handshake::ClientHello;
use crate::tls::registry::is_grease;

fn join<T: ToString>(v: impl Iterator<Item = T>, sep: &str) -> String {
    v.map(|x| x.to_string()).collect::<Vec<_>>().join(sep)
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
    let b = join(sorted.iter().map(|c| format!("{c:04x}")), ",");
    let mut sorted_exts: Vec<u16> =
        exts.into_iter().filter(|e| *e != 0x0000 && *e != 0x0010).collect();
    sorted_exts.sort_unstable();
    let mut c = join(sorted_exts.iter().map(|e| format!("{e:04x}")), ",");
    let sigs: Vec<u16> =
        h.signature_algorithms.iter().copied().filter(|s| !is_grease(*s)).collect();
    if !sigs.is_empty() {
        c.push('_');
        c.push_str(&join(sigs.iter().map(|s| format!("{s:04x}")), ","));
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
    fn ja4_edge_cases() {
        let ch = ClientHello { version: 0x0303, ..ClientHello::default() };
        assert_eq!(ja4(&ch), "t12i000000_000000000000_000000000000");
        assert_eq!(alpn_code(Some(&[0xab, 0x01])), "a1");
        assert_eq!(alpn_code(Some(b"http/1.1")), "h1");
    }
}
