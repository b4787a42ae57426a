//! `tls_handshake`: one handshake message in its context (version,
//! sender, cipher suite), with the tree on and off.

use super::*;

/// Versions [`tls_handshake()`] picks from (2 bits of its first byte): not
/// known yet, TLS 1.0, TLS 1.2, TLS 1.3.
pub const HANDSHAKE_VERSIONS: [Option<u16>; 4] = [None, Some(0x0301), Some(0x0303), Some(0x0304)];

/// Cipher suites [`tls_handshake()`] picks from (4 bits of its first byte):
/// one per layout of ServerKeyExchange and ClientKeyExchange.
pub const HANDSHAKE_SUITES: [u16; 16] = [
    0xc02f, // ECDHE-RSA: signed ECDHE parameters
    0xc02b, // ECDHE-ECDSA
    0x009e, // DHE-RSA: signed DH parameters
    0x009c, // RSA: no ServerKeyExchange, encrypted premaster
    0x00a8, // PSK: identity hint only
    0x00aa, // DHE-PSK
    0xc035, // ECDHE-PSK
    0x00ac, // RSA-PSK
    0x0034, // DH_anon: unsigned DH parameters
    0xc018, // ECDH_anon
    0xc013, // ECDHE-RSA with CBC (TLS 1.0)
    0x0033, // DHE-RSA with CBC
    0x1301, // TLS 1.3
    0x1302, // TLS 1.3, SHA-384
    0x1303, // TLS 1.3, ChaCha20
    0x0a0a, // GREASE: a suite no one negotiates (key exchange unknown)
];

/// The parsing context a [`tls_handshake()`] selector byte stands for: bits
/// 0-1 the version ([`HANDSHAKE_VERSIONS`]), bit 2 sent by the server, bit
/// 3 the suite is known, bits 4-7 which ([`HANDSHAKE_SUITES`]).
pub fn handshake_ctx(sel: u8) -> Ctx {
    let version = HANDSHAKE_VERSIONS.get(usize::from(sel & 3)).copied().flatten();
    let suite = HANDSHAKE_SUITES.get(usize::from(sel >> 4)).copied();
    Ctx {
        from_server: sel & 4 != 0,
        version,
        legacy_version: version.map(|v| v.min(0x0303)),
        cipher_suite: suite.filter(|_| sel & 8 != 0),
    }
}

/// The selector whose context is closest to `ctx`: the same version family
/// and a suite with the same key exchange and authentication.
pub fn handshake_selector(ctx: &Ctx) -> u8 {
    let version = match ctx.version {
        None => 0,
        Some(v) if v <= 0x0302 => 1,
        Some(0x0304) => 3,
        Some(_) => 2,
    };
    let suite = ctx.cipher_suite.map(|id| {
        let info = |id: u16| registry::cipher_suite(id).map(|s| (s.kx, s.auth, s.tls13));
        let want = info(id);
        HANDSHAKE_SUITES
            .iter()
            .position(|&s| s == id)
            .or_else(|| HANDSHAKE_SUITES.iter().position(|&s| want.is_some() && info(s) == want))
            .or_else(|| {
                HANDSHAKE_SUITES.iter().position(|&s| Kx::from_suite(s) == Kx::from_suite(id))
            })
            .unwrap_or(0) as u8
    });
    version | u8::from(ctx.from_server) << 2 | suite.map_or(0, |s| 8 | s << 4)
}

/// A context for hand-made messages: `version` (its legacy version capped
/// at TLS 1.2), who sends, the suite.
pub(super) fn ctx(version: Option<u16>, from_server: bool, suite: Option<u16>) -> Ctx {
    Ctx {
        from_server,
        version,
        legacy_version: version.map(|v| v.min(0x0303)),
        cipher_suite: suite,
    }
}

/// Hand-made handshake messages, each valid in its context: every type
/// [`handshake::parse`] decodes, and every key exchange layout.
pub fn handshake_samples() -> Vec<(Ctx, Vec<u8>)> {
    let v16 = |b: &[u8]| vec_n(2, b);
    let v8 = |b: &[u8]| vec_n(1, b);
    let v24 = |b: &[u8]| vec_n(3, b);
    let (t10, t12, t13) = (Some(0x0301), Some(0x0303), Some(0x0304));
    let samples = extension_samples();
    let exts = |w: Where| {
        samples.iter().find(|(at, _)| *at == w).map(|(_, b)| b.clone()).unwrap_or_default()
    };
    // Without extensions (as TLS 1.0 clients send it), then with them.
    let client_hello_plain = [
        &[3u8, 3][..],
        &[0x11; 32],
        &v8(&[0x22; 32]),
        &v16(&[0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0x00, 0xff, 0x0a, 0x0a]),
        &v8(&[0]),
    ]
    .concat();
    let client_hello = [client_hello_plain.clone(), exts(Where::ClientHello)].concat();
    let hello = |random: &[u8], suite: [u8; 2], exts: &[u8]| {
        [&[3u8, 3][..], random, &v8(&[0x22; 32]), &suite, &[0], exts].concat()
    };
    // A TLS 1.2 server random with the TLS 1.3 downgrade sentinel.
    let downgrade = [&[0x33u8; 24][..], b"DOWNGRD\x01"].concat();
    let server13 = samples.get(2).map(|(_, b)| b.clone()).unwrap_or_default();
    let sig = |alg: Option<[u8; 2]>| {
        [alg.map(|a| a.to_vec()).unwrap_or_default(), v16(&[0x5a; 64])].concat()
    };
    let dh = [v16(&[0xff; 32]), v16(&[2]), v16(&[0x44; 32])].concat();
    let ecdh = |group: [u8; 2], n: usize| [&[3u8][..], &group, &v8(&vec![4; n])].concat();
    let c = |v, s| ctx(v, false, s);
    let s = |v, s| ctx(v, true, s);
    vec![
        (ctx(None, false, None), hs_msg(1, &client_hello)),
        (ctx(None, false, None), hs_msg(1, &client_hello_plain)),
        (
            ctx(None, true, None),
            hs_msg(2, &hello(&[0x33; 32], [0xc0, 0x2f], &exts(Where::ServerHello))),
        ),
        (ctx(None, true, None), hs_msg(2, &hello(&downgrade, [0x13, 0x01], &server13))),
        (
            ctx(None, true, None),
            hs_msg(
                2,
                &hello(&handshake::HRR_RANDOM, [0x13, 0x01], &exts(Where::HelloRetryRequest)),
            ),
        ),
        (ctx(None, true, None), hs_msg(2, &hello(&[0x33; 32], [0x00, 0x2f], &[]))),
        (s(t12, Some(0xc02f)), hs_msg(4, &[&[0u8, 0, 0x1c, 0x20][..], &v16(&[0x66; 80])].concat())),
        (
            s(t13, Some(0x1301)),
            hs_msg(
                4,
                &[
                    &[0u8, 0, 0x1c, 0x20, 1, 2, 3, 4][..],
                    &v8(&[0, 1]),
                    &v16(&[0x66; 80]),
                    &exts(Where::NewSessionTicket),
                ]
                .concat(),
            ),
        ),
        (s(t13, Some(0x1301)), hs_msg(8, &exts(Where::EncryptedExtensions))),
        (s(t12, Some(0xc02f)), hs_msg(11, &v24(&[v24(&FAKE_DER), v24(&FAKE_DER)].concat()))),
        (
            s(t13, Some(0x1301)),
            hs_msg(
                11,
                &[v8(&[]), v24(&[v24(&FAKE_DER), exts(Where::Certificate)].concat())].concat(),
            ),
        ),
        (c(t13, Some(0x1302)), hs_msg(11, &[v8(&[1, 2, 3, 4]), v24(&[])].concat())),
        (s(t12, Some(0xc02f)), hs_msg(12, &[ecdh([0, 0x1d], 32), sig(Some([8, 4]))].concat())),
        (s(t10, Some(0xc013)), hs_msg(12, &[ecdh([0, 0x17], 65), sig(None)].concat())),
        (s(t12, Some(0x009e)), hs_msg(12, &[dh.clone(), sig(Some([4, 1]))].concat())),
        (s(t12, Some(0x00a8)), hs_msg(12, &v16(b"hint"))),
        (s(t12, Some(0xc035)), hs_msg(12, &[v16(b"hint"), ecdh([0, 0x1d], 32)].concat())),
        (s(t12, Some(0x00aa)), hs_msg(12, &[v16(b"hint"), dh.clone()].concat())),
        (s(t12, Some(0x0034)), hs_msg(12, &dh)),
        (s(t12, None), hs_msg(12, &[0x77; 20])),
        (
            s(t12, Some(0xc02f)),
            hs_msg(13, &[v8(&[1, 64]), v16(&[4, 1, 4, 3]), v16(&v16(&DN_TEST))].concat()),
        ),
        (s(t10, Some(0xc013)), hs_msg(13, &[v8(&[1]), v16(&[])].concat())),
        (s(t13, Some(0x1301)), hs_msg(13, &[v8(&[]), exts(Where::CertificateRequest)].concat())),
        (s(t12, Some(0xc02f)), hs_msg(14, &[])),
        (s(None, None), hs_msg(0, &[])),
        (c(t13, Some(0x1301)), hs_msg(5, &[])),
        (c(t12, Some(0xc02f)), hs_msg(15, &sig(Some([8, 4])))),
        (s(t13, Some(0x1301)), hs_msg(15, &sig(Some([8, 4])))),
        (c(t10, Some(0xc013)), hs_msg(15, &sig(None))),
        (c(t12, Some(0xc02f)), hs_msg(16, &v8(&[4; 65]))),
        (c(t12, Some(0x009e)), hs_msg(16, &v16(&[0x44; 32]))),
        (c(t12, Some(0x009c)), hs_msg(16, &v16(&[0x55; 256]))),
        (c(t12, Some(0x00a8)), hs_msg(16, &v16(b"client1"))),
        (c(t12, Some(0x00ac)), hs_msg(16, &[v16(b"client1"), v16(&[0x55; 128])].concat())),
        (c(t12, Some(0xc035)), hs_msg(16, &[v16(b"client1"), v8(&[4; 32])].concat())),
        (c(t12, Some(0x00aa)), hs_msg(16, &[v16(b"client1"), v16(&[0x44; 32])].concat())),
        (c(None, None), hs_msg(16, &[0x88; 20])),
        (c(t12, Some(0xc02f)), hs_msg(20, &[0x99; 12])),
        (s(t13, Some(0x1302)), hs_msg(20, &[0x99; 48])),
        (
            s(t12, Some(0xc02f)),
            hs_msg(22, &[&[1u8][..], &v24(&[0x30, 0x03, 0x0a, 0x01, 0x00])].concat()),
        ),
        (c(t13, Some(0x1301)), hs_msg(24, &[1])),
        (
            s(t13, Some(0x1301)),
            hs_msg(25, &[&[0u8, 2, 0, 3, 0xe8][..], &v24(&[0x1b; 40])].concat()),
        ),
        (c(None, None), hs_msg(99, b"unknown message")),
        (c(t13, Some(0x1301)), hs_msg(254, &[0x12; 32])),
    ]
}

/// [`handshake_samples`] as [`tls_handshake()`] inputs.
pub fn tls_handshake_seeds() -> Vec<Vec<u8>> {
    handshake_samples()
        .into_iter()
        .map(|(c, m)| [vec![handshake_selector(&c)], m].concat())
        .collect()
}

/// Parses one handshake message in `ctx` with the tree on and checks what
/// [`handshake::parse`] promises: the tree's invariants hold and every
/// field lies inside the message; the result is a body or an error (with
/// a `[Malformed]` field), the same with the tree off; a message cut
/// short is never taken for a whole one. Returns the body.
pub fn checked_handshake(msg: &[u8], ctx: &Ctx) -> Option<Body> {
    let mut t = Tree::on();
    let (body, err) = handshake::parse(msg, ctx, &mut t);
    let fields = t.finish();
    assert_tree(&fields, Span::new(0, len32(msg.len())), "handshake message");
    assert_eq!(body.is_some(), err.is_none(), "a body and an error, or neither: {err:?}");
    let (body_off, err_off) = handshake::parse(msg, ctx, &mut Tree::off());
    assert!(body_off == body && err_off == err, "the tree changes the result");
    if let Some(e) = &err {
        assert!(e.at as usize <= msg.len(), "error at {} in {} bytes", e.at, msg.len());
        assert!(!e.to_string().is_empty());
        assert!(has_key(&fields, "malformed"), "an error without a [Malformed] field: {e}");
    }
    match &body {
        Some(Body::ClientHello(ch)) => {
            let _ = fingerprint::ja3(ch);
            let _ = fingerprint::ja4(ch);
        }
        Some(Body::Certificate(ders)) => {
            for d in ders {
                let _ = x509::summarize(d);
            }
        }
        _ => {}
    }
    if body.is_some()
        && let Some(&[_, a, b, c]) = msg.get(..4)
    {
        let full = 4 + u32::from_be_bytes([0, a, b, c]) as usize;
        let mut cuts = vec![full - 1, full / 2, 4, 3, 0];
        cuts.dedup();
        for cut in cuts.into_iter().filter(|&n| n < full) {
            let prefix = msg.get(..cut).unwrap_or_default();
            let (b, e) = handshake::parse(prefix, ctx, &mut Tree::off());
            assert!(
                b.is_none() && e.is_some(),
                "the first {cut} bytes of a {full}-byte message parse as a whole one"
            );
        }
    }
    body
}

/// Fuzz body: one handshake message. Input: a selector byte (the context:
/// version, sender, suite; see [`handshake_ctx`]), then the message,
/// header included. Checks: see [`checked_handshake`].
pub fn tls_handshake(data: &[u8]) {
    let Some((&sel, msg)) = data.split_first() else { return };
    checked_handshake(msg, &handshake_ctx(sel));
}
