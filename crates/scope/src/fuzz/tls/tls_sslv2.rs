//! `tls_sslv2`: SSLv2-compatible ClientHellos.

use super::*;

/// SSLv2-compatible ClientHello bodies (after the 2-byte record length).
pub fn sslv2_samples() -> Vec<Vec<u8>> {
    let hello = |version: [u8; 2], specs: &[[u8; 3]], sid: &[u8], challenge: &[u8]| {
        let specs: Vec<u8> = specs.concat();
        let mut b = vec![1, version[0], version[1]];
        for n in [specs.len(), sid.len(), challenge.len()] {
            b.extend_from_slice(&(n as u16).to_be_bytes());
        }
        [b, specs, sid.to_vec(), challenge.to_vec()].concat()
    };
    vec![
        hello(
            [3, 1],
            &[[0, 0, 0x2f], [0, 0, 0x35], [0x07, 0x00, 0xc0], [0, 0, 0xff]],
            &[],
            &[7; 16],
        ),
        hello([0, 2], &[[0x01, 0x00, 0x80], [0x03, 0x00, 0x80]], &[9; 16], &[7; 32]),
        hello([3, 3], &[[0, 0xc0, 0x2f]], &[], &[1; 20]),
    ]
}

/// Fuzz body: an SSLv2-compatible ClientHello body, parsed with the tree
/// on and off. Checks: the tree's invariants, every field inside the
/// record (whose 2-byte header is at offset 0), the same result with the
/// tree off, and fingerprints of what parses.
pub fn tls_sslv2(data: &[u8]) {
    let mut t = Tree::on();
    let result = handshake::parse_sslv2_client_hello(data, &mut t);
    assert_tree(&t.finish(), Span::new(2, len32(data.len())), "SSLv2 ClientHello");
    let off = handshake::parse_sslv2_client_hello(data, &mut Tree::off());
    assert!(off == result, "the tree changes the result");
    match result {
        Ok(ch) => {
            assert!(ch.sslv2);
            let _ = fingerprint::ja3(&ch);
            let _ = fingerprint::ja4(&ch);
        }
        Err(e) => assert!(e.at as usize <= data.len() + 2, "error at {} of {}", e.at, data.len()),
    }
}
