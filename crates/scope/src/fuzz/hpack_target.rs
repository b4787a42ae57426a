//! `hpack`: header blocks through one HPACK decoder, re-encoded and
//! decoded again; Huffman checked against a bit-by-bit reference.

use super::*;

/// Fuzz body: HPACK. The first byte picks the agreed table size (times
/// 16); then header blocks, each a u8 length and the block. Checks: a
/// decoded block's representations tile it, the table stays within its
/// maximum and our cap, decoded fields re-encoded as plain literals
/// decode to the same list, and the Huffman decoder agrees with a
/// bit-by-bit reference on the block's bytes.
pub fn hpack(data: &[u8]) {
    let Some((&size, mut rest)) = data.split_first() else { return };
    let cap = 1024;
    let mut d = hpack::Decoder::new(cap, 4096).with_table_size(usize::from(size) * 16);
    while let [len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let block = tail.get(..n).unwrap_or_default();
        rest = tail.get(n..).unwrap_or_default();
        let mut out = Vec::new();
        let ours = hpack::huffman_decode(block, &mut out).ok().map(|_| out);
        assert_eq!(ours, huffman_reference(block), "Huffman decoders disagree");
        let Ok(b) = d.decode(block, 7) else { continue };
        assert!(d.size() <= d.max_size() && d.max_size() <= cap, "table over its limits");
        if b.dropped == 0 {
            let mut end = 7;
            for item in &b.items {
                let span = match item {
                    hpack::Item::Field(f) => f.span,
                    hpack::Item::SizeUpdate { span, .. } => *span,
                };
                assert_eq!(span.start, end, "representations do not tile the block");
                end = span.end();
            }
            assert_eq!(end as usize, 7 + block.len());
        }
        let mut again = Vec::new();
        for (i, f) in b.fields().enumerate() {
            let idx = if i % 3 == 0 { hpack::Indexing::Never } else { hpack::Indexing::Without };
            hpack::encode_literal(&f.name, &f.value, idx, i % 2 == 0, &mut again);
        }
        let re = hpack::Decoder::new(cap, 1 << 20).decode(&again, 0);
        let re = re.unwrap_or_default();
        let pairs = |b: &hpack::Block| -> Vec<(Vec<u8>, Vec<u8>)> {
            b.fields().map(|f| (f.name.clone(), f.value.clone())).collect()
        };
        assert_eq!(pairs(&re), pairs(&b), "re-encoded fields decode differently");
    }
}

/// Huffman decoding bit by bit against the code table (slow, obviously
/// right): the reference for [`hpack::huffman_decode`].
pub fn huffman_reference(src: &[u8]) -> Option<Vec<u8>> {
    // (length, code) -> symbol, straight from the table.
    static CODES: std::sync::OnceLock<HashMap<(u8, u32), usize>> = std::sync::OnceLock::new();
    let codes = CODES.get_or_init(|| {
        hpack::HUFFMAN_CODE.iter().enumerate().map(|(sym, &(c, l))| ((l, c), sym)).collect()
    });
    let mut out = Vec::new();
    let (mut code, mut len) = (0u32, 0u8);
    for byte in src {
        for i in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> i) & 1);
            len += 1;
            if len > 30 {
                return None;
            }
            if let Some(&sym) = codes.get(&(len, code)) {
                if sym == 256 {
                    return None;
                }
                out.push(sym as u8);
                (code, len) = (0, 0);
            }
        }
    }
    (len < 8 && code == (1u32 << len) - 1).then_some(out)
}

/// Seeds for [`hpack`]: the RFC 7541 Appendix C blocks, in sequence.
pub fn hpack_seeds() -> Vec<Vec<u8>> {
    let unhex = |s: &str| -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
            .collect()
    };
    let seq = |size: u8, blocks: &[&str]| -> Vec<u8> {
        let mut out = vec![size];
        for b in blocks {
            let b = unhex(b);
            out.push(b.len() as u8);
            out.extend_from_slice(&b);
        }
        out
    };
    let mut out = vec![
        seq(
            255,
            &[
                "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
                "040c2f73616d706c652f70617468",
                "100870617373776f726406736563726574",
                "82",
            ],
        ),
        seq(
            255,
            &[
                "828684410f7777772e6578616d706c652e636f6d",
                "828684be58086e6f2d6361636865",
                "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
            ],
        ),
        seq(
            255,
            &[
                "828684418cf1e3c2e5f23a6ba0ab90f4ff",
                "828684be5886a8eb10649cbf",
                "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
            ],
        ),
        seq(
            16,
            &[
                "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
                "4883640effc1c0bf",
                "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
            ],
        ),
    ];
    // Each block alone too, on a fresh table (most then fail on their
    // dynamic references, which is worth fuzzing as well).
    let singles: Vec<Vec<u8>> = out
        .iter()
        .flat_map(|s| {
            let mut blocks = Vec::new();
            let mut rest = s.get(1..).unwrap_or_default();
            while let [len, tail @ ..] = rest {
                let n = usize::from(*len).min(tail.len());
                let mut one = vec![255, *len];
                one.extend_from_slice(tail.get(..n).unwrap_or_default());
                blocks.push(one);
                rest = tail.get(n..).unwrap_or_default();
            }
            blocks
        })
        .collect();
    out.extend(singles);
    out
}
