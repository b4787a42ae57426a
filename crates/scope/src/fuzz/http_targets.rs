//! `http1` and `http2`: a script of stream pieces and gaps through an
//! HTTP connection with small limits, whole and byte by byte.

use super::*;

/// Small limits for the HTTP fuzz bodies, so that short inputs reach them.
pub const HTTP_LIMITS: HttpOptions = HttpOptions {
    trees: true,
    max_body: 64,
    max_decoded: 256,
    max_decoded_per_conn: 1024,
    max_header_bytes: 256,
    max_header_list: 512,
    max_headers_per_conn: 2048,
    max_hpack_table: 256,
    max_streams: 4,
    max_pipeline: 4,
    max_frame_buffer: 128,
    max_raw: 64,
};

/// One step of an HTTP script: bytes from one side, or a gap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpStep {
    /// Bytes from a side, carried by one capture frame.
    Data(Dir, Vec<u8>),
    /// Bytes of a side the capture lost.
    Gap(Dir, u16),
}

/// Reads an HTTP script: records of a control byte (bit 0: the server
/// sends; bit 1: a gap), a big-endian u16 length, then that many bytes
/// (none for a gap). A record cut short ends the script.
pub fn http_script(data: &[u8]) -> Vec<HttpStep> {
    let mut out = Vec::new();
    let mut rest = data;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let dir = if ctl & 1 == 0 { Dir::ClientToServer } else { Dir::ServerToClient };
        let len = u16::from_be_bytes([*hi, *lo]);
        if ctl & 2 != 0 {
            out.push(HttpStep::Gap(dir, len));
            rest = tail;
            continue;
        }
        let n = usize::from(len).min(tail.len());
        out.push(HttpStep::Data(dir, tail.get(..n).unwrap_or_default().to_vec()));
        rest = tail.get(n..).unwrap_or_default();
    }
    out
}

/// Writes an HTTP script (see [`http_script`]); long pieces become several
/// records.
pub fn http_script_bytes(steps: &[HttpStep]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            HttpStep::Data(dir, bytes) => {
                let ctl = u8::from(*dir == Dir::ServerToClient);
                for piece in bytes.chunks(usize::from(u16::MAX)) {
                    out.push(ctl);
                    out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
                    out.extend_from_slice(piece);
                }
            }
            HttpStep::Gap(dir, len) => {
                out.push(2 | u8::from(*dir == Dir::ServerToClient));
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
    }
    out
}

/// Fuzz body: an HTTP script (see [`http_script`]) through a connection
/// that recognises the protocol itself (HTTP/1, raw, h2c upgrades).
pub fn http1(data: &[u8]) {
    checked_http(Protocol::Detect, &http_script(data));
}

/// Fuzz body: an HTTP script through an HTTP/2 connection; the client's
/// connection preface is sent first, so the script starts with frames.
pub fn http2(data: &[u8]) {
    let mut steps = vec![HttpStep::Data(Dir::ClientToServer, http::PREFACE.to_vec())];
    steps.extend(http_script(data));
    checked_http(Protocol::Http2, &steps);
}

pub(super) fn run_http(protocol: Protocol, steps: &[HttpStep], bytewise: bool) -> Vec<HttpEvent> {
    let mut conn = HttpConn::with_protocol(HTTP_LIMITS, protocol);
    let mut events = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (frame, ts) = (i as u64 + 1, Timestamp(i as i64));
        match step {
            HttpStep::Data(dir, bytes) if bytewise => {
                for b in bytes.chunks(1) {
                    conn.push(*dir, b, frame, ts, &mut |e| events.push(e));
                }
            }
            HttpStep::Data(dir, bytes) => {
                conn.push(*dir, bytes, frame, ts, &mut |e| events.push(e))
            }
            HttpStep::Gap(dir, len) => conn.gap(*dir, u64::from(*len), &mut |e| events.push(e)),
        }
    }
    conn.finish(&mut |e| events.push(e));
    // Nothing comes after the end.
    conn.finish(&mut |e| events.push(e));
    conn.push(Dir::ClientToServer, b"GET / HTTP/1.1\r\n\r\n", 0, Timestamp(0), &mut |e| {
        events.push(e)
    });
    merge_raw(events)
}

/// Raw events of one direction and frame merged (how a piece is split
/// changes how its raw bytes are cut, nothing else).
pub(super) fn merge_raw(events: Vec<HttpEvent>) -> Vec<HttpEvent> {
    let mut out: Vec<HttpEvent> = Vec::new();
    for e in events {
        if let HttpEvent::Raw { dir, data, frame } = &e
            && let Some(HttpEvent::Raw { dir: d, data: prev, frame: f }) = out.last_mut()
            && d == dir
            && f == frame
        {
            prev.extend_from_slice(data);
            continue;
        }
        out.push(e);
    }
    out
}

/// Runs `steps` and checks what [`HttpConn`] promises: bodies and raw
/// bytes within their limits, trees that hold their invariants, frame
/// numbers that were given, and the same events whether each piece comes
/// whole or byte by byte.
pub fn checked_http(protocol: Protocol, steps: &[HttpStep]) {
    let events = run_http(protocol, steps, false);
    let frames = steps.len() as u64;
    let lim = HTTP_LIMITS;
    let mut raw = 0usize;
    for e in &events {
        match e {
            HttpEvent::Exchange(x) => {
                for b in [&x.request_body, &x.response_body] {
                    assert!(b.bytes.len() <= lim.max_body, "body over max_body");
                    assert!(b.bytes.len() as u64 <= b.len, "body bytes over its length");
                    assert!(
                        b.truncated || b.bytes.len() as u64 == b.len,
                        "short body not truncated"
                    );
                    assert!(b.missing <= b.len);
                    assert!(b.decoded.as_ref().is_none_or(|d| d.len() <= lim.max_decoded));
                }
                assert!(!x.complete || x.status.is_some(), "complete without a status");
                for f in [x.request_frame, x.response_frame, x.end_frame].into_iter().flatten() {
                    assert!(f <= frames, "frame {f} of {frames}");
                }
                let t = crate::tree::check_invariants(&x.request_tree, None);
                assert!(t.is_ok(), "request tree: {t:?}");
                let t = crate::tree::check_invariants(&x.response_tree, None);
                assert!(t.is_ok(), "response tree: {t:?}");
            }
            HttpEvent::H2Frame(f) => {
                assert!(f.first_frame <= f.frame && f.frame <= frames);
                assert_eq!(f.name, http::h2::frame_type_name(f.kind));
                let t = crate::tree::check_invariants(&f.tree, None);
                assert!(t.is_ok(), "{}: {t:?}", f.summary);
                let end = f.tree.iter().map(|t| t.span.end()).max().unwrap_or(0);
                assert!(end <= 9 + f.length, "{}: tree past the frame", f.summary);
            }
            HttpEvent::Raw { data, frame, .. } => {
                raw += data.len();
                assert!(*frame <= frames);
            }
            HttpEvent::Diagnostic(d) => {
                assert!(d.location.frame.is_none_or(|f| f <= frames));
            }
        }
    }
    assert!(raw <= lim.max_raw, "{raw} raw bytes passed");
    let bytewise = run_http(protocol, steps, true);
    assert!(events == bytewise, "events differ when fed byte by byte");
}

/// Seeds for [`http1`]: HTTP/1 conversations (keep-alive, chunked with
/// trailers, compressed bodies, HEAD, 1xx, pipelining, CONNECT, an h2c
/// upgrade, a gap) and a raw one.
pub fn http1_seeds() -> Vec<Vec<u8>> {
    let c = |b: &[u8]| HttpStep::Data(Dir::ClientToServer, b.to_vec());
    let s = |b: &[u8]| HttpStep::Data(Dir::ServerToClient, b.to_vec());
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        let _ = e.write_all(b"hello hello hello hello");
        let _ = e.finish();
    }
    let mut gz_resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    gz_resp.extend_from_slice(&gz);
    let scripts: Vec<Vec<HttpStep>> = vec![
        vec![
            c(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            c(b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nok\r\n0\r\n\r\n"),
        ],
        vec![c(b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n"), s(&gz_resp)],
        vec![
            c(b"HEAD / HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\nPUT /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"),
            c(b"ab"),
            s(b"HTTP/1.0 201 Created\r\n\r\nuntil close"),
        ],
        vec![
            c(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03"),
            c(b"\x16\x03\x01"),
        ],
        vec![
            c(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"),
            s(&[&b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"[..], &h2_frame(4, 0, 0, &[]), &h2_frame(1, 4, 1, &[0x88]), &h2_frame(0, 1, 1, b"hi")].concat()),
            c(&[&http::PREFACE[..], &h2_frame(4, 0, 0, &[])].concat()),
        ],
        vec![
            c(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
            s(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01"),
            HttpStep::Gap(Dir::ServerToClient, 3),
            s(b"56789"),
            HttpStep::Gap(Dir::ClientToServer, 7),
            c(b"\r\nGET /b HTTP/1.1\r\n\r\n"),
            s(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        ],
        vec![s(b"220 mail ESMTP\r\n"), c(b"EHLO x\r\n")],
    ];
    scripts.iter().map(|s| http_script_bytes(s)).collect()
}

/// An HTTP/2 frame.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut f = vec![len[1], len[2], len[3], kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Seeds for [`http2`] (the preface is added by the body): every frame
/// type, CONTINUATION, padding, push, trailers, a reset, a gap.
pub fn http2_seeds() -> Vec<Vec<u8>> {
    let mut req = Vec::new();
    hpack::encode_indexed(2, &mut req);
    hpack::encode_indexed(7, &mut req);
    hpack::encode_literal(b":path", b"/index.html", hpack::Indexing::Incremental, true, &mut req);
    hpack::encode_literal(
        b":authority",
        b"example.com",
        hpack::Indexing::Incremental,
        false,
        &mut req,
    );
    let (first, rest) = req.split_at(6);
    let mut padded = vec![2, 0x80, 0, 0, 0, 15];
    padded.extend_from_slice(first);
    padded.extend_from_slice(&[0, 0]);
    let settings = h2_frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0, 0, 3, 0, 0, 0, 100]);
    let ack = h2_frame(4, 1, 0, &[]);
    let mut resp = Vec::new();
    hpack::encode_indexed(8, &mut resp);
    hpack::encode_literal(
        b"content-type",
        b"text/plain",
        hpack::Indexing::Incremental,
        true,
        &mut resp,
    );
    let mut push = 2u32.to_be_bytes().to_vec();
    push.extend_from_slice(&req);
    let c = |b: Vec<u8>| HttpStep::Data(Dir::ClientToServer, b);
    let s = |b: Vec<u8>| HttpStep::Data(Dir::ServerToClient, b);
    let scripts: Vec<Vec<HttpStep>> = vec![
        vec![
            c([
                settings.clone(),
                h2_frame(8, 0, 0, &[0, 1, 0, 0]),
                h2_frame(1, 0x29, 1, &padded),
                h2_frame(9, 4, 1, rest),
            ]
            .concat()),
            s([
                settings.clone(),
                ack.clone(),
                h2_frame(5, 4, 1, &push),
                h2_frame(1, 4, 1, &resp),
                h2_frame(0, 0, 1, b"hello"),
                h2_frame(1, 5, 1, &[0x40, 1, b'x', 1, b'y']),
            ]
            .concat()),
            s([
                h2_frame(1, 4, 2, &[0x88]),
                h2_frame(0, 9, 2, &[3, b'a', b'b', 0, 0, 0]),
                h2_frame(3, 0, 1, &[0, 0, 0, 8]),
            ]
            .concat()),
            c([
                ack.clone(),
                h2_frame(2, 0, 3, &[0, 0, 0, 1, 9]),
                h2_frame(6, 0, 0, b"pingpong"),
                h2_frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0, b'b', b'y', b'e']),
                h2_frame(0x42, 0, 0, b"?"),
            ]
            .concat()),
        ],
        vec![
            c([settings.clone(), h2_frame(1, 5, 1, &req)].concat()),
            s([settings, h2_frame(1, 4, 1, &resp), h2_frame(0, 0, 1, &[b'z'; 40])].concat()),
            HttpStep::Gap(Dir::ServerToClient, 10),
            s(h2_frame(0, 1, 1, b"end")),
            HttpStep::Gap(Dir::ClientToServer, 4),
            c(h2_frame(6, 0, 0, b"pingpong")),
        ],
    ];
    let mut out: Vec<Vec<u8>> = scripts.iter().map(|s| http_script_bytes(s)).collect();
    // One small seed per frame type, after the client's SETTINGS.
    let empty = h2_frame(4, 0, 0, &[]);
    let one = |frames: Vec<Vec<u8>>| {
        http_script_bytes(&[HttpStep::Data(
            Dir::ClientToServer,
            [vec![empty.clone()], frames].concat().concat(),
        )])
    };
    out.extend([
        one(vec![h2_frame(0, 9, 1, &[1, b'd', 0])]),
        one(vec![h2_frame(1, 0x25, 1, &[[0, 0, 0, 0, 7].as_slice(), &req].concat())]),
        one(vec![h2_frame(2, 0, 3, &[0x80, 0, 0, 1, 255])]),
        one(vec![h2_frame(3, 0, 1, &[0, 0, 0, 1])]),
        one(vec![h2_frame(4, 0, 0, &[0, 1, 0, 0, 0, 0, 0, 5, 0, 0, 0x40, 0])]),
        one(vec![h2_frame(5, 0xc, 1, &[[1u8, 0, 0, 0, 2].as_slice(), &req, &[0]].concat())]),
        one(vec![h2_frame(6, 1, 0, b"12345678")]),
        one(vec![h2_frame(7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 1])]),
        one(vec![h2_frame(8, 0, 1, &[0, 0, 0, 0])]),
        one(vec![h2_frame(1, 0, 1, first), h2_frame(9, 0, 1, &[]), h2_frame(9, 4, 1, rest)]),
    ]);
    out
}

/// Seeds for [`http1`] (`h2` false) or [`http2`] (`h2` true) from one
/// capture's frames: each TCP connection's two streams as a script of at
/// most `max` bytes. For `http2` only connections whose client starts with
/// the connection preface are taken (the preface itself left out, as the
/// body adds it); for `http1` the others.
pub fn http_capture_seeds(frames: &[(LinkType, Vec<u8>)], h2: bool, max: usize) -> Vec<Vec<u8>> {
    #[derive(Default)]
    struct Collect {
        done: Vec<Vec<HttpStep>>,
    }
    impl StreamSink<Vec<HttpStep>> for Collect {
        fn data(&mut self, _: &ConnInfo, user: &mut Vec<HttpStep>, dir: Dir, chunk: Chunk<'_>) {
            user.push(HttpStep::Data(dir, chunk.data.to_vec()));
        }
        fn gap(
            &mut self,
            _: &ConnInfo,
            user: &mut Vec<HttpStep>,
            dir: Dir,
            _: u64,
            len: u64,
            _: u64,
        ) {
            user.push(HttpStep::Gap(dir, u16::try_from(len).unwrap_or(u16::MAX)));
        }
        fn close(&mut self, _: &ConnInfo, user: Vec<HttpStep>, _: EndReason) {
            self.done.push(user);
        }
    }
    let mut r = Reassembler::<Vec<HttpStep>>::new(Limits::default());
    let mut sink = Collect::default();
    for (i, (link, data)) in frames.iter().enumerate() {
        let f = Frame::whole(i as u64 + 1, Timestamp(i as i64), *link, data);
        r.push_frame(&mut sink, &f);
    }
    r.finish_all(&mut sink);
    let mut out = Vec::new();
    for mut steps in sink.done {
        let client: Vec<u8> = steps
            .iter()
            .filter_map(|s| match s {
                HttpStep::Data(Dir::ClientToServer, b) => Some(b.as_slice()),
                _ => None,
            })
            .take(4)
            .flatten()
            .copied()
            .collect();
        if client.is_empty() || client.starts_with(http::PREFACE) != h2 {
            continue;
        }
        if h2 {
            // Drop the preface from the client's first bytes.
            let mut skip = http::PREFACE.len();
            for s in &mut steps {
                if let HttpStep::Data(Dir::ClientToServer, b) = s {
                    let n = skip.min(b.len());
                    b.drain(..n);
                    skip -= n;
                    if skip == 0 {
                        break;
                    }
                }
            }
        }
        let mut script = Vec::new();
        for s in steps {
            let bytes = http_script_bytes(&[s]);
            if script.len() + bytes.len() > max {
                break;
            }
            script.extend(bytes);
        }
        out.push(script);
    }
    out
}

/// A small xorshift generator for the pseudo-random inputs of the tests
/// (deterministic, so a failure reproduces).
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A mutation of `input` like the fuzzer's: flipped, inserted or
    /// removed bytes, a copied range, or a truncation.
    pub fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + self.below(4) {
            let n = out.len();
            match self.below(5) {
                0 if n > 0 => {
                    let i = self.below(n);
                    if let Some(b) = out.get_mut(i) {
                        *b ^= 1 << self.below(8);
                    }
                }
                1 => {
                    let i = self.below(n + 1);
                    out.insert(i, self.next_u64() as u8);
                }
                2 if n > 0 => {
                    out.remove(self.below(n));
                }
                3 if n > 1 => {
                    let (from, to) = (self.below(n), self.below(n));
                    let len = self.below(n - from.max(to)).min(64);
                    let piece: Vec<u8> = out.get(from..from + len).unwrap_or_default().to_vec();
                    out.splice(to..to + piece.len().min(n - to), piece);
                }
                _ => out.truncate(self.below(n + 1)),
            }
        }
        out
    }
}
